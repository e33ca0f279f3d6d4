"""Abuse limits (tenants.limits): past a rate, a 429 page that says what happened and saves nothing."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from connections.models import ConnectionRequest
from messaging.models import Message
from partners.models import ServiceRequest
from tests.factories import (
    ConnectionFactory,
    MembershipFactory,
    MerchantFactory,
    SupplierRecordFactory,
    reachable_partner,
    start_conversation,
)

pytestmark = pytest.mark.django_db

REFUSED = "Too many requests"


@pytest.fixture
def tight(settings):
    """Two of everything a minute, so a test reaches each limit in three requests."""
    settings.RATE_LIMITS = {"send": "2/m", "upload": "1/m", "search": "2/m", "connect": "1/m"}


@pytest.fixture
def talking(buyer, supplier, buyer_admin):
    ConnectionFactory(supplier=supplier, customer=buyer)
    return start_conversation(buyer_admin, supplier, subject="Pallets", body="Hello")


def messages_url(name, organization, **kwargs):
    return reverse(f"messaging:{name}", kwargs={"org_slug": organization.slug, **kwargs})


def reply(client, supplier, conversation, body, **extra):
    return client.post(
        messages_url("conversation", supplier, conversation_id=conversation.pk), {"body": body, **extra}
    )


def test_sending_past_the_limit_is_refused_and_saves_nothing(
    tight, client, supplier, supplier_admin, talking
):
    client.force_login(supplier_admin)
    assert [reply(client, supplier, talking, f"Answer {n}").status_code for n in (1, 2)] == [302, 302]
    refused = reply(client, supplier, talking, "One too many")
    page = refused.content.decode()
    assert refused.status_code == 429
    assert REFUSED in page and "You have sent a lot of messages in a short time." in page
    assert "What you sent was not saved." in page and "Wait a little, then try again." in page
    assert not Message.objects.filter(body="One too many").exists()
    assert talking.messages.count() == 3  # the first message and the two answers


def test_each_person_has_their_own_count(tight, client, supplier, supplier_admin, talking):
    colleague = MembershipFactory(organization=supplier).user
    client.force_login(supplier_admin)
    for n in range(3):
        reply(client, supplier, talking, f"Admin {n}")
    client.force_login(colleague)
    assert reply(client, supplier, talking, "Colleague").status_code == 302


def test_files_count_as_uploads_too(tight, client, supplier, supplier_admin, talking):
    client.force_login(supplier_admin)

    def with_file(name):
        upload = SimpleUploadedFile(name, b"%PDF-1.4 drawing", content_type="application/pdf")
        return reply(client, supplier, talking, f"See {name}", files=upload)

    assert with_file("a.pdf").status_code == 302
    refused = with_file("b.pdf")
    assert refused.status_code == 429 and "You have sent a lot of files" in refused.content.decode()
    assert not Message.objects.filter(body="See b.pdf").exists()
    assert talking.messages.filter(attachments__name="b.pdf").count() == 0


def test_an_outsider_gets_the_same_404_before_any_limit(tight, client, outsider, supplier, talking):
    client.force_login(outsider)
    for _ in range(4):
        assert reply(client, supplier, talking, "Hi").status_code == 404


def test_searching_past_the_limit_is_refused_browsing_is_not(
    tight, client, supplier, supplier_admin, talking
):
    client.force_login(supplier_admin)
    inbox = messages_url("inbox", supplier)
    assert [client.get(inbox, {"q": "pallets"}).status_code for _ in range(2)] == [200, 200]
    refused = client.get(inbox, {"q": "pallets"})
    page = refused.content.decode()
    assert refused.status_code == 429 and "You have searched a lot in a short time." in page
    assert "What you sent was not saved." not in page
    assert client.get(inbox).status_code == 200  # the inbox without a search


def test_htmx_gets_the_message_alone(tight, client, supplier, supplier_admin, talking):
    client.force_login(supplier_admin)
    inbox = messages_url("inbox", supplier)
    headers = {"HX-Request": "true", "HX-Target": "conversation-list"}
    for _ in range(2):
        client.get(inbox, {"q": "pallets"}, headers=headers)
    refused = client.get(inbox, {"q": "pallets"}, headers=headers)
    page = refused.content.decode()
    assert refused.status_code == 429 and 'id="rate-limited"' in page and "<html" not in page


def test_the_page_speaks_the_persons_language(tight, client, supplier, supplier_admin, talking):
    supplier_admin.language = "de"
    supplier_admin.save(update_fields=["language"])
    client.force_login(supplier_admin)
    for n in range(3):
        refused = reply(client, supplier, talking, f"Antwort {n}")
    assert refused.status_code == 429 and "Zu viele Anfragen" in refused.content.decode()


def test_connection_requests_past_the_limit(tight, client, supplier, supplier_admin, buyer):
    domain = supplier_admin.email.split("@")[1]
    SupplierRecordFactory(buyer=buyer, name="Our supplier", contact_email=f"sales@{domain}")
    client.force_login(supplier_admin)
    connect = reverse(
        "connections:suggestion_connect", kwargs={"org_slug": supplier.slug, "customer_id": buyer.pk}
    )
    assert client.post(connect).status_code == 302
    ConnectionRequest.objects.all().delete()  # so that only the limit can refuse the next one
    refused = client.post(connect)
    assert refused.status_code == 429
    assert "You have sent a lot of connection requests" in refused.content.decode()
    assert not ConnectionRequest.objects.exists()


def test_a_merchant_contacting_partners_past_the_limit(tight, client):
    merchant = MerchantFactory()
    merchant_user = MembershipFactory(organization=merchant).user
    partner = reachable_partner()
    service = partner.services.first()
    client.force_login(merchant_user)
    contact = reverse("partners:contact", kwargs={"org_slug": merchant.slug, "service_id": service.pk})
    for _ in range(2):
        client.get(contact)  # reading the form is free
        client.post(contact, {"requirements": "A new theme", "budget": "unknown"})
    before = ServiceRequest.objects.count()
    refused = client.post(contact, {"requirements": "A new theme", "budget": "unknown"})
    assert refused.status_code == 429 and ServiceRequest.objects.count() == before


def test_limits_can_be_turned_off(settings, client, supplier, supplier_admin, talking):
    settings.RATE_LIMITS = {"send": "1/m", "upload": "1/m", "search": "1/m", "connect": "1/m"}
    settings.RATELIMIT_ENABLE = False
    client.force_login(supplier_admin)
    assert {reply(client, supplier, talking, f"Free {n}").status_code for n in range(3)} == {302}
