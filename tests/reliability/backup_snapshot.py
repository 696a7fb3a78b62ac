"""What a restore must reproduce, read from the database in ``DATABASE_URL``; prints one JSON line.

    python -m tests.reliability.backup_snapshot

* ``tables`` — every case series' publication tables (:func:`registry.exports.tables.build_tables`, internal
  mode, every centre), each as the CSV text of its per-patient table and of its summary;
* ``history`` — every audit-history table (django-simple-history): its row count and a SHA-256 of all its
  rows (every column, in a fixed order), plus the first rows in clear for a readable difference;
* ``rows`` — the row count of every table of the registry's models.
"""

from __future__ import annotations

import hashlib
import json
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings.test")
django.setup()

from django.apps import apps  # noqa: E402
from django.db import connection  # noqa: E402

from registry.exports import selectors, services, tables  # noqa: E402
from registry.models import CaseSeries, ExportMode  # noqa: E402
from registry.signals import history_tables  # noqa: E402

SHOWN_ROWS = 3


def series_tables() -> dict[str, dict[str, str]]:
    policy = services.policy_for(ExportMode.INTERNAL)
    out = {}
    for series in CaseSeries.objects.order_by("name"):
        data = selectors.series_data(series, centre_ids=None)
        built = tables.build_tables(data, policy)
        out[series.name] = {
            f"{key}.{part}": getattr(table, part).to_csv(index=False)
            for key, table in built.items()
            for part in ("patients", "summary")
        }
    return out


def history() -> dict[str, dict]:
    out = {}
    with connection.cursor() as cursor:
        for table in history_tables():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 (model table names)
            rows = sorted(json.dumps(row, default=str) for row in cursor.fetchall())
            out[table] = {
                "count": len(rows),
                "sha256": hashlib.sha256("\n".join(rows).encode()).hexdigest(),
                "first": rows[:SHOWN_ROWS],
            }
    return out


def row_counts() -> dict[str, int]:
    counts = {}
    with connection.cursor() as cursor:
        for model in apps.get_models():
            if model._meta.managed and not model._meta.proxy:
                table = model._meta.db_table
                cursor.execute(f'SELECT count(*) FROM "{table}"')  # noqa: S608
                counts[table] = cursor.fetchone()[0]
    return counts


if __name__ == "__main__":
    print(json.dumps({"tables": series_tables(), "history": history(), "rows": row_counts()}))
