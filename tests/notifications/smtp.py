"""A real SMTP server on loopback (aiosmtpd), keeping what it receives, or answering with a chosen error."""

import asyncio
import email
import socket
import time
from email.message import Message

from aiosmtpd.controller import Controller


class Recorder:
    def __init__(self):
        self.received: list[Message] = []
        self.answer: str | None = None  # e.g. "451 4.3.0 Try again later"; None accepts
        # Seconds to hold the answer to DATA (the whole message is in) or to QUIT (the message was accepted),
        # so a test can kill the client at a known point of the conversation.
        self.data_delay = 0.0
        self.quit_delay = 0.0
        self.holding = 0  # answers being held at this moment
        self.accepted: list[tuple[float, str]] = []  # (time.monotonic() of the 250, Message-ID)
        self.dropped = 0  # messages whose client left before the answer to DATA: never accepted

    async def _hold(self, seconds: float) -> None:
        self.holding += 1
        try:
            await asyncio.sleep(seconds)
        finally:
            self.holding -= 1

    async def handle_DATA(self, server, session, envelope):
        if self.data_delay:
            try:
                await self._hold(self.data_delay)
            except asyncio.CancelledError:  # the client hung up: a real server discards the message
                self.dropped += 1
                raise
        if self.answer:
            return self.answer
        message = email.message_from_bytes(envelope.content)
        self.received.append(message)
        self.accepted.append((time.monotonic(), message["Message-ID"]))
        return "250 OK"

    async def handle_QUIT(self, server, session, envelope):
        if self.quit_delay:
            await self._hold(self.quit_delay)
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
