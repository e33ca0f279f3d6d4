"""Hardening (#8), as an operator checks it: production passes `check --deploy` and sends HSTS and secure
cookies; every page carries a Content-Security-Policy without 'unsafe-inline' or 'unsafe-eval' and holds
nothing inline for it to refuse; the security headers are sent; a missing or foreign CSRF token saves
nothing; repeated wrong passwords lock the sign-in. The policy in a real browser: tests/e2e/test_csp.py."""

import base64
import datetime
import hashlib
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse

from connections.forms import sign_selection
from messaging.models import Conversation, Message
from tenants.models import Membership
from tests.factories import (
    PASSWORD,
    BuyerFactory,
    ConnectionFactory,
    MembershipFactory,
    MerchantFactory,
    PartnerFactory,
    PartnerProfileFactory,
    ServiceFactory,
    UserFactory,
    contact_partner,
    start_conversation,
)

ROOT = Path(__file__).resolve().parent.parent
# What production needs and nothing more; the services are named but never reached by these commands.
PRODUCTION_ENV = {
    "PATH": os.environ["PATH"],
    "HOME": os.environ.get("HOME", "/tmp"),
    "DJANGO_ENV": "production",
    "SECRET_KEY": "production-" + "x7Qm2" * 10,
    "ALLOWED_HOSTS": "parley.example",
    "DATABASE_URL": "postgres://parley@db.invalid:5432/parley",
    "REDIS_URL": "redis://cache.invalid:6379/0",
    "DJANGO_SETTINGS_MODULE": "config.settings",
}
# Asks production's settings for the sign-in page twice, over HTTP and HTTPS. Only the static-files manifest
# (collectstatic builds it at deploy) is swapped for plain storage; the security settings are production's.
PRODUCTION_REQUEST = """
import json
import django
from django.conf import settings
django.setup()
from django.test import Client, override_settings
plain_static = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
with override_settings(STORAGES={**settings.STORAGES, "staticfiles": plain_static}):
    client = Client()
    plain = client.get("/accounts/login/", HTTP_HOST="parley.example")
    secure = client.get("/accounts/login/", HTTP_HOST="parley.example", secure=True)
print(json.dumps({
    "plain": [plain.status_code, plain.get("Location")],
    "secure": [secure.status_code, dict(secure.headers)],
    "csrf_cookie_secure": bool(secure.cookies["csrftoken"]["secure"]),
    "session_cookie_secure": settings.SESSION_COOKIE_SECURE,
    "language_cookie_secure": settings.LANGUAGE_COOKIE_SECURE,
}))
"""


def run_production(args: list[str], tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**PRODUCTION_ENV, "PARLEY_VAR_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )


class TestProduction:
    def test_check_deploy_has_nothing_to_say(self, tmp_path):
        # tests/test_settings.py runs it on the embedded defaults; this is the shape production runs in.
        result = run_production(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "System check identified no issues" in result.stdout
        assert "WARNING" not in result.stdout + result.stderr

    def test_https_only_hsts_and_secure_cookies(self, tmp_path):
        result = run_production(["-c", PRODUCTION_REQUEST], tmp_path)
        assert result.returncode == 0, result.stderr
        answers = json.loads(result.stdout.strip().splitlines()[-1])
        assert answers["plain"] == [301, "https://parley.example/accounts/login/"]
        status, headers = answers["secure"]
        assert status == 200
        assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
        assert "'unsafe-inline'" not in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY"
        assert answers["csrf_cookie_secure"] and answers["session_cookie_secure"]
        assert answers["language_cookie_secure"]


# Content-Security-Policy ------------------------------------------------------------------------------------


def policy_of(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    parts = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in parts}


class InlineFinder(HTMLParser):
    """What a strict policy refuses in a page: inline scripts and styles, event-handler attributes, htmx's
    hx-on and js: values (both are eval), javascript: links."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "script" and not values.get("src"):
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style>")
        for name, value in attrs:
            value = (value or "").strip().lower()
            if name == "style" or name.startswith(("on", "hx-on", "data-hx-on")):
                self.found.append(f"<{tag} {name}>")
            elif name in ("hx-vals", "hx-vars", "hx-headers") and value.startswith(("js:", "javascript:")):
                self.found.append(f"<{tag} {name}=js:>")
            elif name in ("href", "src", "action", "formaction") and value.startswith("javascript:"):
                self.found.append(f"<{tag} {name}=javascript:>")


def inline_parts(html: str) -> list[str]:
    finder = InlineFinder()
    finder.feed(html)
    return finder.found


@pytest.fixture
def walk(db, client, supplier, supplier_admin, buyer, buyer_admin):
    """The main pages of each kind of organization, with their htmx fragments: (name, response)."""
    ConnectionFactory(supplier=supplier, customer=buyer)
    conversation = start_conversation(supplier_admin, buyer, subject="Delivery", body="Hello <b>there</b>")
    stranger = BuyerFactory(name="Sabiá Varejo Ltda.")
    partner = PartnerFactory()
    PartnerProfileFactory(organization=partner)
    ServiceFactory(partner=partner)
    MembershipFactory(organization=partner, user=(petra := UserFactory()), role=Membership.Role.ADMINISTRATOR)
    merchant = MerchantFactory()
    MembershipFactory(
        organization=merchant, user=(maria := UserFactory()), role=Membership.Role.ADMINISTRATOR
    )
    partner_request = contact_partner(maria, partner)

    def org(organization, name, **kwargs):
        return reverse(name, kwargs={"org_slug": organization.slug, **kwargs})

    htmx = {"HX-Request": "true"}
    pages = [(None, "sign-in", reverse("login"), {}), (None, "password reset", reverse("password_reset"), {})]
    pages += [
        (supplier_admin, "supplier home", org(supplier, "tenants:home"), {}),
        (supplier_admin, "inbox", org(supplier, "messaging:inbox"), {}),
        (supplier_admin, "inbox search (htmx)", org(supplier, "messaging:inbox") + "?q=Deliv", htmx),
        (supplier_admin, "compose", org(supplier, "messaging:compose"), {}),
        (
            supplier_admin,
            "conversation",
            org(supplier, "messaging:conversation", conversation_id=conversation.pk),
            {},
        ),
        (supplier_admin, "connection requests", org(supplier, "connections:requests"), {}),
        (
            supplier_admin,
            "connection request with captcha",
            org(supplier, "connections:request_new")
            + "?customer="
            + sign_selection(supplier_id=supplier.pk, customer_id=stranger.pk),
            {},
        ),
        (supplier_admin, "settings", org(supplier, "tenants:settings"), {}),
        (supplier_admin, "unread badge (htmx)", org(supplier, "messaging:badge"), htmx),
        (buyer_admin, "documents", org(buyer, "documents:list"), {}),
        (buyer_admin, "suppliers", org(buyer, "connections:supplier_records"), {}),
        (buyer_admin, "incoming requests", org(buyer, "connections:incoming"), {}),
        (buyer_admin, "preferences", org(buyer, "notifications:preferences"), {}),
        (petra, "partner services", org(partner, "partners:services"), {}),
        (petra, "partner inbox", org(partner, "partners:inbox"), {}),
        (petra, "partner request", org(partner, "partners:request", request_id=partner_request.pk), {}),
        (petra, "partner tags", org(partner, "partners:tags"), {}),
        (maria, "find a partner", org(merchant, "partners:experts"), {}),
        (maria, "merchant requests", org(merchant, "partners:requests"), {}),
        (maria, "stores", org(merchant, "partners:stores"), {}),
        (maria, "matching", org(merchant, "partners:match"), {}),
        (maria, "not found", org(merchant, "tenants:home") + "no-such-page/", {}),
    ]
    answers = []
    for user, name, path, headers in pages:
        client.logout()
        if user is not None:
            client.force_login(user)
        response = client.get(path, headers=headers)
        assert response.status_code == (404 if name == "not found" else 200), name
        answers.append((name, response))
    return answers


def test_every_page_has_a_strict_policy(walk, settings):
    for name, response in walk:
        policy = policy_of(response)
        assert policy["default-src"] == ["'self'"], name
        assert policy["script-src"] == ["'self'"], name
        assert policy["style-src"] == ["'self'", settings.ALTCHA_STYLE_HASH], name
        assert policy["worker-src"] == ["'self'", "blob:"], name
        assert policy["object-src"] == ["'none'"], name
        assert policy["frame-ancestors"] == ["'none'"], name
        assert policy["base-uri"] == ["'self'"] and policy["form-action"] == ["'self'"], name
        header = response.headers["Content-Security-Policy"]
        assert "unsafe" not in header and "*" not in header and "data:" not in header, name


def test_no_page_holds_anything_inline_for_the_policy_to_refuse(walk):
    offenders = {name: inline_parts(response.content.decode()) for name, response in walk}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_finder_finds_what_it_looks_for():
    html = (
        '<script>x()</script><script src="/static/a.js"></script><style>p{}</style><p style="color:red">'
        '<button onclick="x()" hx-on::click="x()" hx-vals="js:{a: x()}"><a href="javascript:x()">'
    )
    assert inline_parts(html) == [
        "inline <script>",
        "<style>",
        "<p style>",
        "<button onclick>",
        "<button hx-on::click>",
        "<button hx-vals=js:>",
        "<a href=javascript:>",
    ]


def test_the_captcha_style_hash_is_of_the_installed_widget(settings):
    """The one inline stylesheet allowed is the one ALTCHA's script injects: upgrading django-altcha changes
    it, and this says so before the browser refuses it (compute the new value as below)."""
    script = Path(finders.find("altcha/altcha.min.js")).read_text(encoding="utf-8")
    css = re.search(r"'([^']*)';function \w+\(\w+,\w+=\"__altcha-css\"\)", script).group(1)
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    assert f"'sha256-{digest}'" == settings.ALTCHA_STYLE_HASH


def test_htmx_is_configured_not_to_evaluate_anything(client, db):
    html = client.get(reverse("login")).content.decode()
    config = json.loads(re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", html).group(1))
    assert config["allowEval"] is False and config["allowScriptTags"] is False
    assert config["selfRequestsOnly"] is True and config["includeIndicatorStyles"] is False
    assert config["historyCacheSize"] == 0 and config["refreshOnHistoryMiss"] is True
    assert {"code": "400", "swap": True, "error": False} in config["responseHandling"]


def test_a_download_keeps_its_own_sandbox_policy(client, supplier, supplier_admin, buyer):
    ConnectionFactory(supplier=supplier, customer=buyer)
    conversation = start_conversation(supplier_admin, buyer, files=[("plan.html", b"<script>x()</script>")])
    client.force_login(supplier_admin)
    attachment = conversation.messages.get().attachments.get()
    response = client.get(
        reverse("messaging:attachment", kwargs={"org_slug": supplier.slug, "attachment_id": attachment.pk})
    )
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"


# Security headers -------------------------------------------------------------------------------------------


def test_security_headers_on_pages_fragments_and_errors(walk):
    for name, response in walk:
        assert response.headers["X-Frame-Options"] == "DENY", name
        assert response.headers["X-Content-Type-Options"] == "nosniff", name
        assert response.headers["Referrer-Policy"] == "same-origin", name
        assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin", name


# CSRF -------------------------------------------------------------------------------------------------------


def csrf_of(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def client_token_of(html: str) -> str:
    return re.search(r'name="client_token" value="([^"]+)"', html).group(1)


def assert_refused(response):
    assert response.status_code == 403
    body = response.content.decode()
    assert "This form has expired" in body
    assert "Content-Security-Policy" in response.headers


@pytest.mark.django_db
class TestCsrf:
    @pytest.fixture
    def conversation(self, supplier, supplier_admin, buyer):
        ConnectionFactory(supplier=supplier, customer=buyer)
        return start_conversation(supplier_admin, buyer, subject="Delivery", body="Hello")

    def signed_in(self, user) -> Client:
        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        return client

    def test_sending_without_a_token_is_refused_and_saves_nothing(
        self, conversation, supplier, buyer_admin, buyer
    ):
        url = reverse(
            "messaging:conversation", kwargs={"org_slug": buyer.slug, "conversation_id": conversation.pk}
        )
        client = self.signed_in(buyer_admin)
        page = client.get(url).content.decode()  # the page sets the CSRF cookie: only the token is missing
        data = {"body": "Forged reply", "client_token": client_token_of(page)}
        assert_refused(client.post(url, data))
        assert_refused(client.post(url, data, headers={"HX-Request": "true"}))
        compose = reverse("messaging:compose", kwargs={"org_slug": buyer.slug})
        assert_refused(
            client.post(compose, {"counterpart": supplier.pk, "subject": "Forged", "body": "Forged"})
        )
        assert list(Message.objects.values_list("body", flat=True)) == ["Hello"]
        assert Conversation.objects.count() == 1

    def test_a_token_of_another_session_is_refused(self, conversation, buyer_admin, buyer):
        url = reverse(
            "messaging:conversation", kwargs={"org_slug": buyer.slug, "conversation_id": conversation.pk}
        )
        attacker = Client(enforce_csrf_checks=True)  # a session of the attacker's own, on the real site
        foreign = csrf_of(attacker.get(reverse("login")).content.decode())
        victim = self.signed_in(buyer_admin)
        page = victim.get(url).content.decode()
        data = {"body": "Forged reply", "client_token": client_token_of(page), "csrfmiddlewaretoken": foreign}
        assert_refused(victim.post(url, data))
        del data["csrfmiddlewaretoken"]
        assert_refused(victim.post(url, data, headers={"HX-Request": "true", "X-CSRFToken": foreign}))
        assert list(Message.objects.values_list("body", flat=True)) == ["Hello"]
        # The victim's own token works, so the refusals above were about the token alone.
        data["csrfmiddlewaretoken"] = csrf_of(page)
        assert victim.post(url, data).status_code == 302

    def test_sign_in_without_or_with_a_foreign_token_is_refused(self, buyer_admin):
        other = Client(enforce_csrf_checks=True)
        foreign = csrf_of(other.get(reverse("login")).content.decode())
        client = Client(enforce_csrf_checks=True)
        client.get(reverse("login"))
        credentials = {"username": buyer_admin.email, "password": PASSWORD}
        assert_refused(client.post(reverse("login"), credentials))
        assert_refused(client.post(reverse("login"), {**credentials, "csrfmiddlewaretoken": foreign}))
        assert "_auth_user_id" not in client.session


# Sign-in throttling (the lock itself: tests/tenants/test_views.py) ------------------------------------------


def fail(client, email, times):
    for _ in range(times):
        client.post(reverse("login"), {"username": email, "password": "wrong password"})


@pytest.mark.django_db
class TestSignInThrottling:
    def test_the_lock_ends_after_a_quiet_cool_off(self, client, buyer_admin, settings):
        """Each try during the lock starts the cool-off again: a bot that keeps trying stays locked out."""
        import time_machine

        start = datetime.datetime(2026, 5, 1, 10, 0, tzinfo=datetime.UTC)
        cool_off = settings.AXES_COOLOFF_TIME
        minute = datetime.timedelta(minutes=1)

        def sign_in_at(moment):
            with time_machine.travel(moment, tick=False):
                return client.post(reverse("login"), {"username": buyer_admin.email, "password": PASSWORD})

        with time_machine.travel(start, tick=False):
            fail(client, buyer_admin.email, settings.AXES_FAILURE_LIMIT)
        assert sign_in_at(start + cool_off - minute).status_code == 429  # even the right password
        last_try = start + cool_off + minute  # free by now, had the try above not started the wait again
        assert sign_in_at(last_try).status_code == 429
        assert sign_in_at(last_try + cool_off - minute).status_code == 429
        assert sign_in_at(last_try + cool_off - minute + cool_off + minute).status_code == 302  # signed in

    def test_the_admin_sign_in_is_locked_too(self, client, settings):
        staff = UserFactory(is_staff=True, is_superuser=True)
        fail(client, staff.email, settings.AXES_FAILURE_LIMIT)
        response = client.post(reverse("admin:login"), {"username": staff.email, "password": PASSWORD})
        assert response.status_code == 429
        assert "Too many failed sign-ins" in response.content.decode()
        assert "_auth_user_id" not in client.session

    def test_the_lock_does_not_tell_whether_an_address_has_an_account(self, client, buyer_admin, settings):
        pages = []
        for email in (buyer_admin.email, "nobody@example.com"):
            fail(client, email, settings.AXES_FAILURE_LIMIT)
            response = client.post(reverse("login"), {"username": email, "password": PASSWORD})
            # The masked CSRF token differs on every page by design; nothing else may.
            masked = re.sub(r'(value=|"X-CSRFToken": )"[^"]+"', "", response.content.decode())
            pages.append((response.status_code, masked))
        assert pages[0] == pages[1]
        assert pages[0][0] == 429
