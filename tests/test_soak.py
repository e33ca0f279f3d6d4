"""The soak's verdict (bench/soak_report.py): what fails it and what does not. The soak itself runs with
`make soak` (bench/README.md); here only its criteria, on made-up samples, so a broken criterion cannot let
a leaking worker or an undrained queue pass."""

import pytest

from bench import soak_report

EXPECT = {"inbox": [200], "live": [200, 204], "send": [302]}


def results(
    *,
    web_growth: float = 0.0,
    celery_step: tuple[int, float] = (0, 0.0),
    statuses=(200, 204, 302),
    queue: int = 0,
    missing: int = 0,
) -> dict:
    """Ten minutes sampled every 15 s; the web worker's memory rises by web_growth MB over the soak; the
    Celery process's jumps by celery_step[1] MB at sample celery_step[0] and stays (a high-water mark)."""
    samples = []
    for step in range(41):
        t = 60 + step * 15.0
        celery = 93.0 + (celery_step[1] if celery_step[1] and step >= celery_step[0] else 0.0)
        samples.append(
            {
                "t": t,
                "phase": "soak",
                "rss_mb": {
                    "web:1": 85 + web_growth * step / 40 + (0.3 if step % 2 else 0),
                    "celery:2": celery,
                },
                "queue": 0,
                "unacked": 0,
                "outbox_backlog": 0,
                "pending_message_emails": 0,
                "answers": step * 100,
                "server_errors": 0,
            }
        )
    kinds = {200: "inbox", 204: "live", 302: "send", 500: "inbox", 404: "inbox"}
    return {
        "minutes": 10,
        "rate": 10.0,
        "soak_began_t": 60.0,
        "samples": samples,
        "peak": {"rps": 20.0, "unexpected": {}},
        "records": {"records": [(1.0 + i, kinds[s], s, 12.0) for i, s in enumerate(statuses)]},
        "setup": {"memory_limit_mb": 5.0},
        "drain": {
            "queue": queue,
            "unacked": 0,
            "outbox_backlog": 0,
            "outbox_failed": 0,
            "pending_message_emails": 0,
        },
        "accounting": {"emails_missing": missing, "emails_duplicated": 0, "emails_sent": 10},
        "worker_errors": 0,
    }


def failed(figures: dict) -> list[str]:
    return [row["criterion"] for row in figures["criteria"] if not row["passed"]]


def test_a_quiet_run_passes_and_noise_is_not_growth():
    figures = soak_report.analyse(results(), EXPECT)

    assert figures["passed"], failed(figures)
    assert figures["memory"]["processes"]["web:1"]["flat"]
    assert figures["kinds"]["live"]["statuses"] == {"204": 1}


def test_a_worker_whose_memory_keeps_growing_fails_the_soak():
    figures = soak_report.analyse(results(web_growth=12.0), EXPECT)

    assert not figures["passed"]
    assert failed(figures) == ["processes whose memory grew after the warm-up"]
    web = figures["memory"]["processes"]["web:1"]
    assert not web["flat"]
    # Warm-up: a fifth of ten minutes; the fitted rise is over the other eight.
    assert web["growth_mb"] == pytest.approx(9.6, abs=0.2)
    assert web["mb_per_10_min"] == pytest.approx(12.0, abs=0.3)


def test_one_step_then_flat_is_a_high_water_mark_not_a_leak():
    figures = soak_report.analyse(results(celery_step=(14, 15.0)), EXPECT)  # the digest, at minute 3.5

    assert figures["passed"], failed(figures)
    celery = figures["memory"]["processes"]["celery:2"]
    assert celery["growth_mb"] > 5  # the whole window's line rises...
    assert celery["tail_mb_per_10_min"] == 0  # ...but the last half is flat
    assert celery["largest_step_mb"] == 15


def test_a_process_past_150_mb_fails_however_flat():
    figures = soak_report.analyse(results(celery_step=(1, 60.0)), EXPECT)

    assert failed(figures) == ["processes whose memory grew after the warm-up"]
    assert figures["memory"]["processes"]["celery:2"]["peak_mb"] == 153


@pytest.mark.parametrize(
    ("changes", "criterion"),
    [
        ({"statuses": (200, 500)}, "server errors (5xx): access log, load generator"),
        ({"statuses": (200, 404)}, "unexpected answers (soak + peak phase)"),
        ({"queue": 3}, "task queue at the end (waiting + unacknowledged)"),
        ({"missing": 1}, "emails sent but not received; received twice"),
    ],
)
def test_each_kind_of_trouble_fails_the_soak(changes, criterion):
    figures = soak_report.analyse(results(**changes), EXPECT)

    assert not figures["passed"]
    assert criterion in failed(figures)
