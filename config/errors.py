"""Error pages for exceptions a view did not handle: a database that cannot be reached gets its own."""

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.views import defaults
from django.views.decorators.csrf import requires_csrf_token

# Raised when PostgreSQL restarts, fails over or drops the connection (also a deadlock or a statement
# timeout): the same request a few seconds later will most likely work.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5


def _database_unavailable(error: BaseException | None) -> bool:
    """The error, or one it was raised while handling, is the database's being unreachable."""
    while error is not None:
        if isinstance(error, DATABASE_UNAVAILABLE):
            return True
        error = error.__cause__ or error.__context__
    return False


def _try_again() -> HttpResponse:
    """503 "back in a moment", with Retry-After for load balancers and clients; rendered without the
    request's context, which may need the database."""
    response = HttpResponse(loader.get_template("503.html").render(), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


@requires_csrf_token
def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    """Django's 500 page, or 503 when the database could not be reached (in a view or a middleware)."""
    if _database_unavailable(sys.exc_info()[1]):
        return _try_again()
    return defaults.server_error(request, template_name)


@requires_csrf_token
def bad_request(request: HttpRequest, exception: Exception, template_name: str = "400.html") -> HttpResponse:
    """Django's 400 page, or 503 when what looked suspicious was the database going away: saving the session
    of a request that did its work fails, and Django takes the session for deleted (SessionInterrupted)."""
    if _database_unavailable(exception):
        return _try_again()
    return defaults.bad_request(request, exception, template_name)
