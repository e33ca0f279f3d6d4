from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import selectors, services
from .decorators import organization_required
from .forms import LanguageForm, OrganizationSettingsForm
from .middleware import LAST_ORGANIZATION_SESSION_KEY
from .policy import can_manage_organization


@require_GET
@login_required
def home(request):
    """Sends a signed-in user to the organization they used last, or says they have none."""
    membership = selectors.default_membership(
        user=request.user, preferred_slug=request.session.get(LAST_ORGANIZATION_SESSION_KEY)
    )
    if membership is None:
        return render(request, "tenants/no_organization.html")
    return redirect("tenants:home", org_slug=membership.organization.slug)


@require_GET
@organization_required
def organization_home(request):
    return render(
        request,
        "tenants/home.html",
        {"member_count": selectors.membership_list(organization=request.organization).count()},
    )


@require_http_methods(["GET", "POST"])
@organization_required
def organization_settings(request):
    decision = can_manage_organization(request.membership)
    if request.method == "POST":
        if not decision:
            raise PermissionDenied(decision.reason)
        form = OrganizationSettingsForm(request.POST, instance=request.organization)
        if form.is_valid():
            services.organization_update_settings(
                actor=request.user, membership=request.membership, data=form.cleaned_data
            )
            messages.success(request, _("Settings saved."))
            return redirect("tenants:settings", org_slug=request.organization.slug)
        # The instance was changed by validation; reload it so the page shows what is saved.
        request.organization.refresh_from_db()
    else:
        form = OrganizationSettingsForm(instance=request.organization, read_only=not decision)
    return render(
        request,
        "tenants/settings.html",
        {
            "form": form,
            "can_manage": bool(decision),
            "read_only_reason": decision.reason,
            "members": selectors.membership_list(organization=request.organization),
        },
    )


@require_POST
def set_language(request):
    """Switches the interface language, remembered on the user (when signed in) and in a cookie."""
    form = LanguageForm(request.POST)
    next_url = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = "/"
    response = redirect(next_url)
    if form.is_valid():
        language = form.cleaned_data["language"]
        if request.user.is_authenticated:
            services.user_set_language(user=request.user, language=language)
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            samesite="Lax",
            secure=settings.LANGUAGE_COOKIE_SECURE,
        )
    else:
        messages.error(request, _("That language is not available."))
    return response


@require_GET
def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


def locked_out(request, original_response=None, credentials=None):
    """django-axes calls this after too many failed sign-ins for one email address and IP address."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(request, "registration/locked_out.html", {"cooloff_minutes": minutes}, status=429)


def rate_limited(request, exception=None):
    """django-ratelimit's answer to a person past a limit of tenants.limits: what happened, that nothing was
    saved, and what to do (htmx gets the message alone, swapped where the answer would have gone)."""
    action = exception.args[0] if exception is not None and exception.args else ""
    template = "429.html#refusal" if getattr(request, "htmx", False) else "429.html"
    return render(request, template, {"action": action}, status=429)


def axes_username(request, credentials):
    """Failed sign-ins count per address whatever its case, as sign-in itself ignores case."""
    return (credentials or {}).get("username", "").strip().lower()
