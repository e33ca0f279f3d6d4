"""Inbox search on PostgreSQL finds a rare term in conversation subjects from a trigram index (`icontains`
compares UPPER(subject), so the index is on that expression); SQLite scans, which is fine at its sizes."""

from django.db import migrations

INDEX = "messaging_conversation_subject_trgm"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON messaging_conversation "
            "USING gin (upper(subject::text) gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("messaging", "0003_message_quoted")]

    operations = [migrations.RunPython(create, drop)]
