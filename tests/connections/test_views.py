import re

import pytest
from django.urls import reverse

from connections.forms import sign_selection
from connections.models import Connection, ConnectionRequest, CustomerSearch
from tests.connections.helpers import solve_altcha
from tests.factories import (
    BuyerFactory,
    ConnectionFactory,
    ConnectionRequestFactory,
    OrganizationFactory,
    SupplierRecordFactory,
)

pytestmark = pytest.mark.django_db


def url(name, organization, **kwargs):
    return reverse(f"connections:{name}", kwargs={"org_slug": organization.slug, **kwargs})


@pytest.fixture
def supplier_client(client, supplier_admin):
    client.force_login(supplier_admin)
    return client


@pytest.fixture
def buyer_client(client, buyer_admin):
    client.force_login(buyer_admin)
    return client


class TestSupplierTable:
    def test_columns_and_statuses_as_in_the_seed(self, supplier_client, supplier):
        ConnectionRequestFactory(
            supplier=supplier, customer=BuyerFactory(name="Waiting Oy"), contact_email=""
        )
        ConnectionRequestFactory(
            supplier=supplier,
            customer=BuyerFactory(name="Said No GmbH"),
            status="rejected",
            comment="Not now.",
        )
        ConnectionRequestFactory(
            supplier=supplier, customer=BuyerFactory(name="Too Late Ltda"), status="expired"
        )
        approved = ConnectionRequestFactory(
            supplier=supplier, customer=BuyerFactory(name="Yes Inc"), status="approved"
        )
        connection = ConnectionFactory(supplier=supplier, customer=approved.customer)
        connection.supplier_records.add(
            SupplierRecordFactory(buyer=approved.customer, name="ACME (Yes Inc list)")
        )
        html = supplier_client.get(url("requests", supplier)).content.decode()
        headers = re.findall(r'<th scope="col">([^<]+)</th>', html)
        assert headers == ["Customer", "Actions", "Status", "Email", "Date", "Comments"]
        assert "30 days left" in html and "[System initiated]" in html
        assert "Rejected" in html and "Not now." in html and "Expired" in html
        assert f'href="{url("detail", supplier, connection_id=connection.pk)}"' in html
        assert 'role="tooltip"' in html and "ACME (Yes Inc list)" in html

    def test_empty_table_says_what_to_do(self, supplier_client, supplier):
        assert "No requests yet." in supplier_client.get(url("requests", supplier)).content.decode()

    @pytest.mark.parametrize("rows", [5, 50])
    def test_query_count_is_flat(
        self, supplier_client, supplier, rows, settings, django_assert_max_num_queries
    ):
        settings.PAGE_SIZE = 50
        for n in range(rows):
            request = ConnectionRequestFactory(supplier=supplier, status="approved" if n % 2 else "pending")
            if n % 2:
                ConnectionFactory(supplier=supplier, customer=request.customer).supplier_records.add(
                    SupplierRecordFactory(buyer=request.customer)
                )
        supplier_client.get(url("requests", supplier))
        # session, user, membership, switcher, count, page, connections + their records, suggestions (5),
        # searches left: 12 at 5 rows and at 50.
        with django_assert_max_num_queries(12):
            response = supplier_client.get(url("requests", supplier))
        assert len(response.context["page"].object_list) == rows


class TestSuggestionConnect:
    def test_connect_sends_a_system_initiated_request(
        self,
        supplier_client,
        supplier,
        supplier_admin,
        buyer,
        buyer_admin,
        mailoutbox,
        django_capture_on_commit_callbacks,
    ):
        domain = supplier_admin.email.split("@")[1]
        SupplierRecordFactory(buyer=buyer, name="Our supplier", contact_email=f"sales@{domain}")
        assert buyer.name in supplier_client.get(url("requests", supplier)).content.decode()
        with django_capture_on_commit_callbacks(execute=True):
            response = supplier_client.post(
                url("suggestion_connect", supplier, customer_id=buyer.pk), follow=True
            )
        assert "Your request to Nordwind Handel GmbH was sent." in response.content.decode()
        request = ConnectionRequest.objects.get()
        assert request.system_initiated and request.customer == buyer
        assert [m.to for m in mailoutbox] == [[buyer_admin.email]]
        # Pending now: no longer suggested, and a second click is refused.
        assert response.context["suggestions"] == []
        supplier_client.post(url("suggestion_connect", supplier, customer_id=buyer.pk))
        assert ConnectionRequest.objects.count() == 1

    def test_a_customer_that_is_not_suggested_cannot_be_connected_by_id(
        self, supplier_client, supplier, buyer
    ):
        response = supplier_client.post(
            url("suggestion_connect", supplier, customer_id=buyer.pk), follow=True
        )
        assert "no longer among your suggestions" in response.content.decode()
        assert not ConnectionRequest.objects.exists()


class TestSearchAndRequest:
    def search(self, client, supplier, query, **headers):
        return client.post(url("search", supplier), {"query": query}, headers=headers)

    def select(self, client, supplier, customer):
        token = sign_selection(supplier_id=supplier.pk, customer_id=customer.pk)
        page = client.get(url("request_new", supplier), {"customer": token}).content.decode()
        return token, page

    def test_search_select_captcha_and_request(
        self, supplier_client, supplier, buyer, mailoutbox, django_capture_on_commit_callbacks
    ):
        response = self.search(
            supplier_client, supplier, "nordw", **{"HX-Request": "true", "HX-Target": "search-panel"}
        )
        html = response.content.decode()
        assert html.lstrip().startswith('<section id="search-panel"')
        assert buyer.name in html and "4 searches left" in html
        select_url = re.search(r'href="([^"]+requests/new/[^"]+)"', html).group(1).replace("&amp;", "&")
        page = supplier_client.get(select_url).content.decode()
        assert "Customer contact" in page and "<altcha-widget" in page
        token = re.search(r'name="customer" value="([^"]+)"', page).group(1)
        with django_capture_on_commit_callbacks(execute=True):
            response = supplier_client.post(
                url("request_new", supplier),
                {
                    "customer": token,
                    "contact_email": "anna@nordwind.example",
                    "confirm": "on",
                    "captcha": solve_altcha(page),
                },
            )
        assert response.status_code == 302
        request = ConnectionRequest.objects.get()
        assert (request.customer, request.contact_email) == (buyer, "anna@nordwind.example")
        assert [m.to for m in mailoutbox] == [["anna@nordwind.example"]]

    def test_double_submit_creates_one_request(self, supplier_client, supplier, buyer):
        token, page = self.select(supplier_client, supplier, buyer)
        data = {
            "customer": token,
            "contact_email": "a@nordwind.example",
            "confirm": "on",
            "captcha": solve_altcha(page),
        }
        assert supplier_client.post(url("request_new", supplier), data).status_code == 302
        again = supplier_client.post(url("request_new", supplier), data)
        assert again.status_code == 400
        assert "This form was already sent." in again.content.decode()
        assert ConnectionRequest.objects.count() == 1

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"contact_email": "not-an-email"}, "Enter a valid email address."),
            ({"contact_email": ""}, "This field is required."),
            ({"captcha": ""}, "Complete the captcha to send the request."),
            ({"captcha": "eyJmYWtlIjogdHJ1ZX0="}, "could not be verified"),
            ({"confirm": ""}, "Tick the confirmation to send the request."),
            ({"customer": "forged-token"}, "Select the customer from your search results again."),
        ],
    )
    def test_bad_input_gets_a_message_and_saves_nothing(
        self, supplier_client, supplier, buyer, change, message
    ):
        token, page = self.select(supplier_client, supplier, buyer)
        data = {
            "customer": token,
            "contact_email": "a@nordwind.example",
            "confirm": "on",
            "captcha": solve_altcha(page),
        }
        data.update(change)
        response = supplier_client.post(url("request_new", supplier), data, follow=True)
        assert message in response.content.decode()
        assert not ConnectionRequest.objects.exists()

    def test_wrong_captcha_solution_is_refused(self, supplier_client, supplier, buyer):
        import base64
        import json

        token, page = self.select(supplier_client, supplier, buyer)
        payload = json.loads(base64.b64decode(solve_altcha(page)))
        payload["number"] += 1
        forged = base64.b64encode(json.dumps(payload).encode()).decode()
        data = {"customer": token, "contact_email": "a@nordwind.example", "confirm": "on", "captcha": forged}
        response = supplier_client.post(url("request_new", supplier), data)
        assert "could not be verified" in response.content.decode()
        assert not ConnectionRequest.objects.exists()

    def test_a_non_buyer_or_nobody_is_refused_clearly(self, supplier_client, supplier):
        partner = OrganizationFactory(kind="partner")
        for customer_id in (partner.pk, 987654):
            token = sign_selection(supplier_id=supplier.pk, customer_id=customer_id)
            attempts = (("get", {"customer": token}), ("post", {"customer": token, "confirm": "on"}))
            for method, data in attempts:
                response = getattr(supplier_client, method)(url("request_new", supplier), data, follow=True)
                assert "This customer is no longer on Parley. Search again." in response.content.decode()
        assert not ConnectionRequest.objects.exists()

    def test_token_of_another_supplier_is_refused(self, supplier_client, supplier, buyer):
        token = sign_selection(supplier_id=supplier.pk + 1000, customer_id=buyer.pk)
        response = supplier_client.get(url("request_new", supplier), {"customer": token}, follow=True)
        assert "Select the customer from your search results again." in response.content.decode()

    @pytest.mark.parametrize(
        ("setup", "message"),
        [
            ("connected", "already connected"),
            ("pending", "already waiting for an answer"),
            ("three", "already sent 3 requests"),
        ],
    )
    def test_refusals_by_the_rules(self, supplier_client, supplier, buyer, setup, message):
        if setup == "connected":
            ConnectionFactory(supplier=supplier, customer=buyer)
        elif setup == "pending":
            ConnectionRequestFactory(supplier=supplier, customer=buyer)
        else:
            for attempt in (1, 2, 3):
                ConnectionRequestFactory(supplier=supplier, customer=buyer, attempt=attempt, status="expired")
        before = ConnectionRequest.objects.count()
        token, page = self.select(supplier_client, supplier, buyer)
        data = {
            "customer": token,
            "contact_email": "a@nordwind.example",
            "confirm": "on",
            "captcha": solve_altcha(page),
        }
        response = supplier_client.post(url("request_new", supplier), data)
        assert message in response.content.decode()
        assert ConnectionRequest.objects.count() == before

    def test_sixth_search_is_refused_with_when(self, supplier_client, supplier, buyer):
        for _ in range(5):
            assert buyer.name in self.search(supplier_client, supplier, "nordwind").content.decode()
        html = self.search(supplier_client, supplier, "nordwind").content.decode()
        assert "You have used your 5 customer searches" in html and "You can search again after" in html
        assert buyer.name not in html.split("Search for a customer")[1]
        assert CustomerSearch.objects.count() == 5

    def test_invalid_search_does_not_use_a_search(self, supplier_client, supplier):
        for query in ("", "x", "y" * 101):
            response = self.search(supplier_client, supplier, query)
            assert "errorlist" in response.content.decode()
        assert not CustomerSearch.objects.exists()


class TestCustomerSide:
    def test_incoming_list_approve_and_reject(self, buyer_client, buyer, supplier):
        first = ConnectionRequestFactory(supplier=supplier, customer=buyer, contact_email="")
        other = ConnectionRequestFactory(customer=buyer)
        html = buyer_client.get(url("incoming", buyer)).content.decode()
        assert supplier.name in html and "[System initiated]" in html and "30 days left" in html
        response = buyer_client.post(url("incoming_approve", buyer, request_id=first.pk), follow=True)
        assert f"You are now connected with {supplier.name}." in response.content.decode()
        assert Connection.objects.filter(supplier=supplier, customer=buyer).exists()
        assert (
            "Reject" in buyer_client.get(url("incoming_reject", buyer, request_id=other.pk)).content.decode()
        )
        response = buyer_client.post(
            url("incoming_reject", buyer, request_id=other.pk), {"comment": "<b>No</b> thanks"}, follow=True
        )
        other.refresh_from_db()
        assert (other.status, other.comment) == ("rejected", "<b>No</b> thanks")
        # Answering again is refused clearly.
        response = buyer_client.post(url("incoming_approve", buyer, request_id=other.pk), follow=True)
        assert "no longer waiting for an answer" in response.content.decode()

    def test_long_comment_is_refused(self, buyer_client, buyer):
        request = ConnectionRequestFactory(customer=buyer)
        response = buyer_client.post(
            url("incoming_reject", buyer, request_id=request.pk), {"comment": "x" * 1001}
        )
        assert response.status_code == 400
        assert "at most 1000 characters" in response.content.decode()
        request.refresh_from_db()
        assert request.status == "pending"

    def test_comment_is_escaped_in_the_suppliers_table(self, client, supplier, supplier_admin):
        ConnectionRequestFactory(supplier=supplier, status="rejected", comment="<script>alert(1)</script>")
        client.force_login(supplier_admin)
        html = client.get(url("requests", supplier)).content.decode()
        assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html

    @pytest.mark.parametrize("rows", [5, 50])
    def test_incoming_query_count_is_flat(
        self, buyer_client, buyer, rows, settings, django_assert_max_num_queries
    ):
        settings.PAGE_SIZE = 50
        ConnectionRequestFactory.create_batch(rows, customer=buyer)
        buyer_client.get(url("incoming", buyer))
        with django_assert_max_num_queries(7):
            response = buyer_client.get(url("incoming", buyer))
        assert len(response.context["page"].object_list) == rows


class TestSupplierRecords:
    def test_add_edit_remove(self, buyer_client, buyer):
        response = buyer_client.post(
            url("supplier_records", buyer),
            {"name": "Acme GmbH", "contact_email": "sales@acme.example", "number": "K-1"},
            follow=True,
        )
        assert "Acme GmbH was added to your suppliers." in response.content.decode()
        record = buyer.supplier_records.get()
        assert (record.name_key, record.email_domain) == ("acme", "acme.example")
        buyer_client.post(
            url("supplier_record_edit", buyer, record_id=record.pk),
            {"name": "Acme Industrial GmbH", "contact_email": "sales@acme.example", "number": "K-1"},
        )
        record.refresh_from_db()
        assert record.name_key == "acme industrial"
        buyer_client.post(url("supplier_record_delete", buyer, record_id=record.pk))
        assert not buyer.supplier_records.exists()

    def test_bad_input_and_duplicate_number(self, buyer_client, buyer):
        SupplierRecordFactory(buyer=buyer, number="K-1")
        response = buyer_client.post(url("supplier_records", buyer), {"name": "", "contact_email": "nope"})
        assert response.status_code == 400
        assert "This field is required." in response.content.decode()
        assert "Enter a valid email address." in response.content.decode()
        response = buyer_client.post(
            url("supplier_records", buyer), {"name": "X", "contact_email": "x@x.example", "number": "K-1"}
        )
        assert "already has this supplier number" in response.content.decode()
        assert buyer.supplier_records.count() == 1

    def test_members_read_the_list(self, client, buyer, buyer_member):
        SupplierRecordFactory(buyer=buyer, name="Visible Supplier")
        client.force_login(buyer_member)
        html = client.get(url("supplier_records", buyer)).content.decode()
        assert "Visible Supplier" in html and "Only administrators" in html and "Add supplier" not in html

    @pytest.mark.parametrize("rows", [5, 50])
    def test_query_count_is_flat(self, buyer_client, buyer, rows, settings, django_assert_max_num_queries):
        settings.PAGE_SIZE = 50
        SupplierRecordFactory.create_batch(rows, buyer=buyer)
        buyer_client.get(url("supplier_records", buyer))
        with django_assert_max_num_queries(6):
            response = buyer_client.get(url("supplier_records", buyer))
        assert len(response.context["page"].object_list) == rows
