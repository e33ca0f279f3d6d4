"""A real SMTP server on loopback (aiosmtpd), keeping what it receives, or answering with a chosen error."""

import email
import socket
from email.message import Message

from aiosmtpd.controller import Controller


class Recorder:
    def __init__(self):
        self.received: list[Message] = []
        self.answer: str | None = None  # e.g. "451 4.3.0 Try again later"; None accepts

    async def handle_DATA(self, server, session, envelope):
        if self.answer:
            return self.answer
        self.received.append(email.message_from_bytes(envelope.content))
        return "250 OK"

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
