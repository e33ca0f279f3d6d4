from celery import shared_task

from . import services


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_password_reset_email(user_id: int, domain: str, use_https: bool) -> bool:
    return services.password_reset_email_send(user_id=user_id, domain=domain, use_https=use_https)
