"""Another organization's ids where a page takes ids: in paths, form fields, the query strings htmx requests
send, and reply addresses. Each is the 404 of a missing object or a refused form, and saves nothing.

tests/test_isolation.py walks every URL pattern as an outsider (pages and htmx, GET and the pages' forms);
this module covers the ids that travel in form fields and query strings, where no URL pattern names them."""

import html

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from connections.forms import sign_selection
from connections.models import ConnectionRequest
from messaging.models import Attachment, Message
from partners import services as partner_services
from partners.models import ConversationTag, Store, Tag
from tenants.models import Membership
from tests.factories import (
    BuyerFactory,
    ConnectionFactory,
    MembershipFactory,
    MerchantFactory,
    StoreFactory,
    SupplierFactory,
    contact_partner,
    reachable_partner,
    start_conversation,
)
from tests.partners.helpers import ADMINISTRATOR, membership, person

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
SECRET = "Confidential-price-4711"


def as_page_and_htmx(test):
    return pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])(test)


def text(response) -> str:
    return html.unescape(response.content.decode())


# Messaging --------------------------------------------------------------------------------------------------


@pytest.fixture
def victim(connected, buyer_admin, supplier):
    """A conversation between the buyer and the supplier, with a secret, a file and a document."""
    return start_conversation(
        buyer_admin, supplier, subject=f"Prices {SECRET}", body=SECRET, files=[("prices.pdf", b"%PDF-1.4")]
    )


@pytest.fixture
def elsewhere(db):
    """Another buyer with a supplier of its own and one conversation with it."""
    buyer = BuyerFactory(slug="elsewhere-buyer")
    supplier = SupplierFactory(slug="elsewhere-supplier")
    ConnectionFactory(supplier=supplier, customer=buyer)
    admin = MembershipFactory(organization=buyer, role=Membership.Role.ADMINISTRATOR).user
    conversation = start_conversation(admin, supplier, subject="Our own", body="Our own message")
    return buyer, admin, conversation


def url(name, organization, **kwargs):
    return reverse(name, kwargs={"org_slug": organization.slug, **kwargs})


class TestMessaging:
    @as_page_and_htmx
    def test_replying_in_anothers_conversation_under_ones_own_organization_is_404(
        self, client, victim, elsewhere, saved, headers
    ):
        buyer, admin, _own = elsewhere
        client.force_login(admin)
        before = saved()
        response = client.post(
            url("messaging:conversation", buyer, conversation_id=victim.pk),
            {"body": "Hijacked", "files": [SimpleUploadedFile("x.pdf", b"%PDF-1.4 x")]},
            headers=headers,
        )
        assert response.status_code == 404 and SECRET not in text(response)
        assert saved() == before

    @as_page_and_htmx
    def test_starting_a_conversation_about_anothers_document_is_404(
        self, client, victim, elsewhere, document, saved, headers
    ):
        buyer, admin, _own = elsewhere
        client.force_login(admin)
        before = saved()
        response = client.post(
            url("messaging:document_messages", buyer, document_id=document.pk),
            {
                "subject": "Hijacked",
                "body": "Hijacked",
                "files": [SimpleUploadedFile("x.pdf", b"%PDF-1.4 x")],
            },
            headers=headers,
        )
        assert response.status_code == 404 and document.number not in text(response)
        assert saved() == before

    @as_page_and_htmx
    def test_writing_to_an_organization_one_is_not_connected_to_is_refused(
        self, client, victim, elsewhere, supplier, buyer, saved, headers
    ):
        own_buyer, admin, _own = elsewhere
        client.force_login(admin)
        before = saved()
        for counterpart in (supplier, buyer):  # a supplier of others, and another buyer
            response = client.post(
                url("messaging:compose", own_buyer),
                {"counterpart": counterpart.pk, "subject": "Hi", "body": "Hi"},
                headers=headers,
            )
            assert response.status_code == 400
            assert "Select a valid choice" in text(response)
        assert saved() == before

    def test_paging_back_from_anothers_message_shows_only_ones_own(self, client, victim, elsewhere):
        buyer, admin, own = elsewhere
        client.force_login(admin)
        victims_message = victim.messages.get()
        for params in ({"before": victims_message.pk + 1}, {"before": victims_message.pk}):
            page = text(client.get(url("messaging:conversation", buyer, conversation_id=own.pk), params))
            assert SECRET not in page
        live = client.get(url("messaging:conversation_live", buyer, conversation_id=own.pk), {"after": 0})
        assert live.status_code == 200 and SECRET not in text(live)
        assert "Our own message" in text(live)

    def test_searching_and_paging_the_inbox_never_reaches_anothers_rows(self, client, victim, elsewhere):
        buyer, admin, _own = elsewhere
        client.force_login(admin)
        inbox = url("messaging:inbox", buyer)
        for params in (
            {"q": SECRET},
            {"q": "Prices"},
            {"older": f"{victim.last_message_at.isoformat()}_{victim.pk}"},
            {"newer": "2000-01-01T00:00:00+00:00_1"},
            {"filter": "unread", "q": SECRET},
        ):
            for headers in ({}, {**HTMX, "HX-Target": "conversation-list"}):
                response = client.get(inbox, params, headers=headers)
                assert response.status_code == 200, params
                assert f"Prices {SECRET}" not in text(response), params  # the query itself is shown back

    @as_page_and_htmx
    def test_anothers_attachment_is_404(self, client, victim, elsewhere, headers):
        buyer, admin, _own = elsewhere
        client.force_login(admin)
        attachment = Attachment.objects.get(message__conversation=victim)
        response = client.get(
            url("messaging:attachment", buyer, attachment_id=attachment.pk), headers=headers
        )
        assert response.status_code == 404


# Partners ---------------------------------------------------------------------------------------------------


@pytest.fixture
def partners(db):
    """Two partners and two merchants: each merchant contacted its partner, who tagged the request."""

    def side(slug):
        partner = reachable_partner(slug=f"{slug}-partner")
        partner_admin = person(partner, ADMINISTRATOR)
        merchant = MerchantFactory(slug=f"{slug}-merchant")
        merchant_admin = person(merchant, ADMINISTRATOR)
        store = StoreFactory(merchant=merchant, name=f"{slug} store", owner=merchant_admin)
        request = contact_partner(merchant_admin, partner, store=store, requirements=f"{slug} {SECRET}")
        tag = partner_services.tag_create(
            actor=partner_admin, membership=membership(partner_admin), name=f"{slug}-tag"
        )
        partner_services.tags_add(
            actor=partner_admin, membership=membership(partner_admin), request=request, tag_ids=[tag.pk]
        )
        return {
            "partner": partner,
            "partner_admin": partner_admin,
            "merchant": merchant,
            "merchant_admin": merchant_admin,
            "store": store,
            "request": request,
            "tag": tag,
        }

    return side("victim"), side("outsider")


def database(*models) -> list:
    return [list(model.objects.order_by("pk").values_list()) for model in models]


class TestPartners:
    @as_page_and_htmx
    def test_putting_anothers_tag_on_ones_own_request_is_refused(self, client, partners, headers):
        victim, outsider = partners
        client.force_login(outsider["partner_admin"])
        before = database(Tag, ConversationTag)
        address = url("partners:request_tag_add", outsider["partner"], request_id=outsider["request"].pk)
        for form in ({"tag": str(victim["tag"].pk)}, {"tag": str(victim["tag"].pk), "name": "New one"}):
            response = client.post(address, form, headers=headers)
            assert response.status_code == 400
            assert "That tag does not exist" in text(response)
            assert "victim-tag" not in text(response)
        assert database(Tag, ConversationTag) == before

    def test_filtering_ones_inbox_by_anothers_tag_shows_nothing_of_theirs(self, client, partners):
        victim, outsider = partners
        client.force_login(outsider["partner_admin"])
        inbox = url("partners:inbox", outsider["partner"])
        for headers in ({}, {**HTMX, "HX-Target": "request-list"}):
            response = client.get(inbox, {"tag": victim["tag"].pk}, headers=headers)
            assert response.status_code == 200
            assert "victim-tag" not in text(response) and "victim store" not in text(response)
            assert SECRET not in text(response)

    def test_the_tags_pages_way_back_to_anothers_request_shows_nothing_of_it(self, client, partners):
        victim, outsider = partners
        client.force_login(outsider["partner_admin"])
        response = client.get(
            url("partners:tags", outsider["partner"]), {"conversation": victim["request"].pk}
        )
        assert response.status_code == 200 and SECRET not in text(response)
        back = url("partners:request", outsider["partner"], request_id=victim["request"].pk)
        assert client.get(back).status_code == 404

    @pytest.mark.parametrize("page", ["contact", "match"])
    def test_asking_a_partner_for_anothers_store_is_refused(self, client, partners, saved, page):
        victim, outsider = partners
        client.force_login(outsider["merchant_admin"])
        form = {
            "store": victim["store"].pk,
            "budget": "unknown",
            "requirements": "A theme.",
            "category": "theme",
            "language": "en",
            "region": "europe",
        }
        if page == "contact":
            service = victim["partner"].services.first()
            address = url("partners:contact", outsider["merchant"], service_id=service.pk)
        else:
            address = url("partners:match", outsider["merchant"])
        before = saved()
        response = client.post(address, form)
        assert response.status_code == 400
        assert f"Select a valid choice. {victim['store'].pk} is not one of the available choices." in text(
            response
        )
        assert saved() == before

    def test_a_store_cannot_be_given_to_anothers_people(self, client, partners):
        victim, outsider = partners
        client.force_login(outsider["merchant_admin"])
        before = database(Store)
        for form in (
            {"name": "Mine", "url": "https://mine.example", "owner": victim["merchant_admin"].pk},
            {
                "name": "Mine",
                "url": "https://mine.example",
                "owner": "",
                "staff": [victim["merchant_admin"].pk],
            },
        ):
            response = client.post(url("partners:store_new", outsider["merchant"]), form)
            assert response.status_code == 400
            assert victim["merchant_admin"].email not in text(response)
        edit = url("partners:store_edit", outsider["merchant"], store_id=outsider["store"].pk)
        response = client.post(
            edit, {"name": "Mine", "url": "https://mine.example", "owner": victim["merchant_admin"].pk}
        )
        assert response.status_code == 400
        assert database(Store) == before


# Connections ------------------------------------------------------------------------------------------------


def test_a_customer_chosen_in_another_suppliers_search_cannot_be_requested(client, buyer, supplier):
    other = SupplierFactory(slug="other-supplier")
    admin = MembershipFactory(organization=other, role=Membership.Role.ADMINISTRATOR).user
    client.force_login(admin)
    # The token of a customer the victim supplier found in its search, copied by another supplier.
    token = sign_selection(supplier_id=supplier.pk, customer_id=buyer.pk)
    address = url("connections:request_new", other)
    for method, data in (("get", {"customer": token}), ("post", {"customer": token, "message": "Hi"})):
        response = getattr(client, method)(address, data)
        assert response.status_code == 302 and response.url == url("connections:requests", other)
    assert not ConnectionRequest.objects.filter(supplier=other).exists()
    assert Message.objects.count() == 0
