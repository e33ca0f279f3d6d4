"""Hostile email, both ways. Out: names and subjects with line breaks never add a header to what we send. In:
forged senders, other people's and other conversations' reply addresses, oversized and malformed MIME are
refused (or read as far as they can be) without an error, and a refused email saves no message or file."""

import base64
import email
import email.policy
import json
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from django.core import mail

from messaging import services as messaging_services
from messaging.models import Attachment, Conversation, Message
from notifications import services
from notifications.models import InboundEmail, OutgoingEmail
from tenants.models import Membership, Organization, User
from tests.factories import (
    BuyerFactory,
    ConnectionFactory,
    MembershipFactory,
    UserFactory,
    message_emails_written,
    start_conversation,
)
from tests.hostile.conftest import stored_files
from tests.hostile.test_uploads import PDF, png, zip_bomb

pytestmark = pytest.mark.django_db

INJECTED = "\r\nBcc: victim@evil.example\r\nX-Injected: yes"


@pytest.fixture
def talking(connected, buyer_admin, supplier):
    return start_conversation(buyer_admin, supplier, subject="Pallets", body="Can you ship Monday?")


def reply_to(user, conversation=None) -> str:
    message_emails_written()
    rows = OutgoingEmail.objects.filter(to_email=user.email, kind="message")
    if conversation is not None:
        rows = rows.filter(thread=services.conversation_thread(conversation.pk))
    return rows.latest("id").headers["Reply-To"]


def reply(
    user=None, *, to: str, text="Yes, Monday works.", sender=None, headers=None, attachments=()
) -> bytes:
    message = EmailMessage()
    message["From"] = sender or f"{user.display_name} <{user.email}>"
    message["To"] = to
    message["Subject"] = "Re: Pallets"
    message["Message-ID"] = make_msgid(domain="mail.example")
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(f"{text}\n\nOn Mon, Parley wrote:\n> Can you ship Monday?\n")
    for name, content, maintype, subtype in attachments:
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes()


def raw_email(to: str, sender: str, *, headers: str = "", body: bytes) -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: Re: Pallets\r\nMessage-ID: {make_msgid()}\r\n"
        f"MIME-Version: 1.0\r\n{headers}"
    ).encode() + body


PLAIN = b"Content-Type: text/plain\r\n\r\nYes, Monday works.\r\n"


def posted(conversation) -> list[Message]:
    return list(conversation.messages.order_by("id"))[1:]


def written() -> tuple[int, int, int]:
    """What a refused reply must not add: messages, attachments and stored files."""
    return Message.objects.count(), Attachment.objects.count(), stored_files()


def sent_headers() -> list[email.message.EmailMessage]:
    """Every email the backend sent, parsed back from its bytes as a mail server would read it."""
    return [
        email.message_from_bytes(m.message().as_bytes(), policy=email.policy.default) for m in mail.outbox
    ]


def send_all() -> list[str]:
    return [
        services.outgoing_email_send(email_id=pk)
        for pk in OutgoingEmail.objects.filter(status=OutgoingEmail.Status.QUEUED).values_list(
            "pk", flat=True
        )
    ]


# Out: header injection --------------------------------------------------------------------------------------


class TestHeaderInjection:
    def test_line_breaks_in_names_and_subjects_never_become_headers(
        self, connected, buyer, buyer_admin, supplier, supplier_admin
    ):
        # Stored as they would be by any path that forgot to clean them (admin, import, an older version).
        Organization.objects.filter(pk=buyer.pk).update(name="Nordwind" + INJECTED)
        User.objects.filter(pk=buyer_admin.pk).update(
            first_name="Eve" + INJECTED, last_name="\nTo: x@evil.example"
        )
        buyer_admin.refresh_from_db()
        conversation = start_conversation(buyer_admin, supplier, subject="Pallets", body="Hello")
        Conversation.objects.filter(pk=conversation.pk).update(subject="Pallets" + INJECTED)
        messaging_services.message_post(
            actor=buyer_admin,
            membership=buyer_admin.memberships.get(),
            conversation=conversation,
            body="More",
        )
        message_emails_written()
        mail.outbox.clear()
        assert set(send_all()) == {OutgoingEmail.Status.SENT}
        assert mail.outbox
        for sent, parsed in zip(mail.outbox, sent_headers(), strict=True):
            assert sent.recipients() == [supplier_admin.email]
            assert (
                "Bcc" not in parsed
                and "X-Injected" not in parsed
                and parsed.get_all("To") == [supplier_admin.email]
            )
            assert "\n" not in parsed["Subject"] and "\r" not in parsed["Subject"]
            assert parsed["Subject"].startswith("New message from Nordwind Bcc: victim@evil.example")

    def test_a_refusal_notice_names_the_forged_sender_in_its_text_only(self, talking, supplier_admin):
        # A line break inside a header is folding: whatever follows it belongs to the same header.
        forged = '"Boss\r\n Bcc: victim@evil.example\r\n X-Injected: yes" <attacker@evil.example>'
        raw = raw_email(reply_to(supplier_admin), forged, body=PLAIN)
        assert services.inbound_email_receive(raw=raw).reason == "wrong_sender"
        mail.outbox.clear()
        [notice] = OutgoingEmail.objects.filter(kind="reply_refused")
        assert services.outgoing_email_send(email_id=notice.pk) == OutgoingEmail.Status.SENT
        [parsed] = sent_headers()
        assert parsed["To"] == supplier_admin.email
        assert "Bcc" not in parsed and "X-Injected" not in parsed
        assert "attacker@evil.example" in parsed.get_body(("plain",)).get_content()

    def test_an_address_with_a_line_break_is_never_sent_to(self, talking, buyer, supplier_admin):
        # A malformed address stored by an older path: the row fails, nothing goes out, the operator sees why.
        victim = UserFactory()
        MembershipFactory(user=victim, organization=buyer)
        User.objects.filter(pk=victim.pk).update(email=f"{victim.email}{INJECTED}")
        messaging_services.message_post(
            actor=supplier_admin, membership=supplier_admin.memberships.get(), conversation=talking, body="Hi"
        )
        message_emails_written()
        mail.outbox.clear()
        send_all()
        assert all("evil.example" not in ",".join(sent.recipients()) for sent in mail.outbox)
        row = OutgoingEmail.objects.get(to_email__startswith=victim.email.split("\r")[0], kind="message")
        assert row.status == OutgoingEmail.Status.FAILED and row.last_error


# In: forged senders -----------------------------------------------------------------------------------------


class TestForgedSenders:
    @pytest.mark.parametrize(
        ("sender", "reason"),
        [
            ("attacker@evil.example", "wrong_sender"),
            ('"{user}" <attacker@evil.example>', "wrong_sender"),  # the user's address as a display name
            ("=?utf-8?q?{encoded}?= <attacker@evil.example>", "wrong_sender"),
            # Read as the user by Python's parseaddr, as the attacker by other parsers: speaks for no one.
            ("{user} <attacker@evil.example>", "malformed"),
            ("<{user}>attacker@evil.example", "malformed"),
            ("{user}, attacker@evil.example", "malformed"),  # two authors
            ("attacker@evil.example, {user}", "malformed"),
        ],
    )
    def test_a_valid_reply_address_with_another_sender_posts_nothing(
        self, talking, supplier_admin, sender, reason
    ):
        before = written()
        address = supplier_admin.email
        sender = sender.format(user=address, encoded=address.replace("@", "=40").replace(".", "=2E"))
        result = services.inbound_email_receive(raw=raw_email(reply_to(supplier_admin), sender, body=PLAIN))
        assert (result.status, result.reason) == ("refused", reason)
        assert written() == before and not posted(talking)
        # Never an answer to the forged address; at most one to the address's own user.
        notices = OutgoingEmail.objects.filter(kind="reply_refused").values_list("to_email", flat=True)
        assert set(notices) <= {address}

    def test_a_comment_naming_another_address_does_not_change_the_sender(self, talking, supplier_admin):
        raw = reply(sender=f"{supplier_admin.email} (attacker@evil.example)", to=reply_to(supplier_admin))
        assert services.inbound_email_receive(raw=raw).status == "posted"
        assert posted(talking)[0].author == supplier_admin


# In: other people's and other conversations' addresses -----------------------------------------------------


class TestOtherAddresses:
    def test_the_counterparts_reply_address_is_refused(self, talking, supplier_admin, buyer_admin):
        messaging_services.message_post(
            actor=supplier_admin, membership=supplier_admin.memberships.get(), conversation=talking, body="Hi"
        )
        before = written()
        result = services.inbound_email_receive(raw=reply(supplier_admin, to=reply_to(buyer_admin)))
        assert (result.status, result.reason) == ("refused", "wrong_sender")
        assert written() == before
        assert list(
            OutgoingEmail.objects.filter(kind="reply_refused").values_list("to_email", flat=True)
        ) == [buyer_admin.email]

    def test_a_reply_lands_where_its_address_points_whatever_its_threading_headers_say(
        self, talking, connected, supplier_admin, buyer_admin, supplier
    ):
        other = start_conversation(buyer_admin, supplier, subject="Invoices", body="Invoice 17?")
        thread = services.conversation_thread(other.pk)
        raw = reply(
            supplier_admin,
            to=reply_to(supplier_admin, talking),
            headers={"In-Reply-To": thread, "References": thread},
        )
        assert services.inbound_email_receive(raw=raw).status == "posted"
        assert len(posted(talking)) == 1 and not posted(other)

    def test_the_envelope_recipient_decides_over_the_headers(self, talking, supplier_admin, buyer_admin):
        messaging_services.message_post(
            actor=supplier_admin, membership=supplier_admin.memberships.get(), conversation=talking, body="Hi"
        )
        raw = reply(supplier_admin, to=reply_to(supplier_admin))  # the sender's own address in To...
        result = services.inbound_email_receive(
            raw=raw, recipients=[reply_to(buyer_admin)]
        )  # ...not delivered
        assert (result.status, result.reason) == ("refused", "wrong_sender")
        assert len(posted(talking)) == 1  # only the web reply

    def test_an_address_of_an_organization_the_user_left_is_dead_though_they_belong_to_another(
        self, talking, supplier, supplier_admin
    ):
        address = reply_to(supplier_admin)
        elsewhere = BuyerFactory()
        MembershipFactory(user=supplier_admin, organization=elsewhere, role=Membership.Role.ADMINISTRATOR)
        Membership.objects.filter(user=supplier_admin, organization=supplier).delete()
        before = written()
        result = services.inbound_email_receive(raw=reply(supplier_admin, to=address))
        assert result.status == "refused" and result.reason in {"unknown_token", "no_access"}
        assert written() == before

    def test_a_guessed_address_is_unknown(self, talking, supplier_admin, settings):
        before = written()
        guess = f"reply+{'a' * 32}@{settings.INBOUND_EMAIL_DOMAIN}"
        result = services.inbound_email_receive(raw=reply(supplier_admin, to=guess))
        assert (result.status, result.reason) == ("refused", "unknown_token")
        assert written() == before


# In: oversized and malformed -------------------------------------------------------------------------------


def nested(depth: int) -> bytes:
    """Multiparts inside multiparts, `depth` deep, with a reply at the bottom."""
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (level, level)
        for level in range(depth)
    )
    closing = b"".join(b"\r\n--b%d--" % level for level in reversed(range(depth)))
    return opening + b"Content-Type: text/plain\r\n\r\nDeep reply." + closing + b"\r\n"


TEXT = b"Content-Type: text/plain\r\n"
MALFORMED = {
    "no boundary": b"Content-Type: multipart/mixed\r\n\r\n--x\r\n" + TEXT + b"\r\nHi\r\n--x--\r\n",
    "boundary never used": b'Content-Type: multipart/mixed; boundary="zz"\r\n\r\nHello without parts\r\n',
    "unterminated": b'Content-Type: multipart/mixed; boundary="u"\r\n\r\n--u\r\n' + TEXT + b"\r\nHi",
    "unknown charset": b'Content-Type: text/plain; charset="x-no-such-charset"\r\n\r\nCaf\xe9 at nine.\r\n',
    "utf-7": b'Content-Type: text/plain; charset="utf-7"\r\n\r\nHi +AGEAbABlAHIAdAAoADEAKQ-\r\n',
    "unicode_escape": b'Content-Type: text/plain; charset="unicode_escape"\r\n\r\nHi \\u0041\\x42\r\n',
    "broken utf-8": b'Content-Type: text/plain; charset="utf-8"\r\n\r\nHi \xff\xfe\xc3( there\r\n',
    "broken base64": TEXT + b"Content-Transfer-Encoding: base64\r\n\r\n@@@not base64===\r\n",
    "broken quoted-printable": TEXT + b"Content-Transfer-Encoding: quoted-printable\r\n\r\n=ZZ=\r\n",
    "nested 100 deep": nested(100),
    "nested 400 deep": nested(400),  # parsed, but too deep to write out again
    "nested 2000 deep": nested(2000),  # past the parser's recursion
    "5000 parts": b'Content-Type: multipart/mixed; boundary="p"\r\n\r\n'
    + b"".join(b"--p\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % n for n in range(5000))
    + b"--p--\r\n",
    "NUL and 8-bit headers": b"X-Junk: \x00\xff\xfe\x80\r\nContent-Type: text/plain\r\n\r\nHi\r\n",
}


class TestOversizedAndMalformed:
    @pytest.mark.parametrize("case", sorted(MALFORMED))
    def test_malformed_mime_is_refused_or_read_without_an_error(self, talking, supplier_admin, case):
        before = written()
        raw = raw_email(reply_to(supplier_admin), supplier_admin.email, body=MALFORMED[case])
        result = services.inbound_email_receive(raw=raw)
        assert result.status in {"posted", "refused"}, result
        if result.status == "refused":
            assert written() == before
        else:
            [message] = posted(talking)
            assert message.body and "\x00" not in message.body

    def test_an_email_over_the_size_limit_is_refused_and_its_sender_told(
        self, talking, supplier_admin, settings
    ):
        settings.INBOUND_MAX_BYTES = 100 * 1024
        before = written()
        raw = reply(
            supplier_admin,
            to=reply_to(supplier_admin),
            attachments=[("drawing.pdf", PDF + b"\0" * 200 * 1024, "application", "pdf")],
        )
        result = services.inbound_email_receive(raw=raw)
        assert (result.status, result.reason) == ("refused", "too_large")
        assert written() == before
        assert "larger than" in OutgoingEmail.objects.get(kind="reply_refused").body_text

    @pytest.mark.parametrize(
        "headers",
        [
            "Subject2: " + "x" * (1024 * 1024) + "\r\n",  # one header of a megabyte
            "".join(f"X-Filler-{n}: {n}\r\n" for n in range(20_000)),  # twenty thousand headers
            "Content-Type: text/plain; " + "; ".join(f"p{n}=v" for n in range(5000)) + "\r\n",
        ],
    )
    def test_huge_headers_are_read_without_an_error(self, talking, supplier_admin, headers):
        raw = raw_email(
            reply_to(supplier_admin), supplier_admin.email, headers=headers, body=b"\r\nHuge headers.\r\n"
        )
        result = services.inbound_email_receive(raw=raw)
        assert result.status in {"posted", "refused"}
        record = InboundEmail.objects.get()
        assert len(record.subject) <= 300 and len(record.from_email) <= 300

    def test_a_body_past_the_message_limit_is_refused_and_saves_no_file(self, talking, supplier_admin):
        before = written()
        raw = reply(
            supplier_admin,
            to=reply_to(supplier_admin),
            text="x" * (1024 * 1024),
            attachments=[("drawing.pdf", PDF, "application", "pdf")],
        )
        result = services.inbound_email_receive(raw=raw)
        assert (result.status, result.reason) == ("refused", "refused")
        assert written() == before
        assert "10,000 characters" in OutgoingEmail.objects.get(kind="reply_refused").body_text

    def test_dangerous_files_are_left_out_with_a_note_and_the_rest_posted(self, talking, supplier_admin):
        raw = reply(
            supplier_admin,
            to=reply_to(supplier_admin),
            attachments=[
                ("..", PDF, "application", "pdf"),  # Django's file classes raise on this name
                (".", PDF, "application", "pdf"),
                ("bomb.zip", zip_bomb(), "application", "zip"),
                ("huge.png", png(50_000, 50_000), "image", "png"),
                ("invoice\u202efdp.exe", PDF, "application", "pdf"),
                ("drawing.pdf", PDF, "application", "pdf"),
            ],
        )
        result = services.inbound_email_receive(raw=raw)
        assert result.status == "posted", result
        [message] = posted(talking)
        assert [a.name for a in message.attachments.all()] == ["drawing.pdf"]
        assert stored_files() == 1
        for note in ("is not allowed: use a plain name.", "unpacks to far more than its size", "megapixels"):
            assert note in message.body


# In: the provider's webhook ---------------------------------------------------------------------------------


class TestWebhook:
    @pytest.fixture
    def post(self, client, settings):
        settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": "postmark:s3cret"}
        auth = "Basic " + base64.b64encode(b"postmark:s3cret").decode()

        def deliver(payload: dict):
            return client.post(
                "/notifications/inbound/postmark/",
                json.dumps(payload),
                content_type="application/json",
                HTTP_AUTHORIZATION=auth,
            )

        return deliver

    @pytest.mark.parametrize("depth", [400, 2000])
    def test_a_deeply_nested_email_is_refused_without_an_error(self, talking, supplier_admin, post, depth):
        before = written()
        raw = raw_email(reply_to(supplier_admin), supplier_admin.email, body=nested(depth)).decode()
        response = post({"RawEmail": raw, "OriginalRecipient": reply_to(supplier_admin), "MessageID": "m-1"})
        assert response.status_code == 200
        assert written() == before or len(posted(talking)) == 1

    def fields(self, user, **changes) -> dict:
        """Postmark's payload without "Include raw email content": anymail builds the email from it."""
        return {
            "FromFull": {"Email": user.email, "Name": "Paula"},
            "ToFull": [{"Email": reply_to(user), "Name": ""}],
            "OriginalRecipient": reply_to(user),
            "Subject": "Re: Pallets",
            "TextBody": "From the fields.",
            "Headers": [],
            "Attachments": [],
            **changes,
        }

    def test_the_fields_alone_post_a_reply(self, talking, supplier_admin, post):
        assert post(self.fields(supplier_admin)).status_code == 200
        assert [m.body for m in posted(talking)] == ["From the fields."]

    @pytest.mark.parametrize(
        "change",
        [
            {"Subject": "Re: Pallets\r\nBcc: x@evil.example"},
            {"FromFull": {"Email": "", "Name": "Evil\r\nBcc: x@evil.example"}},
        ],
    )
    def test_a_line_break_in_a_field_is_refused_without_an_error(self, talking, supplier_admin, post, change):
        """anymail cannot build an email with a line break in a header: refused as unreadable, not a 500."""
        before = written()
        fields = self.fields(supplier_admin, **change)
        if "FromFull" in change:
            fields["FromFull"]["Email"] = supplier_admin.email
        response = post(fields)
        assert response.status_code == 200
        assert written() == before
        assert not OutgoingEmail.objects.filter(kind="reply_refused").exists()


def test_a_new_connection_can_only_reply_in_its_own_conversations(talking, buyer, supplier_admin):
    """A token names one user, organization and conversation: a fresh conversation gets its own."""
    second = BuyerFactory()
    second_admin = MembershipFactory(organization=second, role=Membership.Role.ADMINISTRATOR).user
    ConnectionFactory(supplier=supplier_admin.memberships.get().organization, customer=second)
    theirs = start_conversation(second_admin, supplier_admin.memberships.get().organization, body="Hello")
    ours = reply_to(supplier_admin, talking)
    assert reply_to(supplier_admin, theirs) != ours
    assert services.inbound_email_receive(raw=reply(supplier_admin, to=ours)).status == "posted"
    assert not posted(theirs) and len(posted(talking)) == 1


def test_a_sender_address_with_markup_is_escaped_in_the_notice(talking, supplier_admin):
    forged = '"<script>alert(1)</script>"@evil.example'
    raw = raw_email(reply_to(supplier_admin), forged, body=PLAIN)
    assert services.inbound_email_receive(raw=raw).reason == "wrong_sender"
    notice = OutgoingEmail.objects.get(kind="reply_refused")
    assert "<script>" not in notice.body_html and "&lt;script&gt;" in notice.body_html
    assert notice.to_email == supplier_admin.email


def test_files_past_the_limits_by_email_are_left_out_with_a_note(talking, supplier_admin):
    over = PDF + b"\0" * (10 * 1024 * 1024 + 1 - len(PDF))
    attachments = [("over.pdf", over, "application", "pdf")]
    attachments += [(f"{n}.pdf", PDF, "application", "pdf") for n in range(11)]
    result = services.inbound_email_receive(
        raw=reply(supplier_admin, to=reply_to(supplier_admin), attachments=attachments)
    )
    assert result.status == "posted"
    [message] = posted(talking)
    assert message.attachments.count() == 10 and stored_files() == 10
    assert "over.pdf is larger than 10 MB" in message.body
    assert "10.pdf was not attached: a message can have at most 10 files." in message.body
