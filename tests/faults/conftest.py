"""Faults injected into the real services (PostgreSQL, Redis, Celery workers, SMTP), and the figures each test
measured, printed at the end of the run (and asserted by the test that measured them)."""

import pytest

from config.cache import ResilientRedisCache
from tests.notifications.smtp import smtp_server  # noqa: F401
from tests.workers import broker, in_process_worker, talking_fixture, workers  # noqa: F401

from .servers import RedisServer

FIGURES: list[tuple[str, str]] = []


@pytest.fixture
def report(request):
    """report("what", value): one figure of this test, shown in the run's summary."""

    def add(what: str, value) -> None:
        FIGURES.append((request.node.name, f"{what}: {value}"))
        print(f"{what}: {value}")

    return add


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("faults injected and survived")
        for test, line in FIGURES:
            terminalreporter.write_line(f"{test}: {line}")


@pytest.fixture
def own_redis():
    """A Redis server of the test's own, to kill, hang and restart empty."""
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.kill()
        ResilientRedisCache.paused_until = (
            0.0  # the next test's cache is not left alone for this one's outage
        )
