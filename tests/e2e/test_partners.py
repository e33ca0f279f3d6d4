"""Partners and merchants in the browser: contact, matching, proposals, jobs, tags, blocking, German."""

import datetime
import re
from decimal import Decimal

import pytest
from django.utils import timezone, translation
from playwright.sync_api import expect

from partners import services
from tenants.models import Membership
from tests.e2e import helpers
from tests.factories import (
    MembershipFactory,
    MerchantFactory,
    PartnerFactory,
    PartnerProfileFactory,
    ServiceFactory,
    StoreFactory,
    UserFactory,
    contact_partner,
)

pytestmark = pytest.mark.django_db(transaction=True)
LIVE = 5_000  # an open conversation polls every 4 seconds; people are promised news within 5


@pytest.fixture
def sign_in(browser, live_server):
    """signed_in_page(email) of test_messaging, with every context closed at the end even when a test fails
    (a page left open keeps polling the live server through the tests after it)."""
    contexts = []

    def signed_in_page(email, **context_options):
        context = browser.new_context(base_url=live_server.url, locale="en-US", **context_options)
        contexts.append(context)
        context.set_default_timeout(10_000)
        page = context.new_page()
        helpers.sign_in(page, email)
        expect(page).not_to_have_url(re.compile("/accounts/login/"))
        return page

    yield signed_in_page
    for context in contexts:
        context.close()


def admin(organization, email, first_name, last_name, **user_fields):
    user = UserFactory(email=email, first_name=first_name, last_name=last_name, **user_fields)
    MembershipFactory(organization=organization, user=user, role=Membership.Role.ADMINISTRATOR)
    return user


def partner(name, slug, *, languages, regions, offers):
    """A reachable partner: a published profile and a service (title, category) for each of `offers`."""
    organization = PartnerFactory(name=name, slug=slug)
    PartnerProfileFactory(
        organization=organization, languages=f",{','.join(languages)},", regions=f",{','.join(regions)},"
    )
    for title, category in offers:
        ServiceFactory(partner=organization, title=title, category=category)
    return organization


def main_nav(page, name):
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile(f"^{name}"))


def in_a_week() -> str:
    return (timezone.localdate() + datetime.timedelta(days=7)).isoformat()


def test_merchant_contacts_directly_and_through_matching_partner_proposes_job_starts(sign_in):
    merchant = MerchantFactory(name="Lumen Goods Ltd", slug="lumen")
    maria = admin(merchant, "maria@lumen.example", "Maria", "Santos")
    StoreFactory(merchant=merchant, name="Lumen Candles", url="https://lumencandles.example", owner=maria)
    # Matching a theme job in German for Europe scores language 2 and region 1: Pixelwerk 3, Berlin 2,
    # Northern Lights 1; Andes (0) is the fourth and is left out, and so is the unpublished Hidden Gem.
    partner(
        "Pixelwerk Studio",
        "pixelwerk",
        languages=["de", "en"],
        regions=["europe"],
        offers=[("Theme", "theme")],
    )
    northern = partner(
        "Northern Lights Agency",
        "northern",
        languages=["en"],
        regions=["europe"],
        offers=[("Theme refresh", "theme"), ("SEO audit", "seo")],
    )
    partner(
        "Berlin Commerce", "berlin", languages=["de"], regions=["north_america"], offers=[("Tuning", "theme")]
    )
    partner(
        "Andes Digital", "andes", languages=["es"], regions=["latin_america"], offers=[("Tienda", "theme")]
    )
    hidden = partner("Hidden Gem", "hidden", languages=["de"], regions=["europe"], offers=[("Gem", "theme")])
    hidden.partner_profile.published = False
    hidden.partner_profile.save()
    admin(northern, "olle@northern.example", "Olle", "Berg")

    # Merchant: Find a partner, filter by category, Contact on the service, fill the outline, Send.
    maria_page = sign_in("maria@lumen.example")
    main_nav(maria_page, "Find a partner").click()
    expect(maria_page.get_by_role("heading", level=1)).to_have_text("Find a partner")
    maria_page.get_by_label("Category").select_option(label="Search engine optimization")
    results = maria_page.locator("#service-results")
    expect(results.get_by_role("heading", name="SEO audit")).to_be_visible()
    expect(results.get_by_role("heading", name="Theme refresh")).to_have_count(0)
    expect(maria_page).to_have_url(re.compile("category=seo"))
    maria_page.get_by_role("link", name="Contact Northern Lights Agency about SEO audit").click()
    expect(maria_page.get_by_role("heading", level=1)).to_have_text("Contact Northern Lights Agency")
    maria_page.get_by_label("Store").select_option(label="Lumen Candles (https://lumencandles.example)")
    maria_page.get_by_label("Budget").select_option(label="500 to 2,000")
    maria_page.get_by_label("Requirements").fill("Our candle shop ranks poorly. Audit by end of month?")
    maria_page.get_by_role("button", name="Send", exact=True).click()
    expect(maria_page.get_by_role("status")).to_contain_text(
        "Your request was sent to Northern Lights Agency."
    )
    expect(maria_page.get_by_role("heading", level=1)).to_have_text("SEO audit")
    outline = maria_page.get_by_role("article").first
    expect(outline).to_contain_text("Service needed: SEO audit (Search engine optimization)")
    expect(outline).to_contain_text("Store: Lumen Candles (https://lumencandles.example)")
    expect(outline).to_contain_text("Budget: 500 to 2,000")
    expect(outline).to_contain_text("Our candle shop ranks poorly.")

    # Partner: Messages lists the request with the contact, the store and an unread count; open and reply.
    olle = sign_in("olle@northern.example")
    main_nav(olle, "Messages").click()
    expect(olle.get_by_role("heading", level=1)).to_have_text("Messages")
    row = olle.get_by_role("listitem").filter(has_text="Maria Santos")
    expect(row).to_contain_text("Lumen Goods Ltd")
    expect(row).to_contain_text("Lumen Candles")
    expect(row).to_contain_text("https://lumencandles.example")
    expect(row.get_by_title("Unread")).to_have_text("1")
    expect(row).to_contain_text("New request")
    row.get_by_role("link").click()
    expect(olle.get_by_role("heading", level=1)).to_have_text("SEO audit")
    expect(olle.get_by_role("complementary")).to_contain_text("Store owner")
    olle.get_by_role("textbox", name="Message", exact=True).fill("Hi Maria, we can start next week.")
    olle.get_by_role("button", name="Send", exact=True).click()
    expect(olle.get_by_role("article").last).to_contain_text("we can start next week")
    # Merchant, still on the conversation: the reply arrives without a reload.
    expect(maria_page.get_by_text("we can start next week")).to_be_visible(timeout=LIVE + 3_000)

    # Partner: Send a proposal; the card says Sent.
    olle.get_by_role("heading", name="Send a proposal").click()
    olle.get_by_label("Title").fill("SEO audit and fixes")
    olle.get_by_label("Scope of work").fill("Audit 40 pages, fix titles and structured data.")
    olle.get_by_label("Price").fill("1450")
    olle.get_by_label("Currency").select_option("EUR")
    olle.get_by_label("Estimated delivery").fill(in_a_week())
    olle.get_by_role("button", name="Send proposal").click()
    expect(olle.get_by_role("status")).to_contain_text("Your proposal was sent.")
    card = olle.get_by_role("article").filter(has=olle.get_by_role("heading", name="SEO audit and fixes"))
    expect(card).to_contain_text("Sent")
    expect(card).to_contain_text("1,450.00 EUR")

    # Merchant, still on the conversation: the proposal arrives without a reload too.
    offer = maria_page.get_by_role("article").filter(
        has=maria_page.get_by_role("heading", name="SEO audit and fixes")
    )
    expect(offer).to_contain_text("Sent", timeout=LIVE + 3_000)
    expect(offer).to_contain_text("Audit 40 pages")
    offer.get_by_role("button", name="Accept proposal").click()
    expect(maria_page.get_by_role("status")).to_contain_text("The job has started")
    jobs = maria_page.get_by_role("region", name="Jobs")
    expect(jobs).to_contain_text("SEO audit and fixes")
    expect(jobs).to_contain_text("Open")
    expect(maria_page.locator("#request-stage")).to_have_text("Job open")

    # Partner: the job is there; Mark as completed.
    olle.reload()
    olle.get_by_role("region", name="Jobs").get_by_role("button", name="Mark as completed").click()
    expect(olle.get_by_role("status")).to_contain_text("The job is now “Completed”.")
    expect(olle.get_by_role("region", name="Jobs")).to_contain_text("Completed")

    # Merchant: Get matched; the three best fits are contacted, each in its own conversation.
    main_nav(maria_page, "Find a partner").click()
    maria_page.get_by_role("link", name="Get matched").click()
    maria_page.get_by_label("Service needed").select_option(label="Theme design and customization")
    maria_page.get_by_label("Store").select_option(label="Lumen Candles (https://lumencandles.example)")
    maria_page.get_by_label("Language you want to work in").select_option(label="German")
    maria_page.get_by_label("Where your business is").select_option(label="Europe")
    maria_page.get_by_label("Requirements").fill("A winter theme for the candle shop.")
    maria_page.get_by_role("button", name="Send to matching partners").click()
    expect(maria_page.get_by_role("heading", level=1)).to_have_text("Your request was sent")
    contacted = maria_page.get_by_role("region", name="We contacted 3 partners")
    expect(contacted.get_by_role("listitem").locator("strong")).to_have_text(
        ["Berlin Commerce", "Northern Lights Agency", "Pixelwerk Studio"]
    )
    contacted.get_by_role("listitem").filter(has_text="Pixelwerk Studio").get_by_role(
        "link", name="Open conversation"
    ).click()
    expect(maria_page.get_by_role("article").first).to_contain_text("Language: German")
    expect(maria_page.get_by_role("article").first).to_contain_text("A winter theme for the candle shop.")

    # Partner: the matched request arrives in the same inbox, marked as coming through matching.
    main_nav(olle, "Messages").click()
    matched = olle.get_by_role("listitem").filter(has_text="Theme design and customization")
    expect(matched).to_contain_text("Maria Santos")
    matched.get_by_role("link").click()
    expect(olle.get_by_text("Through matching")).to_be_visible()


def test_an_open_conversation_keeps_showing_news_without_a_reload(sign_in):
    pixelwerk = partner(
        "Pixelwerk Studio", "pixelwerk", languages=["en"], regions=["europe"], offers=[("Theme", "theme")]
    )
    admin(pixelwerk, "petra@pixelwerk.example", "Petra", "Klein")
    merchant = MerchantFactory(name="Lumen Goods Ltd", slug="lumen")
    maria = admin(merchant, "maria@lumen.example", "Maria", "Santos")
    request = contact_partner(maria, pixelwerk, requirements="A theme for our candles.")
    maria_page = sign_in("maria@lumen.example")
    maria_page.goto(f"/o/lumen/requests/{request.pk}/")
    petra = sign_in("petra@pixelwerk.example")
    petra.goto(f"/o/pixelwerk/requests/{request.pk}/")

    # First news: a reply.
    petra.get_by_role("textbox", name="Message", exact=True).fill("Happy to help with the candles.")
    petra.get_by_role("button", name="Send", exact=True).click()
    expect(maria_page.get_by_text("Happy to help with the candles.")).to_be_visible(timeout=LIVE + 3_000)
    # Second news, after the first has been shown: a proposal.
    petra.get_by_role("heading", name="Send a proposal").click()
    petra.get_by_label("Title").fill("Candle theme")
    petra.get_by_label("Scope of work").fill("Design and build.")
    petra.get_by_label("Price").fill("900")
    petra.get_by_label("Currency").select_option("USD")
    petra.get_by_label("Estimated delivery").fill(in_a_week())
    petra.get_by_role("button", name="Send proposal").click()
    expect(maria_page.get_by_role("heading", name="Candle theme")).to_be_visible(timeout=LIVE + 3_000)
    expect(maria_page.get_by_role("button", name="Accept proposal")).to_be_visible()
    # Each message once: an update adds what is new, it does not paste the conversation a second time.
    expect(maria_page.get_by_text("A theme for our candles.")).to_have_count(1)
    expect(maria_page.get_by_text("Happy to help with the candles.")).to_have_count(1)


def test_partner_tags_conversations_manages_tags_and_filters_the_inbox(sign_in):
    pixelwerk = partner(
        "Pixelwerk Studio", "pixelwerk", languages=["en"], regions=["europe"], offers=[("Theme", "theme")]
    )
    petra = admin(pixelwerk, "petra@pixelwerk.example", "Petra", "Klein")
    people = [
        ("Lumen Goods Ltd", "lumen", "maria@lumen.example", "Maria", "Santos", "Lumen Candles"),
        ("Fjord Outfitters AS", "fjord", "jonas@fjord.example", "Jonas", "Lie", "Fjord Gear"),
        ("Kettle & Co", "kettle", "ana@kettle.example", "Ana", "Ruiz", None),
    ]
    requests = {}
    for name, slug, email, first, last, store_name in people:
        merchant = MerchantFactory(name=name, slug=slug)
        user = admin(merchant, email, first, last)
        store = None
        if store_name:
            store = StoreFactory(
                merchant=merchant, name=store_name, url=f"https://{slug}.example", owner=user
            )
        requests[first] = contact_partner(user, pixelwerk, store=store)
    membership = pixelwerk.memberships.get(user=petra)
    for tag in ("Urgent", "Follow up"):
        services.tag_create(actor=petra, membership=membership, name=tag)
    services.tags_add(actor=petra, membership=membership, request=requests["Jonas"], names=["Urgent"])

    page = sign_in("petra@pixelwerk.example")
    main_nav(page, "Messages").click()
    page.get_by_role("listitem").filter(has_text="Maria Santos").get_by_role("link").click()
    tags = page.locator("#request-tags")
    expect(tags).to_contain_text("No tags yet.")

    # Add tag, htmx: a new name creates the tag, an existing one is reused; the page does not reload.
    conversation_url = page.url
    page.evaluate("window.notReloaded = true")
    page.get_by_label("Add tag").fill("Hot lead")
    tags.get_by_role("button", name="Add", exact=True).click()
    expect(tags.get_by_role("listitem").filter(has_text="Hot lead")).to_be_visible()
    page.get_by_label("Add tag").fill("urgent")  # the existing tag, whatever the case
    tags.get_by_role("button", name="Add", exact=True).click()
    expect(tags.get_by_role("listitem")).to_have_text([re.compile("Hot lead"), re.compile("Urgent")])
    page.get_by_label("Add tag").fill("Follow up")
    tags.get_by_role("button", name="Add", exact=True).click()
    expect(tags.get_by_role("listitem")).to_have_count(3)
    tags.get_by_role("button", name="Remove tag Hot lead").click()
    expect(tags.get_by_role("listitem")).to_have_text([re.compile("Follow up"), re.compile("Urgent")])
    assert page.url == conversation_url
    assert page.evaluate("window.notReloaded") is True

    # Manage tags: create one, rename one, delete one after the confirmation.
    tags.get_by_role("link", name="Manage tags").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Manage tags")
    manager = page.locator("#tag-manager")
    tag_rows = manager.get_by_role("list").get_by_role("listitem")  # the flash is a status, not a list
    page.get_by_role("form", name="Create new tag").get_by_label("Tag name").fill("Wholesale")
    page.get_by_role("form", name="Create new tag").get_by_role("button", name="Save").click()
    expect(manager.get_by_role("status")).to_contain_text("Tag “Wholesale” created.")
    expect(tag_rows.filter(has_text="Wholesale")).to_contain_text("0 conversations")
    manager.get_by_role("link", name="Rename Urgent").click()
    tag_rows.get_by_label("Tag name").fill("Priority")
    tag_rows.get_by_role("button", name="Save").click()
    expect(manager.get_by_role("status")).to_contain_text("Tag renamed to “Priority”.")
    expect(tag_rows.filter(has_text="Priority")).to_contain_text("2 conversations")
    manager.get_by_role("link", name="Delete Follow up").click()
    confirmation = manager.get_by_role("alertdialog")
    expect(confirmation).to_contain_text(
        "Delete the tag “Follow up”? It will be removed from 1 conversation."
    )
    confirmation.get_by_role("button", name="Delete").click()
    expect(manager.get_by_role("status")).to_contain_text("Tag “Follow up” deleted.")
    expect(tag_rows).to_have_count(3)  # Hot lead, Priority, Wholesale
    page.get_by_role("link", name="Back to the conversation").click()
    expect(page).to_have_url(re.compile(re.escape(conversation_url)))
    expect(tags.get_by_role("listitem")).to_have_text([re.compile("Priority")])

    # Inbox: filter by a tag, then unread only, then search by store name; all of it in the URL.
    main_nav(page, "Messages").click()
    inbox = page.locator("#request-list")
    expect(inbox.get_by_role("listitem")).to_have_count(3)
    page.get_by_role("checkbox", name="Priority").check()
    expect(page).to_have_url(re.compile(r"tag=\d+"))
    expect(inbox.get_by_role("listitem")).to_have_count(2)
    expect(inbox).not_to_contain_text("Ana Ruiz")
    page.get_by_label("Unread only").check()
    expect(page).to_have_url(re.compile("unread=on"))
    expect(inbox.get_by_role("listitem")).to_have_count(1)
    expect(inbox).to_contain_text("Jonas Lie")
    page.get_by_role("checkbox", name="Priority").uncheck()
    page.get_by_role("searchbox", name="Search").fill("fjord gear")
    expect(page).to_have_url(re.compile(r"q=fjord(\+|%20)gear"))
    expect(inbox.get_by_role("listitem")).to_have_count(1)
    expect(inbox).to_contain_text("Jonas Lie")
    page.get_by_label("Unread only").uncheck()
    page.get_by_role("searchbox", name="Search").fill("lumen")
    expect(page).to_have_url(re.compile("q=lumen"))
    expect(inbox.get_by_role("listitem")).to_have_count(1)
    expect(inbox).to_contain_text("Maria Santos")
    # The filtered URL, opened afresh, shows the same rows.
    page.goto(f"{page.url.split('?')[0]}?tag={requests['Jonas'].tag_links.get().tag_id}&q=fjord")
    expect(page.get_by_role("checkbox", name="Priority")).to_be_checked()
    expect(inbox.get_by_role("listitem")).to_have_count(1)
    expect(inbox).to_contain_text("Jonas Lie")

    # Without JavaScript, Add tag still works: a plain form post and a redirect back.
    no_js = sign_in("petra@pixelwerk.example", java_script_enabled=False)
    no_js.goto(f"/o/pixelwerk/requests/{requests['Ana'].pk}/")
    no_js.get_by_label("Add tag").fill("Wholesale, No script")
    no_js.get_by_role("button", name="Add", exact=True).click()
    expect(no_js).to_have_url(re.compile(f"/requests/{requests['Ana'].pk}/#request-tags$"))
    expect(no_js.locator("#request-tags").get_by_role("listitem")).to_have_text(
        [re.compile("No script"), re.compile("Wholesale")]
    )


def test_partner_blocks_merchant_and_the_merchant_can_no_longer_write(sign_in):
    pixelwerk = partner(
        "Pixelwerk Studio", "pixelwerk", languages=["en"], regions=["europe"], offers=[("Theme", "theme")]
    )
    petra = admin(pixelwerk, "petra@pixelwerk.example", "Petra", "Klein")
    merchant = MerchantFactory(name="Lumen Goods Ltd", slug="lumen")
    maria = admin(merchant, "maria@lumen.example", "Maria", "Santos")
    request = contact_partner(maria, pixelwerk, requirements="A theme for our candles.")
    proposal = services.proposal_send(
        actor=petra,
        membership=pixelwerk.memberships.get(user=petra),
        request=request,
        title="Candle theme",
        scope="Design and build.",
        price=Decimal("2000"),
        currency="EUR",
        delivery_date=timezone.localdate() + datetime.timedelta(days=30),
    )
    services.proposal_move(
        actor=maria, membership=merchant.memberships.get(user=maria), proposal=proposal, to="accepted"
    )

    petra_page = sign_in("petra@pixelwerk.example")
    main_nav(petra_page, "Messages").click()
    petra_page.get_by_role("listitem").filter(has_text="Maria Santos").get_by_role("link").click()
    expect(petra_page.get_by_role("region", name="Jobs")).to_contain_text("Open")
    petra_page.get_by_label("More actions").click()
    petra_page.get_by_role("link", name="Block merchant").click()
    dialog = petra_page.get_by_role("alertdialog")
    expect(dialog.get_by_role("heading")).to_have_text("Block Lumen Goods Ltd?")
    expect(dialog).to_contain_text("This cannot be undone.")
    dialog.get_by_role("button", name="Block merchant").click()
    expect(petra_page.get_by_role("status")).to_contain_text("Lumen Goods Ltd is blocked.")
    expect(petra_page.get_by_role("note")).to_have_text(
        "This conversation is closed. No new messages can be sent in it."
    )
    expect(petra_page.locator("#request-stage")).to_have_text("Closed")
    job = petra_page.get_by_role("region", name="Jobs").get_by_role("listitem")
    expect(job).to_contain_text("Candle theme")
    expect(job).to_contain_text("Closed")
    expect(petra_page.get_by_role("button", name="Mark as completed")).to_have_count(0)
    expect(petra_page.get_by_text("Merchant blocked; the conversation is closed")).to_be_visible()
    expect(petra_page.get_by_label("More actions")).to_have_count(0)

    # Merchant: a clear reason on the conversation and no reply form; the contact page says the same.
    maria_page = sign_in("maria@lumen.example")
    reason = "Pixelwerk Studio does not accept messages from your organization."
    main_nav(maria_page, "Messages").click()
    maria_page.get_by_role("listitem").filter(has_text="Pixelwerk Studio").get_by_role("link").click()
    expect(maria_page.get_by_role("note")).to_have_text(reason)
    expect(maria_page.get_by_role("heading", name="Reply")).to_have_count(0)
    expect(maria_page.get_by_role("textbox", name="Message", exact=True)).to_have_count(0)
    expect(maria_page.get_by_role("button", name="Accept proposal")).to_have_count(0)
    main_nav(maria_page, "Find a partner").click()
    maria_page.get_by_role("link", name="Contact Pixelwerk Studio about Theme").click()
    expect(maria_page.get_by_role("alert")).to_contain_text(reason)
    expect(maria_page.get_by_label("Requirements")).to_have_count(0)


def test_partner_inbox_and_conversation_in_german(sign_in):
    pixelwerk = partner(
        "Pixelwerk Studio", "pixelwerk", languages=["de"], regions=["europe"], offers=[("Theme", "theme")]
    )
    admin(pixelwerk, "petra@pixelwerk.example", "Petra", "Klein", language="de")
    merchant = MerchantFactory(name="Lumen Goods Ltd", slug="lumen")
    maria = admin(merchant, "maria@lumen.example", "Maria", "Santos")
    contact_partner(maria, pixelwerk, requirements="Ein Theme für Kerzen, bitte.")

    def german(text):
        with translation.override("de"):
            return translation.gettext(text)

    page = sign_in("petra@pixelwerk.example")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    nav = page.get_by_role("navigation", name="Hauptnavigation")
    nav.get_by_role("link", name=re.compile("^Nachrichten")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Nachrichten")
    expect(page.get_by_role("link", name=german("Manage tags"))).to_be_visible()
    expect(page.get_by_label(german("Unread only"))).to_be_visible()
    page.get_by_role("listitem").filter(has_text="Maria Santos").get_by_role("link").click()
    expect(page.get_by_role("link", name="← Alle Nachrichten")).to_be_visible()
    expect(page.get_by_role("heading", name="Antworten")).to_be_visible()
    expect(page.get_by_role("button", name="Senden", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name=german("More details"))).to_be_visible()
    expect(page.get_by_role("heading", name=german("Send a proposal"))).to_be_visible()
    expect(page.get_by_label(german("Add tag"))).to_be_visible()
    # Each label above must really be German, not the English text falling through an untranslated entry.
    for text in ("Manage tags", "Unread only", "More details", "Send a proposal", "Add tag"):
        assert german(text) != text, f"no German for {text!r} in locale/de/LC_MESSAGES/django.po"
