"""The inbox's rows and a conversation's messages come from the cache, and are never stale: each fact they
show either is in their key (a new message, a read) or expires them all when saved (names, statuses)."""

import pytest
from django.core.cache import cache
from django.db import transaction
from django.urls import reverse

from messaging import fragments, services
from messaging.models import Conversation
from tenants.models import Membership
from tests.factories import ConnectionFactory, start_conversation
from tests.messaging.test_views import inbox_subjects, thread_bodies

pytestmark = pytest.mark.django_db


@pytest.fixture
def setting(buyer, supplier, supplier_admin, buyer_admin, client):
    ConnectionFactory(supplier=supplier, customer=buyer)
    first = start_conversation(buyer_admin, supplier, subject="Pallets", body="About the pallets")
    second = start_conversation(buyer_admin, supplier, subject="Invoice 7", body="Paid?")
    client.force_login(supplier_admin)
    return first, second


def inbox(client, organization, **params):
    return client.get(reverse("messaging:inbox", kwargs={"org_slug": organization.slug}), params)


def page(client, organization, conversation):
    kwargs = {"org_slug": organization.slug, "conversation_id": conversation.pk}
    return client.get(reverse("messaging:conversation", kwargs=kwargs))


def reply(user, conversation, body):
    membership = Membership.objects.select_related("organization").get(user=user)
    return services.message_post(actor=user, membership=membership, conversation=conversation, body=body)


def test_a_new_message_moves_its_conversation_up_with_its_snippet_and_unread_count(
    client, setting, supplier, buyer_admin
):
    first, _second = setting
    assert inbox_subjects(inbox(client, supplier)) == ["Invoice 7", "Pallets"]
    reply(buyer_admin, first, "The pallets left today")
    html = inbox(client, supplier).content.decode()
    assert inbox_subjects(inbox(client, supplier)) == ["Pallets", "Invoice 7"]
    assert "The pallets left today" in html


def test_reading_a_conversation_clears_its_unread_mark_in_the_inbox(client, setting, supplier):
    first, _second = setting
    assert inbox(client, supplier).content.decode().count("is-unread") == 2
    page(client, supplier, first)
    assert inbox(client, supplier).content.decode().count("is-unread") == 1


def test_a_renamed_organization_or_user_shows_at_once(
    client, setting, supplier, buyer, buyer_admin, django_capture_on_commit_callbacks
):
    first, _second = setting
    assert "Nordwind Handel GmbH" in inbox(client, supplier).content.decode()
    assert "Nordwind Handel GmbH" in page(client, supplier, first).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        buyer.name = "Nordwind Trading"
        buyer.save()
        buyer_admin.first_name, buyer_admin.last_name = "Greta", "Renamed"
        buyer_admin.save()
    assert "Nordwind Trading" in inbox(client, supplier).content.decode()
    thread = page(client, supplier, first).content.decode()
    assert "Nordwind Trading" in thread and "Greta Renamed" in thread


def test_a_login_does_not_expire_the_fragments(client, setting, supplier, supplier_admin):
    before = fragments.generation()
    supplier_admin.save(update_fields=["last_login"])
    assert fragments.generation() == before


def test_a_closed_conversation_shows_closed(client, setting, supplier, django_capture_on_commit_callbacks):
    first, _second = setting
    assert "Closed" not in inbox(client, supplier).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        first.status = Conversation.Status.CLOSED
        first.save(update_fields=["status"])
    assert "Closed" in inbox(client, supplier).content.decode()


def test_each_language_has_its_own_rows(client, setting, supplier, supplier_admin):
    _first, _second = setting
    assert "Unread:" in inbox(client, supplier).content.decode()
    supplier_admin.language = "de"
    supplier_admin.save(update_fields=["language"])
    assert "Ungelesen:" in inbox(client, supplier).content.decode()


def test_a_lost_generation_makes_every_fragment_new(client, setting, supplier, buyer):
    first, _second = setting
    inbox(client, supplier)
    Conversation.objects.filter(pk=first.pk).update(subject="Changed behind the cache's back")
    assert "Changed behind" not in inbox(client, supplier).content.decode()  # cached, as designed
    cache.delete(fragments.GENERATION_KEY)  # evicted, or the cache restarted
    assert "Changed behind" in inbox(client, supplier).content.decode()


def test_the_generation_moves_once_per_transaction_and_only_after_commit(django_capture_on_commit_callbacks):
    before = fragments.generation()
    with django_capture_on_commit_callbacks(execute=False) as callbacks, transaction.atomic():
        for _ in range(100):
            fragments.fragments_expire()
        assert fragments.generation() == before
    assert len(callbacks) == 1
    callbacks[0]()
    assert fragments.generation() != before


def test_htmx_asks_for_the_rows_only(client, setting, supplier):
    response = inbox(client, supplier)
    htmx = client.get(
        reverse("messaging:inbox", kwargs={"org_slug": supplier.slug}),
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="conversation-list",
    )
    body = htmx.content.decode()
    assert body.lstrip().startswith('<div id="conversation-list"') and "<html" not in body
    assert body.strip() in response.content.decode()


def test_a_new_message_shows_on_the_conversation_page(client, setting, supplier, buyer_admin):
    first, _second = setting
    assert thread_bodies(page(client, supplier, first)) == ["About the pallets"]
    reply(buyer_admin, first, "Second thought")
    assert thread_bodies(page(client, supplier, first)) == ["About the pallets", "Second thought"]


def test_made_up_parameters_make_no_new_cache_entry(client, setting, supplier, monkeypatch):
    from messaging import views

    inbox(client, supplier)
    renders = []
    real = views.render_to_string
    monkeypatch.setattr(views, "render_to_string", lambda *a, **k: renders.append(a) or real(*a, **k))
    for n in range(20):
        assert inbox(client, supplier, **{f"junk{n}": "x" * 50}).status_code == 200
    assert renders == []  # every one of them read the same cached rows


def test_deleting_a_conversation_never_loads_its_messages(
    setting, buyer_admin, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    """The fragments listen to a few models only. A listener for every model would make Django load each
    message of a cascade, bodies and all, to send it a signal (an organization's million, in memory)."""
    first, _second = setting
    for n in range(29):
        reply(buyer_admin, first, f"m{n}")
    before = fragments.generation()
    with (
        django_assert_max_num_queries(16) as captured,
        django_capture_on_commit_callbacks(execute=True),
    ):
        Conversation.objects.get(pk=first.pk).delete()
    assert not any('"messaging_message"."body"' in query["sql"] for query in captured.captured_queries)
    assert fragments.generation() != before  # and what showed the conversation is stale
