import pytest
from django.urls import reverse

from documents.models import Document
from tests.factories import BuyerFactory, DocumentFactory, SupplierFactory

pytestmark = pytest.mark.django_db


def list_url(organization, **params):
    url = reverse("documents:list", kwargs={"org_slug": organization.slug})
    if params:
        url += "?" + "&".join(f"{key}={value}" for key, value in params.items())
    return url


def numbers(response):
    return [document.number for document in response.context["page"].object_list]


class TestDocumentList:
    def test_both_parties_see_the_document_and_their_counterpart(
        self, client, document, buyer, supplier, buyer_member, supplier_member
    ):
        client.force_login(buyer_member)
        html = client.get(list_url(buyer)).content.decode()
        assert document.number in html and supplier.name in html
        client.force_login(supplier_member)
        html = client.get(list_url(supplier)).content.decode()
        assert document.number in html and buyer.name in html

    def test_other_organizations_documents_are_not_listed(self, client, buyer, buyer_member):
        DocumentFactory(number="999999")  # between two other organizations
        DocumentFactory(buyer=buyer, number="111111")
        client.force_login(buyer_member)
        assert numbers(client.get(list_url(buyer))) == ["111111"]

    def test_filter_by_kind_and_search_by_number(self, client, buyer, supplier, buyer_member):
        DocumentFactory(buyer=buyer, supplier=supplier, number="4500012345")
        DocumentFactory(buyer=buyer, supplier=supplier, number="4500099999")
        DocumentFactory(buyer=buyer, supplier=supplier, kind="invoice", number="INV-2026-0012")
        client.force_login(buyer_member)
        assert numbers(client.get(list_url(buyer, kind="invoice"))) == ["INV-2026-0012"]
        assert numbers(client.get(list_url(buyer, q="12345"))) == ["4500012345"]
        assert numbers(client.get(list_url(buyer, q="inv-2026"))) == ["INV-2026-0012"]
        assert sorted(numbers(client.get(list_url(buyer, kind="purchase_order", q="45000")))) == [
            "4500012345",
            "4500099999",
        ]

    def test_nothing_found_says_so_with_a_way_back(self, client, document, buyer, buyer_member):
        client.force_login(buyer_member)
        html = client.get(list_url(buyer, q="nothing-like-this")).content.decode()
        assert "No documents match these filters." in html
        assert "Show all documents" in html

    def test_empty_state_for_an_organization_without_documents(self, client, buyer, buyer_member):
        client.force_login(buyer_member)
        assert "No purchase orders or invoices yet." in client.get(list_url(buyer)).content.decode()

    def test_bad_filter_values_are_ignored_not_errors(self, client, document, buyer, buyer_member):
        client.force_login(buyer_member)
        response = client.get(list_url(buyer, kind="evil", page="abc"))
        assert response.status_code == 200
        assert numbers(response) == [document.number]

    def test_htmx_request_gets_only_the_results(self, client, document, buyer, buyer_member):
        client.force_login(buyer_member)
        response = client.get(
            list_url(buyer, q="4500"),
            headers={"HX-Request": "true", "HX-Target": "document-results"},
        )
        html = response.content.decode()
        assert html.lstrip().startswith('<div id="document-results"')
        assert "<html" not in html
        assert document.number in html

    def test_paginated(self, client, buyer, supplier, buyer_member, settings):
        settings.PAGE_SIZE = 5
        DocumentFactory.create_batch(12, buyer=buyer, supplier=supplier)
        client.force_login(buyer_member)
        first = client.get(list_url(buyer))
        assert len(numbers(first)) == 5
        assert "Page 1 of 3" in first.content.decode()
        last = client.get(list_url(buyer, page=3, kind="purchase_order"))
        assert len(numbers(last)) == 2
        assert "kind=purchase_order&amp;page=2" in last.content.decode()

    @pytest.mark.parametrize("rows", [5, 50])
    def test_query_count_does_not_grow_with_rows(
        self, client, buyer, buyer_member, rows, django_assert_max_num_queries, settings
    ):
        settings.PAGE_SIZE = 50
        for _ in range(rows):
            DocumentFactory(buyer=buyer, supplier=SupplierFactory())
        client.force_login(buyer_member)
        client.get(list_url(buyer))  # the first visit also remembers the organization in the session
        # session, user, membership with organization, switcher, count, page of documents with parties
        with django_assert_max_num_queries(6):
            response = client.get(list_url(buyer))
        assert len(numbers(response)) == rows


class TestDocumentDetail:
    def url(self, organization, document):
        return reverse("documents:detail", kwargs={"org_slug": organization.slug, "document_id": document.pk})

    def test_both_parties_open_the_document(
        self, client, document, buyer, supplier, buyer_member, supplier_member
    ):
        for organization, user, counterpart in (
            (buyer, buyer_member, supplier),
            (supplier, supplier_member, buyer),
        ):
            client.force_login(user)
            html = client.get(self.url(organization, document)).content.decode()
            assert document.number in html
            assert f"With {counterpart.name}" in html
            assert "1,234.50 EUR" in html

    def test_document_of_another_pair_is_404(self, client, buyer, buyer_member):
        foreign = DocumentFactory(buyer=BuyerFactory(), supplier=SupplierFactory())
        client.force_login(buyer_member)
        assert client.get(self.url(buyer, foreign)).status_code == 404


def test_document_constraints_hold_in_the_database(buyer, supplier):
    from django.db import IntegrityError, transaction

    DocumentFactory(buyer=buyer, supplier=supplier, number="1")
    with pytest.raises(IntegrityError), transaction.atomic():
        DocumentFactory(buyer=buyer, supplier=supplier, number="1")  # same buyer, kind, number
    DocumentFactory(buyer=buyer, supplier=supplier, number="1", kind=Document.Kind.INVOICE)
    with pytest.raises(IntegrityError), transaction.atomic():
        DocumentFactory(buyer=buyer, supplier=supplier, number="2", status=Document.Status.PAID)
