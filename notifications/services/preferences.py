"""Who wants which email: preferences, and one-click unsubscribe."""

from django.core import signing
from django.db import transaction
from django.utils import timezone

from tenants.models import Membership, Organization, User

from ..models import NotificationPreference

UNSUBSCRIBE_SALT = "notifications.unsubscribe"


@transaction.atomic
def preference_update(
    *, user: User, organization: Organization, messages: str, connection_requests: bool
) -> NotificationPreference:
    """The user's choice for this organization (any member decides for themselves)."""
    if messages not in NotificationPreference.Messages.values:
        raise ValueError(messages)
    preference, _created = NotificationPreference.objects.update_or_create(
        user=user,
        organization=organization,
        defaults={
            "messages": messages,
            "connection_requests": connection_requests,
            "updated_at": timezone.now(),
        },
    )
    return preference


def unsubscribe_token(*, user_id: int, organization_id: int) -> str:
    return signing.dumps({"u": user_id, "o": organization_id}, salt=UNSUBSCRIBE_SALT, compress=True)


def read_unsubscribe_token(token: str) -> tuple[int, int] | None:
    try:
        value = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("u"), int)
        or not isinstance(value.get("o"), int)
    ):
        return None
    return value["u"], value["o"]


@transaction.atomic
def messages_unsubscribe(*, user_id: int, organization_id: int) -> NotificationPreference | None:
    """One-click unsubscribe (RFC 8058): no more message emails from this organization for this user.
    None when the user is no longer a member (nothing to do)."""
    membership = Membership.objects.filter(user_id=user_id, organization_id=organization_id).first()
    if membership is None:
        return None
    preference, _created = NotificationPreference.objects.update_or_create(
        user_id=user_id,
        organization_id=organization_id,
        defaults={"messages": NotificationPreference.Messages.OFF, "updated_at": timezone.now()},
    )
    return preference
