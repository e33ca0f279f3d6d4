"""Who wants which email, and every email Parley sends: one row each, the audit trail and idempotency key."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenants.models import Organization


class NotificationPreference(models.Model):
    """A user's choice for one organization. No row means the defaults: messages at once, requests on."""

    class Messages(models.TextChoices):
        IMMEDIATE = "immediate", _("Immediately, one email per message")
        DIGEST = "digest", _("Hourly digest of unread messages")
        OFF = "off", _("Off")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    messages = models.CharField(
        _("new messages"), max_length=10, choices=Messages.choices, default=Messages.IMMEDIATE
    )
    connection_requests = models.BooleanField(_("connection requests"), default=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="notification_preference_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization}: {self.messages}"


class OutgoingEmail(models.Model):
    """pretix's OutgoingMail: written in the transaction of the change that causes it, sent after commit."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        RETRYING = "retrying", _("Retrying")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("kind"), max_length=30)
    # What caused it ("message:12:user:7"): the same cause never writes a second email.
    key = models.CharField(max_length=200, unique=True, null=True, blank=True)
    to_email = models.EmailField(_("to"), max_length=254)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    language = models.CharField(_("language"), max_length=10)
    subject = models.CharField(_("subject"), max_length=300)
    body_text = models.TextField(_("text"))
    body_html = models.TextField(_("HTML"), blank=True)
    headers = models.JSONField(default=dict, blank=True)
    # The Message-ID of a conversation's first notification: In-Reply-To and References point at it.
    thread = models.CharField(max_length=200, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("outgoing email")
        verbose_name_plural = _("outgoing emails")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "updated_at"], name="outgoing_email_status")]

    def __str__(self) -> str:
        return f"{self.subject} → {self.to_email}"

    @property
    def message_id(self) -> str:
        return f"<outgoing-{self.pk}.{self.created_at:%Y%m%d}@{settings.EMAIL_DOMAIN}>"


class PendingMessageEmails(models.Model):
    """A message whose emails are still to be written. Inserted in the message's transaction (one small row,
    so sending stays cheap) and deleted by the task that writes the emails to the outbox; one left for over a
    minute was lost on its way to the worker, and the sweeper queues it again."""

    message = models.OneToOneField(
        "messaging.Message", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("message awaiting its emails")
        verbose_name_plural = _("messages awaiting their emails")
        indexes = [models.Index(fields=["created_at"], name="pending_message_emails_age")]

    def __str__(self) -> str:
        return str(self.message_id)


class ReplyToken(models.Model):
    """The address a user replies to by email for one conversation: reply+<token>@INBOUND_EMAIL_DOMAIN.

    One per user and conversation, reused by every email. The token is never stored: it is derived from a
    random 128-bit nonce with the SECRET_KEY (HMAC), and only its SHA-256 is kept for the lookup, so the
    database alone can neither read nor forge one. Revoking sets revoked_at; a user who gets access back gets
    a new nonce, so an old token stays dead."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        "messaging.Conversation", on_delete=models.CASCADE, related_name="+", verbose_name=_("conversation")
    )
    nonce = models.CharField(max_length=32, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("reply address")
        verbose_name_plural = _("reply addresses")
        constraints = [
            models.UniqueConstraint(fields=["user", "conversation"], name="reply_token_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.conversation_id}"


class InboundEmail(models.Model):
    """Every email that reached the reply address, posted or refused: the audit trail, and the guard against
    a second delivery (the same Message-ID, or the same bytes when there is none)."""

    class Status(models.TextChoices):
        POSTED = "posted", _("Posted")
        REFUSED = "refused", _("Refused")
        IGNORED = "ignored", _("Ignored (automatic)")

    header_message_id = models.CharField(_("Message-ID"), max_length=300, unique=True, null=True, blank=True)
    raw_sha256 = models.CharField(max_length=64, unique=True)
    from_email = models.CharField(_("from"), max_length=300, blank=True)
    recipient = models.CharField(_("to"), max_length=300, blank=True)
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    size = models.PositiveIntegerField(_("size"), default=0)
    token = models.ForeignKey(ReplyToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    reason = models.CharField(_("reason"), max_length=40, blank=True)
    detail = models.TextField(_("detail"), blank=True)
    posted = models.ForeignKey(
        "messaging.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField(_("received"), default=timezone.now)

    class Meta:
        verbose_name = _("incoming email")
        verbose_name_plural = _("incoming emails")
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.from_email}: {self.status} {self.reason}"
