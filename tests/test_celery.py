"""Email leaves through a real Celery worker on Redis when REDIS_URL is set (as in CI and production)."""

import os
import time

import pytest
from django.core import mail
from django.urls import reverse

from config import celery_app

pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (a real broker)"),
]


@pytest.fixture
def worker(transactional_db):
    from celery.contrib.testing.worker import start_worker

    celery_app.conf.task_always_eager = False
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker:
        yield worker


def test_password_reset_email_is_sent_by_the_worker_after_commit(client, worker, user_factory):
    from tests.factories import MembershipFactory

    user = user_factory()
    MembershipFactory(user=user)
    response = client.post(reverse("password_reset"), {"email": user.email})
    assert response.status_code == 302
    deadline = time.monotonic() + 20
    while not mail.outbox and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [message.to for message in mail.outbox] == [[user.email]]
