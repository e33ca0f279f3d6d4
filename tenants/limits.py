"""How often one person may do what costs others something: send, upload, search, ask to connect.

Each action has a rate in settings.RATE_LIMITS, counted in the cache per user (per IP address when signed
out) by django-ratelimit. A view calls limit() before it reads or saves anything, so a refused request
saves nothing; the refusal is answered by tenants.views.rate_limited with a 429 page saying what to do.
"""

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import is_ratelimited
from django_ratelimit.exceptions import Ratelimited


def limit(request: HttpRequest, action: str) -> None:
    """Counts one `action` ("send", "upload", "search", "connect") for this person; raises Ratelimited
    once they are past its rate."""
    if is_ratelimited(
        request,
        group=f"parley:{action}",
        key="user_or_ip",
        rate=settings.RATE_LIMITS[action],
        increment=True,
    ):
        raise Ratelimited(action)


def limit_message(request: HttpRequest) -> None:
    """A message posted: one send, and one upload when it carries files."""
    limit(request, "send")
    if request.FILES:
        limit(request, "upload")
