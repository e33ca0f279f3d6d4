"""The hourly digest: one email per user, organization and hour, listing what arrived and is still unread."""

import datetime

import pytest
import time_machine
from celery.schedules import crontab

from messaging import services as messaging_services
from notifications import services, tasks
from notifications.models import OutgoingEmail
from notifications.services import digest
from tenants.models import Membership
from tests.factories import (
    ConnectionFactory,
    MembershipFactory,
    MerchantFactory,
    StoreFactory,
    UserFactory,
    contact_partner,
    reachable_partner,
    start_conversation,
)

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
HOUR = datetime.datetime(2026, 3, 10, 14, tzinfo=UTC)  # the digest of 13:00-14:00 UTC
HOUR_LENGTH = datetime.timedelta(hours=1)


@pytest.fixture
def clock():
    with time_machine.travel("2026-03-10 13:05 +0000", tick=False) as traveller:
        yield traveller


@pytest.fixture
def connected(buyer, supplier):
    ConnectionFactory(supplier=supplier, customer=buyer)


def member(organization, *, preference="digest", language=""):
    user = UserFactory(language=language)
    MembershipFactory(user=user, organization=organization, role=Membership.Role.MEMBER)
    if preference:
        services.preference_update(
            user=user, organization=organization, messages=preference, connection_requests=True
        )
    return user


def reply(author, conversation, body):
    return messaging_services.message_post(
        actor=author, membership=author.memberships.get(), conversation=conversation, body=body
    )


def read(user, conversation):
    state = conversation.read_states.filter(user=user).first()
    messaging_services.conversation_mark_read(
        user=user, conversation=conversation, unread=state.unread_count if state else None
    )


def digests():
    return OutgoingEmail.objects.filter(kind="digest").order_by("id")


class TestWhoGetsOne:
    def test_one_digest_lists_every_conversation_with_unread_messages(
        self, clock, connected, buyer, supplier, buyer_admin, supplier_admin, document
    ):
        reader = member(supplier)
        pallets = start_conversation(
            buyer_admin, supplier, subject="Pallets", body="Can you ship Monday?", document=document
        )
        clock.shift(datetime.timedelta(minutes=10))
        invoices = start_conversation(buyer_admin, supplier, subject="Invoices", body="Please resend 17.")
        clock.shift(datetime.timedelta(minutes=10))
        reply(buyer_admin, pallets, "Or Tuesday.")

        assert services.digests_send(hour=HOUR) == 1

        row = digests().get()
        assert row.to_email == reader.email and row.user == reader and row.language == "en"
        assert row.key == f"digest:{reader.pk}:{supplier.pk}:2026031013"
        assert row.thread == ""  # a digest spans conversations: no thread
        assert supplier.name in row.subject and "3 unread messages" in row.subject
        for body in (row.body_text, row.body_html):
            assert "Pallets" in body and "Invoices" in body and buyer.name in body
            assert "PO 4500000042" in body
            assert "Can you ship Monday?" in body and "Or Tuesday." in body and "Please resend 17." in body
            assert buyer_admin.display_name in body
            assert f"/o/{supplier.slug}/messages/{pallets.pk}/" in body
            assert f"/o/{supplier.slug}/messages/{invoices.pk}/" in body
        # The conversation with the latest message comes first.
        assert row.body_text.index("Pallets") < row.body_text.index("Invoices")
        assert row.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    def test_a_digest_links_to_the_preferences_page(self, clock, connected, supplier, buyer_admin):
        member(supplier)
        start_conversation(buyer_admin, supplier, subject="Pallets", body="Hello")
        services.digests_send(hour=HOUR)
        row = digests().get()
        from django.urls import reverse

        preferences = reverse("notifications:preferences", kwargs={"org_slug": supplier.slug})
        assert preferences in row.body_text and preferences in row.body_html

    def test_messages_read_before_the_run_are_left_out(self, clock, connected, supplier, buyer_admin):
        reader = member(supplier)
        pallets = start_conversation(buyer_admin, supplier, subject="Pallets", body="First question")
        clock.shift(datetime.timedelta(minutes=5))
        read(reader, pallets)
        clock.shift(datetime.timedelta(minutes=5))
        reply(buyer_admin, pallets, "Second question")
        invoices = start_conversation(buyer_admin, supplier, subject="Invoices", body="Invoice 17")
        clock.shift(datetime.timedelta(minutes=5))
        read(reader, invoices)

        services.digests_send(hour=HOUR)

        text = digests().get().body_text
        assert "Second question" in text
        assert "First question" not in text
        assert "Invoices" not in text and "Invoice 17" not in text
        assert "1 unread message" in digests().get().subject

    def test_a_user_who_read_everything_gets_none(self, clock, connected, supplier, buyer_admin):
        reader = member(supplier)
        pallets = start_conversation(buyer_admin, supplier, subject="Pallets", body="Hello")
        reply(buyer_admin, pallets, "Anyone?")
        clock.shift(datetime.timedelta(minutes=1))
        read(reader, pallets)
        assert services.digests_send(hour=HOUR) == 0
        assert not digests().exists()

    @pytest.mark.parametrize("preference", ["immediate", None, "off"])
    def test_immediate_default_and_off_users_get_none(
        self, clock, connected, supplier, buyer_admin, preference
    ):
        member(supplier, preference=preference)
        start_conversation(buyer_admin, supplier, subject="Pallets", body="Hello")
        assert services.digests_send(hour=HOUR) == 0
        assert not digests().exists()

    def test_the_authors_own_messages_and_their_organizations_never_count(
        self, clock, connected, buyer, supplier, buyer_admin
    ):
        services.preference_update(
            user=buyer_admin, organization=buyer, messages="digest", connection_requests=True
        )
        colleague = member(buyer)
        answering = member(supplier, preference="immediate")
        pallets = start_conversation(buyer_admin, supplier, subject="Pallets", body="Our question")
        reply(colleague, pallets, "Colleague adds")

        assert services.digests_send(hour=HOUR) == 0  # only the buyer's own side has written

        clock.shift(datetime.timedelta(minutes=5))
        reply(answering, pallets, "Supplier answers")
        assert services.digests_send(hour=HOUR) == 2  # the buyer's users, for the supplier's answer only
        rows = digests()
        assert sorted(rows.values_list("to_email", flat=True)) == sorted([buyer_admin.email, colleague.email])
        for row in rows:
            assert "Supplier answers" in row.body_text
            assert "Our question" not in row.body_text and "Colleague adds" not in row.body_text

    def test_a_member_who_left_the_organization_gets_none(self, clock, connected, supplier, buyer_admin):
        reader = member(supplier)
        start_conversation(buyer_admin, supplier, subject="Pallets", body="Hello")
        Membership.objects.filter(user=reader).delete()
        assert services.digests_send(hour=HOUR) == 0


class TestOnePerHour:
    def test_running_twice_for_the_same_hour_writes_one_email(self, clock, connected, supplier, buyer_admin):
        member(supplier)
        start_conversation(buyer_admin, supplier, subject="Pallets", body="Hello")
        assert services.digests_send(hour=HOUR) == 1
        assert services.digests_send(hour=HOUR + datetime.timedelta(minutes=20)) == 0  # the same hour
        assert digests().count() == 1

    def test_a_second_beat_process_racing_the_first_still_writes_one(
        self, clock, connected, supplier, buyer_admin, monkeypatch
    ):
        member(supplier)
        start_conversation(buyer_admin, supplier, subject="Pallets", body="Hello")
        found = digest._candidates

        def racing(start, end):
            candidates = found(start, end)
            # Another process finishes the same hour between this one's read and its write.
            monkeypatch.setattr(digest, "_candidates", found)
            assert services.digests_send(hour=HOUR) == 1
            return candidates

        monkeypatch.setattr(digest, "_candidates", racing)
        assert services.digests_send(hour=HOUR) == 0
        assert digests().count() == 1

    def test_the_next_hour_gets_its_own_digest_with_only_its_messages(
        self, clock, connected, supplier, buyer_admin
    ):
        reader = member(supplier)
        pallets = start_conversation(buyer_admin, supplier, subject="Pallets", body="At one")
        services.digests_send(hour=HOUR)
        clock.move_to("2026-03-10 14:20 +0000")
        reply(buyer_admin, pallets, "At two")

        assert services.digests_send(hour=HOUR + datetime.timedelta(hours=1)) == 1

        first, second = digests()
        assert second.key == f"digest:{reader.pk}:{supplier.pk}:2026031014"
        assert "At two" in second.body_text and "At one" not in second.body_text
        assert "At one" in first.body_text and "At two" not in first.body_text

    def test_the_window_is_the_hour_before_including_its_start_excluding_its_end(
        self, clock, connected, supplier, buyer_admin
    ):
        member(supplier)
        clock.move_to("2026-03-10 12:59:59 +0000")
        early = start_conversation(buyer_admin, supplier, subject="Early", body="Too early")
        clock.move_to("2026-03-10 13:00:00 +0000")
        start_conversation(buyer_admin, supplier, subject="Edge", body="Just in time")
        clock.move_to("2026-03-10 14:00:00 +0000")
        reply(buyer_admin, early, "Next hour")

        services.digests_send(hour=datetime.datetime(2026, 3, 10, 14, 7, tzinfo=UTC))

        text = digests().get().body_text
        assert "Just in time" in text
        assert "Too early" not in text and "Next hour" not in text

    def test_a_naive_hour_is_refused(self):
        with pytest.raises(ValueError):
            services.digests_send(hour=datetime.datetime(2026, 3, 10, 14))


class TestContent:
    def test_the_recipients_language(self, clock, connected, supplier, buyer_admin):
        german = member(supplier, language="de")
        start_conversation(buyer_admin, supplier, subject="Paletten", body="Hallo")
        services.digests_send(hour=HOUR)
        row = digests().get()
        assert row.language == "de"
        # Month names come from Django's own German catalog: the date is written "10. März 2026".
        assert "10. März 2026" in row.body_text and "10. März 2026" in row.body_html
        assert 'lang="de"' in row.body_html
        assert row.to_email == german.email

    def test_colleagues_share_nothing_they_should_not(self, clock, connected, supplier, buyer_admin):
        """A conversation's part is rendered once for colleagues who see the same, never across a language or
        what one of them has read."""
        english, german, reader = member(supplier), member(supplier, language="de"), member(supplier)
        pallets = start_conversation(buyer_admin, supplier, subject="Pallets", body="Ship Monday?")
        invoices = start_conversation(buyer_admin, supplier, subject="Invoices", body="Invoice 17")
        clock.shift(datetime.timedelta(minutes=5))
        read(reader, invoices)

        services.digests_send(hour=HOUR)

        rows = {row.user_id: row for row in digests()}
        for user in (english, german):
            assert "Ship Monday?" in rows[user.pk].body_text and "Invoice 17" in rows[user.pk].body_html
        assert "Open the conversation" in rows[english.pk].body_text
        assert "Unterhaltung öffnen" in rows[german.pk].body_text
        assert "Open the conversation" not in rows[german.pk].body_html
        assert "Ship Monday?" in rows[reader.pk].body_text and "Invoice 17" not in rows[reader.pk].body_text
        assert f"/messages/{invoices.pk}/" not in rows[reader.pk].body_html
        assert f"/messages/{pallets.pk}/" in rows[reader.pk].body_html

    def test_user_text_is_escaped_in_html(self, clock, connected, supplier, buyer_admin):
        member(supplier)
        start_conversation(
            buyer_admin, supplier, subject="<b>Bold</b> subject", body="<script>alert(1)</script>"
        )
        services.digests_send(hour=HOUR)
        row = digests().get()
        assert "<script>" not in row.body_html and "<b>Bold" not in row.body_html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in row.body_html
        assert "&lt;b&gt;Bold&lt;/b&gt; subject" in row.body_html
        assert "<script>alert(1)</script>" in row.body_text  # plain text stays as written

    def test_long_conversations_and_long_digests_are_cut_short(self, clock, connected, supplier, buyer_admin):
        member(supplier)
        for number in range(21):
            clock.shift(datetime.timedelta(seconds=1))
            start_conversation(buyer_admin, supplier, subject=f"Topic {number}", body="Hi")
        clock.shift(datetime.timedelta(seconds=1))
        busy = start_conversation(buyer_admin, supplier, subject="Busy", body="Message 1")
        for number in range(2, 8):
            reply(buyer_admin, busy, f"Message {number}")
        reply(buyer_admin, busy, "x" * 2000)

        services.digests_send(hour=HOUR)

        row = digests().get()
        text = row.body_text
        assert "29 unread messages" in row.subject
        assert "Message 1" not in text and "Message 3" not in text  # the oldest are not shown
        assert "Message 4" in text and "Message 7" in text
        assert "3 earlier messages not shown" in text and "3 earlier messages not shown" in row.body_html
        assert "x" * 300 + "…" in text and "x" * 301 not in text
        # 22 conversations: the 20 with the newest messages, then how many more.
        assert "== Busy ==" in text and "== Topic 20 ==" in text and "== Topic 2 ==" in text
        assert "== Topic 1 ==" not in text and "== Topic 0 ==" not in text
        assert "…and 2 more conversations with unread messages." in text
        assert f"/o/{supplier.slug}/messages/" in text

    def test_a_partner_sees_the_merchants_store(self, clock):
        partner = reachable_partner()
        reader = member(partner)
        merchant = MerchantFactory()
        merchant_user = member(merchant, preference=None)
        store = StoreFactory(merchant=merchant, name="Sunny Socks")
        request = contact_partner(merchant_user, partner, store=store)

        services.digests_send(hour=HOUR)

        row = digests().get()
        assert row.to_email == reader.email
        assert "Store: Sunny Socks" in row.body_text and "Store: Sunny Socks" in row.body_html
        assert f"/requests/{request.pk}/" in row.body_text


# Per batch: a savepoint; the preferences with their users and organizations; the live conversations; their
# messages; the read states; the taken keys; one INSERT in a savepoint; the releases.
PER_BATCH = 10


class TestCost:
    @pytest.mark.parametrize("readers", [3, 30])
    def test_the_queries_of_a_batch_do_not_grow_with_its_recipients(
        self, clock, connected, supplier, buyer_admin, readers, django_assert_num_queries
    ):
        for number in range(readers):
            member(supplier, language=["", "de", "pl"][number % 3])
        pallets = start_conversation(buyer_admin, supplier, subject="Pallets", body="Hello")
        reply(buyer_admin, pallets, "Again")
        start_conversation(buyer_admin, supplier, subject="Invoices", body="Hello")
        # The recipients in one query, then the fixed queries of one batch.
        with django_assert_num_queries(1 + PER_BATCH):
            assert services.digests_send(hour=HOUR) == readers

    def test_batches_cost_the_same_few_queries_each(
        self, clock, connected, supplier, buyer_admin, django_assert_num_queries
    ):
        for _ in range(25):
            member(supplier)
        start_conversation(buyer_admin, supplier, subject="Pallets", body="Hello")
        with django_assert_num_queries(1 + 3 * PER_BATCH):
            assert services.digests_send(hour=HOUR, batch_size=10) == 25


class TestTask:
    def test_the_task_sends_the_digests_of_the_hour_just_ended(self, clock, connected, supplier, buyer_admin):
        reader = member(supplier)
        start_conversation(buyer_admin, supplier, subject="Pallets", body="Hello")
        clock.move_to("2026-03-10 14:00:03 +0000")
        assert tasks.send_digests.apply().get() == 1
        assert tasks.send_digests.apply().get() == 0
        assert digests().get().key == f"digest:{reader.pk}:{supplier.pk}:2026031013"

    def test_a_message_stamped_in_the_last_second_of_the_hour_is_in_that_hours_digest(
        self, clock, connected, supplier, buyer_admin
    ):
        reader = member(supplier)
        clock.move_to("2026-03-10 13:59:59.900 +0000")  # stamped now, committed after the hour turned
        start_conversation(buyer_admin, supplier, subject="Pallets", body="Last second")
        clock.move_to("2026-03-10 14:01:00 +0000")  # when beat runs it
        assert tasks.send_digests.apply().get() == 1
        assert "Last second" in digests().get().body_text
        assert digests().get().key == f"digest:{reader.pk}:{supplier.pk}:2026031013"

    def test_an_operator_can_send_a_missed_hour(self, clock, connected, supplier, buyer_admin):
        member(supplier)
        start_conversation(buyer_admin, supplier, subject="Pallets", body="Hello")
        clock.move_to("2026-03-10 17:30 +0000")
        assert tasks.send_digests.apply().get() == 0  # 16:00-17:00 had nothing
        assert tasks.send_digests.apply(args=["2026-03-10T14:00:00+00:00"]).get() == 1
        assert digests().get().key.endswith(":2026031013")

    def test_beat_runs_it_a_minute_into_every_hour_so_late_commits_are_in_it(self):
        from django.conf import settings

        from config import celery_app

        entry = settings.CELERY_BEAT_SCHEDULE["hourly-digest"]
        assert entry["task"] == "notifications.tasks.send_digests"
        assert entry["task"] in celery_app.tasks
        assert entry["schedule"] == crontab(minute=1)


def test_a_digest_another_process_wrote_is_not_rendered_again(
    clock, connected, supplier, buyer_admin, django_assert_num_queries
):
    """The recipients query builds the key in SQL (as digest_key does in Python) and skips taken ones."""
    reader = member(supplier)
    start_conversation(buyer_admin, supplier, subject="Pallets", body="Hello")
    OutgoingEmail.objects.create(
        kind="digest",
        key=services.digest_key(user_id=reader.pk, organization_id=supplier.pk, start=HOUR - HOUR_LENGTH),
        to_email=reader.email,
        language="en",
        subject="Written by another process",
        body_text="",
    )
    with django_assert_num_queries(1):
        assert services.digests_send(hour=HOUR) == 0
