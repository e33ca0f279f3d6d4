"""The conversation of a service request, as the partner and as the merchant see it, and what each side does
there: reply, tags, proposals, jobs, invoices, declining and blocking."""

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from messaging import selectors as messaging_selectors
from messaging import services as messaging_services
from messaging.forms import ReplyForm
from tenants.decorators import organization_required
from tenants.limits import limit_message

from .. import policy, selectors, services
from ..forms import AddTagForm, DeclineForm, InvoiceForm, ProposalForm, default_decline_text
from ..models import Job, JobInvoice, Proposal
from .common import allowed

PROPOSAL_ACTIONS = {
    "accept": Proposal.Status.ACCEPTED,
    "decline": Proposal.Status.DECLINED,
    "withdraw": Proposal.Status.WITHDRAWN,
}
JOB_ACTIONS = {"complete": Job.Status.COMPLETED, "close": Job.Status.CLOSED}
INVOICE_ACTIONS = {"paid": JobInvoice.Status.PAID, "close": JobInvoice.Status.CLOSED}


def _side(request) -> None:
    if request.organization.kind not in ("partner", "merchant"):
        raise Http404


def _access(request, request_id: int):
    _side(request)
    return selectors.access_request(organization=request.organization, id=request_id)


def _partner_side(request, request_id: int):
    """Pages and actions of the partner only: for the merchant of the request they do not exist."""
    service_request = _access(request, request_id)
    if service_request.partner_id != request.organization.pk:
        raise Http404
    return service_request


def _back(request, service_request, anchor: str = ""):
    response = redirect("partners:request", org_slug=request.organization.slug, request_id=service_request.pk)
    if anchor:
        response["Location"] += f"#{anchor}"
    return response


def _timeline(service_request, *, after_message: int = 0, after_record: int = 0) -> list[tuple[str, object]]:
    """Messages, files and records of proposals, jobs and invoices, in time order."""
    thread = [
        ("message", m)
        for m in messaging_selectors.conversation_messages(
            conversation=service_request.conversation, after_id=after_message
        )
    ]
    records = [
        ("record", r) for r in selectors.timeline_records(request=service_request, after_id=after_record)
    ]
    return sorted(thread + records, key=lambda item: (item[1].created_at, item[0] == "record", item[1].pk))


def invoice_prefix(job_id: int) -> str:
    return f"job-{job_id}"


def _activity(service_request, invoice_form=None) -> dict:
    timeline = _timeline(service_request)
    jobs = list(selectors.request_jobs(request=service_request))
    for job in jobs:  # each job has its own invoice form, so that field ids stay unique on the page
        bound = invoice_form is not None and invoice_form.prefix == invoice_prefix(job.pk)
        job.invoice_form = invoice_form if bound else InvoiceForm(prefix=invoice_prefix(job.pk))
    messages_ids = [item.pk for kind, item in timeline if kind == "message"]
    record_ids = [item.pk for kind, item in timeline if kind == "record"]
    return {
        "timeline": timeline,
        "jobs": jobs,
        "pending": selectors.pending_proposal(request=service_request),
        "last_message": max(messages_ids, default=0),
        "last_record": max(record_ids, default=0),
    }


def _page(request, service_request, *, status=200, **forms):
    is_partner = request.organization.pk == service_request.partner_id
    conversation = service_request.conversation
    blocked = not is_partner and policy.is_blocked(
        partner=service_request.partner, merchant=request.organization
    )
    context = {
        "item": service_request,
        "conversation": conversation,
        "is_partner": is_partner,
        "counterpart": service_request.merchant if is_partner else service_request.partner,
        "blocked": blocked,
        "form": forms.get("form") or ReplyForm(),
        "proposal_form": forms.get("proposal_form") or ProposalForm(),
        "decline_form": forms.get("decline_form") or DeclineForm(initial={"text": default_decline_text()}),
        "tag_form": forms.get("tag_form") or AddTagForm(),
        **_activity(service_request, forms.get("invoice_form")),
    }
    if is_partner:
        context["tags"] = selectors.request_tags(request=service_request)
        context["all_tags"] = list(selectors.tag_list(organization=request.organization))
        context["role"] = selectors.store_role(store=service_request.store, user=service_request.contact)
        context["can_block"] = policy.can_block(request.membership)
    else:
        context["profile"] = selectors.partner_profile_get(partner=service_request.partner)
    return render(request, "partners/request.html", context, status=status)


@require_http_methods(["GET", "POST"])
@organization_required
def request_page(request, request_id: int):
    service_request = _access(request, request_id)
    conversation = service_request.conversation
    if request.method == "POST":
        limit_message(request)
    form = ReplyForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            messaging_services.message_post(
                actor=request.user,
                membership=request.membership,
                conversation=conversation,
                body=form.cleaned_data["body"],
                uploads=form.cleaned_data["files"],
                client_token=form.cleaned_data["client_token"],
            )
        except messaging_services.MessagingRefused as refusal:
            blocked = request.organization.pk == service_request.merchant_id and policy.is_blocked(
                partner=service_request.partner, merchant=request.organization
            )
            form.add_error(None, policy.blocked_reason(service_request.partner) if blocked else str(refusal))
        else:
            return _back(request, service_request, "reply")
    _conversation, _counterpart, unread = messaging_selectors.open_conversation(
        organization=request.organization, user=request.user, id=conversation.pk
    )
    messaging_services.conversation_mark_read(user=request.user, conversation=conversation, unread=unread)
    return _page(request, service_request, form=form, status=400 if form.errors else 200)


@require_GET
@organization_required
def request_live(request, request_id: int):
    """Polled by an open conversation: 204 (one indexed query) until a message or a record arrives."""
    _side(request)
    try:
        after_message = max(0, int(request.GET.get("after", "0")))
        after_record = max(0, int(request.GET.get("rec", "0")))
    except ValueError:
        after_message = after_record = 0
    news = selectors.timeline_has_news(
        organization=request.organization,
        request_id=request_id,
        after_message=after_message,
        after_record=after_record,
    )
    if news is None:
        raise Http404
    if not news:
        return HttpResponse(status=204)
    service_request = selectors.access_request(organization=request.organization, id=request_id)
    _conversation, _counterpart, unread = messaging_selectors.open_conversation(
        organization=request.organization, user=request.user, id=request_id
    )
    messaging_services.conversation_mark_read(
        user=request.user, conversation=service_request.conversation, unread=unread
    )
    context = {
        "item": service_request,
        "conversation": service_request.conversation,
        "is_partner": request.organization.pk == service_request.partner_id,
        # The activity swaps in out of band; the new #live replaces the old one with the next cursors.
        "live_only": True,
        **_activity(service_request),
    }
    return render(request, "partners/request.html#live", context)


# Tags on a conversation (partners) --------------------------------------------------------------------------


def _tags_region(request, service_request, *, tag_form=None, status=200):
    context = {
        "item": service_request,
        "tags": selectors.request_tags(request=service_request),
        "all_tags": list(selectors.tag_list(organization=request.organization)),
        "tag_form": tag_form or AddTagForm(),
        "is_partner": True,
    }
    return render(request, "partners/request.html#request-tags", context, status=status)


@require_POST
@organization_required
def request_tag_add(request, request_id: int):
    """Add tag: a typed name (created when new) or an existing tag; htmx swaps the tags in place."""
    service_request = _partner_side(request, request_id)
    form = AddTagForm(request.POST)
    if form.is_valid():
        try:
            services.tags_add(
                actor=request.user,
                membership=request.membership,
                request=service_request,
                names=form.cleaned_data["names"],
                tag_ids=form.cleaned_data["tag_ids"],
            )
        except services.PartnersRefused as refusal:
            form.add_error(None, str(refusal))
    if request.htmx:
        return _tags_region(
            request,
            service_request,
            tag_form=form if form.errors else None,
            status=400 if form.errors else 200,
        )
    if form.errors:
        return _page(request, service_request, tag_form=form, status=400)
    return _back(request, service_request, "request-tags")


@require_POST
@organization_required
def request_tag_remove(request, request_id: int, tag_id: int):
    service_request = _partner_side(request, request_id)
    tag = selectors.access_tag(organization=request.organization, id=tag_id)
    services.tag_remove(actor=request.user, membership=request.membership, request=service_request, tag=tag)
    if request.htmx:
        return _tags_region(request, service_request)
    return _back(request, service_request, "request-tags")


# Proposals, jobs, invoices ----------------------------------------------------------------------------------


@require_POST
@organization_required
def proposal_send(request, request_id: int):
    service_request = _partner_side(request, request_id)
    form = ProposalForm(request.POST)
    if form.is_valid():
        try:
            services.proposal_send(
                actor=request.user,
                membership=request.membership,
                request=service_request,
                **form.cleaned_data,
            )
        except services.MessagingRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(request, _("Your proposal was sent."))
            return _back(request, service_request, "activity")
    return _page(request, service_request, proposal_form=form, status=400)


def _move(request, service_request, move, done: str):
    """One change of status (`move`, a service call): flash what happened or why not, then go back."""
    try:
        move()
    except services.MessagingRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, done)
    return _back(request, service_request, "activity")


@require_POST
@organization_required
def proposal_move(request, request_id: int, proposal_id: int, action: str):
    service_request = _access(request, request_id)
    proposal = selectors.access_proposal(request=service_request, id=proposal_id)
    if action not in PROPOSAL_ACTIONS:
        raise Http404
    done = {
        "accept": _("You accepted the proposal. The job has started."),
        "decline": _("You declined the proposal."),
        "withdraw": _("You withdrew the proposal."),
    }[action]
    to = PROPOSAL_ACTIONS[action]
    return _move(
        request,
        service_request,
        lambda: services.proposal_move(
            actor=request.user, membership=request.membership, proposal=proposal, to=to
        ),
        done,
    )


@require_POST
@organization_required
def job_move(request, request_id: int, job_id: int, action: str):
    service_request = _access(request, request_id)
    job = selectors.access_job(request=service_request, id=job_id)
    if action not in JOB_ACTIONS:
        raise Http404
    to = JOB_ACTIONS[action]
    return _move(
        request,
        service_request,
        lambda: services.job_move(actor=request.user, membership=request.membership, job=job, to=to),
        _("The job is now “%(status)s”.") % {"status": Job.Status(to).label},
    )


@require_POST
@organization_required
def invoice_send(request, request_id: int, job_id: int):
    service_request = _partner_side(request, request_id)
    job = selectors.access_job(request=service_request, id=job_id)
    form = InvoiceForm(request.POST, prefix=invoice_prefix(job.pk))
    if form.is_valid():
        try:
            services.job_invoice_send(
                actor=request.user, membership=request.membership, job=job, **form.cleaned_data
            )
        except services.MessagingRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(request, _("Your invoice was sent."))
            return _back(request, service_request, "activity")
    return _page(request, service_request, invoice_form=form, status=400)


@require_POST
@organization_required
def invoice_move(request, request_id: int, invoice_id: int, action: str):
    service_request = _access(request, request_id)
    invoice = selectors.access_job_invoice(request=service_request, id=invoice_id)
    if action not in INVOICE_ACTIONS:
        raise Http404
    to = INVOICE_ACTIONS[action]
    return _move(
        request,
        service_request,
        lambda: services.job_invoice_move(
            actor=request.user, membership=request.membership, invoice=invoice, to=to
        ),
        _("The invoice is now “%(status)s”.") % {"status": JobInvoice.Status(to).label},
    )


# Declining and blocking (partners) --------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@organization_required
def request_decline(request, request_id: int):
    """The partner answers that it cannot help, with an editable text in the partner user's language."""
    service_request = _partner_side(request, request_id)
    form = DeclineForm(request.POST or None, initial={"text": default_decline_text()})
    if request.method == "POST" and form.is_valid():
        try:
            services.request_decline(
                actor=request.user,
                membership=request.membership,
                request=service_request,
                **form.cleaned_data,
            )
        except services.MessagingRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(request, _("You declined the request. The merchant can still answer you."))
            return _back(request, service_request, "activity")
    return render(
        request,
        "partners/decline.html",
        {"item": service_request, "form": form, "open_jobs": selectors.open_jobs(request=service_request)},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@organization_required
def merchant_block(request, request_id: int):
    """More > Block merchant: GET asks for confirmation (it cannot be undone), POST blocks."""
    service_request = _partner_side(request, request_id)
    allowed(policy.can_block(request.membership))
    error = None
    if request.method == "POST":
        try:
            services.merchant_block(
                actor=request.user, membership=request.membership, request=service_request
            )
        except services.PartnersRefused as refusal:
            error = str(refusal)
        else:
            messages.success(
                request,
                _("%(name)s is blocked. Every proposal, job and invoice with them is closed.")
                % {"name": service_request.merchant.name},
            )
            return _back(request, service_request)
    return render(
        request,
        "partners/block.html",
        {"item": service_request, "error": error},
        status=400 if error else 200,
    )
