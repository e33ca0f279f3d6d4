import uuid

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from connections.services import supplier_accounts_merge
from messaging import selectors, services
from messaging.models import Conversation, Message, Participant, ReadState
from messaging.signals import message_posted
from tenants.models import Membership
from tests.factories import (
    ConnectionFactory,
    DocumentFactory,
    MembershipFactory,
    SupplierFactory,
    start_conversation,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def connected(buyer, supplier):
    return ConnectionFactory(supplier=supplier, customer=buyer)


def membership(user):
    return Membership.objects.select_related("organization").get(user=user)


class TestWhoMaySend:
    def test_connected_enterprise_supplier_and_buyer_with_messaging_on(
        self, connected, supplier_admin, buyer
    ):
        conversation = start_conversation(supplier_admin, buyer, subject="Hello", body="First")
        conversation.refresh_from_db()
        assert conversation.message_count == 1
        assert set(Participant.objects.values_list("organization_id", flat=True)) == {
            buyer.pk,
            connected.supplier_id,
        }

    @pytest.mark.parametrize(
        ("setup", "message"),
        [
            ("standard", "Messaging is available to Enterprise suppliers"),
            ("messaging_off", "has turned messaging off"),
            ("not_connected", "You are not connected with"),
        ],
    )
    def test_refusals_save_nothing(self, buyer, supplier, supplier_admin, setup, message):
        if setup != "not_connected":
            ConnectionFactory(supplier=supplier, customer=buyer)
        if setup == "standard":
            supplier.tier = "standard"
            supplier.save()
        if setup == "messaging_off":
            buyer.messaging_enabled = False
            buyer.save()
        with pytest.raises(services.MessagingRefused, match=message):
            start_conversation(supplier_admin, buyer)
        assert not Conversation.objects.exists() and not Message.objects.exists()

    def test_buyer_is_told_when_the_supplier_is_standard(self, buyer, supplier, buyer_admin):
        ConnectionFactory(supplier=supplier, customer=buyer)
        supplier.tier = "standard"
        supplier.save()
        with pytest.raises(services.MessagingRefused, match="has a Standard account"):
            start_conversation(buyer_admin, supplier)

    def test_closed_conversation_refuses_replies(self, connected, supplier_admin, buyer):
        conversation = start_conversation(supplier_admin, buyer)
        Conversation.objects.filter(pk=conversation.pk).update(status="closed")
        conversation.refresh_from_db()
        with pytest.raises(services.MessagingRefused, match="closed"):
            services.message_post(
                actor=supplier_admin,
                membership=membership(supplier_admin),
                conversation=conversation,
                body="x",
            )

    def test_a_tier_downgrade_makes_existing_conversations_read_only(
        self, connected, supplier, supplier_admin, buyer
    ):
        conversation = start_conversation(supplier_admin, buyer)
        supplier.tier = "standard"
        supplier.save()
        with pytest.raises(services.MessagingRefused, match="Enterprise"):
            services.message_post(
                actor=supplier_admin,
                membership=membership(supplier_admin),
                conversation=conversation,
                body="x",
            )
        assert Message.objects.count() == 1

    @pytest.mark.parametrize(
        ("subject", "body", "message"),
        [
            ("", "Hello", "Write a subject"),
            ("Hi", "   \n ", "Write a message"),
            ("Hi", "x" * 10_001, "at most 10,000 characters"),
        ],
    )
    def test_bad_subject_or_body(self, connected, supplier_admin, buyer, subject, body, message):
        with pytest.raises(services.MessagingRefused, match=message):
            start_conversation(supplier_admin, buyer, subject=subject, body=body)
        assert not Conversation.objects.exists()

    def test_document_must_be_between_the_two(self, connected, supplier_admin, buyer):
        foreign = DocumentFactory(supplier=SupplierFactory())
        with pytest.raises(services.MessagingRefused, match="not between you"):
            start_conversation(supplier_admin, buyer, document=foreign)


class TestCountersAndReadState:
    def test_unread_for_everyone_but_the_author(
        self, connected, supplier, supplier_admin, buyer, buyer_admin
    ):
        colleague = MembershipFactory(organization=supplier).user
        conversation = start_conversation(supplier_admin, buyer)
        services.message_post(
            actor=buyer_admin, membership=membership(buyer_admin), conversation=conversation, body="Reply"
        )
        assert (
            selectors.unread_total(organization=buyer, user=buyer_admin) == 0
        )  # wrote the last one, read all
        assert selectors.unread_total(organization=supplier, user=supplier_admin) == 1
        assert selectors.unread_total(organization=supplier, user=colleague) == 2  # never opened it
        services.conversation_mark_read(user=colleague, conversation=conversation, unread=None)
        assert selectors.unread_total(organization=supplier, user=colleague) == 0
        conversation.refresh_from_db()
        assert (conversation.message_count, conversation.last_message_snippet) == (2, "Reply")

    def test_double_submit_writes_one_message(self, connected, supplier_admin, buyer):
        token = uuid.uuid4()
        first = services.conversation_start(
            actor=supplier_admin,
            membership=membership(supplier_admin),
            counterpart=buyer,
            subject="Once",
            body="Only once",
            client_token=token,
        )
        again = services.conversation_start(
            actor=supplier_admin,
            membership=membership(supplier_admin),
            counterpart=buyer,
            subject="Once",
            body="Only once",
            client_token=token,
        )
        assert first == again
        assert (Conversation.objects.count(), Message.objects.count()) == (1, 1)

    def test_another_persons_form_token_neither_reveals_nor_blocks(
        self, connected, supplier_admin, supplier_member, buyer, buyer_admin
    ):
        token = uuid.uuid4()
        theirs = services.conversation_start(
            actor=supplier_admin,
            membership=membership(supplier_admin),
            counterpart=buyer,
            subject="Theirs",
            body="Private",
            client_token=token,
        )
        mine = services.message_post(
            actor=buyer_admin,
            membership=membership(buyer_admin),
            conversation=theirs,
            body="Mine, with a copied token",
            client_token=token,
        )
        assert mine.body == "Mine, with a copied token" and mine.client_token is None
        assert Message.objects.filter(client_token=token).get().author == supplier_admin

    def test_message_posted_is_sent_after_commit_only(
        self, connected, supplier_admin, buyer, django_capture_on_commit_callbacks
    ):
        received = []
        message_posted.connect(lambda **kw: received.append(kw["message_id"]), weak=False, dispatch_uid="t")
        try:
            with django_capture_on_commit_callbacks(execute=False) as callbacks:
                start_conversation(supplier_admin, buyer)
            assert received == []  # nothing before the commit
            for callback in callbacks:
                callback()
            assert received == [Message.objects.get().pk]
        finally:
            message_posted.disconnect(dispatch_uid="t")


class TestUploads:
    def upload(self, name, content=b"hello"):
        return SimpleUploadedFile(name, content)

    @pytest.mark.parametrize(
        ("name", "content", "message"),
        [
            ("tool.exe", b"anything", "is a program"),
            ("invoice.pdf", b"MZ\x90\x00 renamed program", "contains a program"),
            ("script.pdf", b"#!/bin/sh\nrm -rf /", "contains a program"),
            ("lib.pdf", b"\x7fELF\x02\x01", "contains a program"),
            ("bad\x07name.txt", b"x", "control characters"),
            ("rtl\u202egnp.exe", b"x", "control characters"),
            ("empty.txt", b"", "is empty"),
        ],
    )
    def test_bad_files_are_refused(self, name, content, message):
        with pytest.raises(ValidationError, match=message):
            services.prepare_uploads([self.upload(name, content)])

    @staticmethod
    def archive(size: int) -> bytes:
        import io
        import zipfile

        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("zeros.bin", b"\0" * size)
        return buffer.getvalue()

    def test_a_zip_bomb_is_refused_without_unpacking_it(self):
        bomb = self.archive(50 * 1024 * 1024)  # 50 MB of zeros pack into about 50 KB
        assert len(bomb) < 100_000
        with pytest.raises(ValidationError, match="unpacks to far more than its size"):
            services.prepare_uploads([self.upload("report.zip", bomb)])

    def test_an_ordinary_archive_and_an_office_document_pass(self):
        import io
        import zipfile

        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(
                "word/document.xml", "<w:document>" + "Text of the contract. " * 400 + "</w:document>"
            )
        [upload] = services.prepare_uploads([self.upload("contract.docx", buffer.getvalue())])
        assert upload.name == "contract.docx"
        assert services.prepare_uploads([self.upload("photos.zip", self.archive(1000))])

    @pytest.mark.parametrize(
        ("name", "message"),
        [
            ("../../etc/passwd", "is not allowed"),
            ("..\\boot.ini", "is not allowed"),
            (".htaccess", "is not allowed"),
            ("a" * 300 + ".txt", "the most allowed is 255"),
            ("line\nbreak.txt", "control characters"),
        ],
    )
    def test_raw_names_are_refused(self, name, message):
        """Raw names come from inbound email; web uploads reach us already reduced to a basename by Django."""
        from messaging.uploads import clean_file_name

        with pytest.raises(ValidationError, match=message):
            clean_file_name(name)

    def test_size_limit_is_exactly_10_mb(self):
        limit = 10 * 1024 * 1024
        assert services.prepare_uploads([self.upload("ok.dat", b"\0" * limit)])[0].name == "ok.dat"
        with pytest.raises(ValidationError, match="larger than 10 MB"):
            services.prepare_uploads([self.upload("big.bin", b"\0" * (limit + 1))])

    def test_at_most_ten_files(self):
        assert len(services.prepare_uploads([self.upload(f"{n}.txt") for n in range(10)])) == 10
        with pytest.raises(ValidationError, match="at most 10 files"):
            services.prepare_uploads([self.upload(f"{n}.txt") for n in range(11)])

    def test_stored_name_is_generated_by_the_server(self, connected, supplier_admin, buyer):
        start_conversation(supplier_admin, buyer, files=[("Quote 2027.pdf", b"%PDF-1.7")])
        attachment = Message.objects.get().attachments.get()
        assert attachment.name == "Quote 2027.pdf"
        assert "Quote" not in attachment.file.name and attachment.file.name.startswith("attachments/")


def test_merged_suppliers_conversations_move_to_the_survivor(
    connected, supplier, supplier_admin, buyer, admin_user
):
    other = SupplierFactory(name="Other account")
    ConnectionFactory(supplier=other, customer=buyer)
    other_admin = MembershipFactory(organization=other, role="administrator").user
    conversation = start_conversation(other_admin, buyer, subject="From B")
    supplier_accounts_merge(actor=admin_user, survivor=supplier, merged=other)
    assert set(
        Participant.objects.filter(conversation=conversation).values_list("organization_id", flat=True)
    ) == {
        supplier.pk,
        buyer.pk,
    }
    assert Message.objects.get(conversation=conversation).author_organization == supplier
    assert ReadState.objects.filter(conversation=conversation).exists()


def test_an_organization_outside_the_conversation_cannot_post(connected, supplier_admin, buyer, outsider):
    conversation = start_conversation(supplier_admin, buyer)
    with pytest.raises(services.MessagingRefused, match="does not take part"):
        services.message_post(
            actor=outsider, membership=membership(outsider), conversation=conversation, body="Hi"
        )
    assert Message.objects.count() == 1
