"""Every write to conversations, messages, attachments and read state."""

import logging
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.contrib.postgres.search import SearchVector
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Value
from django.utils import timezone
from django.utils.translation import gettext as _

from documents.models import Document
from tenants.models import Membership, Organization, User

from .models import (
    MAX_ATTACHMENTS,
    MAX_BODY_LENGTH,
    Attachment,
    Conversation,
    Message,
    Participant,
    ReadState,
)
from .policy import can_send
from .signals import message_posted, message_saved
from .uploads import check_upload

logger = logging.getLogger(__name__)


class MessagingRefused(Exception):
    """A message the rules do not allow; the text says why, for the person who tried."""


@dataclass(frozen=True)
class Upload:
    file: UploadedFile
    name: str


def prepare_uploads(files: Sequence[UploadedFile]) -> list[Upload]:
    """Checks every file (ValidationError naming the first bad one) and the count of files."""
    if len(files) > MAX_ATTACHMENTS:
        raise ValidationError(
            _("You can attach at most %(max)d files to a message; you chose %(count)d.")
            % {"max": MAX_ATTACHMENTS, "count": len(files)}
        )
    return [Upload(file=f, name=check_upload(f)) for f in files]


def _clean_body(body: str) -> str:
    body = (body or "").replace("\r\n", "\n").strip()
    if not body:
        raise MessagingRefused(_("Write a message before sending."))
    if len(body) > MAX_BODY_LENGTH:
        raise MessagingRefused(
            _("A message can be at most %(max)s characters long.") % {"max": f"{MAX_BODY_LENGTH:,}"}
        )
    return body


def _post(
    *,
    conversation: Conversation,
    actor: User,
    organization: Organization,
    body: str,
    uploads: Sequence[Upload],
    source: str,
    client_token: uuid.UUID | None,
    quoted: str = "",
    stored: list[str],
) -> Message:
    now = timezone.now()
    message = Message.objects.create(
        conversation=conversation,
        author=actor,
        author_organization=organization,
        body=body,
        source=source,
        quoted=quoted,
        created_at=now,
        client_token=client_token,
        # PostgreSQL computes the search vector in the same INSERT.
        search_vector=(
            SearchVector(Value(body), config="simple") if connection.vendor == "postgresql" else None
        ),
    )
    for upload in uploads:
        attachment = Attachment(
            message=message,
            name=upload.name,
            size=upload.file.size,
            content_type=(upload.file.content_type or "application/octet-stream")[:100],
        )
        # Saved through the storage backend from the upload's temporary file, chunk by chunk; the stored name
        # is noted before the INSERT, so a failure from here on can delete the file again (_post_saving).
        attachment.file.save(upload.file.name, upload.file, save=False)
        stored.append(attachment.file.name)
        attachment.save(force_insert=True)
    Conversation.objects.filter(pk=conversation.pk).update(
        last_message_at=now, last_message_snippet=body[:200], message_count=F("message_count") + 1
    )
    Participant.objects.filter(conversation=conversation).update(last_message_at=now)
    ReadState.objects.filter(conversation=conversation).exclude(user=actor).update(
        unread_count=F("unread_count") + 1, updated_at=now
    )
    # The author has read everything up to their own message: one UPDATE, an INSERT only the first time.
    read = {"unread_count": 0, "last_read_at": now, "updated_at": now}
    if not ReadState.objects.filter(user=actor, conversation=conversation).update(**read):
        ReadState.objects.create(user=actor, conversation=conversation, **read)
    message_saved.send(sender=Message, message=message)
    transaction.on_commit(
        lambda: message_posted.send(sender=Message, message_id=message.pk, conversation_id=conversation.pk)
    )
    return message


def _post_saving(**post) -> Message:
    """_post in a savepoint; when it fails, the files it stored are deleted, as no row will name them."""
    stored: list[str] = []
    try:
        with transaction.atomic():
            return _post(**post, stored=stored)
    except BaseException:
        _files_delete(stored)
        raise


def _files_delete(names: Sequence[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except Exception:  # the error being raised matters more; attachment_orphans_delete takes it later
            logger.warning("Could not delete the stored file %s of a failed post", name, exc_info=True)


def _post_once(**post) -> Message:
    """_post, unless the same form (client_token) was posted at the same moment: then the message it wrote."""
    try:
        return _post_saving(**post)
    except IntegrityError:
        existing, token = _sent_before(post["client_token"], post["actor"])
        if existing is not None:
            return existing
        if token is None and post["client_token"] is not None:  # another person's token: post without it
            return _post_saving(**{**post, "client_token": None})
        raise


def _sent_before(client_token: uuid.UUID | None, actor: User) -> tuple[Message | None, uuid.UUID | None]:
    """The actor's message sent before with this form, and the token a new message may keep: none when the
    token is another person's (it names one form of one person; a copied one must not refuse the message)."""
    if client_token is None:
        return None, None
    # By the unique token alone (its index), then whose it is.
    existing = Message.objects.filter(client_token=client_token).first()
    if existing is None:
        return None, client_token
    return (existing, client_token) if existing.author_id == actor.pk else (None, None)


def _refuse_unless(decision) -> None:
    if not decision:
        raise MessagingRefused(decision.reason)


@transaction.atomic
def conversation_start(
    *,
    actor: User,
    membership: Membership,
    counterpart: Organization,
    subject: str,
    body: str,
    uploads: Sequence[Upload] = (),
    document: Document | None = None,
    source: str = Message.Source.WEB,
    client_token: uuid.UUID | None = None,
) -> Conversation:
    """Start a conversation between a supplier and a buyer, free-standing or about a document they share.

    Refused (MessagingRefused) by messaging.policy.can_send (tier, messaging switch, connection), for an
    empty subject or body, a body over 10,000 characters, or a document that is not between the two. A form
    sent twice (same client_token) returns the conversation the first one started.
    """
    existing, client_token = _sent_before(client_token, actor)
    if existing is not None:
        return existing.conversation
    organization = membership.organization
    _refuse_unless(can_send(organization=organization, counterpart=counterpart))
    if document is not None and {document.buyer_id, document.supplier_id} != {
        organization.pk,
        counterpart.pk,
    }:
        raise MessagingRefused(
            _("This document is not between you and %(name)s.") % {"name": counterpart.name}
        )
    return conversation_create(
        actor=actor,
        organization=organization,
        counterpart=counterpart,
        subject=subject,
        body=body,
        uploads=uploads,
        document=document,
        source=source,
        client_token=client_token,
    )


@transaction.atomic
def conversation_create(
    *,
    actor: User,
    organization: Organization,
    counterpart: Organization,
    subject: str,
    body: str,
    uploads: Sequence[Upload] = (),
    document: Document | None = None,
    source: str = Message.Source.WEB,
    client_token: uuid.UUID | None = None,
) -> Conversation:
    """The conversation and its first message, for a caller that has applied its own rules (conversation_start
    for suppliers and buyers, partners for merchants). Refused for an empty subject or body only."""
    existing, client_token = _sent_before(client_token, actor)
    if existing is not None:
        return existing.conversation
    subject = " ".join((subject or "").split())
    if not subject:
        raise MessagingRefused(_("Write a subject before sending."))
    body = _clean_body(body)
    conversation = Conversation.objects.create(subject=subject[:200], document=document, created_by=actor)
    Participant.objects.bulk_create(
        [Participant(conversation=conversation, organization=o) for o in (organization, counterpart)]
    )
    message = _post_once(
        conversation=conversation,
        actor=actor,
        organization=organization,
        body=body,
        uploads=uploads,
        source=source,
        client_token=client_token,
    )
    if message.conversation_id != conversation.pk:  # the same form won a moment earlier: keep only its work
        transaction.set_rollback(True)
        return message.conversation
    return conversation


@transaction.atomic
def message_post(
    *,
    actor: User,
    membership: Membership,
    conversation: Conversation,
    body: str,
    uploads: Sequence[Upload] = (),
    source: str = Message.Source.WEB,
    client_token: uuid.UUID | None = None,
    quoted: str = "",
) -> Message:
    """Reply in a conversation the actor's organization takes part in (`quoted`: what was cut from a reply
    by email, kept beside it).

    Refused (MessagingRefused) by messaging.policy.can_send (closed conversation, tier, messaging switch,
    connection), for an empty body or one over 10,000 characters. A form sent twice returns the first message.
    """
    organization = membership.organization
    # One writer at a time per conversation keeps the counters right.
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    parties = list(Organization.objects.filter(conversation_rows__conversation=conversation))
    counterpart = next((party for party in parties if party.pk != organization.pk), None)
    if counterpart is None or organization.pk not in {party.pk for party in parties}:
        raise MessagingRefused(_("Your organization does not take part in this conversation."))
    decision = can_send(organization=organization, counterpart=counterpart, conversation=conversation)
    if not decision:
        # A form sent twice still returns the first message, even if sending was refused since.
        existing, _token = _sent_before(client_token, actor)
        if existing is not None:
            return existing
        raise MessagingRefused(decision.reason)
    body = _clean_body(body)
    # A form sent again is found by its token's unique index when the message is written (_post_once): the
    # common case, a form sent once, costs no lookup.
    return _post_once(
        conversation=conversation,
        actor=actor,
        organization=organization,
        body=body,
        uploads=uploads,
        source=source,
        client_token=client_token,
        quoted=quoted[: MAX_BODY_LENGTH * 10],
    )


def conversation_mark_read(*, user: User, conversation: Conversation, unread: int | None) -> None:
    """Everything in the conversation is read for this user now. `unread` is what the page read (None: never
    opened), so an already-read conversation costs no write."""
    now = timezone.now()
    if unread is None:
        ReadState.objects.get_or_create(
            user=user, conversation=conversation, defaults={"last_read_at": now, "updated_at": now}
        )
    elif unread > 0:
        ReadState.objects.filter(user=user, conversation=conversation).update(
            unread_count=0, last_read_at=now, updated_at=now
        )


# Where attachment_path stores every attachment (attachments/<year>/<month>/<uuid>), and nothing else.
ATTACHMENTS_DIR = "attachments"
ORPHAN_BATCH = 1000


def _stored_files(directory: str) -> Iterator[str]:
    """Every file name under `directory` in the default storage, by listdir only (S3 has no real folders)."""
    try:
        directories, files = default_storage.listdir(directory)
    except FileNotFoundError:  # no file stored yet on a file system; S3 lists a missing prefix as empty
        return
    for name in sorted(files):
        yield f"{directory}/{name}"
    for name in sorted(directories):
        yield from _stored_files(f"{directory}/{name}")


def attachment_orphans_delete(*, older_than: datetime) -> int:
    """Delete the files under the attachments folder of the default storage that no Attachment row names and
    that were last modified before `older_than` (timezone-aware); return how many were deleted.

    Such a file is one a post stored inside a transaction that then rolled back (a duplicate inbound email,
    the database gone mid-request, a process killed before the commit): nobody can see it or delete it.
    Safe because a file younger than `older_than` is never touched (its transaction may still commit; callers
    pass a day ago), names are random UUIDs so a deleted name is never given again, and rows are checked one
    query per ORPHAN_BATCH names, just before their files' ages are read and only the unnamed are deleted.
    Refused (nothing deleted) when no Attachment row exists at all: that is a wrong database, not orphans.
    """
    if not Attachment.objects.exists():
        # A database with no attachment at all beside a bucket with files is a wrong or empty database (a
        # restore under way, a staging copy sharing the bucket), not a bucket of orphans: delete nothing.
        logger.error("No attachment rows at all: the orphan sweep deleted nothing (wrong database?)")
        return 0
    deleted = 0
    batch: list[str] = []

    def sweep(names: list[str]) -> int:
        named = set(Attachment.objects.filter(file__in=names).values_list("file", flat=True))
        count = 0
        for name in names:
            # Ages are read for unnamed files only (a HEAD each on S3), so the files in use cost no request.
            if name not in named and default_storage.get_modified_time(name) < older_than:
                default_storage.delete(name)
                count += 1
        return count

    for name in _stored_files(ATTACHMENTS_DIR):
        batch.append(name)
        if len(batch) == ORPHAN_BATCH:
            deleted += sweep(batch)
            batch = []
    if batch:
        deleted += sweep(batch)
    if deleted:
        logger.info("Deleted %d orphaned attachment files older than %s", deleted, older_than.isoformat())
    return deleted
