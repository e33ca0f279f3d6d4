import datetime
import uuid
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from messaging.models import Conversation, Message
from messaging.services import MessagingRefused, conversation_start, message_post
from partners import policy, selectors, services
from partners.models import (
    Block,
    ConversationTag,
    Job,
    JobInvoice,
    MatchRequest,
    PartnerProfile,
    Proposal,
    Service,
    ServiceRequest,
    Store,
    Tag,
    TimelineRecord,
)
from partners.services import PartnersRefused
from tenants.models import Membership
from tests.factories import (
    MembershipFactory,
    MerchantFactory,
    PartnerFactory,
    PartnerProfileFactory,
    ServiceFactory,
    StoreFactory,
    UserFactory,
    contact_partner,
    reachable_partner,
)

pytestmark = pytest.mark.django_db

ADMIN, MEMBER = Membership.Role.ADMINISTRATOR, Membership.Role.MEMBER


def person(organization, role=ADMIN, first_name="Aino", last_name="Virtanen"):
    return MembershipFactory(
        organization=organization, role=role, user__first_name=first_name, user__last_name=last_name
    ).user


def member_of(user, organization) -> Membership:
    return Membership.objects.select_related("organization").get(user=user, organization=organization)


def saved_rows() -> dict[str, int]:
    """What a refused action must leave as it was."""
    models = (
        Conversation,
        Message,
        ServiceRequest,
        MatchRequest,
        Proposal,
        Job,
        JobInvoice,
        TimelineRecord,
        Tag,
        ConversationTag,
        Block,
        Store,
    )
    return {model.__name__: model.objects.count() for model in models}


def in_days(days: int) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=days)


@pytest.fixture
def partner(db):
    return reachable_partner(name="Pixel Partners")


@pytest.fixture
def partner_admin(partner):
    return person(partner, ADMIN, "Pia", "Partner")


@pytest.fixture
def partner_member(partner):
    return person(partner, MEMBER, "Mikko", "Member")


@pytest.fixture
def merchant(db):
    return MerchantFactory(name="Kauppa Oy")


@pytest.fixture
def merchant_admin(merchant):
    return person(merchant, ADMIN, "Aino", "Virtanen")


@pytest.fixture
def merchant_member(merchant):
    return person(merchant, MEMBER, "Matti", "Meikäläinen")


@pytest.fixture
def store(merchant, merchant_admin):
    return StoreFactory(merchant=merchant, name="Nordic Goods", url="https://nordic-goods.example")


@pytest.fixture
def service_request(merchant_admin, partner, store):
    return contact_partner(merchant_admin, partner, store=store)


def propose(user, request, **changes) -> Proposal:
    fields = {
        "title": "New theme",
        "scope": "Design and build a theme.",
        "price": Decimal("1500"),
        "currency": "EUR",
        "delivery_date": in_days(30),
    }
    fields.update(changes)
    return services.proposal_send(
        actor=user, membership=member_of(user, request.partner), request=request, **fields
    )


def move_proposal(user, organization, proposal, to) -> Proposal:
    return services.proposal_move(
        actor=user, membership=member_of(user, organization), proposal=proposal, to=to
    )


def move_job(user, organization, job, to) -> Job:
    return services.job_move(actor=user, membership=member_of(user, organization), job=job, to=to)


def invoice(user, job, amount=Decimal("750"), due_date=None) -> JobInvoice:
    return services.job_invoice_send(
        actor=user,
        membership=member_of(user, job.request.partner),
        job=job,
        amount=amount,
        due_date=due_date or in_days(14),
    )


def start_job(partner_user, merchant_user, request, **changes) -> Job:
    proposal = propose(partner_user, request, **changes)
    move_proposal(merchant_user, request.merchant, proposal, Proposal.Status.ACCEPTED)
    return Job.objects.get(proposal=proposal)


def decline(user, request, text="Sorry, we cannot help with this.") -> None:
    services.request_decline(
        actor=user, membership=member_of(user, request.partner), request=request, text=text
    )


def block(user, request) -> Block:
    return services.merchant_block(actor=user, membership=member_of(user, request.partner), request=request)


def stage_of(request) -> str:
    return ServiceRequest.objects.get(pk=request.pk).stage


# Contact directly ------------------------------------------------------------------------------------------


class TestContactDirectly:
    def test_a_merchant_contacts_a_reachable_partner(self, merchant, merchant_admin, partner, store):
        service = partner.services.get()
        request = services.request_start(
            actor=merchant_admin,
            membership=member_of(merchant_admin, merchant),
            service=service,
            store=store,
            budget="500_2000",
            requirements="  A theme in Finnish and Swedish.  ",
        )
        assert (request.partner, request.merchant, request.contact) == (partner, merchant, merchant_admin)
        assert request.via == ServiceRequest.Via.DIRECT
        assert request.stage == ServiceRequest.Stage.REQUEST
        assert (request.contact_name, request.store_name, request.store_url) == (
            "Aino Virtanen",
            "Nordic Goods",
            "https://nordic-goods.example",
        )
        conversation = request.conversation
        assert conversation.subject == service.title
        assert set(conversation.participants.values_list("organization_id", flat=True)) == {
            partner.pk,
            merchant.pk,
        }
        first = conversation.messages.get()
        assert first.author_organization == merchant
        assert first.body == (
            f"Service needed: {service.title} (Theme design and customization)\n"
            "Store: Nordic Goods (https://nordic-goods.example)\n"
            "Budget: 500 to 2,000\n\n"
            "A theme in Finnish and Swedish."
        )

    def test_the_outline_says_when_there_is_no_store_yet(self, merchant_admin, partner):
        request = contact_partner(merchant_admin, partner, store=None, requirements="Help us start.")
        body = request.conversation.messages.get().body
        assert "Store: No store yet" in body
        assert "Budget: Not sure yet" in body
        assert body.endswith("Help us start.")
        assert (request.store, request.store_name, request.store_url) == (None, "", "")

    def test_a_member_without_a_store_may_contact_too(self, merchant_member, partner):
        request = contact_partner(merchant_member, partner)
        assert request.contact == merchant_member
        assert request.contact_name == "Matti Meikäläinen"

    @pytest.mark.parametrize(
        ("case", "reason"),
        [
            ("unpublished", "is not accepting new requests right now"),
            ("no_profile", "is not accepting new requests right now"),
            ("no_services", "offers no services yet"),
            ("blocked", "Pixel Partners does not accept messages from your organization"),
            ("partner_actor", "Only merchants can do this"),
            ("other_store", "Choose one of your stores, or no store"),
            ("empty_requirements", "Describe what you need before sending"),
            ("unknown_budget", "Choose a budget from the list"),
        ],
    )
    def test_refusals_save_nothing(
        self, case, reason, merchant, merchant_admin, partner, partner_admin, store
    ):
        service = partner.services.get()
        actor, organization, chosen_store, requirements, budget = (
            merchant_admin,
            merchant,
            store,
            "A theme.",
            "unknown",
        )
        if case == "unpublished":
            PartnerProfile.objects.filter(organization=partner).update(published=False)
        elif case == "no_profile":
            PartnerProfile.objects.filter(organization=partner).delete()
        elif case == "no_services":
            Service.objects.filter(partner=partner).delete()
        elif case == "blocked":
            Block.objects.create(partner=partner, merchant=merchant)
        elif case == "partner_actor":
            # A partner tries to start a conversation with another partner's service.
            actor, organization, chosen_store = partner_admin, partner, None
            service = reachable_partner().services.get()
        elif case == "other_store":
            chosen_store = StoreFactory(merchant=MerchantFactory())
        elif case == "empty_requirements":
            requirements = " \n\t "
        elif case == "unknown_budget":
            budget = "a lot"
        before = saved_rows()
        with pytest.raises(PartnersRefused, match=reason):
            services.request_start(
                actor=actor,
                membership=member_of(actor, organization),
                service=service,
                store=chosen_store,
                budget=budget,
                requirements=requirements,
            )
        assert saved_rows() == before

    def test_the_same_form_posted_twice_starts_one_conversation(
        self, merchant, merchant_admin, partner, store
    ):
        token = uuid.uuid4()
        sent = [
            services.request_start(
                actor=merchant_admin,
                membership=member_of(merchant_admin, merchant),
                service=partner.services.get(),
                store=store,
                budget="unknown",
                requirements="Once, please.",
                client_token=token,
            )
            for _ in range(2)
        ]
        assert sent[0].pk == sent[1].pk
        rows = saved_rows()
        assert (rows["Conversation"], rows["ServiceRequest"], rows["Message"]) == (1, 1, 1)

    def test_the_messaging_core_starts_no_conversation_between_partners_and_merchants(
        self, merchant, merchant_admin, partner, partner_admin
    ):
        for user, organization, counterpart in (
            (partner_admin, partner, merchant),
            (merchant_admin, merchant, partner),
        ):
            with pytest.raises(MessagingRefused, match="cannot be started here"):
                conversation_start(
                    actor=user,
                    membership=member_of(user, organization),
                    counterpart=counterpart,
                    subject="Hello",
                    body="Bypassing the partners app",
                )
        assert not Conversation.objects.exists()

    def test_contacting_again_without_a_token_opens_another_conversation(self, merchant_admin, partner):
        first = contact_partner(merchant_admin, partner)
        second = contact_partner(merchant_admin, partner, requirements="Another job.")
        assert first.pk != second.pk
        assert ServiceRequest.objects.filter(partner=partner).count() == 2


class TestPolicy:
    def test_only_merchants_contact_only_partners(self, merchant, partner):
        assert policy.can_contact(merchant=merchant, partner=partner)
        refused = policy.can_contact(merchant=partner, partner=reachable_partner())
        assert not refused and refused.reason == "Only merchants can contact partners."
        other_merchant = MerchantFactory()
        refused = policy.can_contact(merchant=merchant, partner=other_merchant)
        assert not refused and refused.reason == "This organization is not a partner."

    def test_a_block_names_the_partner(self, merchant, partner):
        Block.objects.create(partner=partner, merchant=merchant)
        decision = policy.can_contact(merchant=merchant, partner=partner)
        assert not decision
        assert decision.reason == "Pixel Partners does not accept messages from your organization."
        assert policy.can_contact(merchant=MerchantFactory(), partner=partner)

    def test_a_partner_is_reachable_with_a_published_profile_and_a_service(self):
        bare = PartnerFactory(name="Bare")
        assert not policy.is_reachable(bare)
        PartnerProfileFactory(organization=bare)
        decision = policy.is_reachable(bare)
        assert not decision and decision.reason == "Bare offers no services yet."
        ServiceFactory(partner=bare)
        assert policy.is_reachable(bare)


# Matching --------------------------------------------------------------------------------------------------


def send_match(user, organization, **changes) -> MatchRequest:
    fields = {
        "category": "theme",
        "store": None,
        "budget": "500_2000",
        "language": "en",
        "region": "europe",
        "requirements": "A theme for our shop.",
    }
    fields.update(changes)
    return services.match_request_send(actor=user, membership=member_of(user, organization), **fields)


class TestMatching:
    def test_the_best_three_partners_each_receive_their_own_conversation(
        self, merchant, merchant_admin, store
    ):
        best = reachable_partner(name="Both", languages=("en",), regions=("europe",))
        language_only = reachable_partner(name="Speaks", languages=("en", "fi"), regions=("asia_pacific",))
        region_only = reachable_partner(name="Nearby", languages=("de",), regions=("europe",))
        reachable_partner(name="Neither", languages=("pl",), regions=("latin_america",))
        match = send_match(merchant_admin, merchant, store=store)
        requests = list(match.requests.order_by("partner_id"))
        assert [r.partner for r in requests] == [best, language_only, region_only]
        assert len({r.conversation_id for r in requests}) == 3
        for request in requests:
            assert request.via == ServiceRequest.Via.MATCHING
            assert (request.merchant, request.store, request.language) == (merchant, store, "en")
            body = request.conversation.messages.get().body
            assert body.startswith("Service needed: Theme design and customization\n")
            assert "Store: Nordic Goods (https://nordic-goods.example)" in body
            assert "Budget: 500 to 2,000" in body
            assert "Language: English" in body
            assert body.endswith("A theme for our shop.")
        # The merchant's page lists the partners contacted.
        assert [r.partner.name for r in selectors.match_results(match=match)] == ["Both", "Nearby", "Speaks"]
        assert MatchRequest.objects.get() == match

    def test_only_partners_in_the_category_are_picked(self, merchant, merchant_admin):
        seo = reachable_partner(name="Search Pros", category="seo")
        reachable_partner(name="Themes", category="theme")
        match = send_match(merchant_admin, merchant, category="seo")
        assert [r.partner for r in match.requests.all()] == [seo]

    def test_unreachable_and_blocking_partners_are_skipped(self, merchant, merchant_admin):
        unpublished = reachable_partner(name="Hidden")
        PartnerProfile.objects.filter(organization=unpublished).update(published=False)
        other_category = reachable_partner(name="Apps only", category="apps")
        blocking = reachable_partner(name="Blocker")
        Block.objects.create(partner=blocking, merchant=merchant)
        fitting = reachable_partner(name="Fits", languages=("fi",), regions=("asia_pacific",))
        match = send_match(merchant_admin, merchant)
        assert [r.partner for r in match.requests.all()] == [fitting]
        assert not ServiceRequest.objects.filter(partner__in=[unpublished, other_category, blocking]).exists()

    def test_refused_with_nothing_saved_when_no_partner_fits(self, merchant, merchant_admin):
        reachable_partner(category="theme")
        before = saved_rows()
        with pytest.raises(PartnersRefused, match="No partner offers this service yet"):
            send_match(merchant_admin, merchant, category="migration")
        assert saved_rows() == before

    @pytest.mark.parametrize(
        ("changes", "reason"),
        [
            ({"category": "knitting"}, "Choose a category, a language and a region"),
            ({"language": "xx"}, "Choose a category, a language and a region"),
            ({"region": "moon"}, "Choose a category, a language and a region"),
            ({"budget": "infinite"}, "Choose a budget from the list"),
            ({"requirements": "   "}, "Describe what you need before sending"),
        ],
    )
    def test_bad_input_is_refused_with_nothing_saved(
        self, merchant, merchant_admin, partner, changes, reason
    ):
        before = saved_rows()
        with pytest.raises(PartnersRefused, match=reason):
            send_match(merchant_admin, merchant, **changes)
        assert saved_rows() == before

    def test_another_organizations_store_is_refused(self, merchant, merchant_admin, partner):
        theirs = StoreFactory(merchant=MerchantFactory())
        before = saved_rows()
        with pytest.raises(PartnersRefused, match="Choose one of your stores"):
            send_match(merchant_admin, merchant, store=theirs)
        assert saved_rows() == before

    def test_a_partner_cannot_send_a_matching_request(self, partner, partner_admin):
        reachable_partner()
        before = saved_rows()
        with pytest.raises(PartnersRefused, match="Only merchants can do this"):
            send_match(partner_admin, partner)
        assert saved_rows() == before

    def test_the_same_form_sent_twice_is_matched_once(self, merchant, merchant_admin):
        for _ in range(4):
            reachable_partner()
        token = uuid.uuid4()
        first = send_match(merchant_admin, merchant, client_token=token)
        again = send_match(merchant_admin, merchant, client_token=token)
        assert first == again
        rows = saved_rows()
        assert (rows["MatchRequest"], rows["ServiceRequest"], rows["Conversation"]) == (1, 3, 3)

    def test_declining_changes_nothing_in_matching(self, merchant, merchant_admin):
        partners = [reachable_partner(languages=("en",), regions=("europe",)) for _ in range(2)]
        partners += [reachable_partner(languages=("en",), regions=("asia_pacific",)) for _ in range(3)]
        admins = {p.pk: person(p, ADMIN, "Pat", str(p.pk)) for p in partners}

        def matching_inputs():
            matched = selectors.match_partners(
                merchant=merchant, category="theme", language="en", region="europe"
            )
            listed = selectors.service_list(merchant=merchant, category="theme", language="en")
            return [p.pk for p in matched], [s.pk for s in listed]

        match = send_match(merchant_admin, merchant)
        before = matching_inputs()
        for request in match.requests.all():
            decline(admins[request.partner_id], request)
        assert ServiceRequest.objects.filter(stage=ServiceRequest.Stage.DECLINED).count() == 3
        assert matching_inputs() == before
        # The same job sent again reaches the same partners.
        again = send_match(merchant_admin, merchant, requirements="The same job again.")
        assert sorted(again.requests.values_list("partner_id", flat=True)) == sorted(before[0])


# Proposals -------------------------------------------------------------------------------------------------


class TestProposals:
    def test_the_partner_sends_a_proposal(self, partner, partner_member, service_request):
        proposal = propose(partner_member, service_request, price=Decimal("1499.999"))
        assert proposal.status == Proposal.Status.SENT
        assert Proposal.objects.get().price == Decimal("1500.00")
        assert (proposal.currency, proposal.created_by) == ("EUR", partner_member)
        assert stage_of(service_request) == ServiceRequest.Stage.PROPOSAL_SENT
        record = TimelineRecord.objects.get()
        assert (record.kind, record.proposal, record.organization) == ("proposal_sent", proposal, partner)

    def test_the_limits_themselves_are_allowed(self, partner_admin, service_request):
        proposal = propose(partner_admin, service_request, price=Decimal("1000000"), delivery_date=in_days(0))
        assert proposal.price == Decimal("1000000")

    @pytest.mark.parametrize(
        ("changes", "reason"),
        [
            ({"price": Decimal("0")}, "The price must be more than zero"),
            ({"price": Decimal("-10")}, "The price must be more than zero"),
            ({"price": Decimal("0.004")}, "The price must be more than zero"),
            ({"price": Decimal("1000000.01")}, "The price can be at most 1,000,000"),
            ({"price": Decimal("1e12")}, "The price can be at most 1,000,000"),
            ({"price": Decimal("NaN")}, "The price must be more than zero"),
            ({"price": Decimal("sNaN")}, "The price must be more than zero"),
            ({"price": Decimal("Infinity")}, "The price must be more than zero"),
            ({"price": Decimal("-Infinity")}, "The price must be more than zero"),
            ({"currency": "XYZ"}, "Choose a currency from the list"),
            ({"currency": "eur"}, "Choose a currency from the list"),
            ({"delivery_date": "yesterday"}, "Choose an estimated delivery date"),
            ({"delivery_date": "in four years"}, "Choose an estimated delivery date"),
            ({"title": "   "}, "Give the proposal a title and a scope of work"),
            ({"scope": ""}, "Give the proposal a title and a scope of work"),
        ],
    )
    def test_bad_proposals_are_refused_with_nothing_saved(
        self, partner_admin, service_request, changes, reason
    ):
        if changes.get("delivery_date") == "yesterday":
            changes = {"delivery_date": in_days(-1)}
        elif changes.get("delivery_date") == "in four years":
            changes = {"delivery_date": in_days(4 * 366)}
        before = saved_rows()
        with pytest.raises(PartnersRefused, match=reason):
            propose(partner_admin, service_request, **changes)
        assert saved_rows() == before
        assert stage_of(service_request) == ServiceRequest.Stage.REQUEST

    def test_a_merchant_cannot_send_a_proposal(self, merchant, merchant_admin, service_request):
        before = saved_rows()
        with pytest.raises(PartnersRefused, match="Only partners can do this"):
            services.proposal_send(
                actor=merchant_admin,
                membership=member_of(merchant_admin, merchant),
                request=service_request,
                title="Self-made",
                scope="x",
                price=Decimal("1"),
                currency="EUR",
                delivery_date=in_days(1),
            )
        assert saved_rows() == before

    def test_one_waiting_proposal_at_a_time(self, partner, partner_admin, service_request):
        first = propose(partner_admin, service_request)
        with pytest.raises(PartnersRefused, match="A proposal is waiting for the merchant's answer"):
            propose(partner_admin, service_request, title="Second")
        assert Proposal.objects.count() == 1
        move_proposal(partner_admin, partner, first, Proposal.Status.WITHDRAWN)
        assert stage_of(service_request) == ServiceRequest.Stage.PROPOSAL_WITHDRAWN
        second = propose(partner_admin, service_request, title="Second")
        assert list(Proposal.objects.values_list("pk", "status")) == [
            (first.pk, "withdrawn"),
            (second.pk, "sent"),
        ]

    def test_accepting_starts_an_open_job(self, merchant, merchant_member, partner_admin, service_request):
        proposal = propose(partner_admin, service_request)
        move_proposal(merchant_member, merchant, proposal, Proposal.Status.ACCEPTED)
        job = Job.objects.get()
        assert (job.proposal, job.request, job.status) == (proposal, service_request, Job.Status.OPEN)
        assert Proposal.objects.get().status == Proposal.Status.ACCEPTED
        record = TimelineRecord.objects.get(kind=TimelineRecord.Kind.PROPOSAL_ACCEPTED)
        assert (record.job, record.proposal, record.actor, record.organization) == (
            job,
            proposal,
            merchant_member,
            merchant,
        )
        assert stage_of(service_request) == ServiceRequest.Stage.JOB_OPEN

    def test_the_merchant_declines(self, merchant, merchant_admin, partner_admin, service_request):
        proposal = propose(partner_admin, service_request)
        move_proposal(merchant_admin, merchant, proposal, Proposal.Status.DECLINED)
        assert Proposal.objects.get().status == Proposal.Status.DECLINED
        assert not Job.objects.exists()
        assert stage_of(service_request) == ServiceRequest.Stage.PROPOSAL_DECLINED
        assert TimelineRecord.objects.filter(kind="proposal_declined", proposal=proposal).exists()

    def test_accepting_twice_keeps_one_job(self, merchant, merchant_admin, partner_admin, service_request):
        proposal = propose(partner_admin, service_request)
        move_proposal(merchant_admin, merchant, proposal, Proposal.Status.ACCEPTED)
        before = saved_rows()
        with pytest.raises(PartnersRefused, match="its status is “Accepted”"):
            move_proposal(merchant_admin, merchant, proposal, Proposal.Status.ACCEPTED)
        assert saved_rows() == before
        assert Job.objects.count() == 1

    @pytest.mark.parametrize(
        ("first_move", "status_label"),
        [(Proposal.Status.WITHDRAWN, "Withdrawn"), (Proposal.Status.DECLINED, "Declined")],
    )
    def test_a_withdrawn_or_declined_proposal_cannot_be_accepted(
        self, partner, partner_admin, merchant, merchant_admin, service_request, first_move, status_label
    ):
        proposal = propose(partner_admin, service_request)
        if first_move == Proposal.Status.WITHDRAWN:
            move_proposal(partner_admin, partner, proposal, first_move)
        else:
            move_proposal(merchant_admin, merchant, proposal, first_move)
        before = saved_rows()
        with pytest.raises(PartnersRefused, match=f"its status is “{status_label}”"):
            move_proposal(merchant_admin, merchant, proposal, Proposal.Status.ACCEPTED)
        assert saved_rows() == before
        assert not Job.objects.exists()
        assert Proposal.objects.get().status == first_move

    def test_the_partner_cannot_accept_its_own_proposal(self, partner, partner_admin, service_request):
        proposal = propose(partner_admin, service_request)
        before = saved_rows()
        with pytest.raises(PartnersRefused, match="Only the other party can do this"):
            move_proposal(partner_admin, partner, proposal, Proposal.Status.ACCEPTED)
        assert saved_rows() == before
        assert Proposal.objects.get().status == Proposal.Status.SENT

    def test_the_merchant_cannot_withdraw(self, merchant, merchant_admin, partner_admin, service_request):
        proposal = propose(partner_admin, service_request)
        before = saved_rows()
        with pytest.raises(PartnersRefused, match="Only the other party can do this"):
            move_proposal(merchant_admin, merchant, proposal, Proposal.Status.WITHDRAWN)
        assert saved_rows() == before
        assert Proposal.objects.get().status == Proposal.Status.SENT
        assert stage_of(service_request) == ServiceRequest.Stage.PROPOSAL_SENT


# Jobs ------------------------------------------------------------------------------------------------------


@pytest.fixture
def job(partner_admin, merchant_admin, service_request):
    return start_job(partner_admin, merchant_admin, service_request)


class TestJobs:
    @pytest.mark.parametrize("closer", ["partner", "merchant"])
    def test_open_then_completed_then_closed(
        self, closer, job, partner, partner_admin, merchant, merchant_admin, service_request
    ):
        move_job(partner_admin, partner, job, Job.Status.COMPLETED)
        assert Job.objects.get().status == Job.Status.COMPLETED
        assert stage_of(service_request) == ServiceRequest.Stage.JOB_COMPLETED
        if closer == "partner":
            move_job(partner_admin, partner, job, Job.Status.CLOSED)
        else:
            move_job(merchant_admin, merchant, job, Job.Status.CLOSED)
        assert Job.objects.get().status == Job.Status.CLOSED
        assert stage_of(service_request) == ServiceRequest.Stage.JOB_CLOSED
        kinds = list(TimelineRecord.objects.filter(job=job).values_list("kind", flat=True))
        assert kinds == ["proposal_accepted", "job_completed", "job_closed"]

    @pytest.mark.parametrize(
        ("done", "side", "to", "reason"),
        [
            ([], "partner", Job.Status.CLOSED, "its status is “Open”"),
            ([], "merchant", Job.Status.CLOSED, "its status is “Open”"),
            ([], "merchant", Job.Status.COMPLETED, "Only the other party can do this"),
            ([Job.Status.COMPLETED], "partner", Job.Status.COMPLETED, "its status is “Completed”"),
            ([Job.Status.COMPLETED, Job.Status.CLOSED], "partner", Job.Status.COMPLETED, "“Closed”"),
            ([Job.Status.COMPLETED, Job.Status.CLOSED], "merchant", Job.Status.CLOSED, "“Closed”"),
            ([], "partner", Job.Status.OPEN, "its status is “Open”"),
            ([], "partner", Job.Status.DECLINED, "its status is “Open”"),
        ],
    )
    def test_moves_out_of_order_change_nothing(
        self, job, partner, partner_admin, merchant, merchant_admin, service_request, done, side, to, reason
    ):
        for status in done:
            move_job(partner_admin, partner, job, status)
        status_before, stage_before, rows_before = (
            Job.objects.get().status,
            stage_of(service_request),
            saved_rows(),
        )
        user, organization = (partner_admin, partner) if side == "partner" else (merchant_admin, merchant)
        with pytest.raises(PartnersRefused, match=reason):
            move_job(user, organization, job, to)
        assert (Job.objects.get().status, stage_of(service_request), saved_rows()) == (
            status_before,
            stage_before,
            rows_before,
        )


# Invoices --------------------------------------------------------------------------------------------------


class TestInvoices:
    def test_the_partner_invoices_an_open_job_in_its_currency(self, job, partner, partner_member):
        sent = invoice(partner_member, job, amount=Decimal("750.5"))
        stored = JobInvoice.objects.get()
        assert stored == sent
        assert (stored.amount, stored.currency, stored.status) == (Decimal("750.50"), "EUR", "open")
        assert TimelineRecord.objects.filter(kind="invoice_sent", invoice=sent, organization=partner).exists()

    def test_a_completed_job_can_be_invoiced(self, partner, partner_admin, merchant_admin, service_request):
        job = start_job(partner_admin, merchant_admin, service_request, currency="SEK")
        move_job(partner_admin, partner, job, Job.Status.COMPLETED)
        assert invoice(partner_admin, job).currency == "SEK"

    @pytest.mark.parametrize(
        ("case", "reason"),
        [
            ("declined_job", "Only an open or completed job can be invoiced; this one is “Declined”"),
            ("closed_job", "Only an open or completed job can be invoiced; this one is “Closed”"),
            ("zero", "The amount must be more than zero"),
            ("negative", "The amount must be more than zero"),
            ("a_fraction_of_a_cent", "The amount must be more than zero"),
            ("nan", "The amount must be more than zero"),
            ("too_much", "The amount can be at most 1,000,000"),
            ("past_due", "Choose a due date between today and one year from now"),
            ("far_due", "Choose a due date between today and one year from now"),
        ],
    )
    def test_refusals_save_nothing(self, job, partner, partner_admin, case, reason):
        amount, due_date = Decimal("100"), in_days(7)
        if case == "declined_job":
            decline(partner_admin, job.request)
        elif case == "closed_job":
            move_job(partner_admin, partner, job, Job.Status.COMPLETED)
            move_job(partner_admin, partner, job, Job.Status.CLOSED)
        elif case == "zero":
            amount = Decimal("0")
        elif case == "negative":
            amount = Decimal("-1")
        elif case == "a_fraction_of_a_cent":
            amount = Decimal("0.001")
        elif case == "nan":
            amount = Decimal("NaN")
        elif case == "too_much":
            amount = Decimal("1000001")
        elif case == "past_due":
            due_date = in_days(-1)
        elif case == "far_due":
            due_date = in_days(400)
        before = saved_rows()
        with pytest.raises(PartnersRefused, match=reason):
            invoice(partner_admin, job, amount=amount, due_date=due_date)
        assert saved_rows() == before

    def test_a_merchant_cannot_invoice(self, job, merchant, merchant_admin):
        before = saved_rows()
        with pytest.raises(PartnersRefused, match="Only partners can do this"):
            services.job_invoice_send(
                actor=merchant_admin,
                membership=member_of(merchant_admin, merchant),
                job=job,
                amount=Decimal("1"),
                due_date=in_days(1),
            )
        assert saved_rows() == before

    @pytest.mark.parametrize("to", [JobInvoice.Status.PAID, JobInvoice.Status.CLOSED])
    def test_the_partner_marks_an_open_invoice_paid_or_closed(self, job, partner, partner_admin, to):
        sent = invoice(partner_admin, job)
        services.job_invoice_move(
            actor=partner_admin, membership=member_of(partner_admin, partner), invoice=sent, to=to
        )
        assert JobInvoice.objects.get().status == to
        assert TimelineRecord.objects.filter(invoice=sent, kind=f"invoice_{to}").exists()

    def test_a_paid_invoice_cannot_be_closed(self, job, partner, partner_admin):
        sent = invoice(partner_admin, job)
        membership = member_of(partner_admin, partner)
        services.job_invoice_move(actor=partner_admin, membership=membership, invoice=sent, to="paid")
        before = saved_rows()
        with pytest.raises(PartnersRefused, match="its status is “Paid”"):
            services.job_invoice_move(actor=partner_admin, membership=membership, invoice=sent, to="closed")
        assert saved_rows() == before
        assert JobInvoice.objects.get().status == JobInvoice.Status.PAID

    def test_the_merchant_cannot_mark_an_invoice_paid(self, job, partner_admin, merchant, merchant_admin):
        sent = invoice(partner_admin, job)
        with pytest.raises(PartnersRefused, match="Only the other party can do this"):
            services.job_invoice_move(
                actor=merchant_admin, membership=member_of(merchant_admin, merchant), invoice=sent, to="paid"
            )
        assert JobInvoice.objects.get().status == JobInvoice.Status.OPEN


# Declining a request ---------------------------------------------------------------------------------------


class TestDecline:
    def test_declining_answers_declines_the_open_job_and_closes_the_waiting_proposal(
        self, partner, partner_member, merchant, merchant_admin, service_request
    ):
        job = start_job(partner_member, merchant_admin, service_request)
        waiting = propose(partner_member, service_request, title="Extra work")
        decline(partner_member, service_request, text="We cannot take this on, sorry.")

        last = service_request.conversation.messages.order_by("-id").first()
        assert (last.body, last.author, last.author_organization) == (
            "We cannot take this on, sorry.",
            partner_member,
            partner,
        )
        assert Job.objects.get(pk=job.pk).status == Job.Status.DECLINED
        assert Proposal.objects.get(pk=waiting.pk).status == Proposal.Status.CLOSED
        assert Proposal.objects.get(pk=job.proposal_id).status == Proposal.Status.ACCEPTED
        assert stage_of(service_request) == ServiceRequest.Stage.DECLINED
        kinds = set(TimelineRecord.objects.values_list("kind", flat=True))
        assert {"job_declined", "proposal_closed", "request_declined"} <= kinds

        conversation = Conversation.objects.get(pk=service_request.pk)
        assert conversation.is_open
        reply = message_post(
            actor=merchant_admin,
            membership=member_of(merchant_admin, merchant),
            conversation=conversation,
            body="Could you recommend someone?",
        )
        assert reply.author_organization == merchant

    def test_a_completed_job_is_not_declined(self, partner, partner_admin, merchant_admin, service_request):
        job = start_job(partner_admin, merchant_admin, service_request)
        move_job(partner_admin, partner, job, Job.Status.COMPLETED)
        decline(partner_admin, service_request)
        assert Job.objects.get().status == Job.Status.COMPLETED
        assert stage_of(service_request) == ServiceRequest.Stage.DECLINED

    def test_the_merchant_cannot_decline(self, merchant, merchant_admin, service_request):
        before = saved_rows()
        with pytest.raises(PartnersRefused, match="Only partners can do this"):
            services.request_decline(
                actor=merchant_admin,
                membership=member_of(merchant_admin, merchant),
                request=service_request,
                text="No",
            )
        assert saved_rows() == before

    def test_the_merchant_cannot_accept_a_proposal_closed_by_declining(
        self, merchant, merchant_admin, partner_admin, service_request
    ):
        proposal = propose(partner_admin, service_request)
        decline(partner_admin, service_request)
        with pytest.raises(PartnersRefused, match="its status is “Closed”"):
            move_proposal(merchant_admin, merchant, proposal, Proposal.Status.ACCEPTED)
        assert not Job.objects.exists()
        assert stage_of(service_request) == ServiceRequest.Stage.DECLINED

    def test_declining_twice_answers_once(self, partner_admin, partner_member, service_request):
        decline(partner_admin, service_request)
        before = saved_rows()
        with pytest.raises(PartnersRefused, match="already been declined"):
            decline(partner_member, service_request)
        assert saved_rows() == before

    def test_an_empty_answer_is_refused_with_nothing_saved(self, partner_admin, service_request):
        before = saved_rows()
        with pytest.raises(MessagingRefused, match="Write a message before sending"):
            decline(partner_admin, service_request, text="  ")
        assert saved_rows() == before
        assert stage_of(service_request) == ServiceRequest.Stage.REQUEST


# Blocking --------------------------------------------------------------------------------------------------


class TestBlock:
    @pytest.fixture
    def history(self, partner, partner_admin, merchant, merchant_admin, store):
        """Two conversations between the pair with work in every state, and one with another partner."""
        first = contact_partner(merchant_admin, partner, store=store)
        open_job = start_job(partner_admin, merchant_admin, first)
        open_invoice = invoice(partner_admin, open_job)
        waiting = propose(partner_admin, first, title="More work")

        second = contact_partner(merchant_admin, partner, requirements="A second job.")
        completed_job = start_job(partner_admin, merchant_admin, second)
        move_job(partner_admin, partner, completed_job, Job.Status.COMPLETED)
        paid_invoice = invoice(partner_admin, completed_job)
        services.job_invoice_move(
            actor=partner_admin, membership=member_of(partner_admin, partner), invoice=paid_invoice, to="paid"
        )

        other_partner = reachable_partner(name="Other Partners")
        other_admin = person(other_partner, ADMIN, "Olli", "Other")
        elsewhere = contact_partner(merchant_admin, other_partner)
        elsewhere_job = start_job(other_admin, merchant_admin, elsewhere)
        elsewhere_invoice = invoice(other_admin, elsewhere_job)
        return {
            "first": first,
            "second": second,
            "open_job": open_job,
            "open_invoice": open_invoice,
            "waiting": waiting,
            "completed_job": completed_job,
            "paid_invoice": paid_invoice,
            "other_partner": other_partner,
            "elsewhere": elsewhere,
            "elsewhere_job": elsewhere_job,
            "elsewhere_invoice": elsewhere_invoice,
        }

    def test_blocking_closes_everything_between_the_two_at_once(
        self, history, partner, partner_admin, merchant
    ):
        made = block(partner_admin, history["second"])
        assert Block.objects.get() == made
        assert (made.partner, made.merchant, made.created_by) == (partner, merchant, partner_admin)

        assert Proposal.objects.get(pk=history["waiting"].pk).status == Proposal.Status.CLOSED
        assert Job.objects.get(pk=history["open_job"].pk).status == Job.Status.CLOSED
        assert Job.objects.get(pk=history["completed_job"].pk).status == Job.Status.CLOSED
        assert JobInvoice.objects.get(pk=history["open_invoice"].pk).status == JobInvoice.Status.CLOSED
        assert JobInvoice.objects.get(pk=history["paid_invoice"].pk).status == JobInvoice.Status.PAID
        for name in ("first", "second"):
            request = history[name]
            assert not Conversation.objects.get(pk=request.pk).is_open
            assert stage_of(request) == ServiceRequest.Stage.CLOSED
            assert TimelineRecord.objects.filter(request=request, kind="merchant_blocked").count() == 1

        # The merchant's conversation with another partner goes on as before.
        elsewhere = history["elsewhere"]
        assert Conversation.objects.get(pk=elsewhere.pk).is_open
        assert stage_of(elsewhere) == ServiceRequest.Stage.JOB_OPEN
        assert Job.objects.get(pk=history["elsewhere_job"].pk).status == Job.Status.OPEN
        assert JobInvoice.objects.get(pk=history["elsewhere_invoice"].pk).status == JobInvoice.Status.OPEN
        assert not TimelineRecord.objects.filter(request=elsewhere, kind="merchant_blocked").exists()

    def test_afterwards_the_merchant_cannot_reach_the_partner_in_any_way(
        self, history, partner, partner_admin, merchant, merchant_admin
    ):
        block(partner_admin, history["first"])
        before = saved_rows()
        with pytest.raises(
            PartnersRefused, match="Pixel Partners does not accept messages from your organization"
        ):
            contact_partner(merchant_admin, partner)
        for name in ("first", "second"):
            with pytest.raises(MessagingRefused, match="This conversation is closed"):
                message_post(
                    actor=merchant_admin,
                    membership=member_of(merchant_admin, merchant),
                    conversation=Conversation.objects.get(pk=history[name].pk),
                    body="Hello?",
                )
        assert saved_rows() == before
        assert partner not in selectors.match_partners(
            merchant=merchant, category="theme", language="en", region="europe"
        )
        # Matching reaches the other partner only.
        match = send_match(merchant_admin, merchant)
        assert [r.partner for r in match.requests.all()] == [history["other_partner"]]
        # Nor can the partner go on working in the closed conversations.
        with pytest.raises(PartnersRefused, match="This conversation is closed"):
            propose(partner_admin, history["second"])

    def test_a_member_cannot_block(self, service_request, partner_member):
        before = saved_rows()
        with pytest.raises(PartnersRefused, match="Only administrators of this partner can block a merchant"):
            block(partner_member, service_request)
        assert saved_rows() == before
        assert Conversation.objects.get(pk=service_request.pk).is_open

    def test_a_merchant_cannot_block(self, service_request, merchant, merchant_admin):
        with pytest.raises(PartnersRefused, match="Only partners can do this"):
            services.merchant_block(
                actor=merchant_admin, membership=member_of(merchant_admin, merchant), request=service_request
            )
        assert not Block.objects.exists()

    def test_another_partners_request_cannot_be_used_to_block(self, partner_admin, merchant_admin, partner):
        other_partner = reachable_partner()
        theirs = contact_partner(merchant_admin, other_partner)
        with pytest.raises(PartnersRefused):
            services.merchant_block(
                actor=partner_admin, membership=member_of(partner_admin, partner), request=theirs
            )
        assert not Block.objects.exists()
        assert Conversation.objects.get(pk=theirs.pk).is_open

    def test_blocking_twice_is_refused(self, service_request, partner_admin):
        block(partner_admin, service_request)
        before = saved_rows()
        with pytest.raises(PartnersRefused, match="You have already blocked this merchant"):
            block(partner_admin, service_request)
        assert saved_rows() == before

    def test_the_block_stays_whatever_happens_afterwards(
        self, service_request, partner, partner_admin, merchant, merchant_admin
    ):
        block(partner_admin, service_request)
        membership = member_of(partner_admin, partner)
        # The partner edits its profile and services, and the conversation itself goes.
        services.profile_update(
            actor=partner_admin,
            membership=membership,
            description="New text",
            languages=["en"],
            regions=["europe"],
            published=True,
        )
        services.service_delete(actor=partner_admin, membership=membership, service=partner.services.get())
        ServiceFactory(partner=partner)
        Conversation.objects.filter(pk=service_request.pk).delete()
        assert Block.objects.filter(partner=partner, merchant=merchant).count() == 1
        with pytest.raises(PartnersRefused, match="does not accept messages from your organization"):
            contact_partner(merchant_admin, partner)


# Tags ------------------------------------------------------------------------------------------------------


def create_tag(user, organization, name) -> Tag:
    return services.tag_create(actor=user, membership=member_of(user, organization), name=name)


def add_tags(user, request, names=(), tag_ids=()) -> list[Tag]:
    return services.tags_add(
        actor=user,
        membership=member_of(user, request.partner),
        request=request,
        names=list(names),
        tag_ids=list(tag_ids),
    )


def names_on(request) -> list[str]:
    return [tag.name for tag in selectors.request_tags(request=request)]


@pytest.fixture
def two_requests(merchant_admin, partner):
    return (
        contact_partner(merchant_admin, partner, requirements="First"),
        contact_partner(merchant_admin, partner, requirements="Second"),
    )


class TestTags:
    def test_a_tag_is_created_for_the_partner(self, partner, partner_admin):
        tag = create_tag(partner_admin, partner, "  Rush   job ")
        assert (tag.organization, tag.name) == (partner, "Rush job")
        assert [t.name for t in selectors.tag_list(organization=partner)] == ["Rush job"]

    @pytest.mark.parametrize(
        ("existing", "again"),
        [("Urgent", "urgent"), ("Urgent", "URGENT"), ("Äpfel", "äpfel"), ("ÉTÉ", "été"), ("VIP", "  vip ")],
    )
    def test_names_are_unique_ignoring_case(self, partner, partner_admin, existing, again):
        create_tag(partner_admin, partner, existing)
        with pytest.raises(PartnersRefused, match="already exists"):
            create_tag(partner_admin, partner, again)
        assert list(Tag.objects.values_list("name", flat=True)) == [existing]

    def test_the_database_refuses_a_case_variant_too(self, partner, partner_admin):
        # Two people creating the same tag at the same moment both pass the check in Python.
        create_tag(partner_admin, partner, "Urgent")
        with pytest.raises(IntegrityError), transaction.atomic():
            Tag.objects.create(organization=partner, name="URGENT")
        assert Tag.objects.count() == 1

    def test_another_partner_may_use_the_same_name(self, partner, partner_admin):
        other = reachable_partner()
        create_tag(partner_admin, partner, "Urgent")
        create_tag(person(other), other, "urgent")
        assert Tag.objects.count() == 2

    @pytest.mark.parametrize(
        ("name", "reason"),
        [
            ("", "Write a tag name"),
            ("   \t ", "Write a tag name"),
            ("x" * 41, "at most 40 characters"),
            ("x" * 100, "at most 40 characters"),
        ],
    )
    def test_bad_names_are_refused(self, partner, partner_admin, name, reason):
        with pytest.raises(PartnersRefused, match=reason):
            create_tag(partner_admin, partner, name)
        assert not Tag.objects.exists()

    def test_forty_characters_are_allowed(self, partner, partner_admin):
        assert create_tag(partner_admin, partner, "x" * 40).name == "x" * 40

    def test_a_rename_shows_on_every_conversation(self, partner, partner_admin, two_requests):
        tag = create_tag(partner_admin, partner, "Follow up")
        for request in two_requests:
            add_tags(partner_admin, request, tag_ids=[tag.pk])
        services.tag_rename(
            actor=partner_admin, membership=member_of(partner_admin, partner), tag=tag, name="Call back"
        )
        assert [names_on(r) for r in two_requests] == [["Call back"], ["Call back"]]
        rows = selectors.request_inbox(organization=partner, user=partner_admin)
        assert [
            [link.tag.name for link in row.conversation.service_request.tag_links.all()] for row in rows
        ] == [
            ["Call back"],
            ["Call back"],
        ]

    def test_a_rename_to_another_tags_name_is_refused_but_to_its_own_case_variant_allowed(
        self, partner, partner_admin
    ):
        membership = member_of(partner_admin, partner)
        urgent = create_tag(partner_admin, partner, "Urgent")
        later = create_tag(partner_admin, partner, "Later")
        for name in ("urgent", "URGENT", " Urgent "):
            with pytest.raises(PartnersRefused, match="already exists"):
                services.tag_rename(actor=partner_admin, membership=membership, tag=later, name=name)
        assert Tag.objects.get(pk=later.pk).name == "Later"
        services.tag_rename(actor=partner_admin, membership=membership, tag=urgent, name="URGENT")
        assert Tag.objects.get(pk=urgent.pk).name == "URGENT"

    @pytest.mark.parametrize("name", ["", "y" * 41])
    def test_a_rename_to_a_bad_name_is_refused(self, partner, partner_admin, name):
        tag = create_tag(partner_admin, partner, "Keep")
        with pytest.raises(PartnersRefused):
            services.tag_rename(
                actor=partner_admin, membership=member_of(partner_admin, partner), tag=tag, name=name
            )
        assert Tag.objects.get().name == "Keep"

    def test_deleting_removes_the_tag_from_every_conversation(self, partner, partner_admin, two_requests):
        doomed = create_tag(partner_admin, partner, "Doomed")
        kept = create_tag(partner_admin, partner, "Kept")
        for request in two_requests:
            add_tags(partner_admin, request, tag_ids=[doomed.pk, kept.pk])
        services.tag_delete(actor=partner_admin, membership=member_of(partner_admin, partner), tag=doomed)
        assert [names_on(r) for r in two_requests] == [["Kept"], ["Kept"]]
        assert not Tag.objects.filter(pk=doomed.pk).exists()
        assert not ConversationTag.objects.filter(tag_id=doomed.pk).exists()

    def test_a_typed_name_creates_the_tag_once_and_then_reuses_it(self, partner, partner_admin, two_requests):
        first, second = two_requests
        add_tags(partner_admin, first, names=["Big client", "big CLIENT"])
        add_tags(partner_admin, second, names=["BIG client"])
        tag = Tag.objects.get()
        assert tag.name == "Big client"
        assert [names_on(r) for r in two_requests] == [["Big client"], ["Big client"]]

    def test_typing_the_name_of_an_existing_tag_reuses_it(self, partner, partner_admin, service_request):
        existing = create_tag(partner_admin, partner, "Äpfel")
        added = add_tags(partner_admin, service_request, names=["äpfel"])
        assert added == [existing]
        assert Tag.objects.count() == 1
        assert names_on(service_request) == ["Äpfel"]

    def test_several_tags_at_once(self, partner, partner_admin, service_request):
        existing = create_tag(partner_admin, partner, "Existing")
        add_tags(partner_admin, service_request, names=["Typed"], tag_ids=[existing.pk])
        assert names_on(service_request) == ["Existing", "Typed"]

    def test_another_organizations_tag_id_is_refused_with_nothing_saved(
        self, partner, partner_admin, service_request
    ):
        other = reachable_partner()
        foreign = create_tag(person(other), other, "Theirs")
        mine = create_tag(partner_admin, partner, "Mine")
        before = saved_rows()
        with pytest.raises(PartnersRefused, match="That tag does not exist"):
            add_tags(partner_admin, service_request, names=["Fresh"], tag_ids=[mine.pk, foreign.pk])
        assert saved_rows() == before
        assert names_on(service_request) == []
        assert not Tag.objects.filter(name="Fresh").exists()

    def test_a_bad_typed_name_saves_none_of_the_others(self, partner_admin, service_request):
        before = saved_rows()
        with pytest.raises(PartnersRefused, match="at most 40 characters"):
            add_tags(partner_admin, service_request, names=["Good", "z" * 41])
        assert saved_rows() == before

    def test_nothing_to_add_is_refused(self, partner_admin, service_request):
        with pytest.raises(PartnersRefused, match="Write a tag name"):
            add_tags(partner_admin, service_request)

    def test_the_same_tag_added_twice_stays_once(self, partner, partner_admin, service_request):
        tag = create_tag(partner_admin, partner, "Once")
        add_tags(partner_admin, service_request, tag_ids=[tag.pk, tag.pk])
        add_tags(partner_admin, service_request, tag_ids=[tag.pk])
        add_tags(partner_admin, service_request, names=["ONCE"])
        assert ConversationTag.objects.filter(request=service_request).count() == 1
        assert names_on(service_request) == ["Once"]

    def test_tags_are_shared_by_all_members(self, partner, partner_admin, partner_member, service_request):
        tag = create_tag(partner_admin, partner, "Shared")
        add_tags(partner_member, service_request, tag_ids=[tag.pk])
        services.tag_rename(
            actor=partner_member, membership=member_of(partner_member, partner), tag=tag, name="Shared by all"
        )
        assert names_on(service_request) == ["Shared by all"]
        assert [t.uses for t in selectors.tag_list(organization=partner)] == [1]

    def test_removing_a_tag_from_one_conversation_leaves_the_others(
        self, partner, partner_admin, two_requests
    ):
        tag = create_tag(partner_admin, partner, "Mixed")
        for request in two_requests:
            add_tags(partner_admin, request, tag_ids=[tag.pk])
        services.tag_remove(
            actor=partner_admin,
            membership=member_of(partner_admin, partner),
            request=two_requests[0],
            tag=tag,
        )
        assert [names_on(r) for r in two_requests] == [[], ["Mixed"]]
        assert Tag.objects.filter(pk=tag.pk).exists()

    def test_merchants_cannot_tag(self, merchant, merchant_admin, service_request):
        membership = member_of(merchant_admin, merchant)
        before = saved_rows()
        with pytest.raises(PartnersRefused, match="Only partners can do this"):
            services.tag_create(actor=merchant_admin, membership=membership, name="Mine")
        with pytest.raises(PartnersRefused, match="Only partners can do this"):
            services.tags_add(
                actor=merchant_admin, membership=membership, request=service_request, names=["Mine"]
            )
        assert saved_rows() == before

    def test_a_partner_cannot_tag_another_partners_conversation(self, partner, partner_admin, merchant_admin):
        theirs = contact_partner(merchant_admin, reachable_partner())
        before = saved_rows()
        with pytest.raises(PartnersRefused):
            services.tags_add(
                actor=partner_admin,
                membership=member_of(partner_admin, partner),
                request=theirs,
                names=["Spy"],
            )
        assert saved_rows() == before


# Stores, profiles and services -----------------------------------------------------------------------------


def save_store(
    user, organization, store=None, name="Nordic Goods", url="https://nordic.example", owner=None, staff=()
):
    return services.store_save(
        actor=user,
        membership=member_of(user, organization),
        store=store,
        name=name,
        url=url,
        owner=owner,
        staff=list(staff),
    )


class TestStores:
    def test_an_administrator_adds_a_store_with_owner_and_staff(
        self, merchant, merchant_admin, merchant_member
    ):
        store = save_store(merchant_admin, merchant, owner=merchant_admin, staff=[merchant_member])
        assert (store.merchant, store.owner, list(store.staff.all())) == (
            merchant,
            merchant_admin,
            [merchant_member],
        )
        assert list(selectors.stores_of(merchant=merchant, user=merchant_member)) == [store]
        assert selectors.store_role(store=store, user=merchant_admin) == "owner"
        assert selectors.store_role(store=store, user=merchant_member) == "staff"
        assert selectors.store_role(store=None, user=merchant_member) == "none"

    def test_renaming_a_store_shows_on_its_requests(self, merchant, merchant_admin, partner, store):
        request = contact_partner(merchant_admin, partner, store=store)
        untouched = contact_partner(merchant_admin, partner, store=None)
        save_store(merchant_admin, merchant, store=store, name="Baltic Goods", url="https://Baltic.example")
        request.refresh_from_db()
        assert (request.store_name, request.store_url) == ("Baltic Goods", "https://Baltic.example")
        assert request.search_text == "aino virtanen | baltic goods | https://baltic.example"
        untouched.refresh_from_db()
        assert (untouched.store_name, untouched.store_url) == ("", "")
        assert Store.objects.get(pk=store.pk).name == "Baltic Goods"

    @pytest.mark.parametrize("who", ["owner", "staff"])
    def test_owner_and_staff_must_be_members(self, merchant, merchant_admin, store, who):
        stranger = UserFactory()
        people = {"owner": stranger} if who == "owner" else {"staff": [stranger]}
        with pytest.raises(
            PartnersRefused, match="Store owners and staff must be members of your organization"
        ):
            save_store(merchant_admin, merchant, store=store, name="Changed", **people)
        assert Store.objects.get(pk=store.pk).name == "Nordic Goods"
        with pytest.raises(PartnersRefused, match="must be members"):
            save_store(merchant_admin, merchant, name="New store", **people)
        assert Store.objects.count() == 1

    def test_a_member_of_another_merchant_cannot_be_staff(self, merchant, merchant_admin):
        other_merchant_user = person(MerchantFactory())
        with pytest.raises(PartnersRefused, match="must be members"):
            save_store(merchant_admin, merchant, staff=[other_merchant_user])
        assert not Store.objects.exists()

    def test_only_administrators_manage_stores(self, merchant, merchant_member, store):
        with pytest.raises(PartnersRefused, match="Only administrators of this merchant"):
            save_store(merchant_member, merchant, store=store, name="Mine now")
        assert Store.objects.get().name == "Nordic Goods"

    def test_a_store_needs_a_name(self, merchant, merchant_admin, store):
        with pytest.raises(PartnersRefused, match="Give the store a name"):
            save_store(merchant_admin, merchant, store=store, name="   ")
        assert Store.objects.get().name == "Nordic Goods"

    def test_partners_have_no_stores(self, partner, partner_admin):
        with pytest.raises(PartnersRefused, match="Only merchants can do this"):
            save_store(partner_admin, partner)
        assert not Store.objects.exists()

    def test_another_merchants_store_cannot_be_changed(self, merchant, merchant_admin):
        theirs = StoreFactory(merchant=MerchantFactory(), name="Theirs")
        with pytest.raises(PartnersRefused, match="Choose one of your stores"):
            save_store(merchant_admin, merchant, store=theirs, name="Stolen")
        assert Store.objects.get(pk=theirs.pk).name == "Theirs"


class TestProfileAndServices:
    def test_an_administrator_publishes_a_profile_and_adds_a_service(self, merchant):
        newcomer = PartnerFactory(name="Newcomer")
        admin = person(newcomer)
        membership = member_of(admin, newcomer)
        services.profile_update(
            actor=admin,
            membership=membership,
            description="Shops",
            languages=["fi", "en"],
            regions=["europe"],
            published=True,
        )
        assert not policy.can_contact(merchant=merchant, partner=newcomer)
        service = services.service_create(
            actor=admin,
            membership=membership,
            category="seo",
            title="  Search   help ",
            description="We rank.",
            price_from=Decimal("100"),
            price_to=Decimal("900"),
            currency="EUR",
        )
        assert service.title == "Search help"
        assert policy.can_contact(merchant=merchant, partner=newcomer)
        assert PartnerProfile.objects.get(organization=newcomer).language_list == ["en", "fi"]
        assert list(selectors.service_list(merchant=merchant, category="seo", language="fi")) == [service]

    @pytest.mark.parametrize(
        ("changes", "reason"),
        [
            ({"languages": ["xx"]}, "Choose languages and regions from the lists"),
            ({"regions": ["moon"]}, "Choose languages and regions from the lists"),
            ({"languages": []}, "Choose at least one language before publishing"),
        ],
    )
    def test_bad_profiles_are_refused(self, partner, partner_admin, changes, reason):
        fields = {"description": "x", "languages": ["en"], "regions": ["europe"], "published": True}
        fields.update(changes)
        with pytest.raises(PartnersRefused, match=reason):
            services.profile_update(
                actor=partner_admin, membership=member_of(partner_admin, partner), **fields
            )
        assert PartnerProfile.objects.get(organization=partner).description == "We build stores."

    def test_members_cannot_edit_the_profile_or_services(self, partner, partner_member):
        membership = member_of(partner_member, partner)
        with pytest.raises(PartnersRefused, match="Only administrators of this partner"):
            services.profile_update(
                actor=partner_member,
                membership=membership,
                description="",
                languages=[],
                regions=[],
                published=False,
            )
        with pytest.raises(PartnersRefused, match="Only administrators of this partner"):
            services.service_delete(
                actor=partner_member, membership=membership, service=partner.services.get()
            )
        assert PartnerProfile.objects.get(organization=partner).published
        assert partner.services.count() == 1

    @pytest.mark.parametrize(
        ("changes", "reason"),
        [
            ({"category": "knitting"}, "Choose a category from the list"),
            ({"title": "  "}, "Give the service a title"),
            ({"price_from": Decimal("-1")}, "The price range must start at zero"),
            ({"price_to": Decimal("10")}, "The price range must start at zero"),
            ({"price_from": Decimal("NaN")}, "The price range must start at zero"),
            ({"price_to": Decimal("Infinity")}, "The price range must start at zero"),
            ({"price_to": Decimal("1000001")}, "Prices can be at most 1,000,000"),
            ({"currency": "XYZ"}, "Choose a currency from the list"),
        ],
    )
    def test_bad_services_are_refused(self, partner, partner_admin, changes, reason):
        fields = {
            "category": "theme",
            "title": "Theme",
            "description": "x",
            "price_from": Decimal("100"),
            "price_to": Decimal("200"),
            "currency": "USD",
        }
        fields.update(changes)
        with pytest.raises(PartnersRefused, match=reason):
            services.service_create(
                actor=partner_admin, membership=member_of(partner_admin, partner), **fields
            )
        assert partner.services.count() == 1
