"""Notifications as people meet them: choosing emails in Settings, and a reply by email showing up live."""

from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from playwright.sync_api import expect

from messaging.models import Conversation
from notifications import services
from notifications.models import NotificationPreference, OutgoingEmail
from tenants.models import Membership
from tests.factories import BuyerFactory, ConnectionFactory, MembershipFactory, SupplierFactory, UserFactory

from .test_messaging import LIVE, signed_in_page

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_reply_by_email_appears_in_the_open_conversation_with_its_quote_folded(browser, live_server):
    supplier = SupplierFactory(name="Acme Industrial Supply Inc.", slug="acme", tier="enterprise")
    buyer = BuyerFactory(name="Nordwind Handel GmbH", slug="nordwind")
    greta = UserFactory(email="greta@nordwind.example", first_name="Greta", last_name="Berg")
    for organization, user in ((supplier, UserFactory(email="dana@acme.example")), (buyer, greta)):
        MembershipFactory(organization=organization, user=user, role=Membership.Role.ADMINISTRATOR)
    ConnectionFactory(supplier=supplier, customer=buyer)

    dana = signed_in_page(browser, live_server, "dana@acme.example")
    dana.goto("/o/acme/messages/new/")
    dana.get_by_role("button", name="Write to Nordwind Handel GmbH").click()
    dana.locator("#id_subject").fill("Delivery next week")
    dana.locator("#id_body").fill("The goods ship on Monday.")
    dana.get_by_role("button", name="Send").click()
    expect(dana.get_by_role("heading", level=1)).to_have_text("Delivery next week")

    # Greta answers the email from her mail client, above the marker, quoting the rest.
    notice = OutgoingEmail.objects.get(to_email=greta.email)
    assert notice.body_text.startswith("##- Please type your reply above this line -##")
    answer = EmailMessage()
    answer["From"] = f"Greta Berg <{greta.email}>"
    answer["To"] = notice.headers["Reply-To"]
    answer["Subject"] = f"Re: {notice.subject}"
    answer["Message-ID"] = make_msgid(domain="nordwind.example")
    answer["In-Reply-To"] = notice.message_id
    quoted = "\n".join(f"> {line}" for line in notice.body_text.splitlines())
    answer.set_content(f"Monday is fine, dock 4.\n\nGreta\n\nOn Mon, 23 Nov 2026, Parley wrote:\n{quoted}\n")
    assert services.inbound_email_receive(raw=answer.as_bytes()).status == "posted"

    # Dana, still on the page, sees it without a reload, marked as sent by email; the quote is folded away.
    reply = dana.get_by_role("article").last
    expect(reply).to_contain_text("Monday is fine, dock 4.", timeout=LIVE + 2_000)
    expect(reply).to_contain_text("by email")
    quote = reply.locator("details")
    expect(quote.get_by_text("Please type your reply above this line")).not_to_be_visible()
    quote.get_by_text("Show quoted text").click()
    expect(quote).to_contain_text("The goods ship on Monday.")
    assert Conversation.objects.get().messages.last().author == greta
    dana.context.close()


def test_a_member_chooses_the_hourly_digest_and_unsubscribes_from_an_email_link(browser, live_server):
    supplier = SupplierFactory(name="Acme Industrial Supply Inc.", slug="acme", tier="enterprise")
    dana = UserFactory(email="dana@acme.example")
    MembershipFactory(organization=supplier, user=dana, role=Membership.Role.MEMBER)
    page = signed_in_page(browser, live_server, "dana@acme.example")
    page.goto("/o/acme/settings/")
    page.get_by_role("link", name="Your email notifications").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    page.get_by_label("Hourly digest of unread messages").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Your notification settings were saved.")).to_be_visible()
    expect(page.get_by_label("Hourly digest of unread messages")).to_be_checked()
    assert NotificationPreference.objects.get(user=dana).messages == "digest"

    # The one-click link of an email, opened in the browser: a confirmation, then off.
    token = services.unsubscribe_token(user_id=dana.pk, organization_id=supplier.pk)
    page.goto(f"/notifications/unsubscribe/{token}/")
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are unsubscribed")
    page.goto("/o/acme/settings/notifications/")
    expect(page.get_by_role("radio", name="Off")).to_be_checked()
    page.context.close()
