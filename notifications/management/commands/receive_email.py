"""A mail server's pipe: one RFC 822 message on stdin, posted as a reply or refused.

Postfix, for example: `reply unix - n n - - pipe user=parley argv=/app/manage.py receive_email
--recipient ${recipient}`. The exit code follows sysexits.h, which mail servers understand: 0 handled
(posted, refused with a notice, ignored or a duplicate), 65 unreadable, 75 try again later (the database
is down, or too many replies to the address in a short time: nothing was saved), 70 anything else (the mail
server bounces it)."""

import sys

from django.core.management.base import BaseCommand
from django.db import DatabaseError, InterfaceError, OperationalError

from notifications import services

EX_OK, EX_DATAERR, EX_SOFTWARE, EX_TEMPFAIL = 0, 65, 70, 75


class Command(BaseCommand):
    help = "Read one email on stdin and post it as a reply (or refuse it); exit codes for mail servers."

    def add_arguments(self, parser):
        parser.add_argument("--recipient", action="append", default=[], help="the envelope recipient")

    def handle(self, *args, recipient: list[str], **options):
        raw = sys.stdin.buffer.read()
        try:
            result = services.inbound_email_receive(raw=raw, recipients=recipient)
        except services.InboundDeferred as deferred:
            what = "the counter is unavailable" if deferred.reason == "unavailable" else "too many replies"
            self.stderr.write(f"deferred, try again in {deferred.retry_after} seconds: {what}")
            sys.exit(EX_TEMPFAIL)
        except (OperationalError, InterfaceError) as error:
            self.stderr.write(f"temporary failure, try again later: {error}")
            sys.exit(EX_TEMPFAIL)
        except DatabaseError as error:
            self.stderr.write(f"failed: {error}")
            sys.exit(EX_SOFTWARE)
        self.stdout.write(f"{result.status}{' ' + result.reason if result.reason else ''}")
        if result.reason == "malformed":
            sys.exit(EX_DATAERR)
        sys.exit(EX_OK)
