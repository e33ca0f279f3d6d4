"""The bench database's bookkeeping: the seed marker, wiping, and putting back what a run changed.

Scenarios write (sending a message, replies by email, the digest's outbox rows), so each run would leave the
data a little bigger than the last, and a tiny database would drift fast. The seed keeps a copy of every
denormalized field that a write changes (bench_snapshot_* tables) and the highest id of every table writes
append to; `restore()` deletes the appended rows and puts the copied fields back, so every run starts from
exactly the seeded state, even after a run that crashed.
"""

import json

from bench.common import MARKER_TABLE

# Fields that message_post and mark-as-read change in place.
SNAPSHOTS = {
    "messaging_conversation": ["last_message_at", "last_message_snippet", "message_count", "status"],
    "messaging_participant": ["last_message_at"],
    "messaging_readstate": ["unread_count", "last_read_at", "updated_at"],
}
# Tables a run appends to, in an order that deletes rows before the rows they point at.
APPENDED = [
    "notifications_inboundemail",
    "notifications_outgoingemail",
    "notifications_replytoken",
    "messaging_attachment",
    "messaging_message",
    "messaging_readstate",
]
# Tables the seed leaves empty and a run may fill: emptied first (they point at appended rows).
EMPTIED = ["notifications_pendingmessageemails"]
# Left alone by a wipe: Django's own bookkeeping, remade only by migrate.
KEPT = {"django_migrations", "django_content_type", "auth_permission"}


def _execute(sql: str, params: list | None = None) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def marker_table_create() -> None:
    _execute(
        f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (id serial PRIMARY KEY, size text NOT NULL,"
        " complete boolean NOT NULL DEFAULT false, info jsonb NOT NULL, created_at timestamptz DEFAULT now())"
    )


def marker_write(info: dict) -> None:
    _execute(
        f"INSERT INTO {MARKER_TABLE} (size, complete, info) VALUES (%s, true, %s::jsonb)",  # noqa: S608
        [info["size"], json.dumps(info)],
    )


def marker_update(extra: dict) -> None:
    _execute(
        f"UPDATE {MARKER_TABLE} SET info = info || %s::jsonb WHERE complete",  # noqa: S608
        [json.dumps(extra)],
    )


def wipe() -> None:
    """Empty every table of the app (a different size, or an older seed, is being replaced)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = sorted(name for (name,) in cursor.fetchall() if name not in KEPT)
        snapshots = [name for name in tables if name.startswith("bench_snapshot_")]
        for name in snapshots:
            cursor.execute(f'DROP TABLE "{name}"')
        names = ", ".join(f'"{name}"' for name in tables if name not in snapshots)
        cursor.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


def snapshot_create() -> None:
    for table, columns in SNAPSHOTS.items():
        snapshot = f"bench_snapshot_{table}"
        _execute(f"DROP TABLE IF EXISTS {snapshot}")
        _execute(f"CREATE TABLE {snapshot} AS SELECT id, {', '.join(columns)} FROM {table}")  # noqa: S608
        _execute(f"ALTER TABLE {snapshot} ADD PRIMARY KEY (id)")


def max_ids() -> dict[str, int]:
    from django.db import connection

    result = {}
    with connection.cursor() as cursor:
        for table in APPENDED:
            cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table}")  # noqa: S608
            result[table] = cursor.fetchone()[0]
    return result


def restore(seeded_max_ids: dict[str, int]) -> dict[str, int]:
    """Back to the seeded state; returns how many rows were deleted or put back per table."""
    from django.db import transaction

    changed: dict[str, int] = {}
    with transaction.atomic():
        for table in EMPTIED:
            deleted = _execute(f"DELETE FROM {table}")  # noqa: S608 - our own table names
            if deleted:
                changed[f"{table} deleted"] = deleted
        for table in APPENDED:
            deleted = _execute(f"DELETE FROM {table} WHERE id > %s", [seeded_max_ids[table]])  # noqa: S608
            if deleted:
                changed[f"{table} deleted"] = deleted
        for table, columns in SNAPSHOTS.items():
            names = ", ".join(columns)
            values = ", ".join(f"s.{column}" for column in columns)
            current = ", ".join(f"t.{column}" for column in columns)
            updated = _execute(
                f"UPDATE {table} t SET ({names}) = ROW({values}) FROM bench_snapshot_{table} s"  # noqa: S608
                f" WHERE t.id = s.id AND ({current}) IS DISTINCT FROM ({values})"
            )
            if updated:
                changed[f"{table} restored"] = updated
    return changed


def vacuum_analyze() -> None:
    """Fresh statistics and a visibility map, as a database that autovacuum has long looked after."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")


# Each counts the rows where a denormalized field differs from what messaging.services would have stored.
CHECKS = {
    "conversation count or last time": """
        SELECT count(*) FROM messaging_conversation c
        LEFT JOIN (SELECT conversation_id, count(*) AS n, max(created_at) AS last FROM messaging_message
                   GROUP BY conversation_id) m ON m.conversation_id = c.id
        WHERE m.n IS NULL OR c.message_count <> m.n OR c.last_message_at <> m.last""",
    "conversation snippet": """
        SELECT count(*) FROM messaging_conversation c
        CROSS JOIN LATERAL (SELECT body FROM messaging_message m WHERE m.conversation_id = c.id
                            ORDER BY created_at DESC, id DESC LIMIT 1) l
        WHERE c.last_message_snippet <> left(l.body, 200)""",
    "participant last time": """
        SELECT count(*) FROM messaging_participant p JOIN messaging_conversation c ON c.id = p.conversation_id
        WHERE p.last_message_at <> c.last_message_at""",
    "conversation without two participants": """
        SELECT count(*) FROM messaging_conversation c
        WHERE (SELECT count(*) FROM messaging_participant p WHERE p.conversation_id = c.id) <> 2""",
    "read state unread count": """
        SELECT count(*) FROM messaging_readstate r
        WHERE r.unread_count <> (SELECT count(*) FROM messaging_message m
                                 WHERE m.conversation_id = r.conversation_id AND m.created_at > r.last_read_at
                                       AND m.author_id IS DISTINCT FROM r.user_id)""",
    "author without read state": """
        SELECT count(*) FROM (SELECT DISTINCT conversation_id, author_id FROM messaging_message) a
        LEFT JOIN messaging_readstate r ON r.conversation_id = a.conversation_id AND r.user_id = a.author_id
        WHERE r.id IS NULL""",
    "message search vector": """
        SELECT count(*) FROM messaging_message
        WHERE search_vector IS DISTINCT FROM to_tsvector('simple'::regconfig, COALESCE(body, ''))""",
    "document not between the participants": """
        SELECT count(*) FROM messaging_conversation c JOIN documents_document d ON d.id = c.document_id
        WHERE (SELECT array_agg(organization_id ORDER BY organization_id) FROM messaging_participant p
               WHERE p.conversation_id = c.id) <> ARRAY[least(d.buyer_id, d.supplier_id),
                                                        greatest(d.buyer_id, d.supplier_id)]""",
    "service request search text": """
        SELECT count(*) FROM partners_servicerequest
        WHERE search_text <> left(lower(contact_name || ' | ' || store_name || ' | ' || store_url), 600)""",
}


def check() -> dict[str, int]:
    """The number of rows breaking each rule (all zero for a good seed, and after every restore)."""
    from django.db import connection

    with connection.cursor() as cursor:
        result = {}
        for name, sql in CHECKS.items():
            cursor.execute(sql)
            result[name] = cursor.fetchone()[0]
    return result
