"""Emails about connection requests: the customer hears of a supplier's request."""

from django.conf import settings
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse

from connections.models import ConnectionRequest
from tenants.models import Membership, User

from ..models import NotificationPreference, OutgoingEmail
from .messages import language_of
from .outbox import absolute, email_render, emails_queue


def connection_request_emails_queue(*, request: ConnectionRequest) -> list[OutgoingEmail]:
    """Emails for a new request: to the contact the supplier gave, or, for a request from a suggestion, to
    the customer's active administrators. A member of the customer who turned connection-request emails off
    is skipped; an address that is not a member (a contact from the supplier's records) always gets it, in
    its user's language if it has one, else the customer's. Addresses compare ignoring case."""
    customer = request.customer
    if request.contact_email:
        wanted = Q(user__email__iexact=request.contact_email)
    else:
        wanted = Q(role=Membership.Role.ADMINISTRATOR)
    members = {
        membership.user.email.lower(): membership
        for membership in Membership.objects.filter(wanted, organization=customer, user__is_active=True)
        .select_related("user")
        .order_by("user__email")
    }
    turned_off = set(
        NotificationPreference.objects.filter(
            organization=customer,
            user_id__in=[m.user_id for m in members.values()],
            connection_requests=False,
        ).values_list("user_id", flat=True)
    )
    if request.contact_email and request.contact_email.lower() not in members:
        # Not a member: maybe a user of Parley elsewhere, whose language we know.
        known = (
            User.objects.annotate(address=Lower("email"))
            .filter(address=request.contact_email.lower(), is_active=True)
            .exclude(language="")
            .first()
        )
        outsiders = [(request.contact_email, None, known.language if known else "")]
    else:
        outsiders = []
    recipients = outsiders + [
        (membership.user.email, membership.user, language_of(membership.user, customer))
        for membership in members.values()
        if membership.user_id not in turned_off
    ]
    link = absolute(reverse("connections:incoming", kwargs={"org_slug": customer.slug}))
    emails = [
        email_render(
            kind="connection_request",
            key=f"connection_request:{request.pk}:{address.lower()}",
            to_email=address,
            user=user,
            organization=customer if user else None,
            language=language or customer.default_language or settings.LANGUAGE_CODE,
            template="connection_request",
            context={"request": request, "link": link, "recipient": user},
            topic="c",
        )
        for address, user, language in recipients
    ]
    return emails_queue(emails)
