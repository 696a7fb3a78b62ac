"""Every write from apheresis to day 0 goes through one function here.

The dose arithmetic is done by :mod:`dosing.calculations` (pure); these services validate the clinical
sequence (birth < diagnosis < apheresis < manufacturing end ≤ infusion; lymphodepletion before
day 0), store the inputs with the results and write the audit trail. Nothing is half saved: each service is
one transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from dosing import calculations
from dosing.models import (
    NUMERIC_RELEASE_TESTS,
    Admission,
    Apheresis,
    DoseWindow,
    Infusion,
    InfusionBag,
    LymphodepletionDose,
    ManufacturingRun,
    Product,
    ProductBag,
    ReleaseTest,
)
from patients.models import GrowthMeasurement, Patient, PatientIdentity
from patients.services import latest_growth
from registry.audit import require_reason, save_audited
from registry.records import (
    apply_changes,
    check_accepts_new_data,
    check_not_future,
    field_error,
    full_clean,
    save_changes,
)

DAY0_REASON = "day 0 set by the infusion record"


def _dob(patient: Patient) -> dt.date | None:
    row = PatientIdentity.objects.filter(patient=patient).only("date_of_birth").first()
    return row.date_of_birth if row else None


def _check_after_birth_and_diagnosis(patient: Patient, field: str, on: dt.date) -> None:
    dob = _dob(patient)
    if dob and on <= dob:
        raise field_error(field, _("This date must be after the date of birth (%(d)s)."), d=dob.isoformat())
    if patient.diagnosis_date and on < patient.diagnosis_date:
        raise field_error(
            field,
            _("This date must not be before the date of diagnosis (%(d)s)."),
            d=patient.diagnosis_date.isoformat(),
        )


def _check_before_day0(patient: Patient, field: str, on: dt.date, *, inclusive: bool = False) -> None:
    # Read day 0 from the database: the caller's instance may predate the infusion.
    day0 = Patient.objects.filter(pk=patient.pk).values_list("day0", flat=True).first()
    if day0 is None:
        return
    if (on > day0) if inclusive else (on >= day0):
        raise field_error(
            field,
            _("This date must be %(rel)s day 0 (%(d)s)."),
            rel=_("on or before") if inclusive else _("before"),
            d=day0.isoformat(),
        )


# --- apheresis and admissions -----------------------------------------------------------------------------


@transaction.atomic
def apheresis_record(
    *,
    patient: Patient,
    performed_on: dt.date,
    recorded_by: Any,
    cd3_cells_collected: float | None = None,
    volume_processed_ml: float | None = None,
    complications: str = "",
) -> Apheresis:
    check_accepts_new_data(patient)
    row = Apheresis(
        patient=patient,
        performed_on=performed_on,
        cd3_cells_collected=cd3_cells_collected,
        volume_processed_ml=volume_processed_ml,
        complications=complications.strip(),
    )
    full_clean(row, exclude=["patient"])
    check_not_future("performed_on", performed_on)
    _check_after_birth_and_diagnosis(patient, "performed_on", performed_on)
    _check_before_day0(patient, "performed_on", performed_on)
    save_audited(row, user=recorded_by)
    return row


@transaction.atomic
def admission_record(
    *,
    patient: Patient,
    admitted_on: dt.date,
    reason: str,
    recorded_by: Any,
    discharged_on: dt.date | None = None,
    ward: str = "ward",
) -> Admission:
    check_accepts_new_data(patient)
    row = Admission(
        patient=patient, admitted_on=admitted_on, discharged_on=discharged_on, ward=ward, reason=reason
    )
    full_clean(row, exclude=["patient"])
    check_not_future("admitted_on", admitted_on)
    check_not_future("discharged_on", discharged_on)
    if discharged_on and discharged_on < admitted_on:
        raise field_error(
            "discharged_on",
            _("Discharge (%(d)s) cannot be before admission (%(a)s)."),
            d=discharged_on.isoformat(),
            a=admitted_on.isoformat(),
        )
    save_audited(row, user=recorded_by)
    return row


@transaction.atomic
def admission_discharge(
    *, admission: Admission, discharged_on: dt.date, recorded_by: Any, reason: str = "discharge recorded"
) -> Admission:
    check_not_future("discharged_on", discharged_on)
    if discharged_on < admission.admitted_on:
        raise field_error(
            "discharged_on",
            _("Discharge (%(d)s) cannot be before admission (%(a)s)."),
            d=discharged_on.isoformat(),
            a=admission.admitted_on.isoformat(),
        )
    changed = apply_changes(admission, {"discharged_on": discharged_on}, allowed=["discharged_on"])
    save_changes(admission, changed, recorded_by=recorded_by, reason=require_reason(reason))
    return admission


# --- manufacturing ----------------------------------------------------------------------------------------


@transaction.atomic
def manufacturing_run_record(
    *,
    apheresis: Apheresis,
    product: Product,
    started_on: dt.date,
    finished_on: dt.date,
    product_state: str,
    recorded_by: Any,
    **fields: Any,
) -> ManufacturingRun:
    """Record a manufacturing run from an apheresis (platform, site, QC figures, total CAR+ cells)."""
    patient = apheresis.patient
    check_accepts_new_data(patient)
    allowed = {
        "platform",
        "site",
        "transduction_efficiency_pct",
        "viability_pct",
        "cd4_cd8_ratio",
        "vector_copy_number",
        "total_viable_car_t_cells",
        "outcome",
    }
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise ValidationError(_("Unknown manufacturing fields: %(f)s.") % {"f": ", ".join(unknown)})
    row = ManufacturingRun(
        patient=patient,
        apheresis=apheresis,
        product=product,
        started_on=started_on,
        finished_on=finished_on,
        product_state=product_state,
        **fields,
    )
    full_clean(row, exclude=["patient", "apheresis", "product"])
    check_not_future("finished_on", finished_on)
    if started_on < apheresis.performed_on:
        raise field_error(
            "started_on",
            _("Manufacturing cannot start before the apheresis (%(d)s)."),
            d=apheresis.performed_on.isoformat(),
        )
    if finished_on < started_on:
        raise field_error(
            "finished_on",
            _("The end (%(e)s) is before the start (%(s)s)."),
            e=finished_on.isoformat(),
            s=started_on.isoformat(),
        )
    _check_before_day0(patient, "finished_on", finished_on, inclusive=True)
    save_audited(row, user=recorded_by)
    return row


@transaction.atomic
def product_bag_record(
    *, run: ManufacturingRun, identifier: str, car_t_cells: float, volume_ml: Any, recorded_by: Any
) -> ProductBag:
    check_accepts_new_data(run.patient)
    row = ProductBag(run=run, identifier=identifier.strip(), car_t_cells=car_t_cells, volume_ml=volume_ml)
    full_clean(row, exclude=["run"])
    # Lock the run: two submits of the same bag at once must not both pass the check below.
    ManufacturingRun.objects.select_for_update().filter(pk=run.pk).exists()
    if ProductBag.objects.filter(run=run, identifier=row.identifier).exists():
        raise field_error("identifier", _("Bag %(b)s is already recorded for this run."), b=row.identifier)
    save_audited(row, user=recorded_by)
    return row


def release_test_passed(
    *,
    kind: str,
    spec_min: float | None,
    spec_max: float | None,
    spec_expected: str,
    result_value: float | None,
    result_text: str,
) -> bool:
    """Whether a release-test result meets its specification (numeric range or expected text)."""
    if kind in NUMERIC_RELEASE_TESTS:
        if result_value is None:
            raise field_error("result_value", _("A numeric result is required for this test."))
        if spec_min is None and spec_max is None:
            raise field_error("spec_min", _("Give the specification: a minimum, a maximum or both."))
        return (spec_min is None or result_value >= spec_min) and (
            spec_max is None or result_value <= spec_max
        )
    if not result_text.strip():
        raise field_error("result_text", _("A result is required (e.g. 'negative')."))
    if not spec_expected.strip():
        raise field_error("spec_expected", _("Give the expected result (e.g. 'negative')."))
    return result_text.strip().lower() == spec_expected.strip().lower()


@transaction.atomic
def release_test_record(
    *,
    run: ManufacturingRun,
    kind: str,
    recorded_by: Any,
    spec_min: float | None = None,
    spec_max: float | None = None,
    spec_expected: str = "",
    result_value: float | None = None,
    result_text: str = "",
) -> ReleaseTest:
    """Record a release test; pass / out of specification is computed, never typed."""
    check_accepts_new_data(run.patient)
    row = ReleaseTest(
        run=run,
        kind=kind,
        spec_min=spec_min,
        spec_max=spec_max,
        spec_expected=spec_expected.strip(),
        result_value=result_value,
        result_text=result_text.strip(),
        passed=False,
    )
    full_clean(row, exclude=["run", "passed"])
    if spec_min is not None and spec_max is not None and spec_min > spec_max:
        raise field_error("spec_max", _("The specification maximum is below its minimum."))
    ManufacturingRun.objects.select_for_update().filter(pk=run.pk).exists()  # one check at a time per run
    if ReleaseTest.objects.filter(run=run, kind=kind, voided_at__isnull=True).exists():
        raise field_error("kind", _("This test is already recorded for the run; edit or void it."))
    row.passed = release_test_passed(
        kind=kind,
        spec_min=spec_min,
        spec_max=spec_max,
        spec_expected=spec_expected,
        result_value=result_value,
        result_text=result_text,
    )
    save_audited(row, user=recorded_by)
    return row


# --- lymphodepletion --------------------------------------------------------------------------------------


def _q(value: float, places: str) -> Decimal:
    return Decimal(str(value)).quantize(Decimal(places), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class LymphodepletionPreview:
    bsa_m2: Decimal
    bsa_formula: str
    growth: GrowthMeasurement
    planned_mg: Decimal
    deviation_pct: Decimal | None

    @property
    def deviation_flagged(self) -> bool:
        return (
            self.deviation_pct is not None
            and abs(self.deviation_pct) > LymphodepletionDose.DEVIATION_FLAG_PCT
        )


def lymphodepletion_preview(
    *,
    patient: Patient,
    given_on: dt.date,
    mg_per_m2: Any,
    given_mg: Any = None,
    growth: GrowthMeasurement | None = None,
) -> LymphodepletionPreview:
    """The planned dose (mg/m² × BSA of the latest measurement) and the deviation of what was given."""
    growth = growth or latest_growth(patient, given_on)
    if growth is None:
        raise field_error(
            "given_on",
            _("Record a weight and height on or before %(d)s first: the dose needs the body-surface area."),
            d=given_on.isoformat(),
        )
    try:
        planned = calculations.lymphodepletion_dose_mg(float(mg_per_m2), float(growth.bsa_m2))
        deviation = (
            calculations.dose_deviation_percent(planned, float(given_mg))
            if given_mg not in (None, "")
            else None
        )
    except ValueError as exc:
        field = "given_mg" if "given" in str(exc) else "mg_per_m2"
        raise field_error(field, str(exc)) from exc
    return LymphodepletionPreview(
        growth.bsa_m2,
        growth.bsa_formula,
        growth,
        _q(planned, "0.01"),
        _q(deviation, "0.1") if deviation is not None else None,
    )


@transaction.atomic
def lymphodepletion_dose_record(
    *,
    patient: Patient,
    agent: str,
    given_on: dt.date,
    mg_per_m2: Any,
    given_mg: Any,
    recorded_by: Any,
    growth: GrowthMeasurement | None = None,
) -> LymphodepletionDose:
    """Record one day's lymphodepleting dose; the plan and a > 10 % deviation flag are derived."""
    check_accepts_new_data(patient)
    row = LymphodepletionDose(
        patient=patient,
        agent=agent,
        given_on=given_on,
        mg_per_m2=mg_per_m2,
        given_mg=given_mg,
        bsa_m2=Decimal("1"),
        bsa_formula="-",
        planned_mg=Decimal("1"),
        deviation_pct=Decimal("0"),
    )
    full_clean(row, exclude=["patient", "growth", "bsa_m2", "bsa_formula", "planned_mg", "deviation_pct"])
    check_not_future("given_on", given_on)
    _check_after_birth_and_diagnosis(patient, "given_on", given_on)
    _check_before_day0(patient, "given_on", given_on)
    if growth is not None and (growth.patient_id != patient.pk or growth.measured_on > given_on):
        raise field_error("growth", _("Use a measurement of this patient taken on or before the dose."))
    preview = lymphodepletion_preview(
        patient=patient, given_on=given_on, mg_per_m2=row.mg_per_m2, given_mg=row.given_mg, growth=growth
    )
    Patient.objects.select_for_update().filter(pk=patient.pk).exists()  # one check at a time per patient
    if LymphodepletionDose.objects.filter(
        patient=patient, agent=agent, given_on=given_on, voided_at__isnull=True
    ).exists():
        raise field_error(
            "given_on", _("A %(a)s dose is already recorded on %(d)s."), a=agent, d=given_on.isoformat()
        )
    row.growth = preview.growth
    row.bsa_m2, row.bsa_formula, row.planned_mg = preview.bsa_m2, preview.bsa_formula, preview.planned_mg
    row.deviation_pct = preview.deviation_pct
    save_audited(row, user=recorded_by)
    return row


# --- infusion ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BagPlan:
    bag: ProductBag
    volume_ml: Decimal
    cells: float


@dataclass(frozen=True)
class InfusionPlan:
    """What the clinician sees before infusing: cells required, which bag(s), how many mL."""

    weight_kg: Decimal
    weight_date: dt.date
    target_cells_per_kg: float
    cells_required: float
    bags: list[BagPlan]
    cells_available: float

    @property
    def total_volume_ml(self) -> Decimal:
        return sum((b.volume_ml for b in self.bags), Decimal("0"))

    @property
    def sufficient(self) -> bool:
        return self.cells_available >= self.cells_required * (1 - 1e-9)


def available_bags(run: ManufacturingRun) -> list[ProductBag]:
    return list(run.bags.filter(voided_at__isnull=True, infusion_bag__isnull=True).order_by("identifier"))


def infusion_plan(
    *, run: ManufacturingRun, growth: GrowthMeasurement, target_cells_per_kg: float | None = None
) -> InfusionPlan:
    """Cells required for the weight and target, and the bag(s) and volume that deliver them.

    Bags are used in identifier order: a bag holding enough gives the partial volume needed; otherwise whole
    bags are added until the last one supplies the remainder.
    """
    target = float(target_cells_per_kg or run.product.target_cells_per_kg)
    try:
        required = calculations.car_t_cells_required(float(growth.weight_kg), target)
    except ValueError as exc:
        raise field_error("target_cells_per_kg", str(exc)) from exc
    bags = available_bags(run)
    plan: list[BagPlan] = []
    single = next((b for b in bags if b.car_t_cells >= required), None)
    remaining = required
    for bag in [single] if single else bags:
        if remaining <= 0:
            break
        cells = min(bag.car_t_cells, remaining)
        volume = calculations.infusion_volume_ml(cells, bag.cells_per_ml)
        plan.append(BagPlan(bag, _q(volume, "0.1"), cells))
        remaining -= cells
    return InfusionPlan(
        growth.weight_kg, growth.measured_on, target, required, plan, sum(b.car_t_cells for b in bags)
    )


@dataclass(frozen=True)
class DoseResult:
    dose_per_kg: float
    percent_of_target: float
    window: str


def infusion_dose(
    *, product: Product, weight_kg: float, car_t_cells_infused: float, target_cells_per_kg: float
) -> DoseResult:
    try:
        dose = calculations.dose_per_kg(car_t_cells_infused, weight_kg)
        pct = calculations.percent_of_target(dose, target_cells_per_kg)
        window = calculations.dose_within_window(
            dose_per_kg=dose,
            weight_kg=weight_kg,
            min_per_kg=product.min_cells_per_kg,
            max_per_kg=product.max_cells_per_kg,
            min_total=product.min_cells_total,
            max_total=product.max_cells_total,
            weight_cutoff_kg=product.weight_cutoff_kg,
        )
    except ValueError as exc:
        raise field_error("car_t_cells_infused", str(exc)) from exc
    return DoseResult(dose, pct, window)


@transaction.atomic
def infusion_record(
    *,
    patient: Patient,
    run: ManufacturingRun,
    infused_on: dt.date,
    growth: GrowthMeasurement,
    car_t_cells_infused: float,
    volume_infused_ml: Any,
    bags: list[ProductBag],
    recorded_by: Any,
    target_cells_per_kg: float | None = None,
    premedication: str = "",
    out_of_window_justification: str = "",
    is_reinfusion: bool = False,
) -> Infusion:
    """Record the infusion. The first one sets day 0; a second is a flagged re-infusion."""
    check_accepts_new_data(patient)
    caller_patient = patient
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if run.patient_id != patient.pk:
        raise field_error("run", _("This manufacturing run belongs to another patient."))
    if run.outcome != "success":
        raise field_error("run", _("The manufacturing run failed; there is no product to infuse."))
    if growth.patient_id != patient.pk or growth.voided_at is not None:
        raise field_error("growth", _("Choose a valid weight measurement of this patient."))
    if growth.measured_on > infused_on:
        raise field_error("growth", _("The weight used must be measured on or before the infusion date."))
    target = float(target_cells_per_kg or run.product.target_cells_per_kg)
    row = Infusion(
        patient=patient,
        run=run,
        infused_on=infused_on,
        is_reinfusion=is_reinfusion,
        growth=growth,
        weight_kg=growth.weight_kg,
        target_cells_per_kg=target,
        cells_required=1,
        car_t_cells_infused=car_t_cells_infused,
        volume_infused_ml=volume_infused_ml,
        dose_per_kg=1,
        percent_of_target=0,
        dose_window=DoseWindow.WITHIN,
        out_of_window_justification=out_of_window_justification.strip(),
        premedication=premedication.strip(),
    )
    full_clean(
        row,
        exclude=[
            "patient",
            "run",
            "growth",
            "weight_kg",
            "cells_required",
            "dose_per_kg",
            "percent_of_target",
            "dose_window",
        ],
    )
    check_not_future("infused_on", infused_on)
    _check_after_birth_and_diagnosis(patient, "infused_on", infused_on)
    if infused_on < run.finished_on:
        raise field_error(
            "infused_on",
            _("The infusion cannot be before the end of manufacturing (%(d)s)."),
            d=run.finished_on.isoformat(),
        )
    if is_reinfusion:
        if patient.day0 is None:
            raise field_error("is_reinfusion", _("There is no first infusion yet; record day 0 first."))
        if infused_on <= patient.day0:
            raise field_error(
                "infused_on", _("A second infusion must be after day 0 (%(d)s)."), d=patient.day0.isoformat()
            )
    elif patient.day0 is not None:
        raise field_error(
            "is_reinfusion",
            _("Day 0 is already recorded (%(d)s); a further infusion must be recorded as a second infusion."),
            d=patient.day0.isoformat(),
        )
    else:
        late_ld = (
            LymphodepletionDose.objects.filter(
                patient=patient, voided_at__isnull=True, given_on__gte=infused_on
            )
            .order_by("given_on")
            .first()
        )
        if late_ld:
            raise field_error(
                "infused_on",
                _("Lymphodepletion must precede day 0, but %(a)s is recorded on %(d)s."),
                a=late_ld.agent,
                d=late_ld.given_on.isoformat(),
            )
    if not bags:
        raise field_error("bags", _("Select the bag(s) infused."))
    for bag in bags:
        if bag.run_id != run.pk or bag.voided_at is not None:
            raise field_error("bags", _("Bag %(b)s is not a valid bag of this run."), b=bag.identifier)
        if InfusionBag.objects.filter(bag=bag).exists():
            raise field_error("bags", _("Bag %(b)s has already been infused."), b=bag.identifier)
    if car_t_cells_infused > sum(b.car_t_cells for b in bags) * (1 + 1e-9):
        raise field_error(
            "car_t_cells_infused",
            _("More cells than the selected bags contain (%(n).3g)."),
            n=sum(b.car_t_cells for b in bags),
        )
    dose = infusion_dose(
        product=run.product,
        weight_kg=float(growth.weight_kg),
        car_t_cells_infused=float(car_t_cells_infused),
        target_cells_per_kg=target,
    )
    if dose.window != DoseWindow.WITHIN and not row.out_of_window_justification:
        raise field_error(
            "out_of_window_justification",
            _("The dose (%(d).3g cells/kg) is %(w)s the product's window: record a justification."),
            d=dose.dose_per_kg,
            w=_("below") if dose.window == "below" else _("above"),
        )
    row.cells_required = calculations.car_t_cells_required(float(growth.weight_kg), target)
    row.dose_per_kg, row.percent_of_target, row.dose_window = (
        dose.dose_per_kg,
        dose.percent_of_target,
        dose.window,
    )
    save_audited(row, user=recorded_by)
    for bag in bags:
        link = InfusionBag(infusion=row, bag=bag)
        save_audited(link, user=recorded_by)
    if not is_reinfusion:
        patient.day0 = infused_on
        save_audited(patient, user=recorded_by, reason=DAY0_REASON, update_fields=["day0", "updated_at"])
        caller_patient.day0 = infused_on
    return row
