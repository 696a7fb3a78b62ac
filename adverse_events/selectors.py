"""Tuned reads of toxicity: episodes, ICAHT from the shared laboratory model, the patient safety summary.

``safety_summaries(patient_ids)`` runs a fixed number of queries whatever the number of patients (one per
table), so pages, exports, summaries and the API can all use it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
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
from registry.models import Centre
from registry.sql import fetch_pending, id_subquery, on_postgresql, value_rows_pending


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
    patients: Iterable[Patient], *, id_query: QuerySet | None = None, reads: SafetyReads | None = None
) -> dict[int, SafetySummary]:
    """Safety summaries of the given patients, keyed by patient id.

    Queries (:func:`safety_reads`): CRS assessments, ICANS assessments, lab results (ANC and last follow-up),
    supportive care, infections, adverse events — 6 in all, independent of the number of patients.
    ``id_query``: the ids of the same patients as a queryset (``.values("pk")``), which the queries then
    filter on as a subquery instead of one parameter per patient (exports of thousands of patients); rows of
    patients that it finds but ``patients`` lacks (enrolled meanwhile) are ignored. ``reads``: the rows
    already read by :func:`safety_reads` for these patients: then nothing is queried.
    """
    patients = [p for p in patients if p.day0 is not None]
    by_id = {p.pk: p for p in patients}
    summaries = {p.pk: SafetySummary(p.pk) for p in patients}
    if not patients:
        return summaries
    if reads is None:
        reads = safety_reads(list(by_id) if id_query is None else id_query, by_id)
    crs, icans, anc = reads.crs, reads.icans, reads.anc
    for pid, doses in reads.tocilizumab_doses.items():
        if pid in summaries:
            summaries[pid].tocilizumab_doses = doses
    for pid in reads.crs_corticosteroids & summaries.keys():
        summaries[pid].crs_corticosteroids = True
    for pid in reads.anakinra & summaries.keys():
        summaries[pid].anakinra = True
    for pid, tools in reads.icans_tools.items():
        if pid in summaries:
            summaries[pid].icans_tools = set(tools)
    for pid, kind, units in reads.supportive_care:
        s = summaries.get(pid)
        if s is None:
            continue
        if kind in ("rbc_transfusion", "platelet_transfusion"):
            s.transfusions += units
        s.gcsf |= kind == "gcsf"
    for pid, grade in reads.infections:
        s = summaries.get(pid)
        if s is None:
            continue
        s.infections += 1
        s.severe_infections += grade >= Infection.SEVERE_GRADE
        s.max_infection_grade = max(s.max_infection_grade, grade)
    for pid, grade, serious in reads.adverse_events:
        s = summaries.get(pid)
        if s is None:
            continue
        s.serious_adverse_events += bool(serious)
        s.max_ae_grade = max(s.max_ae_grade, grade)

    for pid, s in summaries.items():
        p = by_id[pid]
        s.crs_episodes = episodes(crs.get(pid, ()))
        s.icans_episodes = episodes(icans.get(pid, ()))
        s.crs_max_grade, s.crs_onset_day, s.crs_duration_days = _episode_figures(s.crs_episodes)
        s.icans_max_grade, s.icans_onset_day, s.icans_duration_days = _episode_figures(s.icans_episodes)
        s.open_episode = any(e.resolution_day is None for e in s.crs_episodes + s.icans_episodes)
        days = [d for d, _ in crs.get(pid, ())] + [d for d, _ in icans.get(pid, ())]
        if pid in reads.last_sample_day:
            days.append(reads.last_sample_day[pid])
        last = last_follow_up_day(p, days)
        if pid in reads.with_anc:  # ICAHT of every patient with an ANC value, in its windows or not
            s.icaht = grading.icaht_assessment(anc.get(pid, ()), last_day=last)
            s.neutrophil_recovery_day = s.icaht["neutrophil_recovery_day"]
    return summaries


def _episode_figures(found: list[Episode]) -> tuple[int, int | None, int | None]:
    """(worst grade, onset day of the first episode, duration of the worst — the earliest among equals);
    (0, None, None) without an episode."""
    if not found:
        return 0, None, None
    worst = max(found, key=lambda e: (e.max_grade, -e.onset_day))
    return worst.max_grade, found[0].onset_day, worst.duration_days


def safety_reads(ids: Any, by_id: dict[int, Patient]) -> SafetyReads:
    """What :func:`safety_summaries` reads for the patients ``ids`` (ids or a ``.values("pk")`` queryset;
    ``by_id``: those patients with day 0 by id, for their study days): 6 queries. Plain rows, so the
    summaries can be computed away from the database connection (another thread)."""
    return safety_reads_pending(ids, by_id)()


def safety_reads_pending(ids: Any, by_id: dict[int, Patient]) -> Callable[[], SafetyReads]:
    """:func:`safety_reads` with its 6 statements run now and their rows converted and shaped when the
    returned function is called, on any thread (:func:`registry.sql.fetch_pending`)."""
    if on_postgresql():
        shape = _read_series_postgresql(ids, by_id)
    else:
        read = _read_series(ids, by_id)
        shape = lambda: read  # noqa: E731 - the ORM path reads at once
    counted = [
        value_rows_pending(
            model.objects.filter(patient_id__in=ids, voided_at__isnull=True).values_list(*fields)
        )
        for model, fields in (
            (SupportiveCare, ("patient_id", "kind", "units")),
            (Infection, ("patient_id", "grade")),
            (AdverseEvent, ("patient_id", "grade", "serious")),
        )
    ]

    def reads() -> SafetyReads:
        series = shape()
        series.supportive_care, series.infections, series.adverse_events = (rows.rows() for rows in counted)
        return series

    return reads


@dataclass
class SafetyReads:
    """The rows that :func:`safety_summaries` grades (:func:`safety_reads`): per patient id, the (study day,
    grade) series of CRS and ICANS, the ANC values of the ICAHT windows, the last sample day, and what the
    summary counts."""

    crs: dict[int, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))
    icans: dict[int, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))
    anc: dict[int, list[tuple[int, float]]] = field(default_factory=lambda: defaultdict(list))
    last_sample_day: dict[int, int] = field(default_factory=dict)
    with_anc: set[int] = field(default_factory=set)
    tocilizumab_doses: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    crs_corticosteroids: set[int] = field(default_factory=set)
    anakinra: set[int] = field(default_factory=set)
    icans_tools: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    supportive_care: list[tuple] = field(default_factory=list)  # (patient id, kind, units)
    infections: list[tuple] = field(default_factory=list)  # (patient id, grade)
    adverse_events: list[tuple] = field(default_factory=list)  # (patient id, grade, serious)


def _read_series(ids: Any, by_id: dict[int, Patient]) -> SafetyReads:
    """CRS and ICANS grades by study day (the centre's local date, computed by the database), the ANC values
    of the ICAHT windows, each patient's last laboratory sample day and whether they have any ANC value — as
    rows, 3 queries. Plain values, not model instances: these reads run over every assessment of thousands of
    patients."""
    series = SafetyReads()
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
        series.crs[pid].append(((on - p.day0).days, grade))
        if tocilizumab:
            series.tocilizumab_doses[pid] += 1
        if corticosteroid:
            series.crs_corticosteroids.add(pid)
        if anakinra:
            series.anakinra.add(pid)
    for pid, on, grade, tool in (
        IcansAssessment.objects.filter(patient_id__in=ids, voided_at__isnull=True)
        .annotate(local_day=LocalDate("assessed_at", "patient__centre__time_zone"))
        .order_by("patient_id", "assessed_at", "pk")
        .values_list("patient_id", "local_day", "grade", "tool")
    ):
        p = by_id.get(pid)
        if p is None:
            continue
        series.icans[pid].append(((on - p.day0).days, grade))
        series.icans_tools[pid].add(tool)
    # One query: the ANC values of the ICAHT windows (study days 0 to the end of the late window; ICAHT
    # ignores the others), plus each patient's last sample date (the only other use of the labs: the end of
    # follow-up) as a row ("", date, 1 when the patient has any ANC value else 0) — not every laboratory value
    # of every patient. The last date and the flag are probes per patient of the (patient, analyte, day) and
    # (patient, day) indexes, not aggregates over all their values.
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
        LabResult.objects.filter(
            patient_id__in=ids,
            voided_at__isnull=True,
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
            series.anc[pid].append((day, value))
        else:
            series.last_sample_day[pid] = day
            if value:
                series.with_anc.add(pid)
    return series


#: CRS and ICANS on PostgreSQL: one row per patient, the (study day, grade) series as two arrays in
#: assessment order (the study day from the centre's local date), plus what the summary counts.
_CRS_SQL = """
SELECT a.patient_id,
       ARRAY_AGG((a.assessed_at AT TIME ZONE c.time_zone)::date - p.day0 ORDER BY a.assessed_at, a.id),
       ARRAY_AGG(a.grade ORDER BY a.assessed_at, a.id),
       COUNT(*) FILTER (WHERE a.tocilizumab_mg_per_kg <> 0),
       BOOL_OR(a.corticosteroid_given),
       BOOL_OR(a.anakinra_given)
FROM {table} a JOIN {patients} p ON p.id = a.patient_id JOIN {centres} c ON c.id = p.centre_id
WHERE a.patient_id IN ({ids}) AND a.voided_at IS NULL AND p.day0 IS NOT NULL
GROUP BY a.patient_id
"""
_ICANS_SQL = """
SELECT a.patient_id,
       ARRAY_AGG((a.assessed_at AT TIME ZONE c.time_zone)::date - p.day0 ORDER BY a.assessed_at, a.id),
       ARRAY_AGG(a.grade ORDER BY a.assessed_at, a.id),
       ARRAY_AGG(DISTINCT a.tool)
FROM {table} a JOIN {patients} p ON p.id = a.patient_id JOIN {centres} c ON c.id = p.centre_id
WHERE a.patient_id IN ({ids}) AND a.voided_at IS NULL AND p.day0 IS NOT NULL
GROUP BY a.patient_id
"""
#: The laboratory on PostgreSQL: one row per patient with a sample — the lowest ANC of each study day of the
#: ICAHT windows (ICAHT keeps the day's lowest value) as two arrays, the last sample date and whether the
#: patient has any ANC value (probes of the (patient, day) and (patient, analyte, day) indexes).
_LABS_SQL = """
WITH daily AS (
    SELECT l.patient_id, l.sampled_on - p.day0 AS day, MIN(l.value) AS value
    FROM {labs} l JOIN {patients} p ON p.id = l.patient_id
    WHERE l.patient_id IN ({ids}) AND l.analyte = 'anc' AND l.voided_at IS NULL
      AND l.sampled_on >= p.day0 AND l.sampled_on <= p.day0 + %s
    GROUP BY l.patient_id, l.sampled_on, p.day0
), series AS (
    SELECT patient_id, ARRAY_AGG(day ORDER BY day) AS days, ARRAY_AGG(value ORDER BY day) AS anc
    FROM daily GROUP BY patient_id
)
SELECT p.id, s.days, s.anc,
       (SELECT l.sampled_on - p.day0 FROM {labs} l WHERE l.patient_id = p.id AND l.voided_at IS NULL
        ORDER BY l.sampled_on DESC LIMIT 1) AS last_day,
       EXISTS (SELECT 1 FROM {labs} l WHERE l.patient_id = p.id AND l.analyte = 'anc' AND l.voided_at IS NULL)
FROM {patients} p LEFT JOIN series s ON s.patient_id = p.id
WHERE p.id IN ({ids}) AND p.day0 IS NOT NULL
"""


def _read_series_postgresql(ids: Any, by_id: dict[int, Patient]) -> Callable[[], SafetyReads]:
    """What :func:`_read_series` reads, as one row per patient with arrays (3 queries, PostgreSQL): the
    database orders, dates and groups, instead of a Python loop over every assessment and ANC value. The
    statements run now; the returned function converts and shapes their rows (on any thread)."""
    subquery, id_params = id_subquery(ids)
    tables = {
        "patients": Patient._meta.db_table,
        "centres": Centre._meta.db_table,
        "labs": LabResult._meta.db_table,
        "ids": subquery,
    }
    crs = fetch_pending(_CRS_SQL.format(table=CrsAssessment._meta.db_table, **tables), id_params)
    icans = fetch_pending(_ICANS_SQL.format(table=IcansAssessment._meta.db_table, **tables), id_params)
    labs = fetch_pending(_LABS_SQL.format(**tables), [*id_params, grading.ICAHT_LATE_WINDOW_END, *id_params])

    def shape() -> SafetyReads:
        series = SafetyReads()
        for pid, days, grades, tocilizumab, corticosteroid, anakinra in crs.rows():
            if pid not in by_id:
                continue
            series.crs[pid] = list(zip(days, grades, strict=True))
            if tocilizumab:
                series.tocilizumab_doses[pid] = tocilizumab
            if corticosteroid:
                series.crs_corticosteroids.add(pid)
            if anakinra:
                series.anakinra.add(pid)
        for pid, days, grades, tools in icans.rows():
            if pid not in by_id:
                continue
            series.icans[pid] = list(zip(days, grades, strict=True))
            series.icans_tools[pid] = set(tools)
        for pid, days, anc, last_day, has_anc in labs.rows():
            if pid not in by_id or last_day is None:
                continue
            if days:
                series.anc[pid] = list(zip(days, anc, strict=True))
            series.last_sample_day[pid] = last_day
            if has_anc:
                series.with_anc.add(pid)
        return series

    return shape


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
