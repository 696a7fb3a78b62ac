"""CSV beside JSON (``?format=csv`` or ``Accept: text/csv``): one row per record, nested objects flattened
with dots (``baseline.prior_therapy_lines``), lists of codes joined with ``;``, lists of objects as JSON.

The columns come from the resource's serializer, so an empty page or a page of removals still has the full
header. Text cells that a spreadsheet would run as a formula are prefixed with an apostrophe.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rest_framework import serializers
from rest_framework.renderers import BaseRenderer

LIST_SEPARATOR = ";"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def flat_columns(serializer: serializers.Serializer, prefix: str = "") -> list[str]:
    """Column names of a serializer, nested serializers expanded with dots."""
    columns = []
    for name, field in serializer.fields.items():
        if isinstance(field, serializers.Serializer):
            columns += flat_columns(field, f"{prefix}{name}.")
        else:
            columns.append(f"{prefix}{name}")
    return columns


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            return LIST_SEPARATOR.join(str(_cell(v)) for v in value)
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


def flatten(row: dict[str, Any], prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {} if out is None else out
    for key, value in row.items():
        if isinstance(value, dict):
            flatten(value, f"{prefix}{key}.", out)
        else:
            out[f"{prefix}{key}"] = _cell(value)
    return out


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        renderer_context = renderer_context or {}
        view = renderer_context.get("view")
        if isinstance(data, dict) and "results" in data:
            rows = data["results"]
        elif isinstance(data, list):
            rows = data
        else:
            rows = [data] if data else []
        flat = [flatten(row) for row in rows]
        columns = list(getattr(view, "csv_columns", lambda: [])() or [])
        known = set(columns)
        # A null nested object has its columns already (empty); it needs no column of its own.
        nested = {column.rsplit(".", 1)[0] for column in columns if "." in column}
        for row in flat:
            for key in list(row):
                if key in nested and row[key] == "":
                    del row[key]
                elif key not in known:
                    known.add(key)
                    columns.append(key)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(flat)
        return buffer.getvalue().encode(self.charset)
