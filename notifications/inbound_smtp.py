"""The SMTP handler of `manage.py run_inbound_smtp`: aiosmtpd speaks SMTP, the ingestion service decides."""

import logging

from aiosmtpd.controller import Controller
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, connections

from . import services

logger = logging.getLogger(__name__)


# Each call runs in a worker thread of its own and closes its connection, so none is left open behind it.
def _accepts(address: str) -> bool:
    try:
        return services.reply_address_accepts(address)
    finally:
        connections.close_all()


def _receive(raw: bytes, recipients: list[str]) -> str:
    try:
        return services.inbound_email_receive(raw=raw, recipients=recipients).status
    finally:
        connections.close_all()


class ReplyHandler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        try:
            accepted = await sync_to_async(_accepts, thread_sensitive=False)(address)
        except DatabaseError:
            logger.exception("inbound SMTP: database unavailable at RCPT %s", address)
            return "451 4.3.0 Try again later"
        if not accepted:
            logger.info("inbound SMTP: unknown recipient %s refused", address)
            return "550 5.1.1 No such recipient"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        try:
            status = await sync_to_async(_receive, thread_sensitive=False)(
                envelope.original_content or envelope.content, list(envelope.rcpt_tos)
            )
        except services.InboundDeferred as deferred:
            if deferred.reason == "unavailable":
                return "451 4.3.0 Try again later"
            # 4.7.1: refused for now by policy; the sender's server keeps the message and tries again.
            return f"451 4.7.1 Too many replies in a short time, try again in {deferred.retry_after} seconds"
        except DatabaseError:
            logger.exception("inbound SMTP: database unavailable, message deferred")
            return "451 4.3.0 Try again later"
        return f"250 OK {status}"


def inbound_smtp_controller(*, host: str, port: int) -> Controller:
    """Not started yet; the SIZE extension announces the limit and longer data is refused with 552."""
    return Controller(
        ReplyHandler(),
        hostname=host,
        port=port,
        data_size_limit=settings.INBOUND_MAX_BYTES,
    )
