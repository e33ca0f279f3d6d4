from celery import shared_task

from . import services


@shared_task
def expire_connection_requests() -> int:
    """Hourly (beat): requests pending for 30 days become Expired. Running it twice changes nothing more."""
    return services.connection_requests_expire()
