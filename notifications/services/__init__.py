"""Every write of notifications, one module per concern; import from here."""

from .connections import connection_request_emails_queue
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
    preference_update,
    read_unsubscribe_token,
    unsubscribe,
    unsubscribe_token,
)

__all__ = [
    "BACKOFF_MINUTES",
    "absolute",
    "connection_request_emails_queue",
    "conversation_path",
    "conversation_thread",
    "email_queue",
    "email_render",
    "emails_queue",
    "language_of",
    "message_notifications_queue",
    "outbox_sweep",
    "outgoing_email_send",
    "preference_update",
    "read_unsubscribe_token",
    "unsubscribe",
    "unsubscribe_token",
]
