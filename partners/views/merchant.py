"""Merchant pages: finding a partner (browse and contact, or matching), their requests, and stores."""

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from messaging.paging import keyset_page
from tenants.decorators import organization_required
from tenants.limits import limit
from tenants.selectors import membership_list

from .. import policy, selectors, services
from ..forms import ContactForm, MatchForm, ServiceFilterForm, StoreForm
from .common import allowed, htmx_target, only


@require_GET
@organization_required
def experts(request):
    """Browse published partners' services: filter by category, language and region, search by text."""
    only(request, "merchant")
    form = ServiceFilterForm(request.GET)
    filters = form.cleaned_data if form.is_valid() else {}
    if filters.get("q"):
        limit(request, "search")
    found = selectors.service_list(
        merchant=request.organization,
        category=filters.get("category", ""),
        language=filters.get("language", ""),
        region=filters.get("region", ""),
        query=filters.get("q", ""),
    )
    page = Paginator(found, settings.PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        htmx_target(request, "partners/experts.html", "service-results"),
        {"form": form, "page": page, "filtered": any(filters.values()) if filters else False},
    )


@require_http_methods(["GET", "POST"])
@organization_required
def contact(request, service_id: int):
    """Contact the partner of a service: the service needed, the store (or none) and the requirements."""
    only(request, "merchant")
    service = selectors.access_service(merchant=request.organization, id=service_id)
    decision = policy.can_contact(merchant=request.organization, partner=service.partner)
    stores = list(selectors.stores_of(merchant=request.organization, user=request.user))
    if request.method == "POST":
        limit(request, "send")
    form = ContactForm(request.POST or None, stores=stores)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            service_request = services.request_start(
                actor=request.user,
                membership=request.membership,
                service=service,
                store=data["store"],
                budget=data["budget"],
                requirements=data["requirements"],
                client_token=data["client_token"],
            )
        except services.MessagingRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(
                request, _("Your request was sent to %(name)s.") % {"name": service.partner.name}
            )
            return redirect(
                "partners:request", org_slug=request.organization.slug, request_id=service_request.pk
            )
    return render(
        request,
        "partners/contact.html",
        {
            "service": service if decision else None,
            "partner": service.partner,
            "form": form,
            "decision": decision,
        },
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@organization_required
def match(request):
    """Describe the job; up to three matching partners each receive it in a conversation of their own."""
    only(request, "merchant")
    stores = list(selectors.stores_of(merchant=request.organization, user=request.user))
    language = (request.user.language or "en").split("-")[0]
    if request.method == "POST":
        limit(request, "send")
    form = MatchForm(request.POST or None, stores=stores, initial={"language": language})
    if request.method == "POST" and form.is_valid():
        try:
            found = services.match_request_send(
                actor=request.user, membership=request.membership, **form.cleaned_data
            )
        except services.MessagingRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            return redirect("partners:match_detail", org_slug=request.organization.slug, match_id=found.pk)
    return render(request, "partners/match.html", {"form": form}, status=400 if form.errors else 200)


@require_GET
@organization_required
def match_detail(request, match_id: int):
    """Which partners the job was sent to, each with its conversation."""
    only(request, "merchant")
    found = selectors.access_match(merchant=request.organization, id=match_id)
    return render(
        request,
        "partners/match_detail.html",
        {"match": found, "results": list(selectors.match_results(match=found))},
    )


@require_GET
@organization_required
def requests(request):
    """The merchant's conversations with partners, newest first."""
    only(request, "merchant")
    rows = selectors.request_inbox(organization=request.organization, user=request.user)
    page = keyset_page(rows, request.GET, size=settings.PAGE_SIZE)
    return render(request, "partners/requests.html", {"page": page})


# Stores -----------------------------------------------------------------------------------------------------


@require_GET
@organization_required
def stores(request):
    only(request, "merchant")
    return render(
        request,
        "partners/stores.html",
        {
            "stores": list(selectors.store_list(merchant=request.organization)),
            "can_manage": policy.can_manage_stores(request.membership),
        },
    )


def _store_form_page(request, store=None):
    allowed(policy.can_manage_stores(request.membership))
    members = [m.user for m in membership_list(organization=request.organization)]
    initial = None
    if store is not None:
        initial = {
            "name": store.name,
            "url": store.url,
            "owner": store.owner_id,
            "staff": [user.pk for user in store.staff.all()],
        }
    form = StoreForm(request.POST or None, members=members, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.store_save(
                actor=request.user, membership=request.membership, store=store, **form.cleaned_data
            )
        except services.PartnersRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(request, _("The store was saved."))
            return redirect("partners:stores", org_slug=request.organization.slug)
    return render(
        request,
        "partners/store_form.html",
        {"form": form, "store": store},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@organization_required
def store_new(request):
    only(request, "merchant")
    return _store_form_page(request)


@require_http_methods(["GET", "POST"])
@organization_required
def store_edit(request, store_id: int):
    only(request, "merchant")
    store = selectors.access_store(merchant=request.organization, id=store_id)
    return _store_form_page(request, store)
