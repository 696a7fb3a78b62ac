"""The demo reconstruction of the seed series reproduces every published aggregate it touches (SEED.md)."""

from __future__ import annotations

import io
import math
import statistics
from collections import Counter
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from dosing.models import (
    Admission,
    Apheresis,
    Infusion,
    InfusionBag,
    LymphodepletionDose,
    ManufacturingRun,
    Product,
    ProductBag,
    ReleaseTest,
)
from patients.models import GrowthMeasurement, OrganInvolvement, Patient, PatientIdentity, PriorTherapy
from registry.demo_series import (
    RECENT_DAYS_SINCE_DAY0,
    SERIES_FOLLOW_UP_MONTHS,
    SERIES_NAME,
)
from registry.models import CaseSeries

DAYS_PER_MONTH = 30.4375
CLINICAL_MODELS = (
    Product,
    Patient,
    PatientIdentity,
    OrganInvolvement,
    PriorTherapy,
    GrowthMeasurement,
    Apheresis,
    ManufacturingRun,
    ProductBag,
    ReleaseTest,
    LymphodepletionDose,
    Admission,
    Infusion,
    InfusionBag,
    CaseSeries,
)


def _load() -> str:
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


def _series_patients() -> list[Patient]:
    return list(CaseSeries.objects.get(name=SERIES_NAME).patients.select_related("centre", "identity"))


def _recent_patients() -> list[Patient]:
    return list(
        Patient.objects.filter(is_illustrative=True, case_series__isnull=True).select_related(
            "centre", "identity"
        )
    )


def _age_at_infusion(patient: Patient) -> int:
    return math.floor((patient.day0 - patient.identity.date_of_birth).days / 365.25)


@pytest.fixture
def demo(demo_loaded, db):
    return demo_loaded


def test_series_is_illustrative_and_has_eight_illustrative_children(demo):
    series = CaseSeries.objects.get(name=SERIES_NAME)
    assert series.is_illustrative
    children = _series_patients()
    assert len(children) == 8
    assert all(p.is_illustrative for p in children)
    assert all(p.identity.hospital_number.startswith("DEMO-") for p in children)
    assert all(p.identity.family_name == "Demo" for p in children)


def test_series_reproduces_published_diagnoses_centres_sex_and_ages(demo):
    children = _series_patients()
    assert Counter(p.diagnosis for p in children) == {"sle": 4, "jdm": 3, "ssc": 1}
    assert Counter(p.centre.code for p in children) == {"ROM": 5, "ERL": 3}
    assert Counter(p.sex for p in children) == {"female": 7, "male": 1}
    ages = [_age_at_infusion(p) for p in children]
    assert (min(ages), max(ages)) == (5, 17)


def test_the_only_boy_is_the_published_12_year_old_erlangen_jdm_with_a_fresh_prodigy_product(demo):
    (boy,) = [p for p in _series_patients() if p.sex == "male"]
    assert (boy.diagnosis, boy.centre.code, _age_at_infusion(boy)) == ("jdm", "ERL", 12)
    run = boy.manufacturing_runs.get()
    assert (run.platform, run.product_state) == ("CliniMACS Prodigy", "fresh")
    # The published split schedule: cyclophosphamide 1000 mg/m² over 2 days, fludarabine 90 mg/m² over 3 days.
    doses = list(boy.lymphodepletion_doses.all())
    cy = [d for d in doses if d.agent == "cyclophosphamide"]
    flu = [d for d in doses if d.agent == "fludarabine"]
    assert (len(cy), sum(d.mg_per_m2 for d in cy)) == (2, Decimal("1000"))
    assert (len(flu), sum(d.mg_per_m2 for d in flu)) == (3, Decimal("90"))


def test_follow_up_lengths_have_the_published_median_and_range(demo):
    today = timezone.localdate()
    months = sorted(round((today - p.day0).days / DAYS_PER_MONTH, 1) for p in _series_patients())
    assert statistics.median(months) == 16.5
    assert (months[0], months[-1]) == (9.0, 24.0)
    table = sorted(SERIES_FOLLOW_UP_MONTHS.values())
    assert len(table) == 8 and statistics.median(table) == 16.5 and (table[0], table[-1]) == (9, 24)
    by_number = {p.identity.hospital_number: p for p in _series_patients()}
    assert set(by_number) == set(SERIES_FOLLOW_UP_MONTHS)


def test_two_recently_infused_rome_children_are_outside_the_series(demo):
    recent = _recent_patients()
    assert len(recent) == 2
    assert all(p.centre.code == "ROM" and p.is_illustrative and p.sex == "female" for p in recent)
    today = timezone.localdate()
    by_dx = {p.diagnosis: (today - p.day0).days for p in recent}
    assert by_dx == {"sle": 70, "jdm": 40}
    assert {p.identity.hospital_number for p in recent} == set(RECENT_DAYS_SINCE_DAY0)


@pytest.mark.parametrize("which", ["series", "recent"])
def test_every_child_has_the_full_path_from_enrolment_to_day0(demo, which):
    children = _series_patients() if which == "series" else _recent_patients()
    for p in children:
        assert p.day0 is not None, p.code
        assert p.treatment_pathway == "hospital_exemption" and p.approval_reference
        assert p.classification_criteria and p.diagnosis_date < p.day0
        assert p.guardian_consent_date and p.guardian_consent_date < p.day0
        assert p.organ_involvements.exists()
        assert p.growth.count() >= 1
        apheresis = p.aphereses.get()
        therapies = list(p.prior_therapies.all())
        assert 3 <= len(therapies) <= 6, p.code
        for t in therapies:
            assert p.diagnosis_date <= t.start_date <= t.stop_date < apheresis.performed_on, (p.code, t.drug)

        (run,) = p.manufacturing_runs.all()
        assert (run.outcome, run.platform, run.product_state) == ("success", "CliniMACS Prodigy", "fresh")
        assert run.product.code == "mb-cart19-1"
        assert 10 <= run.duration_days <= 14
        assert 20 <= run.transduction_efficiency_pct <= 60 and run.viability_pct > 85
        assert apheresis.performed_on <= run.started_on and run.finished_on <= p.day0
        bags = list(run.bags.all())
        assert 2 <= len(bags) <= 4
        assert run.total_viable_car_t_cells == pytest.approx(sum(b.car_t_cells for b in bags))
        tests = list(run.release_tests.all())
        assert len(tests) == 6 and all(t.passed for t in tests)

        doses = list(p.lymphodepletion_doses.all())
        assert {d.agent for d in doses} == {"fludarabine", "cyclophosphamide"}
        assert all(d.given_on < p.day0 and not d.deviation_flagged for d in doses)
        if p.sex == "female":  # the standard regimen: Flu 25 mg/m²/day D−5…D−3, Cy 1000 mg/m² D−3
            assert sorted((d.agent, p.study_day(d.given_on), d.mg_per_m2) for d in doses) == [
                ("cyclophosphamide", -3, Decimal("1000")),
                ("fludarabine", -5, Decimal("25")),
                ("fludarabine", -4, Decimal("25")),
                ("fludarabine", -3, Decimal("25")),
            ]

        admission = p.admissions.get(reason="infusion")
        assert admission.admitted_on <= p.day0 <= admission.discharged_on

        infusion = p.infusions.get()
        assert infusion.infused_on == p.day0 and not infusion.is_reinfusion
        assert infusion.dose_per_kg == pytest.approx(1e6, rel=0.005)
        assert infusion.car_t_cells_infused == pytest.approx(float(infusion.weight_kg) * 1e6, rel=1e-9)
        assert infusion.dose_window == "within"
        (bag,) = infusion.bags.all()
        assert float(infusion.volume_infused_ml) == pytest.approx(
            infusion.car_t_cells_infused / bag.cells_per_ml, abs=0.05
        )


def test_no_demo_date_is_in_the_future(demo):
    today = timezone.localdate()
    dates = [
        *Patient.objects.values_list("day0", "diagnosis_date", "guardian_consent_date", "child_assent_date"),
        *PatientIdentity.objects.values_list("date_of_birth"),
        *PriorTherapy.objects.values_list("start_date", "stop_date"),
        *GrowthMeasurement.objects.values_list("measured_on"),
        *Apheresis.objects.values_list("performed_on"),
        *ManufacturingRun.objects.values_list("started_on", "finished_on"),
        *LymphodepletionDose.objects.values_list("given_on"),
        *Admission.objects.values_list("admitted_on", "discharged_on"),
        *Infusion.objects.values_list("infused_on"),
    ]
    assert all(d <= today for row in dates for d in row if d is not None)


def _snapshot() -> tuple[int, ...]:
    return tuple(n for m in CLINICAL_MODELS for n in (m.objects.count(), m.history.count()))


def test_loading_twice_creates_nothing_and_writes_no_history(demo):
    before = _snapshot()
    output = _load()
    assert _snapshot() == before
    assert "0 products, 0 patients, 0 case series created" in output


def test_every_demo_row_is_audited_as_the_system_user(demo):
    for model in CLINICAL_MODELS:
        rows = model.objects.count()
        assert rows > 0, model.__name__
        created = model.history.filter(history_type="+")
        assert created.values("id").distinct().count() == rows, model.__name__
        users = set(model.history.values_list("history_user__username", flat=True))
        assert users == {"registry-system"}, model.__name__
