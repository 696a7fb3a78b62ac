"""The follow-up sections of the patient page, read with a fixed number of queries.

``{% follow_up_page patient as follow %}`` (in ``outcomes/_patient_sections.html``) builds a
:class:`FollowUpPage` from the bulk selectors of :mod:`outcomes.selectors`, so the patient page keeps its
constant query count. Queries, whatever the number of visits, labs or medications (patient with day 0):

1. follow-up timepoints, 2. the patient's visited timepoints (``schedule_statuses``), 3. visits with their
timepoint and instrument (``patient_visits``), 4.–6. ``course_summaries`` (CAR T/CD19/IgG labs, visits with
instruments, medications), 7. medications, 8. the latest result of each analyte (one window query).

Without day 0 there is no schedule and no derived course: queries 1, 2 and 4–6 are not run.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from django import template
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from outcomes.labs import ANALYTES
from outcomes.models import LabResult, Medication, MedicationClass, ScheduleTimepoint, Visit
from outcomes.schedule import TimepointStatus
from outcomes.selectors import (
    Course,
    course_summaries,
    follow_up_timepoints,
    patient_visits,
    schedule_statuses,
)
from patients.templatetags.registry_format import sci

register = template.Library()

STATUS_LABELS = {
    "completed": _("completed"),
    "upcoming": _("upcoming"),
    "due": _("due"),
    "in_window": _("in window"),
    "overdue": _("overdue"),
    "missed": _("missed"),
}
RECORDABLE = ("due", "in_window", "overdue", "missed")


def centre_today(patient: Any) -> dt.date:
    return timezone.localtime(timezone.now(), zoneinfo.ZoneInfo(patient.centre.time_zone)).date()


@dataclass
class ScheduleRow:
    status: TimepointStatus
    label: Any
    visit: Visit | None
    can_record: bool


@dataclass
class LabRow:
    result: LabResult
    label: str
    unit: str
    flag: str  # "low" | "high" | ""
    study_day: int | None


@dataclass
class FollowUpPage:
    today: dt.date
    today_day: int | None
    schedule: list[ScheduleRow] = field(default_factory=list)
    schedule_later: list[ScheduleRow] = field(default_factory=list)
    next_due: ScheduleRow | None = None
    visits: list[Visit] = field(default_factory=list)
    course: Course | None = None
    medications: list[Medication] = field(default_factory=list)
    labs: list[LabRow] = field(default_factory=list)


def latest_labs(patient: Any) -> list[LabResult]:
    """The latest valid result of each analyte (one query), in catalogue order."""
    rows = list(
        LabResult.objects.filter(patient=patient, voided_at__isnull=True)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("analyte")],
                order_by=[F("sampled_at").desc(), F("pk").desc()],
            )
        )
        .filter(rank=1)
    )
    order = {code: i for i, code in enumerate(ANALYTES)}
    return sorted(rows, key=lambda r: order.get(r.analyte, len(order)))


def lab_flag(result: LabResult) -> str:
    if result.lln is not None and result.value < result.lln:
        return "low"
    if result.uln is not None and result.value > result.uln:
        return "high"
    return ""


def _weight_on(growth: list[Any], on: dt.date) -> float | None:
    """Weight (kg) of the latest measurement on or before ``on`` (else the earliest) from a loaded list."""
    if not growth:
        return None
    ordered = sorted(growth, key=lambda g: g.measured_on)
    before = [g for g in ordered if g.measured_on <= on]
    return float((before[-1] if before else ordered[0]).weight_kg)


def follow_up_page(patient: Any, *, growth: list[Any] | None = None) -> FollowUpPage:
    """Schedule, visits, course, medications and latest labs of one patient (queries: module docstring).

    ``growth`` is the patient page's already loaded list of growth measurements (for mg/kg doses).
    """
    today = centre_today(patient)
    page = FollowUpPage(today=today, today_day=patient.study_day(today))
    visits = [v for v in patient_visits(patient) if v.voided_at is None]
    for visit in visits:
        visit.study_day = patient.study_day(visit.visit_date)
        visit.instrument = next(
            (row for name in ("sledai", "jdm", "ssc") if (row := getattr(visit, name, None)) is not None),
            None,
        )
    page.visits = visits
    if patient.day0 is not None:
        timepoints: list[ScheduleTimepoint] = follow_up_timepoints()
        statuses = schedule_statuses([patient], today, timepoints).get(patient.pk, [])
        by_code = {v.timepoint.code: v for v in visits if v.timepoint_id is not None}
        rows = [
            ScheduleRow(s, STATUS_LABELS.get(s.status, s.status), by_code.get(s.code), s.status in RECORDABLE)
            for s in statuses
        ]
        first_upcoming = next((i for i, r in enumerate(rows) if r.status.status == "upcoming"), len(rows))
        page.schedule, page.schedule_later = rows[: first_upcoming + 1], rows[first_upcoming + 1 :]
        page.next_due = next(
            (r for r in rows if r.status.status in ("overdue", "in_window", "due", "upcoming")), None
        )
        page.course = course_summaries([patient], today=today).get(patient.pk)
    meds = list(
        Medication.objects.filter(patient=patient, voided_at__isnull=True).order_by("started_on", "pk")
    )
    for med in meds:
        med.start_day = patient.study_day(med.started_on)
        med.stop_day = patient.study_day(med.stopped_on)
        med.running = med.stopped_on is None or med.stopped_on >= today
        weight = _weight_on(growth or [], med.started_on)
        med.prednisone_mg_kg_day = (
            round(float(med.prednisone_equivalent_mg_per_day) / weight, 3)
            if med.prednisone_equivalent_mg_per_day is not None and weight
            else None
        )
        med.is_immunomodulator = med.medication_class in (
            MedicationClass.IMMUNOMODULATOR,
            MedicationClass.GLUCOCORTICOID,
        )
    page.medications = meds
    page.labs = [
        LabRow(
            r,
            ANALYTES[r.analyte].label,
            ANALYTES[r.analyte].unit,
            lab_flag(r),
            patient.study_day(r.sampled_on),
        )
        for r in latest_labs(patient)
        if r.analyte in ANALYTES
    ]
    return page


@register.filter
def lab_number(value: Any) -> str:
    """A laboratory value without trailing zeros: 0.52, 32.69, 39.789; large counts as 1.20 × 10⁶."""
    if value in (None, ""):
        return "—"
    number = float(value)
    if abs(number) >= 1e6:
        return sci(number)
    return f"{number:.6g}"


@register.simple_tag(takes_context=True)
def follow_up_page_for(context: template.Context, patient: Any) -> FollowUpPage:
    """The page the view already built (``follow`` in the context: the header and plots use it too), else
    built here."""
    built = context.get("follow")
    if isinstance(built, FollowUpPage):
        return built
    page = context.get("page")
    return follow_up_page(patient, growth=getattr(page, "growth", None))
