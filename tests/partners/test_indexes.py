"""The partner inbox's tag filter and search read indexes, not whole tables (PostgreSQL, where it counts)."""

import pytest

from partners import selectors, services
from partners.models import ConversationTag, ServiceRequest
from tests.factories import MembershipFactory, MerchantFactory, contact_partner, reachable_partner
from tests.plans import plan, postgresql_only

pytestmark = [pytest.mark.django_db, postgresql_only]


@pytest.fixture
def partner_with_request():
    partner = reachable_partner()
    user = MembershipFactory(organization=MerchantFactory()).user
    contact_partner(user, partner)
    return partner, MembershipFactory(organization=partner).user


def test_search_by_contact_or_store_uses_the_trigram_index(partner_with_request):
    partner, user = partner_with_request
    rows = selectors.request_inbox(organization=partner, user=user, query="Maple")
    assert len(rows) == 0
    # The inbox's search condition, on its own table: a substring anywhere is found through the index.
    matches = ServiceRequest.objects.filter(search_text__contains="maple").values("pk")
    assert "partners_request_search_trgm" in plan(matches)


def test_tag_filter_reads_conversations_by_tag(partner_with_request):
    partner, user = partner_with_request
    tag = services.tag_create(
        actor=user, membership=user.memberships.get(organization=partner), name="Urgent"
    )
    assert list(selectors.request_inbox(organization=partner, user=user, tag_ids=[tag.pk])) == []
    tagged = ConversationTag.objects.filter(tag_id__in=[tag.pk]).values("request_id")
    assert "conversation_tag_by_tag" in plan(tagged)
