"""notifications reacts to the messaging core here, inside the transaction that saves the message."""

from django.dispatch import receiver

from messaging.signals import message_saved

from . import services


@receiver(message_saved)
def queue_message_emails(sender, message, **kwargs) -> None:
    services.message_notifications_queue(message=message)
