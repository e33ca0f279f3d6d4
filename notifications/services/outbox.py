"""The outbox: render an email into a row, queue rows after commit, send each at most once, sweep."""

import datetime
import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from tenants.models import Organization, User

from ..models import OutgoingEmail
from .preferences import unsubscribe_token


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
    topic: str = "m",
    reply_to: str = "",
) -> OutgoingEmail:
    """An outbox row (not saved yet): `template` rendered in `language`, with the unsubscribe and
    preferences links of the user in the organization (unsubscribing turns off `topic`: "m" messages, "c"
    connection requests), and a Reply-To when replies to it are read (`reply_to`)."""
    headers = {"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"}
    if reply_to:
        headers["Reply-To"] = reply_to
    if user is not None and organization is not None:
        token = unsubscribe_token(user_id=user.pk, organization_id=organization.pk, topic=topic)
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
    context = {**context, "LANGUAGE_CODE": language}
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
    from ..tasks import send_outgoing_email

    ids = [email.pk for email in created]
    # Robust: what caused the emails is saved whatever the broker says; the sweeper sends what was not queued.
    transaction.on_commit(lambda: [send_outgoing_email.delay(email_id) for email_id in ids], robust=True)
    return created


def email_queue(**fields) -> OutgoingEmail | None:
    """One email (see email_render for the fields); None when its key was used before."""
    created = emails_queue([email_render(**fields)])
    return created[0] if created else None


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
    # The staleness is checked again in the UPDATE: a row a worker claimed a moment ago is left to it.
    OutgoingEmail.objects.filter(
        pk__in=ids, status=OutgoingEmail.Status.SENDING, updated_at__lt=stale
    ).update(
        status=OutgoingEmail.Status.RETRYING, last_error="The worker was lost while sending.", updated_at=now
    )
    return ids
