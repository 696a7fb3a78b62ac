"""Summary rows of the case-series tables: number formatting and the :class:`Summary` builder (one column for
all patients, one per diagnosis present). Conventions: see :mod:`registry.exports.tables`.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import pandas as pd

from registry.exports.definitions import DIAGNOSES, SUMMARY_COLUMNS
from registry.exports.modes import ExportPolicy

SPREADS = ("range", "iqr")
DASH = "—"


# --- small pure helpers -------------------------------------------------------------------------------------


def percent_change(value: float | None, baseline: float | None) -> float | None:
    """(value − baseline) / baseline × 100, one decimal; ``None`` without a (non-zero) baseline."""
    if value is None or baseline is None or baseline == 0:
        return None
    return round((value - baseline) / baseline * 100, 1)


def _present(value: Any) -> bool:
    if value is None:
        return False
    try:
        return not pd.isna(value)
    except (TypeError, ValueError):
        return True


def format_number(value: float, decimals: int, *, flexible: bool = False) -> str:
    """``value`` rounded half up to ``decimals`` places; ``flexible`` gives a median or quartile of whole
    numbers the one extra place it may need (12.5 years)."""
    places = decimals
    if flexible and decimals == 0 and abs(round(value) - value) > 1e-9:
        places = 1
    exponent = Decimal(1).scaleb(-places)
    text = str(Decimal(repr(float(value))).quantize(exponent, rounding=ROUND_HALF_UP))
    return text[1:] if text.startswith("-") and Decimal(text) == 0 else text


def format_count_percent(n: int, denominator: int, policy: ExportPolicy) -> str:
    """``6 (75.0%)``; ``<5`` when suppressed; ``—`` without a denominator."""
    if denominator == 0:
        return DASH
    shown = policy.count(n)
    if isinstance(shown, str):
        return shown
    return f"{n} ({n / denominator * 100:.1f}%)"


def numbers(values: pd.Series, scale: float = 1.0) -> np.ndarray:
    """The values of a numeric column that are present (``None`` and NaN dropped), as floats × ``scale``: the
    vectorised ``[float(v) * scale for v in values if _present(v)]``, same numbers."""
    array = values.to_numpy(dtype="float64", na_value=np.nan)
    array = array[~np.isnan(array)]
    return array * scale if scale != 1.0 else array


def format_continuous(
    values: Iterable[float], *, decimals: int, spread: str, policy: ExportPolicy, population: int
) -> str:
    """``median (min–max)`` or ``median (Q1–Q3)``, with ``, n = k`` when k < population. ``values``: any
    iterable (missing values skipped), or an array of :func:`numbers` (used as it is)."""
    if isinstance(values, np.ndarray) and values.dtype == np.float64:
        array = values[~np.isnan(values)]
    else:
        array = np.array([float(v) for v in values if _present(v)], dtype="float64")
    n = len(array)
    if n == 0:
        return DASH
    if policy.small(n):
        return f"n<{policy.threshold}"
    median = float(np.median(array))
    if spread == "iqr":  # linear interpolation, as pandas' Series.quantile
        low, high = (float(q) for q in np.quantile(array, [0.25, 0.75]))
    else:
        low, high = float(array.min()), float(array.max())
    flexible = spread == "iqr"
    text = (
        f"{format_number(median, decimals, flexible=True)} "
        f"({format_number(low, decimals, flexible=flexible)}–"
        f"{format_number(high, decimals, flexible=flexible)})"
    )
    return f"{text}, n = {n}" if n < population else text


# --- summary builder ----------------------------------------------------------------------------------------


class Summary:
    """Accumulates summary rows over the column groups (all patients, then each diagnosis present)."""

    def __init__(self, frame: pd.DataFrame, policy: ExportPolicy, spread: str) -> None:
        self.policy, self.spread = policy, spread
        present = [d for d in DIAGNOSES if not frame.empty and (frame["diagnosis"] == d).any()]
        self.groups: list[tuple[str, pd.DataFrame]] = [("all", frame)] + [
            (d, frame[frame["diagnosis"] == d]) for d in present
        ]
        self.rows: list[dict[str, Any]] = []
        self._masks: dict[tuple[int, str], Any] = {}
        self.statistic_range = "median (IQR)" if spread == "iqr" else "median (range)"

    def _values(self, group: pd.DataFrame, column: str, only: str | None) -> pd.Series:
        """The column of a group, restricted to one diagnosis (``only``) for disease-specific rows."""
        values = group[column]
        if not only:
            return values
        key = (id(group), only)
        if key not in self._masks:
            self._masks[key] = (group["diagnosis"] == only).to_numpy()
        return values[self._masks[key]]

    def _add(self, section: str, label: str, statistic: str, cells: dict[str, str]) -> None:
        self.rows.append({"section": section, "characteristic": label, "statistic": statistic, **cells})

    def patients(self, section: str, label: str) -> None:
        cells = {}
        for key, group in self.groups:
            shown = self.policy.count(len(group))
            cells[key] = str(shown)
        self._add(section, label, "n", cells)

    def flag(
        self,
        section: str,
        label: str,
        column: str,
        *,
        only: str | None = None,
        not_evaluable: bool = True,
    ) -> None:
        """Patients for whom ``column`` is true, n (% of the evaluable); a not-evaluable row if any."""
        cells, missing, any_missing = {}, {}, False
        for key, group in self.groups:
            values = self._values(group, column, only)
            known = values[values.notna()]
            n = int(known.astype(bool).sum())
            cells[key] = format_count_percent(n, len(known), self.policy)
            k = len(values) - len(known)
            missing[key] = str(self.policy.count(k)) if len(values) else DASH
            any_missing |= k > 0
        self._add(section, label, "n (%)", cells)
        if not_evaluable and any_missing:
            self._add(section, f"{label}: not evaluable", "n", missing)

    def levels(
        self,
        section: str,
        label: str,
        column: str,
        levels: Iterable[tuple[Any, str]],
        *,
        only: str | None = None,
        any_level: str | None = None,
        any_from: Any = None,
        missing_label: str = "not evaluable",
    ) -> None:
        """One n (%) row per level of ``column`` (percentages of the evaluable); optional "any" row."""
        groups = [(key, self._values(g, column, only)) for key, g in self.groups]
        if any_level is not None:
            cells = {}
            for key, values in groups:
                known = values.dropna()
                cells[key] = format_count_percent(int((known >= any_from).sum()), len(known), self.policy)
            self._add(section, f"{label}: {any_level}", "n (%)", cells)
        for value, level_label in levels:
            cells = {}
            for key, values in groups:
                known = values.dropna()
                cells[key] = format_count_percent(int((known == value).sum()), len(known), self.policy)
            self._add(section, f"{label}: {level_label}", "n (%)", cells)
        missing = {}
        any_missing = False
        for key, values in groups:
            k = int(values.isna().sum())
            missing[key] = str(self.policy.count(k)) if len(values) else DASH
            any_missing |= k > 0
        if any_missing:
            self._add(section, f"{label}: {missing_label}", "n", missing)

    def continuous(
        self,
        section: str,
        label: str,
        column: str,
        *,
        decimals: int = 1,
        scale: float = 1.0,
        only: str | None = None,
        skip_empty: bool = False,
    ) -> None:
        cells = {}
        seen = 0
        for key, group in self.groups:
            column_values = self._values(group, column, only)
            values = numbers(column_values, scale)
            seen += len(values)
            cells[key] = format_continuous(
                values,
                decimals=decimals,
                spread=self.spread,
                policy=self.policy,
                population=len(column_values),
            )
        if skip_empty and not seen:
            return
        self._add(section, label, self.statistic_range, cells)

    def count_sum(self, section: str, label: str, column: str) -> None:
        """The total of a count column (e.g. infection episodes), suppressed like any count."""
        cells = {}
        for key, group in self.groups:
            total = int(sum(int(v) for v in group[column] if _present(v)))
            cells[key] = str(self.policy.count(total)) if len(group) else DASH
        self._add(section, label, "n", cells)

    def frame(self) -> pd.DataFrame:
        names = ["section", "characteristic", "statistic"] + [key for key, _ in self.groups]
        return pd.DataFrame(self.rows, columns=names).fillna(DASH)


def summary_labels(summary: pd.DataFrame) -> dict[str, str]:
    """Column headers for readers (XLSX, HTML): the dictionary labels of the summary columns."""
    labels = {c.name: str(c.label) for c in SUMMARY_COLUMNS}
    return {name: labels.get(name, name) for name in summary.columns}
