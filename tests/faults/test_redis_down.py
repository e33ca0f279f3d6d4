"""Redis, the broker and the cache, goes away while people send messages: posting still succeeds at once
(no request waits on Redis), and every email is delivered once Redis is back. Redis restarting empty loses
the queued tasks: the sweeper finds every email they were for."""

import collections
import threading
import time
import uuid

from django.db import connection

from notifications.models import OutgoingEmail, PendingMessageEmails
from notifications.tasks import sweep_outbox
from tests.workers import (
    SUPPLIER_USERS,
    all_sent,
    broker_at,
    kill,
    minutes_pass,
    needs_real_services,
    post,
    wait_for,
)

pytestmark = needs_real_services

REQUEST_BOUND = 5.0  # seconds: generous; a request that waits on a dead broker would take minutes, or forever


def delivered(expected: int) -> bool:
    return (
        OutgoingEmail.objects.count() == expected and all_sent() and not PendingMessageEmails.objects.exists()
    )


def test_posting_succeeds_at_once_while_redis_is_down_or_hung_and_everything_is_delivered_after(
    own_redis, workers, smtp_server, talking, buyer, buyer_admin, client, settings, report
):
    # As in production, one Redis is both the broker and the cache (rate limits, cached pages).
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": own_redis.url}}
    _worker, log = workers("worker", REDIS_URL=own_redis.url)
    client.force_login(buyer_admin)
    times: dict[str, list[float]] = collections.defaultdict(list)
    with broker_at(own_redis.url):
        conversation = talking()
        url = f"/o/{buyer.slug}/messages/{conversation.pk}/"

        def send(state: str) -> None:
            """Post as a person would, in a thread of its own: a request hanging on the broker fails the test
            rather than hanging it."""
            answers = []
            data = {"body": f"Sent while Redis is {state}", "client_token": uuid.uuid4()}

            def request() -> None:
                try:
                    answers.append(client.post(url, data))
                finally:
                    connection.close()  # the thread's own

            thread = threading.Thread(target=request, daemon=True)
            started = time.monotonic()
            thread.start()
            thread.join(timeout=2 * REQUEST_BOUND)
            times[state].append(time.monotonic() - started)
            assert answers, f"posting hung on the broker (Redis {state}) for {2 * REQUEST_BOUND} s"
            assert answers[0].status_code == 302, answers[0].content.decode()[:2000]
            started = time.monotonic()
            assert client.get(url).status_code == 200  # the conversation, with the message
            times[f"{state}, reading"].append(time.monotonic() - started)

        for _ in range(2):
            send("up")
        wait_for(
            lambda: delivered(3 * SUPPLIER_USERS), timeout=30, what="emails sent while Redis is up", log=log
        )

        own_redis.kill()  # gone: connections refused
        for _ in range(3):
            send("down")
        own_redis.start()  # back, empty
        own_redis.hang()  # then hung: it takes connections and commands, and never answers
        for _ in range(3):
            send("hung")
        own_redis.resume()

        # Whatever could not be queued waits as a pending row; the sweeper (every minute) queues it again.
        pending = PendingMessageEmails.objects.count()
        minutes_pass(2)
        sweep_outbox.delay()
        committed = conversation.messages.count()
        wait_for(
            lambda: delivered(committed * SUPPLIER_USERS), timeout=60, what="every email sent after", log=log
        )
    received = collections.Counter(smtp_server.recorder.message_ids())
    rows = OutgoingEmail.objects.all()
    assert set(received) == {row.message_id for row in rows} and set(received.values()) == {1}
    report("request times (s)", {state: [round(t, 2) for t in ts] for state, ts in times.items()})
    report(
        "emails",
        f"{committed} messages, {rows.count()} emails committed, {len(received)} delivered once each, "
        f"0 lost; {pending} messages were left pending for the sweeper",
    )
    assert all(seconds < REQUEST_BOUND for ts in times.values() for seconds in ts)


def test_redis_restarting_empty_loses_the_queued_tasks_and_the_sweeper_sends_every_email(
    own_redis, workers, smtp_server, talking, buyer_admin, report
):
    recorder = smtp_server.recorder
    recorder.data_delay = 30.0  # the server is slow: emails pile up in the queue behind the one it holds
    first, log = workers("first", REDIS_URL=own_redis.url)
    with broker_at(own_redis.url):
        conversation = talking()
        for body in ["Two pallets", "Or three?"]:
            post(conversation, buyer_admin, body)
        written = 3 * SUPPLIER_USERS
        wait_for(lambda: OutgoingEmail.objects.count() == written, timeout=30, what="emails written", log=log)
        wait_for(lambda: recorder.held["data"], timeout=30, what="one email held by the server", log=log)
        wait_for(lambda: own_redis.queued() == written - 1, timeout=10, what="the others queued", log=log)
        kill(first)
        for body in ["Monday?", "Tuesday?"]:  # their tasks wait in Redis for a worker
            post(conversation, buyer_admin, body)
        queued_before = own_redis.queued()

        own_redis.restart_empty()
        assert own_redis.queued() == 0
        recorder.data_delay = 0.0
        _fresh, log = workers("fresh", REDIS_URL=own_redis.url)
        minutes_pass(2)
        sweep_outbox.delay()
        committed = conversation.messages.count()
        wait_for(lambda: delivered(committed * SUPPLIER_USERS), timeout=60, what="every email sent", log=log)

    received = collections.Counter(recorder.message_ids())
    rows = OutgoingEmail.objects.all()
    assert set(received) == {row.message_id for row in rows}
    assert set(received.values()) == {1}  # the one the server held was never accepted: sent once, later
    report(
        "restart empty",
        f"{queued_before} tasks lost with Redis; {committed} messages, {rows.count()} emails, "
        f"{len(received)} delivered once each by the sweeper and a fresh worker, 0 lost",
    )
