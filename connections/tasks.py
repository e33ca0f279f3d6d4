from celery import shared_task

from . import services


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_connection_request_email(request_id: int) -> int:
    return services.connection_request_email_send(request_id=request_id)


@shared_task
def expire_connection_requests() -> int:
    """Hourly (beat): requests pending for 30 days become Expired. Running it twice changes nothing more."""
    return services.connection_requests_expire()
