"""Runs every scenario against the seeded database and reports each figure against the issue's targets.

    BENCH_SIZE=small .venv/bin/python bench/run.py     # after bench/seed.py with the same size

The app is served as production serves it (gunicorn, config.wsgi, DJANGO_ENV=production, DEBUG off,
WhiteNoise; the worker count of docker-compose.yml), with bench.settings adding only a query counter and the
two baselines. Locust drives it headless from its own core (taskset: the server gets the other cores).
Each HTTP scenario runs twice after a warm-up: closed-loop at a fixed concurrency (its peak throughput),
then with random arrivals at half that throughput (the latency the targets speak of). Then, in this
process, the hourly digest and 1,000 replies by email. The database is put back to the seeded state before
and after. Beside each figure: the CPU other processes took meanwhile (bench/cpu.py).

Knobs (environment): BENCH_DURATION and BENCH_WARMUP (seconds per phase; 30 and 5, tiny 5 and 2),
BENCH_USERS (concurrency, 8), BENCH_WORKERS (gunicorn workers, 3 as in docker-compose.yml), BENCH_PORT
(8765), BENCH_SCENARIOS (a comma-separated subset), BENCH_INGEST (replies, 1000), BENCH_SOAK_MAX (seconds
of live checks at most until every worker served 10,000 requests; 300, tiny 0), BENCH_REDIS_URL.
"""

import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, inprocess, report, state
from bench.client import Client, login
from bench.cpu import CpuMeter, database_backends


@dataclass
class Scenario:
    name: str
    title: str
    paths: list[str]
    expect: int = 200
    method: str = "GET"
    form: str = ""  # "message": a reply form with a fresh client token each time
    sessions: str = "busy"  # whose signed-in sessions: "busy", "partner" or "" (none)
    bare: bool = False  # served by the bare baseline app
    cold: bool = False  # every cached fragment expired before each request (bench/middleware.py)
    results: dict = field(default_factory=dict)


def scenarios_for(marker: dict) -> list[Scenario]:
    busy, partner = marker["busy"]["slug"], marker["partner"]["slug"]
    inbox = f"/o/{busy}/messages/"
    terms = marker["terms"]
    return [
        Scenario("bare", "Bare Django view (no middleware, no database)", ["/bare/"], sessions="", bare=True),
        Scenario("trivial", "Authenticated trivial page (all middleware)", [f"/o/{busy}/bench/trivial/"]),
        Scenario("inbox", "Inbox, 50 rows (busy supplier)", [inbox]),
        Scenario(
            "conversation",
            "Conversation page, 50 messages",
            [f"{inbox}{pk}/" for pk, _last in marker["page_conversations"]],
        ),
        Scenario(
            "live",
            "Live-update check, nothing new",
            [f"{inbox}{pk}/live/?after={last}" for pk, last in marker["page_conversations"]],
            expect=204,
        ),
        Scenario(
            "send",
            "Sending a message",
            [f"{inbox}{pk}/" for pk in marker["send_conversations"]],
            expect=302,
            method="POST",
            form="message",
        ),
        Scenario(
            "search_selective",
            f"Inbox search, selective term ({terms['selective']})",
            [f"{inbox}?q={terms['selective']}"],
        ),
        Scenario(
            "search_common",
            f"Inbox search, common term ({terms['common']})",
            [f"{inbox}?q={terms['common']}"],
        ),
        Scenario(
            "partner_tag",
            "Partner inbox filtered by a tag",
            [f"/o/{partner}/services/messages/?tag={marker['partner']['tag_id']}"],
            sessions="partner",
        ),
        # The same pages built from the database every time: what the first view after a change costs.
        Scenario("inbox_cold", "Inbox, 50 rows, never cached", [inbox], cold=True),
        Scenario(
            "conversation_cold",
            "Conversation page, 50 messages, never cached",
            [f"{inbox}{pk}/" for pk, _last in marker["page_conversations"]],
            cold=True,
        ),
        Scenario(
            "search_common_cold",
            f"Inbox search, common term ({terms['common']}), never cached",
            [f"{inbox}?q={terms['common']}"],
            cold=True,
        ),
        Scenario(
            "partner_tag_cold",
            "Partner inbox filtered by a tag, never cached",
            [f"/o/{partner}/services/messages/?tag={marker['partner']['tag_id']}"],
            sessions="partner",
            cold=True,
        ),
    ]


def cpu_plan() -> tuple[list[str], list[str], dict]:
    """taskset prefixes: the load generator on the last core, the server on the others (when there are
    two or more cores and taskset exists)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or not shutil.which("taskset"):
        return [], [], {"cores": len(cpus), "pinned": False}
    server = ",".join(str(cpu) for cpu in cpus[:-1])
    generator = str(cpus[-1])
    plan = {"cores": len(cpus), "pinned": True, "server_cpus": server, "load_generator_cpu": generator}
    return ["taskset", "-c", server], ["taskset", "-c", generator], plan


class Server:
    """gunicorn as docker-compose.yml starts it, on 127.0.0.1, its access log in bench/var/logs."""

    def __init__(self, *, port: int, workers: int, prefix: list[str], env: dict[str, str], log: Path):
        self.port, self.workers, self.prefix, self.env, self.log = port, workers, prefix, env, log

    def __enter__(self) -> "Server":
        command = [
            *self.prefix,
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.workers),
            "--access-logfile",
            "-",
        ]
        self.output = self.log.open("w")
        self.process = subprocess.Popen(  # noqa: S603 - our own command line
            command, cwd=common.ROOT, env=self.env, stdout=self.output, stderr=subprocess.STDOUT
        )
        client = Client(self.port)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"gunicorn exited with {self.process.returncode}; see {self.log}")
            try:
                if (
                    client.request("GET", "/healthz/").status == 200
                    and len(self.worker_pids()) == self.workers
                ):
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.__exit__()
        sys.exit(f"gunicorn did not answer within 60 s; see {self.log}")

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.output.close()

    def pids(self) -> set[int]:
        return {self.process.pid, *self.worker_pids()}

    def worker_pids(self) -> list[int]:
        import psutil

        return [child.pid for child in psutil.Process(self.process.pid).children()]

    def memory(self) -> dict:
        """Each worker's resident memory now and its peak so far (VmHWM), in MB."""
        import psutil

        workers = []
        for pid in self.worker_pids():
            try:
                rss = psutil.Process(pid).memory_info().rss
                status = Path(f"/proc/{pid}/status").read_text()
            except (psutil.Error, OSError):
                continue
            match = re.search(r"VmHWM:\s+(\d+) kB", status)
            workers.append(
                {
                    "pid": pid,
                    "rss_mb": round(rss / 2**20, 1),
                    "peak_mb": int(match[1]) / 1024 if match else None,
                }
            )
        return {"workers": workers, "max_rss_mb": max((w["rss_mb"] for w in workers), default=None)}


class Bench:
    def __init__(self, marker: dict, size: common.Size):
        self.marker, self.size = marker, size
        tiny = size.name == "tiny"
        # 30 s: long enough for every worker to pass 10,000 requests (the memory target) at small and above.
        self.duration = float(os.environ.get("BENCH_DURATION") or (5 if tiny else 30))
        self.warmup = float(os.environ.get("BENCH_WARMUP") or (2 if tiny else 5))
        self.users = int(os.environ.get("BENCH_USERS") or 8)
        self.workers = int(os.environ.get("BENCH_WORKERS") or 3)
        self.port = int(os.environ.get("BENCH_PORT") or 8765)
        self.ingest = int(os.environ.get("BENCH_INGEST") or 1000)
        self.soak_max = float(os.environ.get("BENCH_SOAK_MAX") or (0 if tiny else 300))
        self.server_prefix, self.locust_prefix, self.cpus = cpu_plan()
        self.logs = common.VAR_DIR / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.served: Counter = Counter()  # requests per worker pid of the app (not the bare baseline)

    def server(self, *, bare: bool = False) -> Server:
        env = dict(os.environ, BENCH_BARE="1" if bare else "0")
        name = "bare" if bare else "app"
        return Server(
            port=self.port + (1 if bare else 0),
            workers=self.workers,
            prefix=self.server_prefix,
            env=env,
            log=self.logs / f"gunicorn-{name}.log",
        )

    def load(
        self, scenario: Scenario, *, server: Server, sessions: list[dict], rate: float, seconds: float = 0
    ) -> dict:
        """One locust run: warm-up plus the measured duration (or `seconds` in all); figures from the
        measured part only."""
        phase = "half" if rate else "peak"
        port = server.port
        output = self.logs / f"locust-{scenario.name}-{phase}.json"
        config = {
            "name": scenario.name,
            "paths": scenario.paths,
            "method": scenario.method,
            "expect": scenario.expect,
            "form": scenario.form,
            "cold": scenario.cold,
            "sessions": sessions,
            "rate": rate,
            "output": str(output),
            "host_header": f"127.0.0.1:{port}",
        }
        config_path = self.logs / f"locust-{scenario.name}.config.json"
        config_path.write_text(json.dumps(config))
        command = [
            *self.locust_prefix,
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(common.BENCH_DIR / "locustfile.py"),
            "--headless",
            "--users",
            str(self.users),
            "--spawn-rate",
            str(self.users),
            "--run-time",
            f"{max(1, round(seconds or self.warmup + self.duration))}s",
            "--host",
            f"http://127.0.0.1:{port}",
            "--only-summary",
            "--loglevel",
            "WARNING",
            "--stop-timeout",
            "0",
            "--exit-code-on-error",
            "0",
        ]
        env = dict(os.environ, BENCH_LOCUST_CONFIG=str(config_path))
        log = self.logs / f"locust-{scenario.name}-{phase}.log"
        with log.open("w") as out, CpuMeter(lambda: server.pids() | database_backends()) as meter:
            subprocess.run(  # noqa: S603 - our own command line
                command, cwd=common.ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, check=True
            )
        recorded = json.loads(output.read_text())
        if not scenario.bare:
            self.served.update(record[4] for record in recorded["records"] if record[4])
        return {**report.summarize(recorded, warmup=self.warmup, duration=self.duration), **meter.result}

    def run_http(self, scenarios: list[Scenario]) -> dict:
        memory: dict = {}
        for scenario in [s for s in scenarios if s.bare]:
            with self.server(bare=True) as server:
                self.measure(scenario, server, [])
        app = [s for s in scenarios if not s.bare]
        if not app:
            return memory
        with self.server() as server:
            memory["after_start"] = server.memory()
            sessions = self.sign_in(server)
            memory["isolation"] = self.smoke(server, app, sessions)
            for scenario in app:
                self.measure(scenario, server, sessions[scenario.sessions] if scenario.sessions else [])
                scenario.results["memory_after"] = server.memory()
            live = next((s for s in app if s.name == "live"), None)
            if live is not None and self.soak_max:
                memory["soak"] = self.soak(server, sessions["busy"], live)
            memory["after_requests"] = self.memory_by_requests(server)
            memory["upload"] = self.upload(server, sessions["busy"][0])
        return memory

    def soak(self, server: Server, sessions: list[dict], live: Scenario) -> dict:
        """Live-update checks (what every open conversation sends every few seconds) until each worker has
        served 10,000 requests, for the memory target; at most BENCH_SOAK_MAX seconds (300; tiny: none)."""
        soak = Scenario("soak", "Memory soak", live.paths, expect=live.expect)
        began = time.monotonic()
        deadline = began + self.soak_max
        before = sum(self.served.values())
        while time.monotonic() < deadline:
            fewest = min(self.served.get(pid, 0) for pid in server.worker_pids())
            if fewest >= 10_000:
                break
            # Three workers share the load about evenly: enough for the slowest, plus a little.
            rate = max(live.results.get("peak", {}).get("rps", 0), 10) / self.workers
            seconds = min(deadline - time.monotonic(), (10_000 - fewest) / rate * 1.2 + 3)
            print(f"  memory soak: {seconds:.0f} s of live checks...", flush=True)
            self.load(soak, server=server, sessions=sessions, rate=0, seconds=max(seconds, 3))
        return {"seconds": round(time.monotonic() - began, 1), "requests": sum(self.served.values()) - before}

    def memory_by_requests(self, server: Server) -> dict:
        """Each worker's memory with the number of requests it served; the figure for the target is the
        largest among workers that served 10,000 or more."""
        workers = server.memory()["workers"]
        for worker in workers:
            worker["requests"] = self.served.get(worker["pid"], 0)
        seasoned = [w["rss_mb"] for w in workers if w["requests"] >= 10_000]
        return {
            "requests": sum(self.served.values()),
            "workers": workers,
            "max_rss_mb": max(w["rss_mb"] for w in workers),
            "max_rss_mb_after_10000": max(seasoned, default=None),
            "fewest_requests": min(w["requests"] for w in workers),
        }

    def measure(self, scenario: Scenario, server: Server, sessions: list[dict]) -> None:
        scenario.results["load_average"] = round(os.getloadavg()[0], 2)
        print(f"  {scenario.title}: peak...", end="", flush=True)
        peak = self.load(scenario, server=server, sessions=sessions, rate=0)
        scenario.results["peak"] = peak
        print(f" {peak['rps']:.0f} req/s; half-peak...", end="", flush=True)
        rate = peak["rps"] / 2 / self.users if peak["rps"] else 0
        half = self.load(scenario, server=server, sessions=sessions, rate=rate) if rate else {}
        scenario.results["half"] = half
        print(f" p95 {half.get('p95', float('nan')):.1f} ms")

    def sign_in(self, server: Server) -> dict[str, list[dict]]:
        """Each simulated user gets a session of its own, through the real sign-in page."""
        return {
            "busy": [login(server.port, email) for email in self.marker["busy"]["users"]],
            "partner": [login(server.port, email) for email in self.marker["partner"]["users"]],
        }

    def smoke(self, server: Server, scenarios: list[Scenario], sessions: dict) -> dict:
        """Every scenario's first request answers as expected before any load (a broken scenario would only
        measure its error page), and search never returns another organization's conversations."""
        client = Client(server.port)
        for scenario in scenarios:
            for session in sessions[scenario.sessions] if scenario.sessions else []:
                if scenario.method == "GET":  # also records the organization in the session, once
                    response = client.request("GET", scenario.paths[0], session=session)
                    if response.status != scenario.expect:
                        sys.exit(f"{scenario.name}: {scenario.paths[0]} answered {response.status}")
        busy = self.marker["busy"]["slug"]
        row = re.compile(rf'class="inbox-link" href="/o/{busy}/messages/(\d+)/"')
        found = {}
        for kind, term in self.marker["terms"].items():
            page = client.request("GET", f"/o/{busy}/messages/?q={term}", session=sessions["busy"][0]).text
            found[kind] = sorted(int(pk) for pk in row.findall(page))
        expected = self.marker["selective_busy_conversations"]
        return {
            "canary_rows": len(found["canary"]),
            "selective_rows": len(found["selective"]),
            "selective_expected": len(expected),
            "common_rows_on_page": len(found["common"]),
            "passed": not found["canary"] and found["selective"] == expected,
        }

    def upload(self, server: Server, session: dict) -> dict:
        """A 10 MB file attached to a message, three times (gunicorn picks the worker): how far each
        worker's peak memory rose."""
        client = Client(server.port)
        conversation = self.marker["send_conversations"][0]
        path = f"/o/{self.marker['busy']['slug']}/messages/{conversation}/"
        before = {w["pid"]: w["peak_mb"] for w in server.memory()["workers"]}
        statuses = [client.upload(path, session=session, size=10 * 1000 * 1000).status for _ in range(3)]
        after = {w["pid"]: w["peak_mb"] for w in server.memory()["workers"]}
        rises = [after[pid] - before[pid] for pid in after if pid in before and after[pid] is not None]
        return {"statuses": statuses, "peak_rise_mb": round(max(rises, default=0), 1), "workers": after}


def git_describe() -> str:
    """The commit measured, with "+changes" when tracked files differ from it."""
    git = shutil.which("git")
    if git is None:
        return "unknown"

    def output(*arguments: str) -> str:
        done = subprocess.run([git, *arguments], cwd=common.ROOT, capture_output=True, text=True)  # noqa: S603
        return done.stdout.strip()

    commit = output("rev-parse", "--short", "HEAD") or "unknown"
    return f"{commit}+changes" if output("status", "--porcelain", "--untracked-files=no") else commit


def restore(marker: dict) -> None:
    """The seeded database, no uploaded files, and no email tasks waiting in the bench's broker queue (no
    worker runs during the bench: the requests only queue them, as they would in production)."""
    state.restore(marker["max_ids"])
    shutil.rmtree(common.VAR_DIR / "media" / "attachments", ignore_errors=True)
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        import redis
        from django.conf import settings

        redis.Redis.from_url(redis_url).delete(settings.CELERY_TASK_DEFAULT_QUEUE)
    for queued in (common.VAR_DIR / "celery" / "queue").glob("*.msg"):  # the filesystem broker, without Redis
        queued.unlink()


def main() -> None:
    size = common.size_from_env()
    common.django_setup()
    marker = common.marker_read()
    if not marker or marker["size"] != size.name:
        sys.exit(
            f"The database is not seeded at size {size.name}: run bench/seed.py with BENCH_SIZE={size.name}"
        )
    bench = Bench(marker, size)
    chosen = {name.strip() for name in os.environ.get("BENCH_SCENARIOS", "").split(",") if name.strip()}
    scenarios = [s for s in scenarios_for(marker) if not chosen or s.name in chosen]
    # WhiteNoise serves the collected, hashed files in production.
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=common.ROOT,
        check=True,
    )
    restore(marker)
    began = datetime.datetime.now(datetime.UTC)
    phase = f"{bench.warmup:g}+{bench.duration:g} s per phase"
    print(f"bench {size.name}: {bench.users} users, {bench.workers} workers, {phase}, cpus {bench.cpus}")
    memory = bench.run_http(scenarios)
    restore(marker)
    in_process = {}
    if not chosen or "digest" in chosen:
        print("  hourly digest...", end="", flush=True)
        in_process["digest"] = inprocess.digest_run(marker)
        print(f" {in_process['digest']['seconds']} s")
        restore(marker)
    if not chosen or "ingest" in chosen:
        print(f"  {bench.ingest} replies by email...", end="", flush=True)
        in_process["ingest"] = inprocess.ingest_run(marker, bench.ingest)
        print(f" {in_process['ingest']['per_second']} per second")
        print("  their emails, written as the worker writes them...", end="", flush=True)
        in_process["message_emails"] = inprocess.message_emails_run()
        print(f" {in_process['message_emails']['emails_per_second']} emails per second")
        restore(marker)
    results = {
        "size": size.name,
        "partial": bool(chosen),
        "date": began.date().isoformat(),
        "started_at": began.isoformat(timespec="seconds"),
        "parameters": size.as_dict(),
        "seed": {
            "seconds": marker.get("seconds"),
            "seeded_at": marker["seeded_at"],
            "counts": marker["counts"],
        },
        "setup": {
            "users": bench.users,
            "workers": bench.workers,
            "warmup_s": bench.warmup,
            "duration_s": bench.duration,
            "page_size": os.environ["PAGE_SIZE"],
            "redis": bool(os.environ.get("REDIS_URL")),
            **bench.cpus,
            "python": sys.version.split()[0],
            "commit": git_describe(),
        },
        "scenarios": {s.name: {"title": s.title, **s.results} for s in scenarios},
        "memory": memory,
        "in_process": in_process,
        "term_counts": inprocess.term_counts(marker),
    }
    report.publish(results)


if __name__ == "__main__":
    main()
