"""What the bench scripts share: the sizes, the environment they run Django in, and the seed marker.

The scripts (`seed.py`, `run.py`) are run by path, so they put the project on sys.path themselves and then
import this module as `bench.common`.
"""

import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
VAR_DIR = BENCH_DIR / "var"  # collected static files, media, logs: never the project's own var/
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/parley_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"
# Every seeded user signs in with this password; the data is synthetic and the database a throwaway one.
PASSWORD = "parley-bench"  # noqa: S105
# A fixed key, so reply addresses issued by one run are still valid in the next; bench data only.
SECRET_KEY = "bench-only-not-secret-bench-only-not-secret-bench-only-not-secret"  # noqa: S105
MARKER_TABLE = "bench_seed"


@dataclass(frozen=True)
class Size:
    """How much history the database holds. Messages are ten per conversation on average."""

    name: str
    organizations: int
    conversations: int
    messages: int
    busy_conversations: int  # the one busy supplier's share
    digest_users: int  # buyer users with an hourly digest and unread news in the seeded hour

    def as_dict(self) -> dict:
        return asdict(self)


SIZES = {
    size.name: size
    for size in (
        Size("tiny", 20, 500, 5_000, 100, 200),
        Size("small", 40, 1_000, 10_000, 200, 1_000),
        Size("medium", 100, 10_000, 100_000, 1_000, 5_000),
        Size("large", 200, 100_000, 1_000_000, 10_000, 10_000),
    )
}


def size_from_env() -> Size:
    name = os.environ.get("BENCH_SIZE", "large").strip().lower() or "large"
    if name not in SIZES:
        sys.exit(f"BENCH_SIZE={name!r}: choose one of {', '.join(SIZES)}")
    return SIZES[name]


def bench_environment(**extra: str) -> dict[str, str]:
    """The environment Django runs in for the bench: production settings (DEBUG off, WhiteNoise, secure
    cookies behind a proxy that says https), the bench database, Redis when it answers."""
    env = {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DJANGO_ENV": "production",
        "DEBUG": "0",
        "SECRET_KEY": SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # As in docker-compose.yml: TLS ends at a proxy that sets X-Forwarded-Proto (the load generator does).
        "SECURE_SSL_REDIRECT": "0",
        "TRUST_X_FORWARDED_PROTO": "1",
        "PARLEY_VAR_DIR": str(VAR_DIR),
        "DATABASE_URL": os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
        "CACHE_KEY_PREFIX": "parley-bench",
        # The inbox is 50 rows a page.
        "PAGE_SIZE": os.environ.get("PAGE_SIZE", "50"),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
    }
    # Its own variable, so a REDIS_URL exported for the test suite is not borrowed (db 7 is the bench's).
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    if redis_url and redis_answers(redis_url):
        env["REDIS_URL"] = redis_url
    else:
        # No Redis: tasks go to kombu's filesystem queue under bench/var (never run in the request).
        env["REDIS_URL"] = ""
        env["CELERY_TASK_ALWAYS_EAGER"] = "0"
    env.update(extra)
    return env


def redis_answers(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:
        return False


def django_setup(**extra: str) -> None:
    """Django in this process with the bench environment."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.update(bench_environment(**extra))
    if not os.environ["DATABASE_URL"].startswith(("postgres://", "postgresql://")):
        sys.exit("The bench needs PostgreSQL: DATABASE_URL must be a postgres:// URL.")
    import django

    django.setup()


def marker_read() -> dict | None:
    """What the last complete seed recorded (size, ids the scenarios use), or None."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [MARKER_TABLE])
        if cursor.fetchone()[0] is None:
            return None
        cursor.execute(f"SELECT info FROM {MARKER_TABLE} WHERE complete ORDER BY id DESC LIMIT 1")  # noqa: S608
        row = cursor.fetchone()
    if row is None:
        return None
    return row[0] if isinstance(row[0], dict) else json.loads(row[0])
