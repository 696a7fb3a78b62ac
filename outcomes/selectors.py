"""Tuned reads of follow-up: the visit schedule status and the derived course of each patient.

Both work on many patients at once with a fixed number of queries (pages, exports, summaries and the API use
them). Definitions that the literature leaves open are settings, documented here:

* B-cell aplasia starts on the first sample after day 0 with CD19+ B cells below
  ``REGISTRY_B_CELL_APLASIA_BELOW_PER_UL`` (default 1 cell/µL); reconstitution is the first later sample at or
  above ``REGISTRY_B_CELL_RECONSTITUTION_PER_UL`` (default 10 cells/µL).
* Immunomodulator-free since: the study day after which no immunomodulator (glucocorticoids included) is
  running.
* Flare after remission (per disease): SLE — a visit with clinical SLEDAI-2K ≥ 4 after a DORIS remission;
  JDM — physician global ≥ 3 after PRINTO inactive disease; SSc — EUSTAR-AI ≥ 2.5 after < 2.5; any disease —
  an immunomodulator started after day 0 for disease activity.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict, namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.db.models import OuterRef, QuerySet, Subquery

from outcomes.models import (
    LabResult,
    Medication,
    MedicationClass,
    ScheduleTimepoint,
    Visit,
)
from outcomes.schedule import TimepointStatus, follow_up_months, timepoint_status
from patients.models import Patient
from registry.sql import (
    Pending,
    fetch_pending,
    id_subquery,
    on_postgresql,
    value_rows_pending,
)

FLARE_CLINICAL_SLEDAI = 4
FLARE_JDM_PGA = 3.0


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def follow_up_timepoints(protocol: str = "default") -> list[ScheduleTimepoint]:
    return list(ScheduleTimepoint.objects.filter(protocol=protocol, kind="follow_up").order_by("nominal_day"))


def schedule_statuses(
    patients: Iterable[Patient], today: dt.date, timepoints: list[ScheduleTimepoint] | None = None
) -> dict[int, list[TimepointStatus]]:
    """Each patient's follow-up timepoints with their status (see :mod:`outcomes.schedule`). Two queries."""
    patients = [p for p in patients if p.day0 is not None]
    timepoints = follow_up_timepoints() if timepoints is None else timepoints
    done: dict[int, set[int]] = defaultdict(set)
    for pid, tp in Visit.objects.filter(
        patient__in=patients, voided_at__isnull=True, timepoint__isnull=False
    ).values_list("patient_id", "timepoint_id"):
        done[pid].add(tp)
    result = {}
    for p in patients:
        today_day = (today - p.day0).days
        rows = []
        for tp in timepoints:
            start, end = tp.window()
            rows.append(
                TimepointStatus(
                    tp.code,
                    tp.label,
                    timepoint_status(
                        today_day=today_day, window_start=start, window_end=end, completed=tp.pk in done[p.pk]
                    ),
                    start,
                    end,
                    p.day0 + dt.timedelta(days=start),
                    p.day0 + dt.timedelta(days=end),
                )
            )
        result[p.pk] = rows
    return result


def next_due(statuses: list[TimepointStatus]) -> TimepointStatus | None:
    """The first timepoint not completed and not missed (overdue and in-window come first by date)."""
    return next((s for s in statuses if s.status in ("overdue", "in_window", "due", "upcoming")), None)


@dataclass
class Course:
    patient_id: int
    car_t_peak_per_ul: float | None = None
    car_t_peak_day: int | None = None
    b_cell_aplasia_day: int | None = None
    b_cell_reconstitution_day: int | None = None
    igg_nadir_g_l: float | None = None
    igg_nadir_day: int | None = None
    last_visit_date: dt.date | None = None
    last_follow_up_day: int | None = None
    follow_up_months: float | None = None
    immunomodulator_free: bool = False
    immunomodulator_free_since_day: int | None = None
    latest_status: str = ""
    latest_status_day: int | None = None
    remission_reached: bool = False
    first_remission_day: int | None = None
    flares: list[dict[str, Any]] = field(default_factory=list)
    activity: list[tuple[int, str, float]] = field(default_factory=list)  # (day, score name, value)
    prednisone_current_mg: float = 0.0


def _status_of(visit: Visit, diagnosis: str) -> tuple[str, bool, float | None, str] | None:
    """(status label, remission/inactive, main activity score, score name) of a visit's instrument."""
    if diagnosis == "sle" and hasattr(visit, "sledai"):
        s = visit.sledai
        label = "DORIS remission" if s.doris_remission else "LLDAS" if s.lldas else "active"
        return label, s.doris_remission, float(s.sledai_2k), "SLEDAI-2K"
    if diagnosis == "jdm" and hasattr(visit, "jdm"):
        j = visit.jdm
        inactive = bool(j.printo_inactive)
        label = "inactive (PRINTO)" if inactive else (f"{j.response} response" if j.response else "active")
        return label, inactive, None if j.cmas is None else float(j.cmas), "CMAS"
    if diagnosis == "ssc" and hasattr(visit, "ssc"):
        s = visit.ssc
        inactive = s.eustar_active is False
        label = "inactive (EUSTAR-AI < 2.5)" if inactive else "active" if s.eustar_active else "mRSS only"
        return label, inactive, float(s.mrss), "mRSS"
    return None


def _flare(visit: Visit, diagnosis: str) -> bool:
    if diagnosis == "sle" and hasattr(visit, "sledai"):
        return visit.sledai.clinical_sledai_2k >= FLARE_CLINICAL_SLEDAI
    if diagnosis == "jdm" and hasattr(visit, "jdm"):
        return float(visit.jdm.physician_global) >= FLARE_JDM_PGA
    if diagnosis == "ssc" and hasattr(visit, "ssc"):
        return bool(visit.ssc.eustar_active)
    return False


#: The instrument fields that :func:`_status_of` and :func:`_flare` read.
COURSE_VISIT_FIELDS = {
    "sledai": ("doris_remission", "lldas", "sledai_2k", "clinical_sledai_2k"),
    "jdm": ("printo_inactive", "response", "cmas", "physician_global"),
    "ssc": ("eustar_active", "mrss"),
}


def _course_visits(ids: list[int]) -> Iterator[SimpleNamespace]:
    """The patients' visits in date order with the instrument fields the course reads, as plain values (one
    query with joins; no model instances: a registry has hundreds of thousands of visits). A visit without an
    instrument has no such attribute, as with ``select_related``."""
    columns = [f"{name}__{f}" for name, fields in COURSE_VISIT_FIELDS.items() for f in ("pk", *fields)]
    for row in (
        Visit.objects.filter(patient_id__in=ids, voided_at__isnull=True)
        .order_by("patient_id", "visit_date", "pk")
        .values_list("patient_id", "visit_date", *columns)
    ):
        visit = SimpleNamespace(patient_id=row[0], visit_date=row[1])
        i = 2
        for name, fields in COURSE_VISIT_FIELDS.items():
            if row[i] is not None:
                values = row[i + 1 : i + 1 + len(fields)]
                setattr(visit, name, SimpleNamespace(**dict(zip(fields, values, strict=True))))
            i += 1 + len(fields)
        yield visit


def _course_lab_figures(ids: Any, aplasia_below: float, reconstitution_at: float) -> Iterable[tuple]:
    """Per patient with day 0: CAR T peak and its date, IgG nadir and its date, the dates of B-cell aplasia
    and reconstitution — from the samples on or after day 0, in sample order (the first sample wins a tie).

    Rows ``(patient id, peak, peak date, nadir, nadir date, aplasia date, reconstitution date)``. On
    PostgreSQL one pass over the patients' CAR T, CD19 and IgG values (ordered aggregates, the aplasia
    onset as a window); elsewhere per-patient probes of the (patient, analyte, day) index. Same figures."""
    if on_postgresql():
        return _course_lab_figures_postgresql(ids, aplasia_below, reconstitution_at).rows()

    def samples(analyte: str, outer: str = "pk") -> QuerySet:
        return LabResult.objects.filter(
            patient_id=OuterRef(outer),
            analyte=analyte,
            voided_at__isnull=True,
            sampled_on__gte=OuterRef("day0"),
        )

    def first(rows: QuerySet, field: str, *order: str) -> Subquery:
        return Subquery(rows.order_by(*order, "sampled_at").values(field)[:1])

    car_t, igg, cd19 = samples("car_t"), samples("igg"), samples("cd19")
    aplasia = cd19.filter(value__lt=aplasia_below)
    return (
        Patient.objects.filter(pk__in=ids, day0__isnull=False)
        .order_by()
        .annotate(
            peak=first(car_t, "value", "-value"),
            peak_on=first(car_t, "sampled_on", "-value"),
            nadir=first(igg, "value", "value"),
            nadir_on=first(igg, "sampled_on", "value"),
            aplasia_on=first(aplasia, "sampled_on"),
            aplasia_at=first(aplasia, "sampled_at"),
        )
        .annotate(
            reconstitution_on=first(
                cd19.filter(value__gte=reconstitution_at, sampled_at__gt=OuterRef("aplasia_at")), "sampled_on"
            )
        )
        .values_list("pk", "peak", "peak_on", "nadir", "nadir_on", "aplasia_on", "reconstitution_on")
    )


_LAB_FIGURES_SQL = """
WITH samples AS (
    SELECT l.patient_id, l.analyte, l.value, l.sampled_on, l.sampled_at,
           MIN(l.sampled_at) FILTER (WHERE l.analyte = 'cd19' AND l.value < %s)
               OVER (PARTITION BY l.patient_id) AS aplasia_at
    FROM {labs} l JOIN {patients} p ON p.id = l.patient_id
    WHERE p.id IN ({ids}) AND p.day0 IS NOT NULL AND l.sampled_on >= p.day0
      AND l.analyte IN ('car_t', 'igg', 'cd19') AND l.voided_at IS NULL
)
SELECT patient_id,
       MAX(value) FILTER (WHERE analyte = 'car_t'),
       (ARRAY_AGG(sampled_on ORDER BY value DESC, sampled_at) FILTER (WHERE analyte = 'car_t'))[1],
       MIN(value) FILTER (WHERE analyte = 'igg'),
       (ARRAY_AGG(sampled_on ORDER BY value, sampled_at) FILTER (WHERE analyte = 'igg'))[1],
       (ARRAY_AGG(sampled_on ORDER BY sampled_at) FILTER (WHERE analyte = 'cd19' AND value < %s))[1],
       (ARRAY_AGG(sampled_on ORDER BY sampled_at)
            FILTER (WHERE analyte = 'cd19' AND value >= %s AND sampled_at > aplasia_at))[1]
FROM samples
GROUP BY patient_id
"""


def _course_lab_figures_postgresql(ids: Any, aplasia_below: float, reconstitution_at: float) -> Pending:
    subquery, id_params = id_subquery(ids)
    sql = _LAB_FIGURES_SQL.format(
        labs=LabResult._meta.db_table, patients=Patient._meta.db_table, ids=subquery
    )
    return fetch_pending(sql, [aplasia_below, *id_params, aplasia_below, reconstitution_at])


#: A medication as :func:`course_summaries` reads it.
_Medication = namedtuple(
    "_Medication",
    (
        "medication_class",
        "started_on",
        "stopped_on",
        "restarted_for_disease_activity",
        "prednisone_equivalent_mg_per_day",
        "drug",
    ),
)
_IMMUNOMODULATING = frozenset({MedicationClass.IMMUNOMODULATOR.value, MedicationClass.GLUCOCORTICOID.value})


@dataclass
class CourseReads:
    """What :func:`course_summaries` reads from the database besides the visits: the laboratory figures and
    the medications (:func:`course_reads`). Plain rows, so the course can be computed away from the
    database connection (another thread: no query, no translation)."""

    lab_figures: list[tuple]  # (patient id, peak, peak date, nadir, nadir date, aplasia date, reconstitution)
    medications: list[tuple]  # (patient id, *_Medication fields)


def course_reads(ids: Any) -> CourseReads:
    """The course's laboratory figures and medications of the patients ``ids`` (ids or a ``.values("pk")``
    queryset): 2 queries."""
    return course_reads_pending(ids)()


def course_reads_pending(ids: Any) -> Callable[[], CourseReads]:
    """:func:`course_reads` with its 2 statements run now and their rows converted when the returned function
    is called, on any thread (:func:`registry.sql.fetch_pending`)."""
    aplasia_below = _setting("REGISTRY_B_CELL_APLASIA_BELOW_PER_UL", 1.0)
    reconstitution_at = _setting("REGISTRY_B_CELL_RECONSTITUTION_PER_UL", 10.0)
    # One statement: the figures of the course's laboratory values computed by the database, instead of
    # every CAR T, CD19 and IgG value in Python.
    if on_postgresql():
        figures = _course_lab_figures_postgresql(ids, aplasia_below, reconstitution_at)
    else:
        figures = Pending(rows=list(_course_lab_figures(ids, aplasia_below, reconstitution_at)))
    medications = value_rows_pending(
        Medication.objects.filter(patient_id__in=ids, voided_at__isnull=True).values_list(
            "patient_id", *_Medication._fields
        )
    )
    return lambda: CourseReads(figures.rows(), medications.rows())


def course_summaries(
    patients: Iterable[Patient],
    *,
    today: dt.date | None = None,
    id_query: QuerySet | None = None,
    visits: Iterable[Any] | None = None,
    last_visit_dates: Mapping[int, dt.date] | None = None,
    reads: CourseReads | None = None,
) -> dict[int, Course]:
    """The derived course of each patient with day 0.

    Queries: the CAR T/CD19/IgG figures, visits joined with their instruments, medications — 3 in all,
    whatever the number of patients or visits. ``id_query``: the ids of the same patients as a queryset
    (``.values("pk")``), filtered on as a subquery instead of one parameter per patient (exports of thousands
    of patients); rows of patients that ``patients`` lacks are ignored. ``visits``: the patients' visits,
    already read by the caller in the order and shape of :func:`_course_visits` (a visit may lack the
    instruments of other diagnoses), instead of the visit query; with ``last_visit_dates`` (patient id → date
    of the last visit), ``visits`` may leave out the visits without an instrument (they only end follow-up).
    ``reads``: the figures and medications already read (:func:`course_reads`); with ``visits`` as a list,
    nothing is queried.
    """
    patients = [p for p in patients if p.day0 is not None]
    by_id = {p.pk: p for p in patients}
    courses = {p.pk: Course(p.pk) for p in patients}
    if not patients:
        return courses
    ids = list(by_id) if id_query is None else id_query
    if reads is None:
        reads = course_reads(ids)

    for pid, *figures in reads.lab_figures:
        p = by_id.get(pid)
        if p is None:
            continue
        c = courses[pid]
        peak, peak_on, nadir, nadir_on, aplasia_on, reconstitution_on = figures
        peak_day, nadir_day, aplasia_day, reconstitution_day = (
            None if on is None else (on - p.day0).days
            for on in (peak_on, nadir_on, aplasia_on, reconstitution_on)
        )
        c.car_t_peak_per_ul, c.car_t_peak_day = peak, peak_day
        c.igg_nadir_g_l, c.igg_nadir_day = nadir, nadir_day
        c.b_cell_aplasia_day, c.b_cell_reconstitution_day = aplasia_day, reconstitution_day

    for visit in _course_visits(ids) if visits is None else visits:
        p = by_id.get(visit.patient_id)
        if p is None:
            continue
        c = courses[visit.patient_id]
        day = (visit.visit_date - p.day0).days
        c.last_visit_date = visit.visit_date
        status = _status_of(visit, p.diagnosis)
        if status is None:
            continue
        label, remission, score, name = status
        if score is not None:
            c.activity.append((day, name, score))
        if day <= 0:
            continue
        if c.remission_reached and _flare(visit, p.diagnosis):
            c.flares.append(
                {"day": day, "kind": "activity", "detail": f"{name} {score:g}" if score else name}
            )
        c.latest_status, c.latest_status_day = label, day
        if remission and not c.remission_reached:
            c.remission_reached, c.first_remission_day = True, day
    meds: dict[int, list[_Medication]] = defaultdict(list)
    for pid, *med in reads.medications:
        meds[pid].append(_Medication._make(med))
    today = today or dt.date.today()
    for pid, on in (last_visit_dates or {}).items():
        if pid in courses:
            courses[pid].last_visit_date = on
    for pid, c in courses.items():
        p = by_id[pid]
        if c.last_visit_date is not None and c.last_visit_date >= p.day0:
            c.last_follow_up_day = (c.last_visit_date - p.day0).days
            c.follow_up_months = follow_up_months(p.day0, c.last_visit_date)
        immuno = [m for m in meds[pid] if m.medication_class in _IMMUNOMODULATING]
        running = [m for m in immuno if m.stopped_on is None or m.stopped_on >= today]
        c.immunomodulator_free = not running
        if c.immunomodulator_free:
            last_stop = max((m.stopped_on for m in immuno if m.stopped_on), default=None)
            c.immunomodulator_free_since_day = (last_stop - p.day0).days if last_stop else None
        c.prednisone_current_mg = sum(float(m.prednisone_equivalent_mg_per_day or 0) for m in running)
        for m in immuno:
            if m.restarted_for_disease_activity and m.started_on > p.day0:
                c.flares.append({"day": (m.started_on - p.day0).days, "kind": "treatment", "detail": m.drug})
        c.flares.sort(key=lambda f: f["day"])
    return courses


def patient_visits(patient: Patient) -> list[Visit]:
    """A patient's visits with their instruments (one query with joins)."""
    return list(
        Visit.objects.filter(patient=patient)
        .select_related("timepoint", "sledai", "jdm", "ssc")
        .order_by("visit_date", "pk")
    )


@dataclass(frozen=True)
class LabPoint:
    pk: int
    day: int
    sampled_on: dt.date
    value: float


def lab_series(patient: Patient, analytes: Iterable[str]) -> dict[str, list[LabPoint]]:
    """Each analyte's values (canonical unit) with their study day, in sample order: one query.

    For the patient page's plots; empty without day 0 (no study days yet, and no query).
    """
    codes = tuple(analytes)
    series: dict[str, list[LabPoint]] = {code: [] for code in codes}
    if patient.day0 is None:
        return series
    for pk, code, on, value in (
        LabResult.objects.filter(patient=patient, voided_at__isnull=True, analyte__in=codes)
        .order_by("sampled_at", "pk")
        .values_list("pk", "analyte", "sampled_on", "value")
    ):
        series[code].append(LabPoint(pk, (on - patient.day0).days, on, value))
    return series
