"""Backup and restore drill (docs/BACKUP.md), on the session's throwaway PostgreSQL cluster.

The demo registry is loaded into a fresh database, dumped with ``pg_dump --format=custom`` and restored with
``pg_restore`` into another fresh database on the same server — the documented procedure, with the server's
own client binaries. The restore must give back identical case-series tables (the publication tables of every
series, as CSV text), identical audit history (every history table: row count and every row), identical row
counts everywhere, a schema Django considers fully migrated — and the database's append-only guard must still
refuse UPDATE and DELETE of history rows. Both databases are dropped at the end.
"""

from __future__ import annotations

import json

import psycopg
import pytest

from registry.demo_series import SERIES_NAME
from tests.reliability import stack
from tests.reliability.services import manage, run_module

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def refusal(url: str, statement: str) -> str:
    """The error PostgreSQL answers ``statement`` with ('' if it was accepted); always rolled back."""
    with psycopg.connect(url.replace("postgres://", "postgresql://"), connect_timeout=5) as conn:
        try:
            conn.execute(statement)
        except psycopg.Error as exc:
            return str(exc)
        finally:
            conn.rollback()
    return ""


def test_pg_dump_and_pg_restore_reproduce_tables_and_audit_history_and_keep_the_append_only_guard(
    request, tmp_path_factory
):
    pg = stack.cluster(request.config, tmp_path_factory)
    media = tmp_path_factory.mktemp("backup-media")
    source, source_url = stack.fresh_database(pg, "drill_source")
    restored = f"drill_restored_{source.rsplit('_', 1)[1]}"
    dump = pg.base / f"{source}.dump"
    try:
        manage(stack.env_for(source_url, media), "load_demo", timeout=300)
        before = run_module(stack.env_for(source_url, media), "tests.reliability.backup_snapshot")

        # The documented procedure (docs/BACKUP.md, bare host), with the server's own pg_dump and pg_restore.
        pg._run("pg_dump", "--format=custom", f"--file={dump}", f"--dbname={source_url}", timeout=300)
        listing = pg._run("pg_restore", "--list", str(dump)).stdout
        assert "TRIGGER" in listing and "registry_audit_append_only" in listing
        restored_url = pg.createdb(restored)
        pg._run(
            "pg_restore", "--exit-on-error", "--no-owner", f"--dbname={restored_url}", str(dump), timeout=300
        )

        after = run_module(stack.env_for(restored_url, media), "tests.reliability.backup_snapshot")
        # Not a vacuous comparison: the demo series has its tables, the audit trail its rows.
        demo = before["tables"][SERIES_NAME]
        assert demo and all(csv.count("\n") >= 2 for key, csv in demo.items() if key.endswith(".patients"))
        audited = {table: h["count"] for table, h in before["history"].items() if h["count"]}
        assert len(audited) >= 10 and before["history"]["patients_historicalpatient"]["count"] > 0

        assert after["tables"] == before["tables"]
        assert after["history"] == before["history"]
        assert after["rows"] == before["rows"]
        check = manage(stack.env_for(restored_url, media), "migrate", "--check", "--skip-checks", timeout=300)
        assert check.returncode == 0

        # The append-only guard came back with the restore: history rows cannot be changed or deleted.
        refused = {}
        for table in sorted(audited):
            first = f'(SELECT min(history_id) FROM "{table}")'
            refused[table] = (
                refusal(
                    restored_url,
                    f'UPDATE "{table}" SET history_id = history_id WHERE history_id = {first}',
                ),
                refusal(restored_url, f'DELETE FROM "{table}" WHERE history_id = {first}'),
            )
        accepted = {t: r for t, r in refused.items() if "append-only" not in r[0] or "append-only" not in r[1]}
        assert accepted == {}

        print(
            "\nBACKUP drill:",
            json.dumps(
                {
                    "dump_bytes": dump.stat().st_size,
                    "tables_compared": sum(len(t) for t in before["tables"].values()),
                    "history_tables": len(before["history"]),
                    "history_rows": sum(h["count"] for h in before["history"].values()),
                    "tables_row_counts_compared": len(before["rows"]),
                    "rows": sum(before["rows"].values()),
                    "history_tables_refusing_update_and_delete": len(refused),
                }
            ),
        )
    finally:
        dump.unlink(missing_ok=True)
        pg.dropdb(restored)
        pg.dropdb(source)
