"""The soak: a realistic mix at half of peak throughput for a long while, with a real Celery worker sending
every email to an SMTP server; fails (exit 1) on a server error, growing memory or work left undone.

    SOAK_MINUTES=30 BENCH_SIZE=small .venv/bin/python bench/soak.py   # after bench/seed.py with the same size

On the bench's seeded database and as bench/run.py serves it (gunicorn, production settings, the same
worker count, the load generator on its own core), plus what sending needs in production: a Celery worker
and beat on Redis, and an SMTP server in this process that keeps every email it accepts. First the mix runs
closed-loop briefly to find its peak throughput (or SOAK_RATE gives the rate), then at half of it, with
random arrivals at a constant mean rate, for SOAK_MINUTES. Every SOAK_SAMPLE seconds: each process's memory,
the broker queue, the outbox and the answers so far. Then the load stops, the queue and the outbox must
drain within SOAK_DRAIN seconds, and every email sent must have reached the SMTP server once. The report:
bench/results/<date>-soak-<size>-<minutes>m.md, .json and .png (bench/soak_report.py). The database is
put back to the seeded state before and after.

Knobs (environment): SOAK_MINUTES (30), SOAK_RATE (requests/s; skips the peak phase), SOAK_PEAK_SECONDS
(30, of which the first third is warm-up), SOAK_SAMPLE (15 s; 5 s under ten minutes), SOAK_DRAIN (120 s),
SOAK_MEMORY_LIMIT (5 MB), SOAK_PORT (8775), SOAK_FILE_SIZE (bytes of the attached PDF, 40000),
BENCH_USERS (8: the peak's concurrency; the soak uses twice that so a slow answer never holds the rate
back), BENCH_WORKERS (3), BENCH_REDIS_URL.
"""

import datetime
import functools
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, report, soak_report
from bench.client import Client, login
from bench.cpu import CpuMeter, database_backends
from bench.run import Server, cpu_plan, git_describe, restore

# What a person does in a day of Parley, per 100 requests: reading dominates (inbox, conversations, the live
# check an open conversation sends), then search and the partner's side; a fifth are writes.
WEIGHTS = {
    "inbox": 22,
    "conversation": 22,
    "live": 15,
    "search": 10,
    "partner_inbox": 6,
    "partner_conversation": 6,
    "send": 10,
    "send_file": 3,
    "tag": 6,
}
EXPECT = {kind: [200] for kind in WEIGHTS} | {"live": [200, 204], "send": [302], "send_file": [302]}
TAG_SNAPSHOT = "bench_snapshot_partners_conversationtag"  # dropped by a new seed's wipe, as the others
ACCESS_STATUS = re.compile(r'" (\d{3}) ')


class SmtpSink:
    """An SMTP server on loopback that accepts every email and keeps its Message-ID (aiosmtpd)."""

    def __init__(self):
        self.message_ids: list[str] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        match = re.search(rb"^Message-ID:\s*(<[^>]+>)", envelope.content, re.MULTILINE | re.IGNORECASE)
        with self.lock:
            self.message_ids.append(match[1].decode() if match else "")
        return "250 OK"

    def __enter__(self) -> "SmtpSink":
        from aiosmtpd.controller import Controller

        with socket.socket() as probe:  # a free port (aiosmtpd cannot be given port 0)
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


class Workers:
    """The Celery worker (as docker-compose.yml starts it: the default pool and concurrency) and beat."""

    def __init__(self, *, prefix: list[str], env: dict[str, str], logs: Path):
        self.prefix, self.env, self.logs = prefix, env, logs

    def __enter__(self) -> "Workers":
        from django.conf import settings

        celery = [*self.prefix, sys.executable, "-m", "celery", "-A", "config"]
        queue = settings.CELERY_TASK_DEFAULT_QUEUE
        schedule = common.VAR_DIR / "soak-celerybeat-schedule"
        self.outputs = [(self.logs / name).open("w") for name in ("soak-worker.log", "soak-beat.log")]
        self.worker = subprocess.Popen(  # noqa: S603 - our own command line
            [*celery, "worker", "--loglevel", "WARNING", "--queues", queue, "--hostname", "soak@%h"],
            cwd=common.ROOT,
            env=self.env,
            stdout=self.outputs[0],
            stderr=subprocess.STDOUT,
        )
        self.beat = subprocess.Popen(  # noqa: S603
            [*celery, "beat", "--loglevel", "WARNING", "--schedule", str(schedule)],
            cwd=common.ROOT,
            env=self.env,
            stdout=self.outputs[1],
            stderr=subprocess.STDOUT,
        )
        from config.celery import app

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.worker.poll() is not None:
                sys.exit(
                    f"the Celery worker exited with {self.worker.returncode}; see {self.outputs[0].name}"
                )
            if app.control.ping(timeout=1):
                return self
        self.__exit__()
        sys.exit(f"the Celery worker did not answer within 90 s; see {self.outputs[0].name}")

    def __exit__(self, *exc) -> None:
        for process in (self.beat, self.worker):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)  # warm shutdown: tasks in progress finish
        for process in (self.beat, self.worker):
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for output in self.outputs:
            output.close()

    def processes(self) -> dict[str, list[int]]:
        import psutil

        try:
            pool = [child.pid for child in psutil.Process(self.worker.pid).children()]
        except psutil.Error:
            pool = []
        return {"celery": [self.worker.pid], "celery_pool": pool, "beat": [self.beat.pid]}

    def errors(self) -> int:
        """Lines the worker logged at ERROR or CRITICAL (a task that raised, a lost connection)."""
        text = Path(self.outputs[0].name).read_text(errors="replace")
        return len(re.findall(r"(ERROR|CRITICAL)/", text))


class AccessLog:
    """gunicorn's access log, read as it grows: answers so far by status."""

    def __init__(self, path: Path):
        self.path, self.offset = path, 0
        self.statuses: dict[int, int] = {}

    def read(self) -> dict[int, int]:
        with self.path.open("rb") as log:
            log.seek(self.offset)
            chunk = log.read()
        complete = chunk.rfind(b"\n") + 1  # a line half written is read next time
        self.offset += complete
        for line in chunk[:complete].decode(errors="replace").splitlines():
            match = ACCESS_STATUS.search(line)
            if match:
                status = int(match[1])
                self.statuses[status] = self.statuses.get(status, 0) + 1
        return dict(self.statuses)


class Sampler(threading.Thread):
    """Every `every` seconds: memory of each process, broker queue, outbox backlog, answers so far."""

    def __init__(self, *, every: float, server: Server, workers: Workers, access: AccessLog, since: dict):
        super().__init__(daemon=True)
        self.every, self.server, self.workers, self.access, self.since = every, server, workers, access, since
        self.samples: list[dict] = []
        self.phase = "start"
        self.marks: dict[str, float] = {}  # when each phase began, seconds since the sampler's start
        self.began = time.monotonic()
        self.stopping = threading.Event()
        self.failures: list[str] = []

    def run(self) -> None:
        from django.db import connection

        try:
            while not self.stopping.is_set():
                try:
                    self.samples.append(self.sample())
                except Exception as error:  # a missed sample is reported, never the end of sampling
                    self.failures.append(f"{time.monotonic() - self.began:.0f} s: {error!r}")
                self.stopping.wait(self.every)
        finally:
            connection.close()

    def mark(self, phase: str) -> float:
        self.phase = phase
        self.marks[phase] = round(time.monotonic() - self.began, 1)
        return self.marks[phase]

    def stop(self) -> None:
        self.stopping.set()
        self.join()
        self.samples.append(self.sample())

    def sample(self) -> dict:
        import psutil

        memory = {}
        roles = {"web": self.server.worker_pids(), **self.workers.processes()}
        for role, pids in roles.items():
            for pid in pids:
                try:
                    memory[f"{role}:{pid}"] = round(psutil.Process(pid).memory_info().rss / 2**20, 2)
                except psutil.Error:
                    continue
        statuses = self.access.read()
        return {
            "t": round(time.monotonic() - self.began, 1),
            "phase": self.phase,
            "rss_mb": memory,
            **backlog(self.since),
            "answers": sum(statuses.values()),
            "server_errors": sum(count for status, count in statuses.items() if status >= 500),
        }


@functools.cache
def redis_client():
    import redis

    return redis.Redis.from_url(os.environ["REDIS_URL"])


def backlog(since: dict) -> dict:
    """The broker's queue (waiting and taken but unacknowledged), the outbox rows not yet sent and the
    messages whose emails are not yet written."""
    from django.conf import settings
    from django.db import connection

    broker = redis_client()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status, count(*) FROM notifications_outgoingemail WHERE id > %s GROUP BY status",
            [since["notifications_outgoingemail"]],
        )
        outbox = dict(cursor.fetchall())
        cursor.execute("SELECT count(*) FROM notifications_pendingmessageemails")
        pending = cursor.fetchone()[0]
    return {
        "queue": broker.llen(settings.CELERY_TASK_DEFAULT_QUEUE),
        "unacked": broker.hlen("unacked"),
        "outbox_backlog": sum(outbox.get(status, 0) for status in ("queued", "sending", "retrying")),
        "outbox_failed": outbox.get("failed", 0),
        "outbox_sent": outbox.get("sent", 0),
        "pending_message_emails": pending,
    }


def ours(server: Server, workers: Workers) -> set[int]:
    """The processes whose CPU is the soak's own: gunicorn, the Celery worker and beat, our database's
    backends."""
    return (
        server.pids() | {pid for pids in workers.processes().values() for pid in pids} | database_backends()
    )


def tags_snapshot() -> None:
    """The seeded tags on partner conversations, kept once per seed (the soak adds and removes some)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {TAG_SNAPSHOT} AS SELECT * FROM partners_conversationtag")  # noqa: S608


def tags_restore() -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM partners_conversationtag WHERE id NOT IN (SELECT id FROM {TAG_SNAPSHOT})"  # noqa: S608
        )
        cursor.execute(
            f"INSERT INTO partners_conversationtag SELECT * FROM {TAG_SNAPSHOT} s"  # noqa: S608
            " WHERE NOT EXISTS (SELECT 1 FROM partners_conversationtag t WHERE t.id = s.id)"
        )


def broker_empty() -> None:
    """No task of an earlier run left in the broker (the queue and the unacknowledged ones)."""
    from django.conf import settings

    redis_client().delete(settings.CELERY_TASK_DEFAULT_QUEUE, "unacked", "unacked_index", "unacked_mutex")


def plan(marker: dict, port: int) -> dict:
    """The paths each kind of request picks from, on the seeded data."""
    from django.db import connection

    busy, partner = marker["busy"]["slug"], marker["partner"]["slug"]
    inbox = f"/o/{busy}/messages/"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.conversation_id FROM messaging_participant p JOIN tenants_organization o"
            " ON o.id = p.organization_id WHERE o.slug = %s ORDER BY 1",
            [busy],
        )
        conversations = [pk for (pk,) in cursor.fetchall()]
        cursor.execute(
            "SELECT r.conversation_id FROM partners_servicerequest r JOIN tenants_organization o"
            " ON o.id = r.partner_id WHERE o.slug = %s ORDER BY 1",
            [partner],
        )
        requests = [pk for (pk,) in cursor.fetchall()]
        cursor.execute(
            "SELECT t.id FROM partners_tag t JOIN tenants_organization o ON o.id = t.organization_id"
            " WHERE o.slug = %s ORDER BY 1",
            [partner],
        )
        tags = [pk for (pk,) in cursor.fetchall()]
    terms = marker["terms"]
    partner_inbox = f"/o/{partner}/services/messages/"
    return {
        "paths": {
            "inbox": [inbox, f"{inbox}?page=2"] if len(conversations) > 50 else [inbox],
            "conversation": [f"{inbox}{pk}/" for pk in conversations],
            "live": [f"{inbox}{pk}/live/?after={last}" for pk, last in marker["page_conversations"]],
            "search": [
                f"{inbox}?q={term}" for term in (terms["selective"], terms["common"], "invoice", "pallets")
            ],
            "partner_inbox": [partner_inbox, *(f"{partner_inbox}?tag={pk}" for pk in tags)],
            "partner_conversation": [f"/o/{partner}/requests/{pk}/" for pk in requests],
            "send": [f"{inbox}{pk}/" for pk in marker["send_conversations"]],
        },
        "partner_slug": partner,
        "partner_requests": requests,
        "partner_tags": tags,
        "weights": WEIGHTS,
        "expect": EXPECT,
        "host_header": f"127.0.0.1:{port}",
        "file_size": int(os.environ.get("SOAK_FILE_SIZE") or 40_000),
    }


def smoke(port: int, config: dict, sessions: dict) -> None:
    """Before any load, a few of each kind of page answer as expected (else the soak would measure error
    pages)."""
    client = Client(port)
    owner = {"partner_inbox": "partner", "partner_conversation": "partner"}
    rng = random.Random(1)  # noqa: S311
    for kind, paths in config["paths"].items():
        if kind == "send":
            continue
        for path in rng.sample(paths, min(5, len(paths))):
            response = client.request("GET", path, session=sessions[owner.get(kind, "busy")][0])
            if response.status not in EXPECT[kind]:
                sys.exit(f"{kind}: {path} answered {response.status} before any load")


class Soak:
    def __init__(self, marker: dict, size: common.Size):
        self.marker, self.size = marker, size
        self.minutes = float(os.environ.get("SOAK_MINUTES") or 30)
        self.fixed_rate = float(os.environ.get("SOAK_RATE") or 0)
        self.peak_seconds = float(os.environ.get("SOAK_PEAK_SECONDS") or 30)
        self.every = float(os.environ.get("SOAK_SAMPLE") or (15 if self.minutes >= 10 else 5))
        self.drain_limit = float(os.environ.get("SOAK_DRAIN") or 120)
        self.users = int(os.environ.get("BENCH_USERS") or 8)
        self.workers = int(os.environ.get("BENCH_WORKERS") or 3)
        self.port = int(os.environ.get("SOAK_PORT") or 8775)
        self.server_prefix, self.locust_prefix, self.cpus = cpu_plan()
        self.logs = common.VAR_DIR / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def locust(self, config: dict, *, phase: str, users: int, seconds: float) -> dict:
        output = self.logs / f"soak-locust-{phase}.json"
        config_path = self.logs / f"soak-locust-{phase}.config.json"
        config_path.write_text(json.dumps({**config, "output": str(output)}))
        command = [
            *self.locust_prefix,
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(common.BENCH_DIR / "soak_locustfile.py"),
            "--headless",
            "--users",
            str(users),
            "--spawn-rate",
            str(users),
            "--run-time",
            f"{max(1, round(seconds))}s",
            "--host",
            f"http://127.0.0.1:{self.port}",
            "--only-summary",
            "--loglevel",
            "WARNING",
            "--stop-timeout",
            "5",
            "--exit-code-on-error",
            "0",
        ]
        env = dict(os.environ, BENCH_LOCUST_CONFIG=str(config_path))
        with (self.logs / f"soak-locust-{phase}.log").open("w") as out:
            subprocess.run(  # noqa: S603 - our own command line
                command, cwd=common.ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, check=True
            )
        return json.loads(output.read_text())

    def drain(self, since: dict) -> dict:
        """Waits (at most SOAK_DRAIN seconds) until the broker holds no task, no outbox row waits and every
        message's emails are written."""
        began = time.monotonic()
        while True:
            now = backlog(since)
            drained = not (
                now["queue"] or now["unacked"] or now["outbox_backlog"] or now["pending_message_emails"]
            )
            if drained or time.monotonic() - began > self.drain_limit:
                return {"drained": drained, "seconds": round(time.monotonic() - began, 1), **now}
            time.sleep(1)

    def run(self) -> dict:
        from django.db import connection

        restore(self.marker)
        tags_snapshot()
        tags_restore()
        broker_empty()
        since = self.marker["max_ids"]
        env = dict(os.environ, BENCH_BARE="0")
        with SmtpSink() as sink:
            worker_env = dict(
                env,
                EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
                EMAIL_HOST="127.0.0.1",
                EMAIL_PORT=str(sink.port),
                EMAIL_USE_TLS="0",
            )
            log = self.logs / "soak-gunicorn.log"
            server = Server(port=self.port, workers=self.workers, prefix=self.server_prefix, env=env, log=log)
            with server, Workers(prefix=self.server_prefix, env=worker_env, logs=self.logs) as workers:
                sessions = {
                    "busy": [login(self.port, email) for email in self.marker["busy"]["users"]],
                    "partner": [login(self.port, email) for email in self.marker["partner"]["users"]],
                }
                config = {**plan(self.marker, self.port), "sessions": sessions}
                smoke(self.port, config, sessions)
                sampler = Sampler(
                    every=self.every, server=server, workers=workers, access=AccessLog(log), since=since
                )
                sampler.start()
                peak = self.peak(config, sampler)
                rate = self.fixed_rate or peak["rps"] / 2
                if rate <= 0:
                    sys.exit("The peak phase got no answer in time: no rate to soak at (see the logs).")
                users = self.users * 2
                print(f"  soak: {rate:.1f} req/s for {self.minutes:g} min ({users} users)...", flush=True)
                soak_began = sampler.mark("soak")
                with CpuMeter(lambda: ours(server, workers)) as meter:
                    recorded = self.locust(
                        {**config, "rate": rate / users}, phase="soak", users=users, seconds=self.minutes * 60
                    )
                sampler.mark("drain")
                print("  load stopped; waiting for the queue and the outbox to drain...", flush=True)
                drained = self.drain(since)
                sampler.mark("end")
                sampler.stop()
                worker_errors = workers.errors()
            accounting = soak_report.accounting(since, sink.message_ids)
        connection.close()
        return {
            "peak": peak,
            "rate": round(rate, 2),
            "rate_from": "SOAK_RATE" if self.fixed_rate else "half of the measured peak",
            "soak_users": users,
            "soak_began_t": soak_began,
            "records": recorded,
            "cpu": meter.result,
            "samples": sampler.samples,
            "phases": sampler.marks,
            "sample_failures": sampler.failures,
            "drain": drained,
            "worker_errors": worker_errors,
            "accounting": accounting,
        }

    def peak(self, config: dict, sampler: Sampler) -> dict:
        """The mix closed-loop at BENCH_USERS concurrency; requests/s after the first third (warm-up)."""
        if self.fixed_rate:
            return {"rps": None, "skipped": "SOAK_RATE given"}
        sampler.mark("peak")
        print(
            f"  peak of the mix: {self.peak_seconds:g} s closed-loop, {self.users} users...",
            end="",
            flush=True,
        )
        recorded = self.locust(
            {**config, "rate": 0}, phase="peak", users=self.users, seconds=self.peak_seconds
        )
        starts = [record[0] for record in recorded["records"]]
        # After the warm-up (a third), and never the last half second (requests cut off by the stop).
        first = min(starts, default=0)
        window = (first + self.peak_seconds / 3, first + self.peak_seconds - report.STOP_MARGIN)
        counted = sum(1 for start in starts if window[0] <= start < window[1])
        summary = {"rps": round(counted / (window[1] - window[0]), 1)}
        statuses: dict[str, int] = {}
        for _start, kind, status, _ms in recorded["records"]:
            if status not in EXPECT[kind]:
                statuses[f"{kind} {status}"] = statuses.get(f"{kind} {status}", 0) + 1
        print(f" {summary['rps']:.0f} req/s", flush=True)
        return {
            "rps": summary["rps"],
            "requests": len(recorded["records"]),
            "unexpected": statuses,
            "load_generator_saturated": recorded["load_generator_saturated"],
        }


def main() -> None:
    size = common.size_from_env()
    common.django_setup()
    if not os.environ.get("REDIS_URL"):
        sys.exit(
            "The soak needs Redis (a real Celery worker): none answers at"
            f" {os.environ.get('BENCH_REDIS_URL', common.DEFAULT_REDIS_URL)}"
        )
    marker = common.marker_read()
    if not marker or marker["size"] != size.name:
        sys.exit(
            f"The database is not seeded at size {size.name}: run bench/seed.py with BENCH_SIZE={size.name}"
        )
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=common.ROOT,
        check=True,
    )
    soak = Soak(marker, size)
    began = datetime.datetime.now(datetime.UTC)
    print(
        f"soak {size.name}: {soak.minutes:g} min, {soak.workers} web workers, a Celery worker and beat,"
        f" sampled every {soak.every:g} s, cpus {soak.cpus}"
    )
    try:
        run = soak.run()
    finally:
        restore(marker)
        tags_restore()
        broker_empty()
    results = {
        "kind": "soak",  # not "size": the bench's chart reads every result JSON that names one
        "bench_size": size.name,
        "date": began.date().isoformat(),
        "started_at": began.isoformat(timespec="seconds"),
        "minutes": soak.minutes,
        "parameters": size.as_dict(),
        "setup": {
            "web_workers": soak.workers,
            "peak_users": soak.users,
            "sample_seconds": soak.every,
            "drain_limit_s": soak.drain_limit,
            "memory_limit_mb": float(os.environ.get("SOAK_MEMORY_LIMIT") or 5),
            "weights": WEIGHTS,
            "expect": EXPECT,
            "redis": os.environ["REDIS_URL"],
            **soak.cpus,
            "python": sys.version.split()[0],
            "commit": git_describe(),
        },
        **run,
    }
    passed = soak_report.publish(results)
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
