"""Every write about connection requests, connections, supplier records and supplier account merges."""

import logging
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from documents.models import Document
from tenants.models import AuditLogEntry, Membership, Organization, User

from . import selectors
from .matching import record_keys
from .models import (
    MAX_REQUESTS_PER_PAIR,
    REQUEST_LIFETIME,
    Connection,
    ConnectionRequest,
    CustomerSearch,
    SupplierRecord,
)
from .policy import (
    can_answer_connection_requests,
    can_manage_connection_requests,
    can_manage_supplier_records,
)
from .signals import connection_request_sent, supplier_accounts_merging

logger = logging.getLogger(__name__)


class ConnectionRefused(Exception):
    """A request or answer the rules do not allow; the message is for the person who tried."""


class SearchLimitReached(ConnectionRefused):
    def __init__(self, available_at: datetime):
        self.available_at = available_at
        when = date_format(timezone.localtime(available_at), "DATETIME_FORMAT")
        super().__init__(
            _(
                "You have used your 5 customer searches for the last 24 hours. "
                "You can search again after %(when)s."
            )
            % {"when": when}
        )


def _require(decision) -> None:
    if not decision:
        raise PermissionDenied(decision.reason)


# Supplier records (buyer side) -----------------------------------------------------------------------------


@transaction.atomic
def supplier_record_save(
    *, actor: User, membership: Membership, data: dict, record: SupplierRecord | None = None
) -> SupplierRecord:
    """Create or change one of the buyer's supplier records.

    Refused (PermissionDenied) unless the actor administers this buyer; a supplier number already used by
    another record is refused (ConnectionRefused)."""
    _require(can_manage_supplier_records(membership))
    record = record or SupplierRecord(buyer=membership.organization)
    record.name = data["name"].strip()
    record.contact_email = data["contact_email"].strip()
    record.number = (data.get("number") or "").strip()
    for field, value in record_keys(record.name, record.contact_email).items():
        setattr(record, field, value)
    try:
        with transaction.atomic():
            record.save()
    except IntegrityError as error:
        raise ConnectionRefused(_("Another supplier record already has this supplier number.")) from error
    return record


@transaction.atomic
def supplier_record_delete(*, actor: User, membership: Membership, record: SupplierRecord) -> None:
    """Delete a supplier record; connections that linked it simply stop listing it."""
    _require(can_manage_supplier_records(membership))
    record.delete()


# Searching and requesting (supplier side) ------------------------------------------------------------------


@transaction.atomic
def customer_search(*, actor: User, membership: Membership, query: str) -> list[Organization]:
    """Search buyers by name, using one of the supplier's 5 searches per 24 hours.

    Refused with SearchLimitReached (saying when searching is possible again) after 5 searches in 24 hours.
    """
    _require(can_manage_connection_requests(membership))
    supplier = Organization.objects.select_for_update().get(pk=membership.organization_id)
    left, available_at = selectors.searches_left(supplier=supplier)
    if left <= 0:
        raise SearchLimitReached(available_at)
    CustomerSearch.objects.create(supplier=supplier, user=actor, query=query[:200])
    return selectors.customer_search_results(supplier=supplier, query=query)


@transaction.atomic
def connection_request_send(
    *, actor: User, membership: Membership, customer: Organization, contact_email: str = ""
) -> ConnectionRequest:
    """Ask a customer to connect. An empty contact_email means the request came from a suggestion.

    Refused (ConnectionRefused) when the customer is not a buyer, is already connected, already has a pending
    request from this supplier, or has had 3 requests from it already. notifications emails the customer.
    """
    _require(can_manage_connection_requests(membership))
    if not customer.is_buyer:
        raise ConnectionRefused(_("Only customers can receive connection requests."))
    # One supplier's requests are decided one at a time, so two clicks cannot both pass the checks below.
    supplier = Organization.objects.select_for_update().get(pk=membership.organization_id)
    connected, pending, sent = selectors.pair_state(supplier=supplier, customer=customer)
    if connected:
        raise ConnectionRefused(_("You are already connected with %(name)s.") % {"name": customer.name})
    if pending:
        raise ConnectionRefused(
            _("A request to %(name)s is already waiting for an answer.") % {"name": customer.name}
        )
    if sent >= MAX_REQUESTS_PER_PAIR:
        raise ConnectionRefused(
            _("You have already sent %(count)d requests to %(name)s, the most allowed.")
            % {"count": MAX_REQUESTS_PER_PAIR, "name": customer.name}
        )
    try:
        with transaction.atomic():
            request = ConnectionRequest.objects.create(
                supplier=supplier,
                customer=customer,
                contact_email=contact_email.strip(),
                attempt=sent + 1,
                requested_by=actor,
            )
    except IntegrityError as error:  # the database's own guard, should the lock above ever be bypassed
        raise ConnectionRefused(
            _("A request to %(name)s is already waiting for an answer.") % {"name": customer.name}
        ) from error
    # notifications writes the emails in this transaction: they exist if and only if the request does.
    connection_request_sent.send(sender=ConnectionRequest, request=request)
    return request


# Answering (customer side) ---------------------------------------------------------------------------------


def _lock_pending(request: ConnectionRequest) -> ConnectionRequest:
    locked = ConnectionRequest.objects.select_for_update().select_related("supplier").get(pk=request.pk)
    if locked.status == ConnectionRequest.Status.PENDING and timezone.now() >= locked.expires_at:
        # 30 days are up but the hourly task has not marked it yet: refuse as expired; the task records it.
        raise ConnectionRefused(
            _("This request is no longer waiting for an answer (it is %(status)s).")
            % {"status": ConnectionRequest.Status.EXPIRED.label.lower()}
        )
    if locked.status != ConnectionRequest.Status.PENDING:
        raise ConnectionRefused(
            _("This request is no longer waiting for an answer (it is %(status)s).")
            % {"status": locked.get_status_display().lower()}
        )
    return locked


@transaction.atomic
def connection_request_approve(
    *, actor: User, membership: Membership, request: ConnectionRequest
) -> Connection:
    """Approve a pending request: connects the two and links the customer's matching supplier records.

    Refused (PermissionDenied) unless the actor administers the customer; refused (ConnectionRefused) when the
    request was already answered or has expired.
    """
    _require(can_answer_connection_requests(membership))
    request = _lock_pending(request)
    now = timezone.now()
    request.status = ConnectionRequest.Status.APPROVED
    request.answered_at = now
    request.answered_by = actor
    request.save(update_fields=["status", "answered_at", "answered_by"])
    connection, _created = Connection.objects.get_or_create(
        supplier=request.supplier,
        customer=membership.organization,
        defaults={"request": request, "created_at": now},
    )
    connection.supplier_records.add(
        *selectors.matching_supplier_records(buyer=membership.organization, supplier=request.supplier)
    )
    return connection


@transaction.atomic
def connection_request_reject(
    *, actor: User, membership: Membership, request: ConnectionRequest, comment: str = ""
) -> ConnectionRequest:
    """Reject a pending request, with an optional comment (at most 1,000 characters) the supplier sees.

    Refused like connection_request_approve.
    """
    _require(can_answer_connection_requests(membership))
    comment = comment.strip()
    if len(comment) > 1000:
        raise ConnectionRefused(_("A comment can be at most 1,000 characters long."))
    request = _lock_pending(request)
    request.status = ConnectionRequest.Status.REJECTED
    request.answered_at = timezone.now()
    request.answered_by = actor
    request.comment = comment
    request.save(update_fields=["status", "answered_at", "answered_by", "comment"])
    return request


def connection_requests_expire(*, now: datetime | None = None) -> int:
    """Mark every request pending for 30 days or more as expired. Idempotent; returns how many changed."""
    now = now or timezone.now()
    return ConnectionRequest.objects.filter(
        status=ConnectionRequest.Status.PENDING, requested_at__lte=now - REQUEST_LIFETIME
    ).update(status=ConnectionRequest.Status.EXPIRED)


# Merging supplier accounts (platform administrators) -------------------------------------------------------


@transaction.atomic
def supplier_accounts_merge(*, actor: User, survivor: Organization, merged: Organization) -> dict[str, int]:
    """Merge supplier account `merged` into `survivor`, for good: members, documents, connections and
    connection requests move; `merged` is deleted. One transaction, logged.

    Requests follow the Coupa rules: rejected and expired requests of both accounts are removed; for each
    customer one request survives (an approved one where the customer is connected, else the oldest pending
    one). A customer connected to both keeps one connection, linking the records of both.
    Refused (ValueError) unless both are distinct suppliers.
    """
    if survivor.pk == merged.pk:
        raise ValueError("An account cannot be merged into itself.")
    locked = {
        o.pk: o for o in Organization.objects.select_for_update().filter(pk__in=[survivor.pk, merged.pk])
    }
    survivor, merged = locked[survivor.pk], locked[merged.pk]
    if not (survivor.is_supplier and merged.is_supplier):
        raise ValueError("Only supplier accounts can be merged.")
    summary = {"members": 0, "documents": 0, "connections": 0, "requests_kept": 0, "requests_removed": 0}

    for membership in Membership.objects.filter(organization=merged).select_related("user"):
        existing = Membership.objects.filter(organization=survivor, user=membership.user).first()
        if existing is None:
            membership.organization = survivor
            membership.save(update_fields=["organization"])
        else:
            if membership.is_administrator and not existing.is_administrator:
                existing.role = Membership.Role.ADMINISTRATOR
                existing.save(update_fields=["role"])
            membership.delete()
        summary["members"] += 1

    summary["documents"] = Document.objects.filter(supplier=merged).update(supplier=survivor)

    for connection in Connection.objects.filter(supplier=merged).prefetch_related("supplier_records"):
        kept = Connection.objects.filter(supplier=survivor, customer_id=connection.customer_id).first()
        if kept is None:
            connection.supplier = survivor
            connection.save(update_fields=["supplier"])
        else:
            kept.supplier_records.add(*connection.supplier_records.all())
            connection.delete()
        summary["connections"] += 1

    both = ConnectionRequest.objects.filter(supplier__in=[survivor, merged])
    removed, _ = both.filter(
        status__in=[ConnectionRequest.Status.REJECTED, ConnectionRequest.Status.EXPIRED]
    ).delete()
    connected = set(Connection.objects.filter(supplier=survivor).values_list("customer_id", flat=True))
    keep: dict[int, ConnectionRequest] = {}
    for request in both.order_by("requested_at", "id"):
        current = keep.get(request.customer_id)
        if request.customer_id in connected:
            wanted = request.status == ConnectionRequest.Status.APPROVED
            if wanted and (current is None or current.supplier_id != survivor.pk):
                keep[request.customer_id] = request
        elif current is None:
            keep[request.customer_id] = request
    kept_ids = {request.pk for request in keep.values()}
    removed += both.exclude(pk__in=kept_ids).delete()[0]
    # One request per customer is left, so each is the pair's first; merged ones move across.
    ConnectionRequest.objects.filter(pk__in=kept_ids).update(supplier=survivor, attempt=1)
    summary["requests_kept"], summary["requests_removed"] = len(kept_ids), removed

    # Higher apps (conversations, later) move their rows inside this same transaction.
    supplier_accounts_merging.send(sender=Organization, survivor=survivor, merged=merged, actor=actor)

    AuditLogEntry.objects.create(
        actor=actor,
        organization=survivor,
        action="organization.merged",
        data={"merged_id": merged.pk, "merged_name": merged.name, "merged_slug": merged.slug, **summary},
    )
    merged.delete()
    logger.info("supplier %s merged into %s by %s: %s", merged.slug, survivor.slug, actor.pk, summary)
    return summary
