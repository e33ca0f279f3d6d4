"""Workers SIGKILLed again and again while they write and send emails: every committed email is delivered, and
one arrives twice only where a kill fell after the SMTP server had accepted it."""

import collections
import os
import random
import signal
import time

from messaging.models import Message
from notifications.models import OutgoingEmail, PendingMessageEmails
from notifications.tasks import sweep_outbox
from tests.workers import (
    SUPPLIER_USERS,
    all_sent,
    kill,
    minutes_pass,
    needs_real_services,
    pool_children,
    post,
    queued,
    wait_for,
)

pytestmark = needs_real_services

KILLS = 24
# One kill in eight takes the whole worker (a deploy, a machine lost; a new one takes seconds to start); the
# others its pool process (the OOM killer), after which the worker carries on with a new one.
WHOLE_WORKER_EVERY = 8
HOLD = 0.3  # seconds the server holds its answer to DATA or QUIT when a kill is to fall there


def settled(seconds: float = 0.5) -> bool:
    """Nothing left in the queue and nothing changing: what is not sent now waits for the sweeper."""

    def state():
        return sorted(OutgoingEmail.objects.values_list("pk", "status")), PendingMessageEmails.objects.count()

    before = state()
    time.sleep(seconds)
    return queued() == 0 and state() == before


def start(workers, name: str):
    """A worker, once ready: one whose pool process dies while it starts gives up (its supervisor restarts it
    in production; that is not what this test is about)."""
    worker, log = workers(name)
    wait_for(lambda: " ready." in log.read_text(), timeout=30, what=f"{name} ready", log=log)
    return worker, log


def test_every_committed_email_is_delivered_and_only_a_kill_after_the_server_accepted_duplicates_one(
    workers, smtp_server, talking, buyer_admin, report
):
    seed = int(os.environ.get("FAULTS_SEED") or time.time())
    rng = random.Random(seed)
    report("seed (FAULTS_SEED to replay)", seed)
    recorder = smtp_server.recorder
    worker, log = start(workers, "worker-0")
    conversation = talking()
    stranded: set[int] = set()  # rows a kill left "sending": only the sweeper sends them again
    accepted_when_killed: set[str] = set()
    kills: collections.Counter[str] = collections.Counter()
    started = time.monotonic()

    for number in range(KILLS):
        for _ in range(rng.choice([1, 2])):
            post(conversation, buyer_admin, f"Message {Message.objects.count() + 1}")
        aim = rng.choice(["before", "during", "after"])
        if aim == "during":  # the whole message is in, the server has not answered
            recorder.data_delay = HOLD
            wait_for(lambda: recorder.held["data"], timeout=30, what="a DATA answer held", log=log)
        elif aim == "after":  # the server accepted it (250), the worker has not marked it sent
            recorder.quit_delay = HOLD
            wait_for(lambda: recorder.held["quit"], timeout=30, what="a QUIT answer held", log=log)
        time.sleep(rng.uniform(0, HOLD * 0.6))

        whole = number % WHOLE_WORKER_EVERY == WHOLE_WORKER_EVERY - 1
        if whole:
            kill(worker)
        else:
            children = wait_for(
                lambda pid=worker.pid: pool_children(pid), timeout=10, what="a pool process", log=log
            )
            os.killpg(worker.pid, signal.SIGSTOP)  # so the worker starts nothing new before we look
            os.kill(children[0], signal.SIGKILL)
        recorder.data_delay = recorder.quit_delay = 0.0
        time.sleep(0.1)  # the server sees its client gone; a claim cut short is rolled back

        # Where the kill fell: on a row being sent (claimed, not marked sent), accepted by the server or not.
        sending = OutgoingEmail.objects.filter(status=OutgoingEmail.Status.SENDING)
        in_flight = [row for row in sending if row.pk not in stranded]
        assert len(in_flight) <= 1, "one worker with one pool process sends one email at a time"
        if not in_flight:
            kills["before (no email handed over)"] += 1
        elif in_flight[0].message_id in {message_id for _at, message_id in recorder.accepted}:
            kills["after the server accepted"] += 1
            accepted_when_killed.add(in_flight[0].message_id)
        else:
            kills["during (handed over, not accepted)"] += 1
        stranded |= {row.pk for row in in_flight}
        if whole:
            worker, log = start(workers, f"worker-{number + 1}")
        else:
            os.killpg(worker.pid, signal.SIGCONT)
    victims = {"whole worker": KILLS // WHOLE_WORKER_EVERY}
    victims["pool process"] = KILLS - victims["whole worker"]

    # The last worker lives on; once it has done what it can, the sweeper runs (every minute in production).
    wait_for(settled, timeout=60, what="the queue drained", log=log)
    left_behind = collections.Counter(
        OutgoingEmail.objects.exclude(status="sent").values_list("status", flat=True)
    )
    pending_left = PendingMessageEmails.objects.count()
    minutes_pass(2)
    sweep_outbox.delay()
    committed = Message.objects.count()
    expected = committed * SUPPLIER_USERS
    wait_for(
        lambda: (
            OutgoingEmail.objects.count() == expected
            and all_sent()
            and not PendingMessageEmails.objects.exists()
        ),
        timeout=60,
        what=f"{expected} emails sent after the sweep",
        log=log,
    )

    rows = list(OutgoingEmail.objects.all())
    received = collections.Counter(recorder.message_ids())
    lost = {row.message_id for row in rows} - set(received)
    duplicates = sum(count - 1 for count in received.values())
    twice = {message_id for message_id, count in received.items() if count > 1}
    after_accept = kills["after the server accepted"]
    report("kills", f"{KILLS} SIGKILLs: {dict(kills)}, victims {victims}")
    report(
        "left for the sweeper", f"{dict(left_behind)} emails, {pending_left} messages with unwritten emails"
    )
    report(
        "emails",
        f"{committed} messages committed, {expected} emails committed, {len(set(received))} delivered, "
        f"{len(lost)} lost, {duplicates} duplicated (kills after the server accepted: {after_accept})",
    )
    report("time", f"{time.monotonic() - started:.1f} s")

    assert len(rows) == expected
    assert lost == set()
    assert duplicates <= after_accept
    assert twice <= accepted_when_killed  # only what the server took before a kill came twice
    assert duplicates == after_accept  # and each such email came exactly once more, from the sweeper
    # Each row a kill stranded was claimed once more, by the sweeper; every other row once.
    assert sum(row.attempts - 1 for row in rows) == len(stranded)
    assert sum(kills.values()) == KILLS
