"""The inbox's rows and a conversation's messages come from the cache, and are never stale: each fact they
show either is in their key (a new message, a read) or expires them all when saved (names, statuses)."""

import re

import pytest
from django.contrib import messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.cache import cache
from django.db import transaction
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse

from connections.models import Connection
from messaging import fragments, services
from messaging.models import Conversation
from tenants.models import Membership, Organization
from tests.factories import BuyerFactory, ConnectionFactory, MembershipFactory, start_conversation
from tests.messaging.test_views import inbox_subjects, thread_bodies, token_of

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
    from messaging import pages, views

    inbox(client, supplier)
    renders = []
    real = views.render_to_string
    for module in (views, pages):
        monkeypatch.setattr(module, "render_to_string", lambda *a, **k: renders.append(a) or real(*a, **k))
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


# The inbox and conversation pages are cached whole (messaging.views): the tests below change what the page
# shows behind the fragments' generation, so only the page's key can make them show.


def csrf_of(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def test_the_composer_gives_way_when_the_connection_ends(client, setting, supplier, buyer):
    first, _second = setting
    assert 'name="body"' in page(client, supplier, first).content.decode()
    Connection.objects.filter(supplier=supplier, customer=buyer).delete()  # expires no fragment
    html = page(client, supplier, first).content.decode()
    assert 'name="body"' not in html and "You are not connected with" in html


def test_a_counterpart_turning_messaging_off_shows_its_contact_card(client, setting, supplier, buyer):
    first, _second = setting
    page(client, supplier, first)
    buyers = Organization.objects.filter(pk=buyer.pk)  # updates that expire no fragment
    buyers.update(messaging_enabled=False, contact_phone="+49 40 123")
    html = page(client, supplier, first).content.decode()
    assert 'name="body"' not in html and "+49 40 123" in html
    buyers.update(contact_phone="+49 40 999")
    assert "+49 40 999" in page(client, supplier, first).content.decode()


@pytest.mark.parametrize("show", [inbox, lambda client, org, conversation: page(client, org, conversation)])
def test_a_new_role_or_organization_shows_in_the_menus_at_once(
    client, setting, supplier, supplier_admin, show
):
    first, _second = setting

    def shown():
        return (
            show(client, supplier, first).content.decode()
            if show is not inbox
            else inbox(client, supplier).content.decode()
        )

    assert "Connection requests" in shown()
    Membership.objects.filter(user=supplier_admin).update(role=Membership.Role.MEMBER)  # expires no fragment
    assert "Connection requests" not in shown()
    MembershipFactory(user=supplier_admin, organization=BuyerFactory(name="Third Trading Oy"))
    assert "Third Trading Oy" in shown()


def test_every_response_gets_its_own_tokens_and_a_cached_page_can_be_sent(setting, supplier, supplier_admin):
    from messaging import pages

    first, _second = setting
    client = Client(enforce_csrf_checks=True)
    client.force_login(supplier_admin)
    one, two = (page(client, supplier, first).content.decode() for _ in range(2))
    assert token_of(one) != token_of(two) and csrf_of(one) != csrf_of(two)
    for marker in (pages.CSRF_MARKER, pages.NEXT_MARKER, pages.CLIENT_TOKEN_MARKER):
        assert marker not in one + two
    assert f'"X-CSRFToken": "{csrf_of(two)}"' in two
    kwargs = {"org_slug": supplier.slug, "conversation_id": first.pk}
    data = {
        "body": "Sent from a cached page",
        "client_token": token_of(two),
        "csrfmiddlewaretoken": csrf_of(two),
    }
    assert client.post(reverse("messaging:conversation", kwargs=kwargs), data).status_code == 302
    assert thread_bodies(page(client, supplier, first))[-1] == "Sent from a cached page"


def test_the_language_form_returns_to_the_very_address_asked(client, setting, supplier):
    inbox(client, supplier)
    html = inbox(client, supplier, q="Pallets", junk="<x>").content.decode()
    path = reverse("messaging:inbox", kwargs={"org_slug": supplier.slug})
    assert f'name="next" value="{path}?q=Pallets&amp;junk=%3Cx%3E"' in html
    assert 'value="Pallets"' in html  # and the search box shows what was typed


def test_a_flash_message_shows_once_on_a_cached_page(client, setting, supplier):
    first, _second = setting
    page(client, supplier, first)
    storage = CookieStorage(RequestFactory().get("/"))
    storage.add(messages.SUCCESS, "Shown exactly once")
    response = HttpResponse()
    storage.update(response)
    client.cookies[storage.cookie_name] = response.cookies[storage.cookie_name].value
    assert "Shown exactly once" in page(client, supplier, first).content.decode()
    assert "Shown exactly once" not in page(client, supplier, first).content.decode()


def test_a_deploy_renders_the_pages_anew(client, setting, supplier, monkeypatch):
    from messaging import pages, views

    first, _second = setting
    page(client, supplier, first), inbox(client, supplier)  # read first: the inbox's rows stay as they are
    renders = []
    real = views.render_to_string
    for module in (views, pages):
        monkeypatch.setattr(module, "render_to_string", lambda *a, **k: renders.append(a[0]) or real(*a, **k))
    page(client, supplier, first), inbox(client, supplier)
    assert renders == []
    monkeypatch.setattr(pages, "build", lambda: "the next release")
    inbox(client, supplier), page(client, supplier, first)
    assert renders == ["messaging/inbox.html", "messaging/conversation.html"]  # the pages, not their rows
