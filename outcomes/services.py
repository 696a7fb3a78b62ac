"""Writes of follow-up data. Laboratory results: one value at a time, or a whole grid in one transaction."""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from adverse_events import grading
from outcomes import instruments, scores
from outcomes.labs import CTCAE_TERM_FOR_ANALYTE, analyte
from outcomes.models import (
    DOSES_PER_DAY,
    JdmAssessment,
    LabResult,
    LabSource,
    Medication,
    MedicationClass,
    ScheduleTimepoint,
    SledaiAssessment,
    SscAssessment,
    Visit,
)
from patients.models import Patient
from registry.audit import require_reason, save_audited
from registry.records import (
    apply_changes,
    check_accepts_new_data,
    check_not_future,
    field_error,
    full_clean,
    save_changes,
    void_record,
)

MAX_GRID_ROWS = 5000  # a pasted grid larger than this is refused with a clear message


def parse_number(field: str, raw: Any) -> Decimal:
    """A reported number: decimal point or comma, scientific notation allowed; finite and not negative."""
    text = str(raw).strip().replace(",", ".") if raw is not None else ""
    if not text:
        raise field_error(field, _("A value is required."))
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise field_error(
            field, _("'%(v)s' is not a number (use digits with a decimal point or comma)."), v=raw
        ) from None
    if not value.is_finite() or not math.isfinite(float(value)):
        raise field_error(field, _("'%(v)s' is not a finite number."), v=raw)
    if len(text) > 30:
        raise field_error(field, _("At most 30 characters; '%(v)s…' is longer."), v=text[:30])
    if value < 0:
        raise field_error(field, _("A laboratory value cannot be negative (got %(v)s)."), v=raw)
    return value


def local_date(moment: dt.datetime, tz_name: str) -> dt.date:
    return timezone.localtime(moment, zoneinfo.ZoneInfo(tz_name)).date()


@dataclass(frozen=True)
class LabInput:
    analyte: str
    value: Any
    unit: str
    sampled_at: dt.datetime
    lln: Any = None
    uln: Any = None
    source: str = LabSource.LOCAL


def _sample_time_floor(patient: Patient) -> dt.datetime:
    """No sample before the date of birth (or, without one, before 1900): also keeps the time convertible."""
    from patients.models import PatientIdentity

    dob = PatientIdentity.objects.filter(patient=patient).values_list("date_of_birth", flat=True).first()
    floor = dob or dt.date(1900, 1, 1)
    return dt.datetime.combine(floor, dt.time(), tzinfo=zoneinfo.ZoneInfo(patient.centre.time_zone))


def _build(
    patient: Patient, item: LabInput, *, prefix: str = "", floor: dt.datetime | None = None
) -> LabResult:
    try:
        spec = analyte(item.analyte)
    except ValueError as exc:
        raise field_error(f"{prefix}analyte", str(exc)) from exc
    reported = parse_number(f"{prefix}value", item.value)
    try:
        canonical = spec.to_canonical(float(reported), item.unit)
    except ValueError as exc:
        raise field_error(f"{prefix}unit", str(exc)) from exc
    low, high = spec.plausible
    if not low <= canonical <= high:
        raise field_error(
            f"{prefix}value",
            _(
                "%(v)s %(u)s is outside the plausible range for %(a)s "
                "(%(lo)s–%(hi)s %(cu)s); check the value and unit."
            ),
            v=item.value,
            u=item.unit,
            a=spec.label,
            lo=f"{low:g}",
            hi=f"{high:g}",
            cu=spec.unit,
        )
    if timezone.is_naive(item.sampled_at):
        raise field_error(f"{prefix}sampled_at", _("The sample time needs a time zone."))
    if item.sampled_at > timezone.now() + dt.timedelta(minutes=5):
        raise field_error(f"{prefix}sampled_at", _("The sample time is in the future."))
    floor = floor or _sample_time_floor(patient)
    if item.sampled_at < floor:
        raise field_error(
            f"{prefix}sampled_at",
            _("The sample time is before the date of birth (%(d)s)."),
            d=floor.date().isoformat(),
        )
    lln = (
        float(parse_number(f"{prefix}lln", item.lln)) * spec.units[item.unit]
        if item.lln not in (None, "")
        else None
    )
    uln = (
        float(parse_number(f"{prefix}uln", item.uln)) * spec.units[item.unit]
        if item.uln not in (None, "")
        else None
    )
    if lln is not None and uln is not None and uln < lln:
        raise field_error(f"{prefix}uln", _("The upper limit of normal is below the lower limit."))
    if item.source not in LabSource.values:
        raise field_error(
            f"{prefix}source", _("Unknown source; choose one of: %(a)s."), a=", ".join(LabSource.values)
        )
    row = LabResult(
        patient=patient,
        sampled_at=item.sampled_at,
        sampled_on=local_date(item.sampled_at, patient.centre.time_zone),
        analyte=spec.code,
        value_reported=str(item.value).strip(),
        unit_reported=item.unit,
        value=canonical,
        lln=lln,
        uln=uln,
        source=item.source,
    )
    term = CTCAE_TERM_FOR_ANALYTE.get(spec.code)
    if term:
        name, divisor = term
        row.ctcae_term = name
        row.ctcae_grade = grading.ctcae_grade(
            name, canonical / divisor, lln=None if lln is None else lln / divisor
        )
        row.ctcae_version = grading.CTCAE_VERSION
    return row


@transaction.atomic
def lab_result_record(*, patient: Patient, item: LabInput, recorded_by: Any) -> LabResult:
    """Record one laboratory value (converted to the canonical unit; CTCAE graded where defined)."""
    check_accepts_new_data(patient)
    row = _build(patient, item)
    save_audited(row, user=recorded_by)
    return row


@transaction.atomic
def lab_results_record_many(*, patient: Patient, items: list[LabInput], recorded_by: Any) -> list[LabResult]:
    """Record a grid of values atomically: one invalid cell rejects the whole grid, naming row and field."""
    check_accepts_new_data(patient)
    if len(items) > MAX_GRID_ROWS:
        raise ValidationError(
            _("At most %(n)s values can be entered at once; split the paste (got %(m)s).")
            % {"n": MAX_GRID_ROWS, "m": len(items)}
        )
    rows = []
    errors: dict[str, list] = {}
    floor = _sample_time_floor(patient)
    for index, item in enumerate(items, start=1):
        try:
            rows.append(_build(patient, item, prefix=f"row {index} ", floor=floor))
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    for row in rows:
        save_audited(row, user=recorded_by)
    return rows


@transaction.atomic
def lab_result_void(*, result: LabResult, recorded_by: Any, reason: str) -> LabResult:
    void_record(result, recorded_by=recorded_by, reason=require_reason(reason))
    return result


# --- visits and instruments -------------------------------------------------------------------------------


class ConcurrentEdit(ValidationError):
    """Another user saved the record after this form was opened."""


def _score_error(exc: ValueError, prefix: str) -> ValidationError:
    message = str(exc)
    field = message.split(" ", 1)[0].rstrip(":")
    return field_error(f"{prefix}.{field}" if field.isidentifier() else prefix, message)


def _shift(on: dt.date, days: int) -> dt.date:
    """``on`` moved by ``days``, held at the ends of the calendar (a typed year 1 or 9999 must not crash)."""
    try:
        return on + dt.timedelta(days=days)
    except OverflowError:
        return dt.date.min if days < 0 else dt.date.max


def labs_on(patient: Patient, on: dt.date, *, days_before: int = 10, days_after: int = 0) -> dict[str, tuple]:
    """The latest value of each analyte sampled in [on − days_before, on + days_after]: (value, LLN, ULN)."""
    rows = (
        LabResult.objects.filter(
            patient=patient,
            voided_at__isnull=True,
            sampled_on__gte=_shift(on, -days_before),
            sampled_on__lte=_shift(on, days_after),
        )
        .order_by("analyte", "sampled_at")
        .values_list("analyte", "value", "lln", "uln")
    )
    return {analyte_code: (value, lln, uln) for analyte_code, value, lln, uln in rows}


def prednisone_mg_per_day_on(patient: Patient, on: dt.date) -> float:
    """Sum of the daily prednisone-equivalent of glucocorticoids running on ``on`` (pulses excluded)."""
    total = 0.0
    for value in (
        Medication.objects.filter(
            patient=patient,
            voided_at__isnull=True,
            medication_class=MedicationClass.GLUCOCORTICOID,
            started_on__lte=on,
        )
        .exclude(stopped_on__lt=on)
        .values_list("prednisone_equivalent_mg_per_day", flat=True)
    ):
        total += float(value or 0)
    return round(total, 2)


def _latest_height(patient: Patient, on: dt.date) -> float | None:
    from patients.services import latest_growth

    growth = latest_growth(patient, on)
    return float(growth.height_cm) if growth else None


def _fill_sledai(row: SledaiAssessment, patient: Patient, on: dt.date) -> None:
    row.descriptors = sorted(set(row.descriptors or []))
    row.prednisone_mg_per_day = Decimal(str(prednisone_mg_per_day_on(patient, on)))
    try:
        result = instruments.score_sledai(
            descriptors=row.descriptors,
            physician_global=float(row.physician_global),
            prednisone_mg_per_day=float(row.prednisone_mg_per_day),
            new_activity=row.new_activity,
            non_standard_immunosuppression=row.non_standard_immunosuppression,
            haemolytic_anaemia_or_gi_activity=row.haemolytic_anaemia_or_gi_activity,
        )
    except ValueError as exc:
        raise field_error(
            "sledai.descriptors" if "descriptor" in str(exc) else "sledai.physician_global", str(exc)
        ) from exc
    row.sledai_2k, row.clinical_sledai_2k = result.sledai_2k, result.clinical_sledai_2k
    row.doris_remission, row.lldas = result.doris_remission, result.lldas
    creatinine = labs_on(patient, on, days_before=3, days_after=1).get("creatinine")
    height = _latest_height(patient, on)
    row.egfr = (
        Decimal(str(round(scores.pediatric_egfr(height_cm=height, creatinine_umol_l=creatinine[0]), 1)))
        if creatinine and height and creatinine[0] > 0
        else None
    )
    row.scores_version = scores.SCORES_VERSION


def _baseline_visit(patient: Patient, exclude_pk: int | None = None) -> Visit | None:
    """The last valid visit on or before day 0 (screening/baseline): the reference for response criteria."""
    if patient.day0 is None:
        return None
    return (
        Visit.objects.filter(patient=patient, voided_at__isnull=True, visit_date__lte=patient.day0)
        .exclude(pk=exclude_pk)
        .order_by("-visit_date")
        .select_related("jdm")
        .first()
    )


MUSCLE_ENZYMES = ("ck", "aldolase", "ldh", "ast", "alt")


def _jdm_values(row: JdmAssessment) -> dict[str, Any]:
    return {
        "cmas": row.cmas,
        "mmt8": row.mmt8,
        "physician_global": row.physician_global,
        "patient_global": row.patient_global,
        "chaq": row.chaq,
        "extramuscular": row.extramuscular,
    }


def _fill_jdm(row: JdmAssessment, patient: Patient, visit: Visit) -> None:
    try:
        items = instruments.cmas_items_with_timed(row.cmas_items or {}, row.cmas_timed_seconds or {})
        row.cmas = scores.cmas(items) if items else None
        if items:
            row.cmas_items = items
    except ValueError as exc:
        raise field_error("jdm.cmas_items", str(exc)) from exc
    try:
        row.mmt8 = scores.mmt8(row.mmt8_items) if row.mmt8_items else None
    except ValueError as exc:
        raise field_error("jdm.mmt8_items", str(exc)) from exc
    for field, high in (
        ("physician_global", 10),
        ("patient_global", 10),
        ("extramuscular", 10),
        ("chaq", 3),
        ("cdasi_activity", 100),
        ("cdasi_damage", 32),
    ):
        value = getattr(row, field)
        if value is not None and not (0 <= float(value) <= high):
            raise field_error(f"jdm.{field}", _("Must be between 0 and %(h)s."), h=high)
    current_labs = labs_on(patient, visit.visit_date, days_before=7, days_after=1)
    current = _jdm_values(row)
    baseline_visit = _baseline_visit(patient, exclude_pk=visit.pk)
    baseline = None
    if (
        baseline_visit is not None
        and hasattr(baseline_visit, "jdm")
        and baseline_visit.visit_date < visit.visit_date
    ):
        baseline = _jdm_values(baseline_visit.jdm)
        base_labs = labs_on(patient, baseline_visit.visit_date, days_before=14, days_after=3)
        # The most abnormal enzyme at baseline (highest value / ULN), followed to this visit.
        ranked = sorted(
            (v[0] / v[2], code)
            for code, v in base_labs.items()
            if code in MUSCLE_ENZYMES and v[2] and code in current_labs
        )
        if ranked:
            code = ranked[-1][1]
            baseline["enzyme"], current["enzyme"] = base_labs[code][0], current_labs[code][0]
    ck = current_labs.get("ck")
    try:
        result = instruments.score_jdm(
            current={k: (float(v) if v is not None else None) for k, v in current.items()},
            baseline={k: (float(v) if v is not None else None) for k, v in baseline.items()}
            if baseline
            else None,
            ck_u_l=ck[0] if ck else None,
        )
    except ValueError as exc:
        raise field_error("jdm", str(exc)) from exc
    row.total_improvement_score = (
        Decimal(str(round(result.total_improvement_score, 1)))
        if result.total_improvement_score is not None
        else None
    )
    row.response, row.printo_inactive = result.response, result.printo_inactive
    # Not stored: the per-measure % improvements and the baseline date, for the live form and visit page.
    row.percent_improvement = result.percent_improvement
    row.baseline_visit_date = baseline_visit.visit_date if baseline is not None else None
    row.scores_version = scores.SCORES_VERSION


def _fill_ssc(row: SscAssessment, patient: Patient, on: dt.date) -> None:
    for field in ("fvc_percent_predicted", "dlco_percent_predicted"):
        value = getattr(row, field)
        if value is not None and not (10 <= float(value) <= 200):
            raise field_error(
                f"ssc.{field}",
                _(
                    "A % predicted between 10 and 200 is expected (as reported by the "
                    "lung-function laboratory)."
                ),
            )
    if row.crp_mg_dl is None:
        crp = labs_on(patient, on, days_before=7, days_after=1).get("crp")
        row.crp_mg_dl = Decimal(str(round(crp[0] / 10, 2))) if crp else None
    try:
        result = instruments.score_ssc(
            sites=row.mrss_sites,
            skin_worsening=row.skin_worsening,
            digital_ulcers=row.digital_ulcers,
            tendon_friction_rubs=row.tendon_friction_rubs,
            crp_mg_dl=None if row.crp_mg_dl is None else float(row.crp_mg_dl),
            dlco_percent_predicted=None
            if row.dlco_percent_predicted is None
            else float(row.dlco_percent_predicted),
        )
    except ValueError as exc:
        raise field_error("ssc.mrss_sites", str(exc)) from exc
    row.mrss = result.mrss
    row.eustar_activity_index = (
        Decimal(str(round(result.eustar_activity_index, 2)))
        if result.eustar_activity_index is not None
        else None
    )
    row.eustar_active = result.eustar_active
    row.scores_version = scores.SCORES_VERSION


INSTRUMENT_FOR_DIAGNOSIS = {
    "sle": ("sledai", SledaiAssessment),
    "jdm": ("jdm", JdmAssessment),
    "ssc": ("ssc", SscAssessment),
}
INSTRUMENT_FIELDS = {
    "sledai": (
        "descriptors",
        "physician_global",
        "new_activity",
        "non_standard_immunosuppression",
        "haemolytic_anaemia_or_gi_activity",
        "upcr_g_g",
    ),
    "jdm": (
        "cmas_items",
        "cmas_timed_seconds",
        "mmt8_items",
        "cdasi_activity",
        "cdasi_damage",
        "chaq",
        "physician_global",
        "patient_global",
        "extramuscular",
    ),
    "ssc": (
        "mrss_sites",
        "fvc_percent_predicted",
        "dlco_percent_predicted",
        "skin_worsening",
        "digital_ulcers",
        "tendon_friction_rubs",
        "raynaud",
        "crp_mg_dl",
    ),
}


def _build_instrument(patient: Patient, visit: Visit, data: dict[str, Any], existing: Any = None) -> Any:
    name, model = INSTRUMENT_FOR_DIAGNOSIS[patient.diagnosis]
    unknown = sorted(set(data) - set(INSTRUMENT_FIELDS[name]))
    if unknown:
        raise field_error(name, _("Unknown %(i)s fields: %(f)s.") % {"i": name, "f": ", ".join(unknown)})
    row = existing or model(visit=visit)
    for key, value in data.items():
        setattr(row, key, value)
    try:
        full_clean(
            row,
            exclude=[
                "visit",
                "sledai_2k",
                "clinical_sledai_2k",
                "doris_remission",
                "lldas",
                "mrss",
                "prednisone_mg_per_day",
                "scores_version",
            ],
        )
    except ValidationError as exc:
        raise ValidationError({f"{name}.{k}": v for k, v in exc.message_dict.items()}) from exc
    if name == "sledai":
        _fill_sledai(row, patient, visit.visit_date)
    elif name == "jdm":
        _fill_jdm(row, patient, visit)
    else:
        _fill_ssc(row, patient, visit.visit_date)
    return row


def _check_visit(patient: Patient, visit: Visit) -> None:
    check_not_future("visit_date", visit.visit_date)
    floor = _sample_time_floor(patient)
    if visit.visit_date < floor.date():
        raise field_error(
            "visit_date",
            _("The visit date is before the date of birth (%(d)s)."),
            d=floor.date().isoformat(),
        )
    if patient.death_date and visit.visit_date > patient.death_date:
        raise field_error("visit_date", _("The visit date is after the date of death."))
    tp = visit.timepoint
    if tp is not None and tp.kind in ("follow_up", "inpatient"):
        if patient.day0 is None:
            raise field_error(
                "timepoint", _("%(tp)s is a follow-up timepoint, but day 0 is not recorded yet."), tp=tp.label
            )
        if visit.visit_date < patient.day0 + dt.timedelta(days=1 if tp.nominal_day > 0 else 0):
            raise field_error(
                "visit_date",
                _("A %(tp)s visit cannot be before day 0 (%(d)s)."),
                tp=tp.label,
                d=patient.day0.isoformat(),
            )
    if tp is not None and tp.kind == "pre_infusion" and patient.day0 and visit.visit_date > patient.day0:
        raise field_error(
            "visit_date", _("%(tp)s is before the infusion; the date is after day 0."), tp=tp.label
        )
    if (
        tp is not None
        and Visit.objects.filter(patient=patient, timepoint=tp, voided_at__isnull=True)
        .exclude(pk=visit.pk)
        .exists()
    ):
        raise field_error("timepoint", _("A %(tp)s visit is already recorded; open it to edit."), tp=tp.label)


@transaction.atomic
def visit_record(
    *,
    patient: Patient,
    visit_date: dt.date,
    recorded_by: Any,
    timepoint: ScheduleTimepoint | None = None,
    assessed_by: str = "",
    notes: str = "",
    instrument: dict[str, Any] | None = None,
) -> Visit:
    """Record a visit and the instrument of the patient's diagnosis; every score is computed here."""
    check_accepts_new_data(patient)
    patient = Patient.objects.select_related("centre").get(pk=patient.pk)
    visit = Visit(
        patient=patient,
        timepoint=timepoint,
        visit_date=visit_date,
        assessed_by=assessed_by.strip(),
        notes=notes.strip(),
    )
    full_clean(visit, exclude=["patient", "timepoint"])
    _check_visit(patient, visit)
    row = _build_instrument(patient, visit, instrument) if instrument else None
    save_audited(visit, user=recorded_by)
    if row is not None:
        row.visit = visit
        save_audited(row, user=recorded_by)
    return visit


def instrument_preview(
    *, patient: Patient, visit_date: dt.date, instrument: dict[str, Any], visit: Visit | None = None
) -> Any:
    """The computed instrument for the live form, without saving."""
    visit = visit or Visit(patient=patient, visit_date=visit_date)
    return _build_instrument(patient, visit, instrument)


@transaction.atomic
def visit_update(
    *,
    visit: Visit,
    expected_version: int,
    recorded_by: Any,
    reason: str,
    changes: dict[str, Any] | None = None,
    instrument: dict[str, Any] | None = None,
) -> Visit:
    """Edit a visit and its instrument. Refused when someone else saved it since ``expected_version``."""
    reason = require_reason(reason)
    locked = (
        Visit.objects.select_for_update(of=("self",))
        .select_related("patient__centre", "timepoint")
        .get(pk=visit.pk)
    )
    if locked.row_version != expected_version:
        raise ConcurrentEdit(
            _(
                "This visit was changed by someone else while you were editing (version %(n)s is "
                "saved, you started from %(m)s). Reload it to see their changes; yours were not "
                "saved."
            )
            % {"n": locked.row_version, "m": expected_version},
            code="stale",
        )
    patient = locked.patient
    changed = apply_changes(
        locked, changes or {}, allowed=("visit_date", "assessed_by", "notes", "timepoint")
    )
    full_clean(locked, exclude=["patient", "timepoint"])
    _check_visit(patient, locked)
    instrument_changed = False
    if instrument:
        name, model = INSTRUMENT_FOR_DIAGNOSIS[patient.diagnosis]
        existing = model.objects.filter(visit=locked).first()
        before = None if existing is None else {f: getattr(existing, f) for f in INSTRUMENT_FIELDS[name]}
        row = _build_instrument(patient, locked, instrument, existing=existing)
        after = {f: getattr(row, f) for f in INSTRUMENT_FIELDS[name]}
        if existing is None:
            save_audited(row, user=recorded_by)
            instrument_changed = True
        elif before != after:
            save_audited(row, user=recorded_by, reason=reason)
            instrument_changed = True
    if changed or instrument_changed:
        locked.row_version += 1
        save_changes(locked, [*changed, "row_version"], recorded_by=recorded_by, reason=reason)
    visit.row_version = locked.row_version
    return locked


# --- medications ------------------------------------------------------------------------------------------


def _prednisone_equivalent(med: Medication, patient: Patient) -> Decimal | None:
    if med.medication_class != MedicationClass.GLUCOCORTICOID:
        return None
    dose_mg = float(med.dose)
    if med.dose_unit == "mg/kg":
        from patients.services import latest_growth

        growth = latest_growth(patient, med.started_on)
        if growth is None:
            raise field_error(
                "dose_unit", _("A dose in mg/kg needs a weight recorded on or before the start.")
            )
        dose_mg *= float(growth.weight_kg)
    elif med.dose_unit != "mg":
        raise field_error("dose_unit", _("Glucocorticoid doses are given in mg or mg/kg."))
    try:
        per_dose = scores.prednisone_equivalent_mg(med.drug, dose_mg)
    except ValueError as exc:
        raise field_error("drug", str(exc)) from exc
    return Decimal(str(round(per_dose * DOSES_PER_DAY[med.frequency], 2)))


def _check_medication(patient: Patient, med: Medication) -> None:
    check_not_future("started_on", med.started_on)
    check_not_future("stopped_on", med.stopped_on)
    if med.stopped_on and med.stopped_on < med.started_on:
        raise field_error(
            "stopped_on",
            _("The medication cannot stop (%(s)s) before it starts (%(b)s)."),
            s=med.stopped_on.isoformat(),
            b=med.started_on.isoformat(),
        )
    if med.stopped_on and not med.stop_reason:
        raise field_error("stop_reason", _("Say why the medication was stopped."))


@transaction.atomic
def medication_record(
    *,
    patient: Patient,
    drug: str,
    medication_class: str,
    dose: Any,
    dose_unit: str,
    frequency: str,
    started_on: dt.date,
    recorded_by: Any,
    route: str = "oral",
    stopped_on: dt.date | None = None,
    stop_reason: str = "",
    restarted_for_disease_activity: bool = False,
) -> Medication:
    check_accepts_new_data(patient)
    med = Medication(
        patient=patient,
        drug=drug.strip().lower(),
        medication_class=medication_class,
        dose=dose,
        dose_unit=dose_unit,
        frequency=frequency,
        started_on=started_on,
        route=route,
        stopped_on=stopped_on,
        stop_reason=stop_reason,
        restarted_for_disease_activity=restarted_for_disease_activity,
    )
    full_clean(med, exclude=["patient"])
    if med.dose <= 0:
        raise field_error("dose", _("The dose must be greater than 0."))
    _check_medication(patient, med)
    med.prednisone_equivalent_mg_per_day = _prednisone_equivalent(med, patient)
    save_audited(med, user=recorded_by)
    return med


@transaction.atomic
def medication_stop(
    *,
    medication: Medication,
    stopped_on: dt.date,
    stop_reason: str,
    recorded_by: Any,
    reason: str = "medication stopped",
) -> Medication:
    changed = apply_changes(
        medication,
        {"stopped_on": stopped_on, "stop_reason": stop_reason},
        allowed=("stopped_on", "stop_reason"),
    )
    full_clean(medication, exclude=["patient"])  # the stop reason is one of the listed reasons
    _check_medication(medication.patient, medication)
    save_changes(medication, changed, recorded_by=recorded_by, reason=require_reason(reason))
    return medication


def schedule_ensure_default() -> int:
    """Install the default visit schedule (DESIGN §4) where it is missing; idempotent. Returns rows created.

    The data migration installs it; this puts back rows that were removed (a flushed test database, an
    administrator's deletion) before the demo or a digest relies on them. Existing rows are left as edited.
    """
    from outcomes.schedule import default_timepoints

    created = 0
    for spec in default_timepoints():
        _, was_created = ScheduleTimepoint.objects.get_or_create(
            protocol="default", code=spec["code"], defaults=spec
        )
        created += was_created
    return created
