"""The outbox: one row per email, written with the message; sent once over a real SMTP conversation."""

import datetime

import pytest
from django.core import mail
from django.utils import timezone

from messaging import services as messaging_services
from notifications import services
from notifications.models import NotificationPreference, OutgoingEmail, PendingMessageEmails
from tenants.models import Membership
from tests.factories import (
    ConnectionFactory,
    MembershipFactory,
    MerchantFactory,
    UserFactory,
    contact_partner,
    message_emails_written,
    reachable_partner,
    start_conversation,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def smtp(smtp_server):
    return smtp_server.recorder


@pytest.fixture
def talking(buyer, supplier, buyer_admin, supplier_admin):
    ConnectionFactory(supplier=supplier, customer=buyer)
    conversation = start_conversation(
        buyer_admin, supplier, subject="Pallets", body="Can you ship <b>Monday</b>?"
    )
    message_emails_written()
    return conversation


def member(organization, *, language="", role=Membership.Role.MEMBER, email=None):
    user = UserFactory(language=language, **({"email": email} if email else {}))
    MembershipFactory(user=user, organization=organization, role=role)
    return user


class TestQueueing:
    def test_a_message_writes_one_email_per_counterpart_user_never_the_author(
        self, talking, buyer, supplier, buyer_admin, supplier_admin
    ):
        colleague = member(buyer)
        rows = OutgoingEmail.objects.all()
        assert sorted(rows.values_list("to_email", flat=True)) == [supplier_admin.email]
        assert colleague.email not in rows.values_list("to_email", flat=True)
        row = rows.get()
        assert row.kind == "message" and row.status == OutgoingEmail.Status.QUEUED
        assert row.key == f"message:{talking.messages.get().pk}:user:{supplier_admin.pk}"
        assert "Pallets" in row.subject and buyer.name in row.subject
        # The body is shown, escaped in HTML.
        assert "Can you ship <b>Monday</b>?" in row.body_text
        assert "&lt;b&gt;Monday&lt;/b&gt;" in row.body_html and "<b>Monday" not in row.body_html
        assert f"/o/{supplier.slug}/messages/{talking.pk}/" in row.body_text
        assert row.headers["Auto-Submitted"] == "auto-generated"
        assert row.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert row.thread == f"<conversation-{talking.pk}@parley.localhost>"

    def test_each_recipient_reads_it_in_their_language(self, talking, supplier, buyer_admin):
        german = member(supplier, language="de")
        messaging_services.message_post(
            actor=buyer_admin,
            membership=buyer_admin.memberships.get(),
            conversation=talking,
            body="Noch eine Frage",
        )
        message_emails_written()
        row = OutgoingEmail.objects.get(to_email=german.email)
        assert row.language == "de"
        assert row.subject.startswith("Neue Nachricht von")
        assert "Hallo" in row.body_text

    def test_digest_and_off_get_no_immediate_email(self, talking, supplier, buyer_admin, supplier_admin):
        digest, off = member(supplier), member(supplier)
        for user, choice in ((digest, "digest"), (off, "off")):
            services.preference_update(
                user=user, organization=supplier, messages=choice, connection_requests=True
            )
        before = OutgoingEmail.objects.count()
        messaging_services.message_post(
            actor=buyer_admin, membership=buyer_admin.memberships.get(), conversation=talking, body="More"
        )
        message_emails_written()
        assert OutgoingEmail.objects.count() == before + 1
        assert OutgoingEmail.objects.latest("id").to_email == supplier_admin.email

    def test_a_merchants_first_contact_reaches_the_partner_at_once_whatever_the_preference(self):
        partner = reachable_partner()
        partner_user = member(partner)
        services.preference_update(
            user=partner_user, organization=partner, messages="off", connection_requests=False
        )
        merchant_user = member(MerchantFactory())
        request = contact_partner(merchant_user, partner)
        message_emails_written()
        row = OutgoingEmail.objects.get(to_email=partner_user.email)
        assert "New request from" in row.subject
        assert f"/requests/{request.pk}/" in row.body_text
        # Later messages follow the preference.
        messaging_services.message_post(
            actor=merchant_user,
            membership=merchant_user.memberships.get(),
            conversation=request.conversation,
            body="Any news?",
        )
        message_emails_written()
        assert OutgoingEmail.objects.filter(to_email=partner_user.email).count() == 1

    @pytest.mark.parametrize("colleagues", [1, 10])
    def test_the_cost_of_a_message_does_not_grow_with_its_recipients(
        self, talking, supplier, buyer_admin, colleagues, django_assert_num_queries
    ):
        for _ in range(colleagues):
            member(supplier)
        membership = buyer_admin.memberships.select_related("organization").get()  # as the middleware has it
        # The sender's request: savepoints, conversation lock, parties, connection, message (with its search
        # vector on PostgreSQL; the form's token checked by its unique index there), counters, the author's
        # read state (one UPDATE), and one row saying the message's emails are to be written. Nothing grows
        # with the recipients.
        with django_assert_num_queries(13):
            message = messaging_services.message_post(
                actor=buyer_admin, membership=membership, conversation=talking, body="For everyone"
            )
        # The worker's, in its transaction: the pending row (locked), the message, earlier messages, files,
        # recipients, reply tokens (read, one INSERT of the new), taken keys, one INSERT in a savepoint, the
        # pending row deleted.
        with django_assert_num_queries(14):
            services.message_emails_write(message_id=message.pk)
        assert OutgoingEmail.objects.filter(subject__contains="Pallets").count() == 1 + (colleagues + 1)

    def test_the_email_says_how_many_files_came_with_the_message(self, talking, buyer_admin, supplier_admin):
        from django.core.files.uploadedfile import SimpleUploadedFile

        uploads = messaging_services.prepare_uploads(
            [SimpleUploadedFile("a.pdf", b"%PDF-1.4 a"), SimpleUploadedFile("b.pdf", b"%PDF-1.4 b")]
        )
        messaging_services.message_post(
            actor=buyer_admin,
            membership=buyer_admin.memberships.get(),
            conversation=talking,
            body="Drawings",
            uploads=uploads,
        )
        message_emails_written()
        row = OutgoingEmail.objects.filter(to_email=supplier_admin.email).latest("id")
        assert "2 files attached." in row.body_text and "2 files attached." in row.body_html

    def test_a_message_that_is_rolled_back_leaves_no_email(self, talking, buyer_admin):
        before = OutgoingEmail.objects.count()
        with pytest.raises(messaging_services.MessagingRefused):
            messaging_services.message_post(
                actor=buyer_admin, membership=buyer_admin.memberships.get(), conversation=talking, body=" "
            )
        assert OutgoingEmail.objects.count() == before


class TestSending:
    def test_sent_once_over_smtp_with_its_headers(self, smtp, talking, supplier_admin):
        row = OutgoingEmail.objects.get()
        assert services.outgoing_email_send(email_id=row.pk) == "sent"
        assert services.outgoing_email_send(email_id=row.pk) == "skipped"
        row.refresh_from_db()
        assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None
        assert smtp.message_ids() == [row.message_id]
        received = smtp.received[0]
        assert received["To"] == supplier_admin.email
        assert received["References"] == received["In-Reply-To"] == row.thread
        assert received["Auto-Submitted"] == "auto-generated"
        assert received["X-Auto-Response-Suppress"] == "All"
        unfolded = "".join(received["List-Unsubscribe"].split())  # long headers are folded on the wire
        assert unfolded == row.headers["List-Unsubscribe"]
        assert received.is_multipart()
        assert {part.get_content_type() for part in received.walk()} >= {"text/plain", "text/html"}

    @pytest.mark.parametrize("answer", ["421 4.7.0 Too busy", "451 4.3.0 Try again later"])
    def test_a_temporary_refusal_is_retried_later(self, smtp, talking, answer):
        smtp.answer = answer
        row = OutgoingEmail.objects.get()
        assert services.outgoing_email_send(email_id=row.pk) == "retrying"
        row.refresh_from_db()
        assert row.status == "retrying" and row.attempts == 1
        assert answer.split()[0] in row.last_error
        assert row.next_attempt_at > timezone.now()
        smtp.answer = None
        later = row.next_attempt_at + datetime.timedelta(seconds=1)
        assert services.outbox_sweep(now=later) == [row.pk]
        assert services.outgoing_email_send(email_id=row.pk) == "sent"
        assert smtp.message_ids() == [row.message_id]

    def test_a_permanent_refusal_fails_and_is_never_tried_again(self, smtp, talking):
        smtp.answer = "550 5.1.1 No such user"
        row = OutgoingEmail.objects.get()
        assert services.outgoing_email_send(email_id=row.pk) == "failed"
        row.refresh_from_db()
        assert row.status == "failed" and "550" in row.last_error
        assert services.outbox_sweep(now=timezone.now() + datetime.timedelta(days=1)) == []
        assert services.outgoing_email_send(email_id=row.pk) == "skipped"
        assert smtp.received == []

    def test_no_server_is_temporary_and_attempts_run_out(self, settings, talking):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
        settings.OUTBOX_MAX_ATTEMPTS = 2
        row = OutgoingEmail.objects.get()
        assert services.outgoing_email_send(email_id=row.pk) == "retrying"
        OutgoingEmail.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
        assert services.outgoing_email_send(email_id=row.pk) == "failed"
        assert OutgoingEmail.objects.get(pk=row.pk).attempts == 2


class TestMessageEmailsAfterCommit:
    """The sender's request writes one pending row; the worker writes the emails after commit."""

    def post(self, talking, buyer_admin, body="Next week?"):
        return messaging_services.message_post(
            actor=buyer_admin, membership=buyer_admin.memberships.get(), conversation=talking, body=body
        )

    def test_the_request_writes_no_email_only_a_pending_row(self, talking, buyer_admin):
        before = OutgoingEmail.objects.count()
        message = self.post(talking, buyer_admin)
        assert OutgoingEmail.objects.count() == before
        assert list(PendingMessageEmails.objects.values_list("message_id", flat=True)) == [message.pk]

    def test_after_commit_the_task_writes_and_sends_them(
        self, talking, buyer_admin, supplier_admin, mailoutbox, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            message = self.post(talking, buyer_admin, body="Shipped today")
        row = OutgoingEmail.objects.get(key=f"message:{message.pk}:user:{supplier_admin.pk}")
        assert row.status == OutgoingEmail.Status.SENT
        assert [m.to for m in mailoutbox if "Shipped today" in m.body] == [[supplier_admin.email]]
        assert not PendingMessageEmails.objects.exists()

    def test_a_broker_that_refuses_the_task_never_fails_the_message(
        self, talking, buyer_admin, monkeypatch, django_capture_on_commit_callbacks
    ):
        from notifications import tasks

        def broker_down(*args, **kwargs):
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

        monkeypatch.setattr(tasks.write_message_emails, "delay", broker_down)
        with django_capture_on_commit_callbacks(execute=True):
            message = self.post(talking, buyer_admin, body="Sent while Redis is away")
        assert message.pk and list(PendingMessageEmails.objects.values_list("message_id", flat=True)) == [
            message.pk
        ]  # left for the sweeper, a minute later

    def test_writing_twice_writes_once(self, talking, buyer_admin):
        message = self.post(talking, buyer_admin)
        first = services.message_emails_write(message_id=message.pk)
        assert len(first) == 1
        assert services.message_emails_write(message_id=message.pk) == []
        assert OutgoingEmail.objects.filter(key__startswith=f"message:{message.pk}:").count() == 1

    def test_a_rolled_back_message_leaves_nothing_pending(self, talking, buyer_admin):
        with pytest.raises(messaging_services.MessagingRefused):
            self.post(talking, buyer_admin, body="   ")
        assert not PendingMessageEmails.objects.exists()

    def test_the_sweeper_queues_again_what_a_lost_task_left(
        self, talking, buyer_admin, supplier_admin, mailoutbox
    ):
        from notifications.tasks import sweep_outbox

        message = self.post(talking, buyer_admin, body="Lost on the way")
        now = timezone.now()
        assert services.message_emails_sweep(now=now) == []  # just posted: its task is on its way
        assert services.message_emails_sweep(now=now + datetime.timedelta(minutes=2)) == [message.pk]
        PendingMessageEmails.objects.update(created_at=now - datetime.timedelta(minutes=2))
        sweep_outbox.apply()
        assert OutgoingEmail.objects.filter(key=f"message:{message.pk}:user:{supplier_admin.pk}").exists()
        assert not PendingMessageEmails.objects.exists()

    def test_a_message_deleted_before_its_emails_leaves_nothing_behind(self, talking, buyer_admin):
        message = self.post(talking, buyer_admin)
        pending = PendingMessageEmails.objects.get()
        message.delete()
        assert not PendingMessageEmails.objects.filter(pk=pending.pk).exists()
        assert services.message_emails_write(message_id=message.pk) == []


class TestSweeper:
    def test_rows_a_lost_task_left_behind_are_sent_again(self, talking):
        row = OutgoingEmail.objects.get()
        now = timezone.now()
        assert services.outbox_sweep(now=now) == []  # just queued: its task is on its way
        assert services.outbox_sweep(now=now + datetime.timedelta(minutes=2)) == [row.pk]

    def test_a_row_left_sending_by_a_dead_worker_is_retried(self, settings, talking):
        row = OutgoingEmail.objects.get()
        OutgoingEmail.objects.filter(pk=row.pk).update(status="sending", attempts=1)
        later = timezone.now() + datetime.timedelta(seconds=settings.OUTBOX_STALE_SECONDS + 1)
        assert services.outbox_sweep(now=timezone.now()) == []
        assert services.outbox_sweep(now=later) == [row.pk]
        row.refresh_from_db()
        assert row.status == "retrying" and "worker was lost" in row.last_error
        assert services.outgoing_email_send(email_id=row.pk) == "sent"
        assert len(mail.outbox) == 1

    def test_a_row_a_worker_claims_while_the_sweeper_runs_is_left_to_that_worker(self, talking, monkeypatch):
        row = OutgoingEmail.objects.get()
        manager_filter = OutgoingEmail.objects.filter

        def claim_first(*args, **kwargs):  # a worker claims the row between the sweeper's read and its update
            if "pk__in" in kwargs:
                manager_filter(pk=row.pk).update(status="sending", attempts=1, updated_at=timezone.now())
            return manager_filter(*args, **kwargs)

        monkeypatch.setattr(OutgoingEmail.objects, "filter", claim_first)
        services.outbox_sweep(now=timezone.now() + datetime.timedelta(minutes=2))
        monkeypatch.undo()
        row.refresh_from_db()
        assert row.status == "sending"  # not flipped to retrying, so it cannot be sent a second time
        assert services.outgoing_email_send(email_id=row.pk) == "skipped"


class TestPreferencesAndUnsubscribe:
    def test_a_member_chooses_for_themselves(self, client, supplier, supplier_member):
        client.force_login(supplier_member)
        url = f"/o/{supplier.slug}/settings/notifications/"
        assert "Immediately" in client.get(url).content.decode()
        response = client.post(url, {"messages": "digest"})
        assert response.status_code == 302
        saved = NotificationPreference.objects.get(user=supplier_member, organization=supplier)
        assert (saved.messages, saved.connection_requests) == ("digest", False)
        assert client.post(url, {"messages": "weekly"}).status_code == 400
        assert NotificationPreference.objects.get(pk=saved.pk).messages == "digest"

    def test_one_click_unsubscribe_without_session_or_csrf(self, talking, supplier, supplier_admin):
        from django.test import Client

        row = OutgoingEmail.objects.get()
        url = row.headers["List-Unsubscribe"].strip("<>").replace("http://127.0.0.1:8000", "")
        client = Client(enforce_csrf_checks=True)
        assert "Unsubscribe" in client.get(url).content.decode()
        response = client.post(url, {"List-Unsubscribe": "One-Click"})
        assert response.status_code == 200
        assert (
            NotificationPreference.objects.get(user=supplier_admin, organization=supplier).messages == "off"
        )

    def test_a_tampered_token_is_a_404(self, client, talking):
        row = OutgoingEmail.objects.get()
        url = row.headers["List-Unsubscribe"].strip("<>").replace("http://127.0.0.1:8000", "")
        assert client.post(url[:-3] + "x/").status_code == 404
        assert not NotificationPreference.objects.exists()
