"""A real SMTP server on loopback (aiosmtpd), keeping what it receives, or answering as a test scripts it."""

import asyncio
import collections
import email
import socket
import time
from email.message import Message

import pytest
from aiosmtpd.controller import Controller

# A scripted answer that never comes: the server holds the client until it gives up (its timeout).
SILENCE = "silence"


class Recorder:
    def __init__(self):
        self.received: list[Message] = []
        self.answer: str | None = None  # e.g. "451 4.3.0 Try again later"; None accepts
        # Per recipient, the answers to its next deliveries, in order: ("rcpt" or "data", answer), where
        # None accepts and SILENCE never answers. A recipient whose script is used up is accepted.
        self.script: dict[str, collections.deque[tuple[str, str | None]]] = {}
        # Seconds to hold the answer to DATA (the whole message is in) or to QUIT (the message was accepted),
        # so a test can kill the client at a known point of the conversation.
        self.data_delay = 0.0
        self.quit_delay = 0.0
        self.holding = 0  # answers being held at this moment
        self.held = {"data": 0, "quit": 0}  # the same, by the command whose answer is held
        self.accepted: list[tuple[float, str]] = []  # (time.monotonic() of the 250, Message-ID)
        self.dropped = 0  # messages whose client left before the answer to DATA: never accepted
        self.attempts: list[tuple[float, str, str]] = []  # (time.monotonic(), recipient, answer given)
        self.silences: list[float] = []  # how long a client waited for an answer that never came

    async def _hold(self, seconds: float, command: str) -> None:
        self.holding += 1
        self.held[command] += 1
        try:
            await asyncio.sleep(seconds)
        finally:
            self.holding -= 1
            self.held[command] -= 1

    def _scripted(self, address: str, stage: str) -> tuple[bool, str | None]:
        """The answer scripted for `address` at `stage`, taken from its script (found, answer)."""
        script = self.script.get(address)
        if script and script[0][0] == stage:
            return True, script.popleft()[1]
        return False, None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        found, answer = self._scripted(address, "rcpt")
        if found and answer:
            self.attempts.append((time.monotonic(), address, answer))
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        found, answer = False, None
        for address in envelope.rcpt_tos:
            found, answer = self._scripted(address, "data")
            if found:
                break
        delay = 3600.0 if answer == SILENCE else self.data_delay
        if delay:
            started = time.monotonic()
            try:
                await self._hold(delay, "data")
            except asyncio.CancelledError:  # the client hung up: a real server discards the message
                self.dropped += 1
                if answer == SILENCE:
                    self.silences.append(time.monotonic() - started)
                for address in envelope.rcpt_tos:
                    self.attempts.append((time.monotonic(), address, SILENCE))
                raise
        answer = answer or self.answer
        for address in envelope.rcpt_tos:
            self.attempts.append((time.monotonic(), address, answer or "250 OK"))
        if answer:
            return answer
        message = email.message_from_bytes(envelope.content)
        self.received.append(message)
        self.accepted.append((time.monotonic(), message["Message-ID"]))
        return "250 OK"

    async def handle_QUIT(self, server, session, envelope):
        if self.quit_delay:
            await self._hold(self.quit_delay, "quit")
        return "221 Bye"

    def message_ids(self) -> list[str]:
        return [message["Message-ID"] for message in self.received]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpServer:
    def __init__(self):
        self.recorder = Recorder()
        self.port = free_port()
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on loopback, and the app sending to it over SMTP."""
    with SmtpServer() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = server.port
        settings.EMAIL_USE_TLS = False
        settings.EMAIL_TIMEOUT = 10
        yield server
