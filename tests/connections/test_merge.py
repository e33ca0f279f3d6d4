import pytest
from django.urls import reverse

from connections.models import Connection, ConnectionRequest
from connections.services import supplier_accounts_merge
from documents.models import Document
from tenants.models import AuditLogEntry, Membership, Organization
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

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts():
    return SupplierFactory(name="Survivor A"), SupplierFactory(name="Merged B")


def statuses(supplier, customer):
    return sorted(
        ConnectionRequest.objects.filter(supplier=supplier, customer=customer).values_list(
            "status", flat=True
        )
    )


def test_merge_follows_the_coupa_rules(accounts, admin_user):
    a, b = accounts
    both_pending, a_approved_b_pending, only_b, rejected_only, connected_to_both = (
        BuyerFactory(name=n)
        for n in ("Both pending", "A approved", "Only B", "Rejected only", "Both connected")
    )
    ConnectionRequestFactory(supplier=a, customer=both_pending)
    ConnectionRequestFactory(supplier=b, customer=both_pending)
    ConnectionRequestFactory(supplier=a, customer=a_approved_b_pending, status="approved")
    ConnectionFactory(supplier=a, customer=a_approved_b_pending)
    ConnectionRequestFactory(supplier=b, customer=a_approved_b_pending)
    ConnectionRequestFactory(supplier=b, customer=only_b, attempt=1, status="expired")
    ConnectionRequestFactory(supplier=b, customer=only_b, attempt=2)
    ConnectionRequestFactory(supplier=a, customer=rejected_only, status="rejected")
    ConnectionRequestFactory(supplier=b, customer=rejected_only, status="expired")
    for supplier in (a, b):
        ConnectionRequestFactory(supplier=supplier, customer=connected_to_both, status="approved")
    record_a = SupplierRecordFactory(buyer=connected_to_both)
    record_b = SupplierRecordFactory(buyer=connected_to_both)
    ConnectionFactory(supplier=a, customer=connected_to_both).supplier_records.add(record_a)
    ConnectionFactory(supplier=b, customer=connected_to_both).supplier_records.add(record_b)
    shared_user = UserFactory()
    MembershipFactory(organization=a, user=shared_user, role="member")
    MembershipFactory(organization=b, user=shared_user, role="administrator")
    b_only_user = MembershipFactory(organization=b).user
    DocumentFactory(supplier=b, buyer=both_pending)

    supplier_accounts_merge(actor=admin_user, survivor=a, merged=b)

    assert not Organization.objects.filter(pk=b.pk).exists()
    assert statuses(a, both_pending) == ["pending"]  # duplicates became one
    assert statuses(a, a_approved_b_pending) == ["approved"]  # connected: the pending one is moot
    assert statuses(a, only_b) == ["pending"]  # moved; the expired one removed
    assert statuses(a, rejected_only) == []  # rejected and expired removed
    assert statuses(a, connected_to_both) == ["approved"]
    connection = Connection.objects.get(supplier=a, customer=connected_to_both)
    assert set(connection.supplier_records.all()) == {record_a, record_b}
    assert Connection.objects.filter(customer=connected_to_both).count() == 1
    assert set(ConnectionRequest.objects.values_list("attempt", flat=True)) == {1}
    assert Membership.objects.get(organization=a, user=shared_user).role == "administrator"
    assert Membership.objects.filter(organization=a, user=b_only_user).exists()
    assert Document.objects.filter(supplier=a).count() == 1
    entry = AuditLogEntry.objects.get(action="organization.merged")
    assert entry.data["merged_name"] == "Merged B" and entry.actor == admin_user


def test_merged_account_may_ask_again_after_merge(accounts, admin_user):
    a, b = accounts
    customer = BuyerFactory()
    for attempt in (1, 2, 3):
        ConnectionRequestFactory(supplier=a, customer=customer, attempt=attempt, status="expired")
    supplier_accounts_merge(actor=admin_user, survivor=a, merged=b)
    assert not ConnectionRequest.objects.filter(supplier=a, customer=customer).exists()


def test_merge_refuses_non_suppliers_and_itself(accounts, admin_user):
    a, _b = accounts
    with pytest.raises(ValueError):
        supplier_accounts_merge(actor=admin_user, survivor=a, merged=a)
    with pytest.raises(ValueError):
        supplier_accounts_merge(actor=admin_user, survivor=a, merged=BuyerFactory())
    assert not AuditLogEntry.objects.exists()


def test_merge_is_one_transaction(accounts, admin_user):
    from connections.signals import supplier_accounts_merging

    a, b = accounts
    ConnectionRequestFactory(supplier=b)

    def fail(**kwargs):
        raise RuntimeError("a higher app could not move its rows")

    supplier_accounts_merging.connect(fail)
    try:
        with pytest.raises(RuntimeError):
            supplier_accounts_merge(actor=admin_user, survivor=a, merged=b)
    finally:
        supplier_accounts_merging.disconnect(fail)
    assert Organization.objects.filter(pk=b.pk).exists()
    assert ConnectionRequest.objects.filter(supplier=b).count() == 1


def test_admin_action_warns_then_merges(admin_client, accounts):
    a, b = accounts
    changelist = reverse("admin:tenants_organization_changelist")
    selected = {"action": "merge_suppliers", "_selected_action": [a.pk, b.pk]}
    page = admin_client.post(changelist, selected)
    assert "This cannot be undone." in page.content.decode()
    assert Organization.objects.filter(pk=b.pk).exists()
    response = admin_client.post(changelist, {**selected, "confirm": "yes", "survivor": a.pk}, follow=True)
    assert "Merged B was merged into Survivor A" in response.content.decode()
    assert not Organization.objects.filter(pk=b.pk).exists()


def test_admin_action_needs_two_suppliers(admin_client, accounts):
    a, _b = accounts
    response = admin_client.post(
        reverse("admin:tenants_organization_changelist"),
        {"action": "merge_suppliers", "_selected_action": [a.pk, BuyerFactory().pk]},
        follow=True,
    )
    assert "Select exactly two supplier accounts to merge." in response.content.decode()


def test_admin_expire_now(admin_client):
    import time_machine

    with time_machine.travel("2026-01-01 00:00 +0000"):
        request = ConnectionRequestFactory()
    admin_client.post(
        reverse("admin:connections_connectionrequest_changelist"),
        {"action": "expire_now", "_selected_action": [request.pk]},
    )
    request.refresh_from_db()
    assert request.status == "expired"
