"""The bare baseline: one Django view, no middleware, no database. What the framework costs by itself."""

from django.http import HttpResponse
from django.urls import path


def bare(request) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [path("bare/", bare), path("healthz/", bare)]
