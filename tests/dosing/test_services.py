"""From apheresis to day 0 through the services: the clinical sequence, dose arithmetic and invariants."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from dosing import services
from dosing.models import Infusion, InfusionBag, LymphodepletionDose, ManufacturingRun, ReleaseTest
from tests.factories import enrol, make_product, path_to_infusion

TODAY = dt.date.today()


@pytest.fixture
def path(rome, rome_clinician):
    return path_to_infusion(enrol(rome, rome_clinician), rome_clinician)


def _ld(path, user, *, days_before=5, agent="fludarabine", mg_per_m2="25", given_mg=None):
    given_on = TODAY - dt.timedelta(days=days_before)
    planned = Decimal(mg_per_m2) * path.growth.bsa_m2
    return services.lymphodepletion_dose_record(
        patient=path.patient,
        agent=agent,
        given_on=given_on,
        mg_per_m2=Decimal(mg_per_m2),
        given_mg=Decimal(given_mg) if given_mg else planned.quantize(Decimal("0.01")),
        recorded_by=user,
    )


def _infuse(path, user, *, cells=3e7, bags=None, on=TODAY, **kw):
    return services.infusion_record(
        patient=path.patient,
        run=path.run,
        infused_on=on,
        growth=path.growth,
        car_t_cells_infused=cells,
        volume_infused_ml=Decimal("15"),
        bags=bags if bags is not None else [path.bags[0]],
        recorded_by=user,
        **kw,
    )


def test_lymphodepletion_plan_uses_bsa_of_latest_measurement(path, rome_clinician):
    row = _ld(path, rome_clinician, mg_per_m2="1000", agent="cyclophosphamide", given_mg="1080")
    # 30 kg, 140 cm → Mosteller 1.080 m² → 1080 mg planned
    assert (row.bsa_m2, row.bsa_formula, row.planned_mg) == (
        Decimal("1.080"),
        "mosteller",
        Decimal("1080.00"),
    )
    assert row.deviation_pct == Decimal("0.0") and not row.deviation_flagged


def test_lymphodepletion_deviation_over_10_percent_is_flagged(path, rome_clinician):
    row = _ld(path, rome_clinician, mg_per_m2="25", given_mg="32")
    assert row.deviation_pct == Decimal("18.5")
    assert row.deviation_flagged


def test_infusion_plan_picks_a_bag_and_volume_from_its_concentration(path):
    plan = services.infusion_plan(run=path.run, growth=path.growth)
    assert plan.cells_required == pytest.approx(3e7)
    assert [b.bag.identifier for b in plan.bags] == ["BAG-1"]
    # bag: 4e7 cells in 20 mL → 2e6 cells/mL → 15 mL for 3e7
    assert plan.bags[0].volume_ml == Decimal("15.0")
    assert plan.sufficient


def test_infusion_plan_combines_bags_when_one_is_not_enough(rome, rome_clinician):
    path = path_to_infusion(enrol(rome, rome_clinician), rome_clinician, bag_cells=(2e7, 2e7))
    plan = services.infusion_plan(run=path.run, growth=path.growth)
    assert [(b.bag.identifier, b.cells) for b in plan.bags] == [("BAG-1", 2e7), ("BAG-2", 1e7)]
    assert plan.total_volume_ml == Decimal("30.0")


def test_infusion_sets_day0_and_computes_dose(path, rome_clinician):
    _ld(path, rome_clinician, days_before=5)
    infusion = _infuse(path, rome_clinician, cells=3e7)
    path.patient.refresh_from_db()
    assert path.patient.day0 == TODAY
    assert infusion.dose_per_kg == pytest.approx(1e6)
    assert infusion.percent_of_target == pytest.approx(100)
    assert infusion.dose_window == "within"
    assert path.patient.study_day(path.apheresis.performed_on) == -35
    latest = path.patient.history.latest()
    assert latest.history_change_reason == services.DAY0_REASON


def test_out_of_window_dose_needs_a_justification(path, rome_clinician):
    with pytest.raises(ValidationError) as err:
        _infuse(path, rome_clinician, cells=1.5e7)  # 0.5e6/kg, below 0.8e6
    assert "out_of_window_justification" in err.value.message_dict
    assert not Infusion.objects.exists()
    path.patient.refresh_from_db()
    assert path.patient.day0 is None
    infusion = _infuse(
        path, rome_clinician, cells=1.5e7, out_of_window_justification="low expansion; only dose"
    )
    assert infusion.dose_window == "below"


def test_a_bag_cannot_be_infused_twice(path, rome_clinician):
    _infuse(path, rome_clinician)
    with pytest.raises(ValidationError) as err:
        _infuse(path, rome_clinician, on=TODAY, is_reinfusion=True)
    assert "infused_on" in err.value.message_dict or "bags" in err.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        InfusionBag.objects.create(infusion=Infusion.objects.get(), bag=path.bags[0])


def test_second_infusion_must_be_flagged_and_after_day0(path, rome_clinician):
    _infuse(path, rome_clinician, on=TODAY - dt.timedelta(days=3))
    with pytest.raises(ValidationError) as err:
        _infuse(path, rome_clinician, bags=[path.bags[1]])
    assert "is_reinfusion" in err.value.message_dict
    second = _infuse(path, rome_clinician, bags=[path.bags[1]], is_reinfusion=True)
    path.patient.refresh_from_db()
    assert second.is_reinfusion and path.patient.day0 == TODAY - dt.timedelta(days=3)


def test_database_allows_only_one_day0_per_patient(path, rome_clinician):
    first = _infuse(path, rome_clinician)
    with pytest.raises(IntegrityError), transaction.atomic():
        Infusion.objects.create(
            patient=path.patient,
            run=path.run,
            infused_on=TODAY,
            growth=path.growth,
            weight_kg=Decimal("30"),
            target_cells_per_kg=1e6,
            cells_required=3e7,
            car_t_cells_infused=3e7,
            volume_infused_ml=Decimal("15"),
            dose_per_kg=1e6,
            percent_of_target=100,
            dose_window="within",
        )
    assert Infusion.objects.get() == first


def test_lymphodepletion_after_day0_is_rejected(path, rome_clinician):
    _infuse(path, rome_clinician, on=TODAY - dt.timedelta(days=2))
    with pytest.raises(ValidationError) as err:
        _ld(path, rome_clinician, days_before=1)
    assert "given_on" in err.value.message_dict
    assert not LymphodepletionDose.objects.exists()


def test_infusion_before_recorded_lymphodepletion_is_rejected(path, rome_clinician):
    _ld(path, rome_clinician, days_before=1)
    with pytest.raises(ValidationError) as err:
        _infuse(path, rome_clinician, on=TODAY - dt.timedelta(days=2))
    assert "infused_on" in err.value.message_dict


def test_manufacturing_end_before_start_and_start_before_apheresis_are_rejected(path, rome_clinician):
    with pytest.raises(ValidationError) as err:
        services.manufacturing_run_record(
            apheresis=path.apheresis,
            product=make_product(),
            started_on=TODAY - dt.timedelta(days=10),
            finished_on=TODAY - dt.timedelta(days=12),
            product_state="fresh",
            recorded_by=rome_clinician,
        )
    assert "finished_on" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        services.manufacturing_run_record(
            apheresis=path.apheresis,
            product=make_product(),
            started_on=TODAY - dt.timedelta(days=60),
            finished_on=TODAY - dt.timedelta(days=12),
            product_state="fresh",
            recorded_by=rome_clinician,
        )
    assert "started_on" in err.value.message_dict
    assert ManufacturingRun.objects.count() == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("transduction_efficiency_pct", Decimal("120")),
        ("viability_pct", Decimal("-1")),
        ("cd4_cd8_ratio", Decimal("0")),
    ],
)
def test_manufacturing_percentages_out_of_range_name_the_field(path, rome_clinician, field, value):
    with pytest.raises(ValidationError) as err:
        services.manufacturing_run_record(
            apheresis=path.apheresis,
            product=make_product(),
            started_on=TODAY - dt.timedelta(days=30),
            finished_on=TODAY - dt.timedelta(days=20),
            product_state="fresh",
            recorded_by=rome_clinician,
            **{field: value},
        )
    assert field in err.value.message_dict


def test_apheresis_before_birth_is_rejected(rome, rome_clinician):
    patient = enrol(rome, rome_clinician)
    with pytest.raises(ValidationError) as err:
        services.apheresis_record(
            patient=patient, performed_on=dt.date(2010, 1, 1), recorded_by=rome_clinician
        )
    assert "performed_on" in err.value.message_dict


@pytest.mark.parametrize(
    ("kind", "spec", "result", "passed"),
    [
        ("viability", {"spec_min": 70}, {"result_value": 92}, True),
        ("viability", {"spec_min": 70}, {"result_value": 65}, False),
        ("endotoxin", {"spec_max": 5}, {"result_value": 5}, True),
        ("sterility", {"spec_expected": "negative"}, {"result_text": "Negative"}, True),
        ("mycoplasma", {"spec_expected": "negative"}, {"result_text": "positive"}, False),
    ],
)
def test_release_tests_are_judged_against_their_specification(
    path, rome_clinician, kind, spec, result, passed
):
    row = services.release_test_record(run=path.run, kind=kind, recorded_by=rome_clinician, **spec, **result)
    assert row.passed is passed


def test_release_test_without_result_is_rejected(path, rome_clinician):
    with pytest.raises(ValidationError) as err:
        services.release_test_record(
            run=path.run, kind="sterility", spec_expected="negative", recorded_by=rome_clinician
        )
    assert "result_text" in err.value.message_dict
    assert not ReleaseTest.objects.exists()


def test_every_write_on_the_path_is_audited(path, rome_clinician):
    _ld(path, rome_clinician)
    _infuse(path, rome_clinician)
    for row in [
        path.growth,
        path.apheresis,
        path.run,
        *path.bags,
        LymphodepletionDose.objects.get(),
        Infusion.objects.get(),
    ]:
        entry = row.history.earliest()
        assert (entry.history_type, entry.history_user) == ("+", rome_clinician), row
