"""The partner inbox's rows are a cached fragment (messaging.fragments). Its key names the messaging
generation (names, subjects), the live version (a new message, a read, a request moving up) and this
partner's inbox generation, which covers everything else a row shows and the tag filter finds: tags put on
or taken off a conversation, renamed or deleted, a new request, a request's stage, a block, a merchant's
store renamed.

Every service that changes one of those calls inbox_expire(partner_id), which moves the partner's generation
once the transaction commits, so no reader stores what it read before the commit under the new one. One
partner's changes leave every other page in the cache be.
"""

import uuid
from functools import partial

from django.core.cache import cache
from django.db import transaction

from messaging.fragments import generation

PREFIX = "partners:inbox:generation:"


def inbox_generation(partner_id: int) -> str:
    return generation(f"{PREFIX}{partner_id}")


def _bump(partner_ids: list[int]) -> None:
    cache.set_many({f"{PREFIX}{pk}": uuid.uuid4().hex for pk in partner_ids}, None)


def inbox_expire(*partner_ids: int) -> None:
    """The inboxes of these partners are stale once the current transaction commits (at once outside one).
    One cache write per call after commit: services call it once for each change, never per row."""
    ids = sorted({pk for pk in partner_ids if pk})
    if ids:
        transaction.on_commit(partial(_bump, ids))
