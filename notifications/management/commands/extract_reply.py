"""What reply extraction makes of one email, without posting anything: for support and for measuring.

    .venv/bin/python manage.py extract_reply < reply.eml            # the reply text
    .venv/bin/python manage.py extract_reply --cut < reply.eml      # and what was cut, after a separator
    .venv/bin/python manage.py extract_reply --body < body.txt      # a bare plain-text body, not RFC 822

The reply goes to stdout; the files found (name, type, size) go to stderr, so stdout stays the text alone.
"""

import email
import email.message
import email.policy
import sys

from django.core.management.base import BaseCommand

from notifications.extract import Extracted, reply_extract, text_reply_split

CUT_SEPARATOR = "----- 8< ----- cut ----- 8< -----"


class Command(BaseCommand):
    help = "Read one email (or with --body a plain-text body) on stdin and print the reply extracted from it."
    # call_command(..., stdin=io.BytesIO(...)) in tests; the real standard input otherwise.
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("--cut", action="store_true", help="also print what was cut, after a separator")
        parser.add_argument(
            "--body", action="store_true", help="stdin is a bare plain-text body, not an RFC 822 message"
        )

    def handle(self, *args, cut: bool, body: bool, **options):
        stream = options.get("stdin") or sys.stdin.buffer
        raw = stream.read()
        if isinstance(raw, str):  # a text stream was given
            raw = raw.encode("utf-8", "surrogateescape")
        if body:
            text = raw.decode("utf-8", errors="replace")
            reply, removed = text_reply_split(text)
            extracted = Extracted(text=reply, cut=removed, attachments=[], source="text")
        else:
            try:
                message = email.message_from_bytes(raw, policy=email.policy.default)
            except Exception as error:  # the parser itself gives up on some hostile input (deep nesting)
                self.stderr.write(f"unreadable message: {error!r}")
                message = email.message.EmailMessage()
            extracted = reply_extract(message)
        self.stdout.write(extracted.text)
        if cut:
            self.stdout.write(CUT_SEPARATOR)
            self.stdout.write(extracted.cut)
        for item in extracted.attachments:
            self.stderr.write(
                f"attachment: {item.name or '(no name)'}\t{item.content_type}\t{len(item.data)} bytes"
            )
