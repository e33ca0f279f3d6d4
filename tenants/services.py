"""Every write to organizations, memberships and users."""

import logging

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from .models import AuditLogEntry, Membership, Organization, User
from .policy import can_manage_organization

logger = logging.getLogger(__name__)

CONTACT_FIELDS = (
    "contact_email",
    "contact_phone",
    "address",
    "hide_contact_info",
    "default_language",
)


@transaction.atomic
def organization_update_settings(
    *, actor: User, membership: Membership, data: dict[str, object]
) -> Organization:
    """Change an organization's contact information, default language and (buyers) the messaging switch.

    Refused (PermissionDenied) unless the actor is an administrator of the organization.
    """
    decision = can_manage_organization(membership)
    if not decision:
        raise PermissionDenied(decision.reason)
    organization = Organization.objects.select_for_update().get(pk=membership.organization_id)
    fields = [field for field in CONTACT_FIELDS if field in data]
    if organization.is_buyer and "messaging_enabled" in data:
        fields.append("messaging_enabled")
    changes = {}
    for field in fields:
        if getattr(organization, field) != data[field]:
            changes[field] = data[field]
            setattr(organization, field, data[field])
    if changes:
        organization.save(update_fields=list(changes))
        AuditLogEntry.objects.create(
            actor=actor,
            organization=organization,
            action="organization.settings_changed",
            data={"fields": sorted(changes)},
        )
    return organization


@transaction.atomic
def organization_set_tier(*, actor: User, organization: Organization, tier: str) -> bool:
    """Set a supplier's account tier (platform administrators, from the admin). Returns whether it changed.

    Refused (ValueError) for an organization that is not a supplier or a tier that does not exist.
    """
    if tier not in Organization.Tier.values:
        raise ValueError(f"Unknown tier {tier!r}")
    if not organization.is_supplier:
        raise ValueError("Only suppliers have an account tier.")
    if organization.tier == tier:
        return False
    old = organization.tier
    organization.tier = tier
    organization.save(update_fields=["tier"])
    AuditLogEntry.objects.create(
        actor=actor,
        organization=organization,
        action="organization.tier_changed",
        data={"from": old, "to": tier},
    )
    return True


@transaction.atomic
def organization_set_messaging(*, actor: User, organization: Organization, enabled: bool) -> bool:
    """Turn a buyer's messaging on or off (platform administrators). Returns whether it changed.

    Refused (ValueError) for an organization that is not a buyer.
    """
    if not organization.is_buyer:
        raise ValueError("Only buyers switch messaging on or off.")
    if organization.messaging_enabled == enabled:
        return False
    organization.messaging_enabled = enabled
    organization.save(update_fields=["messaging_enabled"])
    AuditLogEntry.objects.create(
        actor=actor,
        organization=organization,
        action="organization.messaging_changed",
        data={"enabled": enabled},
    )
    return True


def user_set_language(*, user: User, language: str) -> None:
    """Remember the interface language a user picked. Refused (ValueError) for a language we do not offer."""
    if language not in dict(settings.LANGUAGES):
        raise ValueError(f"Unknown language {language!r}")
    if user.language != language:
        user.language = language
        user.save(update_fields=["language"])


def password_reset_email_send(*, user_id: int, domain: str, use_https: bool) -> bool:
    """Email a password-reset link to an active user, in their language. Returns whether one was sent.

    Refused silently (False) for a user who no longer exists, is inactive or cannot use a password, so the
    reset form never reveals which addresses have accounts.
    """
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.has_usable_password():
        return False
    context = {
        "user": user,
        "protocol": "https" if use_https else "http",
        "domain": domain,
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "token": default_token_generator.make_token(user),
    }
    language = user.language or settings.LANGUAGE_CODE
    context["language_code"] = language
    with translation.override(language):
        subject = render_to_string("registration/password_reset_subject.txt", context)
        subject = " ".join(subject.split())
        text = render_to_string("registration/password_reset_email.txt", context)
        html = render_to_string("registration/password_reset_email.html", context)
    message = EmailMultiAlternatives(subject, text, to=[user.email])
    message.attach_alternative(html, "text/html")
    message.send()
    logger.info("password reset email sent to user %s", user.pk)
    return True
