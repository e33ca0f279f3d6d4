"""Seeds the bench database at one size, or keeps it when it already holds that size.

    BENCH_SIZE=small .venv/bin/python bench/seed.py    # DATABASE_URL: by default parley_bench on 127.0.0.1

Sizes (bench/common.py): tiny (5,000 messages, for CI), small (10,000), medium (100,000) and large (the
default: 200 organizations, 100,000 conversations, 1,000,000 messages, one busy supplier with 10,000 of them).
The database is created if missing and migrated first. A database holding anything but bench data is refused.

Everything lands in the app's own tables with the denormalized fields the services keep (a conversation's
last message time, snippet and count; each participant's last message time; each read state's unread count
and last read time; every message's search vector), as if the history had been written through
messaging.services. Big tables go in with COPY, messages through a staging table so each row is written once
with its search vector; the search index is built once at the end. The whole seed is one transaction: an
interrupted seed leaves the previous data as it was. A `bench_seed` row records the size and the ids the
scenarios use; a later run with the same size finds it and does nothing.
"""

import datetime
import json
import os
import random
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, data, state
from bench.history import History, Plan
from bench.people import People

SEED_VERSION = 1  # bump when the shape of the data changes: older seeds are then replaced
SEED = 7


def ensure_database(url: str) -> None:
    """CREATE DATABASE when the one named in the URL does not exist yet (a fresh machine)."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def main() -> None:
    size = common.size_from_env()
    began = time.perf_counter()
    common.django_setup()
    ensure_database(os.environ["DATABASE_URL"])
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    state.marker_table_create()
    marker = common.marker_read()
    if marker and marker.get("size") == size.name and marker.get("seed_version") == SEED_VERSION:
        print(f"bench database already seeded at size {size.name} ({marker['seeded_at']}): reused")
        return
    refuse_foreign_data(marker)
    info = Seeder(size).run()
    state.vacuum_analyze()
    info["seconds"] = round(time.perf_counter() - began, 1)
    state.marker_update({"seconds": info["seconds"], "step_seconds": info["step_seconds"]})
    consistency_report()
    print(
        f"seeded size {size.name} in {info['seconds']:.0f} s (vacuum included): {json.dumps(info['counts'])}"
    )


def consistency_report() -> None:
    """Every denormalized field as the services would have left it; exits non-zero if one is not."""
    broken = {name: count for name, count in state.check().items() if count}
    if broken:
        sys.exit(f"seeded data breaks the services' rules: {broken}")
    print(f"checked: every denormalized field matches ({len(state.CHECKS)} rules)")


def refuse_foreign_data(marker: dict | None) -> None:
    from tenants.models import Organization

    if marker is None and Organization.objects.exists():
        sys.exit("This database holds data the bench did not seed: give a throwaway one in DATABASE_URL.")


class Steps:
    """One progress bar over the seed's steps (writing the messages has its own bar inside), timing each."""

    def __init__(self, names: list[str]):
        from tqdm import tqdm

        self.names = names
        self.bar = tqdm(total=len(names), unit="step", bar_format="{desc:<16} {bar:20} {n}/{total} {elapsed}")
        self.index = -1
        self.seconds: dict[str, float] = {}
        self.began = time.perf_counter()

    def next(self) -> None:
        now = time.perf_counter()
        if self.index >= 0:
            self.seconds[self.names[self.index]] = round(now - self.began, 1)
            self.bar.update(1)
        self.began = now
        self.index += 1
        self.bar.set_description_str(self.names[self.index])

    def close(self) -> dict[str, float]:
        self.seconds[self.names[self.index]] = round(time.perf_counter() - self.began, 1)
        self.bar.update(1)
        self.bar.close()
        return self.seconds


class Seeder(People, History):
    """Seeds one size in one transaction; the marker and the snapshot are written in it too."""

    def __init__(self, size: common.Size):
        self.size = size
        self.rng = random.Random(SEED)  # noqa: S311 - reproducible data, not secrets
        self.hour = datetime.datetime.now(datetime.UTC).replace(minute=0, second=0, microsecond=0)
        self.window_start = self.hour - datetime.timedelta(hours=1)
        self.counts: dict[str, int] = {}

    def run(self) -> dict:
        from django.db import transaction

        steps = Steps(
            [
                "wipe",
                "organizations",
                "users",
                "connections",
                "partners",
                "plan",
                "messages",
                "tables",
                "search vectors",
                "marker",
            ]
        )
        with transaction.atomic():
            steps.next()
            state.wipe()
            steps.next()
            self.organizations_create()
            steps.next()
            self.users_create()
            steps.next()
            self.connections_create()
            steps.next()
            self.partner_side_create()
            steps.next()
            plans = self.conversations_plan()
            steps.next()
            rows = self.messages_write(plans)
            steps.next()
            self.tables_write(plans, rows)
            steps.next()
            self.messages_insert()
            steps.next()
            info = self.info(plans)
            state.snapshot_create()
            info["max_ids"] = state.max_ids()
            state.marker_write(info)
        info["step_seconds"] = steps.close()
        return info

    def info(self, plans: list[Plan]) -> dict:
        from django.db import connection

        def ids(role: str) -> list[int]:
            return [plan.id for plan in plans if plan.role == role]

        pages = ids("page")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT conversation_id, max(id) FROM messaging_message WHERE conversation_id = ANY(%s)"
                " GROUP BY conversation_id",
                [pages],
            )
            last_ids = dict(cursor.fetchall())
        return {
            "size": self.size.name,
            "seed_version": SEED_VERSION,
            "seeded_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "parameters": self.size.as_dict(),
            "counts": self.counts,
            "digest_hour": self.hour.isoformat(),
            "digest_users": sum(len(users) for users in self.readers.values()),
            "busy": {"slug": self.busy.slug, "users": [self.emails[u] for u in self.members[self.busy.pk]]},
            "partner": {
                "slug": self.partner.slug,
                "users": [self.emails[u] for u in self.members[self.partner.pk]],
                "tag_id": self.tags[0].pk,
            },
            "page_conversations": [[pk, last_ids[pk]] for pk in pages],
            "send_conversations": ids("send"),
            "ingest_conversations": [[plan.id, plan.author_b] for plan in plans if plan.role == "ingest"],
            "terms": {
                "selective": data.SELECTIVE_TERM,
                "common": data.COMMON_TERM,
                "canary": data.CANARY_TERM,
            },
            "selective_busy_conversations": sorted(
                plan.id for plan in plans if plan.busy and plan.plant == data.SELECTIVE_TERM
            ),
        }


if __name__ == "__main__":
    main()
