"""The partners pages through the test client, as a partner's and a merchant's people use them."""

import datetime
import re
from decimal import Decimal
from html import unescape

import pytest
from django.utils import timezone, translation

from messaging import services as messaging_services
from messaging.models import Conversation, Message
from partners import services
from partners.forms import default_decline_text
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
from tests.factories import (
    MerchantFactory,
    PartnerFactory,
    PartnerProfileFactory,
    ServiceFactory,
    StoreFactory,
    contact_partner,
    reachable_partner,
)
from tests.partners.helpers import ADMINISTRATOR, HTMX, MEMBER, membership, person, text, url

pytestmark = pytest.mark.django_db

FUTURE = timezone.localdate() + datetime.timedelta(days=30)


def inbox_contacts(response) -> list[str]:
    """The contact names of the partner inbox's rows, top to bottom, as the page shows them (the rows may
    come from the cache, with no context)."""
    return [name.strip() for name in re.findall(r'inbox-counterpart">([^<]+)', text(response))]


def inbox_request_ids(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'class="inbox-link" href="[^"]*/requests/(\d+)/"', text(response))]


def request_list(response) -> str:
    """The partner inbox's rows and paging, everything from the list on (the page's CSRF token is before)."""
    return text(response).split('<div id="request-list"', 1)[1]


def flash(client, response) -> str:
    """The page a redirect leads to, where the flash message shows."""
    assert response.status_code == 302
    return text(client.get(response.url))


@pytest.fixture
def service_request(merchant_admin, partner, store):
    return contact_partner(merchant_admin, partner, store=store, requirements="A winter theme, please.")


def send_proposal(partner_admin, service_request, **change):
    data = {
        "title": "Winter theme",
        "scope": "Design and build the theme.",
        "price": Decimal("1500"),
        "currency": "EUR",
        "delivery_date": FUTURE,
        **change,
    }
    return services.proposal_send(
        actor=partner_admin, membership=membership(partner_admin), request=service_request, **data
    )


def accept(merchant_admin, proposal):
    services.proposal_move(
        actor=merchant_admin, membership=membership(merchant_admin), proposal=proposal, to="accepted"
    )
    return Job.objects.get(proposal=proposal)


def mark_read(user, service_request):
    messaging_services.conversation_mark_read(
        user=user, conversation=service_request.conversation, unread=None
    )


def tag(partner_admin, service_request, *names):
    return services.tags_add(
        actor=partner_admin, membership=membership(partner_admin), request=service_request, names=list(names)
    )


# Partner inbox ----------------------------------------------------------------------------------------------


class TestPartnerInbox:
    @pytest.fixture
    def three(self, partner, partner_admin, merchant, merchant_admin, store):
        """Aino (Nordic Socks, Urgent, unread), Bertil (Coffee Corner, Later, read), Carla (no store,
        unread)."""
        other = MerchantFactory(name="Kaffe AB")
        bertil = person(other, ADMINISTRATOR, "Bertil", "Berg")
        coffee = StoreFactory(
            merchant=other, name="Coffee Corner", url="https://coffee.example", owner=bertil
        )
        carla = person(merchant, MEMBER, "Carla", "Costa")
        aino_request = contact_partner(merchant_admin, partner, store=store)
        bertil_request = contact_partner(bertil, partner, store=coffee)
        carla_request = contact_partner(carla, partner)
        tag(partner_admin, aino_request, "Urgent")
        tag(partner_admin, bertil_request, "Later")
        mark_read(partner_admin, bertil_request)
        return aino_request, bertil_request, carla_request

    def contacts(self, client, partner, **params):
        response = client.get(url("inbox", partner), params)
        assert response.status_code == 200
        return inbox_contacts(response)

    def test_rows_show_contact_store_tags_unread_and_stage(
        self, client, three, partner, partner_admin, merchant_admin
    ):
        aino_request, _bertil, _carla = three
        send_proposal(partner_admin, aino_request)
        client.force_login(partner_admin)
        html = text(client.get(url("inbox", partner)))
        rows = html.split('<li class="inbox-row')[1:]
        assert len(rows) == 3
        by_name = {re.search(r'inbox-counterpart">([^<]+)', row).group(1).strip(): row for row in rows}
        aino = by_name["Aino Virtanen"]
        assert "Nordic Socks" in aino and "https://nordicsocks.example" in aino
        assert '<span class="tag">Urgent</span>' in aino
        assert "is-unread" in aino and "Proposal sent" in aino
        bertil = by_name["Bertil Berg"]
        assert "Coffee Corner" in bertil and "https://coffee.example" in bertil and "Kaffe AB" in bertil
        assert (
            '<span class="tag">Later</span>' in bertil
            and "is-unread" not in bertil
            and "New request" in bertil
        )
        carla = by_name["Carla Costa"]
        assert "No store yet" in carla and "is-unread" in carla and 'class="tag"' not in carla

    def test_newest_activity_first_and_opening_marks_read(self, client, three, partner, partner_admin):
        aino_request, _bertil, _carla = three
        client.force_login(partner_admin)
        assert self.contacts(client, partner) == ["Carla Costa", "Bertil Berg", "Aino Virtanen"]
        send_proposal(partner_admin, aino_request)  # a proposal is news: the conversation moves up
        assert self.contacts(client, partner) == ["Aino Virtanen", "Carla Costa", "Bertil Berg"]
        client.get(url("request", partner, request_id=aino_request.pk))
        assert self.contacts(client, partner, unread="on") == ["Carla Costa"]

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"tag": ["Urgent"]}, ["Aino Virtanen"]),
            ({"tag": ["Urgent", "Later"]}, ["Bertil Berg", "Aino Virtanen"]),
            ({"unread": "on"}, ["Carla Costa", "Aino Virtanen"]),
            ({"q": "coffee"}, ["Bertil Berg"]),  # store name
            ({"q": "NORDICSOCKS.example"}, ["Aino Virtanen"]),  # store URL, any case
            ({"q": "carla"}, ["Carla Costa"]),  # contact name
            ({"q": "  Aino   Virtanen "}, ["Aino Virtanen"]),  # spaces as typed
            ({"tag": ["Urgent"], "unread": "on", "q": "aino"}, ["Aino Virtanen"]),
            ({"tag": ["Urgent", "Later"], "unread": "on"}, ["Aino Virtanen"]),
            ({"tag": ["Later"], "unread": "on"}, []),
            ({"q": "nothing-like-this"}, []),
        ],
    )
    def test_filters_and_search_combine(self, client, three, partner, partner_admin, params, expected):
        tags = {t.name: t.pk for t in Tag.objects.filter(organization=partner)}
        if "tag" in params:
            params = {**params, "tag": [tags[name] for name in params["tag"]]}
        client.force_login(partner_admin)
        assert self.contacts(client, partner, **params) == expected

    def test_filters_live_in_the_url(self, client, three, partner, partner_admin):
        urgent = Tag.objects.get(name="Urgent")
        later = Tag.objects.get(name="Later")
        client.force_login(partner_admin)
        response = client.get(f"{url('inbox', partner)}?tag={urgent.pk}&tag={later.pk}&unread=on&q=aino")
        html = response.content.decode()
        # The same address shows the same filters set, so it can be bookmarked, shared and reloaded.
        assert re.search(rf'name="tag" value="{urgent.pk}"[^>]*checked', html)
        assert re.search(rf'name="tag" value="{later.pk}"[^>]*checked', html)
        assert re.search(r'name="unread"[^>]*checked', html)
        assert re.search(r'name="q" value="aino"', html)
        assert 'hx-push-url="true"' in html
        empty = client.get(url("inbox", partner), {"tag": later.pk, "unread": "on"})
        assert "No conversation matches these filters." in text(empty)

    def test_htmx_swaps_only_the_list(self, client, three, partner, partner_admin):
        client.force_login(partner_admin)
        response = client.get(
            url("inbox", partner), {"q": "coffee"}, headers={**HTMX, "HX-Target": "request-list"}
        )
        html = text(response)
        assert response.status_code == 200
        assert html.lstrip().startswith('<div id="request-list"')
        assert "<html" not in html and 'name="q"' not in html
        assert "Bertil Berg" in html and "Aino Virtanen" not in html
        page = text(client.get(url("inbox", partner), {"q": "coffee"}))
        assert "<html" in page and 'id="request-list"' in page

    def test_only_partners_have_an_inbox(self, client, merchant, merchant_admin):
        client.force_login(merchant_admin)
        assert client.get(url("inbox", merchant)).status_code == 404

    def test_pages_keep_every_tag_and_walk_each_row_once(
        self, client, three, partner, partner_admin, settings
    ):
        aino, bertil, _carla = three
        settings.PAGE_SIZE = 1
        urgent, later = (Tag.objects.get(organization=partner, name=name).pk for name in ("Urgent", "Later"))
        client.force_login(partner_admin)
        first = client.get(url("inbox", partner), {"tag": [urgent, later]})
        link = re.search(r'<a href="\?([^"]*)" rel="next">', text(first)).group(1).replace("&amp;", "&")
        assert f"tag={urgent}" in link and f"tag={later}" in link and "older=" in link
        second = client.get(url("inbox", partner) + "?" + link)
        seen = inbox_request_ids(first) + inbox_request_ids(second)
        assert seen == [bertil.pk, aino.pk]

    @pytest.mark.parametrize("rows", [5, 50])
    def test_query_count_is_flat_and_small(
        self, client, partner, partner_admin, merchant, rows, settings, django_assert_num_queries
    ):
        settings.PAGE_SIZE = 50
        stores = [StoreFactory(merchant=merchant, name=f"Store {n}") for n in range(3)]
        people = [person(merchant, MEMBER, f"Contact{n}", "Person") for n in range(3)]
        urgent = services.tag_create(actor=partner_admin, membership=membership(partner_admin), name="Urgent")
        later = services.tag_create(actor=partner_admin, membership=membership(partner_admin), name="Later")
        for n in range(rows):
            item = contact_partner(people[n % 3], partner, store=stores[n % 3] if n % 4 else None)
            services.tags_add(
                actor=partner_admin,
                membership=membership(partner_admin),
                request=item,
                tag_ids=[urgent.pk, later.pk],
            )
            if n % 2:
                mark_read(partner_admin, item)
            if n % 3 == 0:
                proposal = send_proposal(partner_admin, item)
                if n % 6 == 0:
                    accept(people[n % 3], proposal)
        client.force_login(partner_admin)
        client.get(url("services", partner))
        # Missed: session, user, memberships; tags for the filter; the live version; rows (request, merchant,
        # unread); tag links.
        with django_assert_num_queries(7):
            response = client.get(url("inbox", partner))
        assert len(inbox_request_ids(response)) == rows
        html = response.content.decode()
        assert html.count('<span class="tag">Urgent</span>') == rows
        assert "Job open" in html and "Proposal sent" in html and "is-unread" in html
        # Hit: the rows come from the cache, the same.
        with django_assert_num_queries(5):
            assert request_list(client.get(url("inbox", partner))) == request_list(response)
        # Filtered by tags and searched: two more, whatever the number of rows: the organization's own tags
        # among those asked for, then the page's ids before the rows themselves.
        filtered = {"tag": [urgent.pk, later.pk], "q": "contact", "unread": "on"}
        with django_assert_num_queries(9):
            response = client.get(url("inbox", partner), filtered)
        assert len(inbox_request_ids(response)) == (rows + 1) // 2
        with django_assert_num_queries(5):
            assert request_list(client.get(url("inbox", partner), filtered)) == request_list(response)


# Merchant inbox and browsing services -----------------------------------------------------------------------


class TestMerchantPages:
    @pytest.mark.parametrize("rows", [5, 50])
    def test_requests_query_count_is_flat(
        self, client, merchant, merchant_admin, store, rows, settings, django_assert_num_queries
    ):
        settings.PAGE_SIZE = 50
        partners = [reachable_partner(name=f"Partner {n}") for n in range(3)]
        for n in range(rows):
            item = contact_partner(merchant_admin, partners[n % 3], store=store if n % 2 else None)
            if n % 2:
                mark_read(merchant_admin, item)
        client.force_login(merchant_admin)
        client.get(url("requests", merchant))
        # session, user, memberships; rows (request, partner, unread); no tags: they are the partner's
        with django_assert_num_queries(4):
            response = client.get(url("requests", merchant))
        assert len(response.context["page"].object_list) == rows
        html = text(response)
        assert "Partner 2" in html and "Nordic Socks" in html and "New request" in html

    @pytest.mark.parametrize("rows", [5, 50])
    def test_experts_query_count_is_flat(
        self, client, merchant, merchant_admin, rows, settings, django_assert_num_queries
    ):
        settings.PAGE_SIZE = 50
        for n in range(rows // 5):
            partner = PartnerFactory(name=f"Studio {n}")
            PartnerProfileFactory(organization=partner, languages=",en,fi,", regions=",europe,")
            for m in range(5):
                ServiceFactory(partner=partner, category="theme", title=f"Theme {n}-{m}")
        hidden = PartnerFactory(name="Hidden Studio")
        PartnerProfileFactory(organization=hidden, published=False)
        ServiceFactory(partner=hidden, title="Unpublished theme")
        client.force_login(merchant_admin)
        client.get(url("experts", merchant))
        for params in ({}, {"category": "theme", "language": "fi", "region": "europe", "q": "theme"}):
            # session, user, memberships; count; services with partner and profile
            with django_assert_num_queries(5):
                response = client.get(url("experts", merchant), params)
            assert len(response.context["page"].object_list) == rows
            assert "Unpublished theme" not in response.content.decode()

    @pytest.fixture
    def catalogue(self):
        seo = reachable_partner(name="Hakukone Oy", languages=("fi",), regions=("europe",), category="seo")
        Service.objects.filter(partner=seo).update(title="Search ranking", description="Be found.")
        theme = reachable_partner(name="Theme Works", languages=("en", "de"), regions=("north_america",))
        Service.objects.filter(partner=theme).update(title="Theme design", description="Beautiful stores.")
        return seo, theme

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({}, ["Search ranking", "Theme design"]),
            ({"category": "seo"}, ["Search ranking"]),
            ({"language": "de"}, ["Theme design"]),
            ({"region": "europe"}, ["Search ranking"]),
            ({"q": "beautiful"}, ["Theme design"]),  # description
            ({"q": "hakukone"}, ["Search ranking"]),  # partner name
            ({"category": "seo", "language": "de"}, []),
        ],
    )
    def test_experts_filters_and_search(self, client, catalogue, merchant, merchant_admin, params, expected):
        client.force_login(merchant_admin)
        response = client.get(url("experts", merchant), params)
        assert [service.title for service in response.context["page"].object_list] == expected
        if not expected:
            assert "No service matches these filters." in text(response)

    def test_experts_htmx_swaps_only_the_results(self, client, catalogue, merchant, merchant_admin):
        client.force_login(merchant_admin)
        response = client.get(
            url("experts", merchant), {"q": "theme"}, headers={**HTMX, "HX-Target": "service-results"}
        )
        html = text(response)
        assert html.lstrip().startswith('<div id="service-results"') and "<html" not in html
        assert "Theme design" in html and "Search ranking" not in html


# The conversation of a request ------------------------------------------------------------------------------


def token_of(html: str) -> str:
    return re.search(r'name="client_token" value="([^"]+)"', html).group(1)


class TestConversation:
    def test_both_sides_see_the_conversation(
        self, client, service_request, partner, partner_admin, merchant, merchant_admin
    ):
        client.force_login(partner_admin)
        html = text(client.get(url("request", partner, request_id=service_request.pk)))
        assert "A winter theme, please." in html and "Aino Virtanen" in html and "Nordic Socks" in html
        assert "Store owner" in html and "Send a proposal" in html and "Block merchant" in html
        client.force_login(merchant_admin)
        html = text(client.get(url("request", merchant, request_id=service_request.pk)))
        assert "A winter theme, please." in html and "Pixel Partners Oy" in html
        assert (
            "Send a proposal" not in html and "Block merchant" not in html and 'id="request-tags"' not in html
        )

    def test_reply_posts_a_message(
        self, client, service_request, partner, partner_admin, merchant, merchant_admin
    ):
        client.force_login(partner_admin)
        page = url("request", partner, request_id=service_request.pk)
        response = client.post(
            page, {"body": "Happy to help!", "client_token": token_of(text(client.get(page)))}
        )
        assert response.status_code == 302 and response.url == f"{page}#reply"
        client.force_login(merchant_admin)
        html = text(client.get(url("request", merchant, request_id=service_request.pk)))
        assert "Happy to help!" in html
        assert list(Message.objects.order_by("id").values_list("body", flat=True))[-1] == "Happy to help!"

    def test_blocked_merchant_sees_why_and_cannot_reply(
        self, client, service_request, partner, partner_admin, merchant, merchant_admin
    ):
        services.merchant_block(
            actor=partner_admin, membership=membership(partner_admin), request=service_request
        )
        client.force_login(merchant_admin)
        page = url("request", merchant, request_id=service_request.pk)
        html = text(client.get(page))
        assert "Pixel Partners Oy does not accept messages from your organization." in html
        assert 'name="body"' not in html
        before = Message.objects.count()
        response = client.post(page, {"body": "Why?"})
        assert response.status_code == 400
        assert "Pixel Partners Oy does not accept messages from your organization." in text(response)
        assert Message.objects.count() == before

    def test_live_answers_204_until_a_message_or_a_record_arrives(
        self,
        client,
        service_request,
        partner,
        partner_admin,
        merchant,
        merchant_admin,
        django_assert_num_queries,
    ):
        client.force_login(merchant_admin)
        html = client.get(url("request", merchant, request_id=service_request.pk)).content.decode()
        live = unescape(re.search(r'hx-get="([^"]*/live/[^"]*)"', html).group(1))
        first = Message.objects.get().pk
        assert live == f"{url('request_live', merchant, request_id=service_request.pk)}?after={first}&rec=0"
        client.get(live)
        with django_assert_num_queries(4):  # session, user, memberships; then the one check
            assert client.get(live).status_code == 204

        messaging_services.message_post(
            actor=partner_admin,
            membership=membership(partner_admin),
            conversation=service_request.conversation,
            body="We can start on Monday.",
        )
        response = client.get(live, headers=HTMX)
        html = response.content.decode()
        assert response.status_code == 200 and "We can start on Monday." in text(response)
        assert "<html" not in html and 'id="activity" hx-swap-oob="outerHTML"' in html
        # The answer carries the next address to poll: nothing new there.
        live = unescape(re.search(r'hx-get="([^"]*/live/[^"]*)"', response.content.decode()).group(1))
        assert client.get(live).status_code == 204

        send_proposal(partner_admin, service_request, title="Autumn theme")
        response = client.get(live, headers=HTMX)
        assert (
            response.status_code == 200
            and "Autumn theme" in text(response)
            and "Accept proposal" in text(response)
        )
        live = unescape(re.search(r'hx-get="([^"]*/live/[^"]*)"', response.content.decode()).group(1))
        last_message, last_record = Message.objects.latest("id").pk, TimelineRecord.objects.latest("id").pk
        assert live.endswith(f"?after={last_message}&rec={last_record}")
        assert client.get(live).status_code == 204

    def test_live_with_a_mangled_cursor_sends_everything(
        self, client, service_request, merchant, merchant_admin
    ):
        client.force_login(merchant_admin)
        response = client.get(
            url("request_live", merchant, request_id=service_request.pk), {"after": "x", "rec": "y"}
        )
        assert response.status_code == 200 and "A winter theme, please." in text(response)


# Tags on a conversation -------------------------------------------------------------------------------------


class TestConversationTags:
    def add(self, client, partner, service_request, data, htmx=False):
        headers = {**HTMX, "HX-Target": "request-tags"} if htmx else {}
        return client.post(
            url("request_tag_add", partner, request_id=service_request.pk), data, headers=headers
        )

    def names_on(self, service_request):
        return sorted(
            ConversationTag.objects.filter(request=service_request).values_list("tag__name", flat=True)
        )

    def test_typed_new_name_is_created_and_an_existing_one_reused(
        self, client, service_request, partner, partner_admin
    ):
        urgent = services.tag_create(actor=partner_admin, membership=membership(partner_admin), name="Urgent")
        client.force_login(partner_admin)
        response = self.add(client, partner, service_request, {"name": "VIP, urgent"})
        page = url("request", partner, request_id=service_request.pk)
        assert response.status_code == 302 and response.url == f"{page}#request-tags"
        assert self.names_on(service_request) == ["Urgent", "VIP"]
        assert (
            Tag.objects.filter(organization=partner).count() == 2 and Tag.objects.get(name="Urgent") == urgent
        )
        html = text(client.get(page))
        assert '<li class="tag">Urgent' in html and '<li class="tag">VIP' in html

    def test_add_an_existing_tag_by_id_with_htmx(self, client, service_request, partner, partner_admin):
        later = services.tag_create(actor=partner_admin, membership=membership(partner_admin), name="Later")
        client.force_login(partner_admin)
        response = self.add(client, partner, service_request, {"tag": str(later.pk)}, htmx=True)
        html = text(response)
        assert response.status_code == 200
        assert html.lstrip().startswith('<div id="request-tags"') and "<html" not in html
        assert '<li class="tag">Later' in html
        assert self.names_on(service_request) == ["Later"]

    @pytest.mark.parametrize("htmx", [False, True])
    @pytest.mark.parametrize(
        ("data", "message"),
        [
            ({"name": ""}, "Write a tag name."),
            ({"name": " , "}, "Write a tag name."),
            ({"name": "x" * 100}, "A tag name can be at most 40 characters long."),
            ({"name": f"Fine, {'x' * 100}"}, "A tag name can be at most 40 characters long."),
            ({"tag": "OTHER"}, "That tag does not exist. Reload the page and try again."),
            ({"tag": "abc"}, "That tag does not exist. Reload the page and try again."),
            ({"tag": "99999999999999"}, "That tag does not exist. Reload the page and try again."),
        ],
    )
    def test_bad_input_gets_a_message_and_saves_nothing(
        self, client, service_request, partner, partner_admin, data, message, htmx
    ):
        if data.get("tag") == "OTHER":
            elsewhere = reachable_partner(name="Elsewhere")
            data = {"tag": str(Tag.objects.create(organization=elsewhere, name="Theirs").pk)}
        tags_before = Tag.objects.count()
        client.force_login(partner_admin)
        response = self.add(client, partner, service_request, data, htmx=htmx)
        assert response.status_code == 400
        assert message in text(response)
        assert ("<html" in response.content.decode()) is not htmx
        assert Tag.objects.count() == tags_before and not ConversationTag.objects.exists()

    @pytest.mark.parametrize("htmx", [False, True])
    def test_remove_with_the_x(self, client, service_request, partner, partner_admin, htmx):
        tag(partner_admin, service_request, "Urgent", "Later")
        urgent = Tag.objects.get(name="Urgent")
        client.force_login(partner_admin)
        headers = {**HTMX, "HX-Target": "request-tags"} if htmx else {}
        response = client.post(
            url("request_tag_remove", partner, request_id=service_request.pk, tag_id=urgent.pk),
            headers=headers,
        )
        if htmx:
            html = text(response)
            assert response.status_code == 200 and html.lstrip().startswith('<div id="request-tags"')
            assert '<li class="tag">Later' in html and '<li class="tag">Urgent' not in html
        else:
            assert response.status_code == 302 and response.url.endswith("#request-tags")
        assert self.names_on(service_request) == ["Later"]
        assert Tag.objects.filter(pk=urgent.pk).exists()  # the tag stays for other conversations

    def test_merchants_have_no_tags(self, client, service_request, merchant, merchant_admin, partner_admin):
        tag(partner_admin, service_request, "Difficult customer")
        client.force_login(merchant_admin)
        html = text(client.get(url("request", merchant, request_id=service_request.pk)))
        assert "Difficult customer" not in html
        response = self.add(client, merchant, service_request, {"name": "Partner"})
        assert response.status_code == 404 and Tag.objects.count() == 1


# Manage tags ------------------------------------------------------------------------------------------------


class TestManageTags:
    def test_create_without_and_with_htmx(self, client, partner, partner_member):
        client.force_login(partner_member)  # tags are everyone's, not only administrators'
        response = client.post(url("tags", partner), {"name": "Urgent"})
        assert response.status_code == 302 and response.url == url("tags", partner)
        assert "Tag “Urgent” created." in flash(client, response)
        response = client.post(
            url("tags", partner), {"name": "Later"}, headers={**HTMX, "HX-Target": "tag-manager"}
        )
        html = text(response)
        assert response.status_code == 200 and html.lstrip().startswith('<div id="tag-manager"')
        assert "<html" not in html and "Tag “Later” created." in html
        assert '<span class="tag">Later</span>' in html and '<span class="tag">Urgent</span>' in html
        assert sorted(Tag.objects.filter(organization=partner).values_list("name", flat=True)) == [
            "Later",
            "Urgent",
        ]

    @pytest.mark.parametrize("htmx", [False, True])
    @pytest.mark.parametrize(
        ("name", "message"),
        [
            ("URGENT", "A tag named “URGENT” already exists."),
            ("", "Write a tag name."),
            ("x" * 100, "A tag name can be at most 40 characters long."),
        ],
    )
    def test_bad_names_get_a_message(self, client, partner, partner_admin, name, message, htmx):
        services.tag_create(actor=partner_admin, membership=membership(partner_admin), name="Urgent")
        client.force_login(partner_admin)
        headers = {**HTMX, "HX-Target": "tag-manager"} if htmx else {}
        response = client.post(url("tags", partner), {"name": name}, headers=headers)
        assert response.status_code == 400 and message in text(response)
        assert list(Tag.objects.values_list("name", flat=True)) == ["Urgent"]

    def test_rename_shows_on_every_conversation(
        self, client, service_request, partner, partner_admin, merchant_admin
    ):
        second = contact_partner(merchant_admin, partner)
        tag(partner_admin, service_request, "Urgent")
        tag(partner_admin, second, "Urgent")
        urgent = Tag.objects.get()
        client.force_login(partner_admin)
        form = text(client.get(url("tag_edit", partner, tag_id=urgent.pk)))
        assert re.search(
            rf'name="tag-{urgent.pk}-name"[^>]*value="Urgent"|value="Urgent"[^>]*name="tag-{urgent.pk}-name"',
            form,
        )
        response = client.post(
            url("tag_edit", partner, tag_id=urgent.pk), {f"tag-{urgent.pk}-name": "Very urgent"}
        )
        assert "Tag renamed to “Very urgent”." in flash(client, response)
        for item in (service_request, second):
            assert '<li class="tag">Very urgent' in text(
                client.get(url("request", partner, request_id=item.pk))
            )
        assert text(client.get(url("inbox", partner))).count('<span class="tag">Very urgent</span>') == 2

    def test_rename_to_a_name_in_use_is_refused(self, client, partner, partner_admin):
        urgent = services.tag_create(actor=partner_admin, membership=membership(partner_admin), name="Urgent")
        services.tag_create(actor=partner_admin, membership=membership(partner_admin), name="Later")
        client.force_login(partner_admin)
        response = client.post(url("tag_edit", partner, tag_id=urgent.pk), {f"tag-{urgent.pk}-name": "later"})
        assert response.status_code == 400 and "A tag named “later” already exists." in text(response)
        urgent.refresh_from_db()
        assert urgent.name == "Urgent"

    def test_delete_asks_first_then_removes_it_everywhere(
        self, client, service_request, partner, partner_admin, merchant_admin
    ):
        second = contact_partner(merchant_admin, partner)
        tag(partner_admin, service_request, "Urgent")
        tag(partner_admin, second, "Urgent")
        urgent = Tag.objects.get()
        client.force_login(partner_admin)
        confirm = client.get(url("tag_delete", partner, tag_id=urgent.pk))
        assert "Delete the tag “Urgent”? It will be removed from 2 conversations." in text(confirm)
        assert Tag.objects.exists()
        swapped = client.get(
            url("tag_delete", partner, tag_id=urgent.pk), headers={**HTMX, "HX-Target": "tag-manager"}
        )
        assert text(swapped).lstrip().startswith('<div id="tag-manager"')
        response = client.post(url("tag_delete", partner, tag_id=urgent.pk))
        assert "Tag “Urgent” deleted." in flash(client, response)
        assert not Tag.objects.exists() and not ConversationTag.objects.exists()
        assert "Urgent" not in text(client.get(url("request", partner, request_id=service_request.pk)))

    def test_back_to_the_conversation_survives_the_round_trip(
        self, client, service_request, partner, partner_admin
    ):
        client.force_login(partner_admin)
        page = text(client.get(url("tags", partner), {"conversation": service_request.pk}))
        assert url("request", partner, request_id=service_request.pk) in page
        response = client.post(url("tags", partner), {"name": "Urgent", "conversation": service_request.pk})
        assert response.url == f"{url('tags', partner)}?conversation={service_request.pk}"


# Proposals, jobs and invoices -------------------------------------------------------------------------------


def proposal_form(**change):
    return {
        "title": "Winter theme",
        "scope": "Design and build.",
        "price": "1500",
        "currency": "EUR",
        "delivery_date": FUTURE.isoformat(),
        **change,
    }


class TestProposalsJobsInvoices:
    def test_proposal_accepted_starts_a_job_then_invoice_paid_and_job_closed(
        self, client, service_request, partner, partner_admin, merchant, merchant_admin
    ):
        request_id = service_request.pk
        client.force_login(partner_admin)
        response = client.post(url("proposal_send", partner, request_id=request_id), proposal_form())
        assert "Your proposal was sent." in flash(client, response)
        assert response.url.endswith("#activity")
        proposal = Proposal.objects.get()

        client.force_login(merchant_admin)
        accept_url = url(
            "proposal_move", merchant, request_id=request_id, proposal_id=proposal.pk, action="accept"
        )
        response = client.post(accept_url)
        assert response.url == f"{url('request', merchant, request_id=request_id)}#activity"
        html = flash(client, response)
        assert "You accepted the proposal. The job has started." in html and "Job open" in html
        job = Job.objects.get()
        assert job.status == "open" and job.proposal == proposal

        again = client.post(accept_url)
        assert "This cannot be done now: its status is “Accepted”." in flash(client, again)
        assert Job.objects.count() == 1

        client.force_login(partner_admin)
        response = client.post(
            url("invoice_send", partner, request_id=request_id, job_id=job.pk),
            {f"job-{job.pk}-amount": "750", f"job-{job.pk}-due_date": FUTURE.isoformat()},
        )
        assert "Your invoice was sent." in flash(client, response)
        invoice = JobInvoice.objects.get()
        assert (invoice.amount, invoice.currency) == (Decimal("750"), "EUR")
        response = client.post(
            url("invoice_move", partner, request_id=request_id, invoice_id=invoice.pk, action="paid")
        )
        assert "The invoice is now “Paid”." in flash(client, response)
        response = client.post(
            url("job_move", partner, request_id=request_id, job_id=job.pk, action="complete")
        )
        assert "The job is now “Completed”." in flash(client, response)
        client.force_login(merchant_admin)
        response = client.post(
            url("job_move", merchant, request_id=request_id, job_id=job.pk, action="close")
        )
        assert "The job is now “Closed”." in flash(client, response)
        job.refresh_from_db()
        invoice.refresh_from_db()
        assert (job.status, invoice.status) == ("closed", "paid")

    def test_a_job_state_change_out_of_order_is_refused(
        self, client, service_request, partner, partner_admin, merchant_admin
    ):
        job = accept(merchant_admin, send_proposal(partner_admin, service_request))
        client.force_login(partner_admin)
        response = client.post(
            url("job_move", partner, request_id=service_request.pk, job_id=job.pk, action="close")
        )
        assert "This cannot be done now: its status is “Open”." in flash(client, response)
        job.refresh_from_db()
        assert job.status == "open"

    def test_merchant_cannot_accept_a_withdrawn_proposal(
        self, client, service_request, partner, partner_admin, merchant, merchant_admin
    ):
        proposal = send_proposal(partner_admin, service_request)
        client.force_login(partner_admin)
        client.post(
            url(
                "proposal_move",
                partner,
                request_id=service_request.pk,
                proposal_id=proposal.pk,
                action="withdraw",
            )
        )
        client.force_login(merchant_admin)
        response = client.post(
            url(
                "proposal_move",
                merchant,
                request_id=service_request.pk,
                proposal_id=proposal.pk,
                action="accept",
            )
        )
        assert "This cannot be done now: its status is “Withdrawn”." in flash(client, response)
        assert not Job.objects.exists()

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"price": "-5"}, "Enter an amount of more than zero."),
            ({"price": "0"}, "Enter an amount of more than zero."),
            ({"price": "2000000"}, "Enter an amount of at most 1,000,000."),
            ({"price": "lots"}, "Enter an amount as a number"),
            ({"currency": "XYZ"}, "Choose a currency from the list."),
            ({"delivery_date": "2020-01-01"}, "Choose a date from today on."),
            ({"title": ""}, "This field is required."),
        ],
    )
    def test_bad_proposal_gets_a_message_and_saves_nothing(
        self, client, service_request, partner, partner_admin, change, message
    ):
        client.force_login(partner_admin)
        response = client.post(
            url("proposal_send", partner, request_id=service_request.pk), proposal_form(**change)
        )
        assert response.status_code == 400 and message in text(response)
        assert not Proposal.objects.exists()
        service_request.refresh_from_db()
        assert service_request.stage == "request"

    def test_merchant_cannot_send_a_proposal(self, client, service_request, merchant, merchant_admin):
        client.force_login(merchant_admin)
        response = client.post(url("proposal_send", merchant, request_id=service_request.pk), proposal_form())
        assert response.status_code == 404  # partner-only, like tags: the merchant has no such page
        assert not Proposal.objects.exists()

    def test_bad_invoice_gets_a_message_and_saves_nothing(
        self, client, service_request, partner, partner_admin, merchant_admin
    ):
        job = accept(merchant_admin, send_proposal(partner_admin, service_request))
        client.force_login(partner_admin)
        response = client.post(
            url("invoice_send", partner, request_id=service_request.pk, job_id=job.pk),
            {f"job-{job.pk}-amount": "-1", f"job-{job.pk}-due_date": FUTURE.isoformat()},
        )
        assert response.status_code == 400 and "Enter an amount of more than zero." in text(response)
        assert not JobInvoice.objects.exists()

    def test_unknown_actions_are_404(
        self, client, service_request, partner, partner_admin, merchant, merchant_admin
    ):
        proposal = send_proposal(partner_admin, service_request)
        client.force_login(merchant_admin)
        response = client.post(
            url(
                "proposal_move",
                merchant,
                request_id=service_request.pk,
                proposal_id=proposal.pk,
                action="approve",
            )
        )
        assert response.status_code == 404
        job = accept(merchant_admin, proposal)
        invoice = services.job_invoice_send(
            actor=partner_admin,
            membership=membership(partner_admin),
            job=job,
            amount=Decimal("10"),
            due_date=FUTURE,
        )
        client.force_login(partner_admin)
        rid = service_request.pk
        assert (
            client.post(url("job_move", partner, request_id=rid, job_id=job.pk, action="reopen")).status_code
            == 404
        )
        assert (
            client.post(
                url("invoice_move", partner, request_id=rid, invoice_id=invoice.pk, action="refund")
            ).status_code
            == 404
        )
        job.refresh_from_db()
        invoice.refresh_from_db()
        assert (job.status, invoice.status) == ("open", "open")

    def test_actions_only_take_a_post(self, client, service_request, partner, partner_admin):
        proposal = send_proposal(partner_admin, service_request)
        client.force_login(partner_admin)
        response = client.get(
            url(
                "proposal_move",
                partner,
                request_id=service_request.pk,
                proposal_id=proposal.pk,
                action="withdraw",
            )
        )
        assert response.status_code == 405
        proposal.refresh_from_db()
        assert proposal.status == "sent"


# Declining and blocking -------------------------------------------------------------------------------------


class TestDecline:
    def test_page_shows_the_editable_default_text_and_the_open_job(
        self, client, service_request, partner, partner_admin, merchant_admin
    ):
        accept(merchant_admin, send_proposal(partner_admin, service_request))
        client.force_login(partner_admin)
        html = text(client.get(url("request_decline", partner, request_id=service_request.pk)))
        assert re.search(
            r'<textarea name="text"[^>]*>\s*Thank you for contacting us\. Unfortunately we cannot help', html
        )
        assert "will be declined too." in html  # the open job

    @pytest.mark.parametrize("language", ["fi", "de"])
    def test_default_text_is_in_the_partner_users_language(
        self, client, service_request, partner, partner_admin, language
    ):
        partner_admin.language = language
        partner_admin.save()
        with translation.override(language):
            expected = default_decline_text()
        client.force_login(partner_admin)
        html = text(client.get(url("request_decline", partner, request_id=service_request.pk)))
        assert expected in html

    def test_post_sends_the_text_and_declines_the_open_job(
        self, client, service_request, partner, partner_admin, merchant, merchant_admin
    ):
        job = accept(merchant_admin, send_proposal(partner_admin, service_request))
        client.force_login(partner_admin)
        response = client.post(
            url("request_decline", partner, request_id=service_request.pk),
            {"text": "Sorry, we are fully booked."},
        )
        assert "You declined the request. The merchant can still answer you." in flash(client, response)
        job.refresh_from_db()
        service_request.refresh_from_db()
        assert job.status == "declined" and service_request.stage == "declined"
        client.force_login(merchant_admin)
        html = text(client.get(url("request", merchant, request_id=service_request.pk)))
        assert "Sorry, we are fully booked." in html and "Request declined" in html and 'name="body"' in html

    def test_empty_text_is_refused(self, client, service_request, partner, partner_admin):
        client.force_login(partner_admin)
        response = client.post(url("request_decline", partner, request_id=service_request.pk), {"text": "  "})
        assert response.status_code == 400 and "Write a message before sending." in text(response)
        service_request.refresh_from_db()
        assert service_request.stage == "request"


class TestBlock:
    def test_confirmation_says_it_cannot_be_undone(self, client, service_request, partner, partner_admin):
        client.force_login(partner_admin)
        html = text(client.get(url("merchant_block", partner, request_id=service_request.pk)))
        assert "Block Kauppa Oy?" in html and "This cannot be undone." in html
        assert not Block.objects.exists()

    def test_members_may_not_block(self, client, service_request, partner, partner_member):
        client.force_login(partner_member)
        block = url("merchant_block", partner, request_id=service_request.pk)
        for response in (client.get(block), client.post(block)):
            assert response.status_code == 403 and "Only administrators of this partner can block" in text(
                response
            )
        assert not Block.objects.exists()
        assert "Block merchant" not in text(
            client.get(url("request", partner, request_id=service_request.pk))
        )

    def test_admin_blocks_and_everything_between_them_closes(
        self, client, service_request, partner, partner_admin, merchant, merchant_admin
    ):
        job = accept(merchant_admin, send_proposal(partner_admin, service_request))
        invoice = services.job_invoice_send(
            actor=partner_admin,
            membership=membership(partner_admin),
            job=job,
            amount=Decimal("10"),
            due_date=FUTURE,
        )
        waiting = send_proposal(partner_admin, service_request, title="Extra work")
        other = contact_partner(merchant_admin, partner, requirements="Another thing.")
        client.force_login(partner_admin)
        response = client.post(url("merchant_block", partner, request_id=service_request.pk))
        assert "Kauppa Oy is blocked. Every proposal, job and invoice with them is closed." in flash(
            client, response
        )
        for item in (job, invoice, waiting):
            item.refresh_from_db()
        assert (job.status, invoice.status, waiting.status) == ("closed", "closed", "closed")
        assert set(Conversation.objects.values_list("status", flat=True)) == {"closed"}
        assert Block.objects.filter(partner=partner, merchant=merchant).exists()
        assert other.pk in ServiceRequest.objects.filter(stage="closed").values_list("pk", flat=True)

        client.force_login(merchant_admin)
        contact = url("contact", merchant, service_id=partner.services.get().pk)
        assert "Pixel Partners Oy does not accept messages from your organization." in text(
            client.get(contact)
        )
        before = (ServiceRequest.objects.count(), Message.objects.count())
        response = client.post(contact, {"budget": "unknown", "requirements": "Please?"})
        assert response.status_code == 400
        assert "Pixel Partners Oy does not accept messages from your organization." in text(response)
        assert (ServiceRequest.objects.count(), Message.objects.count()) == before

    def test_blocking_twice_says_so(self, client, service_request, partner, partner_admin):
        services.merchant_block(
            actor=partner_admin, membership=membership(partner_admin), request=service_request
        )
        client.force_login(partner_admin)
        response = client.post(url("merchant_block", partner, request_id=service_request.pk))
        assert response.status_code == 400 and "You have already blocked this merchant." in text(response)
        assert Block.objects.count() == 1


# Starting conversations: contact and matching ---------------------------------------------------------------


class TestContact:
    def test_direct_contact_opens_the_conversation(
        self, client, partner, partner_admin, merchant, merchant_admin, store
    ):
        service = partner.services.get()
        client.force_login(merchant_admin)
        page = text(client.get(url("contact", merchant, service_id=service.pk)))
        assert service.title in page and "Nordic Socks (https://nordicsocks.example)" in page
        response = client.post(
            url("contact", merchant, service_id=service.pk),
            {
                "store": store.pk,
                "budget": "500_2000",
                "requirements": "Move us to a new theme.",
                "client_token": token_of(page),
            },
        )
        item = ServiceRequest.objects.get()
        assert response.url == url("request", merchant, request_id=item.pk)
        html = flash(client, response)
        assert "Your request was sent to Pixel Partners Oy." in html and "Move us to a new theme." in html
        assert (item.store, item.via, item.budget, item.contact) == (
            store,
            "direct",
            "500_2000",
            merchant_admin,
        )
        client.force_login(partner_admin)
        assert "Aino Virtanen" in text(client.get(url("inbox", partner)))

    def test_the_same_form_sent_twice_opens_one_conversation(self, client, partner, merchant, merchant_admin):
        service = partner.services.get()
        client.force_login(merchant_admin)
        page = text(client.get(url("contact", merchant, service_id=service.pk)))
        data = {"budget": "unknown", "requirements": "Once.", "client_token": token_of(page)}
        first = client.post(url("contact", merchant, service_id=service.pk), data)
        second = client.post(url("contact", merchant, service_id=service.pk), data)
        assert first.url == second.url and ServiceRequest.objects.count() == 1

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            ({"budget": "unknown", "requirements": ""}, "Describe what you need before sending."),
            ({"budget": "a lot", "requirements": "x"}, "Select a valid choice."),
            ({"budget": "unknown", "requirements": "x", "store": "OTHER"}, "Select a valid choice."),
        ],
    )
    def test_bad_input_gets_a_message_and_saves_nothing(
        self, client, partner, merchant, merchant_admin, data, message
    ):
        if data.get("store") == "OTHER":
            data = {**data, "store": StoreFactory().pk}  # another merchant's store
        client.force_login(merchant_admin)
        response = client.post(url("contact", merchant, service_id=partner.services.get().pk), data)
        assert response.status_code == 400 and message in text(response)
        assert not ServiceRequest.objects.exists() and not Conversation.objects.exists()

    def test_an_unpublished_partner_is_not_in_the_catalogue_and_saves_nothing(
        self, client, merchant, merchant_admin
    ):
        hidden = PartnerFactory(name="Quiet Studio")
        PartnerProfileFactory(organization=hidden, published=False)
        service = ServiceFactory(partner=hidden, title="Secret service")
        client.force_login(merchant_admin)
        contact = url("contact", merchant, service_id=service.pk)
        response = client.get(contact)
        # The same 404 as for no service at all: an unpublished partner's name is not given away.
        assert response.status_code == 404 and "Quiet Studio" not in text(response)
        assert "Secret service" not in text(client.get(url("experts", merchant)))
        response = client.post(contact, {"budget": "unknown", "requirements": "Please?"})
        assert response.status_code == 404
        assert not ServiceRequest.objects.exists() and not Conversation.objects.exists()

    def test_a_partner_cannot_start_a_conversation(self, client, partner, partner_admin):
        other = reachable_partner(name="Competitor")
        client.force_login(partner_admin)
        for service in (partner.services.get(), other.services.get()):
            contact = url("contact", partner, service_id=service.pk)
            assert client.get(contact).status_code == 404
            assert client.post(contact, {"budget": "unknown", "requirements": "Hi"}).status_code == 404
        assert client.post(url("match", partner), {"category": "theme"}).status_code == 404
        assert not Conversation.objects.exists()


class TestMatching:
    def test_up_to_three_partners_each_get_a_conversation(self, client, merchant, merchant_admin, store):
        best = reachable_partner(name="Best Fit", languages=("en",), regions=("europe",))
        language = reachable_partner(name="Language Fit", languages=("en",), regions=("asia_pacific",))
        region = reachable_partner(name="Region Fit", languages=("fi",), regions=("europe",))
        reachable_partner(name="No Fit", languages=("fi",), regions=("asia_pacific",))
        reachable_partner(name="Other Category", category="seo")
        client.force_login(merchant_admin)
        page = text(client.get(url("match", merchant)))
        response = client.post(
            url("match", merchant),
            {
                "category": "theme",
                "store": store.pk,
                "budget": "unknown",
                "language": "en",
                "region": "europe",
                "requirements": "A theme for winter.",
                "client_token": token_of(page),
            },
        )
        match = MatchRequest.objects.get()
        assert response.url == url("match_detail", merchant, match_id=match.pk)
        html = text(client.get(response.url))
        assert "We contacted 3 partners" in html
        for name in ("Best Fit", "Language Fit", "Region Fit"):
            assert name in html
        assert "No Fit" not in html and "Other Category" not in html
        assert {r.partner for r in ServiceRequest.objects.all()} == {best, language, region}
        for item in ServiceRequest.objects.all():
            assert url("request", merchant, request_id=item.pk) in html
            assert "A theme for winter." in item.conversation.messages.get().body

    def test_no_fitting_partner_says_so_and_saves_nothing(self, client, merchant, merchant_admin):
        client.force_login(merchant_admin)
        response = client.post(
            url("match", merchant),
            {
                "category": "seo",
                "budget": "unknown",
                "language": "en",
                "region": "europe",
                "requirements": "SEO",
            },
        )
        assert response.status_code == 400 and "No partner offers this service yet." in text(response)
        assert not MatchRequest.objects.exists() and not Conversation.objects.exists()

    def test_another_merchants_match_is_404(self, client, merchant, merchant_admin):
        reachable_partner()
        other = MerchantFactory()
        author = person(other, ADMINISTRATOR)
        match = services.match_request_send(
            actor=author,
            membership=membership(author),
            category="theme",
            store=None,
            budget="unknown",
            language="en",
            region="europe",
            requirements="Mine.",
        )
        client.force_login(merchant_admin)
        assert client.get(url("match_detail", merchant, match_id=match.pk)).status_code == 404


# Stores, profile and services -------------------------------------------------------------------------------


class TestStores:
    def test_admin_creates_a_store_with_an_owner_and_staff(
        self, client, merchant, merchant_admin, merchant_member
    ):
        helper = person(merchant, MEMBER, "Hanna", "Helper")
        client.force_login(merchant_admin)
        assert client.get(url("store_new", merchant)).status_code == 200
        response = client.post(
            url("store_new", merchant),
            {
                "name": "  Winter   Shop ",
                "url": "https://winter.example",
                "owner": merchant_member.pk,
                "staff": [helper.pk, merchant_admin.pk],
            },
        )
        assert response.url == url("stores", merchant)
        html = flash(client, response)
        assert "The store was saved." in html and "Winter Shop" in html and "https://winter.example" in html
        store = Store.objects.get()
        assert (store.name, store.owner) == ("Winter Shop", merchant_member)
        assert set(store.staff.all()) == {helper, merchant_admin}

    def test_edit_changes_what_partners_see(
        self, client, service_request, store, partner, partner_admin, merchant, merchant_admin
    ):
        client.force_login(merchant_admin)
        response = client.post(
            url("store_edit", merchant, store_id=store.pk),
            {"name": "Warm Socks", "url": "https://warmsocks.example", "owner": merchant_admin.pk},
        )
        assert response.status_code == 302
        client.force_login(partner_admin)
        html = text(client.get(url("inbox", partner), {"q": "warmsocks"}))
        assert "Warm Socks" in html and "https://warmsocks.example" in html

    @pytest.mark.parametrize("address", ["javascript:alert(1)", "not a url", "ftp://files.example", ""])
    def test_bad_url_is_refused(self, client, merchant, merchant_admin, address):
        client.force_login(merchant_admin)
        response = client.post(url("store_new", merchant), {"name": "Shop", "url": address})
        assert response.status_code == 400 and 'class="errorlist' in response.content.decode()
        assert not Store.objects.exists()

    def test_someone_of_another_organization_cannot_be_the_owner(self, client, merchant, merchant_admin):
        stranger = person(MerchantFactory(), ADMINISTRATOR)
        client.force_login(merchant_admin)
        response = client.post(
            url("store_new", merchant), {"name": "Shop", "url": "https://shop.example", "owner": stranger.pk}
        )
        assert response.status_code == 400 and not Store.objects.exists()

    def test_members_see_stores_but_may_not_change_them(self, client, store, merchant, merchant_member):
        client.force_login(merchant_member)
        assert "Nordic Socks" in text(client.get(url("stores", merchant)))
        for address in (url("store_new", merchant), url("store_edit", merchant, store_id=store.pk)):
            for response in (
                client.get(address),
                client.post(address, {"name": "Mine", "url": "https://m.example"}),
            ):
                assert response.status_code == 403
                assert "Only administrators of this merchant can add or change stores." in text(response)
        store.refresh_from_db()
        assert store.name == "Nordic Socks" and Store.objects.count() == 1


SERVICE_FORM = {
    "category": "seo",
    "title": "Search ranking",
    "description": "Be found.",
    "price_from": "100",
    "price_to": "900",
    "currency": "EUR",
}


class TestProfileAndServices:
    def test_admin_saves_the_profile(self, client, partner, partner_admin):
        client.force_login(partner_admin)
        assert client.get(url("profile", partner)).status_code == 200
        response = client.post(
            url("profile", partner),
            {
                "description": "Stores that sell.",
                "languages": ["fi", "sv"],
                "regions": ["europe"],
                "published": "on",
            },
        )
        assert "Your profile was saved." in flash(client, response)
        profile = PartnerProfile.objects.get(organization=partner)
        assert (profile.description, profile.language_list, profile.published) == (
            "Stores that sell.",
            ["fi", "sv"],
            True,
        )

    def test_publishing_without_a_language_is_refused(self, client, partner, partner_admin):
        client.force_login(partner_admin)
        response = client.post(url("profile", partner), {"description": "x", "published": "on"})
        assert response.status_code == 400
        assert "Choose at least one language before publishing your profile." in text(response)
        assert PartnerProfile.objects.get(organization=partner).description == "We build stores."

    def test_admin_adds_and_edits_a_service(self, client, partner, partner_admin):
        client.force_login(partner_admin)
        response = client.post(url("service_new", partner), SERVICE_FORM)
        assert "The service was saved." in flash(client, response)
        service = Service.objects.get(title="Search ranking")
        response = client.post(
            url("service_edit", partner, service_id=service.pk), {**SERVICE_FORM, "price_to": "1200"}
        )
        assert response.status_code == 302
        service.refresh_from_db()
        assert service.price_to == Decimal("1200")
        assert client.get(url("service_edit", partner, service_id=service.pk)).status_code == 200

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"price_from": "-1"}, "Ensure this value is greater than or equal to 0."),
            ({"price_from": "900", "price_to": "100"}, "The upper price must not be below the lower one."),
            ({"price_to": "2000000"}, "Ensure this value is less than or equal to 1000000."),
            ({"currency": "XYZ"}, "Select a valid choice."),
        ],
    )
    @pytest.mark.parametrize("page", ["service_new", "service_edit"])
    def test_bad_prices_are_refused(self, client, partner, partner_admin, change, message, page):
        service = partner.services.get()
        before = list(Service.objects.values_list("title", "price_from", "price_to"))
        client.force_login(partner_admin)
        address = url(page, partner, service_id=service.pk) if page == "service_edit" else url(page, partner)
        response = client.post(address, {**SERVICE_FORM, **change})
        assert response.status_code == 400 and message in text(response)
        assert list(Service.objects.values_list("title", "price_from", "price_to")) == before

    def test_members_may_not_edit(self, client, partner, partner_member):
        service = partner.services.get()
        client.force_login(partner_member)
        assert client.get(url("services", partner)).status_code == 200
        for address, data in (
            (url("profile", partner), {"description": "Mine", "languages": ["en"]}),
            (url("service_new", partner), SERVICE_FORM),
            (url("service_edit", partner, service_id=service.pk), SERVICE_FORM),
        ):
            for response in (client.get(address), client.post(address, data)):
                assert response.status_code == 403
                assert "Only administrators of this partner can change its profile and services." in text(
                    response
                )
        response = client.post(url("service_delete", partner, service_id=service.pk))
        assert response.status_code == 403
        assert Service.objects.count() == 1 and PartnerProfile.objects.get().description == "We build stores."

    def test_admin_deletes_a_service(self, client, service_request, partner, partner_admin):
        service = partner.services.get()
        client.force_login(partner_admin)
        response = client.post(url("service_delete", partner, service_id=service.pk))
        assert f"The service “{service.title}” was removed." in flash(client, response)
        assert not Service.objects.exists()
        # The conversation that started from it keeps its text.
        assert "A winter theme, please." in text(
            client.get(url("request", partner, request_id=service_request.pk))
        )
