import datetime

from celery import shared_task

from . import services


@shared_task
def send_outgoing_email(email_id: int) -> str:
    """Send one outbox row. Safe to run twice: the row is claimed under a lock and sent at most once."""
    return services.outgoing_email_send(email_id=email_id)


@shared_task
def write_message_emails(message_id: int) -> int:
    """Write a new message's emails to the outbox (each then sent by its own task). Safe to run twice: the
    message's pending row is taken under a lock and deleted with the emails."""
    return len(services.message_emails_write(message_id=message_id))


@shared_task
def sweep_outbox() -> int:
    """Every minute (beat): queue again what a lost task left behind (messages whose emails are unwritten,
    emails unsent), and retries whose time has come."""
    message_ids = services.message_emails_sweep()
    for message_id in message_ids:
        write_message_emails.delay(message_id)
    ids = services.outbox_sweep()
    for email_id in ids:
        send_outgoing_email.delay(email_id)
    return len(message_ids) + len(ids)


@shared_task
def send_digests(hour: str | None = None) -> int:
    """A minute into every hour (beat): the digests of the hour just ended. Safe twice: one per hour.
    An operator may name the end of a missed hour in ISO 8601 ("2026-03-10T14:00:00+00:00")."""
    return services.digests_send(hour=datetime.datetime.fromisoformat(hour) if hour else None)
