"""Whether a visit has what its timepoint expects: instruments, laboratory groups, toxicity assessments.

Shared by the daily digest (recent visits missing data) and the registry summary (completeness per timepoint
and item). Each timepoint lists per diagnosis what it expects (``ScheduleTimepoint.expected_for``):

* an instrument — ``sledai``, ``jdm``, ``ssc`` — counts when the visit has that assessment, not voided;
* a laboratory group — ``outcomes.labs.ANALYTES[*].group`` (``cbc``, ``lymphocyte_subsets``, ``car_t``,
  ``immunoglobulins``, ``inflammation``, ``renal``, ``serology``, ``muscle``) — counts when any analyte of the
  group was sampled from ``LAB_DAYS_BEFORE_VISIT`` (10, the SLEDAI-2K window) days before the visit, or
  the opening of the timepoint's window if earlier, to ``LAB_DAYS_AFTER_VISIT`` (3) days after it, or the
  close of the window if later;
* a toxicity assessment — ``crs``, ``icans`` — counts when one is dated inside the timepoint's window or
  on the visit date.

Other items (``medications``) have no per-visit record to check and are not reported.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from outcomes.labs import ANALYTES
from outcomes.models import Visit
from patients.models import Patient

LAB_DAYS_BEFORE_VISIT = 10
LAB_DAYS_AFTER_VISIT = 3
# The columns of a visit (with its timepoint and instruments) that the completeness rules read.
VISIT_FIELDS = (
    "id",
    "patient_id",
    "visit_date",
    "timepoint__code",
    "timepoint__label",
    "timepoint__nominal_day",
    "timepoint__window_before_days",
    "timepoint__window_after_days",
    "timepoint__expected",
    "sledai__voided_at",
    "jdm__voided_at",
    "ssc__voided_at",
)

INSTRUMENT_ITEMS = ("sledai", "jdm", "ssc")
ASSESSMENT_ITEMS = ("crs", "icans")
LAB_GROUPS: dict[str, frozenset[str]] = {}
for _code, _analyte in ANALYTES.items():
    LAB_GROUPS[_analyte.group] = LAB_GROUPS.get(_analyte.group, frozenset()) | {_code}
ANALYTE_GROUP = {code: a.group for code, a in ANALYTES.items()}


def item_label(item: str) -> str:
    labels = {
        "sledai": _("SLE assessment (SLEDAI-2K)"),
        "jdm": _("JDM assessment (CMAS, MMT8)"),
        "ssc": _("SSc assessment (mRSS)"),
        "crs": _("CRS assessment"),
        "icans": _("ICANS assessment"),
        "cbc": _("blood count"),
        "lymphocyte_subsets": _("lymphocyte subsets"),
        "car_t": _("CAR T cells"),
        "immunoglobulins": _("immunoglobulins"),
        "inflammation": _("inflammation markers"),
        "renal": _("renal function"),
        "serology": _("serology"),
        "muscle": _("muscle enzymes"),
    }
    return str(labels.get(item, item))


def checkable(item: str) -> bool:
    """Whether the registry can tell if an expected item of a timepoint was collected."""
    return item in INSTRUMENT_ITEMS or item in ASSESSMENT_ITEMS or item in LAB_GROUPS


class CollectedData:
    """What was collected per patient: lab dates per group and CRS/ICANS dates, sorted for range lookups."""

    def __init__(self) -> None:
        # Sets while collecting (a blood count is five analytes on one day), sorted lists once sorted.
        self.labs: dict[tuple[int, str], Any] = defaultdict(set)
        self.assessments: dict[tuple[int, str], Any] = defaultdict(set)

    def add_lab(self, patient_id: int, analyte: str, on: dt.date) -> None:
        self.labs[(patient_id, ANALYTE_GROUP.get(analyte, "other"))].add(on)

    def add_assessment(self, patient_id: int, kind: str, on: dt.date) -> None:
        self.assessments[(patient_id, kind)].add(on)

    def sort(self) -> CollectedData:
        for table in (self.labs, self.assessments):
            for key, dates in table.items():
                table[key] = sorted(dates)
        return self

    @staticmethod
    def _any_between(dates: list[dt.date], lo: dt.date, hi: dt.date) -> bool:
        i = bisect.bisect_left(dates, lo)
        return i < len(dates) and dates[i] <= hi

    def lab_between(self, patient_id: int, group: str, lo: dt.date, hi: dt.date) -> bool:
        return self._any_between(self.labs.get((patient_id, group), []), lo, hi)

    def assessment_between(self, patient_id: int, kind: str, lo: dt.date, hi: dt.date) -> bool:
        return self._any_between(self.assessments.get((patient_id, kind), []), lo, hi)


def _instrument_present(visit: Visit, item: str) -> bool:
    row = getattr(visit, item, None) if hasattr(visit, item) else None
    return row is not None and row.voided_at is None


def visits_with_items(queryset: QuerySet[Visit]) -> QuerySet[Visit]:
    """``queryset`` of visits with what :func:`visit_items` reads, in one query (timepoint, instruments)."""
    return queryset.select_related("timepoint", "sledai", "jdm", "ssc").only(*VISIT_FIELDS)


def visit_items(visit: Visit, patient: Patient, data: CollectedData) -> tuple[list[str], list[str]]:
    """(checkable expected items, the missing ones) of a visit at a scheduled timepoint."""
    tp = visit.timepoint
    expected = [item for item in tp.expected_for(patient.diagnosis) if checkable(item)]
    if not expected:
        return [], []
    start, end = tp.window()
    window_lo = window_hi = visit.visit_date
    if patient.day0 is not None:
        window_lo = min(visit.visit_date, patient.day0 + dt.timedelta(days=start))
        window_hi = max(visit.visit_date, patient.day0 + dt.timedelta(days=end))
    lab_lo = min(window_lo, visit.visit_date - dt.timedelta(days=LAB_DAYS_BEFORE_VISIT))
    lab_hi = max(window_hi, visit.visit_date + dt.timedelta(days=LAB_DAYS_AFTER_VISIT))
    missing = []
    for item in expected:
        if item in INSTRUMENT_ITEMS:
            present = _instrument_present(visit, item)
        elif item in ASSESSMENT_ITEMS:
            present = data.assessment_between(patient.pk, item, window_lo, window_hi)
        else:
            present = data.lab_between(patient.pk, item, lab_lo, lab_hi)
        if not present:
            missing.append(item)
    return expected, missing


def earliest_lab_date(visits: Iterable[Visit], patients: dict[int, Patient]) -> dt.date:
    """The earliest sample date that can count for any of ``visits`` (bounds the laboratory query)."""
    earliest = None
    for visit in visits:
        p = patients[visit.patient_id]
        lo = visit.visit_date - dt.timedelta(days=LAB_DAYS_BEFORE_VISIT)
        if p.day0 is not None:
            lo = min(lo, p.day0 + dt.timedelta(days=visit.timepoint.window()[0]))
        earliest = lo if earliest is None else min(earliest, lo)
    return earliest or dt.date.max
