"""Long-format export of all visits and laboratory values: rows/s vs PostgreSQL ``COPY (SELECT …) TO STDOUT``,
peak memory at 1,000 and at all patients.

Candidate: the application's own streaming export, :class:`registry.exports.stream.LongExport` — what the
download view returns (its ``StreamingHttpResponse`` read to the end, the export logged) for a registry-wide
coordinator, internal mode, no filters. Baseline: the raw ``COPY`` of the very same SELECT
(:func:`registry.exports.longformat.query`) read through psycopg and discarded, in the same run. A second line
shows the application's per-row path (a chunked cursor and ``csv.writer``, what SQLite uses) against the same
baseline. Budget (DESIGN §7): throughput ≥ 0.5× COPY; memory flat from 1,000 to 10,000 patients. On SQLite
(no COPY) only the per-row path runs, without a baseline.
"""

from __future__ import annotations

import tracemalloc
from typing import Any

from django.db import connection
from psycopg import sql

from bench.common import Env, Result, alternate, users

NAME = "export"
BUDGET = 0.5


class _Sink:
    """Counts what a client would receive."""

    def __init__(self) -> None:
        self.bytes = 0
        self.lines = 0

    def feed(self, chunk: bytes | memoryview) -> None:
        data = bytes(chunk)  # what a response sends (StreamingHttpResponse makes bytes too)
        self.bytes += len(data)
        self.lines += data.count(b"\n")


def run_candidate(user: Any, series: Any) -> int:
    """The application's download: the view's response, streamed to the end (and logged)."""
    from registry.exports.stream import LongExport

    response = LongExport(user=user, series=series, centre_ids=None).response()
    sink = _Sink()
    for chunk in response.streaming_content:
        sink.feed(chunk)
    response.close()
    return sink.lines - 1


def run_cursor_path(user: Any, series: Any) -> int:
    """The application's per-row path (chunked cursor + ``csv.writer``), as SQLite runs it."""
    from registry.exports import longformat, stream

    sink = _Sink()
    for chunk in stream.cursor_chunks(longformat.query(series, centre_ids=None, for_copy=False)):
        sink.feed(chunk)
    return sink.lines - 1


def run_baseline(series: Any) -> int:
    """``COPY`` of the same SELECT, straight from psycopg, every row discarded."""
    from registry.exports import longformat

    query = longformat.query(series, centre_ids=None, for_copy=True)
    statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, HEADER)").format(sql.SQL(query.sql))
    sink = _Sink()
    with connection.cursor() as cursor, cursor.cursor.copy(statement, query.params) as copy:
        for chunk in copy:
            sink.feed(chunk)
    return sink.lines - 1


def peak_mib(fn, *args) -> float:
    tracemalloc.start()
    try:
        fn(*args)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def run(env: Env) -> None:
    user = users()["coordinator"]
    if env.vendor != "postgresql":
        env.skip(NAME, "COPY (baseline and streamed candidate) needs PostgreSQL; the per-row path only")
    peaks: dict[int, float] = {}
    for size in env.sizes:
        series = env.subset(size)
        n = series.patients.count()
        repeat = 1 if env.smoke else 3
        if env.vendor != "postgresql":
            rows = run_cursor_path(user, series)
            seconds, _ = alternate(lambda series=series: run_cursor_path(user, series), lambda: None, repeat)
            peaks[n] = peak_mib(run_cursor_path, user, series)
            env.report(
                Result(
                    NAME,
                    f"export: long format, per-row path, {n:,} patients ({rows:,} rows)",
                    rows / seconds,
                    None,
                    "rows/s",
                    note=f"peak {peaks[n]:.2f} MiB",
                )
            )
            continue
        rows = run_baseline(series)
        candidate_rows = run_candidate(user, series)
        if candidate_rows != rows:
            raise AssertionError(f"the export streamed {candidate_rows} rows, COPY {rows}")
        candidate, baseline = alternate(
            lambda series=series: run_candidate(user, series),
            lambda series=series: run_baseline(series),
            repeat,
        )
        ratio = baseline / candidate  # throughput ratio
        peaks[n] = peak_mib(run_candidate, user, series)
        env.report(
            Result(
                NAME,
                f"export: long format (app, COPY stream), {n:,} patients ({rows:,} rows)",
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
                lambda series=series: run_cursor_path(user, series),
                lambda series=series: run_baseline(series),
                1,
                warmup=0,
            )
            env.report(
                Result(
                    NAME,
                    f"export: same rows, app's per-row path (reference), {n:,} patients",
                    rows / python,
                    rows / baseline,
                    "rows/s",
                    ratio=baseline / python,
                    note=f"peak {peak_mib(run_cursor_path, user, series):.2f} MiB",
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
