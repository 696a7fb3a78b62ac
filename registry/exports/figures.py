"""Publication figures of a case series (matplotlib, Agg, SVG and PNG).

* **swimmer**: one bar per child from day 0 to the last follow-up (months), coloured by diagnosis, with the
  events: CRS and ICANS onset, first remission / inactive disease, B-cell reconstitution, immunomodulator-free
  from (the last stop; before day 0 when stopped for CAR T), death;
* **spider**: % change of the disease-activity score (SLEDAI-2K, JDM physician global, mRSS) from baseline
  at every visit after day 0, one line per child;
* **kinetics**: CAR T cells and CD19+ B cells (cells/µL, log scale) by study day, one line per child,
  coloured by diagnosis; values of 0 (undetectable) are drawn at the floor of the axis (0.1 cells/µL);
* **toxicity**: heat map of the worst CRS and ICANS grade of each assessed day (rows: children; grey: not
  assessed).

Figures are built on :class:`matplotlib.figure.Figure` (no pyplot global state, safe in web workers and
Celery) and rendered reproducibly: no timestamp in SVG or PNG metadata, a fixed SVG hash salt, text kept as
text in the SVG so journals can edit it. Colours per diagnosis are
:data:`registry.exports.definitions.DIAGNOSIS_COLOURS` in every figure. Labels follow the export policy
(registry codes, or pseudonyms in external exports).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import matplotlib
import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from registry.exports.definitions import (
    ACTIVITY_MEASURE,
    DIAGNOSES,
    DIAGNOSIS_COLOURS,
    DIAGNOSIS_SHORT,
    FIGURE_TITLES,
    FIGURES,
    MEASURE_BY_CODE,
    MONTH_DAYS,
)
from registry.exports.modes import ExportPolicy
from registry.exports.selectors import SeriesData

FORMATS = {"svg": "image/svg+xml", "png": "image/png"}
STYLE = {
    "font.size": 8,
    "font.family": "DejaVu Sans",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 9,
    "legend.frameon": False,
    "svg.fonttype": "none",
    "svg.hashsalt": "car-t-registry",
    "path.simplify": False,
}
PNG_DPI = 300
LOG_FLOOR = 0.1  # cells/µL: where undetectable (0) values are drawn on log axes
GRADE_COLOURS = ["#f7f7f7", "#fdd49e", "#fc8d59", "#d7301f", "#7f0000", "#000000"]
HEATMAP_MIN_DAYS, HEATMAP_MAX_DAYS = 14, 30
EVENTS = {
    "crs": ("CRS onset", "^", "#E69F00"),
    "icans": ("ICANS onset", "D", "#CC79A7"),
    "remission": ("Remission / inactive", "*", "#F0E442"),
    "b_cells": ("B-cell reconstitution", "o", "#FFFFFF"),
    "immunomodulator_free": ("Immunomodulator-free from", "s", "#999999"),
    "death": ("Death", "X", "#000000"),
}


def _labels(data: SeriesData, policy: ExportPolicy) -> dict[int, str]:
    return {p.pk: policy.patient_label(p.pk, p.code) for p in data.patients}


def _diagnosis_legend(diagnoses: list[str]) -> list[Patch]:
    return [Patch(facecolor=DIAGNOSIS_COLOURS[d], label=DIAGNOSIS_SHORT[d]) for d in diagnoses]


def _empty(ax: Any, message: str = "No data for this selection") -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#666666")
    ax.set_xticks([])
    ax.set_yticks([])


def _end_day(data: SeriesData, pid: int) -> int:
    """Last follow-up day: the last visit after day 0, else the last day with any data."""
    course = data.courses.get(pid)
    if course and course.last_follow_up_day is not None:
        return course.last_follow_up_day
    days = [0, *(day for day, _analyte, _value in data.labs.get(pid, []))]
    days += list(data.crs_days.get(pid, {})) + list(data.icans_days.get(pid, {}))
    return max(days)


def swimmer(data: SeriesData, policy: ExportPolicy) -> Figure:
    infused = data.infused
    labels = _labels(data, policy)
    fig = Figure(figsize=(7.0, 1.6 + 0.32 * max(len(infused), 1)), layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(str(FIGURE_TITLES["swimmer"]))
    if not infused:
        _empty(ax)
        return fig
    ends = {p.pk: _end_day(data, p.pk) for p in infused}
    order = sorted(infused, key=lambda p: (ends[p.pk], labels[p.pk]))
    seen_events: set[str] = set()
    for row, p in enumerate(order):
        ax.barh(row, ends[p.pk] / MONTH_DAYS, left=0, height=0.6, color=DIAGNOSIS_COLOURS[p.diagnosis])
        course, safety = data.courses.get(p.pk), data.safety.get(p.pk)
        events = {
            "crs": safety.crs_onset_day if safety else None,
            "icans": safety.icans_onset_day if safety else None,
            "remission": course.first_remission_day if course else None,
            "b_cells": course.b_cell_reconstitution_day if course else None,
            "immunomodulator_free": course.immunomodulator_free_since_day
            if course and course.immunomodulator_free
            else None,
            "death": p.study_day(p.death_date) if p.death_date else None,
        }
        for name, day in events.items():
            if day is None:
                continue
            label, marker, colour = EVENTS[name]
            ax.plot(
                day / MONTH_DAYS,
                row,
                marker=marker,
                markersize=7 if marker == "*" else 5,
                markerfacecolor=colour,
                markeredgecolor="#000000",
                markeredgewidth=0.6,
                linestyle="none",
                zorder=3,
            )
            seen_events.add(name)
    ax.set_yticks(range(len(order)), [labels[p.pk] for p in order])
    ax.set_xlabel("Months from infusion (day 0)")
    ax.axvline(0, color="#444444", linewidth=0.6)
    diagnoses = [d for d in DIAGNOSES if any(p.diagnosis == d for p in infused)]
    handles: list[Any] = _diagnosis_legend(diagnoses)
    for name in EVENTS:
        if name in seen_events:
            label, marker, colour = EVENTS[name]
            handles.append(
                Line2D(
                    [],
                    [],
                    marker=marker,
                    linestyle="none",
                    markerfacecolor=colour,
                    markeredgecolor="#000000",
                    markeredgewidth=0.6,
                    label=label,
                )
            )
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    return fig


def spider(data: SeriesData, policy: ExportPolicy) -> Figure:
    fig = Figure(figsize=(6.5, 4.0), layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(str(FIGURE_TITLES["spider"]))
    drawn: list[str] = []
    for p in data.infused:
        code = ACTIVITY_MEASURE[p.diagnosis]
        visits = data.visits.get(p.pk, [])
        baseline = None
        for visit in visits:
            if visit.day <= 0 and code in visit.values:
                baseline = visit.values[code]
        if not baseline:
            continue
        points = [(0.0, 0.0)] + [
            (v.day / MONTH_DAYS, (v.values[code] - baseline) / baseline * 100)
            for v in visits
            if v.day > 0 and code in v.values
        ]
        if len(points) < 2:
            continue
        xs, ys = zip(*points, strict=True)
        ax.plot(
            xs, ys, color=DIAGNOSIS_COLOURS[p.diagnosis], marker="o", markersize=3, linewidth=1.1, alpha=0.9
        )
        drawn.append(p.diagnosis)
    if not drawn:
        _empty(ax, "No disease-activity scores at baseline and after day 0")
        return fig
    ax.axhline(0, color="#444444", linewidth=0.6)
    ax.set_xlabel("Months from infusion (day 0)")
    ax.set_ylabel("% change from baseline")
    diagnoses = [d for d in DIAGNOSES if d in drawn]
    handles = [
        Patch(
            facecolor=DIAGNOSIS_COLOURS[d],
            label=f"{DIAGNOSIS_SHORT[d]}: {MEASURE_BY_CODE[ACTIVITY_MEASURE[d]].label}",
        )
        for d in diagnoses
    ]
    ax.legend(handles=handles, loc="best", fontsize=7)
    return fig


def kinetics(data: SeriesData, policy: ExportPolicy) -> Figure:
    fig = Figure(figsize=(7.5, 3.4), layout="constrained")
    axes = fig.subplots(1, 2)
    fig.suptitle(str(FIGURE_TITLES["kinetics"]), fontsize=9)
    panels = (("car_t", "CAR T cells (cells/µL)"), ("cd19", "CD19+ B cells (cells/µL)"))
    drawn_any: list[str] = []
    for ax, (analyte, title) in zip(axes, panels, strict=True):
        ax.set_title(title)
        drawn = False
        for p in data.infused:
            series = [
                (day, value) for day, code, value in data.labs.get(p.pk, []) if code == analyte and day >= -7
            ]
            if len(series) < 1:
                continue
            days = [d for d, _v in series]
            values = [max(v, LOG_FLOOR) for _d, v in series]
            ax.plot(
                days,
                values,
                color=DIAGNOSIS_COLOURS[p.diagnosis],
                linewidth=0.9,
                marker="o",
                markersize=2,
                alpha=0.85,
            )
            drawn = True
            drawn_any.append(p.diagnosis)
        if not drawn:
            _empty(ax)
            continue
        ax.set_yscale("log")
        ax.set_ylim(bottom=LOG_FLOOR * 0.7)
        ax.axhline(LOG_FLOOR, color="#999999", linewidth=0.5, linestyle="--")
        ax.set_xlabel("Study day")
    if drawn_any:
        fig.legend(
            handles=_diagnosis_legend([d for d in DIAGNOSES if d in drawn_any]),
            loc="outside lower center",
            ncols=3,
            fontsize=7,
        )
        fig.text(
            0.99,
            0.005,
            f"Undetectable values drawn at {LOG_FLOOR:g} cells/µL",
            ha="right",
            fontsize=6,
            color="#666666",
        )
    return fig


def toxicity(data: SeriesData, policy: ExportPolicy) -> Figure:
    infused = sorted(data.infused, key=lambda p: (DIAGNOSES.index(p.diagnosis), p.centre.code, p.sequence))
    labels = _labels(data, policy)
    fig = Figure(figsize=(7.5, 1.6 + 0.3 * max(len(infused), 1)), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    fig.suptitle(str(FIGURE_TITLES["toxicity"]), fontsize=9)
    last = max(
        [HEATMAP_MIN_DAYS]
        + [
            d
            for p in infused
            for d in list(data.crs_days.get(p.pk, {})) + list(data.icans_days.get(p.pk, {}))
        ]
    )
    last = min(last, HEATMAP_MAX_DAYS)
    cmap = ListedColormap(GRADE_COLOURS).with_extremes(bad="#d9d9d9")
    norm = BoundaryNorm([g - 0.5 for g in range(7)], cmap.N)
    image = None
    for ax, (name, days) in zip(axes, (("CRS", data.crs_days), ("ICANS", data.icans_days)), strict=True):
        ax.set_title(f"{name} grade")
        if not infused:
            _empty(ax)
            continue
        grid = np.full((len(infused), last + 1), np.nan)
        for row, p in enumerate(infused):
            for day, grade in days.get(p.pk, {}).items():
                if 0 <= day <= last:
                    grid[row, day] = grade
        image = ax.imshow(
            np.ma.masked_invalid(grid), cmap=cmap, norm=norm, aspect="auto", interpolation="nearest"
        )
        ax.set_xlabel("Study day")
        ax.set_xticks(range(0, last + 1, 2))
        if ax is axes[0]:
            ax.set_yticks(range(len(infused)), [labels[p.pk] for p in infused])
            for tick, p in zip(ax.get_yticklabels(), infused, strict=True):
                tick.set_color(DIAGNOSIS_COLOURS[p.diagnosis])
    if image is not None:
        bar = fig.colorbar(image, ax=list(axes), ticks=range(6), shrink=0.8)
        bar.set_label("Grade (grey: not assessed)")
        fig.legend(
            handles=_diagnosis_legend([d for d in DIAGNOSES if any(p.diagnosis == d for p in infused)]),
            loc="outside lower center",
            ncols=3,
            fontsize=7,
        )
    return fig


BUILDERS: dict[str, Callable[[SeriesData, ExportPolicy], Figure]] = {
    "swimmer": swimmer,
    "spider": spider,
    "kinetics": kinetics,
    "toxicity": toxicity,
}


def render(name: str, data: SeriesData, policy: ExportPolicy, fmt: str = "svg") -> bytes:
    """The figure ``name`` as SVG or PNG bytes (needs ``series_data(..., longitudinal=True)``)."""
    if name not in FIGURES:
        raise ValueError(f"name: unknown figure '{name}'; allowed: {', '.join(FIGURES)}")
    if fmt not in FORMATS:
        raise ValueError(f"fmt: unknown format '{fmt}'; allowed: {', '.join(FORMATS)}")
    if not data.longitudinal:
        raise ValueError("data: figures need series_data(..., longitudinal=True)")
    with matplotlib.rc_context(STYLE):
        fig = BUILDERS[name](data, policy)
        buffer = io.BytesIO()
        if fmt == "svg":
            fig.savefig(buffer, format="svg", metadata={"Date": None})
        else:
            fig.savefig(buffer, format="png", dpi=PNG_DPI, metadata={"Software": None})
    return buffer.getvalue()
