"""Rendered fragments of the busiest pages (the inbox's rows, a conversation's messages), kept in the cache
under a key that names everything they show, so a changed fact makes a new key instead of a stale page.

What a fragment shows either changes its key directly (a new message, a read: the caller puts those in the
key) or is rare and bumps one generation for all fragments: an organization, user, document or conversation
saved (names, numbers, statuses, from any code path including the admin), accounts merged, conversations
closed in bulk. The generation is bumped after the transaction commits, so no reader can store what it read
before the commit under the new generation. The language and time zone are always part of the key.
"""

import hashlib
import uuid
from collections.abc import Callable

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone, translation

GENERATION_KEY = "messaging:fragments:generation"
TIMEOUT = 600  # seconds; a fragment also dies with its key, so this only bounds the cache's memory


def generation(key: str = GENERATION_KEY) -> str:
    """The current generation under `key` (all fragments' by default; an app may keep narrower ones)."""
    current = cache.get(key)
    if current is None:
        # Lost (evicted, a restarted cache): a new one, so nothing cached before can be read again.
        current = uuid.uuid4().hex
        if not cache.add(key, current, None):
            current = cache.get(key) or current
    return current


def _generation_bump() -> None:
    cache.set(GENERATION_KEY, uuid.uuid4().hex, None)


def fragments_expire() -> None:
    """Every fragment is stale once the current transaction commits (at once outside one). Once per
    transaction, however many rows it deletes or saves."""
    connection = transaction.get_connection()
    if any(entry[1] is _generation_bump for entry in connection.run_on_commit):
        return
    transaction.on_commit(_generation_bump)


def fragment_key(*parts: object) -> str:
    named = (generation(), translation.get_language(), timezone.get_current_timezone_name(), *parts)
    return "messaging:fragment:" + hashlib.sha256(repr(named).encode()).hexdigest()


def cached(key: str, render: Callable[[], object]) -> object:
    """The value stored under key, or render()'s, stored."""
    value = cache.get(key)
    if value is None:
        value = render()
        cache.set(key, value, TIMEOUT)
    return value
