"""Inbox search finds a rare term through indexes, never by reading every conversation (PostgreSQL)."""

import pytest
from django.db import connection

from documents.models import Document
from messaging.models import Conversation

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="index plans are PostgreSQL's"),
]


def plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_a_substring_of_a_subject_is_found_through_the_trigram_index():
    assert "messaging_conversation_subject_trgm" in plan(
        Conversation.objects.filter(subject__icontains="quetz")
    )


def test_a_substring_of_a_document_number_is_found_through_the_trigram_index():
    assert "documents_document_number_trgm" in plan(Document.objects.filter(number__icontains="4500"))
