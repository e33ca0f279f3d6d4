"""Where one scenario's time goes: its requests in this process under cProfile, and its SQL with timings.

    BENCH_SIZE=large .venv/bin/python bench/hotspots.py inbox [--requests 50] [--sql] [--explain] [--cold]
    BENCH_SIZE=large .venv/bin/python bench/hotspots.py ingest --requests 200 [--sql]

Scenarios are run.py's (inbox, conversation, live, send, search_selective, search_common, partner_tag). The
requests go through the whole middleware stack with the production settings of the bench (bench.settings),
signed in as the scenario's first user, against the seeded database; the database is put back to the
seeded state afterwards. `--sql` lists each statement of the last request with its time, `--explain` adds
PostgreSQL's EXPLAIN ANALYZE of each, `--cold` makes every request miss the fragment cache (what the first
view after a change costs), `--save FILE` keeps the profile. `ingest` and `digest` profile run.py's
in-process scenarios.
"""

import argparse
import cProfile
import pstats
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, state


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--sql", action="store_true")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--save", help="write the profile here too (for pstats, snakeviz)")
    parser.add_argument("--cold", action="store_true", help="empty the cache before each request")
    args = parser.parse_args()

    common.django_setup()
    from django.conf import settings
    from django.core.cache import cache
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client, RequestFactory
    from django.test.utils import CaptureQueriesContext
    from django.utils.crypto import get_random_string

    from bench.run import scenarios_for
    from messaging import fragments
    from tenants.models import User

    call_command("collectstatic", interactive=False, verbosity=0)  # WhiteNoise's manifest, as run.py does
    marker = common.marker_read()
    if not marker:
        sys.exit("Seed first: bench/seed.py")
    if args.scenario in ("ingest", "digest"):
        in_process(args, marker)
        return
    scenario = next((s for s in scenarios_for(marker) if s.name == args.scenario), None)
    if scenario is None or scenario.bare:
        sys.exit(f"Unknown scenario {args.scenario!r}")
    email = marker[scenario.sessions or "busy"]["users"][0]
    # The test client only signs in; requests go straight to the WSGI handler, as gunicorn calls it (the
    # client's template instrumentation would cost more than the page).
    client = Client()
    client.force_login(User.objects.get(email=email))
    csrf = get_random_string(32)
    cookies = {
        **{name: morsel.value for name, morsel in client.cookies.items()},
        settings.CSRF_COOKIE_NAME: csrf,
    }
    factory = RequestFactory(
        HTTP_HOST="127.0.0.1",
        HTTP_X_FORWARDED_PROTO="https",
        HTTP_COOKIE="; ".join(f"{name}={value}" for name, value in cookies.items()),
        HTTP_X_CSRFTOKEN=csrf,
        HTTP_ORIGIN="https://127.0.0.1",
    )
    handler = WSGIHandler()

    def one(index: int) -> None:
        path = scenario.paths[index % len(scenario.paths)]
        if args.cold:
            cache.delete(fragments.GENERATION_KEY)  # every cached fragment is unreachable
        if scenario.method == "POST":
            token = uuid.uuid4()
            data = {
                "body": f"Profile message {token.hex[:8]}: delivery confirmed.",
                "client_token": str(token),
            }
            environ = factory.post(path, data).environ
        else:
            environ = factory.get(path).environ
        statuses = []
        body = b"".join(handler(environ, lambda status, headers, exc_info=None: statuses.append(status)))
        if not statuses[0].startswith(str(scenario.expect)):
            sys.exit(f"{path} answered {statuses[0]}, expected {scenario.expect}: {body[:300]!r}")

    try:
        one(0)  # warm: templates compiled, connection open
        began = time.perf_counter()
        for index in range(args.requests):
            one(index)
        plain = (time.perf_counter() - began) / args.requests
        print(f"{scenario.name}: {1000 * plain:.1f} ms per request without the profiler")
        profiler = cProfile.Profile()
        began = time.perf_counter()
        profiler.enable()
        for index in range(args.requests):
            one(index)
        profiler.disable()
        elapsed = time.perf_counter() - began
        print(f"{scenario.name}: {1000 * elapsed / args.requests:.1f} ms per request under cProfile")
        if args.save:
            profiler.dump_stats(args.save)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.top)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)
        if args.sql or args.explain:
            with CaptureQueriesContext(connection) as captured:
                one(0)
            for query in captured.captured_queries:
                print(f"{float(query['time']) * 1000:7.1f} ms  {query['sql'][:400]}")
                if args.explain and query["sql"].lstrip().upper().startswith("SELECT"):
                    with connection.cursor() as cursor:
                        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
                        print("\n".join("      " + row[0] for row in cursor.fetchall()))
    finally:
        state.restore(marker["max_ids"])


def in_process(args, marker: dict) -> None:
    """The replies by email (`--requests` of them) or the hourly digest, as run.py runs them, profiled."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bench import inprocess

    def run():
        if args.scenario == "ingest":
            return inprocess.ingest_run(marker, args.requests)
        return inprocess.digest_run(marker)

    try:
        profiler = cProfile.Profile()
        profiler.enable()
        result = run()
        profiler.disable()
        print(result)
        if args.save:
            profiler.dump_stats(args.save)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.top)
        if args.sql and args.scenario == "ingest":
            state.restore(marker["max_ids"])
            with CaptureQueriesContext(connection) as captured:
                inprocess.ingest_run(marker, 1)
            for query in captured.captured_queries:
                print(f"{float(query['time']) * 1000:7.1f} ms  {query['sql'][:300]}")
    finally:
        state.restore(marker["max_ids"])


if __name__ == "__main__":
    main()
