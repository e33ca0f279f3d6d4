"""Replies by email: one ingestion path for the webhook, the mail server's pipe and the SMTP server.

A reply is posted through the same service as the web (messaging.services.message_post), as the user the
reply address belongs to, with its files under the same checks as uploads. Everything that reaches us is
recorded (InboundEmail), posted or refused, and a second delivery of the same email finds that record."""

import contextlib
import email
import email.header
import email.policy
import email.utils
import functools
import hashlib
import logging
from dataclasses import dataclass
from email.message import Message as EmailMessage
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, models, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from messaging import services as messaging_services
from messaging.models import MAX_ATTACHMENTS, Message, Participant
from messaging.uploads import clean_file_name
from tenants import limits
from tenants.models import Membership, User

from ..models import InboundEmail, OutgoingEmail, ReplyToken
from .messages import conversation_path, conversation_thread, language_of
from .outbox import absolute, email_queue
from .tokens import reply_tokens_revoke, token_hash, tokens_in

if TYPE_CHECKING:
    from ..extract import Extracted, InboundFile

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


class InboundDeferred(Exception):
    """Too many replies to one reply address, or by one person, in a short time (`reason` "address" or
    "person"), or the counter could not be reached ("unavailable"): nothing was read further or saved, and the
    caller asks the sender's mail server to try again in `retry_after` seconds (451, 429, exit 75)."""

    def __init__(self, reason: str, retry_after: int):
        super().__init__(f"{reason}: try again in {retry_after} s")
        self.reason, self.retry_after = reason, retry_after


class _ReadPolicy(email.policy.Compat32):
    """How inbound email is parsed: compat32 keeps each header as text until it is asked for (the default
    policy builds a parsed header object on every read, Content-Type many times per part, which was most of
    the parsing time), and 8-bit header bytes are read as UTF-8 (RFC 6532), as the default policy reads them.
    Reply extraction gives the same reply and files with either policy (tests/notifications/test_extract)."""

    def header_fetch_parse(self, name: str, value: str) -> str:
        if isinstance(value, str) and not value.isascii():
            with contextlib.suppress(UnicodeError):
                return value.encode("ascii", "surrogateescape").decode("utf-8", errors="replace")
        return super().header_fetch_parse(name, value)


READ_POLICY = _ReadPolicy()


def _header(message: EmailMessage, name: str) -> str:
    """A header as one line of text, whatever state it is in (a malformed header never raises). Encoded
    words stay encoded: an address is read from what was sent, never from what a display name decodes to."""
    try:
        value = message.get(name)
    except Exception:  # the email package raises many kinds of errors on broken headers
        return ""
    return " ".join(str(value or "").split())


def _decoded_header(message: EmailMessage, name: str) -> str:
    """A header of text for people (the subject), RFC 2047 encoded words decoded, as one line."""
    value = _header(message, name)
    if "=?" in value:
        with contextlib.suppress(Exception):  # a broken encoded word stays as it came
            value = " ".join(str(email.header.make_header(email.header.decode_header(value))).split())
    return value


def _headers(message: EmailMessage, name: str) -> list[str]:
    try:
        return [" ".join(str(value).split()) for value in message.get_all(name) or []]
    except Exception:
        return []


def _address(value: str) -> str:
    """The one address a From header names, or "" when it names none or several. "victim@example.com
    <attacker@example.net>" is two addresses to getaddresses, though parseaddr reads only the victim's
    (CVE-2023-27043): it speaks for no one."""
    addresses = [address for _name, address in email.utils.getaddresses([value]) if address]
    return addresses[0].strip().lower() if len(addresses) == 1 else ""


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


@functools.cache
def _live_tokens() -> models.QuerySet[ReplyToken]:
    """Live reply addresses with what a reply needs joined in: the user, organization and conversation, the
    user's membership of the organization (`membership`), and whether the organization still takes part in
    the conversation (`taking_part`). Built once per process (building it cost a quarter of the lookup,
    bench: replies by email); each lookup filters a copy, so this one is never evaluated."""
    return (
        ReplyToken.objects.filter(revoked_at__isnull=True)
        .annotate(
            # Joined on the user and the token's organization: one membership at most (membership_unique).
            membership=models.FilteredRelation(
                "user__memberships",
                condition=models.Q(user__memberships__organization=models.F("organization")),
            ),
            taking_part=models.Exists(
                Participant.objects.filter(
                    conversation=models.OuterRef("conversation"), organization=models.OuterRef("organization")
                )
            ),
        )
        .select_related("user", "organization", "conversation", "membership")
    )


def _reply_tokens(tokens: list[str], *, raw_sha256: str, message_id: str | None) -> list[ReplyToken]:
    """The live rows of these tokens, in the order given, with everything a reply needs in one query (see
    _live_tokens; `membership` is None when gone), and whether this email was recorded before
    (`delivered`)."""
    if not tokens:
        return []
    hashes = [token_hash(token) for token in tokens]
    seen = models.Q(raw_sha256=raw_sha256)
    if message_id:
        seen |= models.Q(header_message_id=message_id)
    rows = list(
        _live_tokens()
        .filter(token_hash__in=hashes)
        .annotate(delivered=models.Exists(InboundEmail.objects.filter(seen)))
    )
    for row in rows:
        # A missing membership leaves no attribute behind; a found one gets what message_post reads from it.
        row.membership = getattr(row, "membership", None)
        if row.membership is not None:
            row.membership.user, row.membership.organization = row.user, row.organization
    order = {digest: index for index, digest in enumerate(hashes)}
    return sorted(rows, key=lambda row: order[row.token_hash])


def _pick_token(
    message: EmailMessage, recipients: list[str], sender: str, *, raw_sha256: str, message_id: str | None
) -> tuple[ReplyToken | None, ReplyToken | None, bool]:
    """(the token of the sender, another live token the email was addressed to, whether this email was
    recorded before). The envelope recipient decides when we know it; otherwise every reply address in To,
    Cc and the delivery headers counts, and the one belonging to the sender wins (a reply-all that reaches a
    colleague's address too is posted once)."""
    addresses = list(recipients) or [
        value
        for name in ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")
        for value in _headers(message, name)
    ]
    rows = _reply_tokens(tokens_in(addresses), raw_sha256=raw_sha256, message_id=message_id)
    own = next((row for row in rows if row.user.email.lower() == sender and row.user.is_active), None)
    other = next((row for row in rows if row is not own), None)
    return own, other, any(row.delivered for row in rows)


def _has_access(token: ReplyToken) -> Membership | None:
    """The user's membership through which they reply, if they still take part in the conversation (read
    by _reply_tokens' query, so this costs no statement)."""
    if not token.user.is_active or not token.taking_part:
        return None
    return token.membership


def _emailed_upload(item: "InboundFile") -> SimpleUploadedFile:
    """An emailed file as an upload, its name checked first: a name of dots only (".", "..") makes Django's
    file classes raise SuspiciousFileOperation, which must cost the reply that file, not the whole reply."""
    name = item.name or _("file")
    clean_file_name(name)
    return SimpleUploadedFile(name, item.data, item.content_type or "")


def _files(extracted: "Extracted") -> tuple[list[messaging_services.Upload], list[str]]:
    """The reply's files that pass the upload checks, and a note for each one left out."""
    uploads: list[messaging_services.Upload] = []
    notes: list[str] = []
    for item in extracted.attachments:
        if len(uploads) >= MAX_ATTACHMENTS:
            notes.append(
                _("%(name)s was not attached: a message can have at most %(max)d files.")
                % {"name": item.name, "max": MAX_ATTACHMENTS}
            )
            continue
        try:
            uploads.append(messaging_services.prepare_uploads([_emailed_upload(item)])[0])
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


def _count(action: str, key: str, reason: str) -> None:
    """One more reply counted against `action`'s rate for `key`; InboundDeferred past it."""
    try:
        wait = limits.limit_for(action, key=key)
    # The production cache (config.cache) counts nothing while Redis is away, as the web (fail open); a
    # cache that raises instead makes the email wait at its sender's server rather than go uncounted.
    except Exception as error:
        raise InboundDeferred("unavailable", 60) from error
    if wait:
        raise InboundDeferred(reason, wait)


class _Duplicate(Exception):
    """Raised inside the transaction when the email turns out to be recorded already: all of it rolls back."""


def inbound_email_receive(*, raw: bytes, recipients: list[str] | None = None) -> InboundResult:
    """Post one emailed reply, or refuse it. `recipients` are the envelope recipients when the mail server
    tells them (the pipe, the SMTP server); otherwise the headers are read.

    Ignored (never answered): auto-replies, out-of-office, bounces, list mail, our own emails. Refused (the
    sender's user is told why, once a day per reason): an unknown or revoked reply address, a From that is
    not the address's user (told to the user's own address), lost access, an empty reply, an email over
    INBOUND_MAX_BYTES, and whatever the web refuses (closed or blocked conversation, Standard tier, messaging
    off). A second delivery (same Message-ID, or same bytes without one) is a duplicate and changes nothing.
    Deferred (InboundDeferred, nothing saved, so the mail server's later try is no duplicate): more than
    RATE_LIMITS["inbound"] to one live reply address, or a person past their RATE_LIMITS["send"] (shared with
    the web). Database errors propagate, so the caller can ask the mail server to try again later."""
    raw_sha256 = hashlib.sha256(raw).hexdigest()
    too_large = len(raw) > settings.INBOUND_MAX_BYTES
    try:
        # When too large, the headers are enough to say who it was from and where it went.
        message = email.message_from_bytes(raw[:65536] if too_large else raw, policy=READ_POLICY)
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
        subject=_decoded_header(message, "Subject")[:300],
        size=len(raw),
        status=InboundEmail.Status.REFUSED,
    )
    try:
        with transaction.atomic():
            result = _process(
                message=message,
                record=record,
                sender=sender,
                recipients=recipients or [],
                too_large=too_large,
            )
            # The record is written last, with its outcome: a delivery recorded meanwhile (the same email
            # arriving twice at once) fails the unique Message-ID or hash, and this one's work rolls back.
            try:
                record.save()
            except IntegrityError as error:
                raise _Duplicate from error
    except _Duplicate:
        logger.info(
            "inbound email %s from %s: duplicate delivery, ignored", message_id or raw_sha256[:12], sender
        )
        return InboundResult(status="duplicate")
    except InboundDeferred as deferred:
        logger.warning(
            "inbound email %s from %s: deferred, %s",
            message_id or raw_sha256[:12],
            sender,
            deferred,
            exc_info=deferred.reason == "unavailable",
        )
        raise
    logger.info(
        "inbound email %s from %s: %s%s",
        record.header_message_id or record.raw_sha256[:12],
        record.from_email or "?",
        result.status,
        f" ({record.reason}{': ' + record.detail if record.detail else ''})" if record.reason else "",
    )
    return result


def _finish(
    record: InboundEmail, status: str, reason: str = "", detail: str = "", posted=None
) -> InboundResult:
    record.status, record.reason, record.detail, record.posted = status, reason, detail[:2000], posted
    return InboundResult(status=status, reason=reason, message=posted, record=record)


def _process(
    *, message: EmailMessage, record: InboundEmail, sender: str, recipients: list[str], too_large: bool
) -> InboundResult:
    if not sender:
        return _finish(record, InboundEmail.Status.REFUSED, "malformed", "no From address")
    if is_automatic(message, sender):
        return _finish(record, InboundEmail.Status.IGNORED, "automatic")
    token, other, delivered = _pick_token(
        message, recipients, sender, raw_sha256=record.raw_sha256, message_id=record.header_message_id
    )
    if delivered:
        raise _Duplicate
    live = token or other
    if live is not None:  # counted for a live address only: an unknown token takes no one's budget
        _count("inbound", live.token_hash, "address")
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
    _count("send", str(user.pk), "person")  # what the person sends counts the same by email or on the web
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
