"""The outbox through a real Celery worker on Redis and a real SMTP server: every email arrives once; when a
worker is killed while sending, the sweeper sends what it left, and only what the server took comes twice."""

import collections
import datetime
import os
import signal
import time

import pytest
from django.utils import timezone

from notifications.models import OutgoingEmail, PendingMessageEmails
from notifications.tasks import send_outgoing_email, sweep_outbox
from tests.factories import MembershipFactory
from tests.workers import (
    SUPPLIER_USERS,
    WORKER_STALE_SECONDS,
    all_sent,
    kill,
    needs_real_services,
    pool_children,
    post,
    statuses,
    talking_fixture,  # noqa: F401 (the fixture "talking")
    unacknowledged,
    wait_for,
)

pytestmark = needs_real_services


class TestInProcessWorker:
    def test_every_email_reaches_the_server_once_even_when_its_task_runs_twice(
        self, in_process_worker, smtp_server, talking, buyer, buyer_admin, supplier
    ):
        colleague = MembershipFactory(organization=buyer).user
        conversation = talking()
        for body in ["Two pallets", "Or three?", "Monday 9:00"]:
            post(conversation, buyer_admin, body)
        post(conversation, supplier.memberships.first().user, "Three, Monday.")  # to both buyer users
        expected = 4 * SUPPLIER_USERS + 2
        # The worker writes each message's emails after its commit, then sends them.
        wait_for(lambda: OutgoingEmail.objects.count() == expected, timeout=30, what=f"{expected} emails")
        assert not PendingMessageEmails.objects.exists()

        wait_for(all_sent, timeout=30, what=f"{expected} emails sent")
        rows = list(OutgoingEmail.objects.all())
        assert {row.attempts for row in rows} == {1}
        assert all(row.sent_at is not None and row.last_error == "" for row in rows)
        received = collections.Counter(smtp_server.recorder.message_ids())
        assert received == collections.Counter(row.message_id for row in rows)  # each exactly once
        assert {message["To"] for message in smtp_server.recorder.received} >= {
            buyer_admin.email,
            colleague.email,
        }

        # A redelivered task, or a sweep overlapping the first send, finds the row sent and leaves it.
        for row in rows:
            send_outgoing_email.delay(row.pk)
        last = post(conversation, buyer_admin, "See you then")  # queued after them: the solo worker is FIFO
        wait_for(
            lambda: (
                OutgoingEmail.objects.filter(key__startswith=f"message:{last.pk}:").count() == SUPPLIER_USERS
                and all_sent()
            ),
            timeout=30,
            what="the last message's emails written and sent",
        )
        received = collections.Counter(smtp_server.recorder.message_ids())
        assert set(received.values()) == {1}
        assert len(received) == expected + SUPPLIER_USERS
        assert set(OutgoingEmail.objects.values_list("attempts", flat=True)) == {1}


class TestWorkerKilledWhileSending:
    @pytest.mark.parametrize(
        "point, victim",
        [
            pytest.param("data", "worker", id="worker-killed-before-the-server-accepted"),
            pytest.param("quit", "worker", id="worker-killed-after-the-server-accepted"),
            pytest.param("quit", "pool-child", id="pool-child-killed-after-the-server-accepted"),
        ],
    )
    def test_the_sweeper_sends_what_the_dead_worker_left_and_only_an_accepted_email_can_arrive_twice(
        self, workers, smtp_server, talking, buyer_admin, point, victim
    ):
        recorder = smtp_server.recorder
        # The worker is stuck waiting for the server: its answer to DATA (the message is not accepted yet), or
        # its answer to QUIT (the message was accepted with a 250, the row is not marked sent yet).
        setattr(recorder, f"{point}_delay", 3.0)
        first, log = workers("first")
        conversation = talking()
        post(conversation, buyer_admin, "Or three?")
        expected = 2 * SUPPLIER_USERS
        wait_for(
            lambda: OutgoingEmail.objects.count() == expected, timeout=30, what="the emails written", log=log
        )

        wait_for(
            lambda: recorder.holding, timeout=30, what=f"the worker waiting for the {point} answer", log=log
        )
        killed_at = time.monotonic()
        if victim == "worker":  # the whole worker, as a deploy's SIGKILL or the machine going away would
            kill(first)
        else:  # only the pool process running the task, as the OOM killer would; the worker lives on
            [child] = pool_children(first.pid)
            os.kill(child, signal.SIGKILL)
        recorder.data_delay = recorder.quit_delay = 0.0
        accepted_before_kill = {message_id for at, message_id in recorder.accepted if at < killed_at}
        stranded = OutgoingEmail.objects.get(status=OutgoingEmail.Status.SENDING)
        assert stranded.attempts == 1
        if point == "data":
            wait_for(lambda: recorder.dropped, timeout=5, what="the server to see the client go")
            assert accepted_before_kill == set()
        else:
            assert accepted_before_kill == {stranded.message_id}

        if victim == "worker":
            # One task at a time: the others still wait in the queue, for a fresh worker.
            assert set(statuses().values()) == {OutgoingEmail.Status.SENDING, OutgoingEmail.Status.QUEUED}
            _fresh, log = workers("fresh")
        wait_for(
            lambda: list(statuses().values()).count(OutgoingEmail.Status.SENT) == expected - 1,
            timeout=30,
            what="the queued emails sent",
            log=log,
        )
        if victim == "worker":
            # The dead worker's task stays unacknowledged in Redis until the visibility timeout (an hour).
            wait_for(
                lambda: unacknowledged() == 1, timeout=5, what="only the dead worker's task unacknowledged"
            )
        else:
            # reject_on_worker_lost put the task back at once; it ran again and found the row being sent.
            wait_for(lambda: "'skipped'" in log.read_text(), timeout=10, what="the redelivered task", log=log)
            wait_for(lambda: unacknowledged() == 0, timeout=5, what="every task acknowledged")
        # Either way nobody sends the stranded row but the sweeper, once the row is stale.
        assert statuses()[stranded.pk] == OutgoingEmail.Status.SENDING
        stale_at = stranded.updated_at + datetime.timedelta(seconds=WORKER_STALE_SECONDS + 0.2)
        time.sleep(max(0.0, (stale_at - timezone.now()).total_seconds()))
        sweep_outbox.delay()
        wait_for(all_sent, timeout=30, what="the stranded email sent after the sweep", log=log)

        stranded.refresh_from_db()
        assert stranded.attempts == 2
        rows = list(OutgoingEmail.objects.all())
        received = collections.Counter(recorder.message_ids())
        assert set(received) == {row.message_id for row in rows}  # every email arrived
        assert set(received.values()) <= {1, 2}
        twice = {message_id for message_id, count in received.items() if count > 1}
        # Only an email the server had accepted before the kill arrives a second time.
        assert twice <= accepted_before_kill
        assert twice == ({stranded.message_id} if point == "quit" else set())
        assert {row.attempts for row in rows if row.pk != stranded.pk} == {1}
