"""The long-format export on the demo case series (SLE, JDM and SSc instruments, labs): the same rows as the
tidy visits and labs datasets, and on PostgreSQL the same rows from ``COPY`` as from the cursor path."""

from __future__ import annotations

import contextlib
import csv
import io

import pytest
from django.db import connection

from registry.demo_series import SERIES_NAME
from registry.exports import builder, longformat, services, stream
from registry.exports.builder import ExportRequest
from registry.models import CaseSeries


def parse(content: bytes) -> tuple[list[str], list[tuple[str, ...]]]:
    reader = csv.reader(io.StringIO(content.decode("utf-8")))
    return next(reader), [tuple(row) for row in reader]


@pytest.fixture
def series(demo_loaded, db):
    return CaseSeries.objects.get(name=SERIES_NAME)


@pytest.fixture
def registry_coordinator(series):
    """A registry-wide coordinator (the shared personas would add centres that the demo already has)."""
    from django.contrib.auth import get_user_model

    from registry.models import Membership

    user = get_user_model().objects.create_user(username="demo.coordinator", password="correct-horse-battery")
    Membership.objects.create(user=user, centre=None, role="coordinator")
    return user


def tidy_rows(series) -> list[tuple[str, ...]]:
    request = ExportRequest(
        series=series, fmt="tidy", policy=services.policy_for("internal"), requested_by="t"
    )
    files = {f.name: f.content for f in builder.build(request, centre_ids=None).files}
    rows = []
    for name in ("visits.csv", "labs.csv"):
        for r in parse(files[name])[1]:
            value = r[6]
            with contextlib.suppress(ValueError):  # numbers as PostgreSQL writes them; codes as they are
                value = longformat.float_text(float(value))
            rows.append((*r[:6], value, r[7]))
    return rows


def test_demo_rows_are_the_tidy_visits_and_labs_rows(series, registry_coordinator):
    export = stream.LongExport(user=registry_coordinator, series=series, centre_ids=None)
    header, rows = parse(b"".join(export.chunks()))
    assert header == list(longformat.COLUMNS)
    expected = tidy_rows(series)
    assert sorted(rows) == sorted(expected)
    variables = {r[5] for r in rows}
    # every instrument and a text variable are there: SLE, JDM, SSc scores, statuses, the JDM response
    assert {"sledai_2k", "cmas", "mrss", "remission", "lldas", "anc", "car_t"} <= variables
    assert {r[2] for r in rows} == {"sle", "jdm", "ssc"}


@pytest.mark.postgres
def test_demo_copy_and_cursor_paths_give_the_same_file(series):
    assert connection.vendor == "postgresql"
    copied = b"".join(stream.copy_chunks(longformat.query(series, centre_ids=None, for_copy=True)))
    cursor = b"".join(stream.cursor_chunks(longformat.query(series, centre_ids=None, for_copy=False)))
    copy_lines, cursor_lines = copied.split(b"\n"), cursor.split(b"\n")
    assert copy_lines[0] == cursor_lines[0] == ",".join(longformat.COLUMNS).encode()
    assert sorted(copy_lines[1:]) == sorted(cursor_lines[1:])
    assert len(copy_lines) > 1000
