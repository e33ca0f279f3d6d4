"""The hourly digest: one email per user and organization, listing the last hour's messages still unread."""

import datetime
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import CharField, Exists, F, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Cast, Concat, Left
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from messaging.models import Conversation, Message, Participant, ReadState
from tenants.models import Membership, Organization

from ..models import NotificationPreference, OutgoingEmail
from .messages import conversation_path, language_of
from .outbox import absolute, email_render, emails_queue

BATCH_SIZE = 500  # recipients per batch: the few queries of a batch never depend on how many there are
MESSAGES_PER_CONVERSATION = 5  # the latest ones; the digest says how many more
CONVERSATIONS_PER_DIGEST = 20  # the most recent ones; the digest says how many more
SNIPPET_LENGTH = 300


@dataclass
class DigestConversation:
    conversation: Conversation
    counterpart: Organization
    store_name: str
    url: str
    messages: list[Message] = field(default_factory=list)

    @property
    def shown(self) -> list[Message]:
        return self.messages[-MESSAGES_PER_CONVERSATION:]

    @property
    def more(self) -> int:
        return max(len(self.messages) - MESSAGES_PER_CONVERSATION, 0)


def digest_window(hour: datetime.datetime | None = None) -> tuple[datetime.datetime, datetime.datetime]:
    """[hour - 1h, hour) in UTC, `hour` truncated to the hour (default: now)."""
    hour = hour or timezone.now()
    if timezone.is_naive(hour):
        raise ValueError("digest hours are aware datetimes")
    end = hour.astimezone(datetime.UTC).replace(minute=0, second=0, microsecond=0)
    return end - datetime.timedelta(hours=1), end


def digest_key(*, user_id: int, organization_id: int, start: datetime.datetime) -> str:
    """The outbox key of one digest: the user, the organization and the UTC hour it summarizes."""
    return f"digest:{user_id}:{organization_id}:{start.astimezone(datetime.UTC):%Y%m%d%H}"


def _unread(user_id) -> Exists:
    """The outer message is unread by the user: no read state that covers it (never opened means unread)."""
    read = ReadState.objects.filter(user_id=user_id, conversation_id=OuterRef("conversation_id")).filter(
        Q(unread_count=0) | Q(last_read_at__gte=OuterRef("created_at"))
    )
    return ~Exists(read)


def _candidates(start: datetime.datetime, end: datetime.datetime) -> list[int]:
    """Ids of the digest preferences whose user, still an active member, has an unread message of the window
    from another organization and no digest of this hour yet: one query."""
    arrived = (
        Message.objects.filter(
            conversation_id=OuterRef("conversation_id"), created_at__gte=start, created_at__lt=end
        )
        .exclude(author_organization_id=OuterRef(OuterRef("organization_id")))
        .exclude(author_id=OuterRef(OuterRef("user_id")))
        .filter(_unread(OuterRef(OuterRef(OuterRef("user_id")))))
    )
    # The organization's conversations with news (the inbox index: organization, last_message_at), then their
    # messages by conversation: index lookups per recipient, never a scan of every message.
    live = Participant.objects.filter(
        organization_id=OuterRef("organization_id"), last_message_at__gte=start
    ).filter(Exists(arrived))
    member = Membership.objects.filter(
        user_id=OuterRef("user_id"), organization_id=OuterRef("organization_id")
    )
    key = Concat(
        Value("digest:"),
        Cast("user_id", CharField()),
        Value(":"),
        Cast("organization_id", CharField()),
        Value(f":{start:%Y%m%d%H}"),
        output_field=CharField(),
    )
    sent = OutgoingEmail.objects.filter(key=OuterRef("digest_key"))
    return list(
        NotificationPreference.objects.filter(
            messages=NotificationPreference.Messages.DIGEST, user__is_active=True
        )
        .annotate(digest_key=key)
        .filter(Exists(member), Exists(live), ~Exists(sent))
        .order_by("id")
        .values_list("id", flat=True)
    )


def _window_messages(
    live: QuerySet[Participant], start: datetime.datetime, end: datetime.datetime
) -> QuerySet[Message]:
    return (
        Message.objects.filter(
            conversation_id__in=live.values("conversation_id"), created_at__gte=start, created_at__lt=end
        )
        .select_related("conversation", "conversation__document", "author", "author_organization")
        .annotate(
            snippet=Left("body", SNIPPET_LENGTH + 1),
            store_name=F("conversation__service_request__store_name"),
        )
        .defer("body", "search_vector", "client_token", "conversation__last_message_snippet")
        .order_by("created_at", "id")
    )


class _ConversationBlocks:
    """A conversation's part of a digest, rendered once per language, URL and messages shown, for every
    colleague whose digest shows the same (the members of one organization mostly do): the template's
    loops over messages were nearly all of a digest's cost. Both the text and the HTML templates are read
    with the `#conversation` partial."""

    def __init__(self, template: str):
        self.template = template
        self.rendered: dict[tuple, str] = {}

    def render(self, item: DigestConversation, language: str) -> str:
        key = (language, item.conversation.pk, item.url, tuple(message.pk for message in item.messages))
        block = self.rendered.get(key)
        if block is None:
            with translation.override(language):
                block = render_to_string(f"{self.template}#conversation", {"item": item})
            self.rendered[key] = block
        return block


def _batch_emails(
    preference_ids: list[int], start: datetime.datetime, end: datetime.datetime
) -> list[OutgoingEmail]:
    """The digests of one batch, rendered: four queries whatever the number of recipients."""
    texts = _ConversationBlocks("notifications/email/digest.txt")
    htmls = _ConversationBlocks("notifications/email/digest.html")
    preferences = list(
        NotificationPreference.objects.filter(pk__in=preference_ids)
        .select_related("user", "organization")
        .order_by("id")
    )
    organization_ids = {preference.organization_id for preference in preferences}
    user_ids = {preference.user_id for preference in preferences}
    live = Participant.objects.filter(organization_id__in=organization_ids, last_message_at__gte=start)
    conversations_of: dict[int, set[int]] = {}
    for organization_id, conversation_id in live.values_list("organization_id", "conversation_id"):
        conversations_of.setdefault(organization_id, set()).add(conversation_id)
    messages_of: dict[int, list[Message]] = {}
    for message in _window_messages(live, start, end):
        if len(message.snippet) > SNIPPET_LENGTH:
            message.snippet = message.snippet[:SNIPPET_LENGTH].rstrip() + "…"
        messages_of.setdefault(message.conversation_id, []).append(message)
    read_states = {
        (user_id, conversation_id): (unread_count, last_read_at)
        for user_id, conversation_id, unread_count, last_read_at in ReadState.objects.filter(
            user_id__in=user_ids, conversation_id__in=live.values("conversation_id")
        ).values_list("user_id", "conversation_id", "unread_count", "last_read_at")
    }

    def unread(message: Message, user_id: int) -> bool:
        state = read_states.get((user_id, message.conversation_id))
        if state is None:
            return True
        unread_count, last_read_at = state
        return unread_count > 0 and (last_read_at is None or message.created_at > last_read_at)

    emails = []
    for preference in preferences:
        user, organization = preference.user, preference.organization
        items = []
        for conversation_id in conversations_of.get(organization.pk, ()):
            shown = [
                message
                for message in messages_of.get(conversation_id, ())
                if message.author_organization_id != organization.pk
                and message.author_id != user.pk
                and unread(message, user.pk)
            ]
            if not shown:
                continue
            items.append(
                DigestConversation(
                    conversation=shown[0].conversation,
                    counterpart=shown[-1].author_organization,
                    store_name=shown[0].store_name or "",
                    url=absolute(conversation_path(organization, conversation_id)),
                    messages=shown,
                )
            )
        if not items:  # read since the candidates were found: never an empty digest
            continue
        items.sort(key=lambda item: (item.messages[-1].created_at, item.conversation.pk), reverse=True)
        language = language_of(user, organization)
        shown = items[:CONVERSATIONS_PER_DIGEST]
        emails.append(
            email_render(
                kind="digest",
                key=digest_key(user_id=user.pk, organization_id=organization.pk, start=start),
                to_email=user.email,
                user=user,
                organization=organization,
                language=language,
                template="digest",
                context={
                    "recipient": user,
                    "organization": organization,
                    "language": language,
                    "start": start,
                    "end": end,
                    "conversation_texts": [texts.render(item, language) for item in shown],
                    "conversation_htmls": [htmls.render(item, language) for item in shown],
                    "more_conversations": max(len(items) - CONVERSATIONS_PER_DIGEST, 0),
                    "message_total": sum(len(item.messages) for item in items),
                    "inbox_url": absolute(_inbox_path(organization)),
                },
            )
        )
    return emails


def _inbox_path(organization: Organization) -> str:
    if organization.kind == Organization.Kind.PARTNER:
        return reverse("partners:inbox", kwargs={"org_slug": organization.slug})
    if organization.kind == Organization.Kind.MERCHANT:
        return reverse("partners:requests", kwargs={"org_slug": organization.slug})
    return reverse("messaging:inbox", kwargs={"org_slug": organization.slug})


def digests_send(*, hour: datetime.datetime | None = None, batch_size: int = BATCH_SIZE) -> int:
    """Queue the digests of the hour before `hour` (truncated to the hour, UTC; default now): one email per
    user and organization with a digest preference and unread messages from another organization that
    arrived in [hour - 1h, hour). Read messages, the user's own and their organization's never count.

    Refuses nothing; skips users with nothing unread (never an empty digest) and digests already written for
    that hour (the outbox key is unique, so a re-run or a second beat process writes none twice). One query
    finds the recipients, then a fixed handful per batch of `batch_size`. Returns how many emails it wrote."""
    start, end = digest_window(hour)
    candidates = _candidates(start, end)
    written = 0
    for first in range(0, len(candidates), batch_size):
        with transaction.atomic():  # each batch's emails are sent once it commits
            written += len(emails_queue(_batch_emails(candidates[first : first + batch_size], start, end)))
    return written
