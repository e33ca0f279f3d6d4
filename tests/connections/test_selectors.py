import pytest

from connections.matching import email_domain, name_key
from connections.selectors import customer_suggestions
from tests.factories import (
    BuyerFactory,
    ConnectionFactory,
    ConnectionRequestFactory,
    DocumentFactory,
    MembershipFactory,
    SupplierFactory,
    SupplierRecordFactory,
    UserFactory,
)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Acme Industrial Supply Inc.", "ACME industrial supply"),
        ("Nordwind Handel GmbH", "Nordwind-Handel"),
        ("Mazur Logistyka Sp. z o.o.", "Mazur Logistyka"),
        ("Sabiá Varejo Ltda.", "sabia varejo LTDA"),
        ("Kettu Packaging Oy", "Kettu Packaging"),
        ("Pixel & Pine", "Pixel and Pine LLC"),
    ],
)
def test_names_match_after_normalizing(a, b):
    assert name_key(a) == name_key(b) != ""


def test_different_companies_do_not_match():
    assert name_key("Acme Industrial") != name_key("Acme Logistics")


def test_public_mailbox_domains_match_nobody():
    assert email_domain("someone@gmail.com") == ""
    assert email_domain("Anna@Nordwind.EXAMPLE") == "nordwind.example"


@pytest.mark.django_db
def test_suggestions_rank_domain_then_name_then_documents_and_exclude_the_settled():
    supplier = SupplierFactory(name="Kettu Packaging Oy")
    MembershipFactory(organization=supplier, user=UserFactory(email="emilia@kettu.example"))
    by_domain = BuyerFactory(name="Zeta Foods")
    SupplierRecordFactory(buyer=by_domain, name="Our box people", contact_email="sales@kettu.example")
    by_name = BuyerFactory(name="Alpha Retail")
    SupplierRecordFactory(buyer=by_name, name="KETTU PACKAGING", contact_email="x@elsewhere.example")
    by_documents = BuyerFactory(name="Beta Stores")
    DocumentFactory(buyer=by_documents, supplier=supplier)
    connected = BuyerFactory(name="Connected Ltd")
    SupplierRecordFactory(buyer=connected, name="Kettu Packaging", contact_email="a@kettu.example")
    ConnectionFactory(supplier=supplier, customer=connected)
    pending = BuyerFactory(name="Pending Ltd")
    SupplierRecordFactory(buyer=pending, name="Kettu Packaging", contact_email="a@kettu.example")
    ConnectionRequestFactory(supplier=supplier, customer=pending)
    exhausted = BuyerFactory(name="Exhausted Ltd")
    SupplierRecordFactory(buyer=exhausted, name="Kettu Packaging", contact_email="a@kettu.example")
    for attempt in (1, 2, 3):
        ConnectionRequestFactory(supplier=supplier, customer=exhausted, attempt=attempt, status="expired")
    SupplierRecordFactory(
        buyer=BuyerFactory(name="Stranger"), name="Someone Else", contact_email="b@else.example"
    )

    suggestions = customer_suggestions(supplier=supplier)
    assert [s.customer for s in suggestions] == [by_domain, by_name, by_documents]
    assert suggestions[0].reasons == ("domain",)
    assert suggestions[2].reasons == ("documents",)


@pytest.mark.django_db
def test_suggestion_queries_do_not_grow_with_buyers(django_assert_max_num_queries):
    supplier = SupplierFactory(name="Acme")
    for size in (5, 50):
        for _ in range(size):
            SupplierRecordFactory(buyer=BuyerFactory(), name="Acme Inc.")
        with django_assert_max_num_queries(6):
            assert len(customer_suggestions(supplier=supplier, limit=100)) >= size
