"""notifications reacts to the lower apps here, inside the transaction that saves the change."""

from django.dispatch import receiver

from connections.signals import connection_request_sent
from messaging.signals import message_saved

from . import services


@receiver(message_saved)
def queue_message_emails(sender, message, **kwargs) -> None:
    services.message_notifications_queue(message=message)


@receiver(connection_request_sent)
def queue_connection_request_emails(sender, request, **kwargs) -> None:
    services.connection_request_emails_queue(request=request)
