"""Scheduled and inbound work done twice at the same moment, by threads with connections of their own on
PostgreSQL (as two beat processes, or two mail servers, would): one digest per user and hour, one expiry per
connection request, one message per inbound email."""

import datetime
import threading
from email.message import EmailMessage
from email.utils import make_msgid

import factory
import pytest
import time_machine
from django.conf import settings
from django.db import connection

from connections import services as connection_services
from connections.models import REQUEST_LIFETIME, ConnectionRequest
from messaging.models import Message
from notifications import services
from notifications.models import InboundEmail, OutgoingEmail
from tenants.models import Membership
from tests.factories import (
    BuyerFactory,
    ConnectionFactory,
    ConnectionRequestFactory,
    MembershipFactory,
    UserFactory,
    message_emails_written,
    start_conversation,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),  # each thread sees what the others committed
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="needs PostgreSQL (SQLite runs one writer at a time: nothing would race)",
    ),
]

HOUR = datetime.datetime(2026, 3, 10, 14, tzinfo=datetime.UTC)  # the digest of 13:00-14:00 UTC
SECOND = datetime.timedelta(seconds=1)


def at_once(*calls):
    """Run the calls in threads released together, each on its own database connection; their results."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index, call):
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except BaseException as error:  # re-raised in the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return results


class TestDigests:
    USERS = 40

    @pytest.fixture
    def readers(self, buyer, supplier, buyer_admin):
        """USERS supplier users on the hourly digest, each with messages unread from the hour before HOUR."""
        ConnectionFactory(supplier=supplier, customer=buyer)
        users = []
        for _ in range(self.USERS):
            user = UserFactory()
            MembershipFactory(user=user, organization=supplier, role=Membership.Role.MEMBER)
            services.preference_update(
                user=user, organization=supplier, messages="digest", connection_requests=True
            )
            users.append(user)
        with time_machine.travel(HOUR - datetime.timedelta(minutes=30), tick=False):
            for subject in ("Pallets", "Invoices"):
                start_conversation(buyer_admin, supplier, subject=subject, body=f"About {subject.lower()}")
        message_emails_written()
        return users

    def digests(self):
        return OutgoingEmail.objects.filter(kind="digest")

    def test_two_beat_processes_at_once_write_one_digest_per_user_and_hour(self, readers, report):
        rounds = []
        for _ in range(3):  # the same hour, again and again, by two processes at once
            rounds.append(
                at_once(
                    lambda: services.digests_send(hour=HOUR, batch_size=7),
                    lambda: services.digests_send(hour=HOUR, batch_size=7),
                )
            )
        keys = list(self.digests().values_list("key", flat=True))
        assert len(keys) == len(set(keys)) == self.USERS
        assert {digest.user_id for digest in self.digests()} == {user.pk for user in readers}
        assert sum(map(sum, rounds)) == self.USERS  # together they wrote each once, and said so
        report("digests", f"2 beat processes x 3 runs of one hour for {self.USERS} users: written {rounds}")

    def test_clocks_either_side_of_the_hour_write_one_digest_per_user_and_hour(self, readers, report):
        # Four runs for 14:00 at once: on time, a second late, late in the hour (a delayed task, or a clock
        # stepped back over 15:00), and one whose clock was stepped back across 14:00 (it reads 13:59:58: the
        # hour before, whose digests went an hour ago).
        hours = [HOUR, HOUR + SECOND, HOUR + datetime.timedelta(minutes=59, seconds=59), HOUR - 2 * SECOND]
        written = at_once(*[lambda hour=hour: services.digests_send(hour=hour) for hour in hours])
        assert written[3] == 0  # the hour before: nothing arrived then
        assert sum(written) == self.USERS
        start = HOUR - datetime.timedelta(hours=1)
        expected = {
            services.digest_key(
                user_id=user.pk, organization_id=user.memberships.get().organization_id, start=start
            )
            for user in readers
        }
        assert set(self.digests().values_list("key", flat=True)) == expected
        assert self.digests().count() == self.USERS
        report(
            "digests across the hour", f"clocks at {[h.strftime('%H:%M:%S') for h in hours]} wrote {written}"
        )


def test_two_beat_processes_expire_each_connection_request_once(supplier, report):
    requests = 300
    now = datetime.datetime.now(tz=datetime.UTC)
    buyers = BuyerFactory.create_batch(requests)
    created = ConnectionRequestFactory.create_batch(
        requests, supplier=supplier, customer=factory.Iterator(buyers)
    )
    # 30 days old to the second, either side of the moment the processes run.
    for number, request in enumerate(created):
        offset = datetime.timedelta(seconds=number % 7 - 3)
        ConnectionRequest.objects.filter(pk=request.pk).update(requested_at=now - REQUEST_LIFETIME + offset)
    late = now + 2 * SECOND  # the second process's clock is two seconds ahead
    expired = at_once(
        lambda: connection_services.connection_requests_expire(now=now),
        lambda: connection_services.connection_requests_expire(now=late),
    )
    due = ConnectionRequest.objects.filter(requested_at__lte=late - REQUEST_LIFETIME).count()
    assert sum(expired) == due == ConnectionRequest.objects.filter(status="expired").count()
    assert ConnectionRequest.objects.filter(status="pending").count() == requests - due
    report("expiry", f"{requests} requests, {due} due, expired by the two processes: {expired}")


def test_the_same_inbound_email_delivered_twice_at_once_posts_one_message(
    buyer, supplier, buyer_admin, report
):
    ConnectionFactory(supplier=supplier, customer=buyer)
    replier = MembershipFactory(organization=supplier, role=Membership.Role.ADMINISTRATOR).user
    conversation = start_conversation(buyer_admin, supplier, subject="Pallets", body="Can you ship Monday?")
    message_emails_written()
    reply_to = OutgoingEmail.objects.get(to_email=replier.email).headers["Reply-To"]
    outcomes = []
    for number in range(5):
        email = EmailMessage()
        email["From"] = f"{replier.display_name} <{replier.email}>"
        email["To"] = reply_to
        email["Subject"] = "Re: Pallets"
        email["Message-ID"] = make_msgid(domain="mail.example")
        email.set_content(f"Yes, Monday works ({number}).")
        raw = email.as_bytes()
        deliveries = at_once(*[lambda raw=raw: services.inbound_email_receive(raw=raw)] * 2)
        outcomes.append(sorted(str(result.status) for result in deliveries))
    assert outcomes == [["duplicate", "posted"]] * 5
    replies = Message.objects.filter(conversation=conversation, source=Message.Source.EMAIL)
    assert replies.count() == 5
    assert InboundEmail.objects.filter(status=InboundEmail.Status.POSTED).count() == 5
    report(
        "inbound",
        f"5 emails each delivered twice at once: {outcomes[0]} each time, {replies.count()} messages",
    )
