"""Figures from raw records, the issue's targets, and the outputs: JSON, a Markdown table, a PNG chart.

bench/results/<date>-<size>.json and .md are one run each (a later run the same day replaces them);
bench/results/latency-by-size.png is drawn from every JSON there, the latest run of each size.
"""

import json
import math
from pathlib import Path

from bench.common import RESULTS_DIR, SIZES

STOP_MARGIN = 0.5  # seconds cut from the end: requests in flight when locust stops are never recorded
PAGES = ["inbox", "conversation", "live", "send", "partner_tag"]  # p95 under 60 ms at half of peak


def percentile(sorted_values: list[float], share: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least `share` of the values at or below it."""
    if not sorted_values:
        return None
    return sorted_values[max(0, math.ceil(share * len(sorted_values)) - 1)]


def summarize(recorded: dict, *, warmup: float, duration: float) -> dict:
    """Throughput, latency percentiles, errors and queries per request of the requests that started after
    the warm-up and before the end of the run."""
    records = recorded["records"]  # start, latency, ok, queries, worker
    if not records:
        return {"requests": 0, "rps": 0, "errors": 0, "load_generator_saturated": False}
    first = min(record[0] for record in records)
    start, end = first + warmup, first + warmup + duration - STOP_MARGIN
    kept = [record for record in records if start <= record[0] < end]
    latencies = sorted(record[1] for record in kept)
    queries = [record[3] for record in kept if record[3] is not None]
    return {
        "requests": len(kept),
        "rps": round(len(kept) / (end - start), 1),
        "p50": _round(percentile(latencies, 0.50)),
        "p95": _round(percentile(latencies, 0.95)),
        "p99": _round(percentile(latencies, 0.99)),
        "errors": sum(1 for record in kept if not record[2]),
        "queries_per_request": round(sum(queries) / len(queries), 1) if queries else None,
        "queries_max": max(queries) if queries else None,
        "load_generator_saturated": recorded["load_generator_saturated"],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _latest_by_size() -> dict[str, dict]:
    """The newest result JSON of each size in bench/results (file names sort by date)."""
    latest: dict[str, dict] = {}
    for path in sorted(RESULTS_DIR.glob("*.json")):
        result = json.loads(path.read_text())
        if result.get("size") in SIZES and not result.get("partial"):
            latest[result["size"]] = result
    return latest


def targets(results: dict) -> list[dict]:
    """Every figure the issue sets a target for, with its limit and pass or miss (or n/a when this run
    cannot say)."""
    scenarios = results["scenarios"]

    def figure(name: str, phase: str, key: str) -> float | None:
        return scenarios.get(name, {}).get(phase, {}).get(key)

    rows: list[dict] = []

    def add(name: str, value: float | None, limit: float, *, at_least: bool = False, unit: str = "", note=""):
        if value is None:
            verdict = "n/a"
        else:
            verdict = "pass" if (value >= limit if at_least else value < limit) else "miss"
        rows.append(
            {
                "target": name,
                "value": value,
                "limit": f"{'≥' if at_least else '<'} {limit:g}{unit}",
                "result": verdict,
                "note": note,
            }
        )

    trivial = figure("trivial", "peak", "rps")
    cold = "never cached: the first view after a change"
    for name, share in (
        ("inbox", 0.40),
        ("inbox_cold", 0.40),
        ("conversation", 0.40),
        ("conversation_cold", 0.40),
        ("live", 0.80),
        ("send", 0.25),
    ):
        rps = figure(name, "peak", "rps")
        ratio = round(rps / trivial, 2) if rps is not None and trivial else None
        add(
            f"{name} throughput ÷ trivial page",
            ratio,
            share,
            at_least=True,
            note=cold if "cold" in name else "",
        )
    for name in PAGES:
        add(f"{name} p95 at half of peak", figure(name, "half", "p95"), 60, unit=" ms")
        if name + "_cold" in scenarios:
            add(
                f"{name}_cold p95 at half of peak",
                figure(name + "_cold", "half", "p95"),
                60,
                unit=" ms",
                note=cold,
            )
    at_scale = "" if results["size"] == "large" else "the target is for 1,000,000 messages"
    add(
        "search p95, selective term",
        figure("search_selective", "half", "p95"),
        100,
        unit=" ms",
        note=at_scale,
    )
    add("search p95, common term", figure("search_common", "half", "p95"), 300, unit=" ms", note=at_scale)
    if "search_common_cold" in scenarios:
        note = "; ".join(filter(None, [cold, at_scale]))
        add(
            "search p95, common term, never cached",
            figure("search_common_cold", "half", "p95"),
            300,
            unit=" ms",
            note=note,
        )
    isolation = results["memory"].get("isolation")
    if isolation is not None:
        add(
            "search never shows another organization's messages",
            1.0 if isolation["passed"] else 0.0,
            1,
            at_least=True,
        )
    latest = {**_latest_by_size(), results["size"]: results}
    for name in ("inbox", "conversation", "inbox_cold", "conversation_cold"):
        small, large = (
            latest.get(size, {}).get("scenarios", {}).get(name, {}).get("half", {})
            for size in ("small", "large")
        )
        ratio = round(large["p50"] / small["p50"], 2) if large.get("p50") and small.get("p50") else None
        add(
            f"{name} p50 at 1,000,000 ÷ at 10,000 messages",
            ratio,
            1.2,
            unit="x",
            note="" if ratio else "needs small and large runs",
        )
    digest = results["in_process"].get("digest")
    if digest:
        note = "" if digest["recipients"] >= 10_000 else f"{digest['recipients']:,} recipients at this size"
        add(f"digest for {digest['recipients']:,} users", digest["seconds"], 60, unit=" s", note=note)
        rows.append(
            {
                "target": "digest queries per batch (bounded)",
                "value": digest["queries_per_batch"],
                "limit": "the same for any batch",
                "result": "info",
                "note": f"{digest['queries']} in all: 1, then {digest['batches']} batches",
            }
        )
    ingest = results["in_process"].get("ingest")
    if ingest:
        add("inbound email per second", ingest["per_second"], 50, at_least=True)
    written = results["in_process"].get("message_emails")
    if written:
        rows.append(
            {
                "target": "message emails written by the worker per second",
                "value": written["emails_per_second"],
                "limit": "no target",
                "result": "info",
                "note": f"{written['messages']:,} messages, {written['emails']:,} emails, "
                f"{written['queries_per_message']} queries a message (the send's other half, after commit)",
            }
        )
    after = results["memory"].get("after_requests")
    if after:
        # Older results lack the per-worker counts: then no figure rather than a wrong one.
        fewest = after.get("fewest_requests", 0)
        served = f"each worker served {fewest:,} or more of {after['requests']:,} requests"
        add(
            "worker memory after 10,000 requests",
            after.get("max_rss_mb_after_10000"),
            150,
            unit=" MB",
            note=served,
        )
    upload = results["memory"].get("upload")
    if upload:
        add("peak memory rise of a 10 MB upload", upload["peak_rise_mb"], 20, unit=" MB")
    return rows


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def markdown(results: dict) -> str:
    setup = results["setup"]
    size = results["parameters"]
    lines = [
        f"## Parley bench, size {results['size']} ({results['date']})",
        "",
        f"{size['organizations']} organizations, {size['conversations']:,} conversations, "
        f"{size['messages']:,} messages (busy supplier: {size['busy_conversations']:,} conversations). "
        f"gunicorn {setup['workers']} workers on cpu {setup.get('server_cpus', 'any')}, locust "
        f"{setup['users']} users on cpu {setup.get('load_generator_cpu', 'any')}; {setup['warmup_s']:g} s "
        f"warm-up + {setup['duration_s']:g} s per phase; commit {setup.get('commit', '?')}. Latencies in ms; "
        '"½": random arrivals at half the peak throughput; "other": cores used by processes other than the '
        "bench's during the scenario (the busier of its two phases; the machine may be shared).",
        "",
        "| Scenario | req/s | p50 | p95 | p99 | errors | queries/req | req/s ½ | p50 ½ | p95 ½ | p99 ½ "
        "| other |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    saturated = []
    for name, scenario in results["scenarios"].items():
        peak, half = scenario.get("peak", {}), scenario.get("half", {})
        if peak.get("load_generator_saturated") or half.get("load_generator_saturated"):
            saturated.append(name)
        queries = peak.get("queries_per_request")
        cells = [
            scenario["title"],
            f"{peak.get('rps', 0):.0f}",
            *(_ms(peak.get(key)) for key in ("p50", "p95", "p99")),
            str(peak.get("errors", 0) + half.get("errors", 0)),
            "-" if queries is None else f"{queries:g}",
            f"{half.get('rps', 0):.0f}",
            *(_ms(half.get(key)) for key in ("p50", "p95", "p99")),
            f"{max(peak.get('other_cores', 0), half.get('other_cores', 0)):.2f}",
        ]
        lines.append(f"| {' | '.join(cells)} |")
    if saturated:
        lines += [
            "",
            f"Locust reported its core saturated in: {', '.join(saturated)} (those figures are a floor).",
        ]
    digest, ingest = results["in_process"].get("digest"), results["in_process"].get("ingest")
    lines += ["", "| In one process | time | figure | queries |", "| --- | ---: | ---: | ---: |"]
    if digest:
        per_batch = f"{digest['queries_per_batch']} per batch of {digest['batch_size']}"
        lines.append(
            f"| Hourly digest, {digest['recipients']:,} recipients | {digest['seconds']:.1f} s "
            f"| {digest['emails']:,} emails | {digest['queries']} ({per_batch}) |"
        )
    if ingest:
        lines.append(
            f"| {ingest['emails']:,} replies by email | {ingest['seconds']:.1f} s "
            f"| {ingest['per_second']:.1f} per s ({ingest['statuses']}) "
            f"| {ingest['queries_per_email']} per email |"
        )
    written = results["in_process"].get("message_emails")
    if written:
        lines.append(
            f"| Their emails written by the worker ({written['messages']:,} messages) "
            f"| {written['seconds']:.1f} s | {written['emails_per_second']:.1f} emails per s "
            f"({written['emails']:,}) | {written['queries_per_message']} per message |"
        )
    memory = results["memory"]
    if memory.get("after_requests"):
        after = memory["after_requests"]
        lines += [
            "",
            f"Web worker memory (RSS, largest worker): {memory['after_start']['max_rss_mb']} MB after start, "
            f"{after['max_rss_mb']} MB after {after['requests']:,} requests (each worker "
            f"{after.get('fewest_requests', 0):,} or more); a 10 MB upload raised a "
            f"worker's peak by {memory['upload']['peak_rise_mb']} MB "
            f"(answers {memory['upload']['statuses']}). Search isolation: {memory['isolation']}.",
        ]
    lines += ["", "| Target | Figure | Limit | Result | Note |", "| --- | ---: | --- | --- | --- |"]
    for row in results["targets"]:
        value = "-" if row["value"] is None else f"{row['value']:g}"
        lines.append(f"| {row['target']} | {value} | {row['limit']} | {row['result']} | {row['note']} |")
    return "\n".join(lines) + "\n"


def chart(path: Path) -> None:
    """p50 and p95 at half of peak throughput for each HTTP scenario, against the number of messages."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    latest = sorted(_latest_by_size().values(), key=lambda result: result["parameters"]["messages"])
    if not latest:
        return
    names = [name for name in latest[-1]["scenarios"] if name != "bare"]
    warm = [name for name in names if not name.endswith("_cold")]
    figure, axes = plt.subplots(1, 2, figsize=(12, 5.5), sharey=True)
    for axis, key in zip(axes, ("p50", "p95"), strict=True):
        for name in names:
            # A never-cached scenario: the colour of its cached twin, dashed.
            cold = name.endswith("_cold")
            base = name.removesuffix("_cold")
            index = warm.index(base) if base in warm else len(warm) + names.index(name)
            points = [
                (result["parameters"]["messages"], result["scenarios"][name]["half"][key])
                for result in latest
                if result["scenarios"].get(name, {}).get("half", {}).get(key) is not None
            ]
            if points:
                style = "o--" if cold else "o-"
                axis.plot(*zip(*points, strict=True), style, color=f"C{index % 10}", label=name)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("messages in the database")
        axis.set_title(f"{key} at half of peak throughput")
        axis.axhline(60, color="grey", linewidth=0.8, linestyle=":")
        axis.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("latency (ms); dotted: the 60 ms target")
    axes[1].legend(fontsize=8, loc="upper left", ncol=2)
    figure.suptitle("Parley: latency against history size (latest run of each size)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def publish(results: dict) -> None:
    """Writes the JSON and the Markdown table, redraws the chart, prints the table."""
    results["targets"] = targets(results)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    # A run of some scenarios only (BENCH_SCENARIOS) never replaces a full one, nor enters the chart.
    stem = f"{results['date']}-{results['size']}{'-partial' if results.get('partial') else ''}"
    (RESULTS_DIR / f"{stem}.json").write_text(json.dumps(results, indent=1) + "\n")
    table = markdown(results)
    (RESULTS_DIR / f"{stem}.md").write_text(table)
    chart(RESULTS_DIR / "latency-by-size.png")
    print()
    print(table)
    print(f"Written: bench/results/{stem}.json, {stem}.md, latency-by-size.png")
