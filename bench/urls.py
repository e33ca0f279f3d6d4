"""The app's URLs plus the authenticated baseline: a page that passes every middleware (session, user, the
active organization) and then does nothing, so each real page can be compared with it."""

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.http import require_GET

from config.urls import urlpatterns as app_urlpatterns
from tenants.decorators import organization_required


@require_GET
@organization_required
def trivial(request) -> HttpResponse:
    return HttpResponse(f"ok {request.organization.slug}", content_type="text/plain")


urlpatterns = [
    path("o/<slug:org_slug>/bench/trivial/", trivial, name="bench_trivial"),
    *app_urlpatterns,
]
