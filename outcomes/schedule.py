"""The default visit schedule (DESIGN §4) as data, and pure visit-status rules.

Loaded into ``ScheduleTimepoint`` by a data migration; centres may add protocols with other timepoints.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

MONTH_DAYS = 30.4375

_FOLLOW_UP_EXPECTED = {
    "*": ["cbc", "lymphocyte_subsets", "immunoglobulins", "medications"],
    "sle": ["sledai", "serology", "renal"],
    "jdm": ["jdm", "muscle"],
    "ssc": ["ssc", "inflammation"],
}
_EARLY_EXPECTED = {**_FOLLOW_UP_EXPECTED, "*": [*_FOLLOW_UP_EXPECTED["*"], "car_t"]}
_INPATIENT_EXPECTED = {"*": ["cbc", "crs", "icans"]}


def _tp(code, label, kind, day, before=0, after=0, expected=None):
    return {
        "code": code,
        "label": label,
        "kind": kind,
        "nominal_day": day,
        "window_before_days": before,
        "window_after_days": after,
        "expected": expected or {},
    }


def default_timepoints() -> list[dict]:
    """Screening D−60…D−7, apheresis, lymphodepletion D−5…D−3, D0, D1…D14 daily, D21 ±2, D28 ±3, M2 ±7,
    M3 ±14, M6 ±21, M9/M12/M15/M18/M24 ±30, then yearly ±60 to year 15 (CIBMTR long-term follow-up)."""
    points = [
        _tp("screening", "Screening", "pre_infusion", -30, 30, 23, _FOLLOW_UP_EXPECTED),
        _tp("apheresis", "Apheresis", "pre_infusion", -28, 32, 22),
        _tp("lymphodepletion", "Lymphodepletion", "pre_infusion", -4, 1, 1),
        _tp("d0", "Day 0", "day0", 0, 0, 0, _INPATIENT_EXPECTED),
    ]
    points += [_tp(f"d{d}", f"Day {d}", "inpatient", d, 0, 0, _INPATIENT_EXPECTED) for d in range(1, 15)]
    points += [
        _tp("d21", "Day 21", "follow_up", 21, 2, 2, {"*": ["cbc", "car_t", "lymphocyte_subsets"]}),
        _tp("d28", "Day 28", "follow_up", 28, 3, 3, _EARLY_EXPECTED),
        _tp("m2", "Month 2", "follow_up", round(2 * MONTH_DAYS), 7, 7, _EARLY_EXPECTED),
        _tp("m3", "Month 3", "follow_up", round(3 * MONTH_DAYS), 14, 14, _EARLY_EXPECTED),
        _tp("m6", "Month 6", "follow_up", round(6 * MONTH_DAYS), 21, 21, _EARLY_EXPECTED),
    ]
    points += [
        _tp(f"m{m}", f"Month {m}", "follow_up", round(m * MONTH_DAYS), 30, 30, _FOLLOW_UP_EXPECTED)
        for m in (9, 12, 15, 18, 24)
    ]
    points += [
        _tp(f"y{y}", f"Year {y}", "follow_up", round(y * 12 * MONTH_DAYS), 60, 60, _FOLLOW_UP_EXPECTED)
        for y in range(3, 16)
    ]
    return points


# Visit status, from the window and today's study day (documented rule):
#   completed — a visit is recorded for the timepoint;
#   upcoming  — the window opens more than DUE_SOON_DAYS from today;
#   due       — the window opens within DUE_SOON_DAYS;
#   in_window — today is inside the window;
#   overdue   — the window closed less than max(window width, 14 days) ago: the visit can still be done late;
#   missed    — the window closed longer ago than that.
DUE_SOON_DAYS = 14
STATUSES = ("completed", "upcoming", "due", "in_window", "overdue", "missed")


@dataclass(frozen=True)
class TimepointStatus:
    code: str
    label: str
    status: str
    window_start_day: int
    window_end_day: int
    window_start: dt.date
    window_end: dt.date


def timepoint_status(*, today_day: int, window_start: int, window_end: int, completed: bool) -> str:
    """Status of one timepoint for a patient whose study day today is ``today_day``."""
    if completed:
        return "completed"
    if today_day < window_start - DUE_SOON_DAYS:
        return "upcoming"
    if today_day < window_start:
        return "due"
    if today_day <= window_end:
        return "in_window"
    grace = max(window_end - window_start, DUE_SOON_DAYS)
    return "overdue" if today_day <= window_end + grace else "missed"


def follow_up_months(day0: dt.date, last: dt.date) -> float:
    """Follow-up = last visit − day 0, in months of 30.4375 days, one decimal (DESIGN §4)."""
    return round((last - day0).days / MONTH_DAYS, 1)
