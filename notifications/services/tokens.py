"""Reply addresses: reply+<token>@INBOUND_EMAIL_DOMAIN, one token per user and conversation."""

import base64
import hashlib
import hmac
import re
import secrets

from django.conf import settings
from django.utils import timezone

from messaging.models import Conversation
from tenants.models import Organization, User

from ..models import ReplyToken

# 20 bytes of HMAC in base32: 32 characters of a-z and 2-7, safe in any mailbox's local part.
TOKEN_PATTERN = r"[a-z2-7]{32}"  # noqa: S105  (a pattern, not a secret)


def _derive(nonce: str) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), f"reply-token:{nonce}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:20]).decode().lower()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def reply_address(token: str) -> str:
    return f"reply+{token}@{settings.INBOUND_EMAIL_DOMAIN}"


def tokens_in(addresses: list[str]) -> list[str]:
    """The tokens of our reply addresses among `addresses` (any case), in order, each once."""
    pattern = re.compile(
        rf"reply\+({TOKEN_PATTERN})@{re.escape(settings.INBOUND_EMAIL_DOMAIN)}\b", re.IGNORECASE
    )
    found: list[str] = []
    for address in addresses:
        for token in pattern.findall(address or ""):
            if token.lower() not in found:
                found.append(token.lower())
    return found


def reply_tokens_issue(
    *, conversation: Conversation, members: list[tuple[User, Organization]]
) -> dict[int, str]:
    """Each user's reply token for the conversation (user id → token): the one issued before, or a new one.
    A revoked token is replaced by a fresh one, so the old address stays dead. Two queries for any number
    of users (read, then one INSERT of the missing), plus one per revoked token."""
    rows = {row.user_id: row for row in ReplyToken.objects.filter(conversation=conversation)}
    tokens: dict[int, str] = {}
    missing: list[ReplyToken] = []
    now = timezone.now()
    for user, organization in members:
        row = rows.get(user.pk)
        if row is None:
            nonce = secrets.token_hex(16)
            missing.append(
                ReplyToken(
                    user=user,
                    organization=organization,
                    conversation=conversation,
                    nonce=nonce,
                    token_hash=token_hash(_derive(nonce)),
                    created_at=now,
                )
            )
            tokens[user.pk] = _derive(nonce)
            continue
        if row.revoked_at is not None or row.organization_id != organization.pk:
            row.nonce = secrets.token_hex(16)
            row.token_hash = token_hash(_derive(row.nonce))
            row.organization = organization
            row.revoked_at = None
            row.created_at = now
            row.save(update_fields=["nonce", "token_hash", "organization", "revoked_at", "created_at"])
        tokens[user.pk] = _derive(row.nonce)
    if missing:
        ReplyToken.objects.bulk_create(missing)
    return tokens


def reply_token_find(token: str) -> ReplyToken | None:
    """The live token row for a token taken from an address, or None (unknown, revoked, or malformed)."""
    if not re.fullmatch(TOKEN_PATTERN, token or ""):
        return None
    return (
        ReplyToken.objects.filter(token_hash=token_hash(token), revoked_at__isnull=True)
        .select_related("user", "organization", "conversation")
        .first()
    )


def reply_tokens_revoke(
    *, user_id: int, organization_id: int | None = None, conversation_id: int | None = None
) -> int:
    """The user lost access (left the organization or the conversation): their reply addresses stop."""
    rows = ReplyToken.objects.filter(user_id=user_id, revoked_at__isnull=True)
    if organization_id is not None:
        rows = rows.filter(organization_id=organization_id)
    if conversation_id is not None:
        rows = rows.filter(conversation_id=conversation_id)
    return rows.update(revoked_at=timezone.now())
