from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from connections.selectors import connected_organizations
from documents.selectors import access_document
from tenants.decorators import organization_required
from tenants.limits import limit, limit_message

from . import pages, selectors, services
from .forms import ComposeForm, DocumentConversationForm, InboxFilterForm, ReplyForm
from .fragments import cached, fragment_key
from .paging import cursor_parse, keyset_page
from .policy import can_send

MESSAGING_KINDS = {"buyer", "supplier"}


def _messaging_org(request) -> None:
    """The Messages tab exists for suppliers and buyers (partners and merchants get theirs in #5)."""
    if request.organization.kind not in MESSAGING_KINDS:
        raise Http404


def _no_content() -> HttpResponse:
    return HttpResponse(status=204)


@require_GET
@organization_required
def inbox(request):
    _messaging_org(request)
    form = InboxFilterForm(request.GET)
    filters = form.cleaned_data if form.is_valid() else {}
    filtered = bool(filters.get("filter") or filters.get("q"))
    if filters.get("q"):
        limit(request, "search")
    # What the rows depend on, and all the page's links keep: the valid filters and cursor, nothing else
    # (so no made-up parameter can make a new cache entry).
    params = QueryDict(mutable=True)
    for name in ("filter", "q"):
        if filters.get(name):
            params[name] = filters[name]
    for name in ("older", "newer"):
        if cursor_parse(request.GET.get(name)):
            params[name] = request.GET[name]

    def conversation_list() -> str:
        rows = selectors.inbox(
            organization=request.organization,
            user=request.user,
            filter=filters.get("filter", ""),
            query=filters.get("q", ""),
        )
        page = keyset_page(rows, params, size=settings.PAGE_SIZE)
        context = {"page": page, "filtered": filtered}
        return render_to_string("messaging/inbox.html#conversation-list", context, request)

    # The rows change only when a message arrives or this user reads one (the live version), or when a
    # name, number or status is saved (the fragments' generation): one indexed query on a hit.
    version = selectors.live_version(organization=request.organization, user=request.user)
    rows = (
        "inbox",
        request.organization.pk,
        request.organization.slug,
        request.user.pk,
        version,
        params.urlencode(),
    )

    def list_html() -> str:
        # render_to_string's SafeString stays one through the cache (pickled with its type): no mark_safe.
        return cached(fragment_key(*rows), conversation_list)

    if request.htmx and request.htmx.target == "conversation-list":
        return HttpResponse(list_html())

    def page() -> str:
        return pages.render(request, "messaging/inbox.html", {"form": form, "conversation_list": list_html()})

    if not (form.is_valid() and pages.cacheable(request)):
        return pages.response(request, page())
    # The page shows the rows, the person and their organizations, and the search form as typed.
    shown = (request.GET.get("filter"), request.GET.get("q"))
    return pages.response(
        request, cached(fragment_key("inbox-page", *rows, shown, pages.viewer(request)), page)
    )


def _sending_state(request, counterpart, conversation=None):
    """What the composer shows: the form, or why not (with the buyer's contact information where messaging
    is off, as SAP Business Network does)."""
    decision = can_send(
        organization=request.organization,
        counterpart=counterpart,
        conversation=conversation,
        connected=getattr(counterpart, "connected", None),
    )
    contact = None
    if not decision and counterpart.is_buyer and not counterpart.messaging_enabled:
        contact = None if counterpart.hide_contact_info else counterpart
    upgrade = request.organization.is_supplier and not request.organization.is_enterprise
    return decision, contact, upgrade


@require_http_methods(["GET", "POST"])
@organization_required
def compose(request):
    """Context-free: pick a connected counterpart (or search among them), subject, message, files, Send."""
    _messaging_org(request)
    # "Search among them" narrows the list shown; a posted choice is checked against all of them.
    query = "" if request.method == "POST" else request.GET.get("q", "")[:100]
    if request.method == "POST":
        limit_message(request)
    counterparts = list(connected_organizations(organization=request.organization, query=query))
    form = ComposeForm(request.POST or None, request.FILES or None, counterparts=counterparts)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            conversation = services.conversation_start(
                actor=request.user,
                membership=request.membership,
                counterpart=data["counterpart"],
                subject=data["subject"],
                body=data["body"],
                uploads=data["files"],
                client_token=data["client_token"],
            )
        except services.MessagingRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            return redirect(
                "messaging:conversation", org_slug=request.organization.slug, conversation_id=conversation.pk
            )
    upgrade = request.organization.is_supplier and not request.organization.is_enterprise
    status = 400 if request.method == "POST" else 200
    template = "messaging/compose.html"
    if request.htmx and request.htmx.target == "counterpart-choices":
        template += "#counterpart-choices"
    return render(
        request,
        template,
        {"form": form, "counterparts": counterparts, "query": query, "upgrade": upgrade},
        status=status,
    )


@require_http_methods(["GET", "POST"])
@organization_required
def conversation(request, conversation_id: int):
    _messaging_org(request)
    conversation, counterpart, unread = selectors.open_conversation(
        organization=request.organization, user=request.user, id=conversation_id
    )
    if request.method == "POST":
        limit_message(request)
    form = ReplyForm(
        request.POST or None, request.FILES or None, initial={"client_token": pages.CLIENT_TOKEN_MARKER}
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.message_post(
                actor=request.user,
                membership=request.membership,
                conversation=conversation,
                body=form.cleaned_data["body"],
                uploads=form.cleaned_data["files"],
                client_token=form.cleaned_data["client_token"],
            )
        except services.MessagingRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            return redirect(
                "messaging:conversation", org_slug=request.organization.slug, conversation_id=conversation.pk
            )
    services.conversation_mark_read(user=request.user, conversation=conversation, unread=unread)
    before = request.GET.get("before", "")
    before_id = int(before) if before.isdigit() and len(before) < 19 else None

    def thread_page() -> dict:
        thread, earlier = selectors.conversation_page(conversation=conversation, before_id=before_id)
        html = render_to_string("messaging/conversation.html#thread-messages", {"thread": thread}, request)
        return {
            "html": html,  # a SafeString, pickled as one: the page needs no mark_safe
            "last_id": thread[-1].pk if thread else 0,
            "earlier_id": thread[0].pk if earlier and thread else None,
        }

    # Messages never change once sent: a page of them is known by the conversation's message count and
    # last message (and names, by the fragments' generation). Two queries and the rendering saved on a hit.
    messages_shown = (
        "thread-html",  # renamed when its html became a SafeString: entries cached before are never read
        conversation.pk,
        conversation.message_count,
        conversation.last_message_at,
        before_id,
        request.organization.pk,
        request.organization.slug,
    )
    decision, contact, upgrade = _sending_state(request, counterpart, conversation)

    def page() -> str:
        thread = cached(fragment_key(*messages_shown), thread_page)
        context = {
            "conversation": conversation,
            "counterpart": counterpart,
            "thread_html": thread["html"],
            "last_id": thread["last_id"],
            "earlier_id": thread["earlier_id"],
            "older_page": before_id is not None,
            "form": form,
            "can_send": decision,
            "contact": contact,
            "upgrade": upgrade,
        }
        return pages.render(request, "messaging/conversation.html", context)

    if form.is_bound or form.errors or not pages.cacheable(request):
        return pages.response(request, page(), status=400 if form.errors else 200)
    # Everything else the page shows: the conversation, its document, the counterpart (name, contact
    # information), whether and why not this organization may reply, the person and their organizations.
    key = fragment_key(
        "conversation-page",
        *messages_shown,
        pages.facts(conversation),
        conversation.document_id and pages.facts(conversation.document),
        pages.facts(counterpart),
        (decision.allowed, decision.reason, contact is not None, upgrade),
        pages.viewer(request),
    )
    return pages.response(request, cached(key, page))


@require_GET
@organization_required
def conversation_live(request, conversation_id: int):
    """Polled every few seconds by an open conversation: 204 (one indexed query) until a message arrives."""
    _messaging_org(request)
    try:
        after_id = max(0, int(request.GET.get("after", "0")))
    except ValueError:
        after_id = 0
    has_new = selectors.new_messages_check(
        organization=request.organization, conversation_id=conversation_id, after_id=after_id
    )
    if has_new is None:
        raise Http404
    if not has_new:
        return _no_content()
    conversation, _counterpart, unread = selectors.open_conversation(
        organization=request.organization, user=request.user, id=conversation_id
    )
    services.conversation_mark_read(user=request.user, conversation=conversation, unread=unread)
    thread = list(selectors.conversation_messages(conversation=conversation, after_id=after_id))
    return render(
        request,
        "messaging/conversation.html#live",
        {"conversation": conversation, "thread": thread, "last_id": thread[-1].pk, "live_only": True},
    )


@require_GET
@organization_required
def unread_badge(request):
    """Polled by every page: 204 while nothing changed for this user (one indexed query), else the badge.
    Every kind of organization has conversations (partners and merchants through the partners app)."""
    version = selectors.live_version(organization=request.organization, user=request.user)
    if request.GET.get("v") == version:
        return _no_content()
    unread = selectors.unread_total(organization=request.organization, user=request.user)
    return render(request, "_base.html#unread-badge", {"unread": unread, "live_version": version})


@require_http_methods(["GET", "POST"])
@organization_required
def document_messages(request, document_id: int):
    """The Messages panel of a purchase order or invoice: its conversations, and a new one about it."""
    _messaging_org(request)
    document = access_document(organization=request.organization, user=request.user, id=document_id)
    counterpart = document.counterpart_of(request.organization)
    if request.method == "POST":
        limit_message(request)
    form = DocumentConversationForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            conversation = services.conversation_start(
                actor=request.user,
                membership=request.membership,
                counterpart=counterpart,
                subject=data["subject"],
                body=data["body"],
                uploads=data["files"],
                document=document,
                client_token=data["client_token"],
            )
        except services.MessagingRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(request, _("Your message was sent."))
            return redirect(
                "messaging:conversation", org_slug=request.organization.slug, conversation_id=conversation.pk
            )
    decision, contact, upgrade = _sending_state(request, counterpart)
    template = "messaging/document_messages.html"
    if request.htmx and request.htmx.target == "document-messages":
        template += "#panel"
    return render(
        request,
        template,
        {
            "document": document,
            "counterpart": counterpart,
            "rows": selectors.document_conversations(
                organization=request.organization, user=request.user, document=document
            ),
            "form": form,
            "can_send": decision,
            "contact": contact,
            "upgrade": upgrade,
        },
        status=400 if form.errors else 200,
    )


@require_GET
@organization_required
def attachment_download(request, attachment_id: int):
    attachment = selectors.access_attachment(
        organization=request.organization, user=request.user, id=attachment_id
    )
    # Whatever an older row holds, the header carries no line break, control or direction character.
    filename = "".join(ch for ch in attachment.name if ch.isprintable()) or _("file")
    response = FileResponse(attachment.file.open("rb"), as_attachment=True, filename=filename)
    # Always a download, never rendered: the browser must not guess a type and run it.
    response["Content-Type"] = "application/octet-stream"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@require_GET
@organization_required
def upgrade(request):
    """What a Standard supplier reads instead of a composer: messaging needs Enterprise, and how to get it."""
    if not request.organization.is_supplier:
        raise Http404
    return render(request, "messaging/upgrade.html")
