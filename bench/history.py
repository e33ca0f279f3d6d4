"""The seeded conversations and messages: planned in memory, messages streamed with COPY into a staging
table, the rows that summarize them (conversation, participants, read states) built as messaging.services
would have left them. A mixin of seed.Seeder, after People has created who takes part."""

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from bench import data

PAGE_MESSAGES = 50  # the conversation page scenario reads conversations of exactly this many messages
LIVE_SHARE = 0.02  # conversations with news in the digest hour
DOCUMENT_SHARE = 0.3
EMAIL_SHARE = 0.05  # messages that came as replies by email, with the quoted text kept
SEARCH_INDEX = "messaging_message_search_gin"  # created by messaging migration 0002, rebuilt after the load


@dataclass
class Plan:
    """One conversation before it is written: who talks, when, how much, and what the scenarios need of it."""

    kind: str  # "trade" (supplier and buyer) or "partner" (partner and merchant)
    side_a: int  # supplier or partner organization
    side_b: int  # buyer or merchant organization
    author_a: int  # the user who writes for side A
    author_b: int
    created_at: datetime.datetime
    subject: str
    busy: bool = False
    messages: int = 0
    live: int = 0  # how many of its last messages (all from side A) arrived in the digest hour
    role: str = ""  # "page", "send" or "ingest": used by one scenario, kept out of the others
    plant: str = ""  # a search term written into one of its messages
    id: int = 0
    extra: dict = field(default_factory=dict)


class History:
    def conversations_plan(self) -> list[Plan]:
        size, rng = self.size, self.rng
        partner_count = max(60, size.conversations // 20)
        other_count = size.conversations - size.busy_conversations - partner_count
        plans: list[Plan] = []
        busy_authors = self.members[self.busy.pk]
        for n in range(size.busy_conversations):
            buyer = self.buyers[n % len(self.buyers)]
            plans.append(self._trade(self.busy.pk, buyer.pk, busy_authors[n % len(busy_authors)], busy=True))
        for _ in range(other_count):
            supplier_id, buyer_id = rng.choice(self.pairs)
            plans.append(self._trade(supplier_id, buyer_id, rng.choice(self.members[supplier_id])))
        partner_authors = self.members[self.partner.pk]
        for n in range(partner_count):
            merchant = self.merchants[n % len(self.merchants)]
            store = self.stores[merchant.pk]
            plans.append(
                Plan(
                    kind="partner",
                    side_a=self.partner.pk,
                    side_b=merchant.pk,
                    author_a=partner_authors[n % len(partner_authors)],
                    author_b=rng.choice(self.members[merchant.pk]),
                    created_at=self._created_at(),
                    subject=data.partner_subject(rng, store.name),
                    extra={"store": store},
                )
            )
        self._count_messages(plans)
        self._assign_roles(plans)
        plans.sort(key=lambda plan: plan.created_at)
        for number, plan in enumerate(plans, start=1):
            plan.id = number
        self.counts["conversations"] = len(plans)
        return plans

    def _created_at(self) -> datetime.datetime:
        earliest = self.hour - datetime.timedelta(days=365)
        span = (self.window_start - datetime.timedelta(hours=2) - earliest).total_seconds()
        return earliest + datetime.timedelta(seconds=self.rng.uniform(0, span))

    def _trade(self, supplier_id: int, buyer_id: int, author_a: int, busy: bool = False) -> Plan:
        return Plan(
            kind="trade",
            side_a=supplier_id,
            side_b=buyer_id,
            author_a=author_a,
            author_b=self.rng.choice(self.members[buyer_id]),
            created_at=self._created_at(),
            subject=data.trade_subject(self.rng),
            busy=busy,
        )

    def _count_messages(self, plans: list[Plan]) -> None:
        """Exactly size.messages in all: a few busy conversations of PAGE_MESSAGES, the rest 1 to 19."""
        rng = self.rng
        busy = [plan for plan in plans if plan.busy]
        pages = busy[: min(20, len(busy) // 5)]
        for plan in pages:
            plan.messages, plan.role = PAGE_MESSAGES, "page"
        rest = [plan for plan in plans if not plan.role]
        remaining = self.size.messages - PAGE_MESSAGES * len(pages)
        average = remaining / len(rest)
        top = max(1, round(2 * average - 1))
        for plan in rest:
            plan.messages = rng.randint(1, top)
        difference = remaining - sum(plan.messages for plan in rest)
        while difference:
            plan = rng.choice(rest)
            step = 1 if difference > 0 else -1
            if plan.messages + step >= 1:
                plan.messages += step
                difference -= step

    def _assign_roles(self, plans: list[Plan]) -> None:
        """News in the digest hour for about 2% of trade conversations and at least one per buyer; the
        conversations the send and email scenarios write to; the planted search terms."""
        rng = self.rng
        trade = [plan for plan in plans if plan.kind == "trade" and not plan.role]
        eligible = [plan for plan in trade if plan.messages >= 3]
        by_buyer: dict[int, list[Plan]] = defaultdict(list)
        for plan in eligible:
            by_buyer[plan.side_b].append(plan)
        live = set(map(id, rng.sample(eligible, int(len(trade) * LIVE_SHARE))))
        live |= {id(rng.choice(candidates)) for candidates in by_buyer.values()}
        for plan in eligible:
            if id(plan) in live:
                plan.live = rng.randint(1, min(3, plan.messages - 1))
        quiet = [plan for plan in trade if not plan.live]
        busy_quiet = [plan for plan in quiet if plan.busy]
        other_quiet = [plan for plan in quiet if not plan.busy]
        rng.shuffle(busy_quiet)
        rng.shuffle(other_quiet)
        for plan in busy_quiet[: min(200, len(busy_quiet) // 4)]:
            plan.role = "send"
        for plan in other_quiet[: min(200, len(other_quiet) // 4)]:
            plan.role = "ingest"
        for plan in [p for p in busy_quiet if not p.role][:12] + [p for p in other_quiet if not p.role][:12]:
            plan.plant = data.SELECTIVE_TERM
        for plan in [p for p in other_quiet if not p.role and not p.plant][:8]:
            plan.plant = data.CANARY_TERM

    def messages_write(self, plans: list[Plan]) -> dict[str, list[tuple]]:
        """COPY every message into a staging table, and build the rows that summarize them (conversation,
        participants, read states) exactly as messaging.services would have left them."""
        from django.db import connection
        from tqdm import tqdm

        rows: dict[str, list[tuple]] = {"conversation": [], "participant": [], "readstate": []}
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE bench_message_staging (conversation_id bigint, seq int, author_id bigint,"
                " author_organization_id bigint, body text, source varchar(10), quoted text,"
                " created_at timestamptz) ON COMMIT DROP"
            )
            columns = (
                "conversation_id, seq, author_id, author_organization_id, body, source, quoted, created_at"
            )
            with cursor.copy(f"COPY bench_message_staging ({columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for plan in tqdm(plans, desc="messages", unit=" conversations", leave=False):
                    for message in self._messages(plan):
                        copy.write_row(message)
                    self._summary_rows(plan, rows)
        return rows

    def _messages(self, plan: Plan) -> list[tuple]:
        rng, n = self.rng, plan.messages
        old = n - plan.live
        last_old = plan.created_at + datetime.timedelta(
            seconds=rng.uniform(
                0, (self.window_start - datetime.timedelta(hours=1) - plan.created_at).total_seconds()
            )
        )
        span = (last_old - plan.created_at).total_seconds()
        earlier = (plan.created_at + datetime.timedelta(seconds=rng.uniform(0, span)) for _ in range(old - 1))
        times = [plan.created_at, *sorted(earlier)]
        times += sorted(
            self.window_start + datetime.timedelta(seconds=rng.uniform(60, 3540)) for _ in range(plan.live)
        )
        # The merchant always opens a partner conversation; a trade one is opened by either side.
        side = "b" if plan.kind == "partner" or rng.random() < 0.4 else "a"
        sides = [side]
        for _ in range(old - 1):
            side = ("b" if side == "a" else "a") if rng.random() < 0.6 else side
            sides.append(side)
        sides += ["a"] * plan.live
        planted = rng.randrange(n) if plan.plant else -1
        store = plan.extra.get("store")
        messages, previous = [], ""
        for seq, (moment, side) in enumerate(zip(times, sides, strict=True)):
            author, organization = (
                (plan.author_a, plan.side_a) if side == "a" else (plan.author_b, plan.side_b)
            )
            body = data.partner_body(rng, store.name) if store else data.trade_body(rng)
            if seq == planted:
                body += f" The {plan.plant} pattern is back in stock."
            source, quoted = "web", ""
            if previous and rng.random() < EMAIL_SHARE:
                source, quoted = "email", data.quoted_history(previous, self.names[author])
            messages.append((plan.id, seq, author, organization, body, source, quoted, moment))
            previous = body
        plan.extra.update(times=times, authors=[m[2] for m in messages], last_body=messages[-1][4])
        return messages

    def _summary_rows(self, plan: Plan, rows: dict[str, list[tuple]]) -> None:
        times, authors = plan.extra["times"], plan.extra["authors"]
        last = times[-1]
        rows["conversation"].append(
            (
                plan.id,
                plan.subject[:200],
                None,  # the document, if any, is chosen by _documents
                "open",
                authors[0],
                plan.created_at,
                last,
                plan.extra["last_body"][:200],
                plan.messages,
            )
        )
        rows["participant"] += [(plan.id, plan.side_a, last), (plan.id, plan.side_b, last)]
        rng = self.rng
        readers: dict[int, int] = {}  # user -> index of the last message they read
        for author in {plan.author_a, plan.author_b}:
            if author in authors:
                mine = max(i for i, a in enumerate(authors) if a == author)
                # Writing marks everything read; some read later messages too.
                readers[author] = (
                    len(authors) - 1 if rng.random() < 0.7 else rng.randint(mine, len(authors) - 1)
                )
        colleagues = self.members[self.busy.pk] if plan.busy else []
        if plan.kind == "partner":
            colleagues = self.members[self.partner.pk]
        for user in colleagues:
            if user in readers:
                continue
            if plan.role == "page" or rng.random() < 0.5:
                full = plan.role == "page" or rng.random() < 0.6
                readers[user] = len(authors) - 1 if full else rng.randrange(len(authors))
        if plan.role == "page":  # the page scenario must not write: everyone has read it all
            readers = {user: len(authors) - 1 for user in readers}
        if plan.live:
            # Some digest readers opened the conversation before the news of the hour arrived.
            before = len(authors) - plan.live - 1
            for user in self.readers.get(plan.side_b, ()):
                if rng.random() < 0.3:
                    readers[user] = rng.randint(0, before)
        for user, index in readers.items():
            unread = sum(1 for a in authors[index + 1 :] if a != user)
            updated = times[-1] if index < len(authors) - 1 else times[index]
            rows["readstate"].append((user, plan.id, unread, times[index], updated))

    def tables_write(self, plans: list[Plan], rows: dict[str, list[tuple]]) -> None:
        """Documents, conversations, participants, read states (COPY); service requests and tags (ORM)."""
        from django.db import connection

        from partners.models import ConversationTag, ServiceRequest
        from partners.services import _search_text  # the inbox search text, lower-cased as the service does

        document_rows = self._documents(plans, rows)
        with connection.cursor() as cursor:
            self._copy(
                cursor,
                "documents_document",
                "id, kind, number, buyer_id, supplier_id, issued_on, total, currency, status, created_at",
                document_rows,
            )
            self._copy(
                cursor,
                "messaging_conversation",
                "id, subject, document_id, status, created_by_id, created_at, last_message_at,"
                " last_message_snippet, message_count",
                rows["conversation"],
            )
            self._copy(
                cursor,
                "messaging_participant",
                "conversation_id, organization_id, last_message_at",
                rows["participant"],
            )
            self._copy(
                cursor,
                "messaging_readstate",
                "user_id, conversation_id, unread_count, last_read_at, updated_at",
                rows["readstate"],
            )
            for table in ("documents_document", "messaging_conversation"):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608
                )
        rng = self.rng
        stages = list(ServiceRequest.Stage.values)
        requests = []
        for plan in plans:
            if plan.kind != "partner":
                continue
            store, service = plan.extra["store"], rng.choice(self.services)
            contact_name = self.names[plan.author_b]
            requests.append(
                ServiceRequest(
                    conversation_id=plan.id,
                    partner_id=plan.side_a,
                    merchant_id=plan.side_b,
                    contact_id=plan.author_b,
                    contact_name=contact_name,
                    store=store,
                    store_name=store.name,
                    store_url=store.url,
                    service=service,
                    category=service.category,
                    language="en",
                    via=ServiceRequest.Via.DIRECT,
                    stage=rng.choice(stages[:5]),
                    search_text=_search_text(contact_name, store.name, store.url),
                    created_at=plan.created_at,
                )
            )
        ServiceRequest.objects.bulk_create(requests, batch_size=2000)
        priority, others = self.tags[0], self.tags[1:]
        links = []
        for request in requests:
            chosen = ([priority] if rng.random() < 1 / 3 else []) + rng.sample(others, rng.randint(0, 2))
            links += [ConversationTag(request_id=request.pk, tag=tag) for tag in chosen]
        ConversationTag.objects.bulk_create(links, batch_size=5000)
        self.counts.update(
            documents=len(document_rows),
            participants=len(rows["participant"]),
            read_states=len(rows["readstate"]),
            service_requests=len(requests),
            tag_links=len(links),
        )

    def _documents(self, plans: list[Plan], rows: dict[str, list[tuple]]) -> list[tuple]:
        """A purchase order or an invoice for about 30% of the trade conversations, issued before them."""
        rng = self.rng
        documents, conversation_rows = [], []
        plan_of = {plan.id: plan for plan in plans}
        for row in rows["conversation"]:
            plan = plan_of[row[0]]
            if plan.kind == "trade" and rng.random() < DOCUMENT_SHARE:
                order = rng.random() < 0.7
                kind, prefix = ("purchase_order", "45") if order else ("invoice", "90")
                status = rng.choice(
                    ["new", "confirmed", "shipped"] if order else ["sent", "approved", "paid"]
                )
                issued = plan.created_at - datetime.timedelta(days=rng.randint(0, 20))
                number = len(documents) + 1
                documents.append(
                    (
                        number,
                        kind,
                        f"{prefix}{plan.id:08d}",
                        plan.side_b,
                        plan.side_a,
                        issued.date(),
                        Decimal(rng.randint(100, 500_000)) / 100,
                        "EUR",
                        status,
                        issued,
                    )
                )
                row = (*row[:2], number, *row[3:])
            conversation_rows.append(row)
        rows["conversation"] = conversation_rows
        return documents

    @staticmethod
    def _copy(cursor, table: str, columns: str, rows: list[tuple]) -> None:
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def messages_insert(self) -> None:
        """Staging to messaging_message in time order (ids grow with time, as in production), each row with
        the vector message_post stores (SearchVector("body", config="simple")); the GIN index built after."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX IF EXISTS {SEARCH_INDEX}")
            columns = "conversation_id, author_id, author_organization_id, body, source, quoted, created_at"
            cursor.execute(
                f"INSERT INTO messaging_message ({columns}, client_token, search_vector)"  # noqa: S608
                f" SELECT {columns}, NULL, to_tsvector('simple'::regconfig, COALESCE(body, ''))"
                " FROM bench_message_staging ORDER BY created_at, conversation_id, seq"
            )
            self.counts["messages"] = cursor.rowcount
            # The foreign keys are checked at commit; CREATE INDEX wants those checks done first.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"CREATE INDEX {SEARCH_INDEX} ON messaging_message USING gin (search_vector)")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
