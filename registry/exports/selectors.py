"""The reads behind every case-series export: a fixed number of queries, whatever the number of patients.

:func:`series_data` loads one case series (scoped to the centres the requester may export, filtered) into
plain Python structures; :mod:`registry.exports.tables` and :mod:`registry.exports.figures` shape them. Voided
rows never leave this module. Patients without day 0 stay in the baseline and dosing rows but have no study
days: the toxicity, follow-up, laboratory and medication reads skip them (DESIGN §4).

Queries (pinned in ``tests/registry/test_exports.py``):

* tables: patients with centre; identity (date of birth for the age; names only for identified exports);
  organ involvement; prior therapies; manufacturing runs with their bag counts; infusions; lymphodepletion
  doses; the schedule timepoints; visits joined with their instruments and timepoint; the course
  (:func:`outcomes.selectors.course_summaries`, 3) and the safety summary
  (:func:`adverse_events.selectors.safety_summaries`, 6) — 18 in all;
* with ``longitudinal=True`` (figures, tidy datasets) 6 more: CRS and ICANS assessments, infections, other
  adverse events, laboratory results, medications.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from django.db.models import Count, Q

from adverse_events.models import AdverseEvent, CrsAssessment, IcansAssessment, Infection
from adverse_events.selectors import SafetySummary, safety_summaries
from dosing.models import Infusion, LymphodepletionDose, ManufacturingRun
from outcomes.models import LabResult, Medication, ScheduleTimepoint, Visit
from outcomes.selectors import Course, course_summaries
from outcomes.services import local_date
from patients.models import OrganInvolvement, Patient, PatientIdentity, PriorTherapy
from registry import access
from registry.exports.definitions import MEASURES
from registry.models import CaseSeries, Centre


@dataclass(frozen=True)
class ExportFilters:
    """Which patients of a case series: centre code, diagnosis code, product code, infusion period."""

    centre: str = ""
    diagnosis: str = ""
    product: str = ""
    infused_from: dt.date | None = None
    infused_to: dt.date | None = None

    def as_dict(self) -> dict[str, str]:
        """The filters that are set, JSON-safe (dates ISO), for the export log and the "about" sheet."""
        values = {
            "centre": self.centre,
            "diagnosis": self.diagnosis,
            "product": self.product,
            "infused_from": self.infused_from.isoformat() if self.infused_from else "",
            "infused_to": self.infused_to.isoformat() if self.infused_to else "",
        }
        return {k: v for k, v in values.items() if v}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ExportFilters:
        def day(key: str) -> dt.date | None:
            raw = values.get(key)
            if isinstance(raw, dt.date):
                return raw
            return dt.date.fromisoformat(raw) if raw else None

        return cls(
            centre=values.get("centre") or "",
            diagnosis=values.get("diagnosis") or "",
            product=values.get("product") or "",
            infused_from=day("infused_from"),
            infused_to=day("infused_to"),
        )


@dataclass
class VisitRow:
    """One visit's instrument values (canonical measure codes → number) and status flags."""

    day: int
    timepoint: str
    values: dict[str, float]
    remission: bool | None = None  # DORIS (SLE), PRINTO inactive (JDM), EUSTAR-AI < 2.5 (SSc)
    lldas: bool | None = None
    jdm_response: str = ""


@dataclass
class SeriesData:
    """Everything an export of one case series needs, as plain values."""

    series: CaseSeries
    filters: ExportFilters
    patients: list[Patient]
    date_of_birth: dict[int, dt.date] = field(default_factory=dict)
    identity: dict[int, dict[str, Any]] = field(default_factory=dict)
    organs: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    prior: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    runs: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    infusion: dict[int, dict[str, Any]] = field(default_factory=dict)  # the day-0 infusion
    reinfusions: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    lymphodepletion: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    visits: dict[int, list[VisitRow]] = field(default_factory=lambda: defaultdict(list))
    timepoints: list[tuple[str, int, int, int]] = field(default_factory=list)  # code, nominal, start, end
    safety: dict[int, SafetySummary] = field(default_factory=dict)
    courses: dict[int, Course] = field(default_factory=dict)
    longitudinal: bool = False
    crs_days: dict[int, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    icans_days: dict[int, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    infections: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    adverse_events: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    labs: dict[int, list[tuple[int, str, float]]] = field(default_factory=lambda: defaultdict(list))
    medications: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))

    @property
    def infused(self) -> list[Patient]:
        """Patients with day 0: the denominators of safety and efficacy."""
        return [p for p in self.patients if p.day0 is not None]

    def timepoint_of(self, day: int | None) -> str:
        """The scheduled timepoint whose window holds ``day`` (closest nominal day wins), else ''."""
        if day is None:
            return ""
        best = None
        for code, nominal, start, end in self.timepoints:
            if start <= day <= end and (best is None or abs(day - nominal) < best[0]):
                best = (abs(day - nominal), code)
        return best[1] if best else ""


def all_centre_ids() -> list[int]:
    """Every centre id (external centre numbers are keyed over all of them). One query."""
    return list(Centre.objects.order_by("pk").values_list("pk", flat=True))


def centre_id_for_code(code: str) -> int:
    """The id of the centre with ``code``; ``-1`` (no centre) when unknown, so access checks refuse it."""
    return Centre.objects.filter(code=code).values_list("pk", flat=True).first() or -1


def series_patients(series: CaseSeries, *, centre_ids: frozenset[int] | None, filters: ExportFilters):
    """The series' patients that may be exported: not voided, at ``centre_ids`` (``None``: all), filtered."""
    qs = Patient.objects.filter(case_series=series, voided_at__isnull=True).select_related("centre")
    if centre_ids is not access.ALL:
        qs = qs.filter(centre_id__in=centre_ids)
    if filters.centre:
        qs = qs.filter(centre__code=filters.centre)
    if filters.diagnosis:
        qs = qs.filter(diagnosis=filters.diagnosis)
    if filters.product:
        # At most one non-voided day-0 infusion per patient (database constraint): no duplicates.
        qs = qs.filter(
            infusions__run__product__code=filters.product,
            infusions__is_reinfusion=False,
            infusions__voided_at__isnull=True,
        )
    if filters.infused_from:
        qs = qs.filter(day0__gte=filters.infused_from)
    if filters.infused_to:
        qs = qs.filter(day0__lte=filters.infused_to)
    return qs.order_by("centre__code", "sequence")


def count_patients(series: CaseSeries, *, centre_ids: frozenset[int] | None, filters: ExportFilters) -> int:
    return series_patients(series, centre_ids=centre_ids, filters=filters).count()


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _visit_row(visit: Visit, day: int, diagnosis: str) -> VisitRow:
    """The row of one visit. A missing instrument was cached by ``select_related``: ``getattr`` with a default
    (``RelatedObjectDoesNotExist`` is an ``AttributeError``) never queries."""
    row = VisitRow(day=day, timepoint=visit.timepoint.code if visit.timepoint_id else "", values={})
    for measure in MEASURES:
        if measure.diagnosis != diagnosis:
            continue
        instrument = getattr(visit, measure.instrument, None)
        if instrument is None or instrument.voided_at is not None:
            continue
        value = _number(getattr(instrument, measure.field))
        if value is not None:
            row.values[measure.code] = value
    instrument = {"sle": "sledai", "jdm": "jdm", "ssc": "ssc"}[diagnosis]
    obj = getattr(visit, instrument, None)
    if obj is not None and obj.voided_at is None:
        if diagnosis == "sle":
            row.remission, row.lldas = obj.doris_remission, obj.lldas
        elif diagnosis == "jdm":
            row.remission, row.jdm_response = obj.printo_inactive, obj.response
        elif obj.eustar_active is not None:
            row.remission = not obj.eustar_active
    return row


#: The instrument fields :func:`_visit_row` reads: the measures, the status flags, ``voided_at``.
_STATUS_FIELDS = {
    "sledai": ("doris_remission", "lldas"),
    "jdm": ("printo_inactive", "response"),
    "ssc": ("eustar_active",),
}
_INSTRUMENT_FIELDS = {
    name: ("voided_at", *dict.fromkeys(m.field for m in MEASURES if m.instrument == name), *status)
    for name, status in _STATUS_FIELDS.items()
}


def _visits(patient_ids: list[int]):
    """The patients' visits for :func:`_visit_row` as plain values, in one query with joins: no model
    instances (a registry has hundreds of thousands of visits). A visit without an instrument lacks the
    attribute, as with ``select_related``."""
    columns = [f"{name}__{f}" for name, fields in _INSTRUMENT_FIELDS.items() for f in ("pk", *fields)]
    for row in (
        Visit.objects.filter(patient_id__in=patient_ids, voided_at__isnull=True)
        .order_by("patient_id", "visit_date", "pk")
        .values_list("patient_id", "visit_date", "timepoint_id", "timepoint__code", *columns)
    ):
        visit = SimpleNamespace(
            patient_id=row[0], visit_date=row[1], timepoint_id=row[2], timepoint=SimpleNamespace(code=row[3])
        )
        i = 4
        for name, fields in _INSTRUMENT_FIELDS.items():
            if row[i] is not None:
                values = row[i + 1 : i + 1 + len(fields)]
                setattr(visit, name, SimpleNamespace(**dict(zip(fields, values, strict=True))))
            i += 1 + len(fields)
        yield visit


def series_data(
    series: CaseSeries,
    *,
    centre_ids: frozenset[int] | None,
    filters: ExportFilters | None = None,
    identified: bool = False,
    longitudinal: bool = False,
) -> SeriesData:
    """Load ``series`` for an export (see the module docstring for the queries).

    ``centre_ids`` comes from :func:`registry.exports.modes.export_centre_ids` (``None``: every centre, for
    the registry-wide coordinators and the management command). ``identified`` adds names and hospital
    numbers; ``longitudinal`` adds the day-by-day data of the figures and tidy datasets.
    """
    filters = filters or ExportFilters()
    patients = list(series_patients(series, centre_ids=centre_ids, filters=filters))
    data = SeriesData(series=series, filters=filters, patients=patients, longitudinal=longitudinal)
    ids = [p.pk for p in patients]
    by_id = {p.pk: p for p in patients}

    fields = ["patient_id", "date_of_birth"]
    if identified:
        fields += ["given_name", "family_name", "hospital_number"]
    for row in PatientIdentity.objects.filter(patient_id__in=ids, voided_at__isnull=True).values(*fields):
        data.date_of_birth[row["patient_id"]] = row["date_of_birth"]
        if identified:
            data.identity[row["patient_id"]] = row

    for pid, organ in (
        OrganInvolvement.objects.filter(patient_id__in=ids, voided_at__isnull=True)
        .order_by("patient_id", "organ")
        .values_list("patient_id", "organ")
    ):
        data.organs[pid].append(organ)
    for row in (
        PriorTherapy.objects.filter(patient_id__in=ids, voided_at__isnull=True)
        .order_by("patient_id", "start_date", "pk")
        .values("patient_id", "drug", "therapy_class", "b_cell_targeted")
    ):
        data.prior[row["patient_id"]].append(row)

    for row in (
        ManufacturingRun.objects.filter(patient_id__in=ids, voided_at__isnull=True)
        .annotate(bag_count=Count("bags", filter=Q(bags__voided_at__isnull=True)))
        .order_by("patient_id", "started_on", "pk")
        .values(
            "pk",
            "patient_id",
            "outcome",
            "started_on",
            "finished_on",
            "product_state",
            "transduction_efficiency_pct",
            "viability_pct",
            "cd4_cd8_ratio",
            "vector_copy_number",
            "bag_count",
            "product__code",
            "product__name",
            "apheresis__performed_on",
        )
    ):
        data.runs[row["patient_id"]].append(row)
    for row in (
        Infusion.objects.filter(patient_id__in=ids, voided_at__isnull=True)
        .order_by("patient_id", "infused_on", "pk")
        .values(
            "patient_id",
            "run_id",
            "infused_on",
            "is_reinfusion",
            "weight_kg",
            "target_cells_per_kg",
            "car_t_cells_infused",
            "dose_per_kg",
            "percent_of_target",
            "dose_window",
        )
    ):
        if row["is_reinfusion"]:
            data.reinfusions[row["patient_id"]] += 1
        else:
            data.infusion[row["patient_id"]] = row
    for row in (
        LymphodepletionDose.objects.filter(patient_id__in=ids, voided_at__isnull=True)
        .order_by("patient_id", "given_on", "agent")
        .values("patient_id", "agent", "given_on", "mg_per_m2")
    ):
        data.lymphodepletion[row["patient_id"]].append(row)

    data.timepoints = [
        (tp.code, tp.nominal_day, *tp.window()) for tp in ScheduleTimepoint.objects.filter(protocol="default")
    ]
    infused = [p for p in patients if p.day0 is not None]
    infused_ids = [p.pk for p in infused]
    for visit in _visits(infused_ids):
        p = by_id[visit.patient_id]
        data.visits[p.pk].append(_visit_row(visit, (visit.visit_date - p.day0).days, p.diagnosis))

    data.courses = course_summaries(infused)
    data.safety = safety_summaries(infused)
    if longitudinal:
        _load_longitudinal(data, infused)
    return data


def _load_longitudinal(data: SeriesData, infused: list[Patient]) -> None:
    by_id = {p.pk: p for p in infused}
    ids = list(by_id)

    def day_of_moment(pid: int, moment: dt.datetime) -> int:
        p = by_id[pid]
        return (local_date(moment, p.centre.time_zone) - p.day0).days

    def day_of(pid: int, on: dt.date | None) -> int | None:
        return None if on is None else (on - by_id[pid].day0).days

    for model, target in ((CrsAssessment, data.crs_days), (IcansAssessment, data.icans_days)):
        for pid, moment, grade in (
            model.objects.filter(patient_id__in=ids, voided_at__isnull=True)
            .order_by("patient_id", "assessed_at")
            .values_list("patient_id", "assessed_at", "grade")
        ):
            day = day_of_moment(pid, moment)
            target[pid][day] = max(grade, target[pid].get(day, 0))
    for row in (
        Infection.objects.filter(patient_id__in=ids, voided_at__isnull=True)
        .order_by("patient_id", "onset_on")
        .values("patient_id", "onset_on", "resolved_on", "grade", "organism_type", "site")
    ):
        pid = row["patient_id"]
        data.infections[pid].append(
            {
                "day": day_of(pid, row["onset_on"]),
                "resolved_day": day_of(pid, row["resolved_on"]),
                "grade": row["grade"],
                "organism_type": row["organism_type"],
                "site": row["site"],
            }
        )
    for row in (
        AdverseEvent.objects.filter(patient_id__in=ids, voided_at__isnull=True)
        .order_by("patient_id", "started_on")
        .values("patient_id", "started_on", "grade", "serious", "term")
    ):
        pid = row["patient_id"]
        data.adverse_events[pid].append(
            {
                "day": day_of(pid, row["started_on"]),
                "grade": row["grade"],
                "serious": row["serious"],
                "term": row["term"],
            }
        )
    for pid, on, analyte, value in (
        LabResult.objects.filter(patient_id__in=ids, voided_at__isnull=True)
        .order_by("patient_id", "sampled_at", "analyte")
        .values_list("patient_id", "sampled_on", "analyte", "value")
    ):
        data.labs[pid].append(((on - by_id[pid].day0).days, analyte, value))
    for row in (
        Medication.objects.filter(patient_id__in=ids, voided_at__isnull=True)
        .order_by("patient_id", "started_on", "pk")
        .values("patient_id", "drug", "medication_class", "started_on", "stopped_on")
    ):
        pid = row["patient_id"]
        data.medications[pid].append(
            {
                "drug": row["drug"],
                "medication_class": row["medication_class"],
                "start_day": day_of(pid, row["started_on"]),
                "stop_day": day_of(pid, row["stopped_on"]),
            }
        )
