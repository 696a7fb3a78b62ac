"""Writers of the export formats: CSV, one XLSX workbook (openpyxl), a standalone HTML document, ZIP bundles.

They receive frames already shaped by :mod:`registry.exports.tables` and :mod:`registry.exports.tidy` and
write them as they are (no pandas import here: only the frames' own methods). Output is deterministic for
the same input: UTF-8 CSV without BOM (pandas, R and Stata read it as is; booleans as ``True``/``False``,
empty for missing), fixed ZIP timestamps, and the export time appears only in the "about" sheet.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Sequence
from typing import Any

from django.template.loader import render_to_string
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html; charset=utf-8",
    "zip": "application/zip",
    "svg": "image/svg+xml",
    "png": "image/png",
}
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDE7F0")
MAX_COLUMN_WIDTH = 60


def csv_bytes(frame: Any) -> bytes:
    """A frame as UTF-8 CSV (header = column names), ``\\n`` line ends."""
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def rows_csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    import csv

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def zip_bytes(files: Iterable[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, str | bytes):  # numpy scalars
        value = value.item()
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN
        return None
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _write_sheet(
    sheet: Any, header: Sequence[str], rows: Iterable[Sequence[Any]], *, wrap: bool = False
) -> None:
    sheet.append([str(h) for h in header])
    for cell in sheet[1]:
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
    widths = [len(str(h)) for h in header]
    for row in rows:
        values = [_cell(v) for v in row]
        sheet.append(values)
        for i, value in enumerate(values):
            widths[i] = max(widths[i], min(len(str(value)) if value is not None else 0, MAX_COLUMN_WIDTH))
    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = min(width + 2, MAX_COLUMN_WIDTH)
    if wrap:
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A2"


def frame_rows(frame: Any) -> list[list[Any]]:
    return [list(row) for row in frame.itertuples(index=False, name=None)]


def xlsx_bytes(
    *,
    about: Sequence[tuple[str, str]],
    tables: Sequence[Any],
    dictionary: Any,
    summary_headers: dict[str, dict[str, str]],
    parts: Sequence[str] = ("summary", "patients"),
) -> bytes:
    """One workbook: "About", then per table its summary and per-patient sheets, then "Data dictionary".

    Summary sheets carry readable headers (``summary_headers[table.key]``); per-patient sheets the column
    names that the data dictionary explains.
    """
    book = Workbook()
    about_sheet = book.active
    about_sheet.title = "About"
    _write_sheet(about_sheet, ["Item", "Value"], about, wrap=True)
    about_sheet.column_dimensions["B"].width = 100
    for table in tables:
        name = table.key.capitalize()
        if "summary" in parts:
            sheet = book.create_sheet(f"{name} summary")
            headers = summary_headers[table.key]
            _write_sheet(sheet, [headers.get(c, c) for c in table.summary.columns], frame_rows(table.summary))
            if table.notes:
                sheet.append([])
                for note in table.notes:
                    sheet.append([note])
        if "patients" in parts:
            sheet = book.create_sheet(f"{name} patients")
            _write_sheet(sheet, list(table.patients.columns), frame_rows(table.patients))
    dictionary_sheet = book.create_sheet("Data dictionary")
    _write_sheet(dictionary_sheet, list(dictionary.columns), frame_rows(dictionary), wrap=True)
    book.properties.creator = "CAR T paediatric autoimmune registry"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def html_bytes(context: dict[str, Any]) -> bytes:
    """The standalone HTML document (``templates/registry/exports/document.html``): tables, notes, figures."""
    return render_to_string("registry/exports/document.html", context).encode("utf-8")


def html_table(frame: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A frame as ``{"header": [...], "rows": [[...], ...]}`` for templates (escaped by the template)."""
    headers = headers or {}
    return {
        "header": [headers.get(c, c) for c in frame.columns],
        "rows": [["" if _cell(v) is None else _cell(v) for v in row] for row in frame_rows(frame)],
    }
