"""Every write of notifications, one module per concern; import from here."""

from .messages import (
    conversation_path,
    conversation_thread,
    language_of,
    message_notifications_queue,
)
from .outbox import (
    BACKOFF_MINUTES,
    absolute,
    email_queue,
    email_render,
    emails_queue,
    outbox_sweep,
    outgoing_email_send,
)
from .preferences import (
    messages_unsubscribe,
    preference_update,
    read_unsubscribe_token,
    unsubscribe_token,
)

__all__ = [
    "BACKOFF_MINUTES",
    "absolute",
    "conversation_path",
    "conversation_thread",
    "email_queue",
    "email_render",
    "emails_queue",
    "language_of",
    "message_notifications_queue",
    "messages_unsubscribe",
    "outbox_sweep",
    "outgoing_email_send",
    "preference_update",
    "read_unsubscribe_token",
    "unsubscribe_token",
]
