"""Case-series tables: pure pandas shaping of :class:`~registry.exports.selectors.SeriesData`.

With :mod:`registry.exports.tidy`, the only part of the exports that imports pandas. No queries, no
``request``, no ``now()``: the same data and policy always give the same tables. Modules: :mod:`.frames`
(the per-patient rows), :mod:`.summary` (number formatting and the summary-row builder), :mod:`.summaries`
(each table's summary); this one assembles them (:func:`build_tables`) and re-exports their public names.

Each table has a **per-patient** frame (one row per child, like a paper's supplementary table; the columns of
:mod:`registry.exports.definitions`) and a **summary** frame (section, characteristic, statistic, then one
column for all patients and one per diagnosis present). Summary conventions:

* ``n (%)``: the count and its percentage of the column's evaluable patients, one decimal; patients without a
  value are counted in a separate "not evaluable" row;
* ``median (range)`` or ``median (IQR)`` (quartiles by linear interpolation, pandas' default); the number of
  patients behind a statistic is appended (``n = 3``) when it is fewer than the column's patients;
* baseline and dosing summarise every patient of the selection; safety and efficacy the patients with day 0;
* age is in completed years at day 0; follow-up in months of 30.4375 days (DESIGN §4); study days from day 0;
* external exports (:class:`~registry.exports.modes.ExportPolicy`) show counts below the threshold as ``<5``
  and suppress statistics computed over fewer patients (``n<5``); there is no complementary suppression.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from registry.bulk import collector_paused
from registry.exports.definitions import SUMMARY_COLUMNS, TABLE_TITLES, TABLES, Column
from registry.exports.modes import ExportPolicy
from registry.exports.selectors import SeriesData
from registry.exports.tables.frames import (
    LD_ABBREVIATIONS,
    REMISSION_LABEL,
    baseline_frame,
    dosing_frame,
    efficacy_frame,
    percent_change,
    safety_frame,
    visible_columns,
)
from registry.exports.tables.summaries import (
    GRADES,
    ICAHT_GRADES,
    baseline_summary,
    dosing_summary,
    efficacy_summary,
    safety_summary,
)
from registry.exports.tables.summary import (
    DASH,
    SPREADS,
    Summary,
    _present,
    format_continuous,
    format_count_percent,
    format_number,
    summary_labels,
)

__all__ = [
    "DASH",
    "DICTIONARY_HEADER",
    "FRAMES",
    "GRADES",
    "ICAHT_GRADES",
    "LD_ABBREVIATIONS",
    "REMISSION_LABEL",
    "SPREADS",
    "SUMMARIES",
    "Summary",
    "Table",
    "_present",
    "baseline_frame",
    "baseline_summary",
    "build_table",
    "build_tables",
    "data_dictionary",
    "dosing_frame",
    "dosing_summary",
    "efficacy_frame",
    "efficacy_summary",
    "format_continuous",
    "format_count_percent",
    "format_number",
    "percent_change",
    "safety_frame",
    "safety_summary",
    "summary_labels",
    "table_notes",
    "visible_columns",
]


@dataclass
class Table:
    """One case-series table: per-patient rows, the summary, the columns of the per-patient rows, notes."""

    key: str
    title: str
    patients: pd.DataFrame
    summary: pd.DataFrame
    columns: list[Column]
    notes: list[str] = field(default_factory=list)

    @property
    def row_counts(self) -> dict[str, int]:
        return {f"{self.key}_patients": len(self.patients), f"{self.key}_summary": len(self.summary)}


FRAMES = {
    "baseline": baseline_frame,
    "dosing": dosing_frame,
    "safety": safety_frame,
    "efficacy": efficacy_frame,
}
SUMMARIES = {
    "baseline": baseline_summary,
    "dosing": dosing_summary,
    "safety": safety_summary,
    "efficacy": efficacy_summary,
}


def table_notes(key: str, policy: ExportPolicy, spread: str) -> list[str]:
    notes = [
        "n (%): percentage of the column's patients with data, one decimal; 'not evaluable' rows count "
        "the rest.",
        "median (IQR), quartiles by linear interpolation." if spread == "iqr" else "median (range).",
    ]
    if key in ("safety", "efficacy"):
        notes.append("Patients with day 0 (the infusion); study days count from day 0.")
    if key == "baseline":
        notes.append("Age in completed years at day 0; baseline scores: last assessment on or before day 0.")
    if key == "safety":
        notes.append(
            "CRS and ICANS grades computed from bedside observations (ASTCT 2019), ICAHT from the ANC series "
            "(EHA/EBMT 2023); severe infection: CTCAE grade ≥ 3."
        )
    if key == "efficacy":
        notes.append(
            "Follow-up: last visit − day 0 in months of 30.4375 days. Month 3/6/12: the scheduled visit, "
            "else the unscheduled visit in its window closest to the nominal day. "
            "% change: (value − baseline) / baseline."
        )
    if policy.suppresses:
        notes.append(
            f"External export: counts below {policy.threshold} shown as <{policy.threshold}, "
            "statistics over fewer "
            f"than {policy.threshold} patients suppressed (n<{policy.threshold})."
        )
    return notes


def build_table(data: SeriesData, key: str, policy: ExportPolicy, *, spread: str = "range") -> Table:
    if key not in TABLES:
        raise ValueError(f"table: unknown '{key}'; allowed: {', '.join(TABLES)}")
    if spread not in SPREADS:
        raise ValueError(f"spread: unknown '{spread}'; allowed: {', '.join(SPREADS)}")
    working = FRAMES[key](data, policy)
    summary = SUMMARIES[key](working, policy, spread)
    columns = visible_columns(key, policy)
    visible = working[[c.name for c in columns]].copy()
    for c in columns:
        if c.kind in ("integer", "study_day"):  # whole numbers stay whole despite missing values
            visible[c.name] = pd.to_numeric(visible[c.name], errors="coerce").round().astype("Int64")
    visible = visible.astype(object)
    patients = visible.where(visible.notna(), None)
    return Table(
        key=key,
        title=str(TABLE_TITLES[key]),
        patients=patients.reset_index(drop=True),
        summary=summary,
        columns=columns,
        notes=table_notes(key, policy, spread),
    )


@collector_paused()
def build_tables(
    data: SeriesData, policy: ExportPolicy, *, tables: Iterable[str] = TABLES, spread: str = "range"
) -> dict[str, Table]:
    return {key: build_table(data, key, policy, spread=spread) for key in tables}


# --- data dictionary --------------------------------------------------------------------------


DICTIONARY_HEADER = ["table", "column", "label", "type", "unit", "description"]


def data_dictionary(tables: Iterable[Table]) -> pd.DataFrame:
    """One row per column of each per-patient table and of the summaries."""
    rows = []
    for table in tables:
        for c in table.columns:
            rows.append([f"{table.key}_patients", c.name, str(c.label), c.kind, c.unit, str(c.description)])
        for c in SUMMARY_COLUMNS:
            if c.name in table.summary.columns:
                rows.append(
                    [f"{table.key}_summary", c.name, str(c.label), c.kind, c.unit, str(c.description)]
                )
    return pd.DataFrame(rows, columns=DICTIONARY_HEADER)
