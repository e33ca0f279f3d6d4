"""Partners (profiles, services) and merchants (stores) meeting in conversations of the messaging core.

A `ServiceRequest` is the partner side of one conversation: it shares the conversation's primary key, so a
request id is a conversation id, and the inbox joins them without a lookup table.
"""

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from messaging.models import Conversation
from tenants.models import Organization

MAX_TAG_LENGTH = 40
MAX_PRICE = 1_000_000


class Category(models.TextChoices):
    STORE_SETUP = "store_setup", _("Store setup")
    THEME = "theme", _("Theme design and customization")
    APPS = "apps", _("Apps and integrations")
    MARKETING = "marketing", _("Marketing and sales")
    SEO = "seo", _("Search engine optimization")
    MIGRATION = "migration", _("Store migration")
    CONTENT = "content", _("Content and photography")
    DEVELOPMENT = "development", _("Custom development")


class Language(models.TextChoices):
    ENGLISH = "en", _("English")
    GERMAN = "de", _("German")
    POLISH = "pl", _("Polish")
    PORTUGUESE = "pt", _("Portuguese")
    FINNISH = "fi", _("Finnish")
    FRENCH = "fr", _("French")
    SPANISH = "es", _("Spanish")
    SWEDISH = "sv", _("Swedish")


class Region(models.TextChoices):
    NORTH_AMERICA = "north_america", _("North America")
    LATIN_AMERICA = "latin_america", _("Latin America")
    EUROPE = "europe", _("Europe")
    MIDDLE_EAST_AFRICA = "middle_east_africa", _("Middle East and Africa")
    ASIA_PACIFIC = "asia_pacific", _("Asia Pacific")


class Currency(models.TextChoices):
    USD = "USD", "USD"
    EUR = "EUR", "EUR"
    GBP = "GBP", "GBP"
    CAD = "CAD", "CAD"
    AUD = "AUD", "AUD"
    PLN = "PLN", "PLN"
    BRL = "BRL", "BRL"
    SEK = "SEK", "SEK"
    CHF = "CHF", "CHF"


class Budget(models.TextChoices):
    UNKNOWN = "unknown", _("Not sure yet")
    UNDER_500 = "under_500", _("Under 500")
    UP_TO_2000 = "500_2000", _("500 to 2,000")
    UP_TO_10000 = "2000_10000", _("2,000 to 10,000")
    OVER_10000 = "over_10000", _("Over 10,000")


def codes_field(verbose_name) -> models.CharField:
    """A set of codes stored as ",a,b," so that `contains=",a,"` finds a member on SQLite and PostgreSQL."""
    return models.CharField(verbose_name, max_length=200, blank=True, default="")


def encode_codes(codes) -> str:
    codes = sorted(set(codes))
    return f",{','.join(codes)}," if codes else ""


def decode_codes(value: str) -> list[str]:
    return [code for code in value.split(",") if code]


class PartnerProfile(models.Model):
    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, primary_key=True, related_name="partner_profile"
    )
    description = models.TextField(_("description"), max_length=4000, blank=True)
    languages = codes_field(_("languages"))
    regions = codes_field(_("regions"))
    published = models.BooleanField(_("published"), default=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("partner profile")
        verbose_name_plural = _("partner profiles")

    def __str__(self) -> str:
        return str(self.organization)

    @property
    def language_list(self) -> list[str]:
        return decode_codes(self.languages)

    @property
    def region_list(self) -> list[str]:
        return decode_codes(self.regions)

    def language_labels(self) -> list[str]:
        labels = dict(Language.choices)
        return [labels[code] for code in self.language_list if code in labels]

    def region_labels(self) -> list[str]:
        labels = dict(Region.choices)
        return [labels[code] for code in self.region_list if code in labels]


class Service(models.Model):
    partner = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="services")
    category = models.CharField(_("category"), max_length=30, choices=Category.choices)
    title = models.CharField(_("title"), max_length=120)
    description = models.TextField(_("description"), max_length=4000)
    price_from = models.DecimalField(_("price from"), max_digits=12, decimal_places=2)
    price_to = models.DecimalField(_("price to"), max_digits=12, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.USD)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("service")
        verbose_name_plural = _("services")
        ordering = ["title", "id"]
        indexes = [models.Index(fields=["category", "partner"], name="service_category")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price_from__gte=0) & models.Q(price_to__gte=models.F("price_from")),
                name="service_price_range",
            )
        ]

    def __str__(self) -> str:
        return self.title


class Store(models.Model):
    merchant = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="stores")
    name = models.CharField(_("store name"), max_length=120)
    url = models.URLField(_("store URL"), max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_stores",
        verbose_name=_("owner"),
    )
    staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="staffed_stores", verbose_name=_("staff")
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class MatchRequest(models.Model):
    """A job a merchant described for the matching algorithm; each partner picked gets its own request."""

    merchant = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="match_requests")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    category = models.CharField(_("category"), max_length=30, choices=Category.choices)
    store = models.ForeignKey(Store, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    budget = models.CharField(_("budget"), max_length=20, choices=Budget.choices, default=Budget.UNKNOWN)
    language = models.CharField(_("language"), max_length=5, choices=Language.choices)
    region = models.CharField(_("region"), max_length=30, choices=Region.choices)
    requirements = models.TextField(_("requirements"), max_length=4000)
    client_token = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("matching request")
        verbose_name_plural = _("matching requests")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_category_display()} ({self.merchant})"


class ServiceRequest(models.Model):
    """A merchant's request to one partner: the partner-and-merchant side of one conversation."""

    class Via(models.TextChoices):
        DIRECT = "direct", _("Direct contact")
        MATCHING = "matching", _("Through matching")

    class Stage(models.TextChoices):
        REQUEST = "request", pgettext_lazy("request status", "New request")
        PROPOSAL_SENT = "proposal_sent", pgettext_lazy("request status", "Proposal sent")
        PROPOSAL_DECLINED = "proposal_declined", pgettext_lazy("request status", "Proposal declined")
        PROPOSAL_WITHDRAWN = "proposal_withdrawn", pgettext_lazy("request status", "Proposal withdrawn")
        JOB_OPEN = "job_open", pgettext_lazy("request status", "Job open")
        JOB_COMPLETED = "job_completed", pgettext_lazy("request status", "Job completed")
        JOB_CLOSED = "job_closed", pgettext_lazy("request status", "Job closed")
        DECLINED = "declined", pgettext_lazy("request status", "Declined")
        CLOSED = "closed", pgettext_lazy("request status", "Closed")

    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, primary_key=True, related_name="service_request"
    )
    partner = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    merchant = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    contact_name = models.CharField(_("contact name"), max_length=200)
    store = models.ForeignKey(
        Store, null=True, blank=True, on_delete=models.SET_NULL, related_name="requests"
    )
    store_name = models.CharField(_("store name"), max_length=120, blank=True)
    store_url = models.CharField(_("store URL"), max_length=200, blank=True)
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    category = models.CharField(_("category"), max_length=30, choices=Category.choices)
    budget = models.CharField(_("budget"), max_length=20, choices=Budget.choices, default=Budget.UNKNOWN)
    language = models.CharField(_("language"), max_length=5, choices=Language.choices, blank=True)
    via = models.CharField(_("how they found you"), max_length=10, choices=Via.choices)
    match = models.ForeignKey(
        MatchRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="requests"
    )
    # Kept by the services: the inbox shows it without reading proposals or jobs.
    stage = models.CharField(_("status"), max_length=20, choices=Stage.choices, default=Stage.REQUEST)
    # Lower-cased "contact | store name | store URL"; the inbox search reads it (trigram index on PostgreSQL).
    search_text = models.CharField(max_length=600, editable=False, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("service request")
        verbose_name_plural = _("service requests")
        indexes = [models.Index(fields=["partner", "merchant"], name="request_pair")]

    def __str__(self) -> str:
        return f"{self.contact_name} → {self.partner}"

    @property
    def stage_label(self) -> str:
        """get_stage_display without its cost: Django rebuilds a dict of every (lazy) choice on each call,
        a quarter of a millisecond per row of an inbox."""
        return self.Stage(self.stage).label

    @property
    def stage_tone(self) -> str:
        """The badge colour of the stage: work under way is good news, declined or closed is not."""
        if self.stage in (self.Stage.JOB_OPEN, self.Stage.JOB_COMPLETED):
            return "badge-good"
        if self.stage in (self.Stage.DECLINED, self.Stage.CLOSED):
            return "badge-bad"
        return ""


class Tag(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(_("name"), max_length=MAX_TAG_LENGTH)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint("organization", Lower("name"), name="tag_name_unique_ignoring_case"),
        ]

    def __str__(self) -> str:
        return self.name


class ConversationTag(models.Model):
    # Both lookups are served by the two composite indexes below, so no single-column indexes.
    request = models.ForeignKey(
        ServiceRequest, on_delete=models.CASCADE, related_name="tag_links", db_index=False
    )
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="links", db_index=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["request", "tag"], name="conversation_tag_unique")]
        # The tag filter reads conversations by tag.
        indexes = [models.Index(fields=["tag", "request"], name="conversation_tag_by_tag")]

    def __str__(self) -> str:
        return f"{self.tag} on {self.request_id}"


class Proposal(models.Model):
    class Status(models.TextChoices):
        SENT = "sent", pgettext_lazy("proposal status", "Sent")
        ACCEPTED = "accepted", pgettext_lazy("proposal status", "Accepted")
        DECLINED = "declined", pgettext_lazy("proposal status", "Declined")
        WITHDRAWN = "withdrawn", pgettext_lazy("proposal status", "Withdrawn")
        CLOSED = "closed", pgettext_lazy("proposal status", "Closed")

    request = models.ForeignKey(ServiceRequest, on_delete=models.CASCADE, related_name="proposals")
    title = models.CharField(_("title"), max_length=120)
    scope = models.TextField(_("scope of work"), max_length=4000)
    price = models.DecimalField(_("price"), max_digits=12, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)
    delivery_date = models.DateField(_("estimated delivery"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.SENT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("proposal")
        verbose_name_plural = _("proposals")
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price__gt=0) & models.Q(price__lte=MAX_PRICE), name="proposal_price"
            )
        ]

    def __str__(self) -> str:
        return self.title


class Job(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("job status", "Open")
        COMPLETED = "completed", pgettext_lazy("job status", "Completed")
        CLOSED = "closed", pgettext_lazy("job status", "Closed")
        DECLINED = "declined", pgettext_lazy("job status", "Declined")

    request = models.ForeignKey(ServiceRequest, on_delete=models.CASCADE, related_name="jobs")
    proposal = models.OneToOneField(Proposal, on_delete=models.CASCADE, related_name="job")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.proposal.title


class JobInvoice(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("invoice status", "Open")
        PAID = "paid", pgettext_lazy("invoice status", "Paid")
        CLOSED = "closed", pgettext_lazy("invoice status", "Closed")

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="invoices")
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)
    due_date = models.DateField(_("due date"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("job invoice")
        verbose_name_plural = _("job invoices")
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0) & models.Q(amount__lte=MAX_PRICE), name="job_invoice_amount"
            )
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


class TimelineRecord(models.Model):
    """One thing that happened to a proposal, job, invoice or the request, shown among the messages."""

    class Kind(models.TextChoices):
        PROPOSAL_SENT = "proposal_sent", _("Proposal sent")
        PROPOSAL_ACCEPTED = "proposal_accepted", _("Proposal accepted; the job has started")
        PROPOSAL_DECLINED = "proposal_declined", _("Proposal declined")
        PROPOSAL_WITHDRAWN = "proposal_withdrawn", _("Proposal withdrawn")
        PROPOSAL_CLOSED = "proposal_closed", _("Proposal closed")
        JOB_COMPLETED = "job_completed", _("Job marked as completed")
        JOB_CLOSED = "job_closed", _("Job closed")
        JOB_DECLINED = "job_declined", _("Job declined")
        INVOICE_SENT = "invoice_sent", _("Invoice sent")
        INVOICE_PAID = "invoice_paid", _("Invoice marked as paid")
        INVOICE_CLOSED = "invoice_closed", _("Invoice closed")
        REQUEST_DECLINED = "request_declined", _("Request declined")
        MERCHANT_BLOCKED = "merchant_blocked", _("Merchant blocked; the conversation is closed")

    request = models.ForeignKey(ServiceRequest, on_delete=models.CASCADE, related_name="records")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    proposal = models.ForeignKey(Proposal, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    invoice = models.ForeignKey(JobInvoice, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["request", "id"], name="timeline_record_request")]

    def __str__(self) -> str:
        return self.get_kind_display()


class Block(models.Model):
    """A partner blocked a merchant. There is no unblock: the row is never deleted."""

    partner = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="blocks_made")
    merchant = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="blocks_received")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("block")
        verbose_name_plural = _("blocks")
        constraints = [models.UniqueConstraint(fields=["partner", "merchant"], name="block_unique")]
        indexes = [models.Index(fields=["merchant", "partner"], name="block_by_merchant")]

    def __str__(self) -> str:
        return f"{self.partner} blocked {self.merchant}"
