"""Database guards installed after every migrate: audit history rows and access events are append-only.

PostgreSQL refuses UPDATE and DELETE on every history table (TRUNCATE, used by a database administrator's
retention procedure and by test flushes, is a statement-level operation and stays possible). SQLite refuses
UPDATE; it has no TRUNCATE, so its test flushes need DELETE.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db import connections
from simple_history.models import HistoricalChanges

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION registry_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit history is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
"""


def history_tables() -> list[str]:
    return sorted(
        m._meta.db_table
        for m in apps.get_models()
        if issubclass(m, HistoricalChanges) and not m._meta.abstract
    )


def append_only_tables() -> list[str]:
    """The history tables and the access log (registry.AccessEvent)."""
    return sorted({*history_tables(), apps.get_model("registry", "AccessEvent")._meta.db_table})


def install_append_only_guards(using: str = "default", **kwargs: Any) -> None:
    connection = connections[using]
    existing = set(connection.introspection.table_names())
    tables = [t for t in append_only_tables() if t in existing]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(PG_FUNCTION)
            for table in tables:
                cursor.execute(
                    f'CREATE OR REPLACE TRIGGER "{table}_append_only" BEFORE UPDATE OR DELETE ON "{table}" '
                    "FOR EACH ROW EXECUTE FUNCTION registry_audit_append_only()"
                )
        elif connection.vendor == "sqlite":
            for table in tables:
                cursor.execute(
                    f'CREATE TRIGGER IF NOT EXISTS "{table}_append_only" BEFORE UPDATE ON "{table}" '
                    "BEGIN SELECT RAISE(ABORT, 'audit history is append-only'); END"
                )
