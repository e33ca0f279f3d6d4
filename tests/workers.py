"""Real Celery workers for tests: separate processes on Redis and the test's PostgreSQL database, which a test
starts, SIGKILLs and starts again; the broker they share; waiting for what they do. Fixtures here are imported
by the conftest of each package that uses them (tests/notifications, tests/faults)."""

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
from django.db.models import F

from config import celery_app
from messaging import services as messaging_services
from notifications.models import OutgoingEmail, PendingMessageEmails
from tenants.models import Membership
from tests.factories import ConnectionFactory, MembershipFactory, start_conversation

SUPPLIER_USERS = 3
# The workers' OUTBOX_STALE_SECONDS: their sweeper takes a row "sending" this long as left by a dead worker.
WORKER_STALE_SECONDS = 1

needs_real_services = [
    pytest.mark.celery_worker,
    pytest.mark.django_db(transaction=True),  # the worker reads only what the test committed
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (a real broker)"),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="needs PostgreSQL (worker processes share the test database; rows are claimed SKIP LOCKED)",
    ),
]


@pytest.fixture(name="talking")
def talking_fixture(buyer, supplier, buyer_admin):
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


def wait_for(condition, *, timeout: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    details = f"\nrows: {statuses()}"
    errors = set(OutgoingEmail.objects.exclude(last_error="").values_list("last_error", flat=True)[:5])
    if errors:
        details += f"\nerrors: {errors}"
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


def queued() -> int:
    """Tasks waiting in the queue, not yet taken by a worker."""
    return redis.Redis.from_url(settings.REDIS_URL).llen(settings.CELERY_TASK_DEFAULT_QUEUE)


def unacknowledged() -> int:
    """Tasks a worker took from the queue and has not acknowledged (acks_late): kombu keeps them in Redis."""
    return redis.Redis.from_url(settings.REDIS_URL).hlen("unacked")


@contextlib.contextmanager
def broker_at(url: str):
    """This process publishes its tasks to the broker at `url` (its connection pools started afresh)."""
    previous = celery_app.conf.broker_url
    celery_app.conf.broker_url = url
    celery_app._after_fork()  # forget the pooled connections to the previous broker
    try:
        yield
    finally:
        celery_app.conf.broker_url = previous
        celery_app._after_fork()


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
def in_process_worker(broker, smtp_server):
    """A real Celery worker on the broker, in a thread of the test's process (it shares its settings)."""
    from celery.contrib.testing.worker import start_worker

    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker:
        yield worker


def minutes_pass(minutes: float) -> None:
    """The clock `minutes` later, for the sweeper: the emails not sent and the messages whose emails are not
    written are that much older (the workers' clocks stay where they are)."""
    delta = datetime.timedelta(minutes=minutes)
    OutgoingEmail.objects.exclude(status=OutgoingEmail.Status.SENT).update(
        updated_at=F("updated_at") - delta, next_attempt_at=F("next_attempt_at") - delta
    )
    PendingMessageEmails.objects.update(created_at=F("created_at") - delta)


def worker_database_url(port: int | None = None) -> str:
    """The URL of the database pytest-django created, for a worker in another process (through `port`, a
    proxy's, when given)."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST'] or 'localhost'}:{port or db['PORT'] or 5432}/{db['NAME']}"


def app_environment(smtp_port: int, var_dir: Path, **overrides: str) -> dict[str, str]:
    """The environment of an app process (worker or web server) on the test's database, broker and SMTP
    server."""
    return {
        **os.environ,
        "DATABASE_URL": worker_database_url(),
        "DB_CONN_MAX_AGE": "0",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "EMAIL_USE_TLS": "false",
        "EMAIL_TIMEOUT": "10",
        "EMAIL_DOMAIN": settings.EMAIL_DOMAIN,
        "OUTBOX_STALE_SECONDS": str(WORKER_STALE_SECONDS),
        "PARLEY_VAR_DIR": str(var_dir),
        "LOG_LEVEL": "WARNING",
        **overrides,
    }


@pytest.fixture
def workers(broker, smtp_server, tmp_path):
    """Start Celery workers as separate processes (the production shape: prefork, one child), each in its own
    process group so that a test can SIGKILL it whole; `env` overrides their environment (another broker).
    Every one is killed at the end."""
    started = []

    def start(name: str, **env: str) -> tuple[subprocess.Popen, Path]:
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
                env=app_environment(smtp_server.port, tmp_path / "var", **env),
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
