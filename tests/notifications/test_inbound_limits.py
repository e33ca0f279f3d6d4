"""Abuse limits on replies by email: past RATE_LIMITS["inbound"] to one reply address (or the person's sending
limit), each way in asks the sender's mail server to try again later, nothing is saved, and the email sent
again after the window is posted once."""

import base64
import io
import json
import smtplib
import sys
import time

import pytest
from django.core.management import call_command
from django.urls import reverse
from django_ratelimit.core import get_usage

from messaging.models import Message
from notifications import services
from notifications.inbound_smtp import inbound_smtp_controller
from notifications.models import InboundEmail, OutgoingEmail
from notifications.services.tokens import token_hash, tokens_in
from tests.factories import ConnectionFactory, start_conversation
from tests.notifications.smtp import free_port
from tests.notifications.test_inbound import posted, reply, reply_to

pytestmark = pytest.mark.django_db

WEBHOOK = "/notifications/inbound/postmark/"
SECRET = "postmark:s3cret"


@pytest.fixture
def talking(buyer, supplier, buyer_admin, supplier_admin):
    ConnectionFactory(supplier=supplier, customer=buyer)
    return start_conversation(buyer_admin, supplier, subject="Pallets", body="Can you ship Monday?")


@pytest.fixture
def two_a_minute(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "inbound": "2/m"}


@pytest.fixture
def one_per_window(settings):
    """One reply per address every WINDOW seconds: short enough to wait for the next window in a test."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "inbound": f"1/{WINDOW}s"}


WINDOW = 4


def a_new_window_begins(address: str) -> None:
    """Waits for the address's next window, so what follows is counted in one window."""
    key = token_hash(tokens_in([address])[0])
    usage = get_usage(None, group="parley:inbound", key=lambda *_: key, rate=f"1/{WINDOW}s", increment=False)
    # A window counts up to its last whole second: past it, the next has WINDOW - 1 seconds left.
    time.sleep(usage["time_left"] + 1 - time.time() % 1 + 0.02)


def nothing_saved_of(text: str, records_before: int) -> None:
    assert not Message.objects.filter(body=text).exists()
    assert InboundEmail.objects.count() == records_before  # so the retry is no duplicate
    assert not OutgoingEmail.objects.filter(kind="reply_refused").exists()


def bodies(talking) -> list[str]:
    return [message.body for message in posted(talking)]


class TestService:
    def test_past_the_limit_a_reply_is_deferred_and_nothing_is_saved(
        self, two_a_minute, talking, supplier_admin
    ):
        address = reply_to(supplier_admin)
        for text in ("First.", "Second."):
            assert services.inbound_email_receive(
                raw=reply(supplier_admin, to=address, text=text)
            ).status == ("posted")
        with pytest.raises(services.InboundDeferred) as deferred:
            services.inbound_email_receive(raw=reply(supplier_admin, to=address, text="Third."))
        assert deferred.value.reason == "address" and 1 <= deferred.value.retry_after <= 61
        nothing_saved_of("Third.", records_before=2)
        assert bodies(talking) == ["First.", "Second."]

    def test_each_reply_address_has_its_own_count(self, two_a_minute, talking, supplier_admin, buyer_admin):
        for n in range(2):
            services.inbound_email_receive(
                raw=reply(supplier_admin, to=reply_to(supplier_admin), text=f"S{n}")
            )
        raw = reply(buyer_admin, to=reply_to(buyer_admin), text="From the buyer.")
        assert services.inbound_email_receive(raw=raw).status == "posted"

    def test_an_address_that_does_not_resolve_takes_no_valid_addresss_budget(
        self, two_a_minute, talking, supplier_admin
    ):
        address = reply_to(supplier_admin)
        local, domain = address.split("@")
        near_miss = local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + domain
        for n in range(5):
            raw = reply(supplier_admin, to=near_miss, text=f"Lost {n}")
            assert services.inbound_email_receive(raw=raw).reason == "unknown_token"
        for text in ("First.", "Second."):
            assert services.inbound_email_receive(
                raw=reply(supplier_admin, to=address, text=text)
            ).status == ("posted")

    def test_the_same_email_delivered_again_is_a_duplicate_not_a_reply_counted(
        self, two_a_minute, talking, supplier_admin
    ):
        address = reply_to(supplier_admin)
        raw = reply(supplier_admin, to=address, text="First.")
        statuses = [services.inbound_email_receive(raw=raw).status for _ in range(4)]
        assert statuses == ["posted", "duplicate", "duplicate", "duplicate"]
        second = reply(supplier_admin, to=address, text="Second.")
        assert services.inbound_email_receive(raw=second).status == "posted"

    def test_a_persons_replies_count_as_the_messages_they_send_on_the_web_too(
        self, settings, client, talking, supplier, supplier_admin
    ):
        settings.RATE_LIMITS = {**settings.RATE_LIMITS, "send": "2/m", "inbound": "100/m"}
        client.force_login(supplier_admin)
        url = reverse(
            "messaging:conversation", kwargs={"org_slug": supplier.slug, "conversation_id": talking.pk}
        )
        assert client.post(url, {"body": "On the web."}).status_code == 302
        address = reply_to(supplier_admin)
        assert services.inbound_email_receive(
            raw=reply(supplier_admin, to=address, text="By email.")
        ).status == ("posted")
        with pytest.raises(services.InboundDeferred) as deferred:
            services.inbound_email_receive(raw=reply(supplier_admin, to=address, text="One too many."))
        assert deferred.value.reason == "person"
        nothing_saved_of("One too many.", records_before=1)
        assert client.post(url, {"body": "And on the web."}).status_code == 429

    def test_when_the_counter_cannot_be_reached_the_mail_server_is_asked_to_try_again(
        self, settings, talking, supplier_admin, monkeypatch, capsys
    ):
        address = reply_to(supplier_admin)
        # A cache on a Redis port where nothing listens: the counter is down, the database is not.
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            }
        }
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(reply(supplier_admin, to=address))))
        with pytest.raises(SystemExit) as exit_code:
            call_command("receive_email", "--recipient", address)
        assert exit_code.value.code == 75
        assert "try again" in capsys.readouterr().err
        nothing_saved_of("Yes, Monday works.", records_before=0)

    def test_with_the_production_cache_a_redis_away_counts_nothing_and_the_reply_is_posted(
        self, settings, talking, supplier_admin, monkeypatch, capsys
    ):
        address = reply_to(supplier_admin)
        # config.cache on a Redis port where nothing listens: as on the web, nobody is refused for it.
        settings.CACHES = {
            "default": {
                "BACKEND": "config.cache.ResilientRedisCache",
                "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
                "OPTIONS": {"socket_timeout": 1, "socket_connect_timeout": 1},
            }
        }
        settings.RATE_LIMITS = {**settings.RATE_LIMITS, "inbound": "1/m"}
        monkeypatch.setattr("config.cache.ResilientRedisCache.paused_until", 0.0)
        for text in ("Yes, Monday works.", "And Tuesday too."):
            monkeypatch.setattr(
                sys, "stdin", io.TextIOWrapper(io.BytesIO(reply(supplier_admin, to=address, text=text)))
            )
            with pytest.raises(SystemExit) as exit_code:
                call_command("receive_email", "--recipient", address)
            assert exit_code.value.code == 0, capsys.readouterr().err
            assert Message.objects.filter(body__startswith=text[:10]).count() == 1


class TestPipe:
    def receive(self, raw: bytes, address: str, monkeypatch, capsys) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
        with pytest.raises(SystemExit) as exit_code:
            call_command("receive_email", "--recipient", address)
        out = capsys.readouterr()
        return exit_code.value.code, out.out.strip(), out.err.strip()

    def test_refused_with_ex_tempfail_then_posted_once_after_the_window(
        self, one_per_window, talking, supplier_admin, monkeypatch, capsys
    ):
        address = reply_to(supplier_admin)
        first = reply(supplier_admin, to=address, text="First.")
        second = reply(supplier_admin, to=address, text="Second.")
        a_new_window_begins(address)
        assert self.receive(first, address, monkeypatch, capsys)[:2] == (0, "posted")
        code, _out, err = self.receive(second, address, monkeypatch, capsys)
        assert code == 75  # EX_TEMPFAIL: sendmail and Postfix keep the email and try again later
        assert "too many replies" in err
        nothing_saved_of("Second.", records_before=1)
        time.sleep(int(err.split("try again in ")[1].split()[0]))
        assert self.receive(second, address, monkeypatch, capsys)[:2] == (0, "posted")
        assert self.receive(second, address, monkeypatch, capsys)[:2] == (0, "duplicate")
        assert bodies(talking) == ["First.", "Second."]


class TestWebhook:
    def post(self, client, raw: bytes, address: str):
        payload = {  # Postmark's inbound JSON, with "Include raw email content" on
            "FromFull": {"Email": "x@example.com", "Name": ""},
            "ToFull": [{"Email": address, "Name": "", "MailboxHash": ""}],
            "OriginalRecipient": address,
            "Subject": "Re: Pallets",
            "MessageID": "22c74902-a0c1-4511-804f-341342852c90",
            "TextBody": "",
            "HtmlBody": "",
            "Headers": [],
            "Attachments": [],
            "RawEmail": raw.decode(),
        }
        auth = "Basic " + base64.b64encode(SECRET.encode()).decode()
        return client.post(
            WEBHOOK, json.dumps(payload), content_type="application/json", HTTP_AUTHORIZATION=auth
        )

    def test_answers_429_with_retry_after_then_posts_once_after_the_window(
        self, one_per_window, settings, client, talking, supplier_admin
    ):
        settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": SECRET}
        address = reply_to(supplier_admin)
        first = reply(supplier_admin, to=address, text="First.")
        second = reply(supplier_admin, to=address, text="Second.")
        a_new_window_begins(address)
        assert self.post(client, first, address).status_code == 200
        refused = self.post(client, second, address)
        assert refused.status_code == 429  # Postmark tries again: after 1 minute, 5, then every 10
        retry_after = int(refused.headers["Retry-After"])
        assert 1 <= retry_after <= WINDOW + 1
        nothing_saved_of("Second.", records_before=1)
        time.sleep(retry_after)
        assert self.post(client, second, address).status_code == 200
        assert self.post(client, second, address).status_code == 200  # a duplicate, answered as done
        assert bodies(talking) == ["First.", "Second."]


class TestSmtp:
    def test_answers_451_4_7_1_then_takes_the_same_email_once_after_the_window(
        self, transactional_db, one_per_window, request
    ):
        talking = request.getfixturevalue("talking")
        supplier_admin = request.getfixturevalue("supplier_admin")
        address = reply_to(supplier_admin)
        first = reply(supplier_admin, to=address, text="First.")
        second = reply(supplier_admin, to=address, text="Second.")
        port = free_port()
        controller = inbound_smtp_controller(host="127.0.0.1", port=port)
        controller.start()
        try:
            a_new_window_begins(address)
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                assert client.sendmail(supplier_admin.email, [address], first) == {}
                with pytest.raises(smtplib.SMTPDataError) as deferred:
                    client.sendmail(supplier_admin.email, [address], second)
            code, text = deferred.value.smtp_code, deferred.value.smtp_error.decode()
            # Temporary (4xx): the sender's server keeps the email in its queue and tries again later.
            assert code == 451 and text.startswith("4.7.1 ")
            nothing_saved_of("Second.", records_before=1)
            time.sleep(int(text.split("try again in ")[1].split()[0]))
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                assert client.sendmail(supplier_admin.email, [address], second) == {}
                assert client.sendmail(supplier_admin.email, [address], second) == {}  # a duplicate
        finally:
            controller.stop()
        assert bodies(talking) == ["First.", "Second."]
        assert list(InboundEmail.objects.values_list("status", flat=True).order_by("id")) == [
            InboundEmail.Status.POSTED,
            InboundEmail.Status.POSTED,
        ]
