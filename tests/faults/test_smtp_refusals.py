"""An SMTP server that answers 421, 451, 550 or nothing at all: temporary refusals are tried again on the
outbox's schedule, permanent ones end as failed where an operator looks (the admin), nothing arrives twice,
and a silent server costs a worker no more than EMAIL_TIMEOUT."""

import collections
import datetime
import importlib

from django.utils import timezone

from notifications import services
from notifications.models import OutgoingEmail
from notifications.tasks import sweep_outbox
from tests.factories import ConnectionFactory, MembershipFactory, UserFactory, start_conversation
from tests.notifications.smtp import SILENCE
from tests.workers import minutes_pass, needs_real_services, wait_for

pytestmark = needs_real_services

TIMEOUT = 1  # EMAIL_TIMEOUT in this test, in seconds
MAX_ATTEMPTS = 3
# Per recipient: the server's answers to its deliveries, in order (then it accepts).
SCRIPTS = {
    "busy@supplier.example": [("rcpt", "421 4.7.0 Too busy, come back later")],
    "greylisted@supplier.example": [("data", "451 4.7.1 Greylisted"), ("data", "451 4.7.1 Greylisted")],
    "silent@supplier.example": [("data", SILENCE)],
    "unknown@supplier.example": [("rcpt", "550 5.1.1 No such user")],
    "full@supplier.example": [("data", "452 4.2.2 Mailbox full")] * MAX_ATTEMPTS,
}
# Where each ends, after how many attempts.
OUTCOMES = {
    "busy@supplier.example": ("sent", 2),
    "greylisted@supplier.example": ("sent", 3),
    "silent@supplier.example": ("sent", 2),
    "unknown@supplier.example": ("failed", 1),
    "full@supplier.example": ("failed", MAX_ATTEMPTS),
}


def test_the_configured_timeout_bounds_a_send_and_ends_before_the_sweeper_takes_the_row_for_lost():
    production = importlib.import_module("config.settings")
    assert isinstance(production.EMAIL_TIMEOUT, int) and 0 < production.EMAIL_TIMEOUT <= 60
    # A worker still waiting on the server must never see its row sent again by the sweeper.
    assert production.EMAIL_TIMEOUT * 5 < production.OUTBOX_STALE_SECONDS


def rows() -> dict[str, OutgoingEmail]:
    return {row.to_email: row for row in OutgoingEmail.objects.filter(to_email__in=SCRIPTS)}


def settled(attempts: dict[str, int]) -> bool:
    """Each row has made its `attempts` and is no longer being sent."""
    current = rows()
    return len(current) == len(SCRIPTS) and all(
        current[to].attempts == attempts[to] and current[to].status != OutgoingEmail.Status.SENDING
        for to in SCRIPTS
    )


def wait_for_attempts(attempts: dict[str, int]) -> dict[str, OutgoingEmail]:
    wait_for(lambda: settled(attempts), timeout=20, what=f"attempts {attempts}")
    return rows()


def backoff(row: OutgoingEmail) -> datetime.timedelta:
    """The wait the row was given before its next attempt (both set by the same UPDATE)."""
    return row.next_attempt_at - row.updated_at


def assert_scheduled(row: OutgoingEmail) -> None:
    expected = datetime.timedelta(minutes=services.BACKOFF_MINUTES[row.attempts - 1])
    assert abs(backoff(row) - expected) < datetime.timedelta(seconds=1), (row.to_email, backoff(row))
    # The sweeper leaves it alone until then, and takes it from then on.
    assert row.pk not in services.outbox_sweep(now=row.next_attempt_at - datetime.timedelta(seconds=1))
    assert row.pk in services.outbox_sweep(now=row.next_attempt_at)


def test_temporary_refusals_follow_the_schedule_permanent_ones_fail_visibly_and_nothing_arrives_twice(
    in_process_worker, smtp_server, settings, buyer, supplier, buyer_admin, client, report
):
    settings.EMAIL_TIMEOUT = TIMEOUT
    settings.OUTBOX_MAX_ATTEMPTS = MAX_ATTEMPTS
    recorder = smtp_server.recorder
    recorder.script = {to: collections.deque(script) for to, script in SCRIPTS.items()}
    ConnectionFactory(supplier=supplier, customer=buyer)
    for to in SCRIPTS:
        MembershipFactory(organization=supplier, user=UserFactory(email=to))
    start_conversation(buyer_admin, supplier, subject="Pallets", body="Can you ship Monday?")

    # First attempts, at once: two permanent answers end it, the others wait a minute.
    first = wait_for_attempts(dict.fromkeys(SCRIPTS, 1))
    assert first["unknown@supplier.example"].status == "failed"
    assert "550" in first["unknown@supplier.example"].last_error
    assert recorder.silences and TIMEOUT <= recorder.silences[0] < TIMEOUT + 1.5
    assert "timed out" in first["silent@supplier.example"].last_error
    for to in ("busy@supplier.example", "greylisted@supplier.example", "silent@supplier.example"):
        assert first[to].status == "retrying"
        assert_scheduled(first[to])
    assert services.outbox_sweep(now=timezone.now()) == []  # nothing is due yet

    minutes_pass(1)
    sweep_outbox.delay()
    second = wait_for_attempts({to: min(2, OUTCOMES[to][1]) for to in SCRIPTS})
    assert second["busy@supplier.example"].status == second["silent@supplier.example"].status == "sent"
    assert second["greylisted@supplier.example"].status == "retrying"
    assert_scheduled(second["greylisted@supplier.example"])  # two minutes, this time
    assert_scheduled(second["full@supplier.example"])

    minutes_pass(1)  # half-way there: the sweeper sends nothing
    assert services.outbox_sweep(now=timezone.now()) == []
    minutes_pass(1)
    sweep_outbox.delay()
    final = wait_for_attempts({to: attempts for to, (_status, attempts) in OUTCOMES.items()})
    assert {to: (row.status, row.attempts) for to, row in final.items()} == OUTCOMES
    assert "452" in final["full@supplier.example"].last_error  # out of attempts: failed, and why

    # A day later the sweeper still leaves failed rows alone.
    minutes_pass(24 * 60)
    assert services.outbox_sweep(now=timezone.now()) == []
    received = collections.Counter(message["To"] for message in recorder.received)
    assert received == {
        "busy@supplier.example": 1,
        "greylisted@supplier.example": 1,
        "silent@supplier.example": 1,
    }

    # An operator sees the failed ones in the admin, filtered as failed, and why.
    operator = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(operator)
    response = client.get("/admin/notifications/outgoingemail/", {"status__exact": "failed"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "unknown@supplier.example" in page and "full@supplier.example" in page
    assert "busy@supplier.example" not in page and "greylisted@supplier.example" not in page
    detail = client.get(f"/admin/notifications/outgoingemail/{final['unknown@supplier.example'].pk}/change/")
    assert "550" in detail.content.decode() and "No such user" in detail.content.decode()

    answers = collections.Counter(answer.split()[0] for _at, _to, answer in recorder.attempts)
    report("SMTP answers", dict(answers))
    report(
        "silent server", f"the worker gave up after {recorder.silences[0]:.2f} s (EMAIL_TIMEOUT {TIMEOUT} s)"
    )
    report(
        "outcomes",
        {to.split("@")[0]: f"{row.status} after {row.attempts}" for to, row in final.items()}
        | {"delivered twice": sum(count > 1 for count in received.values())},
    )
