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


# What a one-click unsubscribe link turns off: "m" message emails, "c" connection-request emails.
TOPICS = ("m", "c")


def unsubscribe_token(*, user_id: int, organization_id: int, topic: str = "m") -> str:
    return signing.dumps(
        {"u": user_id, "o": organization_id, "t": topic}, salt=UNSUBSCRIBE_SALT, compress=True
    )


def read_unsubscribe_token(token: str) -> tuple[int, int, str] | None:
    """(user id, organization id, topic), or None for a token we did not sign."""
    try:
        value = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("u"), int)
        or not isinstance(value.get("o"), int)
        or value.get("t", "m") not in TOPICS
    ):
        return None
    return value["u"], value["o"], value.get("t", "m")


@transaction.atomic
def unsubscribe(*, user_id: int, organization_id: int, topic: str = "m") -> NotificationPreference | None:
    """One-click unsubscribe (RFC 8058): no more message emails (topic "m") or connection-request emails
    (topic "c") from this organization for this user. None when the user is no longer a member."""
    membership = Membership.objects.filter(user_id=user_id, organization_id=organization_id).first()
    if membership is None:
        return None
    change = (
        {"messages": NotificationPreference.Messages.OFF} if topic == "m" else {"connection_requests": False}
    )
    preference, _created = NotificationPreference.objects.update_or_create(
        user_id=user_id, organization_id=organization_id, defaults={**change, "updated_at": timezone.now()}
    )
    return preference
