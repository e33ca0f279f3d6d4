"""The load of one scenario, for `locust --headless` as bench/run.py starts it (never by hand).

bench/run.py writes the scenario to a JSON file named by BENCH_LOCUST_CONFIG: the paths to request (one is
picked at random per request), the method, the status a success answers with, the signed-in sessions (one
per simulated user, in turn), and a per-user rate of random arrivals for the half-peak phase (0: each user
sends its next request as soon as the last is answered). Every request is recorded with its start time, its
latency, whether it succeeded and the query count the bench middleware put in its header; the records go to
a JSON file when the test stops, and the runner keeps those after the warm-up.
"""

import itertools
import json
import os
import random
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

from locust import FastHttpUser, events, task

CONFIG = json.loads(Path(os.environ["BENCH_LOCUST_CONFIG"]).read_text())
# start (epoch s), latency (ms), ok, queries, worker pid (the last two from the bench middleware's headers)
RECORDS: list[tuple[float, float, bool, int | None, int | None]] = []
USER_NUMBERS = itertools.count()


@events.request.add_listener
def record(response_time, response, exception, start_time, **kwargs) -> None:
    headers = getattr(response, "headers", None) or {}

    def number(name: str) -> int | None:
        value = headers.get(name) or headers.get(name.lower())
        return int(value) if value else None

    RECORDS.append(
        (start_time, response_time, exception is None, number("X-Bench-Queries"), number("X-Bench-Worker"))
    )


@events.test_stop.add_listener
def save(environment, **kwargs) -> None:
    runner = environment.runner
    result = {
        "records": RECORDS,
        # Locust warns when its own core is saturated: then the figures measure the load generator.
        "load_generator_saturated": bool(getattr(runner, "cpu_warning_emitted", False)),
    }
    Path(CONFIG["output"]).write_text(json.dumps(result))


class ScenarioUser(FastHttpUser):
    def wait_time(self) -> float:
        """Closed loop (no wait) for the peak; for the half-peak phase, random (Poisson) arrivals at the
        user's share of the rate, as independent people would come, never bunched in lockstep."""
        rate = CONFIG["rate"]
        if not rate:
            return 0.0
        now = time.monotonic()
        # Behind schedule after a slow answer: catch up, but never with more than a second's backlog.
        self.next_start = max(self.next_start, now - 1.0) + random.expovariate(rate)
        return max(0.0, self.next_start - now)

    def on_start(self) -> None:
        self.next_start = time.monotonic()
        sessions = CONFIG["sessions"]
        self.session = sessions[next(USER_NUMBERS) % len(sessions)] if sessions else None
        # As the TLS-terminating proxy of docker-compose.yml would say; the cookies are Secure.
        self.headers = {"X-Forwarded-Proto": "https"}
        if self.session:
            self.headers["Cookie"] = self.session["cookie"]
        if CONFIG.get("cold"):
            self.headers["X-Bench-Cold"] = "1"

    @task
    def request(self) -> None:
        path = random.choice(CONFIG["paths"])  # noqa: S311 - picking a URL, not a secret
        headers = dict(self.headers)
        data = None
        if CONFIG["form"] == "message":
            origin = f"https://{CONFIG['host_header']}"
            headers.update(
                {
                    "X-CSRFToken": self.session["csrf"],
                    "Origin": origin,
                    "Referer": f"{origin}{path}",
                    "Content-Type": "application/x-www-form-urlencoded",
                }
            )
            token = uuid.uuid4()
            body = f"Bench message {token.hex[:8]}: the delivery is confirmed for Monday."
            data = urlencode({"body": body, "client_token": str(token)})
        with self.client.request(
            CONFIG["method"],
            path,
            data=data,
            headers=headers,
            name=CONFIG["name"],
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != CONFIG["expect"]:
                response.failure(f"status {response.status_code}, expected {CONFIG['expect']}")
            else:
                response.success()
