"""The long-format export of all visits and laboratory values (issue 7, DESIGN §7): one row per patient ×
study day × variable, streamed (PostgreSQL ``COPY``, or a cursor elsewhere), scoped, logged."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import re

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from outcomes import services as outcomes
from outcomes.models import LabResult, Visit
from registry.exports import builder, longformat, services, stream
from registry.exports.builder import ExportRequest
from registry.exports.selectors import ExportFilters
from registry.models import CaseSeries, ExportLog, ExportStatus
from registry.records import void_record
from tests.registry.exports_factory import DAY0, add_patients, lab, small_registry, timepoint

ISO_DATE = re.compile(r"\b(19|20)\d\d-\d\d-\d\d\b")


@pytest.fixture
def registry(rome, erlangen, rome_clinician, erlangen_clinician, staff_admin):
    return small_registry(rome, erlangen, rome_clinician, erlangen_clinician, staff_admin)


def parse(content: bytes) -> tuple[list[str], list[tuple[str, ...]]]:
    reader = csv.reader(io.StringIO(content.decode("utf-8")))
    header = next(reader)
    return header, [tuple(row) for row in reader]


def export_bytes(user, series, *, centre_ids=None, filters=None) -> bytes:
    export = stream.LongExport(user=user, series=series, centre_ids=centre_ids, filters=filters)
    return b"".join(export.chunks())


def rows_of(user, series, **kwargs) -> list[tuple[str, ...]]:
    header, rows = parse(export_bytes(user, series, **kwargs))
    assert header == list(longformat.COLUMNS)
    return rows


def download(client, series, **params):
    response = client.get(reverse("exports:long", args=[series.pk]), params)
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return response, content


# --- rows and columns ----------------------------------------------------------------------------------------


def test_lab_values_come_with_study_day_timepoint_and_canonical_unit(registry, coordinator):
    rows = rows_of(coordinator, registry.series)
    anc = sorted(
        (int(r[3]), r[4], r[6], r[7]) for r in rows if r[0] == registry.rom_sle.code and r[5] == "anc"
    )
    assert anc == [
        (0, "d0", "1800", "cells/µL"),
        (2, "d2", "700", "cells/µL"),
        (4, "d4", "400", "cells/µL"),
        (6, "d6", "450", "cells/µL"),
        (8, "d8", "900", "cells/µL"),
        (10, "d10", "1600", "cells/µL"),
        (45, "", "2500", "cells/µL"),  # between the windows of day 28 and month 2: no timepoint
    ]
    car_t = {(int(r[3]), r[6]) for r in rows if r[0] == registry.rom_sle.code and r[5] == "car_t"}
    assert car_t == {(3, "4.1"), (7, "32.69"), (14, "12"), (95, "0.1")}
    assert {r[1:3] for r in rows if r[0] == registry.rom_sle.code} == {("ROM", "sle")}


def test_visit_scores_are_rows_at_the_visit_study_day(registry, coordinator):
    rows = rows_of(coordinator, registry.series)
    visits = {
        (int(r[3]), r[4], r[5]): (r[6], r[7])
        for r in rows
        if r[0] == registry.rom_sle.code and r[3] in ("-30", "91")
    }
    # Screening: arthritis (4) + rash (2); PGA 2. Month 3: nothing active, PGA 0.
    assert visits[(-30, "screening", "sledai_2k")] == ("6", "points (0–105)")
    assert visits[(-30, "screening", "sle_physician_global")] == ("2", "0–3")
    assert visits[(91, "m3", "sledai_2k")] == ("0", "points (0–105)")
    assert visits[(91, "m3", "sle_physician_global")][0] == "0"
    assert visits[(91, "m3", "remission")][0] in ("0", "1")
    assert visits[(91, "m3", "lldas")][0] in ("0", "1")
    assert (91, "m3", "cmas") not in visits  # a JDM measure never appears for an SLE patient


def test_rows_are_those_of_the_tidy_visits_and_labs_datasets(registry, coordinator):
    request = ExportRequest(
        series=registry.series, fmt="tidy", policy=services.policy_for("internal"), requested_by="t"
    )
    files = {f.name: f.content for f in builder.build(request, centre_ids=None).files}
    expected = []
    for name in ("visits.csv", "labs.csv"):
        _header, tidy_rows = parse(files[name])
        for r in tidy_rows:
            value = r[6]
            with contextlib.suppress(ValueError):  # numbers as PostgreSQL writes them; codes as they are
                value = longformat.float_text(float(value))
            expected.append((*r[:6], value, r[7]))
    assert sorted(rows_of(coordinator, registry.series)) == sorted(expected)
    assert expected


def test_voided_lab_and_voided_instrument_drop_out(registry, coordinator, rome_clinician):
    result = LabResult.objects.get(
        patient=registry.rom_sle, analyte="anc", sampled_on=DAY0 + dt.timedelta(days=2)
    )
    outcomes.lab_result_void(result=result, recorded_by=rome_clinician, reason="haemolysed sample")
    visit = Visit.objects.get(patient=registry.rom_sle, timepoint=timepoint("m3"))
    void_record(visit.sledai, recorded_by=rome_clinician, reason="entered for the wrong visit")
    rows = rows_of(coordinator, registry.series)
    mine = [r for r in rows if r[0] == registry.rom_sle.code]
    assert ("2", "anc") not in {(r[3], r[5]) for r in mine}
    assert ("4", "anc") in {(r[3], r[5]) for r in mine}
    assert not [r for r in mine if r[3] == "91" and r[5] in ("sledai_2k", "remission")]
    assert [r for r in mine if r[3] == "-30" and r[5] == "sledai_2k"]


def test_centre_coordinator_gets_only_their_centre(
    registry, rome_coordinator, coordinator, erlangen_clinician
):
    lab(registry.erl_sle, erlangen_clinician, "anc", "900", 5)
    assert registry.erl_sle.code in {r[0] for r in rows_of(coordinator, registry.series)}
    response, content = download_as(rome_coordinator, registry.series)
    assert response.status_code == 200
    _header, rows = parse(content)
    assert rows and {r[1] for r in rows} == {"ROM"}
    assert registry.erl_sle.code not in {r[0] for r in rows}


def test_patient_without_day0_and_identity_never_appear(
    registry, coordinator, rome_clinician, erlangen_clinician
):
    lab(registry.rom_not_infused, rome_clinician, "anc", "1500", -10)
    lab(registry.rom_jdm, rome_clinician, "ck", "250", 7, unit="U/L")
    lab(registry.erl_sle, erlangen_clinician, "anc", "900", 5)
    content = export_bytes(coordinator, registry.series)
    text = content.decode("utf-8")
    assert registry.rom_not_infused.code not in text
    assert registry.rom_voided.code not in text
    for word in ("Anna", "Testa", "H-123", "Bambino", "Erlangen"):
        assert word not in text
    assert not ISO_DATE.search(text)
    assert {r[0] for r in parse(content)[1]} == {
        registry.rom_sle.code,
        registry.rom_jdm.code,
        registry.erl_sle.code,
    }


def test_filters_select_patients_like_the_other_exports(registry, coordinator, rome_clinician):
    lab(registry.rom_jdm, rome_clinician, "ck", "250", 7, unit="U/L")
    jdm = rows_of(coordinator, registry.series, filters=ExportFilters(diagnosis="jdm"))
    assert {r[0] for r in jdm} == {registry.rom_jdm.code}
    erl = rows_of(coordinator, registry.series, filters=ExportFilters(centre="ERL"))
    assert {r[0] for r in erl} <= {registry.erl_sle.code}
    later = rows_of(
        coordinator, registry.series, filters=ExportFilters(infused_from=DAY0 + dt.timedelta(days=1))
    )
    assert later == []


def test_empty_selection_is_a_header_only(registry, coordinator):
    other = CaseSeries.objects.create(name="Empty series")
    assert parse(export_bytes(coordinator, other)) == (list(longformat.COLUMNS), [])


# --- the export log --------------------------------------------------------------------------------------------


def test_a_finished_export_is_logged_with_its_row_count(registry, coordinator):
    content = export_bytes(coordinator, registry.series, filters=ExportFilters(diagnosis="sle"))
    rows = parse(content)[1]
    log = ExportLog.objects.get()
    assert (log.user, log.case_series, log.mode, log.format) == (
        coordinator,
        registry.series,
        "internal",
        "long",
    )
    assert log.filters == {"diagnosis": "sle"}
    assert log.tables == ["visits", "labs"]
    assert log.status == ExportStatus.DONE
    assert log.row_counts == {"long_rows": len(rows)} and len(rows) > 20


def test_an_interrupted_download_is_logged_as_failed_with_the_rows_sent(registry, coordinator, monkeypatch):
    monkeypatch.setattr(stream, "CHUNK_BYTES", 200)
    monkeypatch.setattr(stream, "FETCH_ROWS", 3)
    export = stream.LongExport(user=coordinator, series=registry.series, centre_ids=None)
    chunks = export.chunks()
    first, second = next(chunks), next(chunks)
    # logged as running when the stream started (no query here: on PostgreSQL the connection is in the COPY)
    assert export.log is not None and export.log.status == ExportStatus.RUNNING
    chunks.close()  # what the server does when the client goes away
    log = ExportLog.objects.get()
    assert log.status == ExportStatus.FAILED
    # the rows of the chunks the server took before it asked no more
    sent = len(parse(first)[1])
    assert 0 < sent < len(parse(first + second)[1])
    assert log.row_counts == {"long_rows_sent": sent}
    assert "Interrupted" in log.error
    # the connection is still usable, and a new export runs to the end
    assert len(rows_of(coordinator, registry.series)) > sent


def test_nothing_is_logged_before_the_stream_starts(registry, coordinator):
    stream.LongExport(user=coordinator, series=registry.series, centre_ids=None)
    assert not ExportLog.objects.exists()


# --- the view -------------------------------------------------------------------------------------------------


def download_as(user, series, **params):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return download(client, series, **params)


def test_coordinator_downloads_a_streamed_csv_attachment(registry, coordinator):
    response, content = download_as(coordinator, registry.series, diagnosis="sle")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert 'attachment; filename="test-series-internal-' in response["Content-Disposition"]
    header, rows = parse(content)
    assert header == list(longformat.COLUMNS)
    assert {r[2] for r in rows} == {"sle"}
    assert ExportLog.objects.get().row_counts == {"long_rows": len(rows)}


def test_anonymous_is_sent_to_login(registry, client):
    response = client.get(reverse("exports:long", args=[registry.series.pk]))
    assert response.status_code == 302 and "login" in response["Location"]
    response = client.get(reverse("exports:long_dictionary"))
    assert response.status_code == 302


@pytest.mark.parametrize("persona", ["rome_clinician", "rome_monitor", "monitor", "nobody"])
def test_clinicians_monitors_and_outsiders_get_404(registry, persona, request):
    user = request.getfixturevalue(persona)
    response, _content = download_as(user, registry.series)
    assert response.status_code == 404
    from django.test import Client

    client = Client()
    client.force_login(user)
    assert client.get(reverse("exports:long_dictionary")).status_code == 404
    assert not ExportLog.objects.exists()


def test_centre_filter_outside_the_coordinators_centres_is_404(registry, rome_coordinator):
    response, _content = download_as(rome_coordinator, registry.series, centre="ERL")
    assert response.status_code == 404
    response, _content = download_as(rome_coordinator, registry.series, centre="NOPE")
    assert response.status_code == 404


def test_missing_series_is_404_and_bad_filters_are_400(registry, coordinator):
    from django.test import Client

    client = Client()
    client.force_login(coordinator)
    assert client.get(reverse("exports:long", args=[registry.series.pk + 99])).status_code == 404
    response = client.get(
        reverse("exports:long", args=[registry.series.pk]),
        {"infused_from": "2025-02-01", "infused_to": "2025-01-01"},
    )
    assert response.status_code == 400
    assert "infused_to" in response.content.decode()
    assert not ExportLog.objects.exists()


def test_dictionary_lists_the_columns_and_every_visit_and_lab_variable(coordinator):
    from django.test import Client

    client = Client()
    client.force_login(coordinator)
    response = client.get(reverse("exports:long_dictionary"))
    assert response.status_code == 200
    header, rows = parse(response.content)
    assert header == ["domain", "variable", "label", "type", "unit", "description"]
    variables = {(r[0], r[1]) for r in rows}
    assert {("(all)", c) for c in longformat.COLUMNS} <= variables
    assert {("visits", "sledai_2k"), ("visits", "remission"), ("labs", "anc"), ("labs", "car_t")} <= variables
    assert {r[0] for r in rows} == {"(all)", "visits", "labs"}


def test_series_page_links_the_long_format(registry, coordinator):
    from django.test import Client

    client = Client()
    client.force_login(coordinator)
    page = client.get(
        reverse("exports:series", args=[registry.series.pk]), {"diagnosis": "sle"}
    ).content.decode()
    assert reverse("exports:long", args=[registry.series.pk]) + "?" in page
    assert "diagnosis=sle" in page
    assert reverse("exports:long_dictionary") in page


def test_query_count_does_not_grow_with_patients(
    registry, coordinator, rome, rome_clinician, django_assert_max_num_queries
):
    from django.test import Client

    client = Client()
    client.force_login(coordinator)
    # session, user, memberships, the series, the filter form's centres and products, the schedule's
    # timepoints, the log insert, the SELECT between SAVEPOINT and RELEASE (on PostgreSQL the COPY and its
    # SET LOCAL go through psycopg directly and are not counted), the log update
    with django_assert_max_num_queries(12) as few:
        _response, content = download(client, registry.series)
    before = len(parse(content)[1])
    registry.series.patients.add(*add_patients(rome, rome_clinician, 3))
    with django_assert_max_num_queries(12) as more:
        _response, content = download(client, registry.series)
    assert len(parse(content)[1]) > before  # three more patients' visits and labs, the same queries
    assert len(few.captured_queries) == len(more.captured_queries)


# --- the command ----------------------------------------------------------------------------------------------


def test_command_writes_the_file_and_its_dictionary_and_logs_as_the_system_user(
    registry, tmp_path, system_user
):
    output = tmp_path / "out" / "long.csv"
    out = io.StringIO()
    call_command(
        "case_series",
        "--format",
        "long",
        "--output",
        str(output),
        "--series",
        registry.series.name,
        stdout=out,
    )
    header, rows = parse(output.read_bytes())
    assert header == list(longformat.COLUMNS) and rows
    assert (tmp_path / "out" / "long-dictionary.csv").exists()
    log = ExportLog.objects.get()
    assert (log.user, log.format, log.status) == (system_user, "long", ExportStatus.DONE)
    assert log.row_counts == {"long_rows": len(rows)}
    assert f"long_rows {len(rows)}" in out.getvalue()


def test_command_refuses_external_mode_for_the_long_format(registry, tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="internal"):
        call_command(
            "case_series",
            "--format",
            "long",
            "--output",
            str(tmp_path / "x.csv"),
            "--mode",
            "external",
            "--recipient",
            "EBMT",
        )
    assert not ExportLog.objects.exists()


# --- PostgreSQL: COPY and the cursor path give the same file -------------------------------------------------------


@pytest.mark.postgres
def test_copy_and_cursor_paths_give_the_same_rows(registry, coordinator, rome_clinician, erlangen_clinician):
    lab(registry.rom_sle, rome_clinician, "transgene", "123456.789", 20, unit="copies/µg DNA")
    lab(registry.erl_sle, erlangen_clinician, "crp", "0.1", 3, unit="mg/dL")
    assert connection.vendor == "postgresql"
    copied = b"".join(stream.copy_chunks(longformat.query(registry.series, centre_ids=None, for_copy=True)))
    cursor = b"".join(
        stream.cursor_chunks(longformat.query(registry.series, centre_ids=None, for_copy=False))
    )
    copy_lines, cursor_lines = copied.split(b"\n"), cursor.split(b"\n")
    assert copy_lines[0] == cursor_lines[0] == ",".join(longformat.COLUMNS).encode()
    assert sorted(copy_lines[1:]) == sorted(cursor_lines[1:])
    assert len(copy_lines) > 25


@pytest.mark.postgres
@pytest.mark.parametrize(
    "value",
    [
        0.0,
        -0.0,
        1.0,
        0.1,
        1 / 3,
        2.5,
        32.69,
        123456.789,
        1e-4,
        1.5e-5,
        1e14,
        1e15,
        1.234e15,
        9.999e15,
        1e16,
        1e300,
        5e-324,
        -7.25,
    ],
)
def test_numbers_are_written_as_postgresql_writes_them(db, value):
    with connection.cursor() as cursor:
        cursor.execute("SET extra_float_digits = 1")
        cursor.execute("SELECT CAST(CAST(%s AS DOUBLE PRECISION) AS TEXT)", [repr(value)])
        assert longformat.float_text(value) == cursor.fetchone()[0]
