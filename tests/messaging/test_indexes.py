"""Inbox search finds a rare term through indexes, never by reading every conversation (PostgreSQL)."""

import pytest

from documents.models import Document
from messaging.models import Conversation
from tests.plans import plan, postgresql_only

pytestmark = [pytest.mark.django_db, postgresql_only]


def test_a_substring_of_a_subject_is_found_through_the_trigram_index():
    assert "messaging_conversation_subject_trgm" in plan(
        Conversation.objects.filter(subject__icontains="quetz")
    )


def test_a_substring_of_a_document_number_is_found_through_the_trigram_index():
    assert "documents_document_number_trgm" in plan(Document.objects.filter(number__icontains="4500"))
