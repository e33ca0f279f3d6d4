import re

import pytest
from playwright.sync_api import expect

from connections.models import ConnectionRequest
from tenants.models import Membership
from tests.e2e import helpers
from tests.factories import (
    BuyerFactory,
    MembershipFactory,
    SupplierFactory,
    SupplierRecordFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in(page, email):
    page.context.clear_cookies()
    helpers.sign_in(page, email)


def test_suggestion_and_search_flows_then_the_customer_answers(page):
    supplier = SupplierFactory(name="Acme Industrial Supply Inc.", slug="acme")
    MembershipFactory(
        organization=supplier, user=UserFactory(email="dana@acme.example"), role=Membership.Role.ADMINISTRATOR
    )
    suggested = BuyerFactory(name="Nordwind Handel GmbH", slug="nordwind")
    MembershipFactory(
        organization=suggested,
        user=UserFactory(email="greta@nordwind.example"),
        role=Membership.Role.ADMINISTRATOR,
    )
    SupplierRecordFactory(buyer=suggested, name="ACME Industrial", contact_email="orders@acme.example")
    searched = BuyerFactory(name="Sabiá Varejo Ltda.", slug="sabia")
    MembershipFactory(
        organization=searched, user=UserFactory(email="bia@sabia.example"), role=Membership.Role.ADMINISTRATOR
    )

    # Supplier: Setup > Connection requests, Connect on a suggestion.
    sign_in(page, "dana@acme.example")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Connection requests").click()
    table = page.get_by_role("table")
    expect(table).to_contain_text("Suggested")
    page.get_by_role("button", name="Connect with Nordwind Handel GmbH").click()
    expect(page.get_by_role("status")).to_contain_text("Your request to Nordwind Handel GmbH was sent.")
    row = page.get_by_role("row", name=re.compile("Nordwind Handel GmbH"))
    expect(row).to_contain_text("Pending")
    expect(row).to_contain_text("[System initiated]")

    # Supplier: the Search button under the table opens "Search for a customer".
    expect(page.get_by_label("Customer name")).to_be_hidden()
    page.locator("summary", has_text="Search").click()
    expect(page.get_by_role("heading", name="Search for a customer")).to_be_visible()
    page.get_by_label("Customer name").fill("sabi")
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_role("link", name="Select Sabiá Varejo Ltda.").click()
    page.get_by_label("Customer contact").fill("bia@sabia.example")
    page.get_by_text("I'm not a robot").click()
    expect(page.locator("altcha-widget .altcha")).to_have_attribute("data-state", "verified", timeout=20_000)
    page.get_by_label("I confirm that this organization is my customer").check()
    page.get_by_role("button", name="Request").click()
    expect(page.get_by_role("status")).to_contain_text("Your request to Sabiá Varejo Ltda. was sent.")
    expect(page.get_by_role("row", name=re.compile("Sabiá Varejo"))).to_contain_text("bia@sabia.example")
    assert ConnectionRequest.objects.filter(status="pending").count() == 2

    # Customer: approve.
    sign_in(page, "bia@sabia.example")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Connection requests").click()
    expect(page.get_by_role("table")).to_contain_text("30 days left")
    page.get_by_role("button", name="Approve the request of Acme Industrial Supply Inc.").click()
    expect(page.get_by_role("status")).to_contain_text(
        "You are now connected with Acme Industrial Supply Inc."
    )

    # Customer: reject with a comment.
    sign_in(page, "greta@nordwind.example")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Connection requests").click()
    page.get_by_role("link", name="Reject the request of Acme Industrial Supply Inc.").click()
    page.get_by_label("Comment for the supplier (optional)").fill("We buy centrally.")
    page.get_by_role("button", name="Reject").click()
    expect(page.get_by_role("table")).to_contain_text("Rejected")

    # Supplier: the table shows both answers; the approved customer is a link with its linked records.
    sign_in(page, "dana@acme.example")
    page.goto("/o/acme/connections/requests/")
    expect(page.get_by_role("row", name=re.compile("Nordwind.*Rejected"))).to_contain_text(
        "We buy centrally."
    )
    # Rejected is not final: one of three requests is used, so Nordwind is suggested again.
    expect(page.get_by_role("row", name=re.compile("Nordwind.*Connect"))).to_contain_text("Suggested")
    link = page.get_by_role("link", name="Sabiá Varejo Ltda.")
    expect(page.get_by_role("row", name=re.compile("Sabiá"))).to_contain_text("Approved")
    link.focus()
    expect(page.get_by_role("tooltip")).to_be_visible()
    expect(page.get_by_role("tooltip")).to_contain_text("Linked supplier records")
