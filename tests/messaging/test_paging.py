"""Inbox pages walk a cursor, not an OFFSET and a COUNT: every row once, either way, whatever arrives."""

import datetime
import re

import pytest
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from messaging.models import Participant
from messaging.paging import cursor_of, cursor_parse, keyset_page
from tests.factories import ConnectionFactory, start_conversation
from tests.messaging.test_views import inbox_subjects

pytestmark = pytest.mark.django_db


@pytest.fixture
def many(buyer, supplier, buyer_admin, supplier_admin, client, settings):
    settings.PAGE_SIZE = 50
    ConnectionFactory(supplier=supplier, customer=buyer)
    for n in range(120):
        start_conversation(buyer_admin, supplier, subject=f"S{n:03}")
    # Some share a moment, so the id decides between them.
    moment = timezone.now() - datetime.timedelta(days=1)
    Participant.objects.filter(conversation__subject__in=["S010", "S011", "S012"]).update(
        last_message_at=moment
    )
    client.force_login(supplier_admin)
    return supplier


def next_link(response, rel: str) -> str | None:
    found = re.search(rf'<a href="(\?[^"]*)" rel="{rel}"', response.content.decode())
    return found[1].replace("&amp;", "&") if found else None


def test_older_then_newer_walks_every_row_once(client, many):
    base = reverse("messaging:inbox", kwargs={"org_slug": many.slug})
    pages, response = [], client.get(base)
    while True:
        pages.append(inbox_subjects(response))
        link = next_link(response, "next")
        if link is None:
            break
        response = client.get(base + link)
    assert [len(p) for p in pages] == [50, 50, 20]
    seen = [subject for page in pages for subject in page]
    assert len(set(seen)) == 120
    # Back from the last page: the middle page again, then the first.
    back = client.get(base + next_link(response, "prev"))
    assert inbox_subjects(back) == pages[1]
    first = client.get(base + next_link(back, "prev"))
    assert inbox_subjects(first) == pages[0]
    assert next_link(first, "prev") is None


def test_filters_and_every_value_stay_in_the_links(client, many):
    base = reverse("messaging:inbox", kwargs={"org_slug": many.slug})
    response = client.get(base, {"q": "S", "filter": "unread"})
    link = next_link(response, "next")
    assert "q=S" in link and "filter=unread" in link and "older=" in link


@pytest.mark.parametrize(
    "junk", ["", "abc", "1.2.3", "-5.1", "9" * 30 + ".1", "1." + "9" * 30, "99999999999999999.1"]
)
def test_a_careless_or_hostile_cursor_shows_the_first_page(client, many, junk):
    base = reverse("messaging:inbox", kwargs={"org_slug": many.slug})
    first = inbox_subjects(client.get(base))
    for name in ("older", "newer"):
        response = client.get(base, {name: junk})
        assert response.status_code == 200
        assert inbox_subjects(response) == first


def test_the_cursor_round_trips_to_the_microsecond(many):
    row = Participant.objects.filter(organization=many).first()
    moment, pk = cursor_parse(cursor_of(row))
    assert (moment, pk) == (row.last_message_at, row.pk)


def test_a_page_is_one_query(many, django_assert_num_queries):
    rows = Participant.objects.filter(organization=many)
    with django_assert_num_queries(1):
        page = keyset_page(rows, QueryDict(), size=50)
    with django_assert_num_queries(1):
        keyset_page(rows, QueryDict(f"older={page.older}"), size=50)
