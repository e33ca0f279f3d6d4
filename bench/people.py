"""Who the seeded history is about: organizations of every kind, their people, connections, the partner's
profile, services, stores and tags. A mixin of seed.Seeder, which owns the random generator and the sizes."""

import datetime
from collections import defaultdict
from decimal import Decimal

from bench import common, data

BUSY_USERS = 10  # the busy supplier's people: each signs in during the run
PARTNER_USERS = 3


class People:
    def organizations_create(self) -> None:
        from tenants.models import Organization

        total = self.size.organizations
        merchants = max(2, total // 20)
        suppliers = max(2, total // 8)
        buyers = total - 1 - merchants - suppliers
        rng = self.rng
        rows = [
            Organization(
                name="Busy Supplier Industrial Supply AG",
                slug="bench-busy-supplier",
                kind=Organization.Kind.SUPPLIER,
                tier=Organization.Tier.ENTERPRISE,
            )
        ]
        rows += [
            Organization(
                name=data.company_name(rng, data.SUPPLIER_TRADES, n),
                slug=f"bench-supplier-{n}",
                kind=Organization.Kind.SUPPLIER,
                tier=Organization.Tier.ENTERPRISE,
            )
            for n in range(1, suppliers)
        ]
        rows += [
            Organization(
                name=data.company_name(rng, data.BUYER_TRADES, n),
                slug=f"bench-buyer-{n}",
                kind=Organization.Kind.BUYER,
                default_language=rng.choice(["en", "de", "pl", "pt-br", "fi"]),
            )
            for n in range(buyers)
        ]
        rows.append(
            Organization(name="Busy Partner Studio", slug="bench-partner", kind=Organization.Kind.PARTNER)
        )
        rows += [
            Organization(
                name=data.company_name(rng, data.MERCHANT_TRADES, n),
                slug=f"bench-merchant-{n}",
                kind=Organization.Kind.MERCHANT,
            )
            for n in range(merchants)
        ]
        created = Organization.objects.bulk_create(rows)
        self.busy = created[0]
        self.suppliers = [o for o in created if o.kind == Organization.Kind.SUPPLIER]
        self.buyers = [o for o in created if o.kind == Organization.Kind.BUYER]
        self.partner = next(o for o in created if o.kind == Organization.Kind.PARTNER)
        self.merchants = [o for o in created if o.kind == Organization.Kind.MERCHANT]
        self.counts["organizations"] = len(created)

    def users_create(self) -> None:
        """People of every organization; the busy supplier's and the partner's sign in during the run, the
        buyers' readers get the hourly digest. One password hash for all (hashing is slow on purpose)."""
        from django.contrib.auth.hashers import make_password

        from notifications.models import NotificationPreference
        from tenants.models import Membership, User

        password = make_password(common.PASSWORD)
        rng = self.rng
        people: list[tuple[User, int, str]] = []  # user, organization id, role

        def person(email: str, organization, role: str = "member", language: str = "") -> None:
            first, last = data.person_name(rng)
            user = User(email=email, first_name=first, last_name=last, password=password, language=language)
            people.append((user, organization.pk, role))

        for n in range(BUSY_USERS):
            person(f"busy-{n}@bench.example", self.busy, "administrator" if n == 0 else "member")
        for supplier in self.suppliers[1:]:
            for n in range(3):
                person(
                    f"{supplier.slug}-{n}@bench.example", supplier, "administrator" if n == 0 else "member"
                )
        for buyer in self.buyers:
            for n in range(2):
                person(f"{buyer.slug}-{n}@bench.example", buyer, "administrator" if n == 0 else "member")
        for n in range(PARTNER_USERS):
            person(f"partner-{n}@bench.example", self.partner, "administrator" if n == 0 else "member")
        for merchant in self.merchants:
            for n in range(2):
                person(
                    f"{merchant.slug}-{n}@bench.example", merchant, "administrator" if n == 0 else "member"
                )
        languages = ["", "de", "pl", "pt-br", "fi"]
        for n in range(self.size.digest_users):
            buyer = self.buyers[n % len(self.buyers)]
            person(f"reader-{n}@bench.example", buyer, language=languages[n % len(languages)])
        users = User.objects.bulk_create([user for user, _org, _role in people], batch_size=2000)
        Membership.objects.bulk_create(
            [
                Membership(user=user, organization_id=organization_id, role=role)
                for user, (_u, organization_id, role) in zip(users, people, strict=True)
            ],
            batch_size=2000,
        )
        self.members: dict[int, list[int]] = defaultdict(list)
        self.readers: dict[int, list[int]] = defaultdict(list)  # buyer id -> digest users
        for user, (_u, organization_id, _role) in zip(users, people, strict=True):
            if user.email.startswith("reader-"):
                self.readers[organization_id].append(user.pk)
            else:
                self.members[organization_id].append(user.pk)
        self.names = {user.pk: user.get_full_name() for user in users}
        self.emails = {user.pk: user.email for user in users}
        NotificationPreference.objects.bulk_create(
            [
                NotificationPreference(user_id=user_id, organization_id=buyer_id, messages="digest")
                for buyer_id, user_ids in self.readers.items()
                for user_id in user_ids
            ],
            batch_size=2000,
        )
        self.counts["users"] = len(users)

    def connections_create(self) -> None:
        """The busy supplier is connected with every buyer; each other supplier with up to twenty."""
        from connections.models import Connection

        rng = self.rng
        self.pairs: list[tuple[int, int]] = []
        for supplier in self.suppliers[1:]:
            for buyer in rng.sample(self.buyers, min(20, len(self.buyers))):
                self.pairs.append((supplier.pk, buyer.pk))
        since = self.hour - datetime.timedelta(days=400)
        Connection.objects.bulk_create(
            [Connection(supplier=self.busy, customer=buyer, created_at=since) for buyer in self.buyers]
            + [Connection(supplier_id=s, customer_id=b, created_at=since) for s, b in self.pairs]
        )
        self.counts["connections"] = len(self.buyers) + len(self.pairs)

    def partner_side_create(self) -> None:
        """The partner's profile, services and tags; each merchant's store."""
        from partners.models import Category, PartnerProfile, Service, Store, Tag

        PartnerProfile.objects.create(
            organization=self.partner,
            description="Themes, migrations and SEO.",
            languages=",en,",
            regions=",europe,",
            published=True,
        )
        self.services = Service.objects.bulk_create(
            Service(
                partner=self.partner,
                category=category,
                title=f"{label} by Busy Partner",
                description="Fixed-price packages.",
                price_from=Decimal(500),
                price_to=Decimal(5000),
            )
            for category, label in list(Category.choices)[:3]
        )
        self.stores = {
            merchant.pk: Store.objects.create(
                merchant=merchant,
                name=f"{merchant.name.split(' ')[0]} Shop {n}",
                url=f"https://shop{n}.example",
                owner_id=self.members[merchant.pk][0],
            )
            for n, merchant in enumerate(self.merchants)
        }
        names = ["Priority", "Waiting on merchant", "Theme", "Migration", "Invoiced", "VIP", "Follow up"]
        self.tags = Tag.objects.bulk_create(Tag(organization=self.partner, name=name) for name in names)
