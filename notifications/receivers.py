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
    services.inbound_email_receive(raw=message.as_bytes(), recipients=recipients)
