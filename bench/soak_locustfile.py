"""The soak's realistic mix, for `locust --headless` as bench/soak.py starts it (never by hand).

bench/soak.py writes the plan to a JSON file named by BENCH_LOCUST_CONFIG: the weight of each kind of
request, the paths each kind picks from, the signed-in sessions (each simulated user takes one of the busy
supplier's and one of the partner's, in turn) and a per-user rate of random arrivals (0: closed loop, for
the peak). Every request is recorded with its start, kind, status and latency; the records go to a JSON
file when the test stops.
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
# start (epoch s), kind, status (0: no answer), latency (ms)
RECORDS: list[tuple[float, str, int, float]] = []
USER_NUMBERS = itertools.count()
KINDS = list(CONFIG["weights"])
WEIGHTS = [CONFIG["weights"][kind] for kind in KINDS]


@events.request.add_listener
def record(request_type, name, response_time, response, exception, start_time, **kwargs) -> None:
    status = getattr(response, "status_code", 0) or 0
    RECORDS.append((start_time, name, int(status), response_time))


@events.test_stop.add_listener
def save(environment, **kwargs) -> None:
    runner = environment.runner
    result = {
        "records": RECORDS,
        "load_generator_saturated": bool(getattr(runner, "cpu_warning_emitted", False)),
    }
    Path(CONFIG["output"]).write_text(json.dumps(result))


def pdf(size: int) -> bytes:
    """A small, well-formed PDF (what a person attaches: a delivery note), padded with a comment."""
    head = b"%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n"
    head += b"2 0 obj <</Type /Pages /Kids [] /Count 0>> endobj\n"
    tail = b"\ntrailer <</Root 1 0 R>>\n%%EOF\n"
    return head + b"%" + b"0" * max(0, size - len(head) - len(tail) - 1) + tail


class MixUser(FastHttpUser):
    def wait_time(self) -> float:
        """Closed loop for the peak; for the soak, random (Poisson) arrivals at the user's share of the
        rate, so the throughput stays constant whatever the answers' latency (up to a second's backlog)."""
        rate = CONFIG["rate"]
        if not rate:
            return 0.0
        now = time.monotonic()
        self.next_start = max(self.next_start, now - 1.0) + random.expovariate(rate)
        return max(0.0, self.next_start - now)

    def on_start(self) -> None:
        self.next_start = time.monotonic()
        number = next(USER_NUMBERS)
        busy, partner = CONFIG["sessions"]["busy"], CONFIG["sessions"]["partner"]
        self.busy = busy[number % len(busy)]
        self.partner = partner[number % len(partner)]
        self.origin = f"https://{CONFIG['host_header']}"

    def _headers(self, session: dict, *, post_to: str = "", htmx: bool = False) -> dict:
        # As the TLS-terminating proxy of docker-compose.yml would say; the cookies are Secure.
        headers = {"X-Forwarded-Proto": "https", "Cookie": session["cookie"]}
        if post_to:
            headers.update(
                {"X-CSRFToken": session["csrf"], "Origin": self.origin, "Referer": self.origin + post_to}
            )
        if htmx:
            headers["HX-Request"] = "true"
        return headers

    def _send(self, kind: str, method: str, path: str, headers: dict, data=None) -> None:
        expected = CONFIG["expect"][kind]
        with self.client.request(
            method, path, data=data, headers=headers, name=kind, allow_redirects=False, catch_response=True
        ) as response:
            if response.status_code in expected:
                response.success()
            else:
                response.failure(f"status {response.status_code}, expected {expected}")

    @task
    def one(self) -> None:
        kind = random.choices(KINDS, WEIGHTS)[0]  # noqa: S311 - a workload, not a secret
        getattr(self, kind)(kind)

    def _get(self, kind: str, session: dict) -> None:
        path = random.choice(CONFIG["paths"][kind])  # noqa: S311
        self._send(kind, "GET", path, self._headers(session))

    def inbox(self, kind: str) -> None:
        self._get(kind, self.busy)

    def conversation(self, kind: str) -> None:
        self._get(kind, self.busy)

    def live(self, kind: str) -> None:
        self._get(kind, self.busy)

    def search(self, kind: str) -> None:
        self._get(kind, self.busy)

    def partner_inbox(self, kind: str) -> None:
        self._get(kind, self.partner)

    def partner_conversation(self, kind: str) -> None:
        self._get(kind, self.partner)

    def send(self, kind: str) -> None:
        path = random.choice(CONFIG["paths"]["send"])  # noqa: S311
        token = uuid.uuid4()
        body = f"Soak message {token.hex[:8]}: the delivery is confirmed for Monday, pallets as agreed."
        headers = {
            **self._headers(self.busy, post_to=path),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        self._send(kind, "POST", path, headers, urlencode({"body": body, "client_token": str(token)}))

    def send_file(self, kind: str) -> None:
        path = random.choice(CONFIG["paths"]["send"])  # noqa: S311
        boundary = uuid.uuid4().hex
        fields = {"body": "The delivery note is attached.", "client_token": str(uuid.uuid4())}
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            for name, value in fields.items()
        ]
        parts += [
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="delivery-note.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n".encode(),
            pdf(CONFIG["file_size"]),
            f"\r\n--{boundary}--\r\n".encode(),
        ]
        headers = {
            **self._headers(self.busy, post_to=path),
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        }
        self._send(kind, "POST", path, headers, b"".join(parts))

    def tag(self, kind: str) -> None:
        """Add a tag to a partner conversation or take one off (half each), as the tag control does (htmx)."""
        request_id = random.choice(CONFIG["partner_requests"])  # noqa: S311
        tag_id = random.choice(CONFIG["partner_tags"])  # noqa: S311
        base = f"/o/{CONFIG['partner_slug']}/requests/{request_id}/tags/"
        if random.random() < 0.5:  # noqa: S311
            path, data = base, urlencode({"tag": str(tag_id)})
        else:
            path, data = f"{base}{tag_id}/remove/", ""
        headers = {
            **self._headers(self.partner, post_to=path, htmx=True),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        self._send(kind, "POST", path, headers, data)
