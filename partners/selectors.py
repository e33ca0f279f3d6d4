"""Reads for partners and merchants, always for one organization."""

from django.db.models import Case, Count, Exists, OuterRef, Q, QuerySet, Value, When
from django.http import Http404

from messaging.models import Message, Participant
from messaging.selectors import unread_for
from tenants.models import Organization, User

from .models import (
    Block,
    ConversationTag,
    Job,
    JobInvoice,
    MatchRequest,
    PartnerProfile,
    Proposal,
    Service,
    ServiceRequest,
    Store,
    Tag,
    TimelineRecord,
)

MATCH_LIMIT = 3


# Partners' catalogue, as merchants browse it ----------------------------------------------------------------


def _reachable_profiles() -> QuerySet[PartnerProfile]:
    return PartnerProfile.objects.filter(published=True).filter(
        Exists(Service.objects.filter(partner_id=OuterRef("organization_id")))
    )


def service_list(
    *, merchant: Organization, category: str = "", language: str = "", region: str = "", query: str = ""
) -> QuerySet[Service]:
    """Services of reachable partners (published profile), filtered and searched; one query per page."""
    services = Service.objects.filter(partner__partner_profile__published=True).select_related(
        "partner", "partner__partner_profile"
    )
    if category:
        services = services.filter(category=category)
    if language:
        services = services.filter(partner__partner_profile__languages__contains=f",{language},")
    if region:
        services = services.filter(partner__partner_profile__regions__contains=f",{region},")
    query = " ".join(query.split())[:100]
    if query:
        services = services.filter(
            Q(title__icontains=query) | Q(description__icontains=query) | Q(partner__name__icontains=query)
        )
    return services.order_by("partner__name", "title", "id")


def access_service(*, merchant: Organization, id: int) -> Service:
    """A service in the public catalogue (its partner's profile is published). Whether this merchant may
    contact it (not blocked) is policy.can_contact's answer, which the page shows. Http404 otherwise, so an
    unpublished partner's name is not given away."""
    service = (
        Service.objects.filter(pk=id, partner__partner_profile__published=True)
        .select_related("partner", "partner__partner_profile")
        .first()
    )
    if service is None:
        raise Http404
    return service


def match_partners(
    *, merchant: Organization, category: str, language: str, region: str, limit: int = MATCH_LIMIT
) -> list[Organization]:
    """Up to `limit` reachable partners for a job, best first, in one query that returns at most `limit` rows.

    Scoring: a partner must offer a service in the category and must not have blocked the merchant. Then
    speaking the merchant's language scores 2 and working in the merchant's region scores 1 (language weighs
    more: a partner who cannot read the request cannot help). Ties go to the partner organization with the
    lowest id, so the same job always reaches the same partners. Nothing a partner does in a conversation
    (declining, proposals, jobs) is an input.
    """
    profiles = (
        _reachable_profiles()
        .filter(Exists(Service.objects.filter(partner_id=OuterRef("organization_id"), category=category)))
        .exclude(Exists(Block.objects.filter(partner_id=OuterRef("organization_id"), merchant=merchant)))
        .annotate(
            score=Case(When(languages__contains=f",{language},", then=Value(2)), default=Value(0))
            + Case(When(regions__contains=f",{region},", then=Value(1)), default=Value(0)),
        )
        .select_related("organization")
        .order_by("-score", "organization_id")[:limit]
    )
    return [profile.organization for profile in profiles]


def partner_profile_get(*, partner: Organization) -> PartnerProfile:
    profile = PartnerProfile.objects.filter(organization=partner).first()
    return profile or PartnerProfile(organization=partner)


def partner_services(*, partner: Organization) -> QuerySet[Service]:
    return Service.objects.filter(partner=partner).order_by("title", "id")


def access_own_service(*, partner: Organization, id: int) -> Service:
    service = Service.objects.filter(pk=id, partner=partner).first()
    if service is None:
        raise Http404
    return service


# Stores -----------------------------------------------------------------------------------------------------


def store_list(*, merchant: Organization) -> QuerySet[Store]:
    return Store.objects.filter(merchant=merchant).select_related("owner").prefetch_related("staff")


def stores_of(*, merchant: Organization, user: User) -> QuerySet[Store]:
    """The stores the user owns or works on, for the store choice of a request."""
    return (
        Store.objects.filter(merchant=merchant)
        .filter(Q(owner=user) | Q(staff=user))
        .distinct()
        .order_by("name", "id")
    )


def access_store(*, merchant: Organization, id: int) -> Store:
    store = Store.objects.filter(pk=id, merchant=merchant).first()
    if store is None:
        raise Http404
    return store


def store_role(*, store: Store | None, user: User | None) -> str:
    if store is None or user is None:
        return "none"
    if store.owner_id == user.pk:
        return "owner"
    return "staff"


# Inboxes ----------------------------------------------------------------------------------------------------


def request_inbox(
    *,
    organization: Organization,
    user: User,
    tag_ids: list[int] | tuple = (),
    unread: bool = False,
    query: str = "",
) -> QuerySet[Participant]:
    """The partner's (or merchant's) service requests, newest activity first, with the request, the other
    side's organization and the user's unread count: one query for any number of rows (the partner's tags:
    tag_names_attach, once the page is chosen).

    Tags: conversations with any of the tags given (tags of other organizations match nothing). Search: the
    contact's name, the store's name or URL, ignoring case.
    """
    # The own side is `organization` itself: only the other side's name is read.
    counterpart = "merchant" if organization.kind == Organization.Kind.PARTNER else "partner"
    rows = (
        Participant.objects.filter(organization=organization)
        .select_related(
            "conversation", "conversation__service_request", f"conversation__service_request__{counterpart}"
        )
        .annotate(unread=unread_for(user))
    )
    if tag_ids:
        # The organization's own tags first (one small query), so that PostgreSQL estimates how many
        # conversations carry them from its statistics, and walks the inbox index newest first instead of
        # sorting every tagged conversation.
        own = list(
            Tag.objects.filter(organization=organization, pk__in=list(tag_ids)).values_list("pk", flat=True)
        )
        # A tagged conversation is a request: no join through conversations to the requests to know it.
        tagged = ConversationTag.objects.filter(tag_id__in=own).values("request_id")
        rows = rows.filter(conversation_id__in=tagged)
    else:
        rows = rows.filter(conversation__service_request__isnull=False)
    if unread:
        rows = rows.filter(unread__gt=0)
    query = " ".join(query.split())[:100].lower()
    if query:
        rows = rows.filter(conversation__service_request__search_text__contains=query)
    return rows.order_by("-last_message_at", "-id")


def tag_names_attach(rows: list[Participant]) -> list[Participant]:
    """Each row of request_inbox gets `tag_names`: its request's tags' names, by name. One query for any
    number of rows, and no model instances (a link and a tag built for each name cost more than the query).
    """
    names: dict[int, list[str]] = {row.conversation_id: [] for row in rows}
    if names:
        links = (
            ConversationTag.objects.filter(request_id__in=list(names))
            .order_by("tag__name", "tag_id")
            .values_list("request_id", "tag__name")
        )
        for request_id, name in links:
            names[request_id].append(name)
    for row in rows:
        row.tag_names = names[row.conversation_id]
    return rows


def tag_list(*, organization: Organization, with_uses: bool = True) -> QuerySet[Tag]:
    """The organization's tags by name, each with the number of conversations it is on (`uses`) unless
    with_uses is False (the inbox's filter: counting every link of a busy partner costs milliseconds)."""
    tags = Tag.objects.filter(organization=organization)
    if with_uses:
        tags = tags.annotate(uses=Count("links"))
    return tags.order_by("name", "id")


def access_tag(*, organization: Organization, id: int) -> Tag:
    tag = Tag.objects.filter(pk=id, organization=organization).first()
    if tag is None:
        raise Http404
    return tag


def access_request(*, organization: Organization, id: int) -> ServiceRequest:
    """A request the organization is the partner or the merchant of; Http404 otherwise."""
    request = (
        ServiceRequest.objects.filter(pk=id)
        .filter(Q(partner=organization) | Q(merchant=organization))
        .select_related("conversation", "partner", "merchant", "contact", "store", "service", "match")
        .first()
    )
    if request is None:
        raise Http404
    return request


def request_tags(*, request: ServiceRequest) -> list[Tag]:
    return [link.tag for link in request.tag_links.select_related("tag").order_by("tag__name", "tag_id")]


def timeline_records(*, request: ServiceRequest, after_id: int = 0) -> QuerySet[TimelineRecord]:
    return (
        request.records.filter(id__gt=after_id)
        .select_related("actor", "organization", "proposal", "job", "invoice")
        .order_by("created_at", "id")
    )


def request_jobs(*, request: ServiceRequest) -> QuerySet[Job]:
    return request.jobs.select_related("proposal").prefetch_related("invoices").order_by("created_at", "id")


def access_proposal(*, request: ServiceRequest, id: int) -> Proposal:
    proposal = Proposal.objects.filter(pk=id, request=request).select_related("request").first()
    if proposal is None:
        raise Http404
    return proposal


def access_job(*, request: ServiceRequest, id: int) -> Job:
    job = Job.objects.filter(pk=id, request=request).select_related("request").first()
    if job is None:
        raise Http404
    return job


def access_job_invoice(*, request: ServiceRequest, id: int) -> JobInvoice:
    invoice = JobInvoice.objects.filter(pk=id, job__request=request).select_related("job__request").first()
    if invoice is None:
        raise Http404
    return invoice


def open_jobs(*, request: ServiceRequest) -> list[Job]:
    return list(request.jobs.filter(status=Job.Status.OPEN).select_related("proposal"))


def pending_proposal(*, request: ServiceRequest) -> Proposal | None:
    return request.proposals.filter(status=Proposal.Status.SENT).first()


def timeline_has_news(*, organization: Organization, request_id: int, after_message: int, after_record: int):
    """For the live view: None when the request is not the organization's, else whether anything arrived."""
    newer_messages = Message.objects.filter(conversation_id=request_id, id__gt=after_message)
    newer_records = TimelineRecord.objects.filter(request_id=request_id, id__gt=after_record)
    row = (
        ServiceRequest.objects.filter(pk=request_id)
        .filter(Q(partner=organization) | Q(merchant=organization))
        .annotate(has_messages=Exists(newer_messages), has_records=Exists(newer_records))
        .values_list("has_messages", "has_records")
        .first()
    )
    return None if row is None else any(row)


def access_match(*, merchant: Organization, id: int) -> MatchRequest:
    match = MatchRequest.objects.filter(pk=id, merchant=merchant).select_related("store").first()
    if match is None:
        raise Http404
    return match


def match_results(*, match: MatchRequest) -> QuerySet[ServiceRequest]:
    return match.requests.select_related("partner", "conversation").order_by("partner__name")
