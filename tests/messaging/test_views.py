import html
import re

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from messaging.models import Conversation, Message
from tests.factories import (
    BuyerFactory,
    ConnectionFactory,
    DocumentFactory,
    MembershipFactory,
    start_conversation,
)

pytestmark = pytest.mark.django_db


def url(name, organization, **kwargs):
    return reverse(f"messaging:{name}", kwargs={"org_slug": organization.slug, **kwargs})


@pytest.fixture
def connected(buyer, supplier):
    return ConnectionFactory(supplier=supplier, customer=buyer)


def inbox_subjects(response) -> list[str]:
    """The subjects of the inbox's rows, as the page shows them (unescaped), top to bottom."""
    found = re.findall(
        r'<span class="inbox-subject">(?:<span class="visually-hidden">[^<]*</span>)?([^<]*)</span>',
        response.content.decode(),
    )
    return [html.unescape(subject) for subject in found]


def thread_bodies(response) -> list[str]:
    """The conversation page's messages, as shown, oldest first."""
    return re.findall(r'<div class="message-body">(.*?)</div>', response.content.decode(), re.DOTALL)


def token_of(page: str) -> str:
    return re.search(r'name="client_token" value="([^"]+)"', page).group(1)


class TestContextFreeFlow:
    def test_supplier_writes_and_the_buyer_answers(
        self, client, connected, supplier, supplier_admin, buyer, buyer_admin
    ):
        client.force_login(supplier_admin)
        page = client.get(url("compose", supplier)).content.decode()
        assert buyer.name in page and 'name="counterpart"' in page
        response = client.post(
            url("compose", supplier),
            {
                "counterpart": buyer.pk,
                "subject": "Delivery next week",
                "body": "Hello,\nthe goods ship on Monday.",
                "client_token": token_of(page),
                "files": [SimpleUploadedFile("plan.pdf", b"%PDF-1.4")],
            },
        )
        conversation = Conversation.objects.get()
        assert response.url == url("conversation", supplier, conversation_id=conversation.pk)
        html = client.get(response.url).content.decode()
        assert "the goods ship on Monday." in html and "<br>" in html and "plan.pdf" in html

        client.force_login(buyer_admin)
        inbox = client.get(url("inbox", buyer)).content.decode()
        assert "Delivery next week" in inbox and 'class="badge badge-count"' in inbox
        page = client.get(url("conversation", buyer, conversation_id=conversation.pk)).content.decode()
        client.post(
            url("conversation", buyer, conversation_id=conversation.pk),
            {"body": "Thanks, noted.", "client_token": token_of(page)},
        )
        assert list(Message.objects.values_list("body", flat=True)) == [
            "Hello,\nthe goods ship on Monday.",
            "Thanks, noted.",
        ]

    def test_counterparts_are_the_connected_ones_and_can_be_searched(
        self, client, connected, supplier, supplier_admin
    ):
        stranger = BuyerFactory(name="Stranger GmbH")
        client.force_login(supplier_admin)
        page = client.get(url("compose", supplier)).content.decode()
        assert "Stranger GmbH" not in page
        response = client.get(
            url("compose", supplier),
            {"q": "nord"},
            headers={"HX-Request": "true", "HX-Target": "counterpart-choices"},
        )
        assert response.content.decode().lstrip().startswith('<ul id="counterpart-choices"')
        page = client.get(url("compose", supplier)).content.decode()
        response = client.post(
            url("compose", supplier),
            {"counterpart": stranger.pk, "subject": "Hi", "body": "Hi", "client_token": token_of(page)},
        )
        assert response.status_code == 400
        assert "Select a valid choice" in response.content.decode()
        assert not Conversation.objects.exists()

    def test_double_submitted_form_creates_one_conversation(
        self, client, connected, supplier, supplier_admin, buyer
    ):
        client.force_login(supplier_admin)
        page = client.get(url("compose", supplier)).content.decode()
        data = {"counterpart": buyer.pk, "subject": "Once", "body": "Once", "client_token": token_of(page)}
        first = client.post(url("compose", supplier), data)
        second = client.post(url("compose", supplier), data)
        assert first.url == second.url
        assert (Conversation.objects.count(), Message.objects.count()) == (1, 1)

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"subject": ""}, "Write a subject before sending."),
            ({"body": ""}, "Write a message before sending."),
            ({"body": "x" * 10_001}, "Ensure this value has at most 10000 characters"),
            ({"files": [SimpleUploadedFile(f"{n}.txt", b"x") for n in range(11)]}, "at most 10 files"),
            ({"files": [SimpleUploadedFile("report.pdf", b"MZ\x90\x00")]}, "contains a program"),
            ({"files": [SimpleUploadedFile("big.pdf", b"\0" * (10 * 1024 * 1024 + 1))]}, "larger than 10 MB"),
        ],
    )
    def test_bad_input_gets_a_message_and_saves_nothing(
        self, client, connected, supplier, supplier_admin, buyer, change, message
    ):
        client.force_login(supplier_admin)
        page = client.get(url("compose", supplier)).content.decode()
        data = {
            "counterpart": buyer.pk,
            "subject": "S",
            "body": "B",
            "client_token": token_of(page),
            **change,
        }
        response = client.post(url("compose", supplier), data)
        assert response.status_code == 400
        assert message in response.content.decode()
        assert not Conversation.objects.exists() and not Message.objects.exists()

    def test_a_mangled_one_time_key_still_sends_once(
        self, client, connected, supplier, supplier_admin, buyer
    ):
        client.force_login(supplier_admin)
        data = {"counterpart": buyer.pk, "subject": "S", "body": "B", "client_token": "not-a-uuid"}
        response = client.post(url("compose", supplier), data)
        assert response.status_code == 302
        assert Message.objects.get().client_token is None

    def test_html_and_script_are_shown_as_text(self, client, connected, supplier, supplier_admin, buyer):
        start_conversation(
            supplier_admin,
            buyer,
            subject="<img src=x onerror=alert(1)>",
            body="<script>alert(1)</script> see https://example.com/a?b=1&c=2",
        )
        client.force_login(supplier_admin)
        html = client.get(
            url("conversation", supplier, conversation_id=Conversation.objects.get().pk)
        ).content.decode()
        assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
        assert "<img src=x" not in html
        assert 'href="https://example.com/a?b=1&amp;c=2" rel="noopener nofollow"' in html
        assert "<img src=x" not in client.get(url("inbox", supplier)).content.decode()


class TestWhoMaySendOnThePage:
    def test_standard_supplier_reads_but_sees_upgrade(
        self, client, connected, supplier, supplier_admin, buyer
    ):
        conversation = start_conversation(supplier_admin, buyer)
        supplier.tier = "standard"
        supplier.save()
        client.force_login(supplier_admin)
        html = client.get(url("conversation", supplier, conversation_id=conversation.pk)).content.decode()
        assert "Hello" in html and "Upgrade to Enterprise" in html and 'name="body"' not in html
        page = client.post(url("conversation", supplier, conversation_id=conversation.pk), {"body": "sneaky"})
        assert page.status_code == 400 and "Enterprise" in page.content.decode()
        assert Message.objects.count() == 1
        assert "Upgrade to Enterprise" in client.get(url("compose", supplier)).content.decode()
        assert "How to upgrade" in client.get(url("upgrade", supplier)).content.decode()

    def test_buyer_with_messaging_off_shows_its_contact_information(
        self, client, connected, supplier, supplier_admin, buyer
    ):
        document = DocumentFactory(buyer=buyer, supplier=supplier)
        buyer.messaging_enabled = False
        buyer.contact_phone = "+49 40 555 0100"
        buyer.save()
        client.force_login(supplier_admin)
        html = client.get(url("document_messages", supplier, document_id=document.pk)).content.decode()
        assert "has turned messaging off" in html and "+49 40 555 0100" in html and 'name="body"' not in html
        buyer.hide_contact_info = True
        buyer.save()
        html = client.get(url("document_messages", supplier, document_id=document.pk)).content.decode()
        assert "+49 40 555 0100" not in html


class TestInContextFlow:
    def test_message_about_a_document(self, client, connected, supplier, supplier_admin, buyer, buyer_member):
        document = DocumentFactory(buyer=buyer, supplier=supplier, number="4500012345")
        client.force_login(supplier_admin)
        detail = reverse("documents:detail", kwargs={"org_slug": supplier.slug, "document_id": document.pk})
        assert (
            url("document_messages", supplier, document_id=document.pk) in client.get(detail).content.decode()
        )
        panel = client.get(
            url("document_messages", supplier, document_id=document.pk),
            headers={"HX-Request": "true", "HX-Target": "document-messages"},
        ).content.decode()
        assert panel.lstrip().startswith('<section class="card document-messages"')
        client.post(
            url("document_messages", supplier, document_id=document.pk),
            {
                "subject": "Quantity",
                "body": "Can we ship 90 instead of 100?",
                "client_token": token_of(panel),
            },
        )
        conversation = Conversation.objects.get()
        assert conversation.document == document
        client.force_login(buyer_member)
        inbox = client.get(url("inbox", buyer)).content.decode()
        assert "PO 4500012345" in inbox
        assert (
            reverse("documents:detail", kwargs={"org_slug": buyer.slug, "document_id": document.pk}) in inbox
        )
        panel = client.get(url("document_messages", buyer, document_id=document.pk)).content.decode()
        assert "Quantity" in panel


class TestInbox:
    @pytest.fixture
    def conversations(self, connected, supplier, supplier_admin, buyer, buyer_admin):
        invoice = DocumentFactory(buyer=buyer, supplier=supplier, kind="invoice", number="INV-77")
        order = DocumentFactory(buyer=buyer, supplier=supplier, number="4500000099")
        free = start_conversation(supplier_admin, buyer, subject="General question", body="About pallets")
        about_invoice = start_conversation(
            supplier_admin, buyer, subject="Invoice", body="Paid?", document=invoice
        )
        about_order = start_conversation(
            buyer_admin, supplier, subject="Order", body="Shipping soon", document=order
        )
        return free, about_invoice, about_order

    def subjects(self, client, organization, **params):
        response = client.get(url("inbox", organization), params)
        return inbox_subjects(response)

    def test_newest_first_and_filters(self, client, conversations, supplier, supplier_admin):
        client.force_login(supplier_admin)
        assert self.subjects(client, supplier) == ["Order", "Invoice", "General question"]
        assert self.subjects(client, supplier, filter="unread") == ["Order"]
        assert self.subjects(client, supplier, filter="context_free") == ["General question"]
        assert self.subjects(client, supplier, filter="purchase_order") == ["Order"]
        assert self.subjects(client, supplier, filter="invoice") == ["Invoice"]

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("general", ["General question"]),  # subject
            ("INV-77", ["Invoice"]),  # document number
            ("pallets", ["General question"]),  # message text
            ("nordwind", ["Order", "Invoice", "General question"]),  # counterpart name
            ("nothing-like-this", []),
        ],
    )
    def test_search(self, client, conversations, supplier, supplier_admin, query, expected):
        client.force_login(supplier_admin)
        assert self.subjects(client, supplier, q=query) == expected

    def test_message_search_is_by_word_on_postgresql_and_by_substring_elsewhere(
        self, client, conversations, supplier, supplier_admin
    ):
        client.force_login(supplier_admin)
        found = self.subjects(client, supplier, q="pallet")
        if connection.vendor == "postgresql":
            assert found == []  # full-text search matches words, not fragments
            assert Message.objects.filter(search_vector__isnull=False).count() == 3
        else:
            assert found == ["General question"]

    @pytest.mark.parametrize("rows", [5, 50])
    def test_query_count_is_flat(
        self, client, connected, supplier, supplier_admin, buyer, rows, settings, django_assert_num_queries
    ):
        settings.PAGE_SIZE = 50
        for n in range(rows):
            document = DocumentFactory(buyer=buyer, supplier=supplier) if n % 2 else None
            start_conversation(supplier_admin, buyer, subject=f"S{n}", document=document)
        client.force_login(supplier_admin)
        client.get(url("inbox", supplier))
        cache.clear()
        # session, user, memberships (active one and switcher), live version, rows (counterpart, document,
        # unread): no COUNT
        with django_assert_num_queries(5):
            response = client.get(url("inbox", supplier))
        assert len(inbox_subjects(response)) == rows
        # The same rows again come from the cache: the live version says nothing changed.
        with django_assert_num_queries(4):
            again = client.get(url("inbox", supplier))
        listed = re.compile(r'<div id="conversation-list".*?</ul>', re.DOTALL)
        assert listed.search(again.content.decode())[0] == listed.search(response.content.decode())[0]


class TestConversationPage:
    @pytest.mark.parametrize("rows", [5, 50])
    def test_query_count_is_flat(
        self, client, connected, supplier, supplier_admin, buyer, buyer_admin, rows, django_assert_num_queries
    ):
        conversation = start_conversation(supplier_admin, buyer, files=[("a.txt", b"a")])
        from messaging import services
        from tenants.models import Membership

        membership = Membership.objects.get(user=buyer_admin)
        for n in range(rows - 1):
            services.message_post(
                actor=buyer_admin, membership=membership, conversation=conversation, body=f"m{n}"
            )
        client.force_login(supplier_admin)
        client.get(url("conversation", supplier, conversation_id=conversation.pk))
        cache.clear()
        # session, user, memberships, conversation with counterpart, read state and connection (may send?),
        # messages with authors, their attachments
        with django_assert_num_queries(6):
            response = client.get(url("conversation", supplier, conversation_id=conversation.pk))
        assert len(thread_bodies(response)) == rows
        # Again, nothing new: the page comes from the cache (session, user, memberships, the conversation).
        with django_assert_num_queries(4):
            again = client.get(url("conversation", supplier, conversation_id=conversation.pk))
        assert thread_bodies(again) == thread_bodies(response)

    def test_a_long_history_shows_the_latest_50_and_pages_back(
        self, client, connected, supplier, supplier_admin, buyer, buyer_admin, django_assert_num_queries
    ):
        conversation = start_conversation(supplier_admin, buyer, body="m0")
        Message.objects.bulk_create(
            [
                Message(
                    conversation=conversation, author=buyer_admin, author_organization=buyer, body=f"m{n}"
                )
                for n in range(1, 120)
            ]
        )
        client.force_login(supplier_admin)
        page_url = url("conversation", supplier, conversation_id=conversation.pk)
        client.get(page_url)
        cache.clear()
        with django_assert_num_queries(6):  # the same as for 5 messages: never the whole history
            latest = client.get(page_url)
        assert thread_bodies(latest) == [f"m{n}" for n in range(70, 120)]
        assert 'id="live"' in latest.content.decode()
        earlier = latest.context["earlier_id"]
        assert f'href="?before={earlier}"' in latest.content.decode()
        older = client.get(page_url, {"before": earlier})
        assert thread_bodies(older) == [f"m{n}" for n in range(20, 70)]
        assert 'id="live"' not in older.content.decode()  # no live appends below an older page
        assert "Show the latest messages" in older.content.decode()
        oldest = client.get(page_url, {"before": older.context["earlier_id"]})
        assert thread_bodies(oldest) == [f"m{n}" for n in range(20)]
        assert oldest.context["earlier_id"] is None
        for junk in ("-1", "abc", "9" * 40):  # a careless or hostile value shows the latest page
            assert thread_bodies(client.get(page_url, {"before": junk}))[-1] == "m119"

    def test_opening_marks_read(self, client, connected, supplier, supplier_admin, buyer, buyer_admin):
        conversation = start_conversation(buyer_admin, supplier)
        client.force_login(supplier_admin)
        assert "badge-count" in client.get(url("inbox", supplier)).content.decode()
        client.get(url("conversation", supplier, conversation_id=conversation.pk))
        assert "badge-count" not in client.get(url("inbox", supplier)).content.decode()


class TestLive:
    def test_conversation_check_is_one_query_when_nothing_changed(
        self, client, connected, supplier, supplier_admin, buyer, buyer_admin, django_assert_num_queries
    ):
        conversation = start_conversation(buyer_admin, supplier)
        last = Message.objects.get().pk
        client.force_login(supplier_admin)
        live = url("conversation_live", supplier, conversation_id=conversation.pk)
        client.get(live, {"after": last})
        with django_assert_num_queries(4):  # session, user, membership; then the one check
            assert client.get(live, {"after": last}).status_code == 204
        from messaging import services
        from tenants.models import Membership

        services.message_post(
            actor=buyer_admin,
            membership=Membership.objects.get(user=buyer_admin),
            conversation=conversation,
            body="New!",
        )
        response = client.get(live, {"after": last}, headers={"HX-Request": "true"})
        html = response.content.decode()
        assert response.status_code == 200 and "New!" in html and 'hx-swap-oob="beforeend:#thread"' in html
        newest = Message.objects.latest("id").pk
        assert f"after={newest}" in html

    def test_check_refuses_out_of_range_ids_without_an_error(
        self, client, connected, supplier, supplier_admin, buyer_admin
    ):
        conversation = start_conversation(buyer_admin, supplier)
        client.force_login(supplier_admin)
        live = url("conversation_live", supplier, conversation_id=conversation.pk)
        for after in ("99999999999999999999999", "-5", "x", "1e9", ""):
            assert client.get(live, {"after": after}).status_code in (200, 204), after
        huge = url("conversation_live", supplier, conversation_id=10**20)
        assert client.get(huge, {"after": "0"}).status_code == 404

    def test_badge_answers_204_until_something_changes(
        self, client, connected, supplier, supplier_admin, buyer, buyer_admin, django_assert_num_queries
    ):
        client.force_login(supplier_admin)
        badge = url("badge", supplier)
        first = client.get(badge).content.decode()
        version = re.search(r"\?v=([^\"]+)\"", first).group(1).replace("&amp;", "&")
        from urllib.parse import unquote

        version = unquote(version)
        with django_assert_num_queries(4):
            assert client.get(badge, {"v": version}).status_code == 204
        start_conversation(buyer_admin, supplier)
        changed = client.get(badge, {"v": version})
        assert changed.status_code == 200 and 'class="badge badge-count">1' in changed.content.decode()


class TestAttachments:
    def test_download_only_through_the_view_with_safe_headers(
        self, client, connected, supplier, supplier_admin, buyer, buyer_member
    ):
        start_conversation(supplier_admin, buyer, files=[('quote "2027".html', b"<script>alert(1)</script>")])
        attachment = Message.objects.get().attachments.get()
        client.force_login(buyer_member)
        response = client.get(url("attachment", buyer, attachment_id=attachment.pk))
        assert response.status_code == 200
        assert response["Content-Disposition"].startswith("attachment;")
        assert response["Content-Type"] == "application/octet-stream"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert b"".join(response.streaming_content) == b"<script>alert(1)</script>"
        outsider = MembershipFactory(organization=BuyerFactory()).user
        client.force_login(outsider)
        assert (
            client.get(
                url("attachment", outsider.memberships.get().organization, attachment_id=attachment.pk)
            ).status_code
            == 404
        )


@pytest.mark.parametrize("language", ["en", "de", "pl", "pt-br", "fi"])
def test_messaging_pages_in_every_language(client, connected, supplier, supplier_admin, buyer, language):
    from django.utils import translation

    conversation = start_conversation(supplier_admin, buyer)
    supplier_admin.language = language
    supplier_admin.save()
    client.force_login(supplier_admin)
    with translation.override(language):
        expected = [
            translation.gettext(text)
            for text in ("Messages", "New message", "Unread", "Context-free", "Purchase orders", "Invoices")
        ]
        reply = [translation.gettext(text) for text in ("Reply", "Attach files", "Send")]
    inbox = client.get(url("inbox", supplier)).content.decode()
    page = client.get(url("conversation", supplier, conversation_id=conversation.pk)).content.decode()
    for text in expected:
        assert text in inbox, (language, text)
    for text in reply:
        assert text in page, (language, text)
    if language != "en":
        assert "New message" not in inbox and "Attach files" not in page


def test_admin_reads_conversations_and_never_edits_messages(admin_client, connected, supplier_admin, buyer):
    conversation = start_conversation(supplier_admin, buyer, subject="Admin view")
    message = Message.objects.get()
    assert (
        "Admin view" in admin_client.get(reverse("admin:messaging_conversation_changelist")).content.decode()
    )
    assert admin_client.get(reverse("admin:messaging_message_changelist"), {"q": "Hello"}).status_code == 200
    page = admin_client.get(reverse("admin:messaging_message_change", args=[message.pk])).content.decode()
    assert 'name="body"' not in page  # shown, not editable
    admin_client.post(reverse("admin:messaging_message_change", args=[message.pk]), {"body": "rewritten"})
    message.refresh_from_db()
    assert message.body == "Hello"
    assert (
        admin_client.get(reverse("admin:messaging_conversation_change", args=[conversation.pk])).status_code
        == 200
    )


def _tags(markup: str) -> str:
    return re.sub(r">\s+<", "><", str(markup)).strip()


@pytest.mark.parametrize(
    "data",
    [{}, {"filter": "unread", "q": "a<b"}, {"filter": "", "q": ""}, {"filter": "bogus", "q": "x" * 101}],
)
def test_the_inbox_filters_are_written_out_as_the_field_template_would(
    client, connected, supplier, supplier_admin, data
):
    from messaging.forms import InboxFilterForm

    client.force_login(supplier_admin)
    page = _tags(client.get(url("inbox", supplier), data).content.decode())
    form = InboxFilterForm(data)
    form.is_valid()
    for name in ("filter", "q"):
        assert _tags(form[name].as_field_group()) in page


@pytest.mark.parametrize(
    "data, error",
    [
        (None, None),
        ({"body": "Hello <there>", "client_token": "zz"}, ("files", "Too big")),
        ({"body": ""}, None),
    ],
)
def test_the_composer_is_written_out_as_the_field_template_would(rf, data, error):
    from django.template.loader import render_to_string

    from messaging.forms import ReplyForm

    form = ReplyForm(data)
    if data is not None:
        form.is_valid()
    if error:
        form.add_error(*error)
    request = rf.get("/")
    html = _tags(render_to_string("components/message_form.html", {"form": form, "action": "/"}, request))
    for name in ("body", "files"):
        assert _tags(form[name].as_field_group()) in html
