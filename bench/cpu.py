"""How much CPU a phase of the bench took, and how much of it was not the bench's.

A bench machine may be shared (other people's test suites, the hypervisor's other guests). Beside every figure
the report shows the cores that something else used meanwhile: the machine's busy time (steal included)
minus the bench's own processes (gunicorn, the PostgreSQL backends serving our database, locust, the runner).
Near zero, the figure is clean; half a core or more, it is pessimistic.
"""

import resource
import time
from collections.abc import Callable

import psutil


def _busy_seconds() -> float:
    times = psutil.cpu_times()
    # guest time is already counted in user time on Linux; steal is CPU the host gave to someone else.
    fields = ("user", "nice", "system", "irq", "softirq", "steal")
    return sum(getattr(times, name, 0.0) for name in fields)


def _process_seconds(pids: set[int]) -> dict[int, float]:
    seconds = {}
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        seconds[pid] = times.user + times.system
    return seconds


def _children_seconds() -> float:
    """CPU of the finished children this process waited for (the locust runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def database_backends() -> set[int]:
    """PostgreSQL backends connected to the bench database (gunicorn's workers and the runner)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return {pid for (pid,) in cursor.fetchall()}


class CpuMeter:
    """with CpuMeter(pids) as meter: ...; then meter.result: cores used by the machine and by others."""

    def __init__(self, pids: Callable[[], set[int]]):
        self.pids = pids  # the bench's long-lived processes, asked at the start and at the end

    def __enter__(self) -> "CpuMeter":
        self.began = time.monotonic()
        self.busy = _busy_seconds()
        self.children = _children_seconds()
        self.own = _process_seconds(self.pids() | {psutil.Process().pid})
        return self

    def __exit__(self, *exc) -> None:
        elapsed = time.monotonic() - self.began
        busy = _busy_seconds() - self.busy
        own_now = _process_seconds(self.pids() | {psutil.Process().pid})
        # A process that started meanwhile (a reopened database connection) counts from zero.
        ours = sum(seconds - self.own.get(pid, 0.0) for pid, seconds in own_now.items())
        ours += _children_seconds() - self.children
        self.result = {
            "machine_cores": round(busy / elapsed, 2),
            "other_cores": round(max(0.0, busy - ours) / elapsed, 2),
        }
