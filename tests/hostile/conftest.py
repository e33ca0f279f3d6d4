import dataclasses
from pathlib import Path

import pytest
from django.conf import settings

from messaging.models import Attachment, Conversation, Message
from notifications.models import InboundEmail, OutgoingEmail, PendingMessageEmails
from tests.factories import ConnectionFactory


@pytest.fixture
def connected(buyer, supplier):
    return ConnectionFactory(supplier=supplier, customer=buyer)


@dataclasses.dataclass(frozen=True)
class Saved:
    """What a refused input must leave as it was: rows of every kind it could write, and the stored files."""

    conversations: int
    messages: int
    attachments: int
    files: int
    emails: int
    pending_emails: int
    inbound: int


def stored_files() -> int:
    root = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    return sum(1 for path in root.rglob("*") if path.is_file()) if root.exists() else 0


@pytest.fixture
def saved():
    """saved() counts now; compare two counts to show that nothing was half-saved."""

    def count() -> Saved:
        return Saved(
            conversations=Conversation.objects.count(),
            messages=Message.objects.count(),
            attachments=Attachment.objects.count(),
            files=stored_files(),
            emails=OutgoingEmail.objects.count(),
            pending_emails=PendingMessageEmails.objects.count(),
            inbound=InboundEmail.objects.count(),
        )

    return count
