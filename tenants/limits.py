"""How often one person may do what costs others something: send, upload, search, ask to connect.

Each action has a rate in settings.RATE_LIMITS, counted in the cache per user (per IP address when signed
out) by django-ratelimit. A view calls limit() before it reads or saves anything, so a refused request
saves nothing; the refusal is answered by tenants.views.rate_limited with a 429 page saying what to do.
What comes without a request (a reply by email) is counted by limit_for() under a key of its own.
"""

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage, is_ratelimited
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


def limit_for(action: str, *, key: str) -> int:
    """Counts one `action` for `key` (a reply address, a person's id) where no request says who it is: 0 while
    within its rate, otherwise the seconds until its window ends. A person's id shares the web's count
    (limit()'s key for a signed-in person is their id)."""

    def count() -> dict | None:
        return get_usage(
            None,  # no request: the key below is all it reads
            group=f"parley:{action}",
            key=lambda _group, _request: key,
            rate=settings.RATE_LIMITS[action],
            increment=True,
        )

    usage = count()
    if usage is not None and usage["count"] == 0:
        # The count vanished between django-ratelimit's add and incr (Redis flushed or restarted empty),
        # which it reports as over the limit: counted again, from one.
        usage = count()
    if usage is None or not usage["should_limit"]:
        return 0
    # The window still counts its last whole second (django-ratelimit compares whole seconds): one more.
    return max(usage["time_left"], 0) + 1
