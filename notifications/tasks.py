import datetime

from celery import shared_task

from . import services


@shared_task
def send_outgoing_email(email_id: int) -> str:
    """Send one outbox row. Safe to run twice: the row is claimed under a lock and sent at most once."""
    return services.outgoing_email_send(email_id=email_id)


@shared_task
def sweep_outbox() -> int:
    """Every minute (beat): queue again what a lost task left behind, and retries whose time has come."""
    ids = services.outbox_sweep()
    for email_id in ids:
        send_outgoing_email.delay(email_id)
    return len(ids)


@shared_task
def send_digests(hour: str | None = None) -> int:
    """At minute 0 of every hour (beat): the digests of the hour just ended. Safe twice: one per hour.
    An operator may name the end of a missed hour in ISO 8601 ("2026-03-10T14:00:00+00:00")."""
    return services.digests_send(hour=datetime.datetime.fromisoformat(hour) if hour else None)
