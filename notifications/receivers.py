"""notifications reacts to the lower apps here, inside the transaction that saves the change."""

from anymail.signals import inbound
from django.db.models.signals import post_delete
from django.dispatch import receiver

from connections.signals import connection_request_sent
from messaging.signals import message_saved
from tenants.models import Membership

from . import services


@receiver(message_saved)
def queue_message_emails(sender, message, **kwargs) -> None:
    services.message_emails_pending(message=message)


@receiver(connection_request_sent)
def queue_connection_request_emails(sender, request, **kwargs) -> None:
    services.connection_request_emails_queue(request=request)


@receiver(post_delete, sender=Membership)
def revoke_reply_addresses(sender, instance, **kwargs) -> None:
    """A user who leaves an organization can no longer reply by email in its conversations."""
    services.reply_tokens_revoke(user_id=instance.user_id, organization_id=instance.organization_id)


@receiver(inbound)
def receive_reply(sender, event, esp_name, **kwargs) -> None:
    """A reply by email from the provider's webhook. A database error answers 500, so the provider retries."""
    message = event.message
    recipients = [message.envelope_recipient] if message.envelope_recipient else []
    services.inbound_email_receive(raw=_raw_email(event), recipients=recipients)


def _raw_email(event) -> bytes:
    """The email as the provider received it, when it sends that (Postmark's RawEmail): written out again from
    the parsed message, one nested a few hundred parts deep passes Python's recursion limit."""
    raw = event.esp_event.get("RawEmail") if isinstance(event.esp_event, dict) else None
    if isinstance(raw, str) and raw:
        return raw.encode("utf-8", errors="replace")
    try:
        return event.message.as_bytes()
    except RecursionError:
        return b""  # refused as unreadable
