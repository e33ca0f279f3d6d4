from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenants.models import Organization

REQUEST_LIFETIME = timedelta(days=30)
MAX_REQUESTS_PER_PAIR = 3


class SupplierRecord(models.Model):
    """A buyer's own entry for a supplier it buys from. Suggestions match these; connections link them."""

    buyer = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="supplier_records",
        limit_choices_to={"kind": Organization.Kind.BUYER},
        verbose_name=_("buyer"),
    )
    name = models.CharField(_("supplier name"), max_length=200)
    contact_email = models.EmailField(_("contact email"))
    number = models.CharField(_("supplier number"), max_length=40, blank=True)
    # Derived by services.supplier_record_save for matching: indexed so suggestions need no scan.
    name_key = models.CharField(max_length=200, db_index=True, editable=False)
    email_domain = models.CharField(max_length=255, db_index=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("supplier record")
        verbose_name_plural = _("supplier records")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["buyer", "number"],
                condition=~Q(number=""),
                name="supplier_record_number_unique_per_buyer",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.contact_email})"


class ConnectionRequest(models.Model):
    """A supplier asking a customer (buyer) to connect. The customer approves or rejects within 30 days."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        EXPIRED = "expired", _("Expired")

    supplier = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="connection_requests_sent",
        limit_choices_to={"kind": Organization.Kind.SUPPLIER},
        verbose_name=_("supplier"),
    )
    customer = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="connection_requests_received",
        limit_choices_to={"kind": Organization.Kind.BUYER},
        verbose_name=_("customer"),
    )
    # Empty when the request came from a suggestion: the table shows [System initiated].
    contact_email = models.EmailField(_("customer contact"), blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    # 1, 2 or 3: the database itself refuses a fourth request for a pair.
    attempt = models.PositiveSmallIntegerField(_("attempt"))
    requested_at = models.DateTimeField(_("requested"), default=timezone.now)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True, max_length=1000)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("requested by"),
    )
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("answered by"),
    )

    class Meta:
        verbose_name = _("connection request")
        verbose_name_plural = _("connection requests")
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["supplier", "customer"],
                condition=Q(status="pending"),
                name="connection_request_one_pending_per_pair",
            ),
            models.UniqueConstraint(
                fields=["supplier", "customer", "attempt"],
                name="connection_request_attempt_unique",
            ),
            models.CheckConstraint(
                condition=Q(attempt__gte=1, attempt__lte=MAX_REQUESTS_PER_PAIR),
                name="connection_request_at_most_three",
            ),
            models.CheckConstraint(
                condition=~Q(supplier=models.F("customer")), name="connection_request_not_to_self"
            ),
        ]
        indexes = [
            models.Index(fields=["supplier", "-requested_at", "-id"], name="conn_request_supplier_recent"),
            models.Index(fields=["customer", "status", "-requested_at"], name="conn_request_customer_open"),
            models.Index(fields=["status", "requested_at"], name="conn_request_expiry"),
        ]

    def __str__(self) -> str:
        return f"{self.supplier} → {self.customer} ({self.status})"

    @property
    def system_initiated(self) -> bool:
        return not self.contact_email

    @property
    def expires_at(self):
        return self.requested_at + REQUEST_LIFETIME

    @property
    def days_left(self) -> int:
        """Whole days the customer has left to answer, rounded up (30 on the day it was sent)."""
        remaining = self.expires_at - timezone.now()
        if remaining.total_seconds() <= 0:
            return 0
        return remaining.days + (1 if remaining.seconds or remaining.microseconds else 0)


class Connection(models.Model):
    """A supplier and a customer that may trade and talk on Parley, with the customer's records it links."""

    supplier = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="connections_as_supplier",
        limit_choices_to={"kind": Organization.Kind.SUPPLIER},
        verbose_name=_("supplier"),
    )
    customer = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="connections_as_customer",
        limit_choices_to={"kind": Organization.Kind.BUYER},
        verbose_name=_("customer"),
    )
    supplier_records = models.ManyToManyField(
        SupplierRecord, blank=True, related_name="connections", verbose_name=_("linked supplier records")
    )
    request = models.ForeignKey(
        ConnectionRequest,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("approved request"),
    )
    created_at = models.DateTimeField(_("connected"), default=timezone.now)

    class Meta:
        verbose_name = _("connection")
        verbose_name_plural = _("connections")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["supplier", "customer"], name="connection_unique_pair"),
        ]

    def __str__(self) -> str:
        return f"{self.supplier} ↔ {self.customer}"


class CustomerSearch(models.Model):
    """One use of "Search for a customer": a supplier has five in any 24 hours."""

    supplier = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    query = models.CharField(max_length=200)
    searched_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("customer search")
        verbose_name_plural = _("customer searches")
        indexes = [models.Index(fields=["supplier", "-searched_at"], name="customer_search_recent")]

    def __str__(self) -> str:
        return f"{self.supplier}: {self.query}"
