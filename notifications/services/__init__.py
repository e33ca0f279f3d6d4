"""Every write of notifications, one module per concern; import from here."""

from .connections import connection_request_emails_queue
from .digest import digest_key, digest_window, digests_send
from .inbound import (
    InboundDeferred,
    InboundResult,
    inbound_email_receive,
    refusal_notice_queue,
    reply_address_accepts,
)
from .messages import (
    conversation_path,
    conversation_thread,
    language_of,
    message_emails_pending,
    message_emails_sweep,
    message_emails_write,
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
from .tokens import reply_address, reply_token_find, reply_tokens_issue, reply_tokens_revoke

__all__ = [
    "BACKOFF_MINUTES",
    "InboundDeferred",
    "InboundResult",
    "absolute",
    "connection_request_emails_queue",
    "conversation_path",
    "conversation_thread",
    "digest_key",
    "digest_window",
    "digests_send",
    "email_queue",
    "email_render",
    "emails_queue",
    "inbound_email_receive",
    "language_of",
    "message_emails_pending",
    "message_emails_sweep",
    "message_emails_write",
    "message_notifications_queue",
    "outbox_sweep",
    "outgoing_email_send",
    "preference_update",
    "read_unsubscribe_token",
    "refusal_notice_queue",
    "reply_address",
    "reply_address_accepts",
    "reply_token_find",
    "reply_tokens_issue",
    "reply_tokens_revoke",
    "unsubscribe",
    "unsubscribe_token",
]
