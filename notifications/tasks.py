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
