from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from . import services


@shared_task
def delete_orphaned_attachments() -> int:
    """Daily (beat): delete attachment files a rolled-back post left in storage, once a day old. Running it
    twice deletes nothing more."""
    return services.attachment_orphans_delete(older_than=timezone.now() - timedelta(days=1))
