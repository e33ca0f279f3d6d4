"""The page a person gets when the database is away, whichever part of the request it failed in."""

from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.exceptions import SessionInterrupted
from django.db import OperationalError
from django.utils import translation

from config.errors import bad_request, server_error


def session_lost_with_the_database() -> SessionInterrupted:
    """What Django raises when a request did its work and saving its session then failed on the database."""
    try:
        try:
            try:
                raise OperationalError("server closed the connection unexpectedly")
            except OperationalError:
                raise UpdateError  # noqa: B904 (as django.contrib.sessions.backends.db raises it)
        except UpdateError:
            raise SessionInterrupted("The request's session was deleted before the request completed.")  # noqa: B904
    except SessionInterrupted as interrupted:
        return interrupted


def test_a_session_lost_with_the_database_is_the_try_again_page_not_a_bad_request(rf):
    response = bad_request(rf.post("/o/acme/messages/1/"), session_lost_with_the_database())
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert "Back in a moment" in response.content.decode()
    # A session really deleted meanwhile (signed out elsewhere) is still a bad request.
    assert bad_request(rf.get("/"), SessionInterrupted("deleted")).status_code == 400


def test_the_database_away_is_503_in_german_too_and_anything_else_the_500_page(rf):
    with translation.override("de"):
        try:
            raise OperationalError("connection refused")
        except OperationalError:
            response = server_error(rf.get("/"))
    assert response.status_code == 503
    assert "Gleich wieder da" in response.content.decode()
    try:
        raise ValueError("a bug")
    except ValueError:
        assert server_error(rf.get("/")).status_code == 500
