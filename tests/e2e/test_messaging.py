import re

import pytest
from playwright.sync_api import expect

from messaging.models import Conversation
from tenants.models import Membership
from tests.e2e import helpers
from tests.factories import (
    BuyerFactory,
    ConnectionFactory,
    DocumentFactory,
    MembershipFactory,
    SupplierFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)
LIVE = 5_000  # what people are promised: new messages and the badge without a reload within 5 seconds


def signed_in_page(browser, live_server, email):
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    context.set_default_timeout(10_000)
    page = context.new_page()
    helpers.sign_in(page, email)
    return page


def test_supplier_and_customer_talk_both_ways_free_standing_and_about_a_document(
    browser, live_server, tmp_path
):
    supplier = SupplierFactory(name="Acme Industrial Supply Inc.", slug="acme", tier="enterprise")
    buyer = BuyerFactory(name="Nordwind Handel GmbH", slug="nordwind")
    for organization, email in ((supplier, "dana@acme.example"), (buyer, "greta@nordwind.example")):
        MembershipFactory(
            organization=organization, user=UserFactory(email=email), role=Membership.Role.ADMINISTRATOR
        )
    ConnectionFactory(supplier=supplier, customer=buyer)
    DocumentFactory(buyer=buyer, supplier=supplier, number="4500012345")
    drawing = tmp_path / "drawing.pdf"
    drawing.write_bytes(b"%PDF-1.4 drawing")

    dana = signed_in_page(browser, live_server, "dana@acme.example")
    greta = signed_in_page(browser, live_server, "greta@nordwind.example")
    greta.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile("^Messages")).click()
    expect(greta.get_by_text("No conversations yet.")).to_be_visible()

    # Supplier, context-free: Messages tab, pencil, pick the customer (+), subject, message, paper clip, Send.
    dana.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile("^Messages")).click()
    dana.get_by_role("link", name="New message").click()
    dana.get_by_role("button", name="Write to Nordwind Handel GmbH").click()
    expect(dana.locator("#id_counterpart")).to_have_value(str(buyer.pk))
    dana.locator("#id_subject").fill("Delivery next week")
    dana.locator("#id_body").fill("Hello Greta,\nthe goods ship on Monday. Drawing attached.")
    dana.get_by_label("Attach files").set_input_files(str(drawing))
    dana.get_by_role("button", name="Send").click()
    expect(dana.get_by_role("heading", level=1)).to_have_text("Delivery next week")
    expect(dana.get_by_role("article")).to_contain_text("the goods ship on Monday.")
    expect(dana.get_by_role("link", name=re.compile("drawing.pdf"))).to_be_visible()

    # Customer: the badge counts it without a reload; opening the conversation reads it; reply.
    expect(greta.locator("#unread-badge")).to_contain_text("1", timeout=LIVE + 2_000)
    greta.reload()
    greta.get_by_role("link", name=re.compile("Delivery next week")).click()
    expect(greta.get_by_role("article")).to_contain_text("Drawing attached.")
    with greta.expect_download() as download:
        greta.get_by_role("link", name=re.compile("drawing.pdf")).click()
    assert download.value.suggested_filename == "drawing.pdf"
    greta.locator("#id_body").fill("Thank you, Monday works.")
    greta.get_by_role("button", name="Send").click()
    expect(greta.get_by_role("article").last).to_contain_text("Thank you, Monday works.")

    # Supplier, still on the conversation: the reply appears without a reload.
    expect(dana.get_by_role("article").last).to_contain_text("Thank you, Monday works.", timeout=LIVE + 2_000)

    # Customer, in context: the purchase order's Messages panel.
    greta.goto("/o/nordwind/documents/")
    greta.get_by_role("link", name="4500012345").click()
    panel = greta.locator("#document-messages")
    expect(panel).to_contain_text("New message to Acme Industrial Supply Inc.")
    panel.locator("#id_subject").fill("Quantity on PO 4500012345")
    panel.locator("#id_body").fill("Can you ship 90 instead of 100?")
    panel.get_by_role("button", name="Send").click()
    expect(greta.get_by_role("heading", level=1)).to_have_text("Quantity on PO 4500012345")
    assert Conversation.objects.get(subject="Quantity on PO 4500012345").document.number == "4500012345"

    # Supplier inbox: the document badge, and a filter for purchase orders.
    dana.goto("/o/acme/messages/")
    row = dana.get_by_role("listitem").filter(has_text="Quantity on PO 4500012345")
    expect(row.get_by_role("link", name="PO 4500012345", exact=True)).to_be_visible()
    dana.get_by_label("Show").select_option("purchase_order")
    expect(dana.locator("#conversation-list")).not_to_contain_text("Delivery next week")
    expect(dana.locator("#conversation-list")).to_contain_text("Quantity on PO 4500012345")
    dana.context.close()
    greta.context.close()
