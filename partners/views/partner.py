"""Partner pages: Services (profile and services), Services > Messages (the inbox) and Manage tags."""

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from messaging import pages
from messaging.fragments import cached, fragment_key
from messaging.paging import cursor_parse, keyset_page
from messaging.selectors import live_version
from tenants.decorators import organization_required
from tenants.limits import limit

from .. import policy, selectors, services
from ..forms import ProfileForm, RequestFilterForm, ServiceForm, TagForm, integer_ids
from ..fragments import inbox_generation
from .common import allowed, htmx_target, only


@require_GET
@organization_required
def services_page(request):
    only(request, "partner")
    profile = selectors.partner_profile_get(partner=request.organization)
    offered = list(selectors.partner_services(partner=request.organization))
    return render(
        request,
        "partners/services.html",
        {
            "profile": profile,
            "offered": offered,
            "reachable": policy.is_reachable(request.organization),
            "can_edit": policy.can_edit_profile(request.membership),
        },
    )


@require_http_methods(["GET", "POST"])
@organization_required
def profile_edit(request):
    only(request, "partner")
    allowed(policy.can_edit_profile(request.membership))
    profile = selectors.partner_profile_get(partner=request.organization)
    initial = {
        "description": profile.description,
        "languages": profile.language_list,
        "regions": profile.region_list,
        "published": profile.published,
    }
    form = ProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.profile_update(actor=request.user, membership=request.membership, **form.cleaned_data)
        except services.PartnersRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(request, _("Your profile was saved."))
            return redirect("partners:services", org_slug=request.organization.slug)
    return render(request, "partners/profile_form.html", {"form": form}, status=400 if form.errors else 200)


def _service_form_page(request, service=None):
    only(request, "partner")
    allowed(policy.can_edit_profile(request.membership))
    initial = None
    if service is not None:
        initial = {
            field: getattr(service, field)
            for field in ("category", "title", "description", "price_from", "price_to", "currency")
        }
    form = ServiceForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            if service is None:
                services.service_create(
                    actor=request.user, membership=request.membership, **form.cleaned_data
                )
            else:
                services.service_update(
                    actor=request.user, membership=request.membership, service=service, **form.cleaned_data
                )
        except services.PartnersRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(request, _("The service was saved."))
            return redirect("partners:services", org_slug=request.organization.slug)
    return render(
        request,
        "partners/service_form.html",
        {"form": form, "service": service},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@organization_required
def service_new(request):
    return _service_form_page(request)


@require_http_methods(["GET", "POST"])
@organization_required
def service_edit(request, service_id: int):
    only(request, "partner")
    service = selectors.access_own_service(partner=request.organization, id=service_id)
    return _service_form_page(request, service)


@require_POST
@organization_required
def service_delete(request, service_id: int):
    only(request, "partner")
    service = selectors.access_own_service(partner=request.organization, id=service_id)
    allowed(policy.can_edit_profile(request.membership))
    services.service_delete(actor=request.user, membership=request.membership, service=service)
    messages.success(request, _("The service “%(title)s” was removed.") % {"title": service.title})
    return redirect("partners:services", org_slug=request.organization.slug)


# Services > Messages ----------------------------------------------------------------------------------------


@require_GET
@organization_required
def inbox(request):
    """Filter by tags (any of them) and unread, search by contact, store name or URL; all in the URL."""
    only(request, "partner")
    organization = request.organization
    tags = list(selectors.tag_list(organization=organization, with_uses=False))
    # A tag deleted since the URL was bookmarked is dropped, not a reason to ignore the other filters.
    known = {tag.pk for tag in tags}
    query = request.GET.copy()
    query.setlist("tag", [str(pk) for pk in integer_ids(query.getlist("tag")) if pk in known])
    form = RequestFilterForm(query, tags=tags)
    filters = form.cleaned_data if form.is_valid() else {}
    tag_ids = sorted(set(filters.get("tag") or []))
    search = " ".join(filters.get("q", "").split())
    if search:
        limit(request, "search")
    # What the rows depend on, and all the page's links keep: the valid filters and cursor, nothing else
    # (so no made-up parameter, order of tags or spacing of a search makes a new cache entry).
    params = QueryDict(mutable=True)
    params.setlist("tag", [str(pk) for pk in tag_ids])
    if filters.get("unread"):
        params["unread"] = "on"
    if search:
        params["q"] = search
    for name in ("older", "newer"):
        if cursor_parse(request.GET.get(name)):
            params[name] = request.GET[name]

    def request_list() -> str:
        rows = selectors.request_inbox(
            organization=organization,
            user=request.user,
            tag_ids=tag_ids,
            unread=bool(filters.get("unread")),
            query=search,
        )
        page = keyset_page(rows, params, size=settings.PAGE_SIZE, ids_first=bool(tag_ids))
        selectors.tag_names_attach(page.object_list)
        context = {"page": page, "filtered": bool(tag_ids or filters.get("unread") or search)}
        return render_to_string("partners/inbox.html#request-list", context, request)

    # A new message, a read or a request moving up changes the live version; a tag, a stage, a block or a
    # store's name this partner's inbox generation (partners.fragments); names the fragments' generation.
    key = fragment_key(
        "partner-inbox",
        organization.pk,
        organization.slug,
        request.user.pk,
        live_version(organization=organization, user=request.user),
        inbox_generation(organization.pk),
        params.urlencode(),
    )

    def list_html() -> str:
        return cached(key, request_list)  # render_to_string's SafeString, pickled as one by the cache

    if request.htmx and request.htmx.target == "request-list":
        return HttpResponse(list_html())

    def page() -> str:
        context = {"form": form, "tags": tags, "request_list": list_html()}
        return pages.render(request, "partners/inbox.html", context)

    if not (form.is_valid() and pages.cacheable(request)):
        return pages.response(request, page())
    # The whole page: the rows, the filters as typed, the tags (their names and ids move the inbox's
    # generation, in the rows' key), the person and their organizations (messaging.pages).
    typed = (request.GET.getlist("tag"), request.GET.get("unread"), request.GET.get("q"))
    return pages.response(
        request, cached(fragment_key("partner-inbox-page", key, typed, pages.viewer(request)), page)
    )


# Manage tags ------------------------------------------------------------------------------------------------


def _tags_page(request, *, form=None, rename=None, rename_form=None, confirm=None, status=200):
    tags = list(selectors.tag_list(organization=request.organization))
    back = integer_ids([request.GET.get("conversation") or request.POST.get("conversation")])
    return render(
        request,
        htmx_target(request, "partners/tags.html", "tag-manager"),
        {
            "tags": tags,
            "form": form or TagForm(),
            "rename": rename,
            "rename_form": rename_form,
            "confirm": confirm,
            "back": back[0] if back else None,
        },
        status=status,
    )


def _back_to_tags(request):
    url = redirect("partners:tags", org_slug=request.organization.slug).url
    back = integer_ids([request.POST.get("conversation")])
    return redirect(f"{url}?conversation={back[0]}" if back else url)


@require_http_methods(["GET", "POST"])
@organization_required
def tags(request):
    """Manage tags: every member of the partner sees and changes the same tags."""
    only(request, "partner")
    if request.method == "GET":
        return _tags_page(request)
    form = TagForm(request.POST)
    if form.is_valid():
        try:
            tag = services.tag_create(actor=request.user, membership=request.membership, **form.cleaned_data)
        except services.PartnersRefused as refusal:
            form.add_error("name", str(refusal))
        else:
            messages.success(request, _("Tag “%(name)s” created.") % {"name": tag.name})
            if request.htmx:
                return _tags_page(request)
            return _back_to_tags(request)
    return _tags_page(request, form=form, status=400)


@require_http_methods(["GET", "POST"])
@organization_required
def tag_edit(request, tag_id: int):
    """Rename: every conversation with the tag shows the new name."""
    only(request, "partner")
    tag = selectors.access_tag(organization=request.organization, id=tag_id)
    form = TagForm(request.POST or None, initial={"name": tag.name}, prefix=f"tag-{tag.pk}")
    if request.method == "POST" and form.is_valid():
        try:
            services.tag_rename(
                actor=request.user, membership=request.membership, tag=tag, **form.cleaned_data
            )
        except services.PartnersRefused as refusal:
            form.add_error("name", str(refusal))
        else:
            messages.success(request, _("Tag renamed to “%(name)s”.") % {"name": form.cleaned_data["name"]})
            if request.htmx:
                return _tags_page(request)
            return _back_to_tags(request)
    return _tags_page(request, rename=tag, rename_form=form, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@organization_required
def tag_delete(request, tag_id: int):
    """GET asks for confirmation (the tag leaves every conversation); POST deletes."""
    only(request, "partner")
    tag = selectors.access_tag(organization=request.organization, id=tag_id)
    if request.method == "GET":
        return _tags_page(request, confirm=tag)
    services.tag_delete(actor=request.user, membership=request.membership, tag=tag)
    messages.success(request, _("Tag “%(name)s” deleted.") % {"name": tag.name})
    if request.htmx:
        return _tags_page(request)
    return _back_to_tags(request)
