import datetime
from decimal import Decimal

import pytest
from django.http import Http404
from django.utils import timezone

from messaging.models import Conversation
from messaging.services import conversation_mark_read, message_post
from partners import selectors, services
from partners.models import Block, ConversationTag, Job, PartnerProfile, Proposal, Service, Tag
from tenants.models import Membership
from tests.factories import (
    MembershipFactory,
    MerchantFactory,
    PartnerFactory,
    PartnerProfileFactory,
    ServiceFactory,
    StoreFactory,
    contact_partner,
    reachable_partner,
)

pytestmark = pytest.mark.django_db

ADMIN, MEMBER = Membership.Role.ADMINISTRATOR, Membership.Role.MEMBER


def person(organization, role=ADMIN, first_name="Pia", last_name="Partner"):
    return MembershipFactory(
        organization=organization, role=role, user__first_name=first_name, user__last_name=last_name
    ).user


def member_of(user, organization) -> Membership:
    return Membership.objects.select_related("organization").get(user=user, organization=organization)


@pytest.fixture
def partner(db):
    return reachable_partner(name="Pixel Partners")


@pytest.fixture
def partner_admin(partner):
    return person(partner)


def tag(user, organization, name) -> Tag:
    return services.tag_create(actor=user, membership=member_of(user, organization), name=name)


def add_tags(user, request, *tags) -> None:
    services.tags_add(
        actor=user,
        membership=member_of(user, request.partner),
        request=request,
        tag_ids=[t.pk for t in tags],
    )


def propose(user, request) -> Proposal:
    return services.proposal_send(
        actor=user,
        membership=member_of(user, request.partner),
        request=request,
        title="Theme",
        scope="Build it.",
        price=Decimal("900"),
        currency="USD",
        delivery_date=timezone.localdate() + datetime.timedelta(days=10),
    )


# The partner inbox -----------------------------------------------------------------------------------------


class TestRequestInbox:
    @pytest.fixture
    def merchants(self, db):
        aino_org, bob_org, carla_org = (
            MerchantFactory(name="Kauppa Oy"),
            MerchantFactory(name="Maple Ltd"),
            MerchantFactory(name="Solo"),
        )
        return {
            "aino": person(aino_org, ADMIN, "Aino", "Virtanen"),
            "bob": person(bob_org, ADMIN, "Bob", "Builder"),
            "carla": person(carla_org, ADMIN, "Carla", "Díaz"),
        }

    @pytest.fixture
    def requests(self, partner, merchants):
        """Aino (store Nordic Goods), Bob (store Maple Crafts) and Carla (no store) contact the partner."""
        nordic = StoreFactory(
            merchant=merchants["aino"].organizations.get(),
            name="Nordic Goods",
            url="https://nordic-goods.example",
        )
        maple = StoreFactory(
            merchant=merchants["bob"].organizations.get(),
            name="Maple Crafts",
            url="https://MapleCrafts.example",
        )
        return {
            "aino": contact_partner(merchants["aino"], partner, store=nordic),
            "bob": contact_partner(merchants["bob"], partner, store=maple),
            "carla": contact_partner(merchants["carla"], partner),
        }

    def inbox(self, organization, user, **filters) -> list[str]:
        """Contact names of the rows shown, top to bottom."""
        rows = selectors.request_inbox(organization=organization, user=user, **filters)
        return [row.conversation.service_request.contact_name for row in rows]

    def test_rows_show_newest_activity_first(self, partner, partner_admin, requests):
        assert self.inbox(partner, partner_admin) == ["Carla Díaz", "Bob Builder", "Aino Virtanen"]
        propose(partner_admin, requests["aino"])
        assert self.inbox(partner, partner_admin) == ["Aino Virtanen", "Carla Díaz", "Bob Builder"]

    def test_a_row_carries_what_the_partner_sees(self, partner, partner_admin, requests):
        urgent = tag(partner_admin, partner, "Urgent")
        add_tags(partner_admin, requests["aino"], urgent)
        propose(partner_admin, requests["aino"])
        row = selectors.request_inbox(organization=partner, user=partner_admin, query="aino")[0]
        request = row.conversation.service_request
        assert (request.contact_name, request.store_name, request.store_url) == (
            "Aino Virtanen",
            "Nordic Goods",
            "https://nordic-goods.example",
        )
        assert request.merchant.name == "Kauppa Oy"
        assert request.get_stage_display() == "Proposal sent"
        assert [link.tag.name for link in request.tag_links.all()] == ["Urgent"]
        assert row.unread == 1

    def test_filter_by_one_tag(self, partner, partner_admin, requests):
        urgent = tag(partner_admin, partner, "Urgent")
        add_tags(partner_admin, requests["aino"], urgent)
        assert self.inbox(partner, partner_admin, tag_ids=[urgent.pk]) == ["Aino Virtanen"]

    def test_filter_by_several_tags_shows_conversations_with_any_of_them(
        self, partner, partner_admin, requests
    ):
        urgent, later, unused = (tag(partner_admin, partner, name) for name in ("Urgent", "Later", "Unused"))
        add_tags(partner_admin, requests["aino"], urgent, later)
        add_tags(partner_admin, requests["bob"], later)
        assert self.inbox(partner, partner_admin, tag_ids=[urgent.pk, later.pk]) == [
            "Bob Builder",
            "Aino Virtanen",
        ]
        assert self.inbox(partner, partner_admin, tag_ids=[unused.pk]) == []

    def test_another_organizations_tag_matches_nothing(self, partner, partner_admin, merchants, requests):
        other = reachable_partner(name="Other")
        other_admin = person(other)
        foreign = tag(other_admin, other, "Urgent")
        add_tags(other_admin, contact_partner(merchants["aino"], other), foreign)
        mine = tag(partner_admin, partner, "Urgent")
        add_tags(partner_admin, requests["bob"], mine)
        assert self.inbox(partner, partner_admin, tag_ids=[foreign.pk]) == []
        assert self.inbox(partner, partner_admin, tag_ids=[foreign.pk, mine.pk]) == ["Bob Builder"]
        # Even a link written by hand (no service allows it) does not let another partner's tag filter here.
        ConversationTag.objects.create(request=requests["carla"], tag=foreign)
        assert self.inbox(partner, partner_admin, tag_ids=[foreign.pk]) == []

    def test_filter_by_unread(self, partner, partner_admin, merchants, requests):
        colleague = person(partner, MEMBER, "Mikko", "Member")
        assert self.inbox(partner, partner_admin, unread=True) == [
            "Carla Díaz",
            "Bob Builder",
            "Aino Virtanen",
        ]
        for name in ("aino", "carla"):
            conversation_mark_read(user=partner_admin, conversation=requests[name].conversation, unread=None)
        assert self.inbox(partner, partner_admin, unread=True) == ["Bob Builder"]
        # Read state is the person's own: a colleague still has everything unread.
        assert len(self.inbox(partner, colleague, unread=True)) == 3
        message_post(
            actor=merchants["aino"],
            membership=member_of(merchants["aino"], requests["aino"].merchant),
            conversation=requests["aino"].conversation,
            body="Any news?",
        )
        assert self.inbox(partner, partner_admin, unread=True) == ["Aino Virtanen", "Bob Builder"]

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("virtanen", ["Aino Virtanen"]),
            ("AINO  virtanen", ["Aino Virtanen"]),
            ("díaz", ["Carla Díaz"]),
            ("DÍAZ", ["Carla Díaz"]),
            ("maple crafts", ["Bob Builder"]),
            ("NORDIC goods", ["Aino Virtanen"]),
            ("maplecrafts.EXAMPLE", ["Bob Builder"]),
            ("https://nordic-goods", ["Aino Virtanen"]),
            (".example", ["Bob Builder", "Aino Virtanen"]),
            ("Kauppa Oy", []),  # the merchant organization's name is not searched
            ("nobody", []),
            ("   ", ["Carla Díaz", "Bob Builder", "Aino Virtanen"]),
        ],
    )
    def test_search_by_contact_store_name_and_store_url(
        self, partner, partner_admin, requests, query, expected
    ):
        assert self.inbox(partner, partner_admin, query=query) == expected

    def test_filters_and_search_combine(self, partner, partner_admin, requests):
        urgent = tag(partner_admin, partner, "Urgent")
        for name in ("aino", "bob", "carla"):
            add_tags(partner_admin, requests[name], urgent)
        conversation_mark_read(user=partner_admin, conversation=requests["bob"].conversation, unread=None)
        assert self.inbox(partner, partner_admin, tag_ids=[urgent.pk], query="example") == [
            "Bob Builder",
            "Aino Virtanen",
        ]
        assert self.inbox(partner, partner_admin, tag_ids=[urgent.pk], unread=True, query="example") == [
            "Aino Virtanen"
        ]
        assert self.inbox(partner, partner_admin, unread=True, query="maple") == []

    def test_the_merchant_sees_its_own_requests_only(self, partner, merchants, requests):
        other = reachable_partner(name="Other")
        contact_partner(merchants["aino"], other)
        aino = merchants["aino"]
        rows = selectors.request_inbox(organization=aino.organizations.get(), user=aino)
        assert [row.conversation.service_request.partner.name for row in rows] == ["Other", "Pixel Partners"]
        assert all(row.unread == 0 for row in rows)  # Aino wrote them

    def test_a_partner_never_sees_another_partners_requests(
        self, partner, partner_admin, merchants, requests
    ):
        other = reachable_partner(name="Other")
        other_admin = person(other)
        theirs = contact_partner(merchants["bob"], other)
        mine = {r.pk for r in requests.values()}
        seen = {
            row.conversation_id for row in selectors.request_inbox(organization=partner, user=partner_admin)
        }
        assert seen == mine
        assert [
            row.conversation_id for row in selectors.request_inbox(organization=other, user=other_admin)
        ] == [theirs.pk]
        # Searching for the other partner's contact finds nothing either.
        assert self.inbox(partner, partner_admin, query="bob") == ["Bob Builder"]
        assert len(selectors.request_inbox(organization=partner, user=partner_admin, query="bob")) == 1

    @pytest.mark.parametrize("size", [5, 50])
    def test_query_count_does_not_grow_with_rows(
        self, partner, partner_admin, size, django_assert_num_queries
    ):
        urgent, later = tag(partner_admin, partner, "Urgent"), tag(partner_admin, partner, "Later")
        for n in range(size):
            merchant = MerchantFactory()
            user = person(merchant, ADMIN, "Contact", str(n))
            store = StoreFactory(merchant=merchant)
            add_tags(partner_admin, contact_partner(user, partner, store=store), urgent, later)
        with django_assert_num_queries(2):
            rows = list(selectors.request_inbox(organization=partner, user=partner_admin))
            selectors.tag_names_attach(rows)
            shown = [
                (
                    row.unread,
                    row.conversation.subject,
                    row.conversation.service_request.contact_name,
                    row.conversation.service_request.store_url,
                    row.conversation.service_request.merchant.name,
                    row.conversation.service_request.stage_label,
                    row.tag_names,
                )
                for row in rows
            ]
        assert len(shown) == size
        assert all(tags == ["Later", "Urgent"] for *_, tags in shown)


# Matching --------------------------------------------------------------------------------------------------


def matched(merchant, category="theme", language="en", region="europe", **kwargs) -> list:
    return selectors.match_partners(
        merchant=merchant, category=category, language=language, region=region, **kwargs
    )


class TestMatchPartners:
    @pytest.fixture
    def merchant(self, db):
        return MerchantFactory()

    def test_language_scores_two_and_region_one(self, merchant):
        region_only = reachable_partner(languages=("de",), regions=("europe",))
        neither = reachable_partner(languages=("pl",), regions=("asia_pacific",))
        language_only = reachable_partner(languages=("en",), regions=("north_america",))
        both = reachable_partner(languages=("fi", "en"), regions=("north_america", "europe"))
        assert matched(merchant, limit=4) == [both, language_only, region_only, neither]
        assert matched(merchant) == [both, language_only, region_only]

    def test_ties_go_to_the_lowest_organization_id_every_time(self, merchant):
        # Names run backwards, so an order by name would pick differently.
        tied = [reachable_partner(name=f"{letter} Partners") for letter in "EDCBA"]
        first = matched(merchant)
        assert first == tied[:3]
        assert all(matched(merchant) == first for _ in range(3))

    def test_a_category_is_required(self, merchant):
        reachable_partner(category="theme")
        seo = reachable_partner(category="seo", languages=("pl",), regions=("asia_pacific",))
        assert matched(merchant, category="seo") == [seo]
        assert matched(merchant, category="migration") == []

    def test_unreachable_and_blocking_partners_are_skipped(self, merchant):
        unpublished = reachable_partner()
        PartnerProfile.objects.filter(organization=unpublished).update(published=False)
        no_services = PartnerFactory()
        PartnerProfileFactory(organization=no_services)
        other_category = reachable_partner(category="apps")
        ServiceFactory(partner=other_category, category="seo")
        blocking = reachable_partner()
        Block.objects.create(partner=blocking, merchant=merchant)
        fitting = reachable_partner(languages=("sv",), regions=("latin_america",))
        assert matched(merchant) == [fitting]
        # A block is between two organizations: other merchants still reach the partner.
        assert blocking in matched(MerchantFactory())

    def test_a_partner_with_several_services_in_the_category_counts_once(self, merchant):
        busy = reachable_partner()
        ServiceFactory.create_batch(3, partner=busy, category="theme")
        other = reachable_partner()
        assert matched(merchant) == [busy, other]

    @pytest.mark.parametrize("size", [5, 30])
    def test_one_query_and_at_most_three_rows_whatever_the_number_of_partners(
        self, merchant, size, django_assert_num_queries
    ):
        partners = [reachable_partner(languages=("en",), regions=("europe",)) for _ in range(size)]
        for partner in partners[:2]:
            ServiceFactory(partner=partner, category="theme")
        with django_assert_num_queries(1) as captured:
            names = [partner.name for partner in matched(merchant)]
        assert names == [partner.name for partner in partners[:3]]
        sql = captured.captured_queries[0]["sql"].upper()
        assert "LIMIT 3" in sql

    def test_the_limit_is_honoured(self, merchant):
        partners = [reachable_partner() for _ in range(4)]
        assert matched(merchant, limit=1) == partners[:1]
        assert matched(merchant, limit=10) == partners


# Browsing services -----------------------------------------------------------------------------------------


class TestServiceList:
    def test_filters_and_search(self):
        merchant = MerchantFactory()
        finnish = reachable_partner(name="Suomi Design", languages=("fi",), regions=("europe",))
        american = reachable_partner(name="Yankee Themes", languages=("en",), regions=("north_america",))
        seo = ServiceFactory(partner=american, category="seo", title="Rank higher", description="Search work")
        hidden = reachable_partner(name="Hidden Themes")
        PartnerProfile.objects.filter(organization=hidden).update(published=False)

        def titles(**filters):
            return [s.partner.name for s in selectors.service_list(merchant=merchant, **filters)]

        assert titles() == ["Suomi Design", "Yankee Themes", "Yankee Themes"]
        assert titles(category="seo") == ["Yankee Themes"]
        assert titles(language="fi") == ["Suomi Design"]
        assert titles(region="north_america") == ["Yankee Themes", "Yankee Themes"]
        assert titles(query="SEARCH work") == ["Yankee Themes"]
        assert titles(query="suomi") == ["Suomi Design"]
        assert titles(query="hidden") == []
        assert titles(category="seo", language="fi") == []
        assert [s.pk for s in selectors.service_list(merchant=merchant, query="rank")] == [seo.pk]
        assert [s.partner for s in selectors.service_list(merchant=merchant, language="fi")] == [finnish]


# Access: another organization's objects are 404 ------------------------------------------------------------


class TestAccess:
    @pytest.fixture
    def world(self, partner, partner_admin):
        """The partner's request from a merchant, with a job and an invoice, and the same for another pair."""
        merchant = MerchantFactory()
        merchant_user = person(merchant, ADMIN, "Aino", "Virtanen")
        other_partner = reachable_partner()
        other_admin = person(other_partner)
        other_merchant = MerchantFactory()
        other_user = person(other_merchant, ADMIN, "Olli", "Other")

        def work(partner_user, merchant_user, request):
            proposal = propose(partner_user, request)
            services.proposal_move(
                actor=merchant_user,
                membership=member_of(merchant_user, request.merchant),
                proposal=proposal,
                to=Proposal.Status.ACCEPTED,
            )
            job = Job.objects.get(proposal=proposal)
            invoice = services.job_invoice_send(
                actor=partner_user,
                membership=member_of(partner_user, request.partner),
                job=job,
                amount=Decimal("10"),
                due_date=timezone.localdate(),
            )
            return proposal, job, invoice

        mine = contact_partner(merchant_user, partner, store=StoreFactory(merchant=merchant))
        theirs = contact_partner(other_user, other_partner, store=StoreFactory(merchant=other_merchant))
        match = services.match_request_send(
            actor=other_user,
            membership=member_of(other_user, other_merchant),
            category="theme",
            store=None,
            budget="unknown",
            language="en",
            region="europe",
            requirements="Match me.",
        )
        return {
            "merchant": merchant,
            "other_partner": other_partner,
            "other_merchant": other_merchant,
            "mine": mine,
            "theirs": theirs,
            "my_work": work(partner_admin, merchant_user, mine),
            "their_work": work(other_admin, other_user, theirs),
            "their_tag": tag(other_admin, other_partner, "Theirs"),
            "their_match": match,
        }

    def test_a_request_is_found_by_its_partner_and_its_merchant_only(self, partner, world):
        mine = world["mine"]
        assert selectors.access_request(organization=partner, id=mine.pk) == mine
        assert selectors.access_request(organization=world["merchant"], id=mine.pk) == mine
        for outsider in (world["other_partner"], world["other_merchant"]):
            with pytest.raises(Http404):
                selectors.access_request(organization=outsider, id=mine.pk)
        with pytest.raises(Http404):
            selectors.access_request(organization=partner, id=world["theirs"].pk)
        with pytest.raises(Http404):
            selectors.access_request(organization=partner, id=10**9)

    def test_proposals_jobs_and_invoices_are_found_through_their_own_request_only(self, partner, world):
        mine = world["mine"]
        proposal, job, invoice = world["my_work"]
        assert selectors.access_proposal(request=mine, id=proposal.pk) == proposal
        assert selectors.access_job(request=mine, id=job.pk) == job
        assert selectors.access_job_invoice(request=mine, id=invoice.pk) == invoice
        their_proposal, their_job, their_invoice = world["their_work"]
        with pytest.raises(Http404):
            selectors.access_proposal(request=mine, id=their_proposal.pk)
        with pytest.raises(Http404):
            selectors.access_job(request=mine, id=their_job.pk)
        with pytest.raises(Http404):
            selectors.access_job_invoice(request=mine, id=their_invoice.pk)

    def test_tags_stores_matches_and_services_of_others_are_404(self, partner, partner_admin, world):
        my_tag = tag(partner_admin, partner, "Mine")
        assert selectors.access_tag(organization=partner, id=my_tag.pk) == my_tag
        with pytest.raises(Http404):
            selectors.access_tag(organization=partner, id=world["their_tag"].pk)

        my_store = world["mine"].store
        assert selectors.access_store(merchant=world["merchant"], id=my_store.pk) == my_store
        with pytest.raises(Http404):
            selectors.access_store(merchant=world["merchant"], id=world["theirs"].store_id)
        with pytest.raises(Http404):
            selectors.access_store(merchant=partner, id=my_store.pk)

        match = world["their_match"]
        assert selectors.access_match(merchant=world["other_merchant"], id=match.pk) == match
        with pytest.raises(Http404):
            selectors.access_match(merchant=world["merchant"], id=match.pk)

        own = partner.services.get()
        assert selectors.access_own_service(partner=partner, id=own.pk) == own
        with pytest.raises(Http404):
            selectors.access_own_service(partner=partner, id=world["other_partner"].services.get().pk)

    def test_any_service_can_be_opened_for_contact_but_a_missing_one_is_404(self, partner):
        service = partner.services.get()
        assert selectors.access_service(merchant=MerchantFactory(), id=service.pk) == service
        with pytest.raises(Http404):
            selectors.access_service(merchant=MerchantFactory(), id=Service.objects.count() + 1000)

    def test_the_live_view_tells_outsiders_nothing(self, partner, world):
        mine = world["mine"]
        last_message = mine.conversation.messages.order_by("-id").first().pk
        last_record = mine.records.order_by("-id").first().pk
        news = {"request_id": mine.pk, "after_message": last_message, "after_record": last_record}
        assert selectors.timeline_has_news(organization=partner, **news) is False
        assert selectors.timeline_has_news(organization=world["merchant"], **news) is False
        assert selectors.timeline_has_news(organization=world["other_partner"], **news) is None
        assert selectors.timeline_has_news(organization=partner, **{**news, "after_record": 0}) is True

    def test_tag_lists_are_per_organization(self, partner, partner_admin, world):
        mine = tag(partner_admin, partner, "Mine")
        add_tags(partner_admin, world["mine"], mine)
        assert [(t.name, t.uses) for t in selectors.tag_list(organization=partner)] == [("Mine", 1)]
        assert [t.name for t in selectors.tag_list(organization=world["other_partner"])] == ["Theirs"]


class TestTimeline:
    def test_records_and_jobs_in_time_order(self, partner, partner_admin):
        merchant = MerchantFactory()
        user = person(merchant, ADMIN, "Aino", "Virtanen")
        request = contact_partner(user, partner)
        first = propose(partner_admin, request)
        assert selectors.pending_proposal(request=request) == first
        services.proposal_move(
            actor=user, membership=member_of(user, merchant), proposal=first, to=Proposal.Status.ACCEPTED
        )
        assert selectors.pending_proposal(request=request) is None
        assert [job.proposal for job in selectors.open_jobs(request=request)] == [first]
        assert [job.proposal for job in selectors.request_jobs(request=request)] == [first]
        records = selectors.timeline_records(request=request)
        assert [r.kind for r in records] == ["proposal_sent", "proposal_accepted"]
        assert [r.kind for r in selectors.timeline_records(request=request, after_id=records[0].pk)] == [
            "proposal_accepted"
        ]
        assert Conversation.objects.get(pk=request.pk).is_open
