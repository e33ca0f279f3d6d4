"""Every write of notifications: preferences, and the outbox (queueing an email, sending it, sweeping)."""

import datetime
import smtplib

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Q, Subquery
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from messaging.models import Message, Participant
from tenants.models import Membership, Organization, User

from .models import NotificationPreference, OutgoingEmail

UNSUBSCRIBE_SALT = "notifications.unsubscribe"
PARTNER_KINDS = {Organization.Kind.PARTNER, Organization.Kind.MERCHANT}


# Preferences ------------------------------------------------------------------------------------------------


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


# Queueing ---------------------------------------------------------------------------------------------------


def absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _one_line(text: str) -> str:
    """A header value from rendered text: no line breaks, so nothing can be injected after it."""
    return " ".join(text.split())[:300]


def email_render(
    *,
    kind: str,
    key: str | None,
    to_email: str,
    user: User | None,
    organization: Organization | None,
    language: str,
    template: str,
    context: dict,
    thread: str = "",
) -> OutgoingEmail:
    """An outbox row (not saved yet): `template` rendered in `language`, with the unsubscribe and preferences
    links of the user in the organization."""
    headers = {"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"}
    if user is not None and organization is not None:
        token = unsubscribe_token(user_id=user.pk, organization_id=organization.pk)
        unsubscribe = absolute(reverse("notifications:unsubscribe", kwargs={"token": token}))
        headers["List-Unsubscribe"] = f"<{unsubscribe}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        context = {
            **context,
            "unsubscribe_url": unsubscribe,
            "preferences_url": absolute(
                reverse("notifications:preferences", kwargs={"org_slug": organization.slug})
            ),
        }
    with translation.override(language):
        subject = _one_line(render_to_string(f"notifications/email/{template}_subject.txt", context))
        text = render_to_string(f"notifications/email/{template}.txt", context)
        html = render_to_string(f"notifications/email/{template}.html", context)
    return OutgoingEmail(
        kind=kind,
        key=key,
        to_email=to_email,
        user=user,
        language=language,
        subject=subject,
        body_text=text,
        body_html=html,
        headers=headers,
        thread=thread,
    )


def emails_queue(emails: list[OutgoingEmail]) -> list[OutgoingEmail]:
    """Write the rows in one INSERT and send each after the transaction commits. A row whose key is taken
    (the same cause, written before) is dropped: one email per cause."""
    keys = [email.key for email in emails if email.key]
    taken = set(OutgoingEmail.objects.filter(key__in=keys).values_list("key", flat=True)) if keys else set()
    fresh = [email for email in emails if not email.key or email.key not in taken]
    if not fresh:
        return []
    try:
        with transaction.atomic():
            created = OutgoingEmail.objects.bulk_create(fresh)
    except IntegrityError:  # a key written a moment ago by another process: write the others one by one
        created = []
        for email in fresh:
            try:
                with transaction.atomic():
                    email.save()
            except IntegrityError:
                continue
            created.append(email)
    from .tasks import send_outgoing_email

    ids = [email.pk for email in created]
    transaction.on_commit(lambda: [send_outgoing_email.delay(email_id) for email_id in ids])
    return created


def email_queue(**fields) -> OutgoingEmail | None:
    """One email (see email_render for the fields); None when its key was used before."""
    created = emails_queue([email_render(**fields)])
    return created[0] if created else None


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


def message_notifications_queue(*, message: Message) -> list[OutgoingEmail]:
    """Emails for a new message: every user of the other organization whose preference is "immediately"
    (the default), once per message and user, never the author. A merchant's first contact always reaches
    the partner at once, whatever the partner's preference. The same few queries for any number of recipients:
    who they are, the files, taken keys, one INSERT."""
    conversation = message.conversation
    first_message = conversation.message_count == 0
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
    author = message.author.display_name if message.author else ""
    attachment_count = message.attachments.count()
    emails = []
    for membership in recipients:
        chosen = membership.preference or NotificationPreference.Messages.IMMEDIATE
        organization = membership.organization
        always = first_message and organization.kind == Organization.Kind.PARTNER
        if chosen != NotificationPreference.Messages.IMMEDIATE and not always:
            continue
        user = membership.user
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
                    "message": message,
                    "attachment_count": attachment_count,
                    "first_contact": always,
                    "conversation_url": absolute(conversation_path(organization, conversation.pk)),
                },
                thread=conversation_thread(conversation.pk),
            )
        )
    return emails_queue(emails)


# Sending ----------------------------------------------------------------------------------------------------

# Tries after the first, in minutes; the sweeper re-queues a retrying row once its time has come.
BACKOFF_MINUTES = [1, 2, 5, 10, 30, 60, 120, 240]


def _is_temporary(error: Exception) -> bool:
    """4xx answers, timeouts and lost connections may work later; 5xx answers never will."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _message in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500
    status = getattr(error, "status_code", None)  # anymail: the provider's HTTP status
    if status is not None:
        return status == 429 or status >= 500
    return isinstance(error, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError | OSError)


def _deliver(email: OutgoingEmail) -> None:
    headers = {**email.headers, "Message-ID": email.message_id}
    if email.thread:
        headers["In-Reply-To"] = email.thread
        headers["References"] = email.thread
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.body_text,
        to=[email.to_email],
        headers=headers,
        connection=get_connection(),
    )
    if email.body_html:
        message.attach_alternative(email.body_html, "text/html")
    message.send()


def outgoing_email_send(*, email_id: int) -> str:
    """Send one outbox row, at most once: the row is claimed under a lock (queued or retrying → sending),
    sent outside the lock, then marked sent, retrying (temporary failure, with backoff) or failed (permanent,
    or out of attempts). A row someone else holds, or that is sent already, is left alone."""
    now = timezone.now()
    with transaction.atomic():
        email = (
            OutgoingEmail.objects.select_for_update(skip_locked=True)
            .filter(pk=email_id, status__in=[OutgoingEmail.Status.QUEUED, OutgoingEmail.Status.RETRYING])
            .first()
        )
        if email is None:
            return "skipped"
        email.status = OutgoingEmail.Status.SENDING
        email.attempts += 1
        email.updated_at = now
        email.save(update_fields=["status", "attempts", "updated_at"])
    try:
        _deliver(email)
    except Exception as error:  # every failure is recorded on the row; none is lost
        temporary = _is_temporary(error) and email.attempts < settings.OUTBOX_MAX_ATTEMPTS
        status = OutgoingEmail.Status.RETRYING if temporary else OutgoingEmail.Status.FAILED
        delay = BACKOFF_MINUTES[min(email.attempts, len(BACKOFF_MINUTES)) - 1]
        OutgoingEmail.objects.filter(pk=email.pk).update(
            status=status,
            last_error=f"{type(error).__name__}: {error}"[:2000],
            next_attempt_at=timezone.now() + datetime.timedelta(minutes=delay) if temporary else None,
            updated_at=timezone.now(),
        )
        return status
    OutgoingEmail.objects.filter(pk=email.pk).update(
        status=OutgoingEmail.Status.SENT, sent_at=timezone.now(), updated_at=timezone.now(), last_error=""
    )
    return OutgoingEmail.Status.SENT


def outbox_sweep(*, now: datetime.datetime | None = None) -> list[int]:
    """Rows a lost task left behind (a worker killed, Redis restarted empty): queued for over a minute,
    retrying whose time has come, or sending for longer than OUTBOX_STALE_SECONDS (the worker died, maybe
    after the server took the mail). Returns their ids, to be sent again."""
    now = now or timezone.now()
    stale = now - datetime.timedelta(seconds=settings.OUTBOX_STALE_SECONDS)
    due = OutgoingEmail.objects.filter(
        Q(status=OutgoingEmail.Status.QUEUED, updated_at__lt=now - datetime.timedelta(minutes=1))
        | Q(status=OutgoingEmail.Status.RETRYING, next_attempt_at__lte=now)
        | Q(status=OutgoingEmail.Status.SENDING, updated_at__lt=stale)
    )
    ids = list(due.values_list("pk", flat=True)[:1000])
    OutgoingEmail.objects.filter(pk__in=ids, status=OutgoingEmail.Status.SENDING).update(
        status=OutgoingEmail.Status.RETRYING, last_error="The worker was lost while sending.", updated_at=now
    )
    return ids
