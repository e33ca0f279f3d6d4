"""Reads of connection requests, connections and supplier records, always for one organization."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Case, Count, Prefetch, Q, QuerySet, Value, When
from django.http import Http404
from django.utils import timezone

from documents.models import Document
from tenants.models import Organization, User

from .matching import email_domain, name_key
from .models import (
    MAX_REQUESTS_PER_PAIR,
    Connection,
    ConnectionRequest,
    CustomerSearch,
    SupplierRecord,
)

SEARCH_LIMIT = 5
SEARCH_WINDOW = timedelta(hours=24)
SEARCH_RESULTS = 20
SUGGESTION_LIMIT = 10


# Supplier side ---------------------------------------------------------------------------------------------


def connection_request_list(*, supplier: Organization) -> QuerySet[ConnectionRequest]:
    """The requests a supplier sent, newest first, with what the table shows for approved ones."""
    return (
        ConnectionRequest.objects.filter(supplier=supplier)
        .select_related("customer")
        .order_by("-requested_at", "-id")
    )


def connections_by_customer(*, supplier: Organization, customer_ids: list[int]) -> dict[int, Connection]:
    """The supplier's connections to these customers, with the supplier records each links (two queries)."""
    connections = Connection.objects.filter(supplier=supplier, customer_id__in=customer_ids).prefetch_related(
        Prefetch("supplier_records", queryset=SupplierRecord.objects.order_by("name"))
    )
    return {connection.customer_id: connection for connection in connections}


@dataclass(frozen=True)
class Suggestion:
    customer: Organization
    score: int
    reasons: tuple[str, ...]


def supplier_domains(*, supplier: Organization) -> set[str]:
    emails = supplier.memberships.values_list("user__email", flat=True)
    domains = {email_domain(email) for email in emails} | {email_domain(supplier.contact_email or "")}
    return {domain for domain in domains if domain}


def customer_suggestions(*, supplier: Organization, limit: int = SUGGESTION_LIMIT) -> list[Suggestion]:
    """Buyers the system believes are this supplier's customers, best first.

    A buyer scores 3 when one of its supplier records has an email domain of the supplier's people, 2 when
    a record's name matches the supplier's once case, accents, punctuation and legal form are ignored, and
    1 when the two already share documents. Buyers already connected, with a pending request, or with no
    request left are left out. Ties are broken by name, so the order is stable.
    """
    domains = supplier_domains(supplier=supplier)
    key = name_key(supplier.name)
    record_match = Q(email_domain__in=domains) if domains else Q(pk__in=[])
    if key:
        record_match |= Q(name_key=key)
    scores: dict[int, int] = {}
    reasons: dict[int, set[str]] = {}
    for buyer_id, domain, record_key in SupplierRecord.objects.filter(record_match).values_list(
        "buyer_id", "email_domain", "name_key"
    ):
        if domain in domains and "domain" not in reasons.setdefault(buyer_id, set()):
            scores[buyer_id] = scores.get(buyer_id, 0) + 3
            reasons[buyer_id].add("domain")
        if key and record_key == key and "name" not in reasons.setdefault(buyer_id, set()):
            scores[buyer_id] = scores.get(buyer_id, 0) + 2
            reasons[buyer_id].add("name")
    for buyer_id in Document.objects.filter(supplier=supplier).values_list("buyer_id", flat=True).distinct():
        scores[buyer_id] = scores.get(buyer_id, 0) + 1
        reasons.setdefault(buyer_id, set()).add("documents")
    if not scores:
        return []
    excluded = set(
        Connection.objects.filter(supplier=supplier, customer_id__in=scores).values_list(
            "customer_id", flat=True
        )
    ) | set(
        ConnectionRequest.objects.filter(supplier=supplier, customer_id__in=scores)
        .values("customer_id")
        .annotate(total=Count("id"), pending=Count("id", filter=Q(status=ConnectionRequest.Status.PENDING)))
        .filter(Q(pending__gt=0) | Q(total__gte=MAX_REQUESTS_PER_PAIR))
        .values_list("customer_id", flat=True)
    )
    buyers = Organization.objects.filter(kind=Organization.Kind.BUYER, pk__in=set(scores) - excluded)
    ranked = sorted(buyers, key=lambda buyer: (-scores[buyer.pk], buyer.name.lower(), buyer.pk))
    return [Suggestion(buyer, scores[buyer.pk], tuple(sorted(reasons[buyer.pk]))) for buyer in ranked[:limit]]


def searches_left(*, supplier: Organization, now: datetime | None = None) -> tuple[int, datetime | None]:
    """How many customer searches the supplier has left, and when the next one frees up if none are left."""
    now = now or timezone.now()
    recent = list(
        CustomerSearch.objects.filter(supplier=supplier, searched_at__gt=now - SEARCH_WINDOW)
        .order_by("-searched_at")
        .values_list("searched_at", flat=True)[:SEARCH_LIMIT]
    )
    left = SEARCH_LIMIT - len(recent)
    if left > 0:
        return left, None
    return 0, recent[-1] + SEARCH_WINDOW


def customer_search_results(*, supplier: Organization, query: str) -> list[Organization]:
    """Buyers whose name contains the query (ignoring case), for "Search for a customer"."""
    return list(
        Organization.objects.filter(kind=Organization.Kind.BUYER, name__icontains=query.strip())
        .exclude(pk=supplier.pk)
        .order_by("name")[:SEARCH_RESULTS]
    )


def pair_state(*, supplier: Organization, customer: Organization) -> tuple[bool, bool, int]:
    """(connected, pending, requests sent) for one supplier and customer."""
    connected = Connection.objects.filter(supplier=supplier, customer=customer).exists()
    counts = ConnectionRequest.objects.filter(supplier=supplier, customer=customer).aggregate(
        total=Count("id"), pending=Count("id", filter=Q(status=ConnectionRequest.Status.PENDING))
    )
    return connected, bool(counts["pending"]), counts["total"]


def buyer_or_none(*, id: int) -> Organization | None:
    """A buyer by id, for a supplier about to send it a request; None for a non-buyer or nobody."""
    return Organization.objects.filter(pk=id, kind=Organization.Kind.BUYER).first()


# Both sides ------------------------------------------------------------------------------------------------


def access_connection(*, organization: Organization, user: User, id: int) -> Connection:
    """A connection the organization is part of. Http404 whether it does not exist or belongs to others."""
    connection = (
        Connection.objects.filter(Q(supplier=organization) | Q(customer=organization), pk=id)
        .select_related("supplier", "customer", "request")
        .prefetch_related(Prefetch("supplier_records", queryset=SupplierRecord.objects.order_by("name")))
        .first()
    )
    if connection is None:
        raise Http404
    return connection


def connected_organization_ids(*, organization: Organization) -> set[int]:
    """The counterparts an organization is connected with: suppliers of a buyer, customers of a supplier."""
    if organization.is_supplier:
        return set(Connection.objects.filter(supplier=organization).values_list("customer_id", flat=True))
    return set(Connection.objects.filter(customer=organization).values_list("supplier_id", flat=True))


# Customer side ---------------------------------------------------------------------------------------------


def incoming_request_list(*, customer: Organization) -> QuerySet[ConnectionRequest]:
    """The requests a customer received: pending ones first, then the answered ones; newest first in each."""
    waiting_first = Case(When(status=ConnectionRequest.Status.PENDING, then=Value(0)), default=Value(1))
    return (
        ConnectionRequest.objects.filter(customer=customer)
        .select_related("supplier", "answered_by")
        .order_by(waiting_first, "-requested_at", "-id")
    )


def access_incoming_request(*, customer: Organization, user: User, id: int) -> ConnectionRequest:
    """A request this customer received. Http404 whether it does not exist or was sent to someone else."""
    request = ConnectionRequest.objects.filter(customer=customer, pk=id).select_related("supplier").first()
    if request is None:
        raise Http404
    return request


def supplier_record_list(*, buyer: Organization, query: str = "") -> QuerySet[SupplierRecord]:
    records = SupplierRecord.objects.filter(buyer=buyer)
    query = query.strip()
    if query:
        records = records.filter(
            Q(name__icontains=query) | Q(contact_email__icontains=query) | Q(number__icontains=query)
        )
    return records.order_by("name", "id")


def access_supplier_record(*, buyer: Organization, user: User, id: int) -> SupplierRecord:
    """One of the buyer's supplier records. Http404 whether it does not exist or belongs to another buyer."""
    record = SupplierRecord.objects.filter(buyer=buyer, pk=id).first()
    if record is None:
        raise Http404
    return record


def matching_supplier_records(*, buyer: Organization, supplier: Organization) -> QuerySet[SupplierRecord]:
    """The buyer's records that describe this supplier: same email domain as its people, or same name."""
    domains = supplier_domains(supplier=supplier)
    match = Q(name_key=name_key(supplier.name))
    if domains:
        match |= Q(email_domain__in=domains)
    return SupplierRecord.objects.filter(match, buyer=buyer)


def are_connected(*, supplier: Organization, customer: Organization) -> bool:
    return Connection.objects.filter(supplier=supplier, customer=customer).exists()


def connected_organizations(*, organization: Organization, query: str = "") -> QuerySet[Organization]:
    """The organizations a supplier or buyer is connected with, by name: whom it can message."""
    ids = Connection.objects.filter(Q(supplier=organization) | Q(customer=organization)).values_list(
        "customer_id" if organization.is_supplier else "supplier_id", flat=True
    )
    counterparts = Organization.objects.filter(pk__in=ids)
    if query.strip():
        counterparts = counterparts.filter(name__icontains=query.strip())
    return counterparts.order_by("name")
