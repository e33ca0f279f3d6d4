"""Every URL pattern, requested as an anonymous visitor, an outsider and a member lacking the role.

The table below must name every URL pattern the resolver knows (Django admin aside, which is checked as a
whole): a new URL without an entry fails `test_every_url_pattern_has_an_entry`.
"""

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from messaging.models import Attachment
from partners import services as partner_services
from tenants.models import Membership
from tests.factories import (
    ConnectionFactory,
    ConnectionRequestFactory,
    DocumentFactory,
    MembershipFactory,
    MerchantFactory,
    OrganizationFactory,
    PartnerFactory,
    PartnerProfileFactory,
    ServiceFactory,
    StoreFactory,
    SupplierRecordFactory,
    contact_partner,
    start_conversation,
)


@dataclass
class Side:
    organization: object
    admin: object
    member: object


@dataclass
class Partners:
    """The victim partner and merchant, with one of everything between them."""

    service: object
    store: object
    service_request: object
    tag: object
    proposal: object
    job: object
    invoice: object
    match: object


@dataclass
class World:
    buyer: Side
    supplier: Side
    partner: Side
    merchant: Side
    victim_document: object
    pending_request: object
    connection: object
    supplier_record: object
    conversation: object
    attachment: object
    outsider: object
    outsider_document: object
    p: Partners
    # An outsider partner and an outsider merchant, administrators of organizations that have a request, a
    # service, a tag and a store of their own (so that their pages reach the real lookups).
    outsider_partner: object
    outsider_merchant: object
    outsider_request: object

    def side(self, kind: str) -> Side:
        return {
            "buyer": self.buyer,
            "supplier": self.supplier,
            "partner": self.partner,
            "merchant": self.merchant,
        }[kind]


@dataclass(frozen=True)
class OrgUrl:
    """A URL under /o/<org_slug>/, exercised on the victim organization of `kind`.

    `objects` builds the kwargs naming the victim's objects. `get`: a member's GET answers 200.
    `admin_get`: GET needs an administrator (a member gets 403). `admin_post`: POST needs an administrator
    (a member gets 403). `member_post`: the form a member may POST, answered with `member_status`.
    """

    objects: Callable[[World], dict] = lambda world: {}
    kind: str = "buyer"
    get: bool = True
    admin_get: bool = False
    admin_post: dict | None = None
    ok: tuple[int, ...] = (200,)
    member_post: Callable[[World], dict] | None = None
    member_status: int = 302


@dataclass(frozen=True)
class PublicUrl:
    """A URL outside any organization. `anonymous` is the status an anonymous GET gets."""

    kwargs: dict = field(default_factory=dict)
    anonymous: int = 200
    method: str = "get"


PROFILE = {"description": "Hijacked", "languages": ["en"], "regions": ["europe"], "published": "on"}
SERVICE = {
    "category": "theme",
    "title": "Hijacked",
    "description": "Hijacked",
    "price_from": "1",
    "price_to": "2",
    "currency": "USD",
}
STORE = {"name": "Hijacked", "url": "https://hijacked.example", "owner": ""}
FUTURE = (datetime.date.today() + datetime.timedelta(days=60)).isoformat()
PROPOSAL = {"title": "T", "scope": "S", "price": "100", "currency": "EUR", "delivery_date": FUTURE}

ORG_URLS: dict[str, OrgUrl] = {
    "notifications:preferences": OrgUrl(),
    "tenants:home": OrgUrl(),
    "tenants:settings": OrgUrl(admin_post={"contact_email": "hijack@example.com", "default_language": "en"}),
    "documents:list": OrgUrl(),
    "documents:detail": OrgUrl(objects=lambda w: {"document_id": w.victim_document.pk}),
    # Supplier administrators
    "connections:requests": OrgUrl(kind="supplier", admin_get=True),
    "connections:search": OrgUrl(kind="supplier", get=False, admin_post={"query": "victim"}),
    "connections:request_new": OrgUrl(kind="supplier", admin_get=True, admin_post={}),
    "connections:suggestion_connect": OrgUrl(
        kind="supplier", get=False, objects=lambda w: {"customer_id": w.buyer.organization.pk}, admin_post={}
    ),
    # Customer administrators
    "connections:incoming": OrgUrl(admin_get=True),
    "connections:incoming_approve": OrgUrl(
        get=False, objects=lambda w: {"request_id": w.pending_request.pk}, admin_post={}
    ),
    "connections:incoming_reject": OrgUrl(
        admin_get=True, objects=lambda w: {"request_id": w.pending_request.pk}, admin_post={"comment": "no"}
    ),
    "connections:supplier_records": OrgUrl(
        admin_post={"name": "Evil Corp", "contact_email": "evil@example.com", "number": ""}
    ),
    "connections:supplier_record_edit": OrgUrl(
        admin_get=True,
        objects=lambda w: {"record_id": w.supplier_record.pk},
        admin_post={"name": "Renamed", "contact_email": "x@example.com", "number": ""},
    ),
    "connections:supplier_record_delete": OrgUrl(
        get=False, objects=lambda w: {"record_id": w.supplier_record.pk}, admin_post={}
    ),
    # Both sides
    "connections:detail": OrgUrl(kind="supplier", objects=lambda w: {"connection_id": w.connection.pk}),
    # Messages (any member of a buyer or supplier)
    "messaging:inbox": OrgUrl(),
    "messaging:compose": OrgUrl(),
    "messaging:badge": OrgUrl(),
    "messaging:upgrade": OrgUrl(kind="supplier"),
    "messaging:conversation": OrgUrl(
        objects=lambda w: {"conversation_id": w.conversation.pk}, member_post=lambda w: {"body": "Hijacked"}
    ),
    "messaging:conversation_live": OrgUrl(
        objects=lambda w: {"conversation_id": w.conversation.pk}, ok=(200, 204)
    ),
    "messaging:document_messages": OrgUrl(
        objects=lambda w: {"document_id": w.victim_document.pk},
        member_post=lambda w: {"subject": "Hijacked", "body": "Hijacked"},
    ),
    "messaging:attachment": OrgUrl(objects=lambda w: {"attachment_id": w.attachment.pk}),
    # Partners: Services (administrators edit), Messages, Manage tags (any member)
    "partners:services": OrgUrl(kind="partner"),
    "partners:profile": OrgUrl(kind="partner", admin_get=True, admin_post=PROFILE),
    "partners:service_new": OrgUrl(kind="partner", admin_get=True, admin_post=SERVICE),
    "partners:service_edit": OrgUrl(
        kind="partner", admin_get=True, objects=lambda w: {"service_id": w.p.service.pk}, admin_post=SERVICE
    ),
    "partners:service_delete": OrgUrl(
        kind="partner", get=False, objects=lambda w: {"service_id": w.p.service.pk}, admin_post={}
    ),
    "partners:inbox": OrgUrl(kind="partner"),
    "partners:tags": OrgUrl(kind="partner", member_post=lambda w: {"name": "Urgent"}),
    "partners:tag_edit": OrgUrl(
        kind="partner",
        objects=lambda w: {"tag_id": w.p.tag.pk},
        member_post=lambda w: {f"tag-{w.p.tag.pk}-name": "Renamed"},
    ),
    "partners:tag_delete": OrgUrl(
        kind="partner", objects=lambda w: {"tag_id": w.p.tag.pk}, member_post=lambda w: {}
    ),
    # Merchants: finding a partner, their requests (any member), stores (administrators)
    "partners:experts": OrgUrl(kind="merchant"),
    "partners:contact": OrgUrl(
        kind="merchant",
        objects=lambda w: {"service_id": w.p.service.pk},
        member_post=lambda w: {"budget": "unknown", "requirements": "A new theme."},
    ),
    "partners:match": OrgUrl(
        kind="merchant",
        member_post=lambda w: {
            "category": "theme",
            "budget": "unknown",
            "language": "en",
            "region": "europe",
            "requirements": "A new theme.",
        },
    ),
    "partners:match_detail": OrgUrl(kind="merchant", objects=lambda w: {"match_id": w.p.match.pk}),
    "partners:requests": OrgUrl(kind="merchant"),
    "partners:stores": OrgUrl(kind="merchant"),
    "partners:store_new": OrgUrl(kind="merchant", admin_get=True, admin_post=STORE),
    "partners:store_edit": OrgUrl(
        kind="merchant", admin_get=True, objects=lambda w: {"store_id": w.p.store.pk}, admin_post=STORE
    ),
    # The conversation of a request: both sides, except tags, declining and blocking (the partner's)
    "partners:request": OrgUrl(
        kind="partner",
        objects=lambda w: {"request_id": w.p.service_request.pk},
        member_post=lambda w: {"body": "Thanks, we are on it."},
    ),
    "partners:request_live": OrgUrl(
        kind="partner", objects=lambda w: {"request_id": w.p.service_request.pk}, ok=(200, 204)
    ),
    "partners:request_tag_add": OrgUrl(
        kind="partner",
        get=False,
        objects=lambda w: {"request_id": w.p.service_request.pk},
        member_post=lambda w: {"name": "Urgent"},
    ),
    "partners:request_tag_remove": OrgUrl(
        kind="partner",
        get=False,
        objects=lambda w: {"request_id": w.p.service_request.pk, "tag_id": w.p.tag.pk},
        member_post=lambda w: {},
    ),
    "partners:proposal_send": OrgUrl(
        kind="partner",
        get=False,
        objects=lambda w: {"request_id": w.p.service_request.pk},
        # Another proposal waits for the merchant's answer: the form comes back with the reason.
        member_post=lambda w: PROPOSAL,
        member_status=400,
    ),
    "partners:proposal_move": OrgUrl(
        kind="merchant",
        get=False,
        objects=lambda w: {
            "request_id": w.p.service_request.pk,
            "proposal_id": w.p.proposal.pk,
            "action": "accept",
        },
        member_post=lambda w: {},
    ),
    "partners:job_move": OrgUrl(
        kind="partner",
        get=False,
        objects=lambda w: {"request_id": w.p.service_request.pk, "job_id": w.p.job.pk, "action": "complete"},
        member_post=lambda w: {},
    ),
    "partners:invoice_send": OrgUrl(
        kind="partner",
        get=False,
        objects=lambda w: {"request_id": w.p.service_request.pk, "job_id": w.p.job.pk},
        member_post=lambda w: {f"job-{w.p.job.pk}-amount": "250", f"job-{w.p.job.pk}-due_date": FUTURE},
    ),
    "partners:invoice_move": OrgUrl(
        kind="partner",
        get=False,
        objects=lambda w: {
            "request_id": w.p.service_request.pk,
            "invoice_id": w.p.invoice.pk,
            "action": "paid",
        },
        member_post=lambda w: {},
    ),
    "partners:request_decline": OrgUrl(
        kind="partner",
        objects=lambda w: {"request_id": w.p.service_request.pk},
        member_post=lambda w: {"text": "Sorry, we cannot help."},
    ),
    "partners:merchant_block": OrgUrl(
        kind="partner",
        admin_get=True,
        objects=lambda w: {"request_id": w.p.service_request.pk},
        admin_post={},
    ),
}

# Pages of the conversation of a request that answer both its partner and its merchant.
SHARED_REQUEST_URLS = {
    "partners:request",
    "partners:request_live",
    "partners:proposal_move",
    "partners:job_move",
    "partners:invoice_move",
}
PARTNERS_URLS = sorted(name for name in ORG_URLS if name.startswith("partners:"))

PUBLIC_URLS: dict[str, PublicUrl] = {
    # Signed per user and organization; anything else is a 404 (tests/notifications cover a real token).
    "notifications:unsubscribe": PublicUrl(kwargs={"token": "not-a-signed-token"}, anonymous=404),
    # The provider webhook: without the basic-auth secret, anymail answers 400 and reads nothing.
    "notifications:inbound_postmark": PublicUrl(anonymous=400, method="post"),
    "home": PublicUrl(anonymous=302),
    "login": PublicUrl(),
    "logout": PublicUrl(anonymous=302, method="post"),
    "password_reset": PublicUrl(),
    "password_reset_done": PublicUrl(),
    "password_reset_confirm": PublicUrl(kwargs={"uidb64": "MQ", "token": "set-password"}),
    "password_reset_complete": PublicUrl(),
    "set_language": PublicUrl(anonymous=302, method="post"),
    "healthz": PublicUrl(),
}


def _walk(patterns, prefix="", namespace=None):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or namespace
            if ns == "admin":
                continue
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield name, prefix + str(entry.pattern)


ALL_PATTERNS = list(_walk(get_resolver().url_patterns))


def test_every_url_pattern_has_an_entry():
    unnamed = [route for name, route in ALL_PATTERNS if not name]
    assert not unnamed, f"URL patterns need a name to be checked: {unnamed}"
    names = {name for name, _ in ALL_PATTERNS}
    missing = names - ORG_URLS.keys() - PUBLIC_URLS.keys()
    assert not missing, f"Add these URL names to tests/test_isolation.py: {sorted(missing)}"
    stale = (ORG_URLS.keys() | PUBLIC_URLS.keys()) - names
    assert not stale, f"No longer URL patterns: {sorted(stale)}"
    for name, route in ALL_PATTERNS:
        assert (name in ORG_URLS) == route.startswith("o/<slug:org_slug>/"), (
            f"{name} ({route}) is in the wrong table"
        )


def _side(organization):
    return Side(
        organization=organization,
        admin=MembershipFactory(organization=organization, role=Membership.Role.ADMINISTRATOR).user,
        member=MembershipFactory(organization=organization, role=Membership.Role.MEMBER).user,
    )


def _membership(user, organization):
    return Membership.objects.select_related("organization").get(user=user, organization=organization)


def _partners_world(partner: Side, merchant: Side, category: str) -> Partners:
    """A published partner with a service and a tag; a merchant with a store who contacted it, accepted one
    proposal (a job with an invoice) and has another waiting; and a matching request that reaches only this
    partner (the only one offering `category`)."""
    as_partner = _membership(partner.admin, partner.organization)
    as_merchant = _membership(merchant.admin, merchant.organization)
    PartnerProfileFactory(organization=partner.organization)
    service = ServiceFactory(partner=partner.organization, category=category)
    store = StoreFactory(merchant=merchant.organization, owner=merchant.admin)
    service_request = contact_partner(merchant.admin, partner.organization, store=store)
    tag = partner_services.tag_create(actor=partner.admin, membership=as_partner, name="Priority")
    partner_services.tags_add(
        actor=partner.admin, membership=as_partner, request=service_request, tag_ids=[tag.pk]
    )
    proposal = {
        "title": "New theme",
        "scope": "Design and build.",
        "price": Decimal("1500"),
        "currency": "EUR",
        "delivery_date": timezone.localdate() + datetime.timedelta(days=30),
    }
    accepted = partner_services.proposal_send(
        actor=partner.admin, membership=as_partner, request=service_request, **proposal
    )
    partner_services.proposal_move(
        actor=merchant.admin, membership=as_merchant, proposal=accepted, to="accepted"
    )
    job = accepted.job
    invoice = partner_services.job_invoice_send(
        actor=partner.admin,
        membership=as_partner,
        job=job,
        amount=Decimal("500"),
        due_date=timezone.localdate() + datetime.timedelta(days=14),
    )
    waiting = partner_services.proposal_send(
        actor=partner.admin, membership=as_partner, request=service_request, **proposal
    )
    match = partner_services.match_request_send(
        actor=merchant.admin,
        membership=as_merchant,
        category=service.category,
        store=store,
        budget="unknown",
        language="en",
        region="europe",
        requirements="A theme for our store.",
    )
    return Partners(
        service=service,
        store=store,
        service_request=service_request,
        tag=tag,
        proposal=waiting,
        job=job,
        invoice=invoice,
        match=match,
    )


@pytest.fixture
def world(db):
    buyer = _side(OrganizationFactory(slug="victim", kind="buyer"))
    supplier = _side(OrganizationFactory(slug="victim-supplier", kind="supplier", tier="enterprise"))
    partner = _side(PartnerFactory(slug="victim-partner"))
    merchant = _side(MerchantFactory(slug="victim-merchant"))
    outsider = OrganizationFactory(slug="outsider", kind="buyer")
    record = SupplierRecordFactory(buyer=buyer.organization)
    connection = ConnectionFactory(supplier=supplier.organization, customer=buyer.organization)
    conversation = start_conversation(
        buyer.admin, supplier.organization, files=[("plan.pdf", b"%PDF-1.4 plan")]
    )
    outsider_partner = _side(PartnerFactory(slug="outsider-partner"))
    outsider_merchant = _side(MerchantFactory(slug="outsider-merchant"))
    outsiders = _partners_world(outsider_partner, outsider_merchant, "seo")
    return World(
        buyer=buyer,
        supplier=supplier,
        partner=partner,
        merchant=merchant,
        victim_document=DocumentFactory(buyer=buyer.organization, supplier=supplier.organization),
        pending_request=ConnectionRequestFactory(supplier=supplier.organization, customer=buyer.organization),
        connection=connection,
        supplier_record=record,
        conversation=conversation,
        attachment=Attachment.objects.get(message__conversation=conversation),
        outsider=MembershipFactory(organization=outsider, role=Membership.Role.ADMINISTRATOR).user,
        outsider_document=DocumentFactory(buyer=outsider, supplier=supplier.organization),
        p=_partners_world(partner, merchant, "theme"),
        outsider_partner=outsider_partner.admin,
        outsider_merchant=outsider_merchant.admin,
        outsider_request=outsiders.service_request,
    )


def _url(name, slug, kwargs):
    return reverse(name, kwargs={"org_slug": slug, **kwargs})


def _normalized(response) -> str:
    """The body without what differs by design: the masked CSRF token and the path that was asked for."""
    body = response.content.decode().replace(response.wsgi_request.path, "<path>")
    return re.sub(r'(csrfmiddlewaretoken" value=|X-CSRFToken": )"[^"]+"', r"\1", body)


@pytest.mark.parametrize("name", sorted(ORG_URLS))
def test_anonymous_is_sent_to_sign_in(client, world, name):
    case = ORG_URLS[name]
    url = _url(name, world.side(case.kind).organization.slug, case.objects(world))
    for method in ("get", "post"):
        response = getattr(client, method)(url)
        assert response.status_code == 302, (method, url)
        assert response.url.startswith(reverse("login")), (method, url)


@pytest.mark.parametrize("name", sorted(ORG_URLS))
def test_outsider_gets_the_same_404_as_for_nothing(client, world, name):
    case = ORG_URLS[name]
    client.force_login(world.outsider)
    kwargs = case.objects(world)
    victims_url = _url(name, world.side(case.kind).organization.slug, kwargs)
    nowhere_url = _url(name, "no-such-organization", kwargs)
    victim = client.get(victims_url)
    nowhere = client.get(nowhere_url)
    assert victim.status_code == 404
    assert nowhere.status_code == 404
    assert _normalized(victim) == _normalized(nowhere)
    assert client.post(victims_url, case.admin_post or {}).status_code == 404
    if kwargs:
        # The victim's object under the outsider's own organization: the same 404 as a missing object.
        method = client.get if case.get or case.admin_get else client.post
        theirs = method(_url(name, "outsider", kwargs))
        missing = method(_url(name, "outsider", dict.fromkeys(kwargs, 987654321)))
        assert theirs.status_code == missing.status_code == 404
        assert _normalized(theirs) == _normalized(missing)


@pytest.mark.parametrize("name", sorted(ORG_URLS))
def test_member_lacking_the_role(client, world, name):
    case = ORG_URLS[name]
    side = world.side(case.kind)
    url = _url(name, side.organization.slug, case.objects(world))
    client.force_login(side.member)
    if case.admin_get:
        response = client.get(url)
        assert response.status_code == 403
        assert b"administrators" in response.content
    elif case.get:
        assert client.get(url).status_code in case.ok
    if case.member_post is not None:
        assert client.post(url, case.member_post(world)).status_code == case.member_status
    if case.admin_post is not None:
        response = client.post(url, case.admin_post)
        assert response.status_code == 403
        assert b"administrators" in response.content
        client.force_login(side.admin)
        assert client.post(url, case.admin_post).status_code in (200, 302)
    if case.admin_get:
        client.force_login(side.admin)
        assert client.get(url).status_code in (200, 302)


def _request(client, name, url, **headers):
    """GET for pages, POST (with the administrator's form) for actions that only take a POST."""
    case = ORG_URLS[name]
    if case.get or case.admin_get:
        return client.get(url, headers=headers)
    return client.post(url, case.admin_post or {}, headers=headers)


def _missing(kwargs: dict) -> dict:
    """The same URL naming objects that do not exist (an action slug stays as it is)."""
    return {key: 987654321 if key.endswith("_id") else value for key, value in kwargs.items()}


@pytest.mark.parametrize("outsider", ["partner", "merchant"])
@pytest.mark.parametrize("name", PARTNERS_URLS)
def test_outsider_partner_or_merchant_gets_the_same_404_as_for_nothing(client, world, name, outsider):
    """The buyer outsider above meets "no such page" on every partners URL; a partner or a merchant of
    another organization reaches the real lookups, and must meet the same 404 as for a missing object."""
    case = ORG_URLS[name]
    own_slug = f"outsider-{outsider}"
    client.force_login(world.outsider_partner if outsider == "partner" else world.outsider_merchant)
    kwargs = case.objects(world)
    victim = _request(client, name, _url(name, world.side(case.kind).organization.slug, kwargs))
    nowhere = _request(client, name, _url(name, "no-such-organization", kwargs))
    assert victim.status_code == nowhere.status_code == 404
    assert _normalized(victim) == _normalized(nowhere)
    if not kwargs:
        return
    theirs = _request(client, name, _url(name, own_slug, kwargs))
    missing = _request(client, name, _url(name, own_slug, _missing(kwargs)))
    if name == "partners:contact" and outsider == "merchant":
        # A published service is in every merchant's catalogue: any merchant may open its contact page.
        assert theirs.status_code == 200 and missing.status_code == 404
        return
    assert theirs.status_code == missing.status_code == 404, theirs.status_code
    assert _normalized(theirs) == _normalized(missing)
    if "request_id" in kwargs and len([key for key in kwargs if key.endswith("_id")]) > 1:
        # The outsider's own request, naming the victim's proposal, job, invoice or tag.
        own = world.outsider_request.pk
        theirs = _request(client, name, _url(name, own_slug, {**kwargs, "request_id": own}))
        missing = _request(client, name, _url(name, own_slug, {**_missing(kwargs), "request_id": own}))
        assert theirs.status_code == missing.status_code == 404, theirs.status_code
        assert _normalized(theirs) == _normalized(missing)


HTMX_TARGETS = {
    "messaging:inbox": "conversation-list",
    "messaging:compose": "counterpart-choices",
    "messaging:document_messages": "document-messages",
    "connections:search": "search-panel",
    "documents:list": "document-results",
    "partners:inbox": "request-list",
    "partners:experts": "service-results",
    "partners:tags": "tag-manager",
    "partners:tag_edit": "tag-manager",
    "partners:tag_delete": "tag-manager",
    "partners:request_tag_add": "request-tags",
    "partners:request_tag_remove": "request-tags",
}


@pytest.mark.parametrize("name", sorted(ORG_URLS))
def test_htmx_requests_of_an_outsider_get_the_same_404(client, world, name):
    """The regions htmx swaps are no back door: the same 404, for GET and POST, as for nothing."""
    case = ORG_URLS[name]
    headers = {"HX-Request": "true", "HX-Target": HTMX_TARGETS.get(name, "main"), "HX-Current-URL": "/"}
    kwargs = case.objects(world)
    outsiders = [("outsider", world.outsider)]
    if name.startswith("partners:"):
        outsiders += [
            ("outsider-partner", world.outsider_partner),
            ("outsider-merchant", world.outsider_merchant),
        ]
    for own_slug, user in outsiders:
        client.force_login(user)
        victims_url = _url(name, world.side(case.kind).organization.slug, kwargs)
        nowhere_url = _url(name, "no-such-organization", kwargs)
        for method in ("get", "post"):
            victim = getattr(client, method)(victims_url, headers=headers)
            nowhere = getattr(client, method)(nowhere_url, headers=headers)
            assert victim.status_code == nowhere.status_code == 404, (own_slug, method)
            assert _normalized(victim) == _normalized(nowhere)
        if kwargs and not (name == "partners:contact" and own_slug == "outsider-merchant"):
            theirs = _request(client, name, _url(name, own_slug, kwargs), **headers)
            missing = _request(client, name, _url(name, own_slug, _missing(kwargs)), **headers)
            assert theirs.status_code == missing.status_code == 404, own_slug
            assert _normalized(theirs) == _normalized(missing)


@pytest.mark.parametrize("name", sorted(ORG_URLS))
def test_anonymous_htmx_requests_are_sent_to_sign_in(client, world, name):
    """An htmx request without a session gets the same redirect as a page, and nothing of the region."""
    case = ORG_URLS[name]
    url = _url(name, world.side(case.kind).organization.slug, case.objects(world))
    headers = {"HX-Request": "true", "HX-Target": HTMX_TARGETS.get(name, "main"), "HX-Current-URL": "/"}
    for method in ("get", "post"):
        response = getattr(client, method)(url, headers=headers)
        assert response.status_code == 302, (method, url)
        assert response.url.startswith(reverse("login")) and not response.content


# Tables an outsider's request could write to: every model of the project's own apps.
OWN_APPS = ("tenants", "documents", "connections", "messaging", "partners", "notifications")


def _database() -> dict[str, list]:
    """Every row of the project's tables (the world is small): any write by a refused request shows."""
    from django.apps import apps

    return {
        model._meta.label: list(model.objects.order_by("pk").values_list())
        for app in OWN_APPS
        for model in apps.get_app_config(app).get_models()
    }


def _form(world, case) -> dict:
    """The form the page's rightful user would send: an administrator's, else a member's."""
    if case.admin_post is not None:
        return case.admin_post
    return case.member_post(world) if case.member_post else {}


# Pages that name objects and take a form.
FORM_URLS = sorted(
    name
    for name, case in ORG_URLS.items()
    if (case.admin_post is not None or case.member_post is not None) and case.objects is not OrgUrl().objects
)


@pytest.mark.parametrize("name", FORM_URLS)
def test_an_outsiders_form_naming_the_victims_objects_gets_404_and_saves_nothing(client, world, name):
    """The form of a page posted by an outsider under their own organization, naming the victim's objects
    (ids in the path, the page's own fields in the body), as a page and as htmx: the 404 of a missing
    object, and not a row written or changed anywhere."""
    case = ORG_URLS[name]
    kwargs = case.objects(world)
    outsiders = [("outsider", world.outsider)]
    if name.startswith("partners:"):
        outsiders += [
            ("outsider-partner", world.outsider_partner),
            ("outsider-merchant", world.outsider_merchant),
        ]
    before = _database()
    for own_slug, user in outsiders:
        if name == "partners:contact" and own_slug == "outsider-merchant":
            continue  # a published service is every merchant's to contact (see above)
        client.force_login(user)
        for headers in ({}, {"HX-Request": "true", "HX-Target": HTMX_TARGETS.get(name, "main")}):
            theirs = client.post(_url(name, own_slug, kwargs), _form(world, case), headers=headers)
            missing = client.post(_url(name, own_slug, _missing(kwargs)), _form(world, case), headers=headers)
            assert theirs.status_code == missing.status_code == 404, (own_slug, headers)
            assert _normalized(theirs) == _normalized(missing)
    client.logout()
    after = _database()
    # Signing in writes the session and last_login; nothing else may differ.
    for label in ("tenants.User",):
        before.pop(label), after.pop(label)
    assert after == before


@pytest.mark.parametrize("name", sorted(ORG_URLS))
def test_the_other_kind_of_organization_gets_404_or_its_page(client, world, name):
    """Supplier pages do not exist for buyers and the reverse; shared pages answer both. Partner pages do not
    exist for merchants and the reverse, except the conversation of a request, which answers its two sides."""
    case = ORG_URLS[name]
    if name.startswith("partners:"):
        other = world.merchant if case.kind == "partner" else world.partner
        client.force_login(other.admin)
        response = _request(client, name, _url(name, other.organization.slug, case.objects(world)))
        if name in SHARED_REQUEST_URLS:
            assert response.status_code in (200, 204, 302, 400)
        else:
            assert response.status_code == 404
        # Buyers and suppliers have no partners pages at all.
        for side in (world.buyer, world.supplier):
            client.force_login(side.admin)
            assert (
                _request(client, name, _url(name, side.organization.slug, case.objects(world))).status_code
                == 404
            )
        return
    other = world.supplier if case.kind == "buyer" else world.buyer
    client.force_login(other.admin)
    response = client.get(_url(name, other.organization.slug, case.objects(world)))
    assert response.status_code in (200, 302, 404, 405)
    if name.startswith("connections:") and name != "connections:detail" and case.get:
        assert response.status_code == 404
    # Partners and merchants have no connections pages.
    for side in (world.partner, world.merchant):
        client.force_login(side.admin)
        response = client.get(_url(name, side.organization.slug, case.objects(world)))
        assert response.status_code in (200, 302, 404, 405)
        if name.startswith("connections:") and case.get:
            assert response.status_code == 404


@pytest.mark.parametrize("name", sorted(PUBLIC_URLS))
def test_public_urls_as_anonymous(client, db, name):
    case = PUBLIC_URLS[name]
    response = getattr(client, case.method)(reverse(name, kwargs=case.kwargs))
    assert response.status_code == case.anonymous


def test_admin_is_for_platform_staff_only(client, world):
    for user in (None, world.outsider, world.buyer.admin):
        if user:
            client.force_login(user)
        for url in (reverse("admin:index"), reverse("admin:tenants_organization_changelist")):
            response = client.get(url)
            assert response.status_code == 302
            assert response.url.startswith(reverse("admin:login"))
