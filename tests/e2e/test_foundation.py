import re

import pytest
from playwright.sync_api import expect

from tenants.models import Membership
from tests.factories import PASSWORD, DocumentFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_sign_in_switch_organization_open_a_document_change_language(page, buyer, supplier):
    user = UserFactory(email="sam@example.com", first_name="Sam", last_name="Rivera")
    MembershipFactory(user=user, organization=buyer, role=Membership.Role.ADMINISTRATOR)
    MembershipFactory(user=user, organization=supplier, role=Membership.Role.MEMBER)
    DocumentFactory(buyer=buyer, supplier=supplier, number="4500012345")
    DocumentFactory(buyer=buyer, supplier=supplier, kind="invoice", number="INV-2026-0007")

    # Sign in: a wrong password first, then the right one.
    page.goto("/")
    page.get_by_label("Email address").fill("sam@example.com")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match an account")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    # The first organization by name: Acme, the supplier.
    expect(page.get_by_role("heading", level=1)).to_have_text(supplier.name)

    # Switch to the buyer through the organization switcher.
    page.get_by_label("Switch organization").click()
    page.get_by_role("link", name=re.compile(buyer.name)).click()
    expect(page).to_have_url(re.compile(f"/o/{buyer.slug}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(buyer.name)

    # Documents: filter to invoices (htmx swaps the results), then open the purchase order.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Documents").click()
    page.get_by_label("Kind").select_option("invoice")
    expect(page.locator("#document-results")).not_to_contain_text("4500012345")
    expect(page.locator("#document-results")).to_contain_text("INV-2026-0007")
    expect(page).to_have_url(re.compile(r"kind=invoice"))
    page.get_by_label("Kind").select_option("")
    page.get_by_role("link", name="4500012345").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Purchase order 4500012345")
    expect(page.get_by_text(f"With {supplier.name}", exact=True)).to_be_visible()

    # Change the language; the choice sticks after signing out and in again.
    page.get_by_label("Account").click()
    page.get_by_label("Language").select_option("de")
    page.get_by_role("button", name="Change language").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Bestellung 4500012345")
    expect(page.get_by_role("navigation", name="Hauptnavigation")).to_contain_text("Dokumente")
    user.refresh_from_db()
    assert user.language == "de"


def test_member_sees_read_only_settings_on_a_phone(browser, live_server, buyer, buyer_member):
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    page = context.new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Email address").fill(buyer_member.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    expect(
        page.get_by_text("Only administrators of this organization can change its settings.")
    ).to_be_visible()
    expect(page.get_by_label("Contact email")).to_be_disabled()
    expect(page.get_by_role("button", name="Save settings")).to_have_count(0)
    # Nothing overflows the phone's width.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()
