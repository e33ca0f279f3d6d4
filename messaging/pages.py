"""Whole pages kept in the cache (the busiest: the messaging inbox and conversation, the partner inbox), under
keys that name every fact they show, so a changed fact makes a new key instead of a stale page.

What differs per response (the CSRF token, the language form's return path, a composer's one-time key) is
rendered as a marker and written in on the way out, so no stored page holds any of them. The markers derive
from the secret key: the same in every process, and nothing a user types can produce one. A page showing a
flash message, a POST and a form with errors are rendered for their response only (cacheable() says so).
"""

import functools
import hashlib
import uuid
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.contrib import messages
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.utils.crypto import salted_hmac
from django.utils.html import escape


def _marker(name: str) -> str:
    return "parley-" + salted_hmac("messaging.pages.marker", name).hexdigest()[:32]


CSRF_MARKER = _marker("csrf-token")
NEXT_MARKER = _marker("language-next")
CLIENT_TOKEN_MARKER = _marker("client-token")


@functools.cache
def build() -> str:
    """What this deployment renders with (templates, translations, static file names, the apps' code): a
    deploy makes new page keys, so no page links to static files that are gone."""
    digest = hashlib.sha256(repr(sorted(getattr(staticfiles_storage, "hashed_files", {}).items())).encode())
    roots = [Path(d) for t in settings.TEMPLATES for d in t.get("DIRS", [])]
    roots += [Path(d) for d in settings.LOCALE_PATHS]
    roots += [Path(app.path) for app in apps.get_app_configs() if Path(app.path).parent == settings.BASE_DIR]
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.suffix in {".html", ".txt", ".mo", ".py"} and path.is_file():
                digest.update(str(path).encode() + path.read_bytes())
    return digest.hexdigest()


def facts(instance, *leave_out: str) -> tuple:
    """Every stored value of a row, for a key: whatever the page shows of it, a change makes a new key."""
    return tuple(
        getattr(instance, field.attname)
        for field in instance._meta.concrete_fields
        if field.name not in leave_out
    )


def viewer(request: HttpRequest) -> tuple:
    """What _base.html shows of the person and their organizations (menu, switcher, navigation)."""
    return (
        facts(request.user, "password", "last_login"),
        request.membership.pk,
        tuple((m.pk, m.role, facts(m.organization)) for m in request.user_memberships),
        request.path,
        build(),
    )


def cacheable(request: HttpRequest) -> bool:
    # A flash message is shown once: a page that shows one is rendered for that response only.
    return request.method == "GET" and not len(messages.get_messages(request))


def render(request: HttpRequest, template: str, context: dict) -> str:
    """The page with markers where the per-response values go."""
    markers = {"csrf_token": CSRF_MARKER, "language_next": NEXT_MARKER}
    return str(render_to_string(template, {**context, **markers}, request))


def response(request: HttpRequest, html: str, status: int = 200) -> HttpResponse:
    """The page with this response's values written in."""
    html = (
        html.replace(CSRF_MARKER, get_token(request))
        .replace(NEXT_MARKER, escape(request.get_full_path()))
        .replace(CLIENT_TOKEN_MARKER, str(uuid.uuid4()))
    )
    return HttpResponse(html, status=status)
