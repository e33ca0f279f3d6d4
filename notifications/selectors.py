from tenants.models import Organization, User

from .models import NotificationPreference


def preference_get(*, user: User, organization: Organization) -> NotificationPreference:
    """The user's choice for the organization, or the defaults (messages at once, requests on)."""
    found = NotificationPreference.objects.filter(user=user, organization=organization).first()
    return found or NotificationPreference(user=user, organization=organization)
