"""Reads of conversations and messages, always for one organization and, for read state, one user."""

from django.contrib.postgres.search import SearchQuery
from django.db import connection
from django.db.models import Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import Http404

from connections.models import Connection
from documents.models import Document
from tenants.models import Organization, User

from .models import Attachment, Conversation, Message, Participant, ReadState


def unread_for(user: User):
    """Unread messages of the row's conversation for this user; never opened means all of them."""
    state = ReadState.objects.filter(user=user, conversation=OuterRef("conversation_id")).values(
        "unread_count"
    )[:1]
    return Coalesce(
        Subquery(state, output_field=IntegerField()),
        F("conversation__message_count"),
        output_field=IntegerField(),
    )


def _counterpart(field: str):
    other = Participant.objects.filter(conversation=OuterRef("conversation_id")).exclude(
        organization=OuterRef("organization_id")
    )
    return Subquery(other.values(field)[:1])


def message_matches(query: str):
    """Messages whose text matches: PostgreSQL full-text search on the stored vector, else a substring."""
    if connection.vendor == "postgresql":
        return Q(search_vector=SearchQuery(query, config="simple", search_type="websearch"))
    return Q(body__icontains=query)


def inbox(
    *, organization: Organization, user: User, filter: str = "", query: str = ""
) -> QuerySet[Participant]:
    """The organization's conversations, newest activity first, each with its counterpart, document and the
    user's unread count: one query for any number of rows."""
    rows = (
        Participant.objects.filter(organization=organization)
        .select_related("conversation", "conversation__document")
        .annotate(
            unread=unread_for(user),
            counterpart_name=_counterpart("organization__name"),
            counterpart_id=_counterpart("organization_id"),
        )
    )
    if filter == "unread":
        rows = rows.filter(unread__gt=0)
    elif filter == "context_free":
        rows = rows.filter(conversation__document__isnull=True)
    elif filter in (Document.Kind.PURCHASE_ORDER, Document.Kind.INVOICE):
        rows = rows.filter(conversation__document__kind=filter)
    query = " ".join(query.split())[:100]
    if query:
        # Every condition is an EXISTS on the row's conversation, which PostgreSQL runs either way
        # (AlternativeSubPlan): as one hashed set read from an index (trigram indexes on the subject and the
        # document number, the organizations' names, the messages' GIN index) when the term is rare, or as
        # a lookup per row when it is common, where the walk down the inbox index stops at the page's end.
        conversation = OuterRef("conversation_id")
        rows = rows.filter(
            Exists(Conversation.objects.filter(pk=conversation, subject__icontains=query))
            | Exists(Document.objects.filter(conversations=conversation, number__icontains=query))
            | Exists(
                Participant.objects.filter(
                    conversation=conversation, organization__name__icontains=query
                ).exclude(organization=organization)
            )
            | Exists(Message.objects.filter(message_matches(query), conversation=conversation))
        )
    return rows.order_by("-last_message_at", "-id")


def unread_total(*, organization: Organization, user: User) -> int:
    """Messages the user has not read, over all the organization's conversations."""
    result = Participant.objects.filter(organization=organization).aggregate(total=Sum(unread_for(user)))
    return result["total"] or 0


def live_version(*, organization: Organization, user: User) -> str:
    """Changes whenever a message arrives for the organization or the user reads something.

    One statement with two index-only lookups (participant_inbox, read_state_recent), whatever the history.
    """
    latest = (
        Participant.objects.filter(organization=organization)
        .order_by("-last_message_at")
        .values("last_message_at")[:1]
    )
    read = ReadState.objects.filter(user=user).order_by("-updated_at").values("updated_at")[:1]
    row = (
        Organization.objects.filter(pk=organization.pk)
        .annotate(latest=Subquery(latest), read=Subquery(read))
        .values("latest", "read")
        .first()
        or {}
    )
    latest, read = row.get("latest"), row.get("read")
    return f"{latest.timestamp() if latest else 0:.6f}-{read.timestamp() if read else 0:.6f}"


def open_conversation(
    *, organization: Organization, user: User, id: int
) -> tuple[Conversation, Organization, int | None]:
    """The conversation page's one read: the conversation, the counterpart organization and the user's unread
    count there (None when the user never opened it). Http404 whether it does not exist or is not theirs.

    The counterpart's `connected` says whether a supplier and a buyer are connected (what can_send would
    ask next), read in the same query; it is False for other kinds of pairs, where nothing asks it."""
    state = ReadState.objects.filter(user=user, conversation=OuterRef("conversation_id")).values(
        "unread_count"
    )[:1]
    # The orientation are_connected asks for: the supplier's connection to its customer.
    connected = Value(False)
    if organization.is_supplier:
        connected = Exists(
            Connection.objects.filter(supplier=organization, customer=OuterRef("organization_id"))
        )
    elif organization.is_buyer:
        connected = Exists(
            Connection.objects.filter(supplier=OuterRef("organization_id"), customer=organization)
        )
    rows = list(
        Participant.objects.filter(conversation_id=id)
        .select_related("organization", "conversation", "conversation__document")
        .annotate(my_unread=Subquery(state, output_field=IntegerField()), connected=connected)
    )
    own = next((row for row in rows if row.organization_id == organization.pk), None)
    other = next((row for row in rows if row.organization_id != organization.pk), None)
    if own is None or other is None:
        raise Http404
    other.organization.connected = other.connected
    return own.conversation, other.organization, own.my_unread


PAGE_SIZE = 50
MAX_ID = 2**63 - 1  # the largest bigint: a larger id in a URL names nothing


def conversation_page(
    *, conversation: Conversation, before_id: int | None = None, size: int = PAGE_SIZE
) -> tuple[list[Message], bool]:
    """The latest `size` messages (or the `size` before message `before_id`), oldest first, and whether
    earlier ones exist. Keyset on the (conversation, id) index: the same cost at any length of history."""
    rows = conversation.messages.all()
    if before_id is not None:
        rows = rows.filter(id__lt=before_id)
    page = list(
        rows.select_related("author", "author_organization")
        .prefetch_related("attachments")
        .order_by("-id")[: size + 1]
    )
    return page[:size][::-1], len(page) > size


def conversation_messages(*, conversation: Conversation, after_id: int = 0) -> QuerySet[Message]:
    return (
        conversation.messages.filter(id__gt=after_id)
        .select_related("author", "author_organization")
        .prefetch_related("attachments")
        .order_by("created_at", "id")
    )


def new_messages_check(*, organization: Organization, conversation_id: int, after_id: int) -> bool | None:
    """For the live view: None when the conversation is not the organization's, else whether it has messages
    after after_id. One indexed query, written out because every open conversation polls it every few
    seconds and the ORM's compiling would cost more than the query (bench: live-update check)."""
    if not 0 < conversation_id <= MAX_ID:
        return None
    quote = connection.ops.quote_name
    # Only the models' own table names are formatted in; every value is a parameter.
    sql = (
        f"SELECT EXISTS (SELECT 1 FROM {quote(Message._meta.db_table)} m"  # noqa: S608 # nosec B608
        " WHERE m.conversation_id = %s AND m.id > %s)"
        f" FROM {quote(Participant._meta.db_table)} p"
        " WHERE p.conversation_id = %s AND p.organization_id = %s LIMIT 1"
    )
    with connection.cursor() as cursor:
        after_id = min(max(after_id, 0), MAX_ID)
        cursor.execute(sql, [conversation_id, after_id, conversation_id, organization.pk])
        row = cursor.fetchone()
    return None if row is None else bool(row[0])


def document_conversations(
    *, organization: Organization, user: User, document: Document
) -> QuerySet[Participant]:
    return inbox(organization=organization, user=user).filter(conversation__document=document)


def access_attachment(*, organization: Organization, user: User, id: int) -> Attachment:
    """A file of a message in one of the organization's conversations. Http404 otherwise."""
    attachment = Attachment.objects.filter(
        pk=id, message__conversation__participants__organization=organization
    ).first()
    if attachment is None:
        raise Http404
    return attachment
