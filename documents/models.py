from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tenants.models import Organization


class Document(models.Model):
    """A purchase order or an invoice between one buyer and one supplier; both of them see it."""

    class Kind(models.TextChoices):
        PURCHASE_ORDER = "purchase_order", _("Purchase order")
        INVOICE = "invoice", _("Invoice")

    class Status(models.TextChoices):
        # Purchase orders
        NEW = "new", _("New")
        CONFIRMED = "confirmed", _("Confirmed")
        SHIPPED = "shipped", _("Shipped")
        # Invoices
        SENT = "sent", _("Sent")
        APPROVED = "approved", _("Approved")
        PAID = "paid", _("Paid")
        # Both
        CANCELLED = "cancelled", _("Cancelled")

    PURCHASE_ORDER_STATUSES = (Status.NEW, Status.CONFIRMED, Status.SHIPPED, Status.CANCELLED)
    INVOICE_STATUSES = (Status.SENT, Status.APPROVED, Status.PAID, Status.CANCELLED)

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    number = models.CharField(_("number"), max_length=40)
    buyer = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="documents_as_buyer",
        limit_choices_to={"kind": Organization.Kind.BUYER},
        verbose_name=_("buyer"),
    )
    supplier = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="documents_as_supplier",
        limit_choices_to={"kind": Organization.Kind.SUPPLIER},
        verbose_name=_("supplier"),
    )
    issued_on = models.DateField(_("date"))
    total = models.DecimalField(
        _("total"), max_digits=14, decimal_places=2, validators=[MinValueValidator(0)]
    )
    currency = models.CharField(
        _("currency"),
        max_length=3,
        validators=[RegexValidator(r"^[A-Z]{3}$", _("Use a three-letter ISO 4217 code."))],
    )
    status = models.CharField(_("status"), max_length=20, choices=Status.choices)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        ordering = ["-issued_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["buyer", "kind", "number"], name="document_number_unique_per_buyer"
            ),
            models.CheckConstraint(
                condition=Q(kind="purchase_order", status__in=["new", "confirmed", "shipped", "cancelled"])
                | Q(kind="invoice", status__in=["sent", "approved", "paid", "cancelled"]),
                name="document_status_fits_kind",
            ),
            models.CheckConstraint(condition=Q(total__gte=0), name="document_total_not_negative"),
        ]
        indexes = [
            models.Index(fields=["buyer", "-issued_on", "-id"], name="document_buyer_recent"),
            models.Index(fields=["supplier", "-issued_on", "-id"], name="document_supplier_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.number}"

    @property
    def short_label(self) -> str:
        """PO 4500012 or INV 9001: the badge other pages show."""
        prefix = _("PO") if self.kind == self.Kind.PURCHASE_ORDER else _("INV")
        return f"{prefix} {self.number}"

    def counterpart_of(self, organization: Organization) -> Organization:
        return self.supplier if organization.pk == self.buyer_id else self.buyer
