from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tenants.decorators import organization_required
from tenants.limits import limit

from . import selectors, services
from .forms import (
    ConnectionRequestForm,
    CustomerSearchForm,
    RejectForm,
    SupplierRecordForm,
    read_selection,
    sign_selection,
)
from .policy import (
    can_answer_connection_requests,
    can_manage_connection_requests,
    can_manage_supplier_records,
)


def _only(request, kind: str) -> None:
    """Pages of one side only: for the other kind of organization they do not exist."""
    if request.organization.kind != kind:
        raise Http404


def _allowed(decision) -> None:
    if not decision:
        raise PermissionDenied(decision.reason)


# Supplier side: Setup > Connection requests ----------------------------------------------------------------


def _requests_page(request, *, search_form=None, results=None, request_form=None, selected=None, status=200):
    supplier = request.organization
    page = Paginator(selectors.connection_request_list(supplier=supplier), settings.PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    page.object_list = list(page.object_list)
    connections = selectors.connections_by_customer(
        supplier=supplier,
        customer_ids=[r.customer_id for r in page.object_list if r.status == r.Status.APPROVED],
    )
    for item in page.object_list:  # the hover card of an approved row lists what the connection links
        item.connection = connections.get(item.customer_id) if item.status == item.Status.APPROVED else None
    suggestions = selectors.customer_suggestions(supplier=supplier) if page.number == 1 else []
    left, available_at = selectors.searches_left(supplier=supplier)
    context = {
        "page": page,
        "suggestions": suggestions,
        "search_form": search_form or CustomerSearchForm(),
        "results": results,
        "request_form": request_form,
        "selected": selected,
        "searches_left": left,
        "search_available_at": available_at,
    }
    template = "connections/requests.html"
    if request.htmx and request.htmx.target == "search-panel":
        template += "#search-panel"
    return render(request, template, context, status=status)


@require_GET
@organization_required
def connection_requests(request):
    _only(request, "supplier")
    _allowed(can_manage_connection_requests(request.membership))
    return _requests_page(request)


@require_POST
@organization_required
def customer_search(request):
    _only(request, "supplier")
    _allowed(can_manage_connection_requests(request.membership))
    form = CustomerSearchForm(request.POST)
    results = None
    if form.is_valid():
        try:
            found = services.customer_search(
                actor=request.user, membership=request.membership, query=form.cleaned_data["query"]
            )
        except services.SearchLimitReached as refusal:
            form.add_error(None, str(refusal))
        else:
            connected = selectors.connected_organization_ids(organization=request.organization)
            results = [
                {
                    "customer": customer,
                    "connected": customer.pk in connected,
                    "token": sign_selection(supplier_id=request.organization.pk, customer_id=customer.pk),
                }
                for customer in found
            ]
    return _requests_page(request, search_form=form, results=results)


@require_http_methods(["GET", "POST"])
@organization_required
def connection_request_new(request):
    """The search result the supplier selected: Customer contact, captcha, confirmation, Request."""
    _only(request, "supplier")
    _allowed(can_manage_connection_requests(request.membership))
    supplier_id = request.organization.pk
    if request.method == "POST":
        limit(request, "connect")
        form = ConnectionRequestForm(request.POST, supplier_id=supplier_id)
        token = request.POST.get("customer", "")
    else:
        token = request.GET.get("customer", "")
        form = ConnectionRequestForm(initial={"customer": token}, supplier_id=supplier_id)
    customer_id = read_selection(token, supplier_id=supplier_id)
    if customer_id is None:
        messages.error(request, _("Select the customer from your search results again."))
        return redirect("connections:requests", org_slug=request.organization.slug)
    customer = selectors.buyer_or_none(id=customer_id)
    if customer is None:
        messages.error(request, _("This customer is no longer on Parley. Search again."))
        return redirect("connections:requests", org_slug=request.organization.slug)
    if request.method == "POST" and form.is_valid():
        try:
            services.connection_request_send(
                actor=request.user,
                membership=request.membership,
                customer=customer,
                contact_email=form.cleaned_data["contact_email"],
            )
        except services.ConnectionRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(request, _("Your request to %(name)s was sent.") % {"name": customer.name})
            return redirect("connections:requests", org_slug=request.organization.slug)
    status = 400 if request.method == "POST" else 200
    return _requests_page(request, request_form=form, selected=customer, status=status)


@require_POST
@organization_required
def suggestion_connect(request, customer_id: int):
    _only(request, "supplier")
    _allowed(can_manage_connection_requests(request.membership))
    limit(request, "connect")
    suggested = {
        s.customer.pk: s.customer for s in selectors.customer_suggestions(supplier=request.organization)
    }
    customer = suggested.get(customer_id)
    if customer is None:
        messages.error(request, _("This customer is no longer among your suggestions."))
    else:
        try:
            services.connection_request_send(
                actor=request.user, membership=request.membership, customer=customer
            )
        except services.ConnectionRefused as refusal:
            messages.error(request, str(refusal))
        else:
            messages.success(request, _("Your request to %(name)s was sent.") % {"name": customer.name})
    return redirect("connections:requests", org_slug=request.organization.slug)


@require_GET
@organization_required
def connection_detail(request, connection_id: int):
    connection = selectors.access_connection(
        organization=request.organization, user=request.user, id=connection_id
    )
    counterpart = connection.customer if request.organization.is_supplier else connection.supplier
    return render(
        request, "connections/connection_detail.html", {"connection": connection, "counterpart": counterpart}
    )


# Customer side: incoming requests ---------------------------------------------------------------------------


@require_GET
@organization_required
def incoming_requests(request):
    _only(request, "buyer")
    _allowed(can_answer_connection_requests(request.membership))
    page = Paginator(
        selectors.incoming_request_list(customer=request.organization), settings.PAGE_SIZE
    ).get_page(request.GET.get("page"))
    return render(request, "connections/incoming.html", {"page": page})


@require_POST
@organization_required
def incoming_approve(request, request_id: int):
    _only(request, "buyer")
    _allowed(can_answer_connection_requests(request.membership))
    connection_request = selectors.access_incoming_request(
        customer=request.organization, user=request.user, id=request_id
    )
    try:
        services.connection_request_approve(
            actor=request.user, membership=request.membership, request=connection_request
        )
    except services.ConnectionRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(
            request, _("You are now connected with %(name)s.") % {"name": connection_request.supplier.name}
        )
    return redirect("connections:incoming", org_slug=request.organization.slug)


@require_http_methods(["GET", "POST"])
@organization_required
def incoming_reject(request, request_id: int):
    _only(request, "buyer")
    _allowed(can_answer_connection_requests(request.membership))
    connection_request = selectors.access_incoming_request(
        customer=request.organization, user=request.user, id=request_id
    )
    form = RejectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.connection_request_reject(
                actor=request.user,
                membership=request.membership,
                request=connection_request,
                comment=form.cleaned_data["comment"],
            )
        except services.ConnectionRefused as refusal:
            messages.error(request, str(refusal))
        else:
            messages.success(
                request,
                _("You rejected the request of %(name)s.") % {"name": connection_request.supplier.name},
            )
        return redirect("connections:incoming", org_slug=request.organization.slug)
    return render(
        request,
        "connections/reject.html",
        {"form": form, "connection_request": connection_request},
        status=400 if request.method == "POST" else 200,
    )


# Customer side: supplier records ----------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@organization_required
def supplier_records(request):
    _only(request, "buyer")
    decision = can_manage_supplier_records(request.membership)
    form = SupplierRecordForm()
    if request.method == "POST":
        _allowed(decision)
        form = SupplierRecordForm(request.POST)
        if form.is_valid():
            try:
                record = services.supplier_record_save(
                    actor=request.user, membership=request.membership, data=form.cleaned_data
                )
            except services.ConnectionRefused as refusal:
                form.add_error("number", str(refusal))
            else:
                messages.success(request, _("%(name)s was added to your suppliers.") % {"name": record.name})
                return redirect("connections:supplier_records", org_slug=request.organization.slug)
    query = request.GET.get("q", "")[:100]
    page = Paginator(
        selectors.supplier_record_list(buyer=request.organization, query=query), settings.PAGE_SIZE
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "connections/supplier_records.html",
        {"form": form, "page": page, "query": query, "can_manage": bool(decision), "reason": decision.reason},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@organization_required
def supplier_record_edit(request, record_id: int):
    _only(request, "buyer")
    _allowed(can_manage_supplier_records(request.membership))
    record = selectors.access_supplier_record(buyer=request.organization, user=request.user, id=record_id)
    form = SupplierRecordForm(request.POST or None, instance=record)
    if request.method == "POST" and form.is_valid():
        try:
            services.supplier_record_save(
                actor=request.user, membership=request.membership, data=form.cleaned_data, record=record
            )
        except services.ConnectionRefused as refusal:
            form.add_error("number", str(refusal))
        else:
            messages.success(request, _("Supplier record saved."))
            return redirect("connections:supplier_records", org_slug=request.organization.slug)
    return render(
        request,
        "connections/supplier_record_edit.html",
        {"form": form, "record": record},
        status=400 if form.errors else 200,
    )


@require_POST
@organization_required
def supplier_record_delete(request, record_id: int):
    _only(request, "buyer")
    _allowed(can_manage_supplier_records(request.membership))
    record = selectors.access_supplier_record(buyer=request.organization, user=request.user, id=record_id)
    services.supplier_record_delete(actor=request.user, membership=request.membership, record=record)
    messages.success(request, _("%(name)s was removed from your suppliers.") % {"name": record.name})
    return redirect("connections:supplier_records", org_slug=request.organization.slug)
