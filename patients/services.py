"""Every write to patients, identity, baseline and growth goes through one function here."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from dosing.calculations import body_surface_area
from patients.baseline import summarise
from patients.models import (
    CRITERIA_FOR_DIAGNOSIS,
    BaselineSummary,
    GrowthMeasurement,
    Organ,
    OrganInvolvement,
    Patient,
    PatientIdentity,
    PatientStatus,
    PriorTherapy,
    TherapyClass,
)
from registry.api_clients import api_client_patients_add
from registry.audit import require_reason, save_audited
from registry.models import CaseSeries, Centre
from registry.records import (
    apply_changes,
    check_accepts_new_data,
    check_not_future,
    field_error,
    full_clean,
    save_changes,
    void_record,
)

MAX_AGE_YEARS = 25  # children and adolescents, followed into young adulthood

PATIENT_EDITABLE = (
    "sex",
    "diagnosis",
    "classification_criteria",
    "diagnosis_date",
    "treatment_pathway",
    "approval_reference",
    "guardian_consent_date",
    "child_assent_date",
    "reconsent_at_majority_date",
)
IDENTITY_EDITABLE = ("given_name", "family_name", "date_of_birth", "hospital_number", "contact")


def age_years(date_of_birth: dt.date, on: dt.date) -> float:
    """Age in years (decimal, 365.25-day years) at ``on``."""
    return (on - date_of_birth).days / 365.25


def _check_patient_dates(patient: Patient, date_of_birth: dt.date, *, dob_changed: bool = False) -> None:
    """Date of birth plausible and before the diagnosis (``dob_changed``: the error names the birth date)."""
    today = timezone.localdate()
    check_not_future("date_of_birth", date_of_birth, today=today)
    if age_years(date_of_birth, today) > MAX_AGE_YEARS:
        raise field_error(
            "date_of_birth",
            _(
                "The registry is for children and adolescents: a date of birth more "
                "than %(max)s years ago is not plausible."
            ),
            max=MAX_AGE_YEARS,
        )
    if patient.diagnosis_date:
        check_not_future("diagnosis_date", patient.diagnosis_date, today=today)
        if patient.diagnosis_date <= date_of_birth and dob_changed:
            raise field_error(
                "date_of_birth",
                _("The date of birth must be before the date of diagnosis (%(diagnosed)s)."),
                diagnosed=patient.diagnosis_date.isoformat(),
            )
        if patient.diagnosis_date <= date_of_birth:
            raise field_error(
                "diagnosis_date",
                _("The date of diagnosis must be after the date of birth (%(dob)s)."),
                dob=date_of_birth.isoformat(),
            )
    for field in ("guardian_consent_date", "child_assent_date", "reconsent_at_majority_date"):
        value = getattr(patient, field)
        if value is None:
            continue
        check_not_future(field, value, today=today)
        if value <= date_of_birth:
            raise field_error(
                field,
                _("This date must be after the date of birth (%(dob)s)."),
                dob=date_of_birth.isoformat(),
            )
    if patient.classification_criteria and patient.classification_criteria != CRITERIA_FOR_DIAGNOSIS.get(
        patient.diagnosis
    ):
        raise field_error(
            "classification_criteria",
            _("These criteria do not belong to the diagnosis; for %(dx)s use %(crit)s."),
            dx=patient.get_diagnosis_display(),
            crit=CRITERIA_FOR_DIAGNOSIS[patient.diagnosis].label,
        )
    if patient.day0 and patient.diagnosis_date and patient.diagnosis_date >= patient.day0:
        raise field_error(
            "diagnosis_date",
            _("The date of diagnosis must be before day 0 (%(day0)s)."),
            day0=patient.day0.isoformat(),
        )


@transaction.atomic
def patient_enrol(
    *,
    centre: Centre,
    sex: str,
    diagnosis: str,
    recorded_by: Any,
    identity: dict[str, Any] | None = None,
    is_illustrative: bool = False,
    **fields: Any,
) -> Patient:
    """Enrol a child: allocate the centre's next registry code (ROM-001, ...) and store identity apart.

    ``identity`` holds ``given_name``, ``family_name``, ``date_of_birth`` and optionally
    ``hospital_number`` and ``contact``. Other keyword arguments are the patient fields of
    :data:`PATIENT_EDITABLE`.
    """
    unknown = sorted(set(fields) - set(PATIENT_EDITABLE))
    if unknown:
        raise ValidationError(_("Unknown enrolment fields: %(f)s.") % {"f": ", ".join(unknown)})
    patient = Patient(
        centre=centre,
        sex=sex,
        diagnosis=diagnosis,
        sequence=1,
        code="PENDING",
        is_illustrative=is_illustrative,
        **fields,
    )
    full_clean(patient, exclude=["centre"])
    identity_row = None
    if identity is not None:
        identity_row = PatientIdentity(**identity)
        full_clean(identity_row, exclude=["patient"])
        _check_patient_dates(patient, identity_row.date_of_birth)
    # Lock the centre row so two enrolments at the same centre cannot take the same number.
    Centre.objects.select_for_update().get(pk=centre.pk)
    last = Patient.objects.filter(centre=centre).aggregate(m=Max("sequence"))["m"] or 0
    patient.sequence = last + 1
    patient.code = f"{centre.code}-{patient.sequence:03d}"
    save_audited(patient, user=recorded_by)
    if identity_row is not None:
        identity_row.patient = patient
        save_audited(identity_row, user=recorded_by)
    api_client_patients_add(patient_ids=[patient.pk])  # the API clients' pseudonym and order for the child
    return patient


def _date_of_birth(patient: Patient) -> dt.date | None:
    identity = PatientIdentity.objects.filter(patient=patient).only("date_of_birth").first()
    return identity.date_of_birth if identity else None


@transaction.atomic
def patient_update(*, patient: Patient, changes: dict[str, Any], recorded_by: Any, reason: str) -> Patient:
    """Change enrolment fields of an existing patient; the reason is stored in the audit trail."""
    reason = require_reason(reason)
    changed = apply_changes(patient, changes, allowed=PATIENT_EDITABLE)
    if not changed:
        return patient
    full_clean(patient, exclude=["centre"])
    dob = _date_of_birth(patient)
    if dob:
        _check_patient_dates(patient, dob)
    save_changes(patient, changed, recorded_by=recorded_by, reason=reason)
    return patient


@transaction.atomic
def identity_update(
    *, patient: Patient, changes: dict[str, Any], recorded_by: Any, reason: str
) -> PatientIdentity:
    """Create or change the identity of a patient (clinicians of the patient's centre only)."""
    identity = PatientIdentity.objects.filter(patient=patient).first()
    if identity is None:
        identity = PatientIdentity(patient=patient, **changes)
        full_clean(identity)
        _check_patient_dates(patient, identity.date_of_birth, dob_changed=True)
        save_audited(identity, user=recorded_by)
        return identity
    reason = require_reason(reason)
    changed = apply_changes(identity, changes, allowed=IDENTITY_EDITABLE)
    full_clean(identity)
    _check_patient_dates(patient, identity.date_of_birth, dob_changed=True)
    save_changes(identity, changed, recorded_by=recorded_by, reason=reason)
    return identity


@transaction.atomic
def patient_set_status(
    *,
    patient: Patient,
    status: str,
    recorded_by: Any,
    reason: str,
    status_date: dt.date | None = None,
    death_date: dt.date | None = None,
    death_cause: str = "",
    death_related_to_car_t: str = "",
) -> Patient:
    """Change a patient's status (completed, lost to follow-up, consent withdrawn, deceased, active)."""
    reason = require_reason(reason)
    allowed = [s.value for s in PatientStatus]
    if status not in allowed:
        raise field_error(
            "status", _("'%(v)s' is not a status; choose one of: %(a)s."), v=status, a=", ".join(allowed)
        )
    status_date = status_date or timezone.localdate()
    check_not_future("status_date", status_date)
    changes: dict[str, Any] = {"status": status, "status_date": status_date}
    if status == PatientStatus.DECEASED:
        if death_date is None:
            raise field_error("death_date", _("A date of death is required when the status is deceased."))
        check_not_future("death_date", death_date)
        if not death_related_to_car_t:
            raise field_error(
                "death_related_to_car_t",
                _("State whether the death was related to CAR T (related, not related, unknown)."),
            )
        changes.update(
            death_date=death_date,
            death_cause=death_cause.strip(),
            death_related_to_car_t=death_related_to_car_t,
        )
    else:
        changes.update(death_date=None, death_cause="", death_related_to_car_t="")
    changed = apply_changes(patient, changes, allowed=changes.keys())
    full_clean(patient, exclude=["centre"])
    save_changes(patient, changed, recorded_by=recorded_by, reason=reason)
    return patient


@transaction.atomic
def patient_void(*, patient: Patient, recorded_by: Any, reason: str) -> Patient:
    """Mark a patient record entered in error; it is kept, audited, and drops out of exports."""
    void_record(patient, recorded_by=recorded_by, reason=reason)
    return patient


# --- baseline ---------------------------------------------------------------------------------------------


@transaction.atomic
def organ_involvement_record(
    *, patient: Patient, organ: str, recorded_by: Any, nephritis_class: str = "", detail: str = ""
) -> OrganInvolvement:
    check_accepts_new_data(patient)
    row = OrganInvolvement(
        patient=patient, organ=organ, nephritis_class=nephritis_class, detail=detail.strip()
    )
    full_clean(row, exclude=["patient"])
    if nephritis_class and organ != Organ.LUPUS_NEPHRITIS:
        raise field_error("nephritis_class", _("An ISN/RPS class belongs only to lupus nephritis."))
    if OrganInvolvement.objects.filter(patient=patient, organ=organ, voided_at__isnull=True).exists():
        raise field_error(
            "organ",
            _("%(organ)s is already recorded for this patient; edit that entry instead."),
            organ=row.get_organ_display(),
        )
    save_audited(row, user=recorded_by)
    baseline_summaries_refresh([patient.pk])
    return row


@transaction.atomic
def prior_therapy_record(
    *,
    patient: Patient,
    drug: str,
    therapy_class: str,
    recorded_by: Any,
    b_cell_targeted: bool | None = None,
    start_date: dt.date | None = None,
    stop_date: dt.date | None = None,
    reason_stopped: str = "",
) -> PriorTherapy:
    """Record a prior line of therapy. B-cell-targeted defaults from the class."""
    check_accepts_new_data(patient)
    if b_cell_targeted is None:
        b_cell_targeted = therapy_class == TherapyClass.B_CELL
    row = PriorTherapy(
        patient=patient,
        drug=drug.strip(),
        therapy_class=therapy_class,
        b_cell_targeted=b_cell_targeted,
        start_date=start_date,
        stop_date=stop_date,
        reason_stopped=reason_stopped,
    )
    full_clean(row, exclude=["patient"])
    _check_therapy_dates(patient, row)
    save_audited(row, user=recorded_by)
    baseline_summaries_refresh([patient.pk])
    return row


def _check_therapy_dates(patient: Patient, row: PriorTherapy) -> None:
    check_not_future("start_date", row.start_date)
    check_not_future("stop_date", row.stop_date)
    if row.start_date and row.stop_date and row.stop_date < row.start_date:
        raise field_error(
            "stop_date",
            _("The stop date (%(stop)s) is before the start date (%(start)s)."),
            stop=row.stop_date.isoformat(),
            start=row.start_date.isoformat(),
        )
    if row.stop_date and not row.reason_stopped:
        raise field_error(
            "reason_stopped",
            _("Say why the therapy was stopped (inefficacy, intolerance, other, washout for CAR T)."),
        )
    dob = _date_of_birth(patient)
    if dob and row.start_date and row.start_date < dob:
        raise field_error("start_date", _("The start date is before the date of birth."))


@transaction.atomic
def prior_therapy_update(
    *, therapy: PriorTherapy, changes: dict[str, Any], recorded_by: Any, reason: str
) -> PriorTherapy:
    reason = require_reason(reason)
    changed = apply_changes(
        therapy,
        changes,
        allowed=("drug", "therapy_class", "b_cell_targeted", "start_date", "stop_date", "reason_stopped"),
    )
    full_clean(therapy, exclude=["patient"])
    _check_therapy_dates(therapy.patient, therapy)
    save_changes(therapy, changed, recorded_by=recorded_by, reason=reason)
    baseline_summaries_refresh([therapy.patient_id])
    return therapy


def baseline_summaries_refresh(patient_ids: list[int]) -> None:
    """Rewrite the stored baseline summaries (:class:`~patients.models.BaselineSummary`) of these patients
    from their current organ involvement and prior therapies. Called inside every write to those rows, after
    it.

    The patients are locked first (in key order), so that of two transactions changing one patient's
    baseline at once the later one to commit reads the earlier one's rows: the stored summary is that of
    the rows committed last."""
    ids = sorted(set(patient_ids))
    if not ids:
        return
    list(Patient.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))
    organs: dict[int, list[tuple[str, str]]] = {pk: [] for pk in ids}
    therapies: dict[int, list[tuple[str, bool]]] = {pk: [] for pk in ids}
    current = OrganInvolvement.objects.filter(patient_id__in=ids, voided_at__isnull=True)
    for pk, organ, nephritis in current.values_list("patient_id", "organ", "nephritis_class"):
        organs[pk].append((organ, nephritis))
    current = PriorTherapy.objects.filter(patient_id__in=ids, voided_at__isnull=True)
    for pk, klass, targeted in current.values_list("patient_id", "therapy_class", "b_cell_targeted"):
        therapies[pk].append((klass, targeted))
    summaries = [BaselineSummary(patient_id=pk, **summarise(organs[pk], therapies[pk])) for pk in ids]
    BaselineSummary.objects.bulk_create(
        summaries,
        update_conflicts=True,
        unique_fields=["patient"],
        update_fields=[f.name for f in BaselineSummary._meta.concrete_fields if not f.primary_key],
    )


def _bsa(height_cm: Decimal, weight_kg: Decimal, formula: str) -> Decimal:
    try:
        value = body_surface_area(float(height_cm), float(weight_kg), formula=formula)
    except ValueError as exc:
        raise field_error("bsa_formula", str(exc)) from exc
    return Decimal(str(value)).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)


@transaction.atomic
def growth_record(
    *,
    patient: Patient,
    measured_on: dt.date,
    weight_kg: Any,
    height_cm: Any,
    recorded_by: Any,
    bsa_formula: str = "mosteller",
) -> GrowthMeasurement:
    """Record weight and height; the body-surface area is derived with ``bsa_formula`` and stored with it."""
    check_accepts_new_data(patient)
    row = GrowthMeasurement(
        patient=patient,
        measured_on=measured_on,
        weight_kg=weight_kg,
        height_cm=height_cm,
        bsa_m2=Decimal("1"),
        bsa_formula=bsa_formula,
    )
    full_clean(row, exclude=["patient", "bsa_m2", "bsa_formula"])
    check_not_future("measured_on", measured_on)
    dob = _date_of_birth(patient)
    if dob and measured_on < dob:
        raise field_error("measured_on", _("The measurement date is before the date of birth."))
    row.bsa_m2 = _bsa(row.height_cm, row.weight_kg, bsa_formula)
    save_audited(row, user=recorded_by)
    return row


def latest_growth(patient: Patient, on: dt.date) -> GrowthMeasurement | None:
    """The latest valid growth measurement taken on or before ``on``."""
    return (
        GrowthMeasurement.objects.filter(patient=patient, measured_on__lte=on, voided_at__isnull=True)
        .order_by("-measured_on", "-pk")
        .first()
    )


@transaction.atomic
def record_void(*, record: Any, recorded_by: Any, reason: str) -> Any:
    """Void any clinical row of these apps entered in error (kept, audited, left out of outputs)."""
    void_record(record, recorded_by=recorded_by, reason=reason)
    if isinstance(record, OrganInvolvement | PriorTherapy):
        baseline_summaries_refresh([record.patient_id])
    return record


# --- case series ------------------------------------------------------------------------------------------


@transaction.atomic
def case_series_create(
    *,
    name: str,
    recorded_by: Any,
    description: str = "",
    patients: list[Patient] = (),
    is_illustrative: bool = False,
) -> CaseSeries:
    series = CaseSeries(name=name.strip(), description=description.strip(), is_illustrative=is_illustrative)
    full_clean(series)
    save_audited(series, user=recorded_by)
    if patients:
        series.patients.add(*patients)
    return series


@transaction.atomic
def case_series_set_patients(
    *, series: CaseSeries, patients: list[Patient], recorded_by: Any, reason: str = ""
) -> CaseSeries:
    series._history_user = recorded_by  # type: ignore[attr-defined]
    series.patients.set(patients)
    return series
