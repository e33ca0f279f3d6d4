"""Every write of partners and merchants: profiles, services, stores, requests, proposals, jobs, invoices,
tags and blocks. Conversations and messages are written by messaging.services, never here."""

import datetime
import uuid
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from messaging.fragments import fragments_expire
from messaging.models import Conversation, Participant
from messaging.services import MessagingRefused, conversation_create, message_post
from tenants.models import Membership, Organization, User
from tenants.policy import Decision

from . import policy, selectors
from .fragments import inbox_expire
from .models import (
    MAX_PRICE,
    MAX_TAG_LENGTH,
    Block,
    Budget,
    Category,
    ConversationTag,
    Currency,
    Job,
    JobInvoice,
    Language,
    MatchRequest,
    PartnerProfile,
    Proposal,
    Region,
    Service,
    ServiceRequest,
    Store,
    Tag,
    TimelineRecord,
    encode_codes,
)


class PartnersRefused(MessagingRefused):
    """Something the partner and merchant rules do not allow; the text says why."""


def _refuse_unless(decision: Decision) -> None:
    if not decision:
        raise PartnersRefused(decision.reason)


def _only_partner(membership: Membership) -> None:
    if not policy.is_partner(membership.organization):
        raise PartnersRefused(_("Only partners can do this."))


def _only_merchant(membership: Membership) -> None:
    if not policy.is_merchant(membership.organization):
        raise PartnersRefused(_("Only merchants can do this."))


def _check_amount(amount: Decimal, label: str) -> Decimal:
    if amount is None or not amount.is_finite() or amount <= 0:
        raise PartnersRefused(_("%(label)s must be more than zero.") % {"label": label})
    if amount > MAX_PRICE:
        raise PartnersRefused(
            _("%(label)s can be at most %(max)s.")
            % {"label": label, "max": number_format(MAX_PRICE, force_grouping=True)}
        )
    amount = amount.quantize(Decimal("0.01"))
    if amount <= 0:  # a fraction of a cent rounds to zero, which the table's check refuses with an error
        raise PartnersRefused(_("%(label)s must be more than zero.") % {"label": label})
    return amount


def _check_currency(currency: str) -> str:
    if currency not in Currency.values:
        raise PartnersRefused(_("Choose a currency from the list."))
    return currency


# Partner profile and services -------------------------------------------------------------------------------


@transaction.atomic
def profile_update(
    *,
    actor: User,
    membership: Membership,
    description: str,
    languages: list[str],
    regions: list[str],
    published: bool,
) -> PartnerProfile:
    """Save the partner's profile. Refused for members (administrators edit) and for unknown codes."""
    _only_partner(membership)
    _refuse_unless(policy.can_edit_profile(membership))
    if set(languages) - set(Language.values) or set(regions) - set(Region.values):
        raise PartnersRefused(_("Choose languages and regions from the lists."))
    if published and not languages:
        raise PartnersRefused(_("Choose at least one language before publishing your profile."))
    profile, _created = PartnerProfile.objects.update_or_create(
        organization=membership.organization,
        defaults={
            "description": description.strip(),
            "languages": encode_codes(languages),
            "regions": encode_codes(regions),
            "published": published,
            "updated_at": timezone.now(),
        },
    )
    return profile


def _service_fields(
    category: str, title: str, description: str, price_from: Decimal, price_to: Decimal, currency: str
) -> dict:
    if category not in Category.values:
        raise PartnersRefused(_("Choose a category from the list."))
    title = " ".join(title.split())
    if not title:
        raise PartnersRefused(_("Give the service a title."))
    finite = (
        price_from is not None and price_to is not None and price_from.is_finite() and price_to.is_finite()
    )
    if not finite or price_from < 0 or price_to < price_from:
        raise PartnersRefused(_("The price range must start at zero or more and end at or above its start."))
    if price_to > MAX_PRICE:
        raise PartnersRefused(
            _("Prices can be at most %(max)s.") % {"max": number_format(MAX_PRICE, force_grouping=True)}
        )
    return {
        "category": category,
        "title": title[:120],
        "description": description.strip(),
        "price_from": price_from,
        "price_to": price_to,
        "currency": _check_currency(currency),
    }


@transaction.atomic
def service_create(
    *,
    actor: User,
    membership: Membership,
    category: str,
    title: str,
    description: str,
    price_from: Decimal,
    price_to: Decimal,
    currency: str,
) -> Service:
    """Add a service. Refused for members, an unknown category or currency, or a range that runs backwards."""
    _only_partner(membership)
    _refuse_unless(policy.can_edit_profile(membership))
    fields = _service_fields(category, title, description, price_from, price_to, currency)
    return Service.objects.create(partner=membership.organization, **fields)


@transaction.atomic
def service_update(
    *,
    actor: User,
    membership: Membership,
    service: Service,
    category: str,
    title: str,
    description: str,
    price_from: Decimal,
    price_to: Decimal,
    currency: str,
) -> Service:
    _only_partner(membership)
    _refuse_unless(policy.can_edit_profile(membership))
    fields = _service_fields(category, title, description, price_from, price_to, currency)
    Service.objects.filter(pk=service.pk, partner=membership.organization).update(**fields)
    service.refresh_from_db()
    return service


@transaction.atomic
def service_delete(*, actor: User, membership: Membership, service: Service) -> None:
    """Remove a service; conversations that started from it keep their text."""
    _only_partner(membership)
    _refuse_unless(policy.can_edit_profile(membership))
    Service.objects.filter(pk=service.pk, partner=membership.organization).delete()


# Stores -----------------------------------------------------------------------------------------------------


def _store_people(membership: Membership, owner: User | None, staff: list[User]) -> None:
    members = set(
        Membership.objects.filter(organization=membership.organization).values_list("user_id", flat=True)
    )
    people = [owner] if owner else []
    if any(person.pk not in members for person in [*people, *staff]):
        raise PartnersRefused(_("Store owners and staff must be members of your organization."))


@transaction.atomic
def store_save(
    *,
    actor: User,
    membership: Membership,
    store: Store | None = None,
    name: str,
    url: str,
    owner: User | None,
    staff: list[User],
) -> Store:
    """Add a store (store=None) or change one. Requests made for the store show its new name and URL.

    Refused for members (administrators manage stores), another organization's store, an empty name, or an
    owner or staff member who is not a member of the organization."""
    _only_merchant(membership)
    _refuse_unless(policy.can_manage_stores(membership))
    _check_store(membership, store)
    name = " ".join(name.split())
    if not name:
        raise PartnersRefused(_("Give the store a name."))
    _store_people(membership, owner, staff)
    if store is None:
        store = Store.objects.create(merchant=membership.organization, name=name[:120], url=url, owner=owner)
    else:
        store.name, store.url, store.owner = name[:120], url, owner
        Store.objects.filter(pk=store.pk).update(name=store.name, url=url, owner=owner)
        requests = list(ServiceRequest.objects.filter(store=store).only("pk", "partner_id", "contact_name"))
        for request in requests:  # search_text is lower-cased in Python: SQLite's lower() is ASCII only
            request.store_name, request.store_url = store.name, url
            request.search_text = _search_text(request.contact_name, store.name, url)
        ServiceRequest.objects.bulk_update(
            requests, ["store_name", "store_url", "search_text"], batch_size=500
        )
        inbox_expire(*{request.partner_id for request in requests})
    store.staff.set(staff)
    return store


# Starting conversations (merchants only) --------------------------------------------------------------------


def _search_text(contact_name: str, store_name: str, store_url: str) -> str:
    return " | ".join([contact_name, store_name, store_url]).lower()[:600]


def _check_store(membership: Membership, store: Store | None) -> None:
    if store is not None and store.merchant_id != membership.organization.pk:
        raise PartnersRefused(_("Choose one of your stores, or no store."))


def _language_of(user: User) -> str:
    code = (user.language or "en").split("-")[0]
    return code if code in Language.values else "en"


def _outline(
    *, service_label: str, store: Store | None, budget: str, requirements: str, language: str = ""
) -> str:
    store_line = f"{store.name} ({store.url})" if store else _("No store yet")
    lines = [
        _("Service needed: %(service)s") % {"service": service_label},
        _("Store: %(store)s") % {"store": store_line},
        _("Budget: %(budget)s") % {"budget": Budget(budget).label},
    ]
    if language:
        lines.append(_("Language: %(language)s") % {"language": Language(language).label})
    return "\n".join(lines) + "\n\n" + requirements.strip()


def _service_label(service: Service) -> str:
    category = str(service.get_category_display())
    return service.title if service.title == category else f"{service.title} ({category})"


def _open_request(
    *,
    actor: User,
    membership: Membership,
    partner: Organization,
    subject: str,
    body: str,
    store: Store | None,
    service: Service | None,
    category: str,
    budget: str,
    language: str,
    via: str,
    match: MatchRequest | None = None,
    client_token: uuid.UUID | None = None,
) -> ServiceRequest:
    conversation = conversation_create(
        actor=actor,
        organization=membership.organization,
        counterpart=partner,
        subject=subject,
        body=body,
        client_token=client_token,
    )
    existing = ServiceRequest.objects.filter(conversation=conversation).first()
    if existing is not None:  # the same form, posted twice
        return existing
    contact_name = actor.display_name
    inbox_expire(partner.pk)
    return ServiceRequest.objects.create(
        conversation=conversation,
        partner=partner,
        merchant=membership.organization,
        contact=actor,
        contact_name=contact_name[:200],
        store=store,
        store_name=store.name if store else "",
        store_url=store.url if store else "",
        service=service,
        category=category,
        budget=budget,
        language=language,
        via=via,
        match=match,
        search_text=_search_text(contact_name, store.name if store else "", store.url if store else ""),
    )


@transaction.atomic
def request_start(
    *,
    actor: User,
    membership: Membership,
    service: Service,
    store: Store | None,
    budget: str,
    requirements: str,
    client_token: uuid.UUID | None = None,
) -> ServiceRequest:
    """A merchant contacts the partner of a service: a conversation whose first message outlines the service
    needed, the store and the requirements.

    Refused (PartnersRefused) for anyone but a merchant, a partner without a published profile or services,
    a partner who blocked the merchant, another organization's store, or empty requirements.
    """
    _only_merchant(membership)
    _refuse_unless(policy.can_contact(merchant=membership.organization, partner=service.partner))
    _check_store(membership, store)
    if budget not in Budget.values:
        raise PartnersRefused(_("Choose a budget from the list."))
    if not requirements.strip():
        raise PartnersRefused(_("Describe what you need before sending."))
    return _open_request(
        actor=actor,
        membership=membership,
        partner=service.partner,
        subject=service.title,
        body=_outline(
            service_label=_service_label(service),
            store=store,
            budget=budget,
            requirements=requirements,
        ),
        store=store,
        service=service,
        category=service.category,
        budget=budget,
        language=_language_of(actor),
        via=ServiceRequest.Via.DIRECT,
        client_token=client_token,
    )


@transaction.atomic
def match_request_send(
    *,
    actor: User,
    membership: Membership,
    category: str,
    store: Store | None,
    budget: str,
    language: str,
    region: str,
    requirements: str,
    client_token: uuid.UUID | None = None,
) -> MatchRequest:
    """A merchant describes a job; up to three partners picked by selectors.match_partners each receive it
    in a conversation of their own.

    Refused when no partner fits (nothing is saved), for unknown choices, another organization's store or
    empty requirements. A form sent twice returns the first matching request.
    """
    _only_merchant(membership)
    if client_token is not None:
        existing = MatchRequest.objects.filter(
            client_token=client_token, merchant=membership.organization
        ).first()
        if existing is not None:
            return existing
    if category not in Category.values or language not in Language.values or region not in Region.values:
        raise PartnersRefused(_("Choose a category, a language and a region from the lists."))
    if budget not in Budget.values:
        raise PartnersRefused(_("Choose a budget from the list."))
    _check_store(membership, store)
    if not requirements.strip():
        raise PartnersRefused(_("Describe what you need before sending."))
    partners = selectors.match_partners(
        merchant=membership.organization, category=category, language=language, region=region
    )
    if not partners:
        raise PartnersRefused(
            _("No partner offers this service yet. Try another category, or browse the services.")
        )
    try:
        with transaction.atomic():
            match = MatchRequest.objects.create(
                merchant=membership.organization,
                created_by=actor,
                category=category,
                store=store,
                budget=budget,
                language=language,
                region=region,
                requirements=requirements.strip(),
                client_token=client_token,
            )
    except IntegrityError:  # the same form, posted twice at the same moment: the first one did the work
        return MatchRequest.objects.get(client_token=client_token, merchant=membership.organization)
    label = Category(category).label
    body = _outline(
        service_label=str(label), store=store, budget=budget, requirements=requirements, language=language
    )
    for partner in partners:
        _open_request(
            actor=actor,
            membership=membership,
            partner=partner,
            subject=str(label),
            body=body,
            store=store,
            service=None,
            category=category,
            budget=budget,
            language=language,
            via=ServiceRequest.Via.MATCHING,
            match=match,
        )
    return match


# Proposals, jobs and invoices -------------------------------------------------------------------------------


def _record(request: ServiceRequest, kind: str, actor: User, organization: Organization, **objects) -> None:
    TimelineRecord.objects.create(
        request=request, kind=kind, actor=actor, organization=organization, **objects
    )


def _touch(request: ServiceRequest, stage: str | None = None) -> None:
    """A record is news: the conversation moves up both inboxes, and the stage shown there follows."""
    now = timezone.now()
    inbox_expire(request.partner_id)
    Conversation.objects.filter(pk=request.pk).update(last_message_at=now)
    Participant.objects.filter(conversation_id=request.pk).update(last_message_at=now)
    if stage:
        ServiceRequest.objects.filter(pk=request.pk).update(stage=stage)
        request.stage = stage


def _locked_request(membership: Membership, request: ServiceRequest) -> ServiceRequest:
    organization = membership.organization
    request = (
        ServiceRequest.objects.select_for_update()
        .select_related("conversation")
        .filter(Q(partner=organization) | Q(merchant=organization))
        .get(pk=request.pk)
    )
    if not request.conversation.is_open:
        raise PartnersRefused(_("This conversation is closed. Nothing more can be done in it."))
    return request


@transaction.atomic
def proposal_send(
    *,
    actor: User,
    membership: Membership,
    request: ServiceRequest,
    title: str,
    scope: str,
    price: Decimal,
    currency: str,
    delivery_date: datetime.date,
) -> Proposal:
    """The partner proposes a job. Refused for merchants, a closed conversation, a proposal still waiting
    for an answer, a price of zero or less or over 1,000,000, an unknown currency, or a past delivery date."""
    _only_partner(membership)
    request = _locked_request(membership, request)
    if request.proposals.filter(status=Proposal.Status.SENT).exists():
        raise PartnersRefused(
            _("A proposal is waiting for the merchant's answer. Withdraw it to send another.")
        )
    title = " ".join(title.split())
    if not title or not scope.strip():
        raise PartnersRefused(_("Give the proposal a title and a scope of work."))
    price = _check_amount(price, _("The price"))
    currency = _check_currency(currency)
    today = timezone.localdate()
    if delivery_date < today or delivery_date > today + datetime.timedelta(days=3 * 366):
        raise PartnersRefused(_("Choose an estimated delivery date between today and three years from now."))
    proposal = Proposal.objects.create(
        request=request,
        title=title[:120],
        scope=scope.strip(),
        price=price,
        currency=currency,
        delivery_date=delivery_date,
        created_by=actor,
    )
    _record(request, TimelineRecord.Kind.PROPOSAL_SENT, actor, membership.organization, proposal=proposal)
    _touch(request, ServiceRequest.Stage.PROPOSAL_SENT)
    return proposal


PROPOSAL_RESULTS = {
    Proposal.Status.ACCEPTED: (TimelineRecord.Kind.PROPOSAL_ACCEPTED, ServiceRequest.Stage.JOB_OPEN),
    Proposal.Status.DECLINED: (TimelineRecord.Kind.PROPOSAL_DECLINED, ServiceRequest.Stage.PROPOSAL_DECLINED),
    Proposal.Status.WITHDRAWN: (
        TimelineRecord.Kind.PROPOSAL_WITHDRAWN,
        ServiceRequest.Stage.PROPOSAL_WITHDRAWN,
    ),
}


@transaction.atomic
def proposal_move(*, actor: User, membership: Membership, proposal: Proposal, to: str) -> Proposal:
    """The merchant accepts (a job starts) or declines a sent proposal; the partner withdraws it.

    Refused for the wrong side, a closed conversation, or a proposal no longer waiting (accepted twice,
    withdrawn, declined).
    """
    request = _locked_request(membership, proposal.request)
    proposal = Proposal.objects.select_for_update().get(pk=proposal.pk, request=request)
    _refuse_unless(policy.can_move(policy.PROPOSAL_MOVES, proposal, to, membership.organization))
    proposal.status = to
    Proposal.objects.filter(pk=proposal.pk).update(status=to)
    kind, stage = PROPOSAL_RESULTS[to]
    job = Job.objects.create(request=request, proposal=proposal) if to == Proposal.Status.ACCEPTED else None
    _record(request, kind, actor, membership.organization, proposal=proposal, job=job)
    _touch(request, stage)
    return proposal


JOB_RESULTS = {
    Job.Status.COMPLETED: (TimelineRecord.Kind.JOB_COMPLETED, ServiceRequest.Stage.JOB_COMPLETED),
    Job.Status.CLOSED: (TimelineRecord.Kind.JOB_CLOSED, ServiceRequest.Stage.JOB_CLOSED),
}


@transaction.atomic
def job_move(*, actor: User, membership: Membership, job: Job, to: str) -> Job:
    """A job goes open → completed (the partner) → closed (either side); any other order is refused."""
    request = _locked_request(membership, job.request)
    job = Job.objects.select_for_update().get(pk=job.pk, request=request)
    _refuse_unless(policy.can_move(policy.JOB_MOVES, job, to, membership.organization))
    job.status = to
    Job.objects.filter(pk=job.pk).update(status=to, updated_at=timezone.now())
    kind, stage = JOB_RESULTS[to]
    _record(request, kind, actor, membership.organization, job=job, proposal_id=job.proposal_id)
    _touch(request, stage)
    return job


@transaction.atomic
def job_invoice_send(
    *, actor: User, membership: Membership, job: Job, amount: Decimal, due_date: datetime.date
) -> JobInvoice:
    """The partner invoices an open or completed job, in the job's currency. Refused for merchants, a closed
    or declined job, an amount of zero or less or over 1,000,000, or a due date in the past."""
    _only_partner(membership)
    request = _locked_request(membership, job.request)
    job = Job.objects.select_for_update().select_related("proposal").get(pk=job.pk, request=request)
    if job.status not in (Job.Status.OPEN, Job.Status.COMPLETED):
        raise PartnersRefused(
            _("Only an open or completed job can be invoiced; this one is “%(status)s”.")
            % {"status": job.get_status_display()}
        )
    amount = _check_amount(amount, _("The amount"))
    today = timezone.localdate()
    if due_date < today or due_date > today + datetime.timedelta(days=366):
        raise PartnersRefused(_("Choose a due date between today and one year from now."))
    invoice = JobInvoice.objects.create(
        job=job, amount=amount, currency=job.proposal.currency, due_date=due_date, created_by=actor
    )
    _record(
        request, TimelineRecord.Kind.INVOICE_SENT, actor, membership.organization, job=job, invoice=invoice
    )
    _touch(request)
    return invoice


INVOICE_RESULTS = {
    JobInvoice.Status.PAID: TimelineRecord.Kind.INVOICE_PAID,
    JobInvoice.Status.CLOSED: TimelineRecord.Kind.INVOICE_CLOSED,
}


@transaction.atomic
def job_invoice_move(*, actor: User, membership: Membership, invoice: JobInvoice, to: str) -> JobInvoice:
    """The partner marks an open invoice paid, or closes it. Anything else is refused."""
    request = _locked_request(membership, invoice.job.request)
    invoice = JobInvoice.objects.select_for_update().get(pk=invoice.pk, job__request=request)
    _refuse_unless(policy.can_move(policy.INVOICE_MOVES, invoice, to, membership.organization))
    invoice.status = to
    JobInvoice.objects.filter(pk=invoice.pk).update(status=to)
    _record(
        request, INVOICE_RESULTS[to], actor, membership.organization, job_id=invoice.job_id, invoice=invoice
    )
    _touch(request)
    return invoice


@transaction.atomic
def request_decline(*, actor: User, membership: Membership, request: ServiceRequest, text: str) -> None:
    """The partner answers that it cannot help: the text is posted as its message, an open job is declined
    and a waiting proposal closed. The conversation stays open for the merchant's answer. Nothing read by
    matching changes (profiles, services, blocks)."""
    _only_partner(membership)
    request = _locked_request(membership, request)
    if request.stage == ServiceRequest.Stage.DECLINED:  # a second click, or a second colleague
        raise PartnersRefused(_("This request has already been declined."))
    message_post(actor=actor, membership=membership, conversation=request.conversation, body=text)
    organization = membership.organization
    for proposal in request.proposals.filter(status=Proposal.Status.SENT):
        Proposal.objects.filter(pk=proposal.pk).update(status=Proposal.Status.CLOSED)
        _record(request, TimelineRecord.Kind.PROPOSAL_CLOSED, actor, organization, proposal=proposal)
    for job in request.jobs.filter(status=Job.Status.OPEN):
        Job.objects.filter(pk=job.pk).update(status=Job.Status.DECLINED, updated_at=timezone.now())
        _record(
            request,
            TimelineRecord.Kind.JOB_DECLINED,
            actor,
            organization,
            job=job,
            proposal_id=job.proposal_id,
        )
    _record(request, TimelineRecord.Kind.REQUEST_DECLINED, actor, organization)
    _touch(request, ServiceRequest.Stage.DECLINED)


@transaction.atomic
def merchant_block(*, actor: User, membership: Membership, request: ServiceRequest) -> Block:
    """The partner blocks the merchant of `request`, for good. In this one transaction every proposal, job
    and invoice between the two is closed and so is every conversation; the merchant cannot contact the
    partner again (policy.can_contact), reply (closed conversations) or be matched with it."""
    _only_partner(membership)
    _refuse_unless(policy.can_block(membership))
    partner = membership.organization
    if request.partner_id != partner.pk:
        raise PartnersRefused(_("Only partners can do this."))
    try:
        with transaction.atomic():
            block = Block.objects.create(partner=partner, merchant=request.merchant, created_by=actor)
    except IntegrityError:
        raise PartnersRefused(_("You have already blocked this merchant.")) from None
    requests = list(
        ServiceRequest.objects.select_for_update().filter(partner=partner, merchant=request.merchant)
    )
    ids = [r.pk for r in requests]
    Proposal.objects.filter(request_id__in=ids, status=Proposal.Status.SENT).update(
        status=Proposal.Status.CLOSED
    )
    Job.objects.filter(request_id__in=ids, status__in=[Job.Status.OPEN, Job.Status.COMPLETED]).update(
        status=Job.Status.CLOSED, updated_at=timezone.now()
    )
    JobInvoice.objects.filter(job__request_id__in=ids, status=JobInvoice.Status.OPEN).update(
        status=JobInvoice.Status.CLOSED
    )
    Conversation.objects.filter(pk__in=ids).update(status=Conversation.Status.CLOSED)
    fragments_expire()  # an update() sends no post_save
    inbox_expire(partner.pk)
    ServiceRequest.objects.filter(pk__in=ids).update(stage=ServiceRequest.Stage.CLOSED)
    TimelineRecord.objects.bulk_create(
        [
            TimelineRecord(
                request=r, kind=TimelineRecord.Kind.MERCHANT_BLOCKED, actor=actor, organization=partner
            )
            for r in requests
        ]
    )
    return block


# Tags (partner organizations) -------------------------------------------------------------------------------


def _tag_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise PartnersRefused(_("Write a tag name."))
    if len(name) > MAX_TAG_LENGTH:
        raise PartnersRefused(
            _("A tag name can be at most %(max)d characters long.") % {"max": MAX_TAG_LENGTH}
        )
    return name


def _same_name(organization: Organization, name: str, exclude: int | None = None) -> Tag | None:
    """The organization's tag with this name ignoring case (compared in Python: SQLite folds ASCII only)."""
    wanted = name.casefold()
    tags = Tag.objects.filter(organization=organization).exclude(pk=exclude or 0)
    return next((tag for tag in tags if tag.name.casefold() == wanted), None)


def _save_tag(tag: Tag) -> Tag:
    try:
        with transaction.atomic():
            tag.save()
    except IntegrityError:
        raise PartnersRefused(_("A tag named “%(name)s” already exists.") % {"name": tag.name}) from None
    return tag


@transaction.atomic
def tag_create(*, actor: User, membership: Membership, name: str) -> Tag:
    """A new tag for everyone in the partner organization. Refused for an empty name, more than 40
    characters, or a name that exists already, ignoring case."""
    _only_partner(membership)
    name = _tag_name(name)
    if _same_name(membership.organization, name):
        raise PartnersRefused(_("A tag named “%(name)s” already exists.") % {"name": name})
    return _save_tag(Tag(organization=membership.organization, name=name))


@transaction.atomic
def tag_rename(*, actor: User, membership: Membership, tag: Tag, name: str) -> Tag:
    """Every conversation with the tag shows the new name. Refused like tag_create."""
    _only_partner(membership)
    name = _tag_name(name)
    if _same_name(membership.organization, name, exclude=tag.pk):
        raise PartnersRefused(_("A tag named “%(name)s” already exists.") % {"name": name})
    tag = Tag.objects.select_for_update().get(pk=tag.pk, organization=membership.organization)
    tag.name = name
    inbox_expire(tag.organization_id)
    return _save_tag(tag)


@transaction.atomic
def tag_delete(*, actor: User, membership: Membership, tag: Tag) -> None:
    """The tag goes, and with it from every conversation."""
    _only_partner(membership)
    inbox_expire(membership.organization.pk)
    Tag.objects.filter(pk=tag.pk, organization=membership.organization).delete()


@transaction.atomic
def tags_add(
    *,
    actor: User,
    membership: Membership,
    request: ServiceRequest,
    names: list[str] = (),
    tag_ids: list[int] = (),
) -> list[Tag]:
    """Put tags on a conversation: existing ones by id, or by name (an unknown name creates the tag). Refused,
    with nothing saved, for a tag id of another organization or a bad name."""
    _only_partner(membership)
    organization = membership.organization
    if request.partner_id != organization.pk:
        raise PartnersRefused(_("Only partners can do this."))
    tags = list(Tag.objects.filter(organization=organization, pk__in=list(tag_ids)))
    if len(tags) != len(set(tag_ids)):
        raise PartnersRefused(_("That tag does not exist. Reload the page and try again."))
    for raw in names:
        name = _tag_name(raw)
        tags.append(_same_name(organization, name) or _save_tag(Tag(organization=organization, name=name)))
    if not tags:
        raise PartnersRefused(_("Write a tag name."))
    have = set(request.tag_links.values_list("tag_id", flat=True))
    new = {tag.pk: tag for tag in tags if tag.pk not in have}
    ConversationTag.objects.bulk_create(
        [ConversationTag(request=request, tag=tag) for tag in new.values()], ignore_conflicts=True
    )
    inbox_expire(organization.pk)
    return tags


@transaction.atomic
def tag_remove(*, actor: User, membership: Membership, request: ServiceRequest, tag: Tag) -> None:
    _only_partner(membership)
    inbox_expire(membership.organization.pk)
    ConversationTag.objects.filter(
        request=request, tag=tag, tag__organization=membership.organization
    ).delete()
