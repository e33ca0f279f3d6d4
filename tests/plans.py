"""PostgreSQL's plan for a queryset, for tests that pin which index a read uses."""

import pytest
from django.db import connection

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="index plans are PostgreSQL's")


def plan(queryset) -> str:
    """EXPLAIN with sequential scans discouraged: an index that can serve the query shows up in the plan."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())
