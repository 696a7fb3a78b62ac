"""The synthetic-registry generator and the benchmarks' SQL on a tiny registry (no timing is asserted).

The benchmarks themselves run in CI as ``make bench BENCH_ARGS=--smoke`` (DESIGN §6, step 5).
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from adverse_events import grading
from adverse_events.models import CrsAssessment, IcansAssessment
from adverse_events.services import crs_sequence
from dosing import calculations
from dosing.models import Infusion, LymphodepletionDose
from outcomes import scores
from outcomes.labs import ANALYTES, CTCAE_TERM_FOR_ANALYTE
from outcomes.models import LabResult, Medication, SledaiAssessment, Visit
from patients.models import BaselineSummary, GrowthMeasurement, Patient
from patients.services import baseline_summaries_refresh
from registry import synthetic

TODAY = dt.date(2025, 6, 30)
PATIENTS = 20


def snapshot() -> dict:
    """What must come out identical for the same seed (no primary keys: sequences are not rolled back)."""
    patients = list(
        Patient.objects.order_by("code").values_list(
            "code", "diagnosis", "sex", "day0", "status", "diagnosis_date"
        )
    )
    labs = list(
        LabResult.objects.order_by("patient__code", "sampled_at", "analyte", "value_reported").values_list(
            "patient__code", "sampled_on", "analyte", "value_reported", "unit_reported", "ctcae_grade"
        )
    )
    crs = list(
        CrsAssessment.objects.order_by("patient__code", "assessed_at").values_list(
            "patient__code", "assessed_at", "max_temperature_c", "grade"
        )
    )
    visits = list(
        Visit.objects.order_by("patient__code", "visit_date", "timepoint__code").values_list(
            "patient__code", "visit_date", "timepoint__code"
        )
    )
    meds = list(
        Medication.objects.order_by("patient__code", "started_on", "drug").values_list(
            "patient__code", "drug", "dose", "started_on", "stopped_on", "prednisone_equivalent_mg_per_day"
        )
    )
    return {"patients": patients, "labs": labs, "crs": crs, "visits": visits, "medications": meds}


@pytest.fixture
def registry(db):
    return synthetic.generate(patients=PATIENTS, centres=3, seed=7, today=TODAY)


def test_the_generator_is_deterministic_for_a_seed(db):
    with transaction.atomic():
        synthetic.generate(patients=8, centres=2, seed=3, today=TODAY)
        first = snapshot()
        transaction.set_rollback(True)
    assert Patient.objects.count() == 0
    synthetic.generate(patients=8, centres=2, seed=3, today=TODAY)
    assert snapshot() == first
    assert len(first["labs"]) > 8 * 100


def test_another_seed_gives_another_registry(db):
    with transaction.atomic():
        synthetic.generate(patients=5, centres=2, seed=3, today=TODAY)
        first = snapshot()
        transaction.set_rollback(True)
    synthetic.generate(patients=5, centres=2, seed=4, today=TODAY)
    assert snapshot()["labs"] != first["labs"]


def test_it_refuses_a_database_with_real_patients(rome_patient):
    with pytest.raises(synthetic.RealPatientsPresent, match="1 real"):
        synthetic.generate(patients=2, seed=1, today=TODAY)
    with pytest.raises(CommandError, match="real \\(non-synthetic\\) patient"):
        call_command("generate_registry", "--patients", "2")
    assert Patient.objects.filter(is_synthetic=True).count() == 0


def test_the_command_reports_its_speed(db, capsys):
    call_command("generate_registry", "--patients", "3", "--centres", "2", "--today", TODAY.isoformat())
    out = capsys.readouterr().out
    assert "3 synthetic patients" in out and "rows/s" in out and "patients/s" in out
    assert Patient.objects.filter(is_synthetic=True).count() == 3


def test_every_patient_is_synthetic_and_in_the_series(registry):
    assert registry.patients == PATIENTS
    assert set(Patient.objects.values_list("is_synthetic", flat=True)) == {True}
    assert registry.series.patients.count() == PATIENTS
    assert registry.rows["patients.Patient"] == PATIENTS


def test_counts_per_patient_are_roughly_as_specified(registry):
    infused = Patient.objects.filter(day0__isnull=False)
    n = infused.count()
    assert n >= PATIENTS * 0.8
    labs = LabResult.objects.filter(patient__in=infused).count() / n
    visits = Visit.objects.filter(patient__in=infused).count() / n
    toxicity = (
        CrsAssessment.objects.filter(patient__in=infused).count()
        + IcansAssessment.objects.filter(patient__in=infused).count()
    ) / n
    assert 200 <= labs <= 450, labs  # ≈ 300
    assert 25 <= visits <= 55, visits  # ≈ 40
    assert 12 <= toxicity <= 30, toxicity  # ≈ 20
    assert not LabResult.objects.filter(sampled_on__gt=TODAY).exists()
    assert not Visit.objects.filter(visit_date__gt=TODAY).exists()


def test_the_stored_baseline_summaries_are_the_services_own(registry):
    """The generator writes the summaries in bulk; they must be what patients.services would store."""
    patients = list(Patient.objects.values_list("pk", flat=True))
    generated = {row.pop("patient_id"): row for row in BaselineSummary.objects.values()}
    assert sorted(generated) == sorted(patients)
    assert any(row["nephritis_class"] for row in generated.values())
    assert any(row["prior_b_cell_targeted"] for row in generated.values())
    BaselineSummary.objects.all().delete()
    baseline_summaries_refresh(patients)
    assert {row.pop("patient_id"): row for row in BaselineSummary.objects.values()} == generated


def test_crs_and_icans_grades_are_the_graders_on_the_stored_inputs(registry):
    for patient in Patient.objects.filter(day0__isnull=False)[:8]:
        rows = list(CrsAssessment.objects.filter(patient=patient).order_by("assessed_at", "pk"))
        assert [(r.grade, r.after_anticytokine_or_antipyretic) for r in rows] == crs_sequence(rows)
    for row in IcansAssessment.objects.all()[:60]:
        age = float(row.age_years)
        assert row.tool == grading.icans_tool(age_years=age, developmental_delay=row.developmental_delay)
        ice = grading.ice_score(**row.ice_items) if row.ice_items else None
        capd = (
            grading.capd_score({int(k): v for k, v in row.capd_answers.items()}) if row.capd_answers else None
        )
        assert (row.ice_score, row.capd_score) == (ice, capd)
        assert row.grade == grading.icans_grade(
            age_years=age,
            ice_score=ice,
            capd_score=capd,
            unable_to_perform=row.unable_to_perform,
            awake_with_global_aphasia=row.awake_with_global_aphasia,
            developmental_delay=row.developmental_delay,
            consciousness=row.consciousness,
            seizure=row.seizure,
            motor=row.motor,
            cerebral_edema=row.cerebral_edema,
            died_of_icans=row.died_of_icans,
        )


def test_labs_are_converted_and_graded_as_the_service_does(registry):
    for row in LabResult.objects.filter(voided_at__isnull=True).order_by("?")[:300]:
        spec = ANALYTES[row.analyte]
        assert row.value == pytest.approx(spec.to_canonical(float(row.value_reported), row.unit_reported))
        term = CTCAE_TERM_FOR_ANALYTE.get(row.analyte)
        if term:
            name, divisor = term
            lln = None if row.lln is None else row.lln / divisor
            assert row.ctcae_grade == grading.ctcae_grade(name, row.value / divisor, lln=lln)
        else:
            assert row.ctcae_grade is None


def test_dosing_and_instruments_are_computed_by_the_pure_modules(registry):
    for g in GrowthMeasurement.objects.all()[:20]:
        bsa = calculations.body_surface_area(float(g.height_cm), float(g.weight_kg))
        assert g.bsa_m2 == Decimal(str(bsa)).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
    for infusion in Infusion.objects.select_related("growth"):
        assert infusion.weight_kg == infusion.growth.weight_kg
        assert infusion.dose_per_kg == pytest.approx(
            calculations.dose_per_kg(infusion.car_t_cells_infused, float(infusion.weight_kg))
        )
        assert infusion.percent_of_target == pytest.approx(infusion.dose_per_kg / 1e6 * 100)
        assert (infusion.dose_window == "within") == (infusion.out_of_window_justification == "")
    for dose in LymphodepletionDose.objects.all()[:20]:
        planned = calculations.lymphodepletion_dose_mg(float(dose.mg_per_m2), float(dose.bsa_m2))
        assert dose.planned_mg == Decimal(str(planned)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    for s in SledaiAssessment.objects.all()[:40]:
        assert s.sledai_2k == scores.sledai_2k(s.descriptors)
        assert s.clinical_sledai_2k == scores.clinical_sledai_2k(s.descriptors)
        assert s.doris_remission == scores.doris_remission(
            clinical_sledai=s.clinical_sledai_2k,
            physician_global=float(s.physician_global),
            prednisone_mg_per_day=float(s.prednisone_mg_per_day),
        )
    for m in Medication.objects.filter(medication_class="glucocorticoid", dose_unit="mg")[:20]:
        from outcomes.models import DOSES_PER_DAY

        expected = scores.prednisone_equivalent_mg(m.drug, float(m.dose)) * DOSES_PER_DAY[m.frequency]
        assert float(m.prednisone_equivalent_mg_per_day) == pytest.approx(expected, abs=0.006)


def test_the_registry_reads_back_through_the_selectors(registry):
    from adverse_events.selectors import safety_summaries
    from outcomes.selectors import course_summaries

    patients = list(Patient.objects.filter(day0__isnull=False).select_related("centre"))
    safety = safety_summaries(patients)
    courses = course_summaries(patients, today=TODAY)
    assert len(safety) == len(courses) == len(patients)
    assert any(s.crs_max_grade >= 1 for s in safety.values())
    assert all(s.icaht is not None for s in safety.values())
    assert any(c.b_cell_aplasia_day is not None for c in courses.values())


def test_the_benchmarks_sql_runs_on_the_registry(registry):
    from bench import export, tables

    rows = tables.aggregate(registry.series.pk)
    assert len(rows) == Patient.objects.filter(voided_at__isnull=True).count()
    exported = export.run_cursor_path(None, registry.series)  # the app's long-format export
    infused = Patient.objects.filter(day0__isnull=False, voided_at__isnull=True)
    labs = LabResult.objects.filter(patient__in=infused, voided_at__isnull=True).count()
    visits = Visit.objects.filter(patient__in=infused, voided_at__isnull=True).count()
    assert visits and exported > labs + visits  # every lab value and several scores per visit


def test_the_benchmark_runner_knows_its_benchmarks():
    from bench.__main__ import BENCHMARKS, parse

    args = parse(["--smoke", "--only", "tables,export"])
    assert args.smoke and args.chosen == ["tables", "export"]
    assert set(BENCHMARKS) == {"pages", "tables", "export", "api", "summaries"}
    with pytest.raises(SystemExit):
        parse(["--only", "nonsense"])


def test_the_api_baseline_view_reads_the_columns_the_api_reads():
    """The API benchmark's baseline returns "the same rows with .values()" (DESIGN §7): the same columns."""
    from bench.urls import BASELINE_FIELDS
    from patients.api import PatientViewSet

    assert PatientViewSet().base_queryset().query.values_select == BASELINE_FIELDS
