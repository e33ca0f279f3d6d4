"""PostgreSQL restarts while people post messages: the web app (gunicorn, as in production) loses every
database connection at once and cannot open new ones for a few seconds. Requests in flight end with a clear
"try again" page (503), none leaves a message half-saved, and the app recovers by itself."""

import collections
import http.client
import threading
import time
import uuid
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils.crypto import get_random_string

from messaging.models import Attachment, Message
from notifications.models import PendingMessageEmails
from tests.factories import ConnectionFactory, start_conversation
from tests.workers import app_environment, worker_database_url

from .servers import TcpProxy, WebServer, wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the web server reads what the test committed, and vice versa
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="needs PostgreSQL (the web server, in another process, shares the test database)",
    ),
]

CLIENTS = 4
OUTAGE = 3.0  # seconds PostgreSQL is away
REQUEST_TIMEOUT = 30


@pytest.fixture
def database_proxy():
    db = connection.settings_dict
    proxy = TcpProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))
    yield proxy
    proxy.close()


@pytest.fixture
def web(database_proxy, tmp_path):
    """gunicorn reaching PostgreSQL through the proxy, keeping its connections (DB_CONN_MAX_AGE and health
    checks as in production); no broker (tasks wait in files), no limits in the way of the test's pace."""
    env = app_environment(
        25,
        tmp_path / "var",
        DATABASE_URL=worker_database_url(port=database_proxy.port),
        DB_CONN_MAX_AGE="60",
        REDIS_URL="",
        DEBUG="false",
        RATELIMIT_ENABLE="false",
    )
    server = WebServer(env, tmp_path / "gunicorn.log")
    server.var_dir = tmp_path / "var"
    yield server
    server.stop()


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for name, (filename, content) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        )
        parts.append(head.encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Poster:
    """One person sending messages as fast as the app answers: a message sent again (same form, same token)
    after each refusal until it is taken, as a person pressing "Send" again would."""

    def __init__(self, web: WebServer, path: str, session: str, number: int):
        self.web, self.path, self.number = web, path, number
        self.csrf = get_random_string(32)
        self.cookie = f"sessionid={session}; csrftoken={self.csrf}"
        self.answers: list[tuple[float, float, int, str]] = []  # (start, end, status, body)
        self.taken: dict[str, bool] = {}  # client token: with a file

    def send(self, token: str, body: str, with_file: bool) -> tuple[int, str]:
        fields = {"csrfmiddlewaretoken": self.csrf, "body": body, "client_token": token}
        if with_file:
            payload, content_type = multipart(
                fields, {"files": (f"{token[:8]}.pdf", b"%PDF-1.4 " + token.encode())}
            )
        else:
            payload, content_type = urlencode(fields).encode(), "application/x-www-form-urlencoded"
        client = http.client.HTTPConnection("127.0.0.1", self.web.port, timeout=REQUEST_TIMEOUT)
        try:
            client.request("POST", self.path, payload, {"Cookie": self.cookie, "Content-Type": content_type})
            response = client.getresponse()
            return response.status, response.read().decode(errors="replace")
        finally:
            client.close()

    def run(self, stop: threading.Event) -> None:
        sent = 0
        while not stop.is_set():
            token, sent = str(uuid.uuid4()), sent + 1
            with_file = sent % 3 == 0
            while True:
                started = time.monotonic()
                status, body = self.send(token, f"Message {self.number}.{sent}", with_file)
                self.answers.append((started, time.monotonic(), status, body))
                if status == 302:
                    self.taken[token] = with_file
                    break
                time.sleep(0.05)


def test_requests_in_flight_get_a_clear_503_nothing_is_half_saved_and_the_app_recovers_by_itself(
    web, database_proxy, buyer, supplier, buyer_admin, report
):
    ConnectionFactory(supplier=supplier, customer=buyer)
    conversation = start_conversation(buyer_admin, supplier, subject="Pallets", body="Can you ship Monday?")
    browser = Client()
    browser.force_login(buyer_admin)
    session = browser.cookies[settings.SESSION_COOKIE_NAME].value
    path = f"/o/{buyer.slug}/messages/{conversation.pk}/"
    posters = [Poster(web, path, session, number) for number in range(CLIENTS)]
    stop = threading.Event()
    threads = [threading.Thread(target=poster.run, args=(stop,)) for poster in posters]
    for thread in threads:
        thread.start()
    try:
        wait_until(
            lambda: sum(len(poster.taken) for poster in posters) >= CLIENTS,
            timeout=20,
            what=f"no message posted before the outage: {[poster.answers[:1] for poster in posters]}",
        )
        cut_at = time.monotonic()
        database_proxy.cut(OUTAGE)  # every connection reset; new ones refused until it is back
        back_at = cut_at + OUTAGE
        time.sleep(OUTAGE + 2.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=REQUEST_TIMEOUT + 5)

    answers = sorted(answer for poster in posters for answer in poster.answers)
    statuses = collections.Counter(status for _start, _end, status, _body in answers)
    refused = [(start, end, body) for start, end, status, body in answers if status != 302]
    in_flight = [answer for answer in answers if answer[0] < cut_at < answer[1]]
    after = [answer for answer in answers if answer[0] >= back_at]
    recovered = min(end for _start, end, status, _body in after if status == 302) - back_at
    failed_after = [status for _start, _end, status, _body in after if status != 302]

    report(
        "outage", f"{OUTAGE} s: {database_proxy.reset} connections reset, {database_proxy.refused} refused"
    )
    report("answers", f"{dict(statuses)}; {len(in_flight)} in flight at the cut: {[a[2] for a in in_flight]}")
    report("slowest refusal", f"{max((end - start for start, end, _b in refused), default=0):.2f} s")
    report(
        "recovery",
        f"first message taken {recovered:.2f} s after PostgreSQL was back; {len(failed_after)} failed after",
    )

    # Every refusal is the "try again" page; never the generic error, never a hang.
    assert set(statuses) == {302, 503}
    assert all("Back in a moment" in body and "try again" in body for _start, _end, body in refused)
    assert all(end - start < 10 for start, end, _body in refused)
    assert in_flight and all(status in (302, 503) for _s, _e, status, _b in in_flight)
    # The app reconnects by itself: nothing fails once the database is back.
    assert failed_after == [] and recovered < 2

    # A restart between two requests (nothing in flight) costs nobody anything: each web process finds its
    # kept connection (CONN_MAX_AGE) dead before using it (CONN_HEALTH_CHECKS) and opens another.
    kept = database_proxy.reset
    database_proxy.cut(0.2)
    kept = database_proxy.reset - kept
    assert kept >= 1  # connections kept between requests were there to lose
    time.sleep(0.5)
    quiet = posters[0]
    after_quiet_restart = []
    for number in range(6):
        token = str(uuid.uuid4())
        status, _body = quiet.send(token, f"After a quiet restart {number}", with_file=False)
        after_quiet_restart.append(status)
        if status == 302:
            quiet.taken[token] = False
    report(
        "quiet restart", f"{kept} idle connections reset; the next requests answered {after_quiet_restart}"
    )
    assert after_quiet_restart == [302] * 6

    # Nothing half-saved: each message taken is there once, with its file, its pending emails and its count.
    taken = {token: with_file for poster in posters for token, with_file in poster.taken.items()}
    posted = Message.objects.filter(conversation=conversation).exclude(client_token=None)
    assert sorted(str(token) for token in posted.values_list("client_token", flat=True)) == sorted(taken)
    assert Attachment.objects.filter(message__conversation=conversation).count() == sum(taken.values())
    assert set(posted.values_list("pk", flat=True)) == set(
        PendingMessageEmails.objects.values_list("message_id", flat=True)
    )
    conversation.refresh_from_db()
    assert conversation.message_count == 1 + len(taken)
    assert conversation.last_message_at == posted.order_by("-created_at").first().created_at
    stored = [path for path in (web.var_dir / "media").rglob("*") if path.is_file()]
    orphans = len(stored) - sum(taken.values())
    report(
        "messages",
        f"{len(taken)} taken, {posted.count()} saved, {sum(taken.values())} with a file, none twice; "
        f"{orphans} files stored by requests whose transaction then failed (no row points to them)",
    )
