"""The Content-Security-Policy holds in a real browser: walking the main pages of every kind of organization,
with htmx swaps, live updates and the captcha solved, Chromium reports no violation at all."""

import re

import pytest
from playwright.sync_api import expect

from connections.models import ConnectionRequest
from tenants.models import Membership
from tests.e2e import helpers
from tests.factories import (
    BuyerFactory,
    ConnectionFactory,
    DocumentFactory,
    MembershipFactory,
    MerchantFactory,
    PartnerFactory,
    PartnerProfileFactory,
    ServiceFactory,
    StoreFactory,
    SupplierFactory,
    UserFactory,
    contact_partner,
)

pytestmark = pytest.mark.django_db(transaction=True)
LIVE = 5_000  # an open conversation polls every 4 seconds

# Runs before any script of every page (DevTools injects it, so the page's own policy does not apply to it).
LISTEN = """
window.addEventListener("securitypolicyviolation", (event) => {
  window.reportViolation({
    page: location.pathname,
    directive: event.effectiveDirective,
    blocked: event.blockedURI,
    source: event.sourceFile,
    line: event.lineNumber,
    sample: event.sample,
  });
}, true);
"""


class Watch:
    """Every CSP violation the pages of its browser contexts report, as events and as console messages,
    and how many requests htmx made (had htmx been refused, the pages would still work, without it)."""

    def __init__(self, browser, live_server):
        self.browser = browser
        self.live_server = live_server
        self.contexts = []
        self.events: list[dict] = []
        self.console: list[str] = []
        self.htmx_requests: list[str] = []
        self.pages_seen: set[str] = set()

    def page(self):
        context = self.browser.new_context(base_url=self.live_server.url, locale="en-US")
        context.set_default_timeout(10_000)
        context.expose_binding("reportViolation", lambda source, violation: self.events.append(violation))
        context.add_init_script(LISTEN)
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", self._console)
        page.on("request", self._request)
        page.on("framenavigated", lambda frame: self.pages_seen.add(re.sub(r"\d+|[?#].*", "", frame.url)))
        return page

    def sign_in(self, email):
        page = self.page()
        helpers.sign_in(page, email)
        expect(page).not_to_have_url(re.compile("/accounts/login/"))
        return page

    def _console(self, message):
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(message.text)

    def _request(self, request):
        if request.headers.get("hx-request") == "true":
            self.htmx_requests.append(request.url)

    def clear(self):
        self.events.clear()
        self.console.clear()

    def close(self):
        for context in self.contexts:
            context.close()


@pytest.fixture
def watch(browser, live_server):
    watch = Watch(browser, live_server)
    yield watch
    watch.close()


def admin(organization, email):
    MembershipFactory(
        organization=organization, user=UserFactory(email=email), role=Membership.Role.ADMINISTRATOR
    )


def settle(page):
    """Lets asynchronous work (module scripts, workers, htmx's load triggers) finish before the next step."""
    page.wait_for_load_state("networkidle")


def until(condition, page, seconds=5):
    """Reports reach Python asynchronously (a binding, the console): wait for them as expect() would."""
    for _ in range(seconds * 10):
        if condition():
            return
        page.wait_for_timeout(100)
    raise AssertionError("not reported in time")


def test_the_listener_sees_what_the_policy_refuses(watch):
    """The walk below proves nothing unless violations are seen: inline styles and scripts are refused."""
    page = watch.page()
    response = page.goto("/accounts/login/")
    policy = response.headers["content-security-policy"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    page.evaluate(
        "() => { const s = document.createElement('style'); s.textContent = 'p{}'; document.head.append(s); }"
    )
    # An inline handler and an inline script, added by the page itself, must not run.
    page.evaluate(
        "() => { document.body.setAttribute('onclick', 'window.ran = 1'); document.body.click();"
        " const s = document.createElement('script'); s.textContent = 'window.ran = 2';"
        " document.head.append(s); }"
    )
    assert page.evaluate("() => window.ran") is None
    until(lambda: len(watch.events) == 3 and len(watch.console) == 3, page)
    assert sorted(violation["directive"] for violation in watch.events) == [
        "script-src-attr",
        "script-src-elem",
        "style-src-elem",
    ]


def test_main_pages_htmx_and_captcha_raise_no_csp_violation(watch):
    supplier = SupplierFactory(name="Acme Industrial Supply Inc.", slug="acme")
    buyer = BuyerFactory(name="Nordwind Handel GmbH", slug="nordwind")
    admin(supplier, "dana@acme.example")
    admin(buyer, "greta@nordwind.example")
    ConnectionFactory(supplier=supplier, customer=buyer)
    DocumentFactory(buyer=buyer, supplier=supplier, number="4500012345")
    admin(BuyerFactory(name="Sabiá Varejo Ltda.", slug="sabia"), "bia@sabia.example")
    pixelwerk = PartnerFactory(name="Pixelwerk Studio", slug="pixelwerk")
    PartnerProfileFactory(organization=pixelwerk, languages=",en,", regions=",europe,")
    ServiceFactory(partner=pixelwerk, title="Theme", category="theme")
    ServiceFactory(partner=pixelwerk, title="SEO audit", category="seo")
    admin(pixelwerk, "petra@pixelwerk.example")
    lumen = MerchantFactory(name="Lumen Goods Ltd", slug="lumen")
    maria = UserFactory(email="maria@lumen.example")
    MembershipFactory(organization=lumen, user=maria, role=Membership.Role.ADMINISTRATOR)
    StoreFactory(merchant=lumen, name="Lumen Candles", url="https://lumencandles.example", owner=maria)
    partner_request = contact_partner(maria, pixelwerk, requirements="A theme for our candles.")

    # Supplier: home, inbox, a new message (the "+" of parley.js picks the customer), the conversation.
    dana = watch.sign_in("dana@acme.example")
    dana.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile("^Messages")).click()
    dana.get_by_role("link", name="New message").click()
    dana.get_by_label("Search").fill("nord")  # htmx narrows the connected customers
    dana.get_by_role("button", name="Write to Nordwind Handel GmbH").click()
    dana.locator("#id_subject").fill("Delivery next week")
    dana.locator("#id_body").fill("Hello Greta, the goods ship on Monday.")
    dana.get_by_role("button", name="Send").click()
    expect(dana.get_by_role("heading", level=1)).to_have_text("Delivery next week")
    conversation_url = dana.url

    # Customer: the badge (htmx), the conversation, a reply; the supplier sees it arrive through htmx polling.
    greta = watch.sign_in("greta@nordwind.example")
    expect(greta.locator("#unread-badge")).to_contain_text("1", timeout=LIVE + 2_000)
    greta.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile("^Messages")).click()
    greta.get_by_role("link", name=re.compile("Delivery next week")).click()
    greta.locator("#id_body").fill("Thank you, Monday works.")
    greta.get_by_role("button", name="Send").click()
    expect(greta.get_by_role("article").last).to_contain_text("Thank you, Monday works.")
    expect(dana.get_by_role("article").last).to_contain_text("Thank you, Monday works.", timeout=LIVE + 2_000)

    # Customer: documents (the document's messages panel loads through htmx), suppliers, requests, settings.
    greta.goto("/o/nordwind/documents/")
    greta.get_by_role("link", name="4500012345").click()
    expect(greta.locator("#document-messages")).to_contain_text("New message to Acme Industrial Supply Inc.")
    for path in (
        "/o/nordwind/connections/suppliers/",
        "/o/nordwind/connections/incoming/",
        "/o/nordwind/settings/",
    ):
        greta.goto(path)
        settle(greta)

    # Supplier: the inbox searched through htmx (pushing the URL); Back reloads the page: htmx keeps no copy.
    dana.goto("/o/acme/messages/")
    dana.get_by_label("Search").fill("Delivery")
    expect(dana).to_have_url(re.compile(r"q=Delivery"))
    expect(dana.locator("#conversation-list")).to_contain_text("Delivery next week")
    dana.go_back()
    expect(dana.get_by_role("heading", level=1)).to_have_text("Messages")
    expect(dana.get_by_role("navigation", name="Main")).to_be_visible()
    assert dana.evaluate("() => sessionStorage.getItem('htmx-history-cache')") is None

    # Supplier: a connection request with the captcha solved (its worker and stylesheet run under the policy).
    dana.get_by_role("navigation", name="Main").get_by_role("link", name="Connection requests").click()
    dana.locator("summary", has_text="Search").click()
    dana.get_by_label("Customer name").fill("sabi")
    dana.get_by_role("button", name="Search", exact=True).click()  # htmx posts and swaps the panel
    dana.get_by_role("link", name="Select Sabiá Varejo Ltda.").click()
    dana.get_by_label("Customer contact").fill("bia@sabia.example")
    dana.get_by_text("I'm not a robot").click()
    expect(dana.locator("altcha-widget .altcha")).to_have_attribute("data-state", "verified", timeout=20_000)
    dana.get_by_label("I confirm that this organization is my customer").check()
    dana.get_by_role("button", name="Request").click()
    expect(dana.get_by_role("status")).to_contain_text("Your request to Sabiá Varejo Ltda. was sent.")
    assert ConnectionRequest.objects.filter(customer__slug="sabia", status="pending").count() == 1
    dana.goto(conversation_url)
    settle(dana)

    # Partner: services, profile, inbox, the request with a tag added through htmx, the tags page.
    petra = watch.sign_in("petra@pixelwerk.example")
    for path in (
        "/o/pixelwerk/services/",
        "/o/pixelwerk/services/profile/",
        "/o/pixelwerk/services/messages/",
    ):
        petra.goto(path)
        settle(petra)
    petra.goto(f"/o/pixelwerk/requests/{partner_request.pk}/")
    petra.get_by_label("Add tag").fill("Candles")
    petra.get_by_role("button", name="Add", exact=True).click()
    expect(petra.locator("#request-tags")).to_contain_text("Candles")
    petra.goto("/o/pixelwerk/services/tags/")
    settle(petra)

    # Merchant: find a partner filtered through htmx, the request, stores, matching.
    maria_page = watch.sign_in("maria@lumen.example")
    maria_page.get_by_role("navigation", name="Main").get_by_role("link", name="Find a partner").click()
    maria_page.get_by_label("Category").select_option(label="Search engine optimization")
    expect(maria_page).to_have_url(re.compile("category=seo"))
    expect(maria_page.locator("#service-results").get_by_role("heading", name="SEO audit")).to_be_visible()
    for path in (
        "/o/lumen/experts/messages/",
        f"/o/lumen/requests/{partner_request.pk}/",
        "/o/lumen/stores/",
        "/o/lumen/experts/match/",
    ):
        maria_page.goto(path)
        settle(maria_page)

    # A page that does not exist, and signing out.
    assert maria_page.goto("/o/lumen/no-such-page/").status == 404
    maria_page.goto("/o/lumen/")
    maria_page.locator("summary[aria-label='Account']").click()
    maria_page.get_by_role("button", name="Sign out").click()
    expect(maria_page).to_have_url(re.compile("/accounts/login/"))
    for page in (dana, greta, petra):
        settle(page)

    assert watch.events == []
    assert watch.console == []
    assert len(watch.htmx_requests) >= 8, watch.htmx_requests
    assert len(watch.pages_seen) >= 25, sorted(watch.pages_seen)  # different pages, ids and queries aside
