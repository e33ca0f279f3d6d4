"""Replies by email: what a person sends from a mail client lands in the conversation; the rest is refused."""

import email
import email.policy
import hashlib
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging import services as messaging_services
from messaging.models import Conversation, Message, Participant
from notifications import services
from notifications.models import InboundEmail, OutgoingEmail, ReplyToken
from tenants.models import Membership, Organization
from tests.factories import (
    ConnectionFactory,
    MembershipFactory,
    UserFactory,
    message_emails_written,
    start_conversation,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def talking(buyer, supplier, buyer_admin, supplier_admin):
    ConnectionFactory(supplier=supplier, customer=buyer)
    return start_conversation(buyer_admin, supplier, subject="Pallets", body="Can you ship Monday?")


def notification(user) -> OutgoingEmail:
    message_emails_written()
    return OutgoingEmail.objects.filter(to_email=user.email, kind="message").latest("id")


def reply_to(user) -> str:
    return notification(user).headers["Reply-To"]


def reply(
    user=None,
    *,
    to: str,
    text="Yes, Monday works.",
    sender=None,
    quote="> Can you ship Monday?",
    message_id=True,
    headers=None,
    html=None,
    attachments=(),
) -> bytes:
    """A reply the way a mail client writes one: new text, the attribution line, the quoted email."""
    message = EmailMessage()
    message["From"] = sender or f"{user.display_name} <{user.email}>"
    message["To"] = to
    message["Subject"] = "Re: Pallets"
    if message_id:
        message["Message-ID"] = make_msgid(domain="mail.example")
    for name, value in (headers or {}).items():
        message[name] = value
    body = f"{text}\n\nOn Mon, 23 Nov 2026 at 10:00, Parley <no-reply@parley.localhost> wrote:\n{quote}\n"
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for name, content, maintype, subtype in attachments:
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes()


def posted(talking) -> list[Message]:
    return list(talking.messages.order_by("id"))[1:]


class TestPosting:
    def test_a_reply_lands_in_the_conversation_as_its_user_marked_by_email(
        self, talking, supplier_admin, buyer_admin
    ):
        result = services.inbound_email_receive(raw=reply(supplier_admin, to=reply_to(supplier_admin)))
        assert result.status == "posted", result
        [message] = posted(talking)
        assert message.body == "Yes, Monday works."
        assert message.author == supplier_admin and message.source == Message.Source.EMAIL
        assert "> Can you ship Monday?" in message.quoted and "wrote:" in message.quoted
        # The buyer hears of it like of any other reply, with a reply address of their own.
        told = notification(buyer_admin)
        assert "Yes, Monday works." in told.body_text
        assert told.headers["Reply-To"] != reply_to(supplier_admin)

    def test_the_reply_address_is_reused_and_stored_only_hashed(self, talking, supplier_admin, buyer_admin):
        first = reply_to(supplier_admin)
        services.inbound_email_receive(raw=reply(supplier_admin, to=first))
        services.inbound_email_receive(raw=reply(buyer_admin, to=reply_to(buyer_admin), text="Great"))
        messaging_services.message_post(
            actor=buyer_admin, membership=buyer_admin.memberships.get(), conversation=talking, body="More"
        )
        assert reply_to(supplier_admin) == first  # one token per user and conversation, reused
        token = first.split("+", 1)[1].split("@", 1)[0]
        assert len(token) == 32  # 160 bits in base32
        row = ReplyToken.objects.get(user=supplier_admin, conversation=talking)
        assert token not in {row.nonce, row.token_hash}
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert row.last_used_at is not None

    def test_files_come_along_and_a_program_is_left_out_with_a_note(self, talking, supplier_admin):
        raw = reply(
            supplier_admin,
            to=reply_to(supplier_admin),
            attachments=[
                ("drawing.pdf", b"%PDF-1.4 drawing", "application", "pdf"),
                ("setup.exe", b"MZ\x90\x00 program", "application", "octet-stream"),
                ("photo.jpg", b"\xff\xd8\xff\xe0 jpeg", "image", "jpeg"),
            ],
        )
        assert services.inbound_email_receive(raw=raw).status == "posted"
        [message] = posted(talking)
        assert [a.name for a in message.attachments.all()] == ["drawing.pdf", "photo.jpg"]
        assert message.body.startswith("Yes, Monday works.")
        assert "setup.exe" in message.body and "program" in message.body

    def test_files_alone_are_a_reply(self, talking, supplier_admin):
        raw = reply(
            supplier_admin,
            to=reply_to(supplier_admin),
            text="",
            attachments=[("drawing.pdf", b"%PDF-1.4 drawing", "application", "pdf")],
        )
        assert services.inbound_email_receive(raw=raw).status == "posted"
        [message] = posted(talking)
        assert message.attachments.count() == 1 and message.body

    def test_html_is_read_first_and_script_never_survives(self, talking, supplier_admin):
        html = (
            "<div>Tuesday is better.<script>alert(1)</script></div>"
            '<div class="gmail_quote">On Mon wrote:<blockquote>Can you ship Monday?</blockquote></div>'
        )
        raw = reply(supplier_admin, to=reply_to(supplier_admin), text="Tuesday is better.", html=html)
        assert services.inbound_email_receive(raw=raw).status == "posted"
        [message] = posted(talking)
        assert message.body == "Tuesday is better."
        assert "alert" not in message.body and "script" not in message.body

    def test_a_reply_all_reaching_a_colleagues_address_too_is_posted_once(
        self, talking, supplier, supplier_admin, buyer_admin
    ):
        colleague = UserFactory()
        MembershipFactory(user=colleague, organization=supplier)
        messaging_services.message_post(
            actor=buyer_admin, membership=buyer_admin.memberships.get(), conversation=talking, body="Ping"
        )
        both = f"{reply_to(colleague)}, {reply_to(supplier_admin)}"
        raw = reply(supplier_admin, to=both)
        assert services.inbound_email_receive(raw=raw).status == "posted"
        # The mail server delivers it once per address: the second delivery is the same email.
        assert services.inbound_email_receive(raw=raw).status == "duplicate"
        assert [m.author for m in posted(talking)] == [buyer_admin, supplier_admin]


class TestRefused:
    def test_the_same_email_twice_posts_once(self, talking, supplier_admin):
        raw = reply(supplier_admin, to=reply_to(supplier_admin))
        assert services.inbound_email_receive(raw=raw).status == "posted"
        assert services.inbound_email_receive(raw=raw).status == "duplicate"
        assert len(posted(talking)) == 1

    def test_without_a_message_id_the_same_bytes_are_a_duplicate(self, talking, supplier_admin):
        raw = reply(supplier_admin, to=reply_to(supplier_admin), message_id=False)
        assert services.inbound_email_receive(raw=raw).status == "posted"
        assert services.inbound_email_receive(raw=raw).status == "duplicate"
        assert len(posted(talking)) == 1

    def test_a_token_with_one_character_changed_is_unknown(self, talking, supplier_admin):
        address = reply_to(supplier_admin)
        local, domain = address.split("@")
        changed = local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + domain
        result = services.inbound_email_receive(raw=reply(supplier_admin, to=changed))
        assert (result.status, result.reason) == ("refused", "unknown_token")
        assert not posted(talking)
        # The sender is a user of ours: told once why.
        notice = OutgoingEmail.objects.get(kind="reply_refused")
        assert notice.to_email == supplier_admin.email and "not valid" in notice.body_text

    def test_a_stranger_with_an_unknown_address_gets_no_answer(self, talking):
        raw = reply(sender="spam@elsewhere.example", to="reply+aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@x.example")
        assert services.inbound_email_receive(raw=raw).reason == "unknown_token"
        assert not OutgoingEmail.objects.filter(kind="reply_refused").exists()

    def test_a_colleague_replying_to_a_forwarded_notification_is_refused_and_the_user_told(
        self, talking, supplier, supplier_admin
    ):
        colleague = UserFactory()
        MembershipFactory(user=colleague, organization=supplier)
        raw = reply(colleague, to=reply_to(supplier_admin), text="I'll handle it")
        result = services.inbound_email_receive(raw=raw)
        assert (result.status, result.reason) == ("refused", "wrong_sender")
        assert not posted(talking)
        notice = OutgoingEmail.objects.get(kind="reply_refused")
        assert notice.to_email == supplier_admin.email  # the user's own address, never the From
        assert colleague.email in notice.body_text

    def test_a_forged_from_never_receives_the_notice(self, talking, supplier_admin):
        raw = reply(sender="attacker@evil.example", to=reply_to(supplier_admin))
        assert services.inbound_email_receive(raw=raw).reason == "wrong_sender"
        assert list(
            OutgoingEmail.objects.filter(kind="reply_refused").values_list("to_email", flat=True)
        ) == [supplier_admin.email]

    @pytest.mark.parametrize(
        "headers",
        [
            {"Auto-Submitted": "auto-replied"},
            {"X-Autoreply": "yes"},
            {"Precedence": "bulk"},
            {"Precedence": "junk"},
            {"List-Id": "<team.lists.example>"},
        ],
    )
    def test_auto_replies_are_ignored_and_never_answered(self, talking, supplier_admin, headers):
        raw = reply(supplier_admin, to=reply_to(supplier_admin), text="I am out of office", headers=headers)
        assert services.inbound_email_receive(raw=raw).status == "ignored"
        assert not posted(talking)
        assert not OutgoingEmail.objects.filter(kind="reply_refused").exists()

    @pytest.mark.parametrize(
        "sender", ["MAILER-DAEMON@mx.example", "postmaster@mx.example", "x@parley.localhost"]
    )
    def test_bounces_and_our_own_emails_are_ignored(self, talking, supplier_admin, sender):
        raw = reply(sender=sender, to=reply_to(supplier_admin))
        assert services.inbound_email_receive(raw=raw).status == "ignored"
        assert not OutgoingEmail.objects.filter(kind="reply_refused").exists()

    def test_a_delivery_report_is_ignored(self, talking, supplier_admin):
        report = EmailMessage()
        report["From"] = supplier_admin.email
        report["To"] = reply_to(supplier_admin)
        report["Subject"] = "Undelivered Mail Returned to Sender"
        report.set_content("The mail could not be delivered.")
        report.make_mixed()
        report.replace_header("Content-Type", 'multipart/report; report-type=delivery-status; boundary="b"')
        raw = report.as_bytes()
        assert services.inbound_email_receive(raw=raw).status == "ignored"

    def test_only_quoted_text_is_an_empty_reply(self, talking, supplier_admin):
        result = services.inbound_email_receive(
            raw=reply(supplier_admin, to=reply_to(supplier_admin), text="")
        )
        assert (result.status, result.reason) == ("refused", "empty")
        assert not posted(talking)

    def test_one_notice_a_day_per_address_and_reason(self, talking, supplier_admin):
        for text in ("", " ", "\n"):
            services.inbound_email_receive(raw=reply(supplier_admin, to=reply_to(supplier_admin), text=text))
        assert OutgoingEmail.objects.filter(kind="reply_refused").count() == 1
        assert InboundEmail.objects.filter(reason="empty").count() == 3

    def test_a_closed_conversation_refuses_what_the_web_refuses(self, talking, supplier_admin):
        Conversation.objects.filter(pk=talking.pk).update(status=Conversation.Status.CLOSED)
        result = services.inbound_email_receive(raw=reply(supplier_admin, to=reply_to(supplier_admin)))
        assert (result.status, result.reason) == ("refused", "refused")
        assert not posted(talking)
        assert "closed" in OutgoingEmail.objects.get(kind="reply_refused").body_text

    def test_a_standard_supplier_cannot_reply_by_email(self, talking, supplier, supplier_admin):
        address = reply_to(supplier_admin)
        Organization.objects.filter(pk=supplier.pk).update(tier=Organization.Tier.STANDARD)
        result = services.inbound_email_receive(raw=reply(supplier_admin, to=address))
        assert (result.status, result.reason) == ("refused", "refused")
        assert not posted(talking)

    def test_a_user_who_left_the_organization_can_no_longer_reply(self, talking, supplier_admin):
        address = reply_to(supplier_admin)
        Membership.objects.filter(user=supplier_admin).delete()
        assert ReplyToken.objects.get(user=supplier_admin).revoked_at is not None
        result = services.inbound_email_receive(raw=reply(supplier_admin, to=address))
        assert (result.status, result.reason) == ("refused", "unknown_token")
        assert not posted(talking)

    def test_a_30_mb_email_is_refused_without_reading_it(self, talking, supplier_admin):
        raw = reply(supplier_admin, to=reply_to(supplier_admin)) + b"0" * (30 * 1024 * 1024)
        result = services.inbound_email_receive(raw=raw)
        assert (result.status, result.reason) == ("refused", "too_large")
        assert not posted(talking)
        assert "larger than 25 MB" in OutgoingEmail.objects.get(kind="reply_refused").body_text

    @pytest.mark.parametrize(
        "raw",
        [b"", b"\x00\xff\xfe garbage", b"Subject: no sender\r\n\r\nhello", b"From: <>\r\n\r\n"],
    )
    def test_malformed_emails_are_refused_and_save_no_message(self, talking, raw):
        result = services.inbound_email_receive(raw=raw)
        assert result.status in {"refused", "ignored"}
        assert not posted(talking)
        assert not OutgoingEmail.objects.filter(kind="reply_refused").exists()

    def test_a_newline_injected_into_the_name_and_subject_stays_harmless(self, talking, supplier_admin):
        raw = reply(supplier_admin, to=reply_to(supplier_admin)).replace(
            b"Subject: Re: Pallets", b"Subject: Re: Pallets\r\n\tBcc: victim@example.com"
        )
        assert services.inbound_email_receive(raw=raw).status == "posted"
        record = InboundEmail.objects.get()
        assert "\n" not in record.subject and "\r" not in record.subject

    def test_an_encoded_subject_is_recorded_readable_and_a_utf8_name_does_not_hide_the_sender(
        self, talking, supplier_admin
    ):
        raw = reply(supplier_admin, to=reply_to(supplier_admin))
        raw = raw.replace(b"Subject: Re: Pallets", b"Subject: =?utf-8?q?Re=3A_Gr=C3=BC=C3=9Fe?=")
        raw = raw.replace(b"From: ", "From: Jörg ".encode(), 1)
        assert services.inbound_email_receive(raw=raw).status == "posted"
        record = InboundEmail.objects.get()
        assert (record.subject, record.from_email) == ("Re: Grüße", supplier_admin.email.lower())

    def test_an_organization_that_left_the_conversation_can_no_longer_reply(
        self, talking, supplier, supplier_admin
    ):
        address = reply_to(supplier_admin)
        Participant.objects.filter(conversation=talking, organization=supplier).delete()
        result = services.inbound_email_receive(raw=reply(supplier_admin, to=address))
        assert (result.status, result.reason) == ("refused", "no_access")
        assert not posted(talking)
        assert ReplyToken.objects.get(user=supplier_admin).revoked_at is not None
        notice = OutgoingEmail.objects.get(kind="reply_refused")
        assert notice.to_email == supplier_admin.email and "no longer have access" in notice.body_text

    def test_a_user_without_a_membership_can_no_longer_reply(self, talking, supplier_admin):
        address = reply_to(supplier_admin)
        # Gone without the signal that revokes the address (a bulk removal): still refused.
        Membership.objects.filter(user=supplier_admin)._raw_delete(connection.alias)
        result = services.inbound_email_receive(raw=reply(supplier_admin, to=address))
        assert (result.status, result.reason) == ("refused", "no_access")
        assert not posted(talking)
        assert ReplyToken.objects.get(user=supplier_admin).revoked_at is not None

    def test_the_same_email_arriving_twice_at_once_posts_once(self, talking, supplier_admin, monkeypatch):
        raw = reply(supplier_admin, to=reply_to(supplier_admin))
        post = messaging_services.message_post

        def other_worker_records_it_first(**kwargs):
            InboundEmail.objects.create(
                raw_sha256=hashlib.sha256(raw).hexdigest(), status=InboundEmail.Status.POSTED
            )
            return post(**kwargs)

        monkeypatch.setattr(messaging_services, "message_post", other_worker_records_it_first)
        assert services.inbound_email_receive(raw=raw).status == "duplicate"
        # This delivery's work rolled back (in one test transaction, the other's row with it).
        assert not posted(talking)


class TestCost:
    @pytest.mark.parametrize("colleagues", [0, 4])
    def test_its_own_statements_do_not_grow_with_the_reply_addresses_it_reaches(
        self, talking, supplier, supplier_admin, colleagues, monkeypatch
    ):
        """The reply address, its user, their access and the duplicate check are one query, however many of
        our addresses a reply-all reaches; the rest is message_post's."""
        addresses = [reply_to(supplier_admin)]
        for _ in range(colleagues):
            colleague = UserFactory()
            MembershipFactory(user=colleague, organization=supplier)
            token = services.reply_tokens_issue(conversation=talking, members=[(colleague, supplier)])
            addresses.append(services.reply_address(token[colleague.pk]))
        raw = reply(supplier_admin, to=", ".join(addresses))
        post, inside = messaging_services.message_post, []

        def counted(**kwargs):
            before = len(captured.captured_queries)
            try:
                return post(**kwargs)
            finally:
                inside.append(len(captured.captured_queries) - before)

        monkeypatch.setattr(messaging_services, "message_post", counted)
        with CaptureQueriesContext(connection) as captured:
            assert services.inbound_email_receive(raw=raw).status == "posted"
        # A savepoint, the one query, then the address's use, the record and the savepoint's release.
        assert len(captured.captured_queries) - sum(inside) <= 5


class TestWaysIn:
    def test_receive_email_reads_stdin_and_posts(self, talking, supplier_admin, monkeypatch, capsys):
        import io
        import sys

        raw = reply(supplier_admin, to=reply_to(supplier_admin))
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
        with pytest.raises(SystemExit) as exit_code:
            call_command("receive_email")
        assert exit_code.value.code == 0
        assert capsys.readouterr().out.strip() == "posted"
        assert len(posted(talking)) == 1

    def test_the_postmark_webhook_needs_its_secret_and_posts_the_raw_email(
        self, client, talking, supplier_admin, settings
    ):
        import base64
        import json

        settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": "postmark:s3cret"}
        raw = reply(supplier_admin, to=reply_to(supplier_admin)).decode()
        parsed = email.message_from_string(raw, policy=email.policy.default)
        payload = {  # Postmark's inbound JSON, with "Include raw email content" on
            "FromFull": {"Email": supplier_admin.email, "Name": supplier_admin.display_name},
            "ToFull": [{"Email": reply_to(supplier_admin), "Name": "", "MailboxHash": ""}],
            "OriginalRecipient": reply_to(supplier_admin),
            "Subject": "Re: Pallets",
            "MessageID": "22c74902-a0c1-4511-804f-341342852c90",
            "Date": "Mon, 23 Nov 2026 10:00:00 +0000",
            "TextBody": parsed.get_body(("plain",)).get_content(),
            "HtmlBody": "",
            "Headers": [{"Name": "Message-ID", "Value": parsed["Message-ID"]}],
            "Attachments": [],
            "RawEmail": raw,
        }
        url = "/notifications/inbound/postmark/"
        denied = client.post(url, json.dumps(payload), content_type="application/json")
        assert denied.status_code == 400 and not posted(talking)
        auth = "Basic " + base64.b64encode(b"postmark:s3cret").decode()
        response = client.post(
            url, json.dumps(payload), content_type="application/json", HTTP_AUTHORIZATION=auth
        )
        assert response.status_code == 200
        [message] = posted(talking)
        assert message.body == "Yes, Monday works." and message.author == supplier_admin


def test_round_trip_from_the_email_we_sent(talking, supplier_admin, settings):
    """Send the notification for real (locmem backend), answer it as a mail client would, feed it back."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    row = notification(supplier_admin)
    services.outgoing_email_send(email_id=row.pk)
    sent = email.message_from_bytes(mail.outbox[-1].message().as_bytes(), policy=email.policy.default)
    original_text = sent.get_body(("plain",)).get_content()
    answer = EmailMessage()
    answer["From"] = supplier_admin.email
    answer["To"] = sent["Reply-To"]
    answer["Subject"] = "Re: " + sent["Subject"]
    answer["In-Reply-To"] = sent["Message-ID"]
    answer["References"] = f"{sent['References']} {sent['Message-ID']}"
    answer["Message-ID"] = make_msgid(domain="client.example")
    quoted = "\n".join("> " + line for line in original_text.splitlines())
    answer.set_content(
        f"Monday at 9, dock 4.\n\nOn {sent['Date']}, Parley <{sent['From']}> wrote:\n{quoted}\n"
    )
    assert services.inbound_email_receive(raw=answer.as_bytes()).status == "posted"
    [message] = posted(talking)
    assert message.body == "Monday at 9, dock 4."
    assert "Can you ship Monday?" in message.quoted


class TestProcesses:
    """The mail server's ways in, as separate processes and over a real SMTP conversation."""

    def test_receive_email_asks_the_mail_server_to_retry_when_the_database_is_down(
        self, talking, supplier_admin
    ):
        import os
        import subprocess
        import sys

        env = {**os.environ, "DATABASE_URL": "postgres://postgres@127.0.0.1:9/parley_down"}
        done = subprocess.run(
            [sys.executable, "manage.py", "receive_email"],
            input=reply(supplier_admin, to=reply_to(supplier_admin)),
            env=env,
            capture_output=True,
            timeout=60,
        )
        assert done.returncode == 75, done.stderr  # EX_TEMPFAIL: the mail server keeps it and tries later
        assert b"try again later" in done.stderr

    def test_receive_email_in_a_subprocess_posts_the_reply(self, transactional_db, settings, request):
        import os
        import subprocess
        import sys

        from django.db import connection

        if connection.vendor != "postgresql":
            pytest.skip("the subprocess needs the test database on a server (PostgreSQL)")
        talking = request.getfixturevalue("talking")
        supplier_admin = request.getfixturevalue("supplier_admin")
        name = connection.settings_dict["NAME"]
        base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
        env = {**os.environ, "DATABASE_URL": f"{base}/{name}"}
        done = subprocess.run(
            [sys.executable, "manage.py", "receive_email", "--recipient", reply_to(supplier_admin)],
            input=reply(supplier_admin, to=reply_to(supplier_admin)),
            env=env,
            capture_output=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == b"posted"
        assert [m.body for m in posted(talking)] == ["Yes, Monday works."]

    def test_the_smtp_server_refuses_unknown_recipients_and_oversize_mail_and_posts_the_rest(
        self, transactional_db, settings, request
    ):
        import smtplib

        from notifications.inbound_smtp import inbound_smtp_controller
        from tests.notifications.smtp import free_port

        talking = request.getfixturevalue("talking")
        supplier_admin = request.getfixturevalue("supplier_admin")
        settings.INBOUND_MAX_BYTES = 200_000
        port = free_port()
        controller = inbound_smtp_controller(host="127.0.0.1", port=port)
        controller.start()
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                client.ehlo()
                assert client.has_extn("size") and client.esmtp_features["size"] == "200000"
                client.mail(supplier_admin.email)
                code, _ = client.rcpt("reply+aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@reply.parley.localhost")
                assert code == 550
                code, _ = client.rcpt("someone@reply.parley.localhost")
                assert code == 550
                client.rset()
                with pytest.raises(smtplib.SMTPException):
                    client.sendmail(supplier_admin.email, [reply_to(supplier_admin)], b"x" * 300_000)
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                raw = reply(supplier_admin, to=reply_to(supplier_admin))
                refused = client.sendmail(supplier_admin.email, [reply_to(supplier_admin)], raw)
                assert refused == {}
        finally:
            controller.stop()
        assert [m.body for m in posted(talking)] == ["Yes, Monday works."]
