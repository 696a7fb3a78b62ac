"""Long-format export of all visits and laboratory values: rows/s vs PostgreSQL ``COPY (SELECT …) TO STDOUT``,
peak memory at 1,000 and at all patients.

``registry.exports`` has no streaming export yet (its tidy datasets are built in memory with pandas), so the
candidate is implemented **here, in the benchmark only**: the internal-mode long format (registry code,
centre, diagnosis, study day, timepoint, variable, value, unit — study days, never dates; voided rows and
patients without day 0 left out) as one SELECT, streamed through a Django ``StreamingHttpResponse`` from
``COPY (SELECT …) TO STDOUT (FORMAT csv)``. Baseline: the same ``COPY`` read and discarded. A second line
shows the per-row Python path (server-side cursor + ``csv.writer``) for reference. Budget (DESIGN §7):
throughput ≥ 0.5× COPY; memory flat from 1,000 to 10,000 patients. On SQLite (no COPY) only the Python path
runs.
"""

from __future__ import annotations

import csv
import tracemalloc
from collections.abc import Iterator

from django.db import connection, transaction
from django.http import StreamingHttpResponse

from bench.common import Env, Result, alternate

NAME = "export"
BUDGET = 0.5
HEADER = ("patient", "centre", "diagnosis", "study_day", "timepoint", "variable", "value", "unit")

INSTRUMENTS = {
    "outcomes_sledaiassessment": (
        ("sledai_2k", ""),
        ("clinical_sledai_2k", ""),
        ("physician_global", ""),
        ("prednisone_mg_per_day", "mg/day"),
        ("egfr", "mL/min/1.73 m²"),
        ("doris_remission", "bool"),
        ("lldas", "bool"),
    ),
    "outcomes_jdmassessment": (
        ("cmas", ""),
        ("mmt8", ""),
        ("physician_global", ""),
        ("chaq", ""),
        ("total_improvement_score", ""),
        ("printo_inactive", "bool"),
    ),
    "outcomes_sscassessment": (
        ("mrss", ""),
        ("eustar_activity_index", ""),
        ("fvc_percent_predicted", "percent predicted"),
        ("dlco_percent_predicted", "percent predicted"),
    ),
}


def long_format_sql(vendor: str) -> str:
    """Long format of visits (a row per visit and per instrument value) and labs, for one case series."""
    from outcomes.labs import ANALYTES

    def day(column: str) -> str:
        if vendor == "postgresql":
            return f"({column} - p.day0)"
        return f"CAST(julianday({column}) - julianday(p.day0) AS INTEGER)"

    real = "DOUBLE PRECISION" if vendor == "postgresql" else "REAL"
    units = " UNION ALL ".join(
        f"SELECT '{code}' AS analyte, '{a.unit}' AS unit" for code, a in ANALYTES.items()
    )
    patients = (
        "FROM patients_patient p JOIN registry_centre c ON c.id = p.centre_id "
        "JOIN registry_caseseries_patients sp ON sp.patient_id = p.id AND sp.caseseries_id = %(series)s"
    )
    where = "p.voided_at IS NULL AND p.day0 IS NOT NULL"
    parts = [
        f"SELECT p.code, c.code, p.diagnosis, {day('v.visit_date')}, COALESCE(t.code, ''), 'visit', "
        f"CAST(NULL AS {real}), '' {patients} JOIN outcomes_visit v ON v.patient_id = p.id "
        f"LEFT JOIN outcomes_scheduletimepoint t ON t.id = v.timepoint_id "
        f"WHERE {where} AND v.voided_at IS NULL"
    ]
    for table, variables in INSTRUMENTS.items():
        for variable, unit in variables:
            value = (
                f"CASE WHEN i.{variable} THEN 1.0 ELSE 0.0 END"
                if unit == "bool"
                else f"CAST(i.{variable} AS {real})"
            )
            parts.append(
                f"SELECT p.code, c.code, p.diagnosis, {day('v.visit_date')}, COALESCE(t.code, ''), "
                f"'{variable}', "
                f"{value}, '{'' if unit == 'bool' else unit}' {patients} "
                f"JOIN outcomes_visit v ON v.patient_id = p.id JOIN {table} i ON i.visit_id = v.id "
                f"LEFT JOIN outcomes_scheduletimepoint t ON t.id = v.timepoint_id "
                f"WHERE {where} AND v.voided_at IS NULL AND i.voided_at IS NULL AND i.{variable} IS NOT NULL"
            )
    parts.append(
        f"SELECT p.code, c.code, p.diagnosis, {day('l.sampled_on')}, '', l.analyte, l.value, u.unit "
        f"{patients} "
        f"JOIN outcomes_labresult l ON l.patient_id = p.id LEFT JOIN ({units}) u ON u.analyte = l.analyte "
        f"WHERE {where} AND l.voided_at IS NULL"
    )
    return "\nUNION ALL\n".join(parts)


def copy_chunks(sql: str, series_id: int) -> Iterator[memoryview]:
    """``COPY (sql) TO STDOUT`` as CSV with a header line, chunk by chunk (PostgreSQL)."""
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv, HEADER)", {"series": series_id}) as copy,
    ):
        yield from copy


def streaming_export(sql: str, series_id: int) -> StreamingHttpResponse:
    """The candidate: what an export view would return — the COPY stream, never held in memory."""
    response = StreamingHttpResponse(copy_chunks(sql, series_id), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="long_format.csv"'
    return response


class _Sink:
    """Counts what a client would receive."""

    def __init__(self) -> None:
        self.bytes = 0
        self.lines = 0

    def write(self, data: str) -> int:
        self.bytes += len(data)
        self.lines += data.count("\n")
        return len(data)

    def feed(self, chunk: bytes | memoryview) -> None:
        data = bytes(chunk)  # what a response would send (StreamingHttpResponse makes bytes too)
        self.bytes += len(data)
        self.lines += data.count(b"\n")


def run_candidate(sql: str, series_id: int) -> int:
    sink = _Sink()
    for chunk in streaming_export(sql, series_id).streaming_content:
        sink.feed(chunk)
    return sink.lines - 1


def run_baseline(sql: str, series_id: int) -> int:
    sink = _Sink()
    for chunk in copy_chunks(sql, series_id):
        sink.feed(chunk)
    return sink.lines - 1


def run_python(sql: str, series_id: int) -> int:
    """Per-row Python: a server-side cursor (PostgreSQL) read in batches, each row through ``csv.writer``."""
    sink = _Sink()
    writer = csv.writer(sink, lineterminator="\n")
    writer.writerow(HEADER)
    rows = 0
    with transaction.atomic():
        if connection.vendor == "postgresql":
            connection.ensure_connection()
            cursor = connection.connection.cursor(name="bench_long_format")
            cursor.itersize = 5000
            cursor.execute(sql, {"series": series_id})
        else:
            cursor = connection.cursor()
            cursor.execute(sql, {"series": series_id})
        try:
            for row in cursor:
                writer.writerow(row)
                rows += 1
        finally:
            cursor.close()
    return rows


def peak_mib(fn, *args) -> float:
    tracemalloc.start()
    try:
        fn(*args)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def run(env: Env) -> None:
    sql = long_format_sql(env.vendor)
    if env.vendor != "postgresql":
        env.skip(NAME, "COPY (baseline and streamed candidate) needs PostgreSQL; the Python path only")
    peaks: dict[int, float] = {}
    for size in env.sizes:
        series = env.subset(size)
        n = series.patients.count()
        repeat = 1 if env.smoke else 3
        if env.vendor != "postgresql":
            rows = run_python(sql, series.pk)
            seconds, _ = alternate(lambda series=series: run_python(sql, series.pk), lambda: None, repeat)
            peaks[n] = peak_mib(run_python, sql, series.pk)
            env.report(
                Result(
                    NAME,
                    f"export: long format via Python, {n:,} patients ({rows:,} rows)",
                    rows / seconds,
                    None,
                    "rows/s",
                    note=f"peak {peaks[n]:.2f} MiB",
                )
            )
            continue
        rows = run_baseline(sql, series.pk)
        candidate, baseline = alternate(
            lambda series=series: run_candidate(sql, series.pk),
            lambda series=series: run_baseline(sql, series.pk),
            repeat,
        )
        ratio = baseline / candidate  # throughput ratio
        peaks[n] = peak_mib(run_candidate, sql, series.pk)
        env.report(
            Result(
                NAME,
                f"export: long format streamed from COPY, {n:,} patients ({rows:,} rows)",
                rows / candidate,
                rows / baseline,
                "rows/s",
                ratio=ratio,
                budget=f"≥ {BUDGET:g}× COPY",
                met=ratio >= BUDGET,
                note=f"peak Python memory {peaks[n]:.2f} MiB",
            )
        )
        if not env.smoke or size == env.sizes[-1]:
            python, baseline = alternate(
                lambda series=series: run_python(sql, series.pk),
                lambda series=series: run_baseline(sql, series.pk),
                1,
                warmup=0,
            )
            env.report(
                Result(
                    NAME,
                    f"export: same rows per-row Python csv (reference), {n:,} patients",
                    rows / python,
                    rows / baseline,
                    "rows/s",
                    ratio=baseline / python,
                    note=f"peak {peak_mib(run_python, sql, series.pk):.2f} MiB",
                )
            )
    if len(peaks) >= 2:
        low, high = min(peaks), max(peaks)
        flat = peaks[high] <= 1.5 * peaks[low] + 1.0
        env.report(
            Result(
                NAME,
                f"export: peak memory, {high:,} vs {low:,} patients",
                peaks[high],
                peaks[low],
                "MiB",
                ratio=peaks[high] / peaks[low] if peaks[low] else None,
                budget="flat",
                met=flat,
            )
        )
