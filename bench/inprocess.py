"""The two scenarios that run in one process rather than behind gunicorn: the hourly digest and replies by
email. Both call the services production calls (the Celery task and the mail server's pipe do nothing else)
and count their SQL statements. Emails are written to the outbox, not sent: sending is the outbox's own work,
one task per row, so `send_outgoing_email.delay` does nothing here (as in bench/digest.py).
"""

import datetime
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import format_datetime

REPLY_TEXTS = [
    "Thanks, that works for us.",
    "Confirmed, we will ship on Monday.",
    "Could you send the updated quote?\n\nThanks!",
    "Received, thank you. The pallets arrived in good order.",
    "We need two more days for the delivery, sorry for the delay.",
    "OK for us. Please go ahead.",
]


@contextmanager
def counting() -> Iterator[Counter]:
    """Counts the statements run on the default connection inside the block, by their first word."""
    from django.db import connection

    statements: Counter = Counter()

    def count(execute, sql, params, many, context):
        statements[sql.split(None, 1)[0].upper()] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        yield statements


@contextmanager
def outbox_only() -> Iterator[None]:
    from notifications import tasks

    task = tasks.send_outgoing_email
    original = task.delay
    task.delay = lambda *args, **kwargs: None
    try:
        yield
    finally:
        task.delay = original


def digest_run(marker: dict) -> dict:
    """digests_send for the seeded hour: every digest reader has unread news from a supplier in it."""
    from notifications.services import digest

    hour = datetime.datetime.fromisoformat(marker["digest_hour"])
    batches = Counter()
    batch_emails: Callable = digest._batch_emails

    def counted_batch(*args, **kwargs):
        batches["batches"] += 1
        return batch_emails(*args, **kwargs)

    digest._batch_emails = counted_batch
    try:
        with outbox_only(), counting() as statements:
            began = time.perf_counter()
            written = digest.digests_send(hour=hour)
            seconds = time.perf_counter() - began
    finally:
        digest._batch_emails = batch_emails
    total = sum(statements.values())
    count = batches["batches"]
    return {
        "recipients": marker["digest_users"],
        "emails": written,
        "seconds": round(seconds, 2),
        "queries": total,
        "batches": count,
        "batch_size": digest.BATCH_SIZE,
        "queries_per_batch": round((total - 1) / count, 1) if count else None,
        "statements": dict(statements),
    }


def _reply(
    *, number: int, sender: str, name: str, address: str, subject: str, thread: str, attach: bool
) -> bytes:
    """A reply as mail clients write one: new text above the quoted notification, in plain text, or with an
    HTML part in Gmail's or Outlook's way of quoting; now and then a small PDF attached."""
    text = REPLY_TEXTS[number % len(REPLY_TEXTS)] + f"\n\n{name}"
    quoted = "##- Please type your reply above this line -##\n\nHello,\n\nThe pallets leave on Monday."
    sent = datetime.datetime(2026, 11, 23, 9, 12, tzinfo=datetime.UTC)
    header = f"On Mon, 23 Nov 2026 at 09:12, Parley <no-reply@{address.split('@')[1]}> wrote:"
    message = EmailMessage()
    message["From"] = f"{name} <{sender}>"
    message["To"] = address
    message["Subject"] = f"Re: {subject}"
    message["Date"] = format_datetime(sent + datetime.timedelta(minutes=number))
    message["Message-ID"] = f"<{uuid.uuid4().hex}@mail.bench.example>"
    message["In-Reply-To"] = thread
    message["References"] = thread
    plain = text + "\n\n" + header + "\n" + "\n".join(f"> {line}" for line in quoted.splitlines())
    message.set_content(plain)
    style = number % 3
    if style == 1:  # Gmail
        message.add_alternative(
            f'<div dir="ltr">{text.replace(chr(10), "<br>")}</div><br><div class="gmail_quote">'
            f'<div dir="ltr" class="gmail_attr">{header}<br></div><blockquote class="gmail_quote">'
            f"{quoted.replace(chr(10), '<br>')}</blockquote></div>",
            subtype="html",
        )
    elif style == 2:  # Outlook
        message.add_alternative(
            f'<html><body><p>{text.replace(chr(10), "<br>")}</p><div id="divRplyFwdMsg"><hr>'
            f"<b>From:</b> Parley<br><b>Sent:</b> Monday<br><b>Subject:</b> {subject}</div>"
            f"<div>{quoted.replace(chr(10), '<br>')}</div></body></html>",
            subtype="html",
        )
    if attach:
        pdf = b"%PDF-1.4\n" + bytes(range(256)) * 120 + b"\n%%EOF\n"
        message.add_attachment(
            pdf, maintype="application", subtype="pdf", filename=f"delivery-note-{number}.pdf"
        )
    return message.as_bytes()


def ingest_run(marker: dict, count: int) -> dict:
    """`count` replies by buyers to the seeded conversations' reply addresses, through inbound_email_receive
    with the envelope recipient known (as the mail server's pipe and the SMTP server give it)."""
    from messaging.models import Conversation, Participant
    from notifications.services import (
        conversation_thread,
        inbound_email_receive,
        reply_address,
        reply_tokens_issue,
    )
    from tenants.models import Membership

    targets = marker["ingest_conversations"]
    conversations = Conversation.objects.in_bulk([conversation_id for conversation_id, _user in targets])
    memberships = {
        (m.user_id, m.organization_id): m
        for m in Membership.objects.filter(user_id__in={user for _c, user in targets}).select_related(
            "user", "organization"
        )
    }
    participants = {
        (p.conversation_id, p.organization_id)
        for p in Participant.objects.filter(conversation_id__in=conversations)
    }
    emails = []
    with outbox_only():
        for conversation_id, user_id in targets:
            conversation = conversations[conversation_id]
            membership = next(
                m
                for (u, o), m in memberships.items()
                if u == user_id and (conversation_id, o) in participants
            )
            token = reply_tokens_issue(
                conversation=conversation, members=[(membership.user, membership.organization)]
            )
            emails.append((membership.user, reply_address(token[user_id]), conversation))
    raws = []
    for number in range(count):
        user, address, conversation = emails[number % len(emails)]
        raw = _reply(
            number=number,
            sender=user.email,
            name=user.get_full_name(),
            address=address,
            subject=conversation.subject,
            thread=conversation_thread(conversation.pk),
            attach=number % 20 == 0,
        )
        raws.append((raw, address))
    statuses: Counter = Counter()
    with outbox_only(), counting() as statements:
        began = time.perf_counter()
        for raw, address in raws:
            statuses[str(inbound_email_receive(raw=raw, recipients=[address]).status)] += 1
        seconds = time.perf_counter() - began
    total = sum(statements.values())
    return {
        "emails": count,
        "seconds": round(seconds, 2),
        "per_second": round(count / seconds, 1),
        "statuses": dict(statuses),
        "queries_per_email": round(total / count, 1),
        "with_attachment": sum(1 for number in range(count) if number % 20 == 0),
        "conversations": len(emails),
    }


def message_emails_run() -> dict:
    """The worker's half of every message posted: writing its emails to the outbox (recipients, reply
    addresses, rendering in each language), for the messages whose emails are pending (those ingest_run
    posted). Not sent: sending is one task per row."""
    from notifications.models import PendingMessageEmails
    from notifications.services import message_emails_write

    pending = list(PendingMessageEmails.objects.order_by("message_id").values_list("message_id", flat=True))
    emails = 0
    with outbox_only(), counting() as statements:
        began = time.perf_counter()
        for message_id in pending:
            emails += len(message_emails_write(message_id=message_id))
        seconds = time.perf_counter() - began
    total = sum(statements.values())
    return {
        "messages": len(pending),
        "emails": emails,
        "seconds": round(seconds, 2),
        "emails_per_second": round(emails / seconds, 1) if seconds else None,
        "messages_per_second": round(len(pending) / seconds, 1) if seconds else None,
        "queries_per_message": round(total / len(pending), 1) if pending else None,
    }


def term_counts(marker: dict) -> dict[str, int]:
    """How many messages hold each search term, over the whole database (for the report)."""
    from django.db import connection

    result = {}
    with connection.cursor() as cursor:
        for kind, term in marker["terms"].items():
            cursor.execute(
                "SELECT count(*) FROM messaging_message WHERE search_vector @@ to_tsquery('simple', %s)",
                [term],
            )
            result[kind] = cursor.fetchone()[0]
    return result
