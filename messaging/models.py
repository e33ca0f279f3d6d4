import uuid

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from documents.models import Document
from tenants.models import Organization

MAX_BODY_LENGTH = 10_000
MAX_ATTACHMENTS = 10
MAX_ATTACHMENT_SIZE = 10 * 1024 * 1024


class Conversation(models.Model):
    """A thread between two organizations, free-standing or about one document."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    subject = models.CharField(_("subject"), max_length=200)
    document = models.ForeignKey(
        Document,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="conversations",
        verbose_name=_("document"),
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("started"), default=timezone.now)
    # Kept by services.message_post, so the inbox needs no query per row.
    last_message_at = models.DateTimeField(_("last message"), default=timezone.now)
    last_message_snippet = models.CharField(max_length=200, blank=True)
    message_count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        ordering = ["-last_message_at"]

    def __str__(self) -> str:
        return self.subject

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN


class Participant(models.Model):
    """One organization's side of a conversation: its inbox row, ordered by the copied last_message_at."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="participants")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="conversation_rows")
    last_message_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("participant")
        verbose_name_plural = _("participants")
        constraints = [
            models.UniqueConstraint(fields=["conversation", "organization"], name="participant_unique"),
        ]
        indexes = [
            models.Index(fields=["organization", "-last_message_at", "-id"], name="participant_inbox"),
        ]

    def __str__(self) -> str:
        return f"{self.organization} in {self.conversation_id}"


class Message(models.Model):
    class Source(models.TextChoices):
        WEB = "web", _("Web")
        EMAIL = "email", _("Email")

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="messages"
    )
    author_organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    body = models.TextField(_("message"), max_length=MAX_BODY_LENGTH)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices, default=Source.WEB)
    # What was cut from a reply by email (quoted history, signature): kept so a person can expand it.
    quoted = models.TextField(_("quoted text"), blank=True, default="")
    created_at = models.DateTimeField(_("sent"), default=timezone.now)
    # The form's one-time key: a double-submitted form finds its message instead of writing a second one.
    client_token = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    # PostgreSQL full-text search; filled by services.message_post, indexed by a GIN index (migration 0002).
    search_vector = SearchVectorField(null=True, editable=False)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "id"], name="message_conversation")]

    def __str__(self) -> str:
        return self.body[:60]


def attachment_path(instance: "Attachment", filename: str) -> str:
    # The stored name is ours: the person's file name is kept only as display text.
    return f"attachments/{timezone.now():%Y/%m}/{uuid.uuid4().hex}"


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=200)
    name = models.CharField(_("file name"), max_length=255)
    size = models.PositiveBigIntegerField(_("size"))
    content_type = models.CharField(max_length=100, default="application/octet-stream")

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class ReadState(models.Model):
    """How many messages of a conversation a user has not read yet; kept right by the services."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="read_states")
    unread_count = models.PositiveIntegerField(default=0)
    last_read_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "conversation"], name="read_state_unique"),
        ]
        indexes = [models.Index(fields=["user", "-updated_at"], name="read_state_recent")]

    def __str__(self) -> str:
        return f"{self.user_id}/{self.conversation_id}: {self.unread_count}"
