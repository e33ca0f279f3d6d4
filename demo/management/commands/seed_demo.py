"""Demo data for `make run`: organizations of every kind, their people, and documents between them.

Idempotent: every row is looked up by its natural key first, so a second run changes nothing.
"""

from datetime import date, timedelta
from decimal import Decimal

from django.contrib.postgres.search import SearchVector
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.utils import timezone

from connections.matching import record_keys
from connections.models import Connection, ConnectionRequest, SupplierRecord
from documents.models import Document
from messaging.models import Conversation, Message, Participant
from messaging.services import message_post
from partners import services as partner_services
from partners.models import PartnerProfile, ServiceRequest, Store
from tenants.models import Membership, Organization, User

DEMO_PASSWORD = "parley-demo"  # noqa: S105 - documented in the README, demo data only
BASE_DATE = date(2026, 10, 1)

Kind = Organization.Kind
Tier = Organization.Tier

# slug, name, kind, tier, messaging on, language, (administrator name, member name)
ORGANIZATIONS = [
    (
        "nordwind",
        "Nordwind Handel GmbH",
        Kind.BUYER,
        Tier.STANDARD,
        True,
        "de",
        ("Greta Hoffmann", "Jonas Weber"),
    ),
    (
        "mazur",
        "Mazur Logistyka Sp. z o.o.",
        Kind.BUYER,
        Tier.STANDARD,
        True,
        "pl",
        ("Agnieszka Mazur", "Piotr Nowak"),
    ),
    (
        "aurora",
        "Aurora Foods Oy",
        Kind.BUYER,
        Tier.STANDARD,
        False,
        "fi",
        ("Aino Virtanen", "Mikko Korhonen"),
    ),
    (
        "sabia",
        "Sabiá Varejo Ltda.",
        Kind.BUYER,
        Tier.STANDARD,
        True,
        "pt-br",
        ("Beatriz Souza", "Rafael Lima"),
    ),
    (
        "acme",
        "Acme Industrial Supply Inc.",
        Kind.SUPPLIER,
        Tier.ENTERPRISE,
        True,
        "en",
        ("Dana Brooks", "Lee Carter"),
    ),
    (
        "kettu",
        "Kettu Packaging Oy",
        Kind.SUPPLIER,
        Tier.ENTERPRISE,
        True,
        "fi",
        ("Emilia Laine", "Otto Heikkinen"),
    ),
    (
        "ferro",
        "Ferro Componentes Ltda.",
        Kind.SUPPLIER,
        Tier.STANDARD,
        True,
        "pt-br",
        ("Carla Ferreira", "Tiago Santos"),
    ),
    (
        "pixel-pine",
        "Pixel & Pine Studio",
        Kind.PARTNER,
        Tier.STANDARD,
        True,
        "en",
        ("Maya Chen", "Noah Fischer"),
    ),
    (
        "lumen",
        "Lumen Commerce Partners",
        Kind.PARTNER,
        Tier.STANDARD,
        True,
        "de",
        ("Lena Braun", "Felix Wagner"),
    ),
    (
        "sol-digital",
        "Sol Digital Agência",
        Kind.PARTNER,
        Tier.STANDARD,
        True,
        "pt-br",
        ("Ana Souza", "Pedro Lima"),
    ),
    (
        "maple-street",
        "Maple Street Goods",
        Kind.MERCHANT,
        Tier.STANDARD,
        True,
        "en",
        ("Olivia Grant", "Ethan Park"),
    ),
    (
        "baltic-tea",
        "Baltic Tea House",
        Kind.MERCHANT,
        Tier.STANDARD,
        True,
        "pl",
        ("Zofia Kowalska", "Marek Wójcik"),
    ),
]

# slug, description, languages, regions, services (category, title, description, price from, to, currency)
PARTNER_PROFILES = [
    (
        "pixel-pine",
        "A small studio for theme design and store setup. We build fast, accessible stores.",
        ["en", "de", "fi"],
        ["europe", "north_america"],
        [
            (
                "theme",
                "Theme design and customization",
                "A theme that fits your brand, fast on phones.",
                "1500",
                "9000",
                "USD",
            ),
            (
                "store_setup",
                "Store setup from scratch",
                "Products, payments, shipping and a launch plan.",
                "800",
                "3000",
                "USD",
            ),
            (
                "seo",
                "Search basics for new stores",
                "Titles, descriptions and structured data done right.",
                "400",
                "1200",
                "USD",
            ),
        ],
    ),
    (
        "lumen",
        "Wir helfen Händlern beim Wachstum: Suchmaschinenoptimierung, Migration und Apps.",
        ["de", "pl", "en"],
        ["europe"],
        [
            ("seo", "SEO für Online-Shops", "Technisches SEO, Inhalte und Auswertung.", "900", "4000", "EUR"),
            (
                "migration",
                "Shop-Umzug",
                "Produkte, Kunden und Bestellungen sicher umziehen.",
                "2000",
                "12000",
                "EUR",
            ),
            (
                "apps",
                "Apps und Integrationen",
                "ERP, Versand und Buchhaltung angebunden.",
                "1500",
                "20000",
                "EUR",
            ),
        ],
    ),
    (
        "sol-digital",
        "Agência de marketing para lojas online no Brasil e em Portugal.",
        ["pt", "en"],
        ["latin_america", "europe"],
        [
            ("marketing", "Marketing e vendas", "Campanhas, e-mail e redes sociais.", "500", "5000", "BRL"),
            (
                "seo",
                "SEO para lojas",
                "Mais visitas do Google, com relatórios mensais.",
                "700",
                "3000",
                "BRL",
            ),
        ],
    ),
]

# merchant, store name, URL, owner, staff
STORES = [
    (
        "maple-street",
        "Maple Street Goods",
        "https://maple-street.example",
        "admin@maple-street.example",
        ["member@maple-street.example"],
    ),
    (
        "maple-street",
        "Maple Outlet",
        "https://outlet.maple-street.example",
        "member@maple-street.example",
        [],
    ),
    ("baltic-tea", "Baltic Tea Shop", "https://baltic-tea.example", "admin@baltic-tea.example", []),
]

# buyer, supplier, currency: three purchase orders and two invoices each
TRADING_PAIRS = [
    ("nordwind", "acme", "EUR"),
    ("nordwind", "ferro", "EUR"),
    ("mazur", "acme", "PLN"),
    ("mazur", "kettu", "PLN"),
    ("aurora", "kettu", "EUR"),
    ("aurora", "acme", "EUR"),
    ("sabia", "ferro", "BRL"),
]

# buyer: its own supplier list (name, contact email, number)
SUPPLIER_RECORDS = {
    "nordwind": [
        ("ACME Industrial Supply", "orders@acme.example", "K-1001"),
        ("Ferro Componentes", "vendas@ferro.example", "K-1002"),
        ("Kettu Packaging", "myynti@kettu.example", ""),
    ],
    "mazur": [("Acme Industrial Supply Inc.", "sales@acme-industrial.example", "D-77")],
    "aurora": [
        ("Acme Industrial", "info@acme.example", ""),
        ("Kettu Packaging Oy", "sales@kettu.example", ""),
    ],
    "sabia": [("Ferro Componentes Ltda", "contato@ferro.example", "F-01")],
}

Status = ConnectionRequest.Status
# supplier, customer, status, days ago, contact email ("" = from a suggestion), comment
CONNECTION_REQUESTS = [
    ("acme", "nordwind", Status.APPROVED, 20, "admin@nordwind.example", ""),
    ("acme", "mazur", Status.PENDING, 4, "", ""),
    ("acme", "aurora", Status.EXPIRED, 45, "admin@aurora.example", ""),
    ("kettu", "mazur", Status.APPROVED, 12, "admin@mazur.example", ""),
    (
        "kettu",
        "aurora",
        Status.REJECTED,
        9,
        "",
        "Wir kaufen Verpackungen zentral über unsere Muttergesellschaft ein.",
    ),
    ("ferro", "sabia", Status.APPROVED, 30, "admin@sabia.example", ""),
    ("ferro", "nordwind", Status.PENDING, 27, "admin@nordwind.example", ""),
]

# supplier, buyer, document number (or None), subject, [(author email, hours ago, body)]
CONVERSATIONS = [
    (
        "acme",
        "nordwind",
        "45000001",
        "Delivery date for PO 45000001",
        [
            (
                "admin@nordwind.example",
                50,
                "Hello, can you confirm the delivery date for this order?\nWe need it by Friday.",
            ),
            ("admin@acme.example", 47, "Hi Greta, yes: it ships on Wednesday and arrives Thursday."),
            (
                "member@nordwind.example",
                3,
                "Thank you! Could you send the tracking link once it ships? https://example.com/track",
            ),
        ],
    ),
    (
        "acme",
        "nordwind",
        None,
        "Price list 2027",
        [
            (
                "admin@acme.example",
                26,
                "Dear Nordwind team, our price list for 2027 is ready. Shall I send it?",
            ),
        ],
    ),
    (
        "kettu",
        "mazur",
        "INV-2026-0024",
        "Question about invoice INV-2026-0024",
        [
            (
                "admin@mazur.example",
                30,
                "Dzień dobry, the invoice total differs from the order by 12 PLN. Can you check?",
            ),
            ("admin@kettu.example", 6, "Hei! You are right, we will send a corrected invoice today."),
        ],
    ),
    (
        "ferro",
        "sabia",
        None,
        "Catálogo de peças",
        [
            ("admin@sabia.example", 80, "Olá, vocês têm o catálogo atualizado de peças?"),
            ("admin@ferro.example", 76, "Sim, segue em anexo na próxima semana."),
        ],
    ),
]

PO_STATUSES = [Document.Status.NEW, Document.Status.CONFIRMED, Document.Status.SHIPPED]
INVOICE_STATUSES = [Document.Status.SENT, Document.Status.APPROVED, Document.Status.PAID]


class Command(BaseCommand):
    help = "Loads demo organizations, people and documents. Running it again changes nothing."

    @transaction.atomic
    def handle(self, *args, **options):
        organizations = {}
        created_users = 0
        for slug, name, kind, tier, messaging, language, people in ORGANIZATIONS:
            organization, _ = Organization.objects.get_or_create(
                slug=slug,
                defaults={
                    "name": name,
                    "kind": kind,
                    "tier": tier,
                    "messaging_enabled": messaging,
                    "default_language": language,
                    "contact_email": f"contact@{slug}.example",
                    "contact_phone": "+358 9 1234567" if language == "fi" else "+49 30 1234567",
                    "address": f"{name}\nExample Street 1",
                },
            )
            organizations[slug] = organization
            for role, full_name in zip(
                (Membership.Role.ADMINISTRATOR, Membership.Role.MEMBER), people, strict=True
            ):
                local = "admin" if role == Membership.Role.ADMINISTRATOR else "member"
                user, created = self._user(f"{local}@{slug}.example", full_name)
                created_users += created
                Membership.objects.get_or_create(
                    user=user, organization=organization, defaults={"role": role}
                )

        # One person in three organizations, to show the switcher.
        sam, created = self._user("sam@parley.example", "Sam Rivera")
        created_users += created
        for slug, role in (
            ("acme", Membership.Role.ADMINISTRATOR),
            ("nordwind", Membership.Role.MEMBER),
            ("pixel-pine", Membership.Role.MEMBER),
        ):
            Membership.objects.get_or_create(
                user=sam, organization=organizations[slug], defaults={"role": role}
            )

        if not User.objects.filter(email="admin@parley.example").exists():
            User.objects.create_superuser(
                "admin@parley.example", DEMO_PASSWORD, first_name="Platform", last_name="Admin"
            )
            created_users += 1

        created_documents = 0
        for pair_index, (buyer_slug, supplier_slug, currency) in enumerate(TRADING_PAIRS):
            buyer, supplier = organizations[buyer_slug], organizations[supplier_slug]
            for n in range(5):
                is_po = n < 3
                kind = Document.Kind.PURCHASE_ORDER if is_po else Document.Kind.INVOICE
                sequence = pair_index * 10 + n + 1
                number = f"45{sequence:06d}" if is_po else f"INV-2026-{sequence:04d}"
                _, created = Document.objects.get_or_create(
                    buyer=buyer,
                    kind=kind,
                    number=number,
                    defaults={
                        "supplier": supplier,
                        "issued_on": BASE_DATE + timedelta(days=pair_index * 3 + n * 5),
                        "total": Decimal(1250 + sequence * 137) + Decimal("0.50"),
                        "currency": currency,
                        "status": (PO_STATUSES if is_po else INVOICE_STATUSES)[n % 3],
                    },
                )
                created_documents += created

        created_requests = self._connections(organizations)
        self._conversations(organizations)
        self._partners(organizations)

        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready: {len(organizations)} organizations, {created_users} new users, "
                f"{created_documents} new documents, {created_requests} new connection requests. "
                f"Password for every demo login: {DEMO_PASSWORD}"
            )
        )

    def _connections(self, organizations) -> int:
        for buyer_slug, records in SUPPLIER_RECORDS.items():
            for name, email, number in records:
                SupplierRecord.objects.get_or_create(
                    buyer=organizations[buyer_slug],
                    name=name,
                    defaults={"contact_email": email, "number": number, **record_keys(name, email)},
                )
        created = 0
        now = timezone.now()
        for supplier_slug, customer_slug, status, days_ago, email, comment in CONNECTION_REQUESTS:
            supplier, customer = organizations[supplier_slug], organizations[customer_slug]
            requested_at = now - timedelta(days=days_ago)
            answered = status in (Status.APPROVED, Status.REJECTED)
            request, was_created = ConnectionRequest.objects.get_or_create(
                supplier=supplier,
                customer=customer,
                attempt=1,
                defaults={
                    "status": status,
                    "contact_email": email,
                    "comment": comment,
                    "requested_at": requested_at,
                    "answered_at": requested_at + timedelta(days=2) if answered else None,
                },
            )
            created += was_created
            if was_created and status == Status.APPROVED:
                connection = Connection.objects.create(
                    supplier=supplier, customer=customer, request=request, created_at=request.answered_at
                )
                records = SupplierRecord.objects.filter(buyer=customer)
                connection.supplier_records.add(
                    *[r for r in records if r.email_domain.endswith(f"{supplier_slug}.example")]
                )
        return created

    def _conversations(self, organizations) -> None:
        now = timezone.now()
        for supplier_slug, buyer_slug, number, subject, thread in CONVERSATIONS:
            supplier, buyer = organizations[supplier_slug], organizations[buyer_slug]
            if Conversation.objects.filter(subject=subject, participants__organization=supplier).exists():
                continue
            document = Document.objects.filter(number=number, buyer=buyer).first() if number else None
            times = [now - timedelta(hours=hours) for _, hours, _ in thread]
            conversation = Conversation.objects.create(
                subject=subject,
                document=document,
                created_at=times[0],
                last_message_at=times[-1],
                last_message_snippet=thread[-1][2][:200],
                message_count=len(thread),
            )
            Participant.objects.bulk_create(
                [
                    Participant(conversation=conversation, organization=o, last_message_at=times[-1])
                    for o in (supplier, buyer)
                ]
            )
            for (email, _, body), sent_at in zip(thread, times, strict=True):
                author = User.objects.get(email=email)
                organization = supplier if email.endswith(f"@{supplier_slug}.example") else buyer
                Message.objects.create(
                    conversation=conversation,
                    author=author,
                    author_organization=organization,
                    body=body,
                    created_at=sent_at,
                )

        if connection.vendor == "postgresql":  # as messaging.services does for every new message
            Message.objects.filter(search_vector__isnull=True).update(
                search_vector=SearchVector("body", config="simple")
            )

    def _partners(self, organizations) -> None:
        """Partner profiles and services, merchants' stores, and requests between them, made through the
        services as people would make them."""

        def member(email: str, slug: str) -> tuple[User, Membership]:
            user = User.objects.get(email=email)
            return user, Membership.objects.get(user=user, organization=organizations[slug])

        for slug, description, languages, regions, offered in PARTNER_PROFILES:
            if PartnerProfile.objects.filter(organization=organizations[slug]).exists():
                continue
            actor, membership = member(f"admin@{slug}.example", slug)
            for category, title, text, low, high, currency in offered:
                partner_services.service_create(
                    actor=actor,
                    membership=membership,
                    category=category,
                    title=title,
                    description=text,
                    price_from=Decimal(low),
                    price_to=Decimal(high),
                    currency=currency,
                )
            partner_services.profile_update(
                actor=actor,
                membership=membership,
                description=description,
                languages=languages,
                regions=regions,
                published=True,
            )
        for slug, name, url, owner, staff in STORES:
            if Store.objects.filter(merchant=organizations[slug], name=name).exists():
                continue
            actor, membership = member(f"admin@{slug}.example", slug)
            partner_services.store_save(
                actor=actor,
                membership=membership,
                name=name,
                url=url,
                owner=User.objects.get(email=owner),
                staff=[User.objects.get(email=e) for e in staff],
            )
        if ServiceRequest.objects.exists():
            return
        olivia, olivia_membership = member("admin@maple-street.example", "maple-street")
        theme = organizations["pixel-pine"].services.get(category="theme")
        direct = partner_services.request_start(
            actor=olivia,
            membership=olivia_membership,
            service=theme,
            store=Store.objects.get(name="Maple Street Goods"),
            budget="2000_10000",
            requirements="We sell handmade home goods. Our theme feels dated and slow on phones; "
            "we would like a fresh look before the holiday season, ideally by mid December.",
        )
        maya, maya_membership = member("admin@pixel-pine.example", "pixel-pine")
        message_post(
            actor=maya,
            membership=maya_membership,
            conversation=direct.conversation,
            body="Hi Olivia, thanks for reaching out! Could you share two or three stores you like, "
            "and tell us whether you need product page changes too?",
        )
        message_post(
            actor=olivia,
            membership=olivia_membership,
            conversation=direct.conversation,
            body="Sure: we like calm, warm designs with big photos. Product pages need a size guide.",
        )
        partner_services.proposal_send(
            actor=maya,
            membership=maya_membership,
            request=direct,
            title="Holiday theme refresh",
            scope="A refreshed theme with faster pages on phones, new home page sections, and a size guide "
            "on product pages. Two rounds of changes included.",
            price=Decimal("4800"),
            currency="USD",
            delivery_date=timezone.localdate() + timedelta(days=21),
        )
        tags = [
            partner_services.tag_create(actor=maya, membership=maya_membership, name=name)
            for name in ("Priority", "Maya", "Theme work")
        ]
        partner_services.tags_add(
            actor=maya, membership=maya_membership, request=direct, tag_ids=[tags[0].pk, tags[2].pk]
        )
        zofia, zofia_membership = member("admin@baltic-tea.example", "baltic-tea")
        partner_services.match_request_send(
            actor=zofia,
            membership=zofia_membership,
            category="seo",
            store=Store.objects.get(name="Baltic Tea Shop"),
            budget="500_2000",
            language="pl",
            region="europe",
            requirements="Chcemy lepiej wypozycjonować sklep z herbatą w Polsce i w Niemczech.",
        )

    def _user(self, email: str, full_name: str) -> tuple[User, bool]:
        first_name, _, last_name = full_name.partition(" ")
        user = User.objects.filter(email=email).first()
        if user is not None:
            return user, False
        return User.objects.create_user(
            email, DEMO_PASSWORD, first_name=first_name, last_name=last_name
        ), True
