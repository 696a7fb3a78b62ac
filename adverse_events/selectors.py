"""Tuned reads of toxicity: episodes, ICAHT from the shared laboratory model, the patient safety summary.

``safety_summaries(patient_ids)`` runs a fixed number of queries whatever the number of patients (one per
table), so pages, exports, summaries and the API can all use it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import (
    Case,
    DateField,
    Exists,
    F,
    FloatField,
    Func,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
    When,
)

from adverse_events import grading
from adverse_events.models import AdverseEvent, CrsAssessment, IcansAssessment, Infection, SupportiveCare
from outcomes.models import LabResult
from patients.models import Patient


@dataclass(frozen=True)
class Episode:
    """A run of assessments graded ≥ 1, ended by the next assessment graded 0."""

    onset_day: int
    resolution_day: int | None  # study day of the first grade-0 assessment after it; None while ongoing
    max_grade: int
    assessments: int

    @property
    def duration_days(self) -> int | None:
        return None if self.resolution_day is None else self.resolution_day - self.onset_day


def episodes(graded: Iterable[tuple[int, int]]) -> list[Episode]:
    """Episodes from (study day, grade) pairs in time order."""
    result: list[Episode] = []
    onset = None
    worst = count = 0
    for day, grade in graded:
        if grade >= 1:
            if onset is None:
                onset, worst, count = day, 0, 0
            worst, count = max(worst, grade), count + 1
        elif onset is not None:
            result.append(Episode(onset, day, worst, count))
            onset = None
    if onset is not None:
        result.append(Episode(onset, None, worst, count))
    return result


@dataclass
class SafetySummary:
    patient_id: int
    crs_max_grade: int = 0
    crs_onset_day: int | None = None
    crs_duration_days: int | None = None
    crs_episodes: list[Episode] = field(default_factory=list)
    tocilizumab_doses: int = 0
    crs_corticosteroids: bool = False
    anakinra: bool = False
    icans_max_grade: int = 0
    icans_onset_day: int | None = None
    icans_duration_days: int | None = None
    icans_tools: set[str] = field(default_factory=set)
    icans_episodes: list[Episode] = field(default_factory=list)
    icaht: dict[str, Any] | None = None
    neutrophil_recovery_day: int | None = None
    transfusions: int = 0
    gcsf: bool = False
    infections: int = 0
    severe_infections: int = 0
    max_infection_grade: int = 0
    serious_adverse_events: int = 0
    max_ae_grade: int = 0
    open_episode: bool = False

    @property
    def icaht_early(self) -> int | None:
        return None if self.icaht is None else self.icaht["early_grade"]

    @property
    def icaht_late(self) -> int | None:
        return None if self.icaht is None else self.icaht["late_grade"]


class LocalDate(Func):
    """The calendar date of a timestamp in the time zone named by another expression (the centre's), computed
    by the database — the same date as :func:`outcomes.services.local_date`, without loading and converting
    every timestamp in Python. PostgreSQL: ``AT TIME ZONE``; SQLite: Django's own date-cast function."""

    arity = 2
    output_field = DateField()

    def as_postgresql(self, compiler, connection, **extra):
        template = "(%(expressions)s)::date"
        return self.as_sql(compiler, connection, template=template, arg_joiner=" AT TIME ZONE ", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        clone = self.copy()  # + the connection's time zone, in which SQLite stores the timestamps
        clone.set_source_expressions([*self.get_source_expressions(), Value(connection.timezone_name)])
        return clone.as_sql(compiler, connection, function="django_datetime_cast_date", **extra)


def _study_day(day0: dt.date, on: dt.date) -> int:
    return (on - day0).days


def last_follow_up_day(patient: Patient, data_days: Iterable[int]) -> int | None:
    """Death ends follow-up; otherwise the last study day with any data."""
    if patient.day0 is None:
        return None
    if patient.death_date:
        return _study_day(patient.day0, patient.death_date)
    days = list(data_days)
    return max(days) if days else None


def safety_summaries(
    patients: Iterable[Patient], *, id_query: QuerySet | None = None
) -> dict[int, SafetySummary]:
    """Safety summaries of the given patients, keyed by patient id.

    Queries: CRS assessments, ICANS assessments, lab results (ANC and last follow-up), supportive care,
    infections, adverse events — 6 in all, independent of the number of patients. ``id_query``: the ids of
    the same patients as a queryset (``.values("pk")``), which the queries then filter on as a subquery
    instead of one parameter per patient (exports of thousands of patients); rows of patients that it finds
    but ``patients`` lacks (enrolled meanwhile) are ignored.
    """
    patients = [p for p in patients if p.day0 is not None]
    by_id = {p.pk: p for p in patients}
    summaries = {p.pk: SafetySummary(p.pk) for p in patients}
    if not patients:
        return summaries
    ids = list(by_id) if id_query is None else id_query

    # Plain values, not model instances: these reads run over every assessment of thousands of patients.
    # The study day's date is the centre's local date, computed by the database.
    crs: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for pid, on, grade, tocilizumab, corticosteroid, anakinra in (
        CrsAssessment.objects.filter(patient_id__in=ids, voided_at__isnull=True)
        .annotate(local_day=LocalDate("assessed_at", "patient__centre__time_zone"))
        .order_by("patient_id", "assessed_at", "pk")
        .values_list(
            "patient_id",
            "local_day",
            "grade",
            "tocilizumab_mg_per_kg",
            "corticosteroid_given",
            "anakinra_given",
        )
    ):
        p = by_id.get(pid)
        if p is None:
            continue
        crs[pid].append(((on - p.day0).days, grade))
        s = summaries[pid]
        s.tocilizumab_doses += 1 if tocilizumab else 0
        s.crs_corticosteroids |= corticosteroid
        s.anakinra |= anakinra
    icans: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for pid, on, grade, tool in (
        IcansAssessment.objects.filter(patient_id__in=ids, voided_at__isnull=True)
        .annotate(local_day=LocalDate("assessed_at", "patient__centre__time_zone"))
        .order_by("patient_id", "assessed_at", "pk")
        .values_list("patient_id", "local_day", "grade", "tool")
    ):
        p = by_id.get(pid)
        if p is None:
            continue
        icans[pid].append(((on - p.day0).days, grade))
        summaries[pid].icans_tools.add(tool)
    # One query: the ANC values of the ICAHT windows (study days 0 to the end of the late window; ICAHT
    # ignores the others), plus each patient's last sample date (the only other use of the labs: the end of
    # follow-up) as a row ("", date, 1 when the patient has any ANC value else 0) — not every laboratory value
    # of every patient. The last date and the flag are probes per patient of the (patient, analyte, day) and
    # (patient, day) indexes, not aggregates over all their values.
    anc: dict[int, list[tuple[int, float]]] = defaultdict(list)
    with_anc: set[int] = set()
    data_days: dict[int, list[int]] = defaultdict(list)
    labs = LabResult.objects.filter(patient_id__in=ids, voided_at__isnull=True)
    last_sample = (
        LabResult.objects.filter(patient_id=OuterRef("pk"), voided_at__isnull=True)
        .order_by("-sampled_on")
        .values("sampled_on")[:1]
    )
    any_anc = Exists(
        LabResult.objects.filter(patient_id=OuterRef("pk"), analyte="anc", voided_at__isnull=True)
    )
    last_samples = (
        Patient.objects.filter(pk__in=ids)
        .order_by()
        .annotate(
            kind=Value(""),
            last=Subquery(last_sample),
            has_anc=Case(When(any_anc, then=Value(1.0)), default=Value(0.0), output_field=FloatField()),
        )
        .filter(last__isnull=False)
        .values_list("pk", "kind", "last", "has_anc")
    )
    anc_values = (
        labs.filter(
            analyte="anc",
            sampled_on__gte=F("patient__day0"),
            sampled_on__lte=F("patient__day0") + dt.timedelta(days=grading.ICAHT_LATE_WINDOW_END),
        )
        .order_by()
        .values_list("patient_id", "analyte", "sampled_on", "value")
    )
    for pid, analyte, on, value in anc_values.union(last_samples, all=True):
        p = by_id.get(pid)
        if p is None:
            continue
        day = (on - p.day0).days
        if analyte == "anc":
            anc[pid].append((day, value))
        else:
            data_days[pid].append(day)
            if value:
                with_anc.add(pid)
    for pid, kind, units in SupportiveCare.objects.filter(
        patient_id__in=ids, voided_at__isnull=True
    ).values_list("patient_id", "kind", "units"):
        s = summaries.get(pid)
        if s is None:
            continue
        if kind in ("rbc_transfusion", "platelet_transfusion"):
            s.transfusions += units
        s.gcsf |= kind == "gcsf"
    for pid, grade in Infection.objects.filter(patient_id__in=ids, voided_at__isnull=True).values_list(
        "patient_id", "grade"
    ):
        s = summaries.get(pid)
        if s is None:
            continue
        s.infections += 1
        s.severe_infections += grade >= Infection.SEVERE_GRADE
        s.max_infection_grade = max(s.max_infection_grade, grade)
    for pid, grade, serious in AdverseEvent.objects.filter(
        patient_id__in=ids, voided_at__isnull=True
    ).values_list("patient_id", "grade", "serious"):
        s = summaries.get(pid)
        if s is None:
            continue
        s.serious_adverse_events += bool(serious)
        s.max_ae_grade = max(s.max_ae_grade, grade)

    for pid, s in summaries.items():
        p = by_id[pid]
        s.crs_episodes = episodes(crs[pid])
        s.icans_episodes = episodes(icans[pid])
        if s.crs_episodes:
            worst = max(s.crs_episodes, key=lambda e: (e.max_grade, -e.onset_day))
            s.crs_max_grade, s.crs_onset_day, s.crs_duration_days = (
                worst.max_grade,
                s.crs_episodes[0].onset_day,
                worst.duration_days,
            )
        if s.icans_episodes:
            worst = max(s.icans_episodes, key=lambda e: (e.max_grade, -e.onset_day))
            s.icans_max_grade, s.icans_onset_day, s.icans_duration_days = (
                worst.max_grade,
                s.icans_episodes[0].onset_day,
                worst.duration_days,
            )
        s.open_episode = any(e.resolution_day is None for e in s.crs_episodes + s.icans_episodes)
        assessment_days = [d for d, _ in crs[pid]] + [d for d, _ in icans[pid]]
        last = last_follow_up_day(p, data_days[pid] + assessment_days)
        if pid in with_anc:  # ICAHT of every patient with an ANC value, in its windows or not
            s.icaht = grading.icaht_assessment(anc[pid], last_day=last)
            s.neutrophil_recovery_day = s.icaht["neutrophil_recovery_day"]
    return summaries


def safety_summary(patient: Patient) -> SafetySummary | None:
    return safety_summaries([patient]).get(patient.pk)


def latest_grade_annotations() -> dict[str, Subquery]:
    """Annotations for a ``Patient`` queryset: the grade of the latest valid CRS and ICANS assessment.

    An episode is open while the latest assessment is graded 1 or more (as :func:`episodes` defines it), so a
    list of patients can flag open episodes inside its own query, whatever the number of patients.
    """

    def latest(model: type) -> Subquery:
        return Subquery(
            model.objects.filter(patient=OuterRef("pk"), voided_at__isnull=True)
            .order_by("-assessed_at", "-pk")
            .values("grade")[:1]
        )

    return {"latest_crs_grade": latest(CrsAssessment), "latest_icans_grade": latest(IcansAssessment)}
