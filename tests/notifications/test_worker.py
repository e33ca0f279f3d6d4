"""The outbox through a real Celery worker on Redis and a real SMTP server: every email arrives once; when a
worker is killed while sending, the sweeper sends what it left, and only what the server took comes twice."""

import collections
import contextlib
import datetime
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from config import celery_app
from messaging import services as messaging_services
from notifications.models import OutgoingEmail, PendingMessageEmails
from notifications.tasks import send_outgoing_email, sweep_outbox
from tenants.models import Membership
from tests.factories import ConnectionFactory, MembershipFactory, start_conversation

pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.django_db(transaction=True),  # the worker reads only what the test committed
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (a real broker)"),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="needs PostgreSQL (worker processes share the test database; rows are claimed SKIP LOCKED)",
    ),
]

SUPPLIER_USERS = 3
# The workers' OUTBOX_STALE_SECONDS: their sweeper takes a row "sending" this long as left by a dead worker.
WORKER_STALE_SECONDS = 1


def wait_for(condition, *, timeout: float, what: str, log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    details = f"\nrows: {statuses()}"
    if log and log.exists():
        details += f"\n--- {log.name} ---\n{log.read_text()[-6000:]}"
    pytest.fail(f"timed out after {timeout} s waiting for {what}{details}")


def statuses() -> dict[int, str]:
    return dict(OutgoingEmail.objects.values_list("pk", "status"))


def all_sent() -> bool:
    rows = statuses()
    return bool(rows) and set(rows.values()) == {OutgoingEmail.Status.SENT}


def purge_broker() -> None:
    """Nothing left over from another test: the queue, and the tasks a killed worker never acknowledged."""
    celery_app.control.purge()
    redis.Redis.from_url(settings.REDIS_URL).delete("unacked", "unacked_index", "unacked_mutex")


@pytest.fixture
def broker():
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    # A worker of someone else's on this Redis database would take tasks meant for the test's own workers.
    others = celery_app.control.ping(timeout=0.5)
    if others:
        pytest.fail(f"another Celery worker listens on {settings.REDIS_URL}: {others}; use another database")
    purge_broker()
    try:
        yield
    finally:
        purge_broker()
        celery_app.conf.task_always_eager = previous


@pytest.fixture
def talking(buyer, supplier, buyer_admin):
    """A conversation whose counterpart, the supplier, has SUPPLIER_USERS users: each message is that many
    emails. Started by the caller, once a worker may be listening."""
    ConnectionFactory(supplier=supplier, customer=buyer)
    for role in [Membership.Role.ADMINISTRATOR] + [Membership.Role.MEMBER] * (SUPPLIER_USERS - 1):
        MembershipFactory(organization=supplier, role=role)

    def start(body="Can you ship Monday?"):
        return start_conversation(buyer_admin, supplier, subject="Pallets", body=body)

    return start


def post(conversation, author, body):
    return messaging_services.message_post(
        actor=author, membership=author.memberships.get(), conversation=conversation, body=body
    )


class TestInProcessWorker:
    @pytest.fixture
    def worker(self, broker, smtp_server):
        from celery.contrib.testing.worker import start_worker

        with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker:
            yield worker

    def test_every_email_reaches_the_server_once_even_when_its_task_runs_twice(
        self, worker, smtp_server, talking, buyer, buyer_admin, supplier
    ):
        colleague = MembershipFactory(organization=buyer).user
        conversation = talking()
        for body in ["Two pallets", "Or three?", "Monday 9:00"]:
            post(conversation, buyer_admin, body)
        post(conversation, supplier.memberships.first().user, "Three, Monday.")  # to both buyer users
        expected = 4 * SUPPLIER_USERS + 2
        # The worker writes each message's emails after its commit, then sends them.
        wait_for(lambda: OutgoingEmail.objects.count() == expected, timeout=30, what=f"{expected} emails")
        assert not PendingMessageEmails.objects.exists()

        wait_for(all_sent, timeout=30, what=f"{expected} emails sent")
        rows = list(OutgoingEmail.objects.all())
        assert {row.attempts for row in rows} == {1}
        assert all(row.sent_at is not None and row.last_error == "" for row in rows)
        received = collections.Counter(smtp_server.recorder.message_ids())
        assert received == collections.Counter(row.message_id for row in rows)  # each exactly once
        assert {message["To"] for message in smtp_server.recorder.received} >= {
            buyer_admin.email,
            colleague.email,
        }

        # A redelivered task, or a sweep overlapping the first send, finds the row sent and leaves it.
        for row in rows:
            send_outgoing_email.delay(row.pk)
        last = post(conversation, buyer_admin, "See you then")  # queued after them: the solo worker is FIFO
        wait_for(
            lambda: (
                OutgoingEmail.objects.filter(key__startswith=f"message:{last.pk}:").count() == SUPPLIER_USERS
                and all_sent()
            ),
            timeout=30,
            what="the last message's emails written and sent",
        )
        received = collections.Counter(smtp_server.recorder.message_ids())
        assert set(received.values()) == {1}
        assert len(received) == expected + SUPPLIER_USERS
        assert set(OutgoingEmail.objects.values_list("attempts", flat=True)) == {1}


def worker_database_url() -> str:
    """The URL of the database pytest-django created, for a worker in another process."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def workers(broker, smtp_server, tmp_path):
    """Start Celery workers as separate processes (the production shape: prefork, one child), each in its own
    process group so that a test can SIGKILL it whole. Every one is killed at the end."""
    started = []
    env = {
        **os.environ,
        "DATABASE_URL": worker_database_url(),
        "DB_CONN_MAX_AGE": "0",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_server.port),
        "EMAIL_USE_TLS": "false",
        "EMAIL_TIMEOUT": "10",
        "EMAIL_DOMAIN": settings.EMAIL_DOMAIN,
        "OUTBOX_STALE_SECONDS": str(WORKER_STALE_SECONDS),
        "PARLEY_VAR_DIR": str(tmp_path / "var"),
        "LOG_LEVEL": "WARNING",
    }

    def start(name: str) -> tuple[subprocess.Popen, Path]:
        log = tmp_path / f"{name}.log"
        with open(log, "wb") as output:
            process = subprocess.Popen(
                [
                    *[sys.executable, "-m", "celery", "-A", "config", "worker", "--queues", "parley"],
                    *["--pool", "prefork", "--concurrency", "1", "--loglevel", "INFO"],
                    *["--hostname", f"{name}-{uuid.uuid4().hex[:8]}@%h"],
                    *["--without-gossip", "--without-mingle", "--without-heartbeat"],
                ],
                cwd=settings.BASE_DIR,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(process)
        return process, log

    try:
        yield start
    finally:
        for process in started:
            kill(process)


def kill(process: subprocess.Popen) -> None:
    """SIGKILL the worker and its pool: no warm shutdown, no acknowledgement, no last word to the server."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def pool_children(pid: int) -> list[int]:
    """The prefork pool's processes under a worker (Linux /proc)."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid:
                children.append(int(entry))
    return children


def unacknowledged() -> int:
    """Tasks a worker took from the queue and has not acknowledged (acks_late): kombu keeps them in Redis."""
    return redis.Redis.from_url(settings.REDIS_URL).hlen("unacked")


class TestWorkerKilledWhileSending:
    @pytest.mark.parametrize(
        "point, victim",
        [
            pytest.param("data", "worker", id="worker-killed-before-the-server-accepted"),
            pytest.param("quit", "worker", id="worker-killed-after-the-server-accepted"),
            pytest.param("quit", "pool-child", id="pool-child-killed-after-the-server-accepted"),
        ],
    )
    def test_the_sweeper_sends_what_the_dead_worker_left_and_only_an_accepted_email_can_arrive_twice(
        self, workers, smtp_server, talking, buyer_admin, point, victim
    ):
        recorder = smtp_server.recorder
        # The worker is stuck waiting for the server: its answer to DATA (the message is not accepted yet), or
        # its answer to QUIT (the message was accepted with a 250, the row is not marked sent yet).
        setattr(recorder, f"{point}_delay", 3.0)
        first, log = workers("first")
        conversation = talking()
        post(conversation, buyer_admin, "Or three?")
        expected = 2 * SUPPLIER_USERS
        wait_for(
            lambda: OutgoingEmail.objects.count() == expected, timeout=30, what="the emails written", log=log
        )

        wait_for(
            lambda: recorder.holding, timeout=30, what=f"the worker waiting for the {point} answer", log=log
        )
        killed_at = time.monotonic()
        if victim == "worker":  # the whole worker, as a deploy's SIGKILL or the machine going away would
            kill(first)
        else:  # only the pool process running the task, as the OOM killer would; the worker lives on
            [child] = pool_children(first.pid)
            os.kill(child, signal.SIGKILL)
        recorder.data_delay = recorder.quit_delay = 0.0
        accepted_before_kill = {message_id for at, message_id in recorder.accepted if at < killed_at}
        stranded = OutgoingEmail.objects.get(status=OutgoingEmail.Status.SENDING)
        assert stranded.attempts == 1
        if point == "data":
            wait_for(lambda: recorder.dropped, timeout=5, what="the server to see the client go")
            assert accepted_before_kill == set()
        else:
            assert accepted_before_kill == {stranded.message_id}

        if victim == "worker":
            # One task at a time: the others still wait in the queue, for a fresh worker.
            assert set(statuses().values()) == {OutgoingEmail.Status.SENDING, OutgoingEmail.Status.QUEUED}
            _fresh, log = workers("fresh")
        wait_for(
            lambda: list(statuses().values()).count(OutgoingEmail.Status.SENT) == expected - 1,
            timeout=30,
            what="the queued emails sent",
            log=log,
        )
        if victim == "worker":
            # The dead worker's task stays unacknowledged in Redis until the visibility timeout (an hour).
            wait_for(
                lambda: unacknowledged() == 1, timeout=5, what="only the dead worker's task unacknowledged"
            )
        else:
            # reject_on_worker_lost put the task back at once; it ran again and found the row being sent.
            wait_for(lambda: "'skipped'" in log.read_text(), timeout=10, what="the redelivered task", log=log)
            wait_for(lambda: unacknowledged() == 0, timeout=5, what="every task acknowledged")
        # Either way nobody sends the stranded row but the sweeper, once the row is stale.
        assert statuses()[stranded.pk] == OutgoingEmail.Status.SENDING
        stale_at = stranded.updated_at + datetime.timedelta(seconds=WORKER_STALE_SECONDS + 0.2)
        time.sleep(max(0.0, (stale_at - timezone.now()).total_seconds()))
        sweep_outbox.delay()
        wait_for(all_sent, timeout=30, what="the stranded email sent after the sweep", log=log)

        stranded.refresh_from_db()
        assert stranded.attempts == 2
        rows = list(OutgoingEmail.objects.all())
        received = collections.Counter(recorder.message_ids())
        assert set(received) == {row.message_id for row in rows}  # every email arrived
        assert set(received.values()) <= {1, 2}
        twice = {message_id for message_id, count in received.items() if count > 1}
        # Only an email the server had accepted before the kill arrives a second time.
        assert twice <= accepted_before_kill
        assert twice == ({stranded.message_id} if point == "quit" else set())
        assert {row.attempts for row in rows if row.pk != stranded.pk} == {1}
