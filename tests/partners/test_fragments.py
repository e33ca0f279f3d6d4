"""The partner inbox's rows come from the cache and are never stale: each fact a row shows, and each fact the
tag filter finds, either is in the key (a new message, a read) or expires this partner's rows once saved
(tags, stages, blocks, stores), and names expire every fragment (messaging.fragments)."""

import re

import pytest
from django.core.cache import cache
from django.db import transaction
from django.test import TestCase

from messaging import fragments as messaging_fragments
from messaging import services as messaging_services
from partners import fragments, services
from partners.models import Tag
from partners.views import partner as partner_views
from tests.factories import MerchantFactory, contact_partner, reachable_partner
from tests.partners.helpers import ADMINISTRATOR, HTMX, membership, person, text, url
from tests.partners.test_views import accept, send_proposal

pytestmark = pytest.mark.django_db


@pytest.fixture
def aino(merchant_admin, partner, partner_admin, store):
    """Aino's request to the partner, tagged Urgent, unread."""
    request = contact_partner(merchant_admin, partner, store=store)
    add_tags(partner_admin, request, names=["Urgent"])
    return request


@pytest.fixture
def bertil(partner, aino):
    """Bertil's request (another merchant, no store, no tag), newer than Aino's."""
    other = MerchantFactory(name="Kaffe AB")
    return contact_partner(person(other, ADMINISTRATOR, "Bertil", "Berg"), partner)


@pytest.fixture
def signed_in(client, partner_admin, aino, bertil):
    client.force_login(partner_admin)
    return client


def committed(write):
    """write() and what waits for its transaction to commit, as a request's commit would (a test's own
    transaction never commits)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return write()


def add_tags(user, request, **tags):
    return committed(
        lambda: services.tags_add(actor=user, membership=membership(user), request=request, **tags)
    )


def rows(client, partner, **params) -> dict[str, str]:
    """Each row of the inbox by its contact's name, as shown (from the cache or not)."""
    response = client.get(url("inbox", partner), params)
    assert response.status_code == 200
    found = {}
    for row in text(response).split('<li class="inbox-row')[1:]:
        found[re.search(r'inbox-counterpart">([^<]+)', row).group(1).strip()] = row
    return found


def tags_of(row: str) -> list[str]:
    return re.findall(r'<span class="tag">([^<]*)</span>', row)


def urgent(partner) -> Tag:
    return Tag.objects.get(organization=partner, name="Urgent")


@pytest.fixture
def renders(monkeypatch):
    """The times the rows were rendered, not read from the cache."""
    counted = []
    real = partner_views.render_to_string
    monkeypatch.setattr(
        partner_views, "render_to_string", lambda *a, **k: counted.append(a[0]) or real(*a, **k)
    )
    return counted


# Tags -------------------------------------------------------------------------------------------------------


def test_a_tag_put_on_a_conversation_shows_and_is_found_by_the_filter(
    signed_in, partner, partner_admin, bertil
):
    tag = urgent(partner)
    assert list(rows(signed_in, partner, tag=tag.pk)) == ["Aino Virtanen"]
    assert tags_of(rows(signed_in, partner)["Bertil Berg"]) == []
    add_tags(partner_admin, bertil, tag_ids=[tag.pk])
    assert list(rows(signed_in, partner, tag=tag.pk)) == ["Bertil Berg", "Aino Virtanen"]
    assert tags_of(rows(signed_in, partner)["Bertil Berg"]) == ["Urgent"]


def test_a_tag_put_on_through_the_page_shows_at_once(signed_in, partner, bertil):
    tag = urgent(partner)
    assert list(rows(signed_in, partner, tag=tag.pk)) == ["Aino Virtanen"]
    add = url("request_tag_add", partner, request_id=bertil.pk)
    assert committed(lambda: signed_in.post(add, {"tag": tag.pk})).status_code in (200, 302)
    assert list(rows(signed_in, partner, tag=tag.pk)) == ["Bertil Berg", "Aino Virtanen"]


def test_a_tag_taken_off_is_gone_from_the_row_and_the_filter(signed_in, partner, partner_admin, aino):
    tag = urgent(partner)
    assert tags_of(rows(signed_in, partner)["Aino Virtanen"]) == ["Urgent"]
    assert list(rows(signed_in, partner, tag=tag.pk)) == ["Aino Virtanen"]
    committed(
        lambda: services.tag_remove(
            actor=partner_admin, membership=membership(partner_admin), request=aino, tag=tag
        )
    )
    assert tags_of(rows(signed_in, partner)["Aino Virtanen"]) == []
    assert list(rows(signed_in, partner, tag=tag.pk)) == []


def test_a_renamed_tag_shows_its_new_name(signed_in, partner, partner_admin):
    tag = urgent(partner)
    assert tags_of(rows(signed_in, partner, tag=tag.pk)["Aino Virtanen"]) == ["Urgent"]
    committed(
        lambda: services.tag_rename(
            actor=partner_admin, membership=membership(partner_admin), tag=tag, name="Call back"
        )
    )
    assert tags_of(rows(signed_in, partner, tag=tag.pk)["Aino Virtanen"]) == ["Call back"]
    assert tags_of(rows(signed_in, partner)["Aino Virtanen"]) == ["Call back"]


def test_a_tag_renamed_or_deleted_in_the_admin_shows_too(signed_in, partner):
    tag = urgent(partner)
    assert tags_of(rows(signed_in, partner)["Aino Virtanen"]) == ["Urgent"]
    tag.name = "Renamed by staff"
    committed(tag.save)
    assert tags_of(rows(signed_in, partner)["Aino Virtanen"]) == ["Renamed by staff"]
    committed(tag.delete)
    assert tags_of(rows(signed_in, partner)["Aino Virtanen"]) == []


def test_a_deleted_tag_leaves_every_row(signed_in, partner, partner_admin):
    tag = urgent(partner)
    assert tags_of(rows(signed_in, partner)["Aino Virtanen"]) == ["Urgent"]
    committed(lambda: services.tag_delete(actor=partner_admin, membership=membership(partner_admin), tag=tag))
    assert tags_of(rows(signed_in, partner)["Aino Virtanen"]) == []
    # The bookmarked filter of the deleted tag now shows every conversation.
    assert list(rows(signed_in, partner, tag=tag.pk)) == ["Bertil Berg", "Aino Virtanen"]


# Stages, blocks, stores -------------------------------------------------------------------------------------


def test_proposal_and_job_moves_show_their_stage(signed_in, partner, partner_admin, merchant_admin, aino):
    tag = urgent(partner)

    def stage() -> str:
        row = rows(signed_in, partner, tag=tag.pk)["Aino Virtanen"]
        return re.search(r'<span class="badge[^"]*">([^<]+)</span>', row).group(1)

    assert stage() == "New request"
    proposal = committed(lambda: send_proposal(partner_admin, aino))
    assert stage() == "Proposal sent"
    job = committed(lambda: accept(merchant_admin, proposal))
    assert stage() == "Job open"
    for to, shown in (("completed", "Job completed"), ("closed", "Job closed")):
        committed(
            lambda to=to: services.job_move(
                actor=partner_admin, membership=membership(partner_admin), job=job, to=to
            )
        )
        assert stage() == shown


def test_a_declined_request_shows_declined(signed_in, partner, partner_admin, aino):
    assert "Declined" not in rows(signed_in, partner)["Aino Virtanen"]
    committed(
        lambda: services.request_decline(
            actor=partner_admin, membership=membership(partner_admin), request=aino, text="Not our field."
        )
    )
    row = rows(signed_in, partner)["Aino Virtanen"]
    assert "Declined" in row and "Not our field." in row


def test_a_blocked_merchants_requests_show_closed(signed_in, partner, partner_admin, aino):
    tag = urgent(partner)
    assert "Closed" not in rows(signed_in, partner, tag=tag.pk)["Aino Virtanen"]
    committed(
        lambda: services.merchant_block(
            actor=partner_admin, membership=membership(partner_admin), request=aino
        )
    )
    assert "badge-bad" in rows(signed_in, partner, tag=tag.pk)["Aino Virtanen"]
    assert "Closed" in rows(signed_in, partner)["Aino Virtanen"]


def test_a_renamed_store_shows_its_new_name(signed_in, partner, merchant_admin, store):
    assert "Nordic Socks" in rows(signed_in, partner)["Aino Virtanen"]
    committed(
        lambda: services.store_save(
            actor=merchant_admin,
            membership=membership(merchant_admin),
            store=store,
            name="Warm Socks",
            url="https://warmsocks.example",
            owner=merchant_admin,
            staff=[],
        )
    )
    row = rows(signed_in, partner)["Aino Virtanen"]
    assert "Warm Socks" in row and "warmsocks.example" in row
    assert list(rows(signed_in, partner, q="warmsocks")) == ["Aino Virtanen"]


def test_a_renamed_merchant_shows_its_new_name(signed_in, partner, merchant):
    assert "Kauppa Oy" in rows(signed_in, partner)["Aino Virtanen"]
    merchant.name = "Kauppa Group"
    committed(merchant.save)
    assert "Kauppa Group" in rows(signed_in, partner)["Aino Virtanen"]


# Messages, reads, new requests ------------------------------------------------------------------------------


def test_a_new_message_moves_the_row_up_with_its_snippet_and_unread_count(
    signed_in, partner, merchant_admin, aino
):
    assert list(rows(signed_in, partner)) == ["Bertil Berg", "Aino Virtanen"]
    committed(
        lambda: messaging_services.message_post(
            actor=merchant_admin,
            membership=membership(merchant_admin),
            conversation=aino.conversation,
            body="The socks need a winter look",
        )
    )
    shown = rows(signed_in, partner)
    assert list(shown) == ["Aino Virtanen", "Bertil Berg"]
    assert "The socks need a winter look" in shown["Aino Virtanen"]
    assert 'badge-count" title="Unread">2<' in shown["Aino Virtanen"]


def test_reading_a_conversation_clears_its_unread_mark(signed_in, partner, aino):
    tag = urgent(partner)
    assert "is-unread" in rows(signed_in, partner, tag=tag.pk)["Aino Virtanen"]
    signed_in.get(url("request", partner, request_id=aino.pk))
    assert "is-unread" not in rows(signed_in, partner, tag=tag.pk)["Aino Virtanen"]
    assert rows(signed_in, partner, unread="on").keys() == {"Bertil Berg"}


def test_a_new_request_shows_at_once(signed_in, partner):
    assert len(rows(signed_in, partner)) == 2
    carla = person(MerchantFactory(name="Carla Oy"), ADMINISTRATOR, "Carla", "Costa")
    committed(lambda: contact_partner(carla, partner))
    assert list(rows(signed_in, partner)) == ["Carla Costa", "Bertil Berg", "Aino Virtanen"]


# The cache itself -------------------------------------------------------------------------------------------


def test_rows_are_rendered_once_for_the_same_filters_however_they_are_written(
    signed_in, partner, partner_admin, bertil, renders
):
    tag = urgent(partner)
    add_tags(partner_admin, bertil, names=["Later"])
    later = Tag.objects.get(organization=partner, name="Later")
    first = rows(signed_in, partner, tag=[tag.pk, later.pk], q="a")
    assert len(renders) == 1
    # Another order, a tag twice, spaces in the search, made-up parameters, a cursor that does not parse.
    for params in (
        {"tag": [later.pk, tag.pk], "q": "a"},
        {"tag": [tag.pk, later.pk, tag.pk], "q": "  a "},
        {"tag": [tag.pk, later.pk], "q": "a", "junk": "x" * 50, "older": "not-a-cursor"},
    ):
        assert rows(signed_in, partner, **params) == first
    assert len(renders) == 1


def test_another_partners_changes_leave_these_rows_cached(signed_in, partner, renders):
    other = reachable_partner(name="Other Partner")
    other_admin = person(other, ADMINISTRATOR, "Olli", "Other")
    theirs = contact_partner(person(MerchantFactory(), ADMINISTRATOR, "Mia", "Merchant"), other)
    rows(signed_in, partner)
    generation = fragments.inbox_generation(partner.pk)
    add_tags(other_admin, theirs, names=["Theirs"])
    assert fragments.inbox_generation(partner.pk) == generation
    rows(signed_in, partner)
    assert len(renders) == 1


def test_the_generation_moves_only_after_commit(partner, django_capture_on_commit_callbacks):
    other = reachable_partner(name="Other Partner")
    before = {pk: fragments.inbox_generation(pk) for pk in (partner.pk, other.pk)}
    with django_capture_on_commit_callbacks(execute=False) as callbacks, transaction.atomic():
        fragments.inbox_expire(partner.pk, other.pk, partner.pk)
        assert {pk: fragments.inbox_generation(pk) for pk in before} == before
    assert len(callbacks) == 1
    callbacks[0]()
    after = {pk: fragments.inbox_generation(pk) for pk in before}
    assert all(after[pk] != before[pk] for pk in before)


def test_a_lost_generation_makes_the_rows_new(signed_in, partner, aino):
    assert tags_of(rows(signed_in, partner)["Aino Virtanen"]) == ["Urgent"]
    Tag.objects.filter(organization=partner).update(name="Changed behind the cache's back")
    assert tags_of(rows(signed_in, partner)["Aino Virtanen"]) == ["Urgent"]  # cached, as designed
    cache.delete(fragments.PREFIX + str(partner.pk))  # evicted, or the cache restarted
    assert tags_of(rows(signed_in, partner)["Aino Virtanen"]) == ["Changed behind the cache's back"]


def test_the_messaging_generation_expires_the_rows_too(signed_in, partner, renders):
    rows(signed_in, partner)
    cache.delete(messaging_fragments.GENERATION_KEY)
    rows(signed_in, partner)
    assert len(renders) == 2


def test_htmx_gets_the_same_rows_as_the_page(signed_in, partner):
    tag = urgent(partner)
    page = text(signed_in.get(url("inbox", partner), {"tag": tag.pk}))
    swapped = signed_in.get(
        url("inbox", partner), {"tag": tag.pk}, headers={**HTMX, "HX-Target": "request-list"}
    )
    body = text(swapped)
    assert body.lstrip().startswith('<div id="request-list"') and "<html" not in body
    assert body.strip() in page


def test_each_user_has_their_own_unread_marks(signed_in, partner, aino):
    colleague = person(partner, ADMINISTRATOR, "Pekka", "Partner")
    signed_in.get(url("request", partner, request_id=aino.pk))
    assert "is-unread" not in rows(signed_in, partner)["Aino Virtanen"]
    signed_in.force_login(colleague)
    assert "is-unread" in rows(signed_in, partner)["Aino Virtanen"]


def test_the_whole_page_is_kept_with_this_responses_tokens_written_in(signed_in, partner):
    from messaging import pages

    one, two = (text(signed_in.get(url("inbox", partner))) for _ in range(2))
    csrf = [re.search(r'"X-CSRFToken": "([^"]+)"', html).group(1) for html in (one, two)]
    assert csrf[0] != csrf[1]
    for marker in (pages.CSRF_MARKER, pages.NEXT_MARKER, pages.CLIENT_TOKEN_MARKER):
        assert marker not in one + two


def test_a_flash_message_shows_once_on_the_kept_page(signed_in, partner):
    from django.contrib import messages
    from django.contrib.messages.storage.cookie import CookieStorage
    from django.http import HttpResponse
    from django.test import RequestFactory

    signed_in.get(url("inbox", partner))
    storage = CookieStorage(RequestFactory().get("/"))
    storage.add(messages.SUCCESS, "Shown exactly once")
    response = HttpResponse()
    storage.update(response)
    signed_in.cookies[storage.cookie_name] = response.cookies[storage.cookie_name].value
    assert "Shown exactly once" in text(signed_in.get(url("inbox", partner)))
    assert "Shown exactly once" not in text(signed_in.get(url("inbox", partner)))


def test_a_role_taken_away_shows_on_the_kept_page(signed_in, partner, partner_admin):
    from tenants.models import Membership

    before = text(signed_in.get(url("inbox", partner)))
    Membership.objects.filter(user=partner_admin, organization=partner).update(role=Membership.Role.MEMBER)
    after = text(signed_in.get(url("inbox", partner)))
    assert before != after  # the navigation follows the role at once
