"""Replies by email: one ingestion path for the webhook, the mail server's pipe and the SMTP server.

A reply is posted through the same service as the web (messaging.services.message_post), as the user the
reply address belongs to, with its files under the same checks as uploads. Everything that reaches us is
recorded (InboundEmail), posted or refused, and a second delivery of the same email finds that record."""

import email
import email.policy
import email.utils
import hashlib
import logging
from dataclasses import dataclass
from email.message import Message as EmailMessage
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from messaging import services as messaging_services
from messaging.models import MAX_ATTACHMENTS, Message, Participant
from tenants.models import Membership, User

from ..models import InboundEmail, OutgoingEmail, ReplyToken
from .messages import conversation_path, conversation_thread, language_of
from .outbox import absolute, email_queue
from .tokens import reply_token_find, reply_tokens_revoke, token_hash, tokens_in

if TYPE_CHECKING:
    from ..extract import Extracted

logger = logging.getLogger(__name__)

# Why a reply was not posted, in the words its sender reads (the refusal email).
REASONS = {
    "unknown_token": gettext_lazy(
        "The address you replied to is not valid (any more). Reply to a newer email from Parley, or write "
        "in the conversation on the web."
    ),
    "wrong_sender": gettext_lazy(
        "The reply came from %(sender)s, not from your address. Only the person an email was sent to can "
        "reply to it; forward the conversation link to a colleague instead."
    ),
    "no_access": gettext_lazy("You no longer have access to this conversation."),
    "empty": gettext_lazy("We found no text and no file in your reply (quoted text is left out)."),
    "too_large": gettext_lazy("Your reply is larger than %(size)s MB."),
    "malformed": gettext_lazy("Your reply could not be read."),
    "refused": "%(detail)s",
}
# Automatic mail never gets an answer and is never posted.
AUTOMATIC_SENDERS = ("mailer-daemon", "postmaster", "no-reply", "noreply", "bounce")


@dataclass(frozen=True)
class InboundResult:
    status: str  # "posted", "refused", "ignored" (automatic) or "duplicate"
    reason: str = ""
    message: Message | None = None
    record: InboundEmail | None = None


def _header(message: EmailMessage, name: str) -> str:
    """A header as one line of text, whatever state it is in (a malformed header never raises)."""
    try:
        value = message.get(name)
    except Exception:  # the email package raises many kinds of errors on broken headers
        return ""
    return " ".join(str(value or "").split())


def _headers(message: EmailMessage, name: str) -> list[str]:
    try:
        return [" ".join(str(value).split()) for value in message.get_all(name) or []]
    except Exception:
        return []


def _address(value: str) -> str:
    return email.utils.parseaddr(value)[1].strip().lower()


def is_automatic(message: EmailMessage, sender: str) -> bool:
    """An auto-reply, out-of-office, bounce or list mail (RFC 3834 and the headers mail servers use), or an
    email from our own domains (a loop)."""
    auto_submitted = _header(message, "Auto-Submitted").lower()
    if auto_submitted and auto_submitted != "no":
        return True
    if any(_header(message, name) for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress")):
        return True
    if _header(message, "Precedence").lower() in {"bulk", "junk", "list", "auto_reply"}:
        return True
    if _header(message, "List-Id") or _header(message, "List-Unsubscribe"):
        return True
    content_type = message.get_content_type() if hasattr(message, "get_content_type") else ""
    if content_type == "multipart/report" or _header(message, "Return-Path") == "<>":
        return True
    local, _at, domain = sender.partition("@")
    if local.startswith(AUTOMATIC_SENDERS):
        return True
    return domain in {settings.EMAIL_DOMAIN.lower(), settings.INBOUND_EMAIL_DOMAIN.lower()}


def _message_id(message: EmailMessage) -> str | None:
    value = _header(message, "Message-ID").strip()
    return value[:300] or None


def _pick_token(
    message: EmailMessage, recipients: list[str], sender: str
) -> tuple[ReplyToken | None, ReplyToken | None]:
    """(the token of the sender, another live token the email was addressed to). The envelope recipient
    decides when we know it; otherwise every reply address in To, Cc and the delivery headers counts, and the
    one belonging to the sender wins (a reply-all that reaches a colleague's address too is posted once)."""
    addresses = list(recipients) or [
        value
        for name in ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")
        for value in _headers(message, name)
    ]
    rows = [row for token in tokens_in(addresses) if (row := reply_token_find(token)) is not None]
    own = next((row for row in rows if row.user.email.lower() == sender and row.user.is_active), None)
    other = next((row for row in rows if row is not own), None)
    return own, other


def _has_access(token: ReplyToken) -> Membership | None:
    """The user's membership through which they reply, if they still take part in the conversation."""
    if not token.user.is_active:
        return None
    if not Participant.objects.filter(
        conversation_id=token.conversation_id, organization_id=token.organization_id
    ).exists():
        return None
    return (
        Membership.objects.filter(user_id=token.user_id, organization_id=token.organization_id)
        .select_related("organization", "user")
        .first()
    )


def _files(extracted: "Extracted") -> tuple[list[messaging_services.Upload], list[str]]:
    """The reply's files that pass the upload checks, and a note for each one left out."""
    uploads: list[messaging_services.Upload] = []
    notes: list[str] = []
    for item in extracted.attachments:
        upload = SimpleUploadedFile(item.name or _("file"), item.data, item.content_type or "")
        if len(uploads) >= MAX_ATTACHMENTS:
            notes.append(
                _("%(name)s was not attached: a message can have at most %(max)d files.")
                % {"name": item.name, "max": MAX_ATTACHMENTS}
            )
            continue
        try:
            uploads.append(messaging_services.prepare_uploads([upload])[0])
        except ValidationError as error:
            notes.append(_("A file was not attached: %(reason)s") % {"reason": " ".join(error.messages)})
    return uploads, notes


def refusal_notice_queue(
    *, to_user: User, reason: str, organization_id: int | None, conversation_id: int | None, **detail
) -> OutgoingEmail | None:
    """One short email to a person whose reply was not posted, saying why: at most one a day per address
    and reason (the outbox key), in their language."""
    address = to_user.email.lower()
    day = timezone.now().strftime("%Y%m%d")
    key = f"reply_refused:{hashlib.sha256(address.encode()).hexdigest()[:24]}:{reason}:{day}"
    membership = (
        Membership.objects.filter(user=to_user, organization_id=organization_id).select_related(
            "organization"
        )
        if organization_id
        else Membership.objects.none()
    ).first()
    organization = membership.organization if membership else None
    language = (
        language_of(to_user, organization) if organization else (to_user.language or settings.LANGUAGE_CODE)
    )
    with translation.override(language):
        explanation = str(REASONS[reason]) % {"size": settings.INBOUND_MAX_BYTES // (1024 * 1024), **detail}
    conversation_url = ""
    if organization and conversation_id and reason != "no_access":
        conversation_url = absolute(conversation_path(organization, conversation_id))
    return email_queue(
        kind="reply_refused",
        key=key,
        to_email=to_user.email,
        user=to_user,
        organization=organization,
        language=language,
        template="reply_refused",
        context={"recipient": to_user, "explanation": explanation, "conversation_url": conversation_url},
        thread=conversation_thread(conversation_id) if conversation_id and conversation_url else "",
    )


def inbound_email_receive(*, raw: bytes, recipients: list[str] | None = None) -> InboundResult:
    """Post one emailed reply, or refuse it. `recipients` are the envelope recipients when the mail server
    tells them (the pipe, the SMTP server); otherwise the headers are read.

    Ignored (never answered): auto-replies, out-of-office, bounces, list mail, our own emails. Refused (the
    sender's user is told why, once a day per reason): an unknown or revoked reply address, a From that is
    not the address's user (told to the user's own address), lost access, an empty reply, an email over
    INBOUND_MAX_BYTES, and whatever the web refuses (closed or blocked conversation, Standard tier, messaging
    off). A second delivery (same Message-ID, or same bytes without one) is a duplicate and changes nothing.
    Database errors propagate, so the caller can ask the mail server to try again later."""
    raw_sha256 = hashlib.sha256(raw).hexdigest()
    too_large = len(raw) > settings.INBOUND_MAX_BYTES
    try:
        if too_large:  # the headers are enough to say who it was from and where it went
            message = email.message_from_bytes(raw[:65536], policy=email.policy.default)
        else:
            message = email.message_from_bytes(raw, policy=email.policy.default)
    except Exception as error:
        logger.warning("inbound email %s refused: unreadable (%s)", raw_sha256[:12], error)
        return InboundResult(status="refused", reason="malformed")
    sender = _address(_header(message, "From"))
    message_id = _message_id(message)
    record = InboundEmail(
        header_message_id=message_id,
        raw_sha256=raw_sha256,
        from_email=sender[:300],
        recipient=", ".join(recipients or [])[:300],
        subject=_header(message, "Subject")[:300],
        size=len(raw),
        status=InboundEmail.Status.REFUSED,
    )
    with transaction.atomic():
        try:
            with transaction.atomic():
                record.save()
        except IntegrityError:
            logger.info(
                "inbound email %s from %s: duplicate delivery, ignored", message_id or raw_sha256[:12], sender
            )
            return InboundResult(status="duplicate")
        return _process(
            message=message, record=record, sender=sender, recipients=recipients or [], too_large=too_large
        )


def _finish(
    record: InboundEmail, status: str, reason: str = "", detail: str = "", posted=None
) -> InboundResult:
    record.status, record.reason, record.detail, record.posted = status, reason, detail[:2000], posted
    record.save(update_fields=["status", "reason", "detail", "posted", "token"])
    logger.info(
        "inbound email %s from %s: %s%s",
        record.header_message_id or record.raw_sha256[:12],
        record.from_email or "?",
        status,
        f" ({reason}{': ' + detail if detail else ''})" if reason else "",
    )
    return InboundResult(status=status, reason=reason, message=posted, record=record)


def _process(
    *, message: EmailMessage, record: InboundEmail, sender: str, recipients: list[str], too_large: bool
) -> InboundResult:
    if not sender:
        return _finish(record, InboundEmail.Status.REFUSED, "malformed", "no From address")
    if is_automatic(message, sender):
        return _finish(record, InboundEmail.Status.IGNORED, "automatic")
    token, other = _pick_token(message, recipients, sender)
    if token is None and other is not None:
        # A colleague replying to a forwarded notification, or a forged From: told to the address's user.
        record.token = other
        refusal_notice_queue(
            to_user=other.user,
            reason="wrong_sender",
            organization_id=other.organization_id,
            conversation_id=other.conversation_id,
            sender=sender,
        )
        return _finish(record, InboundEmail.Status.REFUSED, "wrong_sender")
    if token is None:
        known = User.objects.filter(email__iexact=sender, is_active=True).first()
        if known is not None:  # a stranger's mail gets no answer: no backscatter to forged senders
            refusal_notice_queue(
                to_user=known, reason="unknown_token", organization_id=None, conversation_id=None
            )
        return _finish(record, InboundEmail.Status.REFUSED, "unknown_token")
    record.token = token
    user = token.user
    notice = {
        "to_user": user,
        "organization_id": token.organization_id,
        "conversation_id": token.conversation_id,
    }
    membership = _has_access(token)
    if membership is None:
        reply_tokens_revoke(user_id=user.pk, conversation_id=token.conversation_id)
        refusal_notice_queue(reason="no_access", **notice)
        return _finish(record, InboundEmail.Status.REFUSED, "no_access")
    if too_large:
        refusal_notice_queue(reason="too_large", **notice)
        return _finish(record, InboundEmail.Status.REFUSED, "too_large")
    from ..extract import reply_extract

    extracted = reply_extract(message)
    with translation.override(language_of(user, membership.organization)):
        uploads, notes = _files(extracted)
        body = extracted.text
        if notes:
            body = "\n\n".join(part for part in [body, *notes] if part)
        if not extracted.text and not uploads:
            refusal_notice_queue(reason="empty", **notice)
            return _finish(record, InboundEmail.Status.REFUSED, "empty", "; ".join(notes))
        if not body:
            body = _("(files sent by email)")
        try:
            posted = messaging_services.message_post(
                actor=user,
                membership=membership,
                conversation=token.conversation,
                body=body,
                uploads=uploads,
                source=Message.Source.EMAIL,
                quoted=extracted.cut,
            )
        except messaging_services.MessagingRefused as error:
            refusal_notice_queue(reason="refused", detail=str(error), **notice)
            return _finish(record, InboundEmail.Status.REFUSED, "refused", str(error))
    ReplyToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return _finish(record, InboundEmail.Status.POSTED, posted=posted)


def reply_address_accepts(address: str) -> bool:
    """Whether an SMTP server should take mail for this recipient: one of our live reply addresses."""
    tokens = tokens_in([address])
    return (
        len(tokens) == 1
        and ReplyToken.objects.filter(token_hash=token_hash(tokens[0]), revoked_at__isnull=True).exists()
    )
