"""The soak's figures, its pass/fail criteria and its outputs (bench/soak.py runs it; see bench/README.md).

Criteria, each must hold:
- no server error: no 5xx in gunicorn's access log, none seen by the load generator;
- no unexpected answer: every request answered with its kind's status (a 4xx would mean the mix is broken);
- flat memory: no process grows steadily. After a warm-up (a fifth of the soak, at most five minutes), the
  least-squares line through each process's resident memory (every web worker, the Celery worker and its
  pool, beat) rises by less than SOAK_MEMORY_LIMIT (5 MB) over the rest of the soak, or, if it rises more,
  its line over the last half of that stays under TAIL_SLOPE_LIMIT (2 MB per 10 minutes): a leak keeps
  rising, a batch's high-water mark (one step, then flat) does not; and no process ever passes
  PEAK_LIMIT_MB (150 MB, issue 7's worker target);
- the task queue drained: nothing waiting in the broker and nothing taken but unacknowledged, within
  SOAK_DRAIN seconds of the end of the load;
- the outbox drained: no email queued, sending or retrying, none failed, no message whose emails are
  unwritten;
- every email delivered once: each outbox row sent during the run reached the SMTP server, none twice;
- the worker logged no error.
"""

import itertools
import json
import math
from collections import Counter
from pathlib import Path

from bench.common import RESULTS_DIR
from bench.report import percentile

WARMUP_SHARE, WARMUP_MAX = 0.2, 300.0
TAIL_SLOPE_LIMIT = 2.0  # MB per 10 minutes over the last half of the measured window
PEAK_LIMIT_MB = 150.0


def accounting(since: dict, received: list[str]) -> dict:
    """Messages posted during the run, the outbox rows they and the rest caused, and what the SMTP server
    received, matched by Message-ID."""
    from django.db.models import Count

    from messaging.models import Attachment, Message
    from notifications.models import OutgoingEmail

    emails = OutgoingEmail.objects.filter(pk__gt=since["notifications_outgoingemail"])
    by_kind = {
        f"{row['kind']} {row['status']}": row["n"]
        for row in emails.values("kind", "status").annotate(n=Count("id")).order_by("kind", "status")
    }
    sent = {
        email.message_id for email in emails.filter(status=OutgoingEmail.Status.SENT).only("id", "created_at")
    }
    counts = Counter(received)
    return {
        "messages_posted": Message.objects.filter(pk__gt=since["messaging_message"]).count(),
        "messages_with_files": Attachment.objects.filter(pk__gt=since["messaging_attachment"])
        .values("message_id")
        .distinct()
        .count(),
        "emails_written": emails.count(),
        "emails_by_kind_and_status": by_kind,
        "emails_sent": len(sent),
        "emails_received": len(received),
        "emails_delivered": len(sent & set(counts)),
        "emails_missing": len(sent - set(counts)),
        "emails_duplicated": sum(count - 1 for count in counts.values() if count > 1),
        "emails_unknown": sum(count for message_id, count in counts.items() if message_id not in sent),
    }


def requests_by_kind(records: list, expect: dict) -> dict:
    kinds: dict[str, dict] = {}
    for kind in expect:
        mine = [record for record in records if record[1] == kind]
        latencies = sorted(record[3] for record in mine)
        statuses = Counter(record[2] for record in mine)
        kinds[kind] = {
            "requests": len(mine),
            "p50": _round(percentile(latencies, 0.5)),
            "p95": _round(percentile(latencies, 0.95)),
            "statuses": {str(status): count for status, count in sorted(statuses.items())},
            "unexpected": sum(count for status, count in statuses.items() if status not in expect[kind]),
        }
    return kinds


def memory(samples: list[dict], *, began: float, limit: float) -> dict:
    """Per process: first and last sample of the soak, and the fitted rise after the warm-up."""
    soak = [sample for sample in samples if sample["phase"] == "soak"]
    if not soak:
        return {"processes": {}, "warmup_s": 0}
    end = soak[-1]["t"]
    warmup = min(WARMUP_MAX, WARMUP_SHARE * (end - began))
    processes = {}
    for name in sorted({name for sample in soak for name in sample["rss_mb"]}):
        series = [(sample["t"], sample["rss_mb"][name]) for sample in soak if name in sample["rss_mb"]]
        measured = [(t, mb) for t, mb in series if t >= began + warmup]
        slope = _slope(measured)
        growth = None if slope is None else slope * (measured[-1][0] - measured[0][0])
        tail = _slope(measured[len(measured) // 2 :])
        tail_per_10_min = None if tail is None else tail * 600
        peak = max(mb for _t, mb in series)
        processes[name] = {
            "first_mb": series[0][1],
            "last_mb": series[-1][1],
            "samples": len(measured),
            "growth_mb": _round(growth),
            # One jump then flat (a batch's high-water mark) reads differently from a steady slope.
            "largest_step_mb": _round(
                max((b[1] - a[1] for a, b in itertools.pairwise(measured)), default=None)
            ),
            "mb_per_10_min": None if slope is None else round(slope * 600, 2),
            "tail_mb_per_10_min": None if tail_per_10_min is None else round(tail_per_10_min, 2),
            "peak_mb": peak,
            "flat": growth is not None
            and (growth < limit or (tail_per_10_min is not None and tail_per_10_min < TAIL_SLOPE_LIMIT))
            and peak < PEAK_LIMIT_MB,
        }
    return {"processes": processes, "warmup_s": round(warmup, 1), "limit_mb": limit}


def _slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope (MB per second); None with fewer than three points."""
    if len(points) < 3:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_m = sum(m for _, m in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (m - mean_m) for t, m in points) / spread if spread else 0.0


def _round(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 1)


def analyse(results: dict, expect: dict) -> dict:
    records = results["records"]["records"]
    starts = [record[0] for record in records]
    seconds = results["minutes"] * 60
    kinds = requests_by_kind(records, expect)
    statuses = Counter(record[2] for record in records)
    last = results["samples"][-1]
    mem = memory(results["samples"], began=results["soak_began_t"], limit=results["setup"]["memory_limit_mb"])
    drain, accounts = results["drain"], results["accounting"]
    peak_unexpected = sum(results["peak"].get("unexpected", {}).values())
    client_5xx = sum(count for status, count in statuses.items() if status >= 500)
    peak_5xx = sum(
        count
        for key, count in results["peak"].get("unexpected", {}).items()
        if key.split()[-1].startswith("5")
    )
    criteria = [
        (
            "server errors (5xx): access log, load generator",
            f"{last['server_errors']}, {client_5xx + peak_5xx}",
            "0",
            last["server_errors"] == 0 and client_5xx + peak_5xx == 0,
        ),
        (
            "unexpected answers (soak + peak phase)",
            sum(k["unexpected"] for k in kinds.values()) + peak_unexpected,
            "0",
            sum(k["unexpected"] for k in kinds.values()) + peak_unexpected == 0,
        ),
        (
            "processes whose memory grew after the warm-up",
            sum(not p["flat"] for p in mem["processes"].values()),
            f"0 (each < {mem.get('limit_mb', 5):g} MB, or its last half < {TAIL_SLOPE_LIMIT:g} MB per 10 min;"
            f" peak < {PEAK_LIMIT_MB:g} MB)",
            bool(mem["processes"]) and all(p["flat"] for p in mem["processes"].values()),
        ),
        (
            "task queue at the end (waiting + unacknowledged)",
            drain["queue"] + drain["unacked"],
            "0",
            drain["queue"] + drain["unacked"] == 0,
        ),
        (
            "outbox at the end (queued, sending, retrying; failed)",
            f"{drain['outbox_backlog']}; {drain['outbox_failed']}",
            "0; 0",
            drain["outbox_backlog"] == 0 and drain["outbox_failed"] == 0,
        ),
        (
            "messages whose emails are unwritten at the end",
            drain["pending_message_emails"],
            "0",
            drain["pending_message_emails"] == 0,
        ),
        (
            "emails sent but not received; received twice",
            f"{accounts['emails_missing']}; {accounts['emails_duplicated']}",
            "0; 0",
            accounts["emails_missing"] == 0
            and accounts["emails_duplicated"] == 0
            and accounts["emails_sent"] > 0,
        ),
        ("errors in the worker's log", results["worker_errors"], "0", results["worker_errors"] == 0),
    ]
    achieved = len(records) / seconds if seconds else 0
    return {
        "criteria": [
            {"criterion": name, "figure": figure, "limit": limit, "passed": bool(ok)}
            for name, figure, limit, ok in criteria
        ],
        "passed": all(ok for *_rest, ok in criteria),
        "requests": len(records),
        "achieved_rps": round(achieved, 1),
        "target_rps": results["rate"],
        "span_s": round(max(starts) - min(starts), 1) if starts else 0,
        "statuses": {str(status): count for status, count in sorted(statuses.items())},
        "kinds": kinds,
        "memory": mem,
        "max_queue": max((s["queue"] + s["unacked"] for s in results["samples"]), default=0),
        "max_outbox_backlog": max((s["outbox_backlog"] for s in results["samples"]), default=0),
        "max_pending": max((s["pending_message_emails"] for s in results["samples"]), default=0),
    }


def markdown(results: dict, figures: dict) -> str:
    setup, peak, accounts, drain = results["setup"], results["peak"], results["accounting"], results["drain"]
    verdict = "PASSED" if figures["passed"] else "FAILED"
    lines = [
        f"# Soak, size {results['bench_size']}, {results['minutes']:g} min ({results['date']}): {verdict}",
        "",
        f"Commit {setup['commit']}, started {results['started_at']}. {setup['web_workers']} gunicorn workers,"
        " a Celery worker (default pool and concurrency) and beat on Redis, emails to an SMTP server in the"
        f" runner; cores: {setup.get('cores')}, pinned {setup.get('pinned')}"
        f" (server {setup.get('server_cpus', '-')}, load generator {setup.get('load_generator_cpu', '-')}).",
        "",
        f"Peak of the mix (closed loop, {setup['peak_users']} users): {peak.get('rps') or '-'} req/s."
        f" Soak rate: {results['rate']} req/s ({results['rate_from']}), {results['soak_users']} users with"
        f" random arrivals. Achieved: {figures['achieved_rps']} req/s ({figures['requests']:,} requests);"
        f" the machine's cores busy {results['cpu']['machine_cores']}, of which other processes than the"
        f" soak's {results['cpu']['other_cores']}.",
        "",
        "| Criterion | Figure | Limit | Result |",
        "| --- | ---: | --- | --- |",
    ]
    for row in figures["criteria"]:
        result = "pass" if row["passed"] else "FAIL"
        lines.append(f"| {row['criterion']} | {row['figure']} | {row['limit']} | {result} |")
    lines += [
        "",
        "## Requests by kind",
        "",
        "| Kind | Weight | Requests | p50 (ms) | p95 (ms) | Answers | Unexpected |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for kind, row in figures["kinds"].items():
        answers = ", ".join(f"{status}: {count}" for status, count in row["statuses"].items())
        lines.append(
            f"| {kind} | {setup['weights'][kind]} | {row['requests']:,} | {_ms(row['p50'])}"
            f" | {_ms(row['p95'])} | {answers} | {row['unexpected']} |"
        )
    mem = figures["memory"]
    lines += [
        "",
        f"## Memory (resident, MB; sampled every {setup['sample_seconds']:g} s;"
        f" warm-up {mem['warmup_s']:g} s)",
        "",
        "| Process | First | Last | Peak | Fitted rise after warm-up | MB per 10 min"
        " | Last half, MB per 10 min | Largest step | Flat |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, row in mem["processes"].items():
        slope = "-" if row["mb_per_10_min"] is None else row["mb_per_10_min"]
        lines.append(
            f"| {name} | {row['first_mb']:.1f} | {row['last_mb']:.1f} | {_ms(row.get('peak_mb'))}"
            f" | {_ms(row['growth_mb'])} | {slope} | {_ms(row.get('tail_mb_per_10_min'))}"
            f" | {_ms(row.get('largest_step_mb'))} | {'yes' if row['flat'] else 'NO'} |"
        )
    lines += [
        "",
        "## Queue, outbox and emails",
        "",
        f"Largest during the run: {figures['max_queue']} tasks in the broker, {figures['max_outbox_backlog']}"
        f" emails waiting in the outbox, {figures['max_pending']} messages awaiting their emails. After the"
        f" load: {'drained' if drain['drained'] else 'NOT drained'} in {drain['seconds']} s"
        f" (limit {setup['drain_limit_s']:g} s).",
        "",
        f"Messages posted: {accounts['messages_posted']:,} ({accounts['messages_with_files']:,} with a file)."
        f" Emails written: {accounts['emails_written']:,}; sent: {accounts['emails_sent']:,}; received by the"
        f" SMTP server: {accounts['emails_received']:,} (delivered {accounts['emails_delivered']:,}, missing"
        f" {accounts['emails_missing']}, duplicated {accounts['emails_duplicated']}, unknown"
        f" {accounts['emails_unknown']}).",
        "",
        "| Outbox rows (kind, status) | Count |",
        "| --- | ---: |",
        *(f"| {key} | {count:,} |" for key, count in accounts["emails_by_kind_and_status"].items()),
        "",
    ]
    if results.get("sample_failures"):
        lines += [
            f"Samples missed: {len(results['sample_failures'])} (first: {results['sample_failures'][0]}).",
            "",
        ]
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def chart(results: dict, path: Path) -> None:
    """Memory of each process, the broker queue and the outbox, and throughput, against time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = results["samples"]
    minutes = [sample["t"] / 60 for sample in samples]
    figure, (top, middle, bottom) = plt.subplots(3, 1, figsize=(11, 10), sharex=True)
    names = sorted({name for sample in samples for name in sample["rss_mb"]})
    for index, name in enumerate(names):
        points = [(s["t"] / 60, s["rss_mb"][name]) for s in samples if name in s["rss_mb"]]
        style = "-" if name.startswith("web") else "--"
        top.plot(*zip(*points, strict=True), style, color=f"C{index % 10}", label=name, linewidth=1)
    top.set_ylabel("resident memory (MB)")
    top.legend(fontsize=7, ncol=4, loc="lower right")
    for key, label in (
        ("queue", "tasks waiting in the broker"),
        ("unacked", "tasks taken, unacknowledged"),
        ("outbox_backlog", "emails queued, sending or retrying"),
        ("pending_message_emails", "messages awaiting their emails"),
    ):
        middle.plot(minutes, [s[key] for s in samples], label=label, linewidth=1)
    middle.set_ylabel("backlog")
    middle.legend(fontsize=7)
    rates = [
        (b["t"] / 60, (b["answers"] - a["answers"]) / (b["t"] - a["t"]))
        for a, b in itertools.pairwise(samples)
        if b["t"] > a["t"]
    ]
    if rates:
        bottom.plot(*zip(*rates, strict=True), label="answers/s (access log)", linewidth=1)
    bottom.plot(minutes, [s["server_errors"] for s in samples], label="5xx so far", color="C3")
    bottom.set_ylabel("requests")
    bottom.set_xlabel("minutes")
    bottom.legend(fontsize=7)
    for axis in (top, middle, bottom):
        axis.grid(True, alpha=0.3)
        for phase in ("soak", "drain"):
            if phase in results["phases"]:
                axis.axvline(results["phases"][phase] / 60, color="grey", linestyle=":", linewidth=0.8)
    figure.suptitle(
        f"Parley soak, size {results['bench_size']}, {results['minutes']:g} min at {results['rate']} req/s"
        " (dotted: soak starts, load stops)"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def publish(results: dict) -> bool:
    """Writes the JSON (without the raw records), the Markdown report and the chart; prints the report;
    returns whether every criterion passed."""
    figures = analyse(results, results["setup"]["expect"])
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = f"{results['date']}-soak-{results['bench_size']}-{results['minutes']:g}m"
    saved = {key: value for key, value in results.items() if key != "records"}
    saved["load_generator_saturated"] = results["records"]["load_generator_saturated"]
    saved["figures"] = figures
    (RESULTS_DIR / f"{stem}.json").write_text(json.dumps(saved, indent=1) + "\n")
    text = markdown(results, figures)
    (RESULTS_DIR / f"{stem}.md").write_text(text)
    chart(results, RESULTS_DIR / f"{stem}.png")
    print()
    print(text)
    print(f"Written: bench/results/{stem}.json, {stem}.md, {stem}.png")
    return figures["passed"]
