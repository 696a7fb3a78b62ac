"""Streaming the long-format export (:mod:`registry.exports.longformat`) to a client or a file, and its log.

Two paths give the same bytes (a header line, then one CSV line per row, ``\\n`` line ends, UTF-8):

* **PostgreSQL**: ``COPY (SELECT …) TO STDOUT (FORMAT csv, HEADER)`` through psycopg 3's ``cursor.copy()``;
  the server formats every value, Python only gathers the rows into chunks of :data:`CHUNK_BYTES`. The
  parameters are merged into the statement by psycopg's own literal quoting (``COPY`` takes no server-side
  parameters).
* **any other database** (SQLite): the same SELECT on a chunked cursor read :data:`FETCH_ROWS` rows at a time,
  each row through ``csv.writer`` with numbers written as PostgreSQL writes them.

Either way memory stays flat: nothing holds more than one chunk.

**The export log.** Every long-format export is an ``ExportLog`` row (user, mode ``internal``, filters,
format ``long``, tables ``visits`` and ``labs``). It is written when the first chunk is requested, as
*running*: whoever starts receiving data is logged even if the transfer never completes. When the last chunk
has gone out it becomes *done* with ``row_counts = {"long_rows": n}``. If the client disconnects midway (the
server closes the stream) or the database fails, the log becomes *failed*, with the rows already handed to
the client in ``row_counts["long_rows_sent"]`` and the reason in ``error``: a partial file did leave the
registry, and the log says how much of it. (A worker killed outright cannot run that last step; its log
stays *running*.)
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.text import slugify
from psycopg import sql

from registry.exports import formats, longformat, selectors
from registry.models import CaseSeries, ExportLog, ExportMode, ExportStatus

FORMAT = "long"
CHUNK_BYTES = 64 * 1024
FETCH_ROWS = 2000


@dataclass
class Progress:
    """Rows handed out so far (the header not counted)."""

    rows: int = 0


def copy_chunks(query: longformat.Query, progress: Progress | None = None) -> Iterator[bytes]:
    """PostgreSQL: the ``COPY`` of ``query`` (``for_copy=True``) as CSV with a header, in chunks."""
    progress = progress or Progress()
    statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, HEADER)").format(sql.SQL(query.sql))
    # A savepoint (or a transaction): an interrupted COPY is cancelled server-side, which aborts the
    # surrounding transaction; rolling back to here keeps the connection usable for the log.
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor
        raw.execute("SET LOCAL extra_float_digits = 1")  # shortest exact text of doubles, whatever the server
        with raw.copy(statement, query.params) as copy:
            buffer, lines = bytearray(), 0
            for data in copy:  # PostgreSQL sends one message per row; the first is the header
                buffer += data
                lines += 1
                if len(buffer) >= CHUNK_BYTES:
                    yield bytes(buffer)
                    progress.rows = lines - 1
                    buffer.clear()
            if buffer:
                yield bytes(buffer)
                progress.rows = max(lines - 1, 0)


def cursor_chunks(query: longformat.Query, progress: Progress | None = None) -> Iterator[bytes]:
    """Any database: ``query`` (``for_copy=False``) on a chunked cursor, written by ``csv.writer``."""
    progress = progress or Progress()
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(longformat.COLUMNS)
    pending = 0
    with transaction.atomic():
        cursor = connection.chunked_cursor()  # server-side on PostgreSQL; SQLite steps through its result
        try:
            cursor.execute(query.sql, query.params)
            while rows := cursor.fetchmany(FETCH_ROWS):
                writer.writerows(map(longformat.csv_row, rows))
                pending += len(rows)
                if text.tell() >= CHUNK_BYTES:
                    yield text.getvalue().encode()
                    progress.rows += pending
                    pending = 0
                    text.seek(0)
                    text.truncate()
        finally:
            cursor.close()
    yield text.getvalue().encode()
    progress.rows += pending


def uses_copy() -> bool:
    return connection.vendor == "postgresql"


def export_log_start(*, user: Any, series: CaseSeries, filters: selectors.ExportFilters) -> ExportLog:
    """Log a long-format export as running (see the module docstring)."""
    log = ExportLog(
        user=user,
        case_series=series,
        mode=ExportMode.INTERNAL,
        filters=filters.as_dict(),
        tables=list(longformat.DOMAINS),
        format=FORMAT,
        status=ExportStatus.RUNNING,
        progress=0,
    )
    # The user and the series are loaded instances and the database checks the two constraints: validate the
    # values without those queries.
    log.full_clean(exclude=["file", "user", "case_series"], validate_constraints=False)
    log.save()
    return log


def export_log_finish(log: ExportLog, *, rows: int, error: str = "") -> None:
    """Done with ``rows`` rows, or failed after ``rows`` rows sent with ``error``."""
    if error:
        fields: dict[str, Any] = {
            "status": ExportStatus.FAILED,
            "row_counts": {"long_rows_sent": rows},
            "error": error[:2000],
        }
    else:
        fields = {"status": ExportStatus.DONE, "row_counts": {"long_rows": rows}, "progress": 100}
    ExportLog.objects.filter(pk=log.pk).update(**fields)
    for name, value in fields.items():
        setattr(log, name, value)


class LongExport:
    """One long-format export for ``user``: the SELECT is built at once, the log when streaming starts."""

    def __init__(
        self,
        *,
        user: Any,
        series: CaseSeries,
        centre_ids: frozenset[int] | None,
        filters: selectors.ExportFilters | None = None,
    ) -> None:
        self.user, self.series = user, series
        self.filters = filters or selectors.ExportFilters()
        self.copy = uses_copy()
        self.query = longformat.query(series, centre_ids=centre_ids, filters=self.filters, for_copy=self.copy)
        self.progress = Progress()
        self.log: ExportLog | None = None

    def filename(self) -> str:
        name = slugify(self.series.name)[:60].strip("-") or "case-series"
        return f"{name}-internal-{timezone.now():%Y%m%d-%H%M}-long.csv"

    def chunks(self) -> Iterator[bytes]:
        """The CSV in chunks; logs the export when it starts and when it ends (or breaks off)."""
        self.log = export_log_start(user=self.user, series=self.series, filters=self.filters)
        source = copy_chunks if self.copy else cursor_chunks
        try:
            yield from source(self.query, self.progress)
        except GeneratorExit:
            export_log_finish(
                self.log,
                rows=self.progress.rows,
                error=f"Interrupted by the client after {self.progress.rows} rows.",
            )
            raise
        except Exception as exc:
            export_log_finish(self.log, rows=self.progress.rows, error=f"{type(exc).__name__}: {exc}")
            raise
        export_log_finish(self.log, rows=self.progress.rows)

    def response(self) -> StreamingHttpResponse:
        response = StreamingHttpResponse(self.chunks(), content_type=formats.CONTENT_TYPES["csv"])
        response["Content-Disposition"] = f'attachment; filename="{self.filename()}"'
        response["X-Accel-Buffering"] = "no"  # behind nginx: pass the chunks on as they come
        return response

    def write(self, path: Path) -> int:
        """Write the CSV to ``path``; returns the number of rows."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as file:
            chunks = self.chunks()
            try:
                for chunk in chunks:
                    file.write(chunk)
            finally:
                chunks.close()  # a failed write ends the export (logged as failed) at once
        return self.progress.rows
