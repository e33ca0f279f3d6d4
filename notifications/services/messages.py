"""Emails about messages: at once when one arrives, and the hourly digest."""

import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.urls import reverse
from django.utils import timezone

from messaging.models import Message, Participant
from partners.models import ServiceRequest
from tenants.models import Membership, Organization, User

from ..models import NotificationPreference, OutgoingEmail, PendingMessageEmails
from .outbox import absolute, email_render, emails_queue
from .tokens import reply_address, reply_tokens_issue

PARTNER_KINDS = {Organization.Kind.PARTNER, Organization.Kind.MERCHANT}


def language_of(user: User, organization: Organization) -> str:
    return user.language or organization.default_language or settings.LANGUAGE_CODE


def conversation_thread(conversation_id: int) -> str:
    """Every email about one conversation refers to this id, so mail clients show them as one thread."""
    return f"<conversation-{conversation_id}@{settings.EMAIL_DOMAIN}>"


def conversation_path(organization: Organization, conversation_id: int) -> str:
    if organization.kind in PARTNER_KINDS:
        return reverse(
            "partners:request", kwargs={"org_slug": organization.slug, "request_id": conversation_id}
        )
    return reverse(
        "messaging:conversation", kwargs={"org_slug": organization.slug, "conversation_id": conversation_id}
    )


def message_emails_pending(*, message: Message) -> None:
    """In the message's transaction: one row saying its emails are to be written, and after commit the task
    that writes them. Who gets an email, their reply addresses and the rendering in each language are the
    worker's work (message_emails_write), not the sender's request; the row makes sure none is lost."""
    PendingMessageEmails.objects.create(message_id=message.pk)
    from ..tasks import write_message_emails

    message_id = message.pk
    # Robust: the message is saved whatever the broker says; the sweeper queues what could not be queued.
    transaction.on_commit(lambda: write_message_emails.delay(message_id), robust=True)


@transaction.atomic
def message_emails_write(*, message_id: int) -> list[OutgoingEmail]:
    """The emails of a message whose row is pending, written to the outbox once: the row is taken under a
    lock (a second worker skips it) and deleted with the emails' INSERT. Nothing when it is gone already."""
    pending = (
        PendingMessageEmails.objects.select_for_update(skip_locked=True).filter(message_id=message_id).first()
    )
    if pending is None:
        return []
    message = (
        Message.objects.select_related("conversation", "author", "author_organization")
        .filter(pk=message_id)
        .first()
    )
    emails = message_notifications_queue(message=message) if message is not None else []
    pending.delete()
    return emails


def message_emails_sweep(*, now: datetime.datetime | None = None) -> list[int]:
    """Messages whose emails a lost task left unwritten (a worker killed, the broker down or restarted
    empty): pending for over a minute. Returns their ids, to be queued again."""
    since = (now or timezone.now()) - datetime.timedelta(minutes=1)
    pending = PendingMessageEmails.objects.filter(created_at__lt=since).order_by("created_at")
    return list(pending.values_list("message_id", flat=True)[:1000])


def message_notifications_queue(*, message: Message) -> list[OutgoingEmail]:
    """Emails for a new message: every user of the other organization whose preference is "immediately"
    (the default), once per message and user, never the author. A merchant's first contact always reaches
    the partner at once, whatever the partner's preference. Each email's Reply-To is the recipient's reply
    address for the conversation. The same few queries for any number of recipients: who they are, the files,
    their reply tokens, the store (partner conversations), taken keys, one INSERT."""
    conversation = message.conversation
    first_message = not Message.objects.filter(conversation=conversation, pk__lt=message.pk).exists()
    preference = NotificationPreference.objects.filter(
        user=OuterRef("user_id"), organization=OuterRef("organization_id")
    ).values("messages")[:1]
    others = Participant.objects.filter(conversation=conversation).exclude(
        organization_id=message.author_organization_id
    )
    recipients = (
        Membership.objects.filter(organization_id__in=others.values("organization_id"), user__is_active=True)
        .exclude(user_id=message.author_id)
        .select_related("user", "organization")
        .annotate(preference=Subquery(preference))
        .order_by("id")
    )
    if not first_message:
        # Only "immediately" (or no choice: the default) gets an email now; the others are not even loaded.
        immediate = NotificationPreference.Messages.IMMEDIATE
        recipients = recipients.filter(Q(preference__isnull=True) | Q(preference=immediate))
    author = message.author.display_name if message.author else ""
    attachment_count = message.attachments.count()
    chosen_members = []
    for membership in recipients:
        chosen = membership.preference or NotificationPreference.Messages.IMMEDIATE
        always = first_message and membership.organization.kind == Organization.Kind.PARTNER
        if chosen == NotificationPreference.Messages.IMMEDIATE or always:
            chosen_members.append((membership, always))
    if not chosen_members:
        return []
    tokens = reply_tokens_issue(
        conversation=conversation, members=[(m.user, m.organization) for m, _always in chosen_members]
    )
    store_name = ""
    if any(m.organization.kind in PARTNER_KINDS for m, _always in chosen_members):
        store_name = (
            ServiceRequest.objects.filter(pk=conversation.pk).values_list("store_name", flat=True).first()
            or ""
        )
    emails = []
    for membership, always in chosen_members:
        user, organization = membership.user, membership.organization
        emails.append(
            email_render(
                kind="message",
                key=f"message:{message.pk}:user:{user.pk}",
                to_email=user.email,
                user=user,
                organization=organization,
                language=language_of(user, organization),
                template="new_message",
                context={
                    "recipient": user,
                    "organization": organization,
                    "author": author,
                    "author_organization": message.author_organization,
                    "conversation": conversation,
                    "store_name": store_name,
                    "message": message,
                    "attachment_count": attachment_count,
                    "first_contact": always,
                    "conversation_url": absolute(conversation_path(organization, conversation.pk)),
                },
                thread=conversation_thread(conversation.pk),
                reply_to=reply_address(tokens[user.pk]),
            )
        )
    return emails_queue(emails)
