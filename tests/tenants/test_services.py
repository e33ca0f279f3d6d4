import pytest
from django.core.exceptions import PermissionDenied

from tenants import services
from tenants.models import AuditLogEntry, Membership, Organization

pytestmark = pytest.mark.django_db


def test_update_settings_refuses_a_member(buyer, buyer_member):
    membership = Membership.objects.get(user=buyer_member)
    with pytest.raises(PermissionDenied):
        services.organization_update_settings(
            actor=buyer_member, membership=membership, data={"contact_email": "x@example.com"}
        )
    buyer.refresh_from_db()
    assert buyer.contact_email != "x@example.com"
    assert not AuditLogEntry.objects.exists()


def test_update_settings_ignores_messaging_for_a_supplier(supplier, supplier_admin):
    membership = Membership.objects.get(user=supplier_admin)
    services.organization_update_settings(
        actor=supplier_admin, membership=membership, data={"messaging_enabled": False}
    )
    supplier.refresh_from_db()
    assert supplier.messaging_enabled is True


def test_update_without_changes_logs_nothing(buyer, buyer_admin):
    membership = Membership.objects.get(user=buyer_admin)
    services.organization_update_settings(
        actor=buyer_admin, membership=membership, data={"contact_email": buyer.contact_email}
    )
    assert not AuditLogEntry.objects.exists()


def test_set_tier_logs_and_refuses_non_suppliers(supplier, buyer, admin_user):
    assert services.organization_set_tier(actor=admin_user, organization=supplier, tier="standard")
    assert not services.organization_set_tier(actor=admin_user, organization=supplier, tier="standard")
    supplier.refresh_from_db()
    assert supplier.tier == Organization.Tier.STANDARD
    entry = AuditLogEntry.objects.get()
    assert entry.data == {"from": "enterprise", "to": "standard"}
    assert entry.actor == admin_user
    with pytest.raises(ValueError, match="Only suppliers"):
        services.organization_set_tier(actor=admin_user, organization=buyer, tier="enterprise")
    with pytest.raises(ValueError, match="Unknown tier"):
        services.organization_set_tier(actor=admin_user, organization=supplier, tier="platinum")


def test_user_set_language_refuses_unknown_languages(buyer_admin):
    with pytest.raises(ValueError):
        services.user_set_language(user=buyer_admin, language="klingon")
    services.user_set_language(user=buyer_admin, language="pt-br")
    buyer_admin.refresh_from_db()
    assert buyer_admin.language == "pt-br"


def test_password_reset_is_not_sent_to_inactive_users(buyer_admin, mailoutbox):
    buyer_admin.is_active = False
    buyer_admin.save()
    assert not services.password_reset_email_send(user_id=buyer_admin.pk, domain="x", use_https=True)
    assert not services.password_reset_email_send(user_id=987654, domain="x", use_https=True)
    assert mailoutbox == []
