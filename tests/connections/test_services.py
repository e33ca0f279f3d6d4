from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from connections import services
from connections.models import Connection, ConnectionRequest
from connections.tasks import expire_connection_requests
from tenants.models import Membership
from tests.factories import ConnectionRequestFactory, SupplierRecordFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def supplier_membership(supplier_admin):
    return Membership.objects.get(user=supplier_admin)


@pytest.fixture
def buyer_membership(buyer_admin):
    return Membership.objects.get(user=buyer_admin)


def send(membership, buyer, email="buyer@example.com"):
    return services.connection_request_send(
        actor=membership.user, membership=membership, customer=buyer, contact_email=email
    )


def test_send_queues_one_email_to_the_contact(
    supplier_membership, buyer, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        request = send(supplier_membership, buyer, "anna@nordwind.example")
    assert request.status == ConnectionRequest.Status.PENDING and request.attempt == 1
    assert [m.to for m in mailoutbox] == [["anna@nordwind.example"]]
    assert buyer.name in mailoutbox[0].subject
    assert f"/o/{buyer.slug}/connections/incoming/" in mailoutbox[0].body
    assert mailoutbox[0].extra_headers["Auto-Submitted"] == "auto-generated"


def test_system_initiated_request_emails_the_customers_administrators(
    supplier_membership, buyer, buyer_admin, buyer_member, mailoutbox, django_capture_on_commit_callbacks
):
    buyer_admin.language = "pl"
    buyer_admin.save()
    with django_capture_on_commit_callbacks(execute=True):
        request = send(supplier_membership, buyer, email="")
    assert request.system_initiated
    assert [m.to for m in mailoutbox] == [[buyer_admin.email]]
    html_body = mailoutbox[0].alternatives[0][0]
    assert '<html lang="pl">' in html_body  # the administrator's language
    assert "Parley" in mailoutbox[0].body and "asks to connect" not in mailoutbox[0].body


def test_second_pending_request_is_refused(supplier_membership, buyer):
    send(supplier_membership, buyer)
    with pytest.raises(services.ConnectionRefused, match="already waiting"):
        send(supplier_membership, buyer)
    assert ConnectionRequest.objects.count() == 1


def test_three_requests_in_all_then_a_clear_refusal(supplier_membership, buyer):
    for _ in range(3):
        send(supplier_membership, buyer)
        services.connection_requests_expire(now=timezone.now() + timedelta(days=31))
    with pytest.raises(services.ConnectionRefused, match="already sent 3 requests"):
        send(supplier_membership, buyer)
    assert list(ConnectionRequest.objects.values_list("attempt", flat=True).order_by("attempt")) == [1, 2, 3]


def test_the_database_refuses_a_second_pending_and_a_fourth_request(supplier, buyer):
    ConnectionRequestFactory(supplier=supplier, customer=buyer, attempt=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        ConnectionRequestFactory(supplier=supplier, customer=buyer, attempt=2)  # second pending
    with pytest.raises(IntegrityError), transaction.atomic():
        ConnectionRequestFactory(supplier=supplier, customer=buyer, attempt=4, status="expired")


def test_connected_customer_is_refused(supplier_membership, buyer_membership, buyer):
    request = send(supplier_membership, buyer)
    services.connection_request_approve(
        actor=buyer_membership.user, membership=buyer_membership, request=request
    )
    with pytest.raises(services.ConnectionRefused, match="already connected"):
        send(supplier_membership, buyer)


def test_only_supplier_administrators_send(supplier, buyer, supplier_member, buyer_membership):
    member = Membership.objects.get(user=supplier_member)
    with pytest.raises(PermissionDenied):
        send(member, buyer)
    with pytest.raises(PermissionDenied):
        send(buyer_membership, buyer)
    assert not ConnectionRequest.objects.exists()


def test_approval_connects_and_links_matching_records(supplier_membership, buyer_membership, supplier, buyer):
    domain = supplier_membership.user.email.split("@")[1]
    by_domain = SupplierRecordFactory(buyer=buyer, name="Something else", contact_email=f"sales@{domain}")
    by_name = SupplierRecordFactory(
        buyer=buyer, name="ACME Industrial Supply, Inc", contact_email="x@other.example"
    )
    SupplierRecordFactory(buyer=buyer, name="Unrelated Oy", contact_email="y@unrelated.example")
    request = send(supplier_membership, buyer)
    connection = services.connection_request_approve(
        actor=buyer_membership.user, membership=buyer_membership, request=request
    )
    request.refresh_from_db()
    assert request.status == "approved" and request.answered_by == buyer_membership.user
    assert set(connection.supplier_records.all()) == {by_domain, by_name}
    with pytest.raises(services.ConnectionRefused, match="no longer waiting"):
        services.connection_request_approve(
            actor=buyer_membership.user, membership=buyer_membership, request=request
        )
    assert Connection.objects.count() == 1


def test_reject_keeps_the_comment_and_refuses_a_long_one(supplier_membership, buyer_membership, buyer):
    request = send(supplier_membership, buyer)
    with pytest.raises(services.ConnectionRefused, match="1,000"):
        services.connection_request_reject(
            actor=buyer_membership.user, membership=buyer_membership, request=request, comment="x" * 1001
        )
    request.refresh_from_db()
    assert request.status == "pending"
    services.connection_request_reject(
        actor=buyer_membership.user,
        membership=buyer_membership,
        request=request,
        comment="  Not our supplier. ",
    )
    request.refresh_from_db()
    assert (request.status, request.comment) == ("rejected", "Not our supplier.")
    assert not Connection.objects.exists()


def test_expiry_after_30_days_is_idempotent_and_allows_asking_again(
    supplier_membership, buyer_membership, buyer
):
    with time_machine.travel("2026-01-01 09:00 +0000", tick=False):
        request = send(supplier_membership, buyer)
        assert request.days_left == 30
    with time_machine.travel("2026-01-30 09:00 +0000", tick=False):
        assert ConnectionRequest.objects.get().days_left == 1
        assert expire_connection_requests.apply().get() == 0
    with time_machine.travel("2026-01-31 09:00 +0000", tick=False):
        assert expire_connection_requests.apply().get() == 1
        assert expire_connection_requests.apply().get() == 0  # twice changes nothing more
        request.refresh_from_db()
        assert request.status == "expired"
        again = send(supplier_membership, buyer)
        assert again.attempt == 2


def test_an_expired_but_unswept_request_cannot_be_approved(supplier_membership, buyer_membership, buyer):
    with time_machine.travel("2026-01-01 09:00 +0000", tick=False):
        request = send(supplier_membership, buyer)
    with (
        time_machine.travel("2026-02-15 09:00 +0000", tick=False),
        pytest.raises(services.ConnectionRefused, match="expired"),
    ):
        services.connection_request_approve(
            actor=buyer_membership.user, membership=buyer_membership, request=request
        )
    request.refresh_from_db()
    assert request.status != "approved"
    assert not Connection.objects.exists()


def test_search_limit_is_five_in_any_24_hours(supplier_membership):
    with time_machine.travel("2026-03-01 08:00 +0000", tick=False) as traveller:
        for _ in range(5):
            services.customer_search(
                actor=supplier_membership.user, membership=supplier_membership, query="a"
            )
            traveller.shift(timedelta(hours=1))
        with pytest.raises(services.SearchLimitReached) as refusal:
            services.customer_search(
                actor=supplier_membership.user, membership=supplier_membership, query="a"
            )
        assert refusal.value.available_at == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
        assert "You can search again after" in str(refusal.value)
        traveller.move_to("2026-03-02 08:00:01 +0000")
        services.customer_search(actor=supplier_membership.user, membership=supplier_membership, query="a")


def test_beat_runs_the_expiry_hourly():
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["expire-connection-requests"]
    assert entry["task"] == "connections.tasks.expire_connection_requests"
    assert entry["schedule"] <= 60 * 60
    from config import celery_app

    assert entry["task"] in celery_app.tasks
