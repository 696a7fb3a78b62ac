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

from django.db.models import FloatField, Max, OuterRef, Subquery, Value

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


def safety_summaries(patients: Iterable[Patient]) -> dict[int, SafetySummary]:
    """Safety summaries of the given patients (with ``centre`` loaded), keyed by patient id.

    Queries: CRS assessments, ICANS assessments, lab results (ANC and last follow-up), supportive care,
    infections, adverse events — 7 in all, independent of the number of patients.
    """
    patients = [p for p in patients if p.day0 is not None]
    by_id = {p.pk: p for p in patients}
    summaries = {p.pk: SafetySummary(p.pk) for p in patients}
    if not patients:
        return summaries
    ids = list(by_id)
    from outcomes.services import local_date

    # Plain values, not model instances: these reads run over every assessment of thousands of patients.
    crs: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for pid, assessed_at, grade, tocilizumab, corticosteroid, anakinra in (
        CrsAssessment.objects.filter(patient_id__in=ids, voided_at__isnull=True)
        .order_by("patient_id", "assessed_at", "pk")
        .values_list(
            "patient_id",
            "assessed_at",
            "grade",
            "tocilizumab_mg_per_kg",
            "corticosteroid_given",
            "anakinra_given",
        )
    ):
        p = by_id[pid]
        crs[pid].append((_study_day(p.day0, local_date(assessed_at, p.centre.time_zone)), grade))
        s = summaries[pid]
        s.tocilizumab_doses += 1 if tocilizumab else 0
        s.crs_corticosteroids |= corticosteroid
        s.anakinra |= anakinra
    icans: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for pid, assessed_at, grade, tool in (
        IcansAssessment.objects.filter(patient_id__in=ids, voided_at__isnull=True)
        .order_by("patient_id", "assessed_at", "pk")
        .values_list("patient_id", "assessed_at", "grade", "tool")
    ):
        p = by_id[pid]
        icans[pid].append((_study_day(p.day0, local_date(assessed_at, p.centre.time_zone)), grade))
        summaries[pid].icans_tools.add(tool)
    # One query: the ANC values, plus each patient's last sample date (the only other use of the labs: the
    # end of follow-up) as a row ("", date, 0) — not every laboratory value of every patient.
    anc: dict[int, list[tuple[int, float]]] = defaultdict(list)
    data_days: dict[int, list[int]] = defaultdict(list)
    labs = LabResult.objects.filter(patient_id__in=ids, voided_at__isnull=True)
    last_samples = (
        labs.order_by()
        .values("patient_id")
        .annotate(kind=Value(""), last=Max("sampled_on"), zero=Value(0.0, output_field=FloatField()))
        .values_list("patient_id", "kind", "last", "zero")
    )
    anc_values = (
        labs.filter(analyte="anc").order_by().values_list("patient_id", "analyte", "sampled_on", "value")
    )
    for pid, analyte, on, value in anc_values.union(last_samples, all=True):
        day = _study_day(by_id[pid].day0, on)
        if analyte == "anc":
            anc[pid].append((day, value))
        else:
            data_days[pid].append(day)
    for row in SupportiveCare.objects.filter(patient_id__in=ids, voided_at__isnull=True).only(
        "patient_id", "kind", "units"
    ):
        s = summaries[row.patient_id]
        if row.kind in ("rbc_transfusion", "platelet_transfusion"):
            s.transfusions += row.units
        s.gcsf |= row.kind == "gcsf"
    for pid, grade in Infection.objects.filter(patient_id__in=ids, voided_at__isnull=True).values_list(
        "patient_id", "grade"
    ):
        s = summaries[pid]
        s.infections += 1
        s.severe_infections += grade >= Infection.SEVERE_GRADE
        s.max_infection_grade = max(s.max_infection_grade, grade)
    for pid, grade, serious in AdverseEvent.objects.filter(
        patient_id__in=ids, voided_at__isnull=True
    ).values_list("patient_id", "grade", "serious"):
        s = summaries[pid]
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
        if anc[pid]:
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
