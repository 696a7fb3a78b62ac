"""The reads behind every case-series export: a fixed number of queries, whatever the number of patients.

:func:`series_data` loads one case series (scoped to the centres the requester may export, filtered) into
plain Python structures; :mod:`registry.exports.tables` and :mod:`registry.exports.figures` shape them. Voided
rows never leave this module. Patients without day 0 stay in the baseline and dosing rows but have no study
days: the toxicity, follow-up, laboratory and medication reads skip them (DESIGN §4).

Queries (pinned in ``tests/registry/test_exports.py``):

* tables: patients; their centres (one instance each); identity (date of birth for the age; names only for
  identified exports); organ involvement; prior therapies; manufacturing runs with their bag counts;
  infusions; lymphodepletion doses; the schedule timepoints; the course
  (:func:`outcomes.selectors.course_reads`, 2: laboratory figures, medications; the visits that have an
  instrument joined with it and their timepoint — read once for the course and the visit rows —; each
  patient's last visit date) and the safety summary (:func:`adverse_events.selectors.safety_reads`, 6) — 19
  in all, each filtering on the selected patients as a subquery (not one parameter per patient). The rows
  are converted and shaped, and the course, the visit rows and the safety summaries computed, on a worker
  thread while the connection reads on (see :func:`series_data`);
* with ``longitudinal=True`` (figures, tidy datasets) 6 more: CRS and ICANS assessments, infections, other
  adverse events, laboratory results, medications.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict, namedtuple
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Max, Q

from adverse_events.models import AdverseEvent, CrsAssessment, IcansAssessment, Infection
from adverse_events.selectors import SafetySummary, safety_reads_pending, safety_summaries
from dosing.models import Infusion, LymphodepletionDose, ManufacturingRun
from outcomes.models import LabResult, Medication, ScheduleTimepoint, Visit
from outcomes.selectors import COURSE_VISIT_FIELDS, Course, course_reads_pending, course_summaries
from outcomes.services import local_date
from patients.models import OrganInvolvement, Patient, PatientIdentity, PriorTherapy
from registry import access
from registry.bulk import collector_paused
from registry.exports.definitions import MEASURES
from registry.models import CaseSeries, Centre
from registry.sql import Pending, value_dicts, value_dicts_pending, value_rows_pending


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
    visits: dict[int, list[VisitRow]] = field(default_factory=lambda: defaultdict(list))  # with an instrument
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
    qs = Patient.objects.filter(case_series=series, voided_at__isnull=True)
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


_MEASURES_OF = {d: tuple(m for m in MEASURES if m.diagnosis == d) for d in ("sle", "jdm", "ssc")}
#: The instrument of each diagnosis: the only one that its visit rows and its course read.
_INSTRUMENT_OF = {"sle": "sledai", "jdm": "jdm", "ssc": "ssc"}
#: The instrument fields that the visit rows read (``voided_at``, the measures, the status flags) and those
#: that the course (:func:`outcomes.selectors.course_summaries`) reads.
_STATUS_FIELDS = {
    "sledai": ("doris_remission", "lldas"),
    "jdm": ("printo_inactive", "response"),
    "ssc": ("eustar_active",),
}
_INSTRUMENT_FIELDS = {
    name: tuple(
        dict.fromkeys(
            (
                "voided_at",
                *(m.field for m in MEASURES if m.instrument == name),
                *status,
                *COURSE_VISIT_FIELDS[name],
            )
        )
    )
    for name, status in _STATUS_FIELDS.items()
}
_VISIT_COLUMNS = ("patient_id", "visit_date", "timepoint_id", "timepoint__code")


@dataclass(frozen=True)
class _Layout:
    """Where one diagnosis's instrument sits in a row of :func:`_visits`' query."""

    diagnosis: str
    instrument: str
    pk: int  # the instrument's primary key: None without one
    fields: tuple[str, ...]  # row[pk + 1 : pk + 1 + len(fields)]
    voided_at: int
    measures: tuple[tuple[str, int], ...]  # (measure code, index)
    status: dict[str, int]

    @classmethod
    def of(cls, diagnosis: str) -> _Layout:
        name = _INSTRUMENT_OF[diagnosis]
        pk = len(_VISIT_COLUMNS)
        for other, fields in _INSTRUMENT_FIELDS.items():
            if other == name:
                break
            pk += 1 + len(fields)
        fields = _INSTRUMENT_FIELDS[name]
        at = {f: pk + 1 + i for i, f in enumerate(fields)}
        return cls(
            diagnosis,
            name,
            pk,
            fields,
            at["voided_at"],
            tuple((m.code, at[m.field]) for m in _MEASURES_OF[diagnosis]),
            {f: at[f] for f in _STATUS_FIELDS[name]},
        )

    @property
    def end(self) -> int:
        return self.pk + 1 + len(self.fields)

    def visit_row(self, row: tuple, day: int) -> VisitRow:
        """The visit's instrument values (canonical measure codes) and status flags; a voided or missing
        instrument gives none."""
        visit = VisitRow(day=day, timepoint="" if row[2] is None else row[3], values={})
        if row[self.pk] is None or row[self.voided_at] is not None:
            return visit
        for code, i in self.measures:
            if row[i] is not None:
                visit.values[code] = float(row[i])
        status = self.status
        if self.diagnosis == "sle":
            visit.remission, visit.lldas = row[status["doris_remission"]], row[status["lldas"]]
        elif self.diagnosis == "jdm":
            visit.remission, visit.jdm_response = row[status["printo_inactive"]], row[status["response"]]
        elif row[status["eustar_active"]] is not None:
            visit.remission = not row[status["eustar_active"]]
        return visit


_LAYOUTS = {d: _Layout.of(d) for d in _INSTRUMENT_OF}
#: A visit as :func:`outcomes.selectors.course_summaries` reads it: patient, date and, when it has one, the
#: instrument of the patient's diagnosis under its name (namedtuples: a registry has hundreds of thousands).
_PlainVisit = namedtuple("_PlainVisit", ("patient_id", "visit_date"))
_VISIT_WITH = {
    d: (
        namedtuple(f"_{name.title()}Visit", ("patient_id", "visit_date", name)),
        namedtuple(f"_{name.title()}", _INSTRUMENT_FIELDS[name])._make,
    )
    for d, name in _INSTRUMENT_OF.items()
}


def _last_visit_dates(patient_ids: Any) -> Pending:
    """Each patient's last visit date (any visit, with or without an instrument), as (patient id, date) rows
    converted later (:func:`registry.sql.fetch_pending`). One query."""
    return value_rows_pending(
        Visit.objects.filter(patient_id__in=patient_ids, voided_at__isnull=True)
        .order_by()
        .values("patient_id")
        .annotate(last=Max("visit_date"))
        .values_list("patient_id", "last")
    )


def _visit_rows(patient_ids: Any) -> Pending:
    """The patients' visits with an instrument, read once for both the visit rows and the course: one query
    with joins, plain values (no model instances: a registry has hundreds of thousands of visits).

    Only visits with an instrument: the others (three in four — the daily visits of the admission) give
    no value, no status and no row of any table, figure or dataset; they only end follow-up, which
    :func:`_last_visit_dates` reads."""
    columns = [f"{name}__{f}" for name, fields in _INSTRUMENT_FIELDS.items() for f in ("pk", *fields)]
    with_instrument = Q()
    for name in _INSTRUMENT_FIELDS:
        with_instrument |= Q(**{f"{name}__isnull": False})
    return value_rows_pending(
        Visit.objects.filter(with_instrument, patient_id__in=patient_ids, voided_at__isnull=True)
        .order_by("patient_id", "visit_date", "pk")
        .values_list(*_VISIT_COLUMNS, *columns)
    )


def _visits(visit_rows: list[tuple], by_id: dict[int, Patient], rows: dict[int, list[VisitRow]]):
    """Appends each visit's :class:`VisitRow` to ``rows`` and yields the visit as
    :func:`outcomes.selectors.course_summaries` reads it: it carries only the instrument of the patient's
    diagnosis (the only one either reads) and lacks the attribute without one, as with ``select_related``.
    Visits of patients missing from ``by_id`` (added to the series meanwhile) are skipped. No query."""
    for row in visit_rows:
        pid = row[0]
        p = by_id.get(pid)
        if p is None:
            continue
        diagnosis = p.diagnosis
        layout = _LAYOUTS[diagnosis]
        rows[pid].append(layout.visit_row(row, (row[1] - p.day0).days))
        if row[layout.pk] is None:
            yield _PlainVisit(pid, row[1])
        else:
            visit, instrument = _VISIT_WITH[diagnosis]
            yield visit(pid, row[1], instrument(row[layout.pk + 1 : layout.end]))


def _load_baseline_and_dosing(data: SeriesData, ids: Any, *, identified: bool) -> Callable[[], None]:
    """Identity (date of birth; names with ``identified``), organ involvement, prior therapies,
    manufacturing runs with their bag counts, infusions, lymphodepletion of the patients ``ids``: 6
    queries, run now; the returned function puts their rows into ``data`` (on any thread: see
    :func:`registry.sql.fetch_pending`)."""
    fields = ["patient_id", "date_of_birth"]
    if identified:
        fields += ["given_name", "family_name", "hospital_number"]
    current = {"patient_id__in": ids, "voided_at__isnull": True}
    identity = value_dicts_pending(PatientIdentity.objects.filter(**current).values(*fields))
    organs = value_rows_pending(
        OrganInvolvement.objects.filter(**current)
        .order_by("patient_id", "organ")
        .values_list("patient_id", "organ")
    )
    prior = value_dicts_pending(
        PriorTherapy.objects.filter(**current)
        .order_by("patient_id", "start_date", "pk")
        .values("patient_id", "drug", "therapy_class", "b_cell_targeted")
    )
    runs = value_dicts_pending(
        ManufacturingRun.objects.filter(**current)
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
    )
    infusions = value_dicts_pending(
        Infusion.objects.filter(**current)
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
    )
    lymphodepletion = value_dicts_pending(
        LymphodepletionDose.objects.filter(**current)
        .order_by("patient_id", "given_on", "agent")
        .values("patient_id", "agent", "given_on", "mg_per_m2")
    )

    def put() -> None:
        for row in identity():
            data.date_of_birth[row["patient_id"]] = row["date_of_birth"]
            if identified:
                data.identity[row["patient_id"]] = row
        for pid, organ in organs.rows():
            data.organs[pid].append(organ)
        for row in prior():
            data.prior[row["patient_id"]].append(row)
        for row in runs():
            data.runs[row["patient_id"]].append(row)
        for row in infusions():
            if row["is_reinfusion"]:
                data.reinfusions[row["patient_id"]] += 1
            else:
                data.infusion[row["patient_id"]] = row
        for row in lymphodepletion():
            data.lymphodepletion[row["patient_id"]].append(row)

    return put


@collector_paused()
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
    selected = series_patients(series, centre_ids=centre_ids, filters=filters)
    patients = list(selected)
    # Each patient's centre, one instance per centre (not one per patient, as select_related would build).
    centres = Centre.objects.in_bulk({p.centre_id for p in patients})
    for p in patients:
        p._state.fields_cache["centre"] = centres[p.centre_id]
    data = SeriesData(series=series, filters=filters, patients=patients, longitudinal=longitudinal)
    # The patients' ids as a subquery, not one parameter per patient (a series may hold thousands).
    ids = selected.order_by().values("pk")
    infused_ids = ids.filter(day0__isnull=False)

    data.timepoints = [
        (tp.code, tp.nominal_day, *tp.window()) for tp in ScheduleTimepoint.objects.filter(protocol="default")
    ]
    infused = [p for p in patients if p.day0 is not None]
    by_id = {p.pk: p for p in infused}
    # This thread runs the statements one after the other; a worker thread converts their rows (on
    # PostgreSQL: registry.sql.fetch_pending) and computes the safety summaries, the visit rows and the
    # course from them meanwhile: the database and Python work at the same time (2 cores). The worker never
    # touches the database connection (thread-bound) nor translations (thread-local); its errors surface
    # here. The visits come first (one quick statement, much to convert), then the safety rows (the longest
    # computation), so that the worker always has work while this thread waits for the database.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="series-data") as worker:
        visit_rows = _visit_rows(infused_ids)
        visits = worker.submit(lambda: list(_visits(visit_rows.rows(), by_id, data.visits)))
        safety_rows = safety_reads_pending(infused_ids, by_id)
        safety = worker.submit(lambda: safety_summaries(infused, id_query=infused_ids, reads=safety_rows()))
        course_rows, last_visits = course_reads_pending(infused_ids), _last_visit_dates(infused_ids)
        courses = worker.submit(
            lambda: course_summaries(
                infused,
                id_query=infused_ids,
                visits=visits.result(),
                last_visit_dates=dict(last_visits.rows()),
                reads=course_rows(),
            )
        )
        baseline = worker.submit(_load_baseline_and_dosing(data, ids, identified=identified))
        data.courses, data.safety = courses.result(), safety.result()
        baseline.result()
    if longitudinal:
        _load_longitudinal(data, infused, infused_ids)
    return data


def _load_longitudinal(data: SeriesData, infused: list[Patient], ids: Any) -> None:
    """The day-by-day data of ``infused`` (``ids``: their ids as a subquery; rows of patients missing from
    ``infused``, added to the series meanwhile, are skipped)."""
    by_id = {p.pk: p for p in infused}

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
            if pid not in by_id:
                continue
            day = day_of_moment(pid, moment)
            target[pid][day] = max(grade, target[pid].get(day, 0))
    for row in value_dicts(
        Infection.objects.filter(patient_id__in=ids, voided_at__isnull=True)
        .order_by("patient_id", "onset_on")
        .values("patient_id", "onset_on", "resolved_on", "grade", "organism_type", "site")
    ):
        pid = row["patient_id"]
        if pid not in by_id:
            continue
        data.infections[pid].append(
            {
                "day": day_of(pid, row["onset_on"]),
                "resolved_day": day_of(pid, row["resolved_on"]),
                "grade": row["grade"],
                "organism_type": row["organism_type"],
                "site": row["site"],
            }
        )
    for row in value_dicts(
        AdverseEvent.objects.filter(patient_id__in=ids, voided_at__isnull=True)
        .order_by("patient_id", "started_on")
        .values("patient_id", "started_on", "grade", "serious", "term")
    ):
        pid = row["patient_id"]
        if pid not in by_id:
            continue
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
        if pid not in by_id:
            continue
        data.labs[pid].append(((on - by_id[pid].day0).days, analyte, value))
    for row in value_dicts(
        Medication.objects.filter(patient_id__in=ids, voided_at__isnull=True)
        .order_by("patient_id", "started_on", "pk")
        .values("patient_id", "drug", "medication_class", "started_on", "stopped_on")
    ):
        pid = row["patient_id"]
        if pid not in by_id:
            continue
        data.medications[pid].append(
            {
                "drug": row["drug"],
                "medication_class": row["medication_class"],
                "start_day": day_of(pid, row["started_on"]),
                "stop_day": day_of(pid, row["stopped_on"]),
            }
        )
