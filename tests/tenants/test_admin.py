import pytest
from django.urls import reverse

from documents.models import Document
from tenants.models import AuditLogEntry, Organization
from tests.factories import BuyerFactory, SupplierFactory

pytestmark = pytest.mark.django_db


def test_admin_action_changes_the_tier_of_suppliers_only(admin_client):
    standard = SupplierFactory(tier="standard")
    buyer = BuyerFactory()
    response = admin_client.post(
        reverse("admin:tenants_organization_changelist"),
        {"action": "make_enterprise", "_selected_action": [standard.pk, buyer.pk]},
        follow=True,
    )
    html = response.content.decode()
    assert "1 supplier changed." in html
    assert "1 organization skipped: only suppliers have a tier." in html
    standard.refresh_from_db()
    assert standard.tier == Organization.Tier.ENTERPRISE
    assert AuditLogEntry.objects.filter(action="organization.tier_changed").count() == 1


def test_admin_action_toggles_messaging(admin_client):
    buyer = BuyerFactory(messaging_enabled=True)
    admin_client.post(
        reverse("admin:tenants_organization_changelist"),
        {"action": "disable_messaging", "_selected_action": [buyer.pk]},
    )
    buyer.refresh_from_db()
    assert buyer.messaging_enabled is False


@pytest.mark.parametrize(
    "url",
    [
        "admin:tenants_organization_changelist",
        "admin:tenants_membership_changelist",
        "admin:tenants_user_changelist",
        "admin:documents_document_changelist",
        "admin:tenants_auditlogentry_changelist",
    ],
)
def test_admin_lists_search_and_filter(admin_client, document, url):
    assert admin_client.get(reverse(url), {"q": "a"}).status_code == 200


def test_admin_filters_documents_by_kind(admin_client, document):
    response = admin_client.get(
        reverse("admin:documents_document_changelist"), {"kind__exact": Document.Kind.INVOICE}
    )
    assert document.number not in response.content.decode()
    response = admin_client.get(reverse("admin:documents_document_changelist"), {"q": document.number})
    assert document.number in response.content.decode()
