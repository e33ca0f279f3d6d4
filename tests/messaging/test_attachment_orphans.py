"""Attachment files left in storage by a post that rolled back are deleted, and nothing else is (issue 8)."""

import math
import os
import time
import uuid
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from config import celery_app
from messaging import services
from messaging.models import Attachment, Message, attachment_path
from messaging.signals import message_saved
from messaging.tasks import delete_orphaned_attachments
from tenants.models import Membership
from tests.factories import ConnectionFactory, start_conversation

pytestmark = pytest.mark.django_db

DAY = 24 * 60 * 60


@pytest.fixture
def connected(buyer, supplier):
    return ConnectionFactory(supplier=supplier, customer=buyer)


@pytest.fixture
def in_use(connected, supplier_admin, buyer) -> str:
    """One attachment a message names: the database is the bucket's own (the sweep refuses otherwise)."""
    start_conversation(supplier_admin, buyer, files=[("In use.pdf", b"%PDF-1.7 in use")])
    return Attachment.objects.get().file.name


def stored_files() -> set[str]:
    """Every file in the default storage (the test's media folder), as storage names."""
    root = default_storage.location
    return {
        os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/")
        for folder, _dirs, names in os.walk(root)
        for name in names
    }


def age(name: str, seconds: float) -> None:
    """Make a stored file look as if it was written `seconds` ago."""
    then = time.time() - seconds
    os.utime(default_storage.path(name), (then, then))


def orphan(*, days: float = 2, folder: str = "attachments/2026/11") -> str:
    name = default_storage.save(f"{folder}/{uuid.uuid4().hex}", ContentFile(b"left behind"))
    age(name, days * DAY)
    return name


def _upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def sweep() -> int:
    return services.attachment_orphans_delete(older_than=timezone.now() - timedelta(days=1))


def test_the_layout_swept_is_the_one_attachments_are_stored_in():
    assert attachment_path(None, "x.pdf").startswith(services.ATTACHMENTS_DIR + "/")


def test_an_orphan_older_than_a_day_is_deleted_and_referenced_files_are_kept(
    connected, supplier_admin, buyer
):
    start_conversation(supplier_admin, buyer, files=[("Quote.pdf", b"%PDF-1.7 kept")])
    kept = Attachment.objects.get().file.name
    age(kept, 30 * DAY)  # old, but a message names it
    orphan(days=2)
    assert sweep() == 1
    assert stored_files() == {kept}
    assert Attachment.objects.get().file.read() == b"%PDF-1.7 kept"


def test_a_young_orphan_is_kept_as_its_transaction_may_still_commit():
    young = orphan(days=0.5)
    assert sweep() == 0
    assert stored_files() == {young}


def test_files_outside_the_attachments_folder_are_never_touched():
    elsewhere = orphan(days=30, folder="exports")
    assert sweep() == 0
    assert stored_files() == {elsewhere}


def test_no_attachment_row_at_all_is_a_wrong_database_and_nothing_is_deleted(django_assert_num_queries):
    left = orphan(days=30)
    with django_assert_num_queries(1):
        assert sweep() == 0
    assert stored_files() == {left}


def test_nothing_stored_yet_is_nothing_to_do(in_use, django_assert_num_queries):
    default_storage.delete(in_use)
    with django_assert_num_queries(1):  # whether any row exists; no file, so no batch to check
        assert sweep() == 0


def test_a_rolled_back_post_leaves_a_file_that_the_sweep_deletes_a_day_later(
    in_use, connected, supplier_admin, buyer
):
    """The outer transaction rolls back after the post (as a duplicate inbound email's does): an orphan."""
    with pytest.raises(RuntimeError), transaction.atomic():
        start_conversation(supplier_admin, buyer, files=[("Quote.pdf", b"%PDF-1.7")])
        raise RuntimeError("the caller's transaction fails after the post")
    assert Message.objects.count() == 1
    [left] = stored_files() - {in_use}
    assert sweep() == 0  # still young
    age(left, DAY + 60)
    assert sweep() == 1
    assert stored_files() == {in_use}


def test_the_sweep_needs_only_the_storage_api(connected, supplier_admin, buyer, settings):
    """Django's InMemoryStorage has no folders on disk and no path(), as S3 has none: the sweep works."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    assert services.attachment_orphans_delete(older_than=timezone.now()) == 0  # nothing stored yet
    start_conversation(supplier_admin, buyer, files=[("Quote.pdf", b"%PDF-1.7")])
    kept = Attachment.objects.get().file.name
    left = default_storage.save(f"attachments/2026/11/{uuid.uuid4().hex}", ContentFile(b"left behind"))
    # Both files were just written: a cutoff a moment ahead makes them old enough.
    assert services.attachment_orphans_delete(older_than=timezone.now() + timedelta(seconds=1)) == 1
    assert default_storage.exists(kept) and not default_storage.exists(left)


@pytest.mark.parametrize("files", [10, 2500])
def test_queries_grow_with_batches_not_files(files, in_use, django_assert_max_num_queries):
    for month in range(files):
        orphan(folder=f"attachments/2025/{month % 12 + 1:02d}")
    with django_assert_max_num_queries(1 + math.ceil((files + 1) / services.ORPHAN_BATCH)):
        assert sweep() == files
    assert stored_files() == {in_use}


def test_a_batch_mixing_named_and_orphaned_files_deletes_only_the_orphans(
    connected, supplier_admin, buyer, monkeypatch
):
    for n in range(3):
        start_conversation(supplier_admin, buyer, subject=f"S{n}", files=[(f"{n}.pdf", b"%PDF-1.7")])
    named = set(Attachment.objects.values_list("file", flat=True))
    for name in named:
        age(name, 10 * DAY)
    orphans = {orphan() for _ in range(4)}
    monkeypatch.setattr(services, "ORPHAN_BATCH", 2)  # batches of two: boundaries cross both kinds
    assert sweep() == len(orphans)
    assert stored_files() == named


class TestAFailedPostDeletesItsFiles:
    @pytest.fixture
    def fail_after_files_are_stored(self):
        """A receiver of message_saved (sent once the attachments are stored) fails as the database would."""
        errors: list[Exception] = []

        def fail(**kwargs):
            if errors:
                raise errors.pop(0)

        message_saved.connect(fail, weak=False, dispatch_uid="test-fail")
        yield errors
        message_saved.disconnect(dispatch_uid="test-fail")

    def test_a_database_error_mid_post_leaves_no_file(
        self, connected, supplier_admin, buyer, fail_after_files_are_stored
    ):
        fail_after_files_are_stored.append(OperationalError("server closed the connection unexpectedly"))
        with pytest.raises(OperationalError):
            start_conversation(
                supplier_admin, buyer, files=[("a.pdf", b"%PDF-1.7"), ("b.txt", b"second file")]
            )
        assert not Message.objects.exists() and not Attachment.objects.exists()
        assert stored_files() == set()

    def test_an_integrity_error_mid_reply_leaves_no_file_and_the_conversation_intact(
        self, connected, supplier_admin, buyer, buyer_admin, fail_after_files_are_stored
    ):
        conversation = start_conversation(supplier_admin, buyer, files=[("first.pdf", b"%PDF-1.7")])
        first = set(Attachment.objects.values_list("file", flat=True))
        fail_after_files_are_stored.append(IntegrityError("duplicate key value"))
        with pytest.raises(IntegrityError):
            services.message_post(
                actor=buyer_admin,
                membership=Membership.objects.get(user=buyer_admin),
                conversation=conversation,
                body="Reply with a file",
                uploads=services.prepare_uploads([_upload("reply.pdf", b"%PDF-1.7 reply")]),
            )
        assert Message.objects.count() == 1
        assert stored_files() == first

    def test_a_form_sent_twice_with_a_file_keeps_one_file(
        self, connected, supplier_admin, buyer, buyer_admin
    ):
        conversation = start_conversation(supplier_admin, buyer)
        token = uuid.uuid4()
        replies = [
            services.message_post(
                actor=buyer_admin,
                membership=Membership.objects.get(user=buyer_admin),
                conversation=conversation,
                body="Mine",
                uploads=services.prepare_uploads([_upload("mine.pdf", b"%PDF-1.7 mine")]),
                client_token=token,
            )
            for _ in range(2)
        ]
        assert replies[0] == replies[1]
        [attachment] = Attachment.objects.all()
        assert stored_files() == {attachment.file.name}


class TestTask:
    def test_beat_runs_it_daily(self, settings):
        [entry] = [
            entry
            for entry in settings.CELERY_BEAT_SCHEDULE.values()
            if entry["task"] == "messaging.tasks.delete_orphaned_attachments"
        ]
        assert (entry["schedule"].hour, entry["schedule"].minute) == ({3}, {30})  # once a day, at 03:30
        assert "messaging.tasks.delete_orphaned_attachments" in celery_app.tasks

    def test_the_task_deletes_orphans_a_day_old_and_twice_changes_nothing(self, in_use):
        old, young = orphan(days=1.1), orphan(days=0.9)
        assert delete_orphaned_attachments.apply().get() == 1
        assert delete_orphaned_attachments.apply().get() == 0
        assert stored_files() == {young, in_use}
        assert old not in stored_files()
