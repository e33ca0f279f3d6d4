"""A small SMTP server for replies by email (development, or behind a real MX): it takes mail only for live
reply addresses (refused at RCPT time otherwise), refuses messages over INBOUND_MAX_BYTES, and hands each
one to the same ingestion as the webhook and the pipe."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand

from notifications.inbound_smtp import inbound_smtp_controller


class Command(BaseCommand):
    help = "Receive replies by email over SMTP (aiosmtpd)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=settings.INBOUND_SMTP_PORT)

    def handle(self, *args, host: str, port: int, **options):
        controller = inbound_smtp_controller(host=host, port=port)
        controller.start()
        self.stdout.write(f"Receiving replies on {host}:{port} (Ctrl+C stops)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            controller.stop()
