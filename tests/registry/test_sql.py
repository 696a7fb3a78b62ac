"""Rows read now and converted later, on another thread (registry.sql.fetch_pending): the export's reader
runs its statements one after the other while a worker thread converts and uses the earlier ones' rows."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import DatabaseError, connection, transaction

from outcomes.models import Visit
from registry.sql import fetch, fetch_pending, value_rows, value_rows_pending
from tests.factories import enrol

pytestmark = pytest.mark.django_db


def test_pending_rows_are_the_rows_of_the_statement_whichever_thread_converts_them(rome, rome_clinician):
    patients = [enrol(rome, rome_clinician, diagnosis=d) for d in ("sle", "jdm", "ssc")]
    sql = "SELECT id, code, diagnosis_date, diagnosis FROM patients_patient ORDER BY id"
    expected = fetch(sql, [])
    assert [row[1] for row in expected] == [p.code for p in patients]
    first, second = fetch_pending(sql, []), fetch_pending(sql + " DESC", [])
    # Both statements ran before either result was converted; a second connection-free thread converts.
    with ThreadPoolExecutor(max_workers=1) as worker:
        converted = worker.submit(lambda: (first.rows(), second.rows())).result()
    assert converted == (expected, expected[::-1])
    with pytest.raises(RuntimeError, match="already handed over"):
        first.rows()  # handed over once: never a second, silently empty, list
    assert isinstance(expected[0][2], dt.date)


def test_pending_queryset_rows_equal_the_querysets_own(rome, rome_clinician):
    enrol(rome, rome_clinician)
    queryset = Visit.objects.order_by("pk").values_list("patient_id", "visit_date")
    assert value_rows_pending(queryset).rows() == value_rows(queryset) == list(queryset)


def test_a_failing_statement_raises_at_once_and_leaves_the_connection_usable(db):
    with pytest.raises(DatabaseError), transaction.atomic():
        fetch_pending("SELECT no_such_column FROM patients_patient", [])
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
