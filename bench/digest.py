"""How long the hourly digest takes, and how many queries it makes, for N users with unread messages.

    .venv/bin/python bench/digest.py --users 10000
    createdb -h 127.0.0.1 -U postgres parley_bench_digest
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/parley_bench_digest \
        .venv/bin/python bench/digest.py --users 10000
    dropdb -h 127.0.0.1 -U postgres parley_bench_digest

A throwaway database only: DATABASE_URL, or by default a temporary SQLite file removed afterwards. The
schema is made with migrate; a database holding anything but earlier bench runs is refused. Seeds N buyer
users (five per buyer, twenty buyers per supplier), each with a digest preference and, in the hour being
summarized, unread messages from the supplier in one or two conversations (one about a purchase order), plus
older history and read states; then times `digests_send` for that hour and counts its queries. The emails are
written to the outbox, not sent: sending is the outbox's own work, one task per row.
"""

import argparse
import datetime
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_SLUG = "bench-"


def setup(scratch: str) -> None:
    """Django against the throwaway database (by default a SQLite file in `scratch`), its schema migrated."""
    sys.path.insert(0, str(ROOT))
    os.environ["PARLEY_VAR_DIR"] = scratch  # Celery's folders, mail and media stay out of the project
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = f"sqlite:///{os.path.join(scratch, 'bench.sqlite3')}"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(users: int, hour: datetime.datetime) -> None:
    from django.contrib.auth.hashers import make_password
    from django.db import transaction

    from documents.models import Document
    from messaging.models import Conversation, Message, Participant, ReadState
    from notifications.models import NotificationPreference
    from tenants.models import Membership, Organization, User

    if Organization.objects.exclude(slug__startswith=BENCH_SLUG).exists():
        sys.exit("This database holds more than bench data: give a throwaway one in DATABASE_URL.")
    run = uuid.uuid4().hex[:8]
    start = hour - datetime.timedelta(hours=1)
    long_ago = hour - datetime.timedelta(days=2)
    password = make_password(None)  # unusable, and hashed once
    buyer_count = max(1, users // 5)
    supplier_count = max(1, buyer_count // 20)
    with transaction.atomic():
        suppliers = Organization.objects.bulk_create(
            Organization(
                name=f"Supplier {run} {n}",
                slug=f"{BENCH_SLUG}{run}-s{n}",
                kind=Organization.Kind.SUPPLIER,
                tier=Organization.Tier.ENTERPRISE,
            )
            for n in range(supplier_count)
        )
        buyers = Organization.objects.bulk_create(
            Organization(
                name=f"Buyer {run} {n}", slug=f"{BENCH_SLUG}{run}-b{n}", kind=Organization.Kind.BUYER
            )
            for n in range(buyer_count)
        )
        sellers = User.objects.bulk_create(
            User(
                email=f"seller-{run}-{n}@bench.example",
                first_name="Seller",
                last_name=str(n),
                password=password,
            )
            for n in range(supplier_count)
        )
        readers = User.objects.bulk_create(
            User(
                email=f"reader-{run}-{n}@bench.example",
                first_name="Reader",
                last_name=str(n),
                password=password,
                language=["", "de", "pl", "pt-br", "fi"][n % 5],
            )
            for n in range(users)
        )
        Membership.objects.bulk_create(
            [
                *(
                    Membership(user=u, organization=o, role="administrator")
                    for u, o in zip(sellers, suppliers, strict=True)
                ),
                *(Membership(user=u, organization=buyers[n % buyer_count]) for n, u in enumerate(readers)),
            ]
        )
        NotificationPreference.objects.bulk_create(
            NotificationPreference(user=u, organization=buyers[n % buyer_count], messages="digest")
            for n, u in enumerate(readers)
        )
        supplier_of = {buyer.pk: suppliers[n % supplier_count] for n, buyer in enumerate(buyers)}
        seller_of = {supplier.pk: seller for supplier, seller in zip(suppliers, sellers, strict=True)}
        documents = Document.objects.bulk_create(
            Document(
                kind=Document.Kind.PURCHASE_ORDER,
                number=f"45{run}{n:06d}",
                buyer=buyer,
                supplier=supplier_of[buyer.pk],
                issued_on=datetime.date(2026, 1, 1),
                total=Decimal("1234.50"),
                currency="EUR",
                status=Document.Status.NEW,
            )
            for n, buyer in enumerate(buyers)
        )
        # Per buyer: a purchase-order conversation and a free one with news this hour, an old quiet one.
        plans = []
        for buyer, document in zip(buyers, documents, strict=True):
            plans += [(buyer, document, 2, True), (buyer, None, 1, True), (buyer, None, 0, False)]
        conversations = Conversation.objects.bulk_create(
            Conversation(
                subject=f"Order questions {n}" if document else f"Delivery {n}",
                document=document,
                created_at=long_ago,
                last_message_at=start + datetime.timedelta(minutes=30) if live else long_ago,
                last_message_snippet="Bench",
                message_count=4 + fresh,
            )
            for n, (buyer, document, fresh, live) in enumerate(plans)
        )
        participants, messages = [], []
        for conversation, (buyer, _document, fresh, _live) in zip(conversations, plans, strict=True):
            supplier = supplier_of[buyer.pk]
            seller = seller_of[supplier.pk]
            participants += [
                Participant(
                    conversation=conversation,
                    organization=party,
                    last_message_at=conversation.last_message_at,
                )
                for party in (buyer, supplier)
            ]
            for m in range(4):
                messages.append(
                    Message(
                        conversation=conversation,
                        author=seller,
                        author_organization=supplier,
                        body=f"Earlier message {m}",
                        created_at=long_ago + datetime.timedelta(minutes=m),
                    )
                )
            for m in range(fresh):
                messages.append(
                    Message(
                        conversation=conversation,
                        author=seller,
                        author_organization=supplier,
                        body=f"New this hour ({m}): the pallets leave the warehouse on Monday.\n"
                        * (1 + m * 3),
                        created_at=start + datetime.timedelta(minutes=10 + 10 * m),
                    )
                )
        Participant.objects.bulk_create(participants, batch_size=5000)
        Message.objects.bulk_create(messages, batch_size=2000)
        # A quarter opened the purchase-order conversation long ago; a quarter read the free one this hour.
        by_buyer = {}
        for conversation, (buyer, _document, _fresh, _live) in zip(conversations, plans, strict=True):
            by_buyer.setdefault(buyer.pk, []).append(conversation)
        states = []
        for n, reader in enumerate(readers):
            order, free, _quiet = by_buyer[buyers[n % buyer_count].pk]
            if n % 4 == 0:
                states.append(
                    ReadState(user=reader, conversation=order, unread_count=2, last_read_at=long_ago)
                )
            elif n % 4 == 1:
                read_at = start + datetime.timedelta(minutes=50)
                states.append(ReadState(user=reader, conversation=free, unread_count=0, last_read_at=read_at))
        ReadState.objects.bulk_create(states, batch_size=5000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=None)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parley-bench-") as scratch:
        setup(scratch)
        run(options.users, options.batch_size)


def run(users: int, batch_size: int | None) -> None:
    from django.db import connection
    from django.utils import timezone

    from notifications import tasks
    from notifications.models import OutgoingEmail
    from notifications.services import digest

    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    began = time.perf_counter()
    seed(users, hour)
    print(f"{connection.vendor}: seeded {users:,} users in {time.perf_counter() - began:.1f} s")

    tasks.send_outgoing_email.delay = lambda email_id: None  # write the outbox only; sending is not measured
    batches = Counter()
    batch_emails = digest._batch_emails

    def counted(*args, **kwargs):
        batches["batches"] += 1
        return batch_emails(*args, **kwargs)

    digest._batch_emails = counted
    statements = Counter()
    seconds = Counter()

    def measure(execute, sql, params, many, context):
        kind = " ".join(sql.split()[:1]).upper()
        kind += " outbox" if "notifications_outgoingemail" in sql[:200] else ""
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements[kind] += 1
            seconds[kind] += time.perf_counter() - began

    before = OutgoingEmail.objects.filter(kind="digest").count()
    size = batch_size or digest.BATCH_SIZE
    began = time.perf_counter()
    with connection.execute_wrapper(measure):
        written = digest.digests_send(hour=hour, batch_size=size)
    elapsed = time.perf_counter() - began
    total = sum(statements.values())
    count = batches["batches"]
    stored = OutgoingEmail.objects.filter(kind="digest").count() - before
    database = sum(seconds.values())
    print(f"digests_send: {elapsed:.1f} s, {written:,} emails written ({stored:,} new outbox rows)")
    print(f"queries: {total} in all; 1 finds the recipients, then {count} batches of {size}:")
    print(f"  {(total - 1) / max(count, 1):g} queries per batch")
    print(f"database {database:.1f} s, the rest (rendering, building rows) {elapsed - database:.1f} s")
    for kind, number in statements.most_common():
        print(f"  {kind:<16} {number:>5}  {seconds[kind]:.2f} s")
    if written != users:
        sys.exit(f"expected {users:,} digests, wrote {written:,}")


if __name__ == "__main__":
    main()
