import datetime
from decimal import Decimal

import factory

from connections.matching import email_domain, name_key
from connections.models import Connection, ConnectionRequest, SupplierRecord
from documents.models import Document
from tenants.models import Membership, Organization, User

PASSWORD = "correct horse battery staple"


def message_emails_written() -> list:
    """What the worker does once a message is committed: its emails written to the outbox (queued, not sent;
    a test's own transaction never commits, so the task queued after commit never runs by itself)."""
    from notifications import services
    from notifications.models import PendingMessageEmails

    written = []
    pending = PendingMessageEmails.objects.order_by("message_id").values_list("message_id", flat=True)
    for message_id in pending:
        written += services.message_emails_write(message_id=message_id)
    return written


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save(update_fields=["password"])


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")
    kind = Organization.Kind.BUYER
    contact_email = factory.LazyAttribute(lambda o: f"contact@{o.slug}.example")


class BuyerFactory(OrganizationFactory):
    kind = Organization.Kind.BUYER


class SupplierFactory(OrganizationFactory):
    kind = Organization.Kind.SUPPLIER
    tier = Organization.Tier.ENTERPRISE


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Membership.Role.MEMBER


class DocumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Document

    kind = Document.Kind.PURCHASE_ORDER
    number = factory.Sequence(lambda n: f"4500{n:06d}")
    buyer = factory.SubFactory(BuyerFactory)
    supplier = factory.SubFactory(SupplierFactory)
    issued_on = factory.Sequence(lambda n: datetime.date(2026, 1, 1) + datetime.timedelta(days=n))
    total = Decimal("1234.50")
    currency = "EUR"
    status = factory.LazyAttribute(
        lambda d: Document.Status.NEW if d.kind == Document.Kind.PURCHASE_ORDER else Document.Status.SENT
    )


class SupplierRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SupplierRecord

    buyer = factory.SubFactory(BuyerFactory)
    name = factory.Sequence(lambda n: f"Supplier {n} GmbH")
    contact_email = factory.Sequence(lambda n: f"sales@supplier{n}.example")
    name_key = factory.LazyAttribute(lambda r: name_key(r.name))
    email_domain = factory.LazyAttribute(lambda r: email_domain(r.contact_email))


class ConnectionRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConnectionRequest

    supplier = factory.SubFactory(SupplierFactory)
    customer = factory.SubFactory(BuyerFactory)
    contact_email = factory.LazyAttribute(lambda r: f"buyer@{r.customer.slug}.example")
    attempt = 1


class ConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Connection

    supplier = factory.SubFactory(SupplierFactory)
    customer = factory.SubFactory(BuyerFactory)


def start_conversation(author, counterpart, *, subject="Delivery", body="Hello", document=None, files=()):
    """A conversation started the way the web starts one (services and all their rules)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from messaging import services
    from tenants.models import Membership

    membership = Membership.objects.select_related("organization").filter(user=author).first()
    uploads = services.prepare_uploads([SimpleUploadedFile(name, content) for name, content in files])
    return services.conversation_start(
        actor=author,
        membership=membership,
        counterpart=counterpart,
        subject=subject,
        body=body,
        uploads=uploads,
        document=document,
    )


# Partners and merchants ------------------------------------------------------------------------------------


class PartnerFactory(OrganizationFactory):
    kind = Organization.Kind.PARTNER


class MerchantFactory(OrganizationFactory):
    kind = Organization.Kind.MERCHANT


class PartnerProfileFactory(factory.django.DjangoModelFactory):
    """A published profile speaking English in Europe unless told otherwise."""

    class Meta:
        model = "partners.PartnerProfile"

    organization = factory.SubFactory(PartnerFactory)
    description = "We build stores."
    languages = ",en,"
    regions = ",europe,"
    published = True


class ServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "partners.Service"

    partner = factory.SubFactory(PartnerFactory)
    category = "theme"
    title = factory.Sequence(lambda n: f"Theme service {n}")
    description = "A theme that fits your brand."
    price_from = Decimal("500")
    price_to = Decimal("5000")
    currency = "USD"


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "partners.Store"

    merchant = factory.SubFactory(MerchantFactory)
    name = factory.Sequence(lambda n: f"Store {n}")
    url = factory.Sequence(lambda n: f"https://store{n}.example")


def reachable_partner(*, languages=("en",), regions=("europe",), category="theme", **org_fields):
    """A partner merchants can contact: a published profile and one service in `category`."""
    partner = PartnerFactory(**org_fields)
    PartnerProfileFactory(
        organization=partner, languages=f",{','.join(languages)},", regions=f",{','.join(regions)},"
    )
    ServiceFactory(partner=partner, category=category)
    return partner


def contact_partner(author, partner, *, store=None, requirements="We need a new theme.", budget="unknown"):
    """A merchant user contacts a partner directly, through the service the web uses."""
    from partners import services

    membership = Membership.objects.select_related("organization").get(
        user=author, organization__kind=Organization.Kind.MERCHANT
    )
    return services.request_start(
        actor=author,
        membership=membership,
        service=partner.services.first(),
        store=store,
        budget=budget,
        requirements=requirements,
    )
