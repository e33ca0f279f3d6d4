"""Connection-request emails go through the outbox too: written with the request, one per recipient."""

import pytest
from django.db import transaction

from connections import services as connection_services
from connections.services import ConnectionRefused
from notifications import services
from notifications.models import OutgoingEmail
from notifications.selectors import preference_get
from tenants.models import Membership
from tests.factories import ConnectionFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def supplier_membership(supplier_admin):
    return Membership.objects.get(user=supplier_admin)


def send(membership, buyer, email=""):
    return connection_services.connection_request_send(
        actor=membership.user, membership=membership, customer=buyer, contact_email=email
    )


def test_the_email_row_is_written_with_the_request_and_lost_with_it(supplier_membership, buyer, buyer_admin):
    with pytest.raises(RuntimeError), transaction.atomic():
        send(supplier_membership, buyer)
        assert OutgoingEmail.objects.filter(kind="connection_request").count() == 1
        raise RuntimeError("the request is rolled back")
    assert not OutgoingEmail.objects.exists()


def test_administrators_get_one_email_each_in_their_language(
    supplier_membership, buyer, buyer_admin, buyer_member, mailoutbox, django_capture_on_commit_callbacks
):
    second_admin = UserFactory(language="de")
    MembershipFactory(user=second_admin, organization=buyer, role=Membership.Role.ADMINISTRATOR)
    with django_capture_on_commit_callbacks(execute=True):
        request = send(supplier_membership, buyer)
    rows = OutgoingEmail.objects.order_by("to_email")
    assert sorted(rows.values_list("to_email", flat=True)) == sorted([buyer_admin.email, second_admin.email])
    german = rows.get(to_email=second_admin.email)
    assert german.language == "de" and german.status == OutgoingEmail.Status.SENT
    assert german.key == f"connection_request:{request.pk}:{second_admin.email.lower()}"
    assert german.subject.endswith("auf Parley mit Nordwind Handel GmbH verbinden")  # the German catalog
    assert buyer_member.email not in {m.to[0] for m in mailoutbox}
    # The unsubscribe link of a connection-request email turns those off, not message emails.
    assert german.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/connections/incoming/" in german.body_text


def test_an_administrator_who_turned_requests_off_gets_none(supplier_membership, buyer, buyer_admin):
    services.preference_update(
        user=buyer_admin, organization=buyer, messages="immediate", connection_requests=False
    )
    send(supplier_membership, buyer)
    assert not OutgoingEmail.objects.exists()


def test_a_contact_address_matches_its_user_ignoring_case(supplier_membership, buyer, buyer_admin):
    buyer_admin.language = "fi"
    buyer_admin.save()
    send(supplier_membership, buyer, email=buyer_admin.email.upper())
    row = OutgoingEmail.objects.get()
    assert row.language == "fi" and row.user == buyer_admin
    assert row.to_email == buyer_admin.email


def test_a_contact_who_is_not_a_member_gets_it_in_the_customers_language_without_unsubscribe(
    supplier_membership, buyer
):
    buyer.default_language = "pt-br"
    buyer.save()
    send(supplier_membership, buyer, email="anna@nordwind.example")
    row = OutgoingEmail.objects.get()
    assert (row.to_email, row.language, row.user) == ("anna@nordwind.example", "pt-br", None)
    assert "List-Unsubscribe" not in row.headers  # no preference to change for someone without an account


def test_a_refused_request_writes_no_email(supplier_membership, supplier, buyer, buyer_admin):
    ConnectionFactory(supplier=supplier, customer=buyer)
    with pytest.raises(ConnectionRefused):
        send(supplier_membership, buyer)
    assert not OutgoingEmail.objects.exists()


def test_one_click_unsubscribe_turns_connection_request_emails_off(
    client, supplier_membership, buyer, buyer_admin
):
    send(supplier_membership, buyer)
    link = OutgoingEmail.objects.get().headers["List-Unsubscribe"].strip("<>")
    response = client.post(link)
    assert response.status_code == 200
    assert "connection requests" in response.content.decode()
    chosen = preference_get(user=buyer_admin, organization=buyer)
    assert chosen.connection_requests is False and chosen.messages == "immediate"
