"""Tests for dosing/calculations.py: BSA, cell dose, infusion volume, lymphodepletion (GRADING.md §8.2–8.4).

Pure functions: no database, no Django.
"""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dosing.calculations import (
    BSA_FORMULAS,
    CALCULATIONS_VERSION,
    body_surface_area,
    car_t_cells_required,
    dose_deviation_percent,
    dose_per_kg,
    dose_within_window,
    infusion_volume_ml,
    lymphodepletion_dose_mg,
    percent_of_target,
)

# Tisagenlecleucel B-ALL window (GRADING.md §8.4): <= 50 kg per kg, > 50 kg total.
TISAGENLECLEUCEL = {
    "min_per_kg": 0.2e6,
    "max_per_kg": 5.0e6,
    "min_total": 0.1e8,
    "max_total": 2.5e8,
    "weight_cutoff_kg": 50.0,
}

BAD_NUMBERS = [0, 0.0, -1, -0.001, math.nan, math.inf, -math.inf, True, False, None, "35"]


def test_module_constants():
    assert BSA_FORMULAS == ("mosteller", "haycock", "dubois")
    assert CALCULATIONS_VERSION == "1.0.0"


# --- Body surface area --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("height_cm", "weight_kg", "mosteller", "haycock", "dubois"),
    [
        (140, 35, 1.1667, 1.1644, 1.1709),
        (170, 70, 1.8181, 1.8257, 1.8097),
        (110, 18, 0.7416, 0.7401, 0.7411),
        (75, 9, 0.4330, 0.4380, 0.4182),
    ],
)
def test_bsa_matches_reference_table_for_each_formula(height_cm, weight_kg, mosteller, haycock, dubois):
    assert body_surface_area(height_cm, weight_kg) == pytest.approx(mosteller, abs=1e-4)
    assert body_surface_area(height_cm, weight_kg, "mosteller") == pytest.approx(mosteller, abs=1e-4)
    assert body_surface_area(height_cm, weight_kg, formula="haycock") == pytest.approx(haycock, abs=1e-4)
    assert body_surface_area(height_cm, weight_kg, formula="dubois") == pytest.approx(dubois, abs=1e-4)


def test_mosteller_bsa_of_140cm_35kg_child():
    assert body_surface_area(140, 35) == pytest.approx(math.sqrt(140 * 35 / 3600))
    assert body_surface_area(140.0, 35.0) == pytest.approx(1.1667, abs=1e-4)


def test_mosteller_is_the_default_formula():
    assert body_surface_area(110, 18) == body_surface_area(110, 18, formula="mosteller")


def test_bsa_accepts_decimal_measurements():
    assert body_surface_area(Decimal("140"), Decimal("35.0")) == pytest.approx(1.1667, abs=1e-4)


def test_bsa_is_not_rounded():
    assert body_surface_area(140, 35) != round(body_surface_area(140, 35), 4)


@pytest.mark.parametrize("formula", ["Mosteller", "MOSTELLER", "gehan_george", "du_bois", "", None, 1])
def test_bsa_with_unknown_formula_is_invalid(formula):
    with pytest.raises(ValueError, match="formula") as excinfo:
        body_surface_area(140, 35, formula=formula)
    assert "mosteller, haycock, dubois" in str(excinfo.value)


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_bsa_with_invalid_height_is_invalid(bad):
    with pytest.raises(ValueError, match="height_cm"):
        body_surface_area(bad, 35)


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_bsa_with_invalid_weight_is_invalid(bad):
    with pytest.raises(ValueError, match="weight_kg"):
        body_surface_area(140, bad)


@settings(max_examples=100, deadline=None, database=None)
@given(
    height=st.floats(min_value=40, max_value=200),
    weight=st.floats(min_value=1, max_value=150),
    extra=st.floats(min_value=0.01, max_value=50),
    formula=st.sampled_from(BSA_FORMULAS),
)
def test_bsa_increases_with_weight_at_fixed_height(height, weight, extra, formula):
    assert body_surface_area(height, weight + extra, formula) > body_surface_area(height, weight, formula)


@settings(max_examples=100, deadline=None, database=None)
@given(
    height=st.floats(min_value=40, max_value=200),
    weight=st.floats(min_value=1, max_value=150),
    extra=st.floats(min_value=0.01, max_value=50),
    formula=st.sampled_from(BSA_FORMULAS),
)
def test_bsa_increases_with_height_at_fixed_weight(height, weight, extra, formula):
    assert body_surface_area(height + extra, weight, formula) > body_surface_area(height, weight, formula)


# --- Lymphodepletion ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("drug", "mg_per_m2", "bsa_m2", "expected_mg"),
    [
        ("fludarabine", 25, 1.1667, 29.17),
        ("cyclophosphamide", 1000, 1.1667, 1166.7),
        ("fludarabine (tisagenlecleucel label)", 30, 1.1667, 35.0),
        ("cyclophosphamide (tisagenlecleucel label)", 500, 1.1667, 583.35),
    ],
)
def test_lymphodepletion_daily_dose_is_mg_per_m2_times_bsa(drug, mg_per_m2, bsa_m2, expected_mg):
    assert lymphodepletion_dose_mg(mg_per_m2, bsa_m2) == pytest.approx(expected_mg, abs=0.01)


def test_fludarabine_25_mg_m2_over_three_days_at_bsa_1_1667_is_87_5_mg():
    assert 3 * lymphodepletion_dose_mg(25, 1.1667) == pytest.approx(87.5, abs=0.01)


def test_lymphodepletion_from_computed_bsa_of_140cm_35kg_child():
    bsa = body_surface_area(140, 35)
    assert lymphodepletion_dose_mg(1000, bsa) == pytest.approx(1166.7, abs=0.05)


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_lymphodepletion_with_invalid_mg_per_m2_is_invalid(bad):
    with pytest.raises(ValueError, match="mg_per_m2"):
        lymphodepletion_dose_mg(bad, 1.1667)


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_lymphodepletion_with_invalid_bsa_is_invalid(bad):
    with pytest.raises(ValueError, match="bsa_m2"):
        lymphodepletion_dose_mg(25, bad)


# --- CAR T cell dose ----------------------------------------------------------------------------------------


def test_30kg_child_at_default_target_needs_3e7_car_t_cells():
    assert car_t_cells_required(30) == pytest.approx(3.0e7)


@pytest.mark.parametrize(
    ("weight_kg", "target", "expected"),
    [(30, 1e6, 3.0e7), (30, 0.1e6, 3.0e6), (12.5, 1e6, 1.25e7), (70, 0.5e6, 3.5e7)],
)
def test_cells_required_is_weight_times_target(weight_kg, target, expected):
    assert car_t_cells_required(weight_kg, target_cells_per_kg=target) == pytest.approx(expected)


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_cells_required_with_invalid_weight_is_invalid(bad):
    with pytest.raises(ValueError, match="weight_kg"):
        car_t_cells_required(bad)


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_cells_required_with_invalid_target_is_invalid(bad):
    with pytest.raises(ValueError, match="target_cells_per_kg"):
        car_t_cells_required(30, target_cells_per_kg=bad)


@pytest.mark.parametrize(
    ("cells", "per_ml", "expected_ml"),
    [(3.0e7, 1.0e6, 30.0), (3.0e7, 2.0e6, 15.0), (2.5e7, 1.0e7, 2.5)],
)
def test_infusion_volume_is_cells_divided_by_concentration(cells, per_ml, expected_ml):
    assert infusion_volume_ml(cells, per_ml) == pytest.approx(expected_ml)


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_infusion_volume_with_invalid_concentration_is_invalid(bad):
    with pytest.raises(ValueError, match="car_t_cells_per_ml"):
        infusion_volume_ml(3.0e7, bad)


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_infusion_volume_with_invalid_cell_number_is_invalid(bad):
    with pytest.raises(ValueError, match="cells_required"):
        infusion_volume_ml(bad, 1.0e6)


def test_2_5e7_cells_in_30kg_child_is_0_833e6_per_kg_and_83_percent_of_target():
    per_kg = dose_per_kg(2.5e7, 30)
    assert per_kg == pytest.approx(0.8333e6, rel=1e-4)
    assert percent_of_target(per_kg, 1e6) == pytest.approx(83.33, abs=0.01)
    assert percent_of_target(per_kg) == pytest.approx(83.33, abs=0.01)


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_dose_per_kg_with_invalid_cell_number_is_invalid(bad):
    with pytest.raises(ValueError, match="car_t_cells_infused"):
        dose_per_kg(bad, 30)


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_dose_per_kg_with_invalid_weight_is_invalid(bad):
    with pytest.raises(ValueError, match="weight_kg"):
        dose_per_kg(2.5e7, bad)


@pytest.mark.parametrize(
    ("argument", "kwargs"),
    [
        ("dose_per_kg", {"dose_per_kg": 0, "target_per_kg": 1e6}),
        ("target_per_kg", {"dose_per_kg": 1e6, "target_per_kg": 0}),
        ("target_per_kg", {"dose_per_kg": 1e6, "target_per_kg": math.inf}),
        ("dose_per_kg", {"dose_per_kg": -1e6, "target_per_kg": 1e6}),
    ],
)
def test_percent_of_target_with_invalid_input_is_invalid(argument, kwargs):
    with pytest.raises(ValueError, match=argument):
        percent_of_target(**kwargs)


# --- Product dose window ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weight_kg", "per_kg", "expected"),
    [
        (30, 0.15e6, "below"),  # GRADING §8.4 example
        (30, 0.2e6, "within"),  # lower edge inclusive
        (30, 1.0e6, "within"),
        (30, 5.0e6, "within"),  # upper edge inclusive
        (30, 5.01e6, "above"),
        (50.0, 0.19e6, "below"),  # 50 kg is still the per-kg window
        (50.0, 5.0e6, "within"),
        (70, 2.6e8 / 70, "above"),  # GRADING §8.4 example: 2.6e8 total
        (70, 2.5e8 / 70, "within"),  # total upper edge inclusive despite float division
        (70, 0.1e8 / 70, "within"),  # total lower edge inclusive
        (70, 0.09e8 / 70, "below"),
        (70, 3.0e6, "within"),  # 2.1e8 total: within, although no per-kg rule applies above 50 kg
    ],
)
def test_tisagenlecleucel_window(weight_kg, per_kg, expected):
    assert dose_within_window(dose_per_kg=per_kg, weight_kg=weight_kg, **TISAGENLECLEUCEL) == expected


@pytest.mark.parametrize(("weight_kg", "expected"), [(50.0, "within"), (50.1, "above")])
def test_child_at_the_weight_cutoff_uses_the_per_kg_window_and_above_it_the_total(weight_kg, expected):
    window = {
        "min_per_kg": 1e6,
        "max_per_kg": 2e6,
        "min_total": 1e7,
        "max_total": 5e7,
        "weight_cutoff_kg": 50,
    }
    # 1.5e6/kg is inside the per-kg window, but 50 kg × 1.5e6 = 7.5e7 is above the total window.
    assert dose_within_window(dose_per_kg=1.5e6, weight_kg=weight_kg, **window) == expected


def test_above_cutoff_without_total_window_uses_the_per_kg_window():
    assert dose_within_window(dose_per_kg=3e6, weight_kg=80, max_per_kg=2e6, weight_cutoff_kg=50) == "above"


@pytest.mark.parametrize(
    ("window", "per_kg", "expected"),
    [
        ({"min_per_kg": 1e6}, 0.9e6, "below"),
        ({"min_per_kg": 1e6}, 50e6, "within"),
        ({"max_per_kg": 1e6}, 0.01e6, "within"),
        ({"max_per_kg": 1e6}, 1.1e6, "above"),
        ({"min_total": 1e7, "max_total": 3e7}, 1.1e6, "above"),  # 33 kg given below: 3.63e7 total
        ({"min_total": 1e7, "max_total": 3e7}, 0.2e6, "below"),
        ({"min_total": 1e7, "max_total": 3e7}, 0.5e6, "within"),
    ],
)
def test_one_sided_and_total_only_windows(window, per_kg, expected):
    assert dose_within_window(dose_per_kg=per_kg, weight_kg=33, **window) == expected


@pytest.mark.parametrize(
    ("argument", "kwargs"),
    [
        ("dose_per_kg", {"dose_per_kg": 0, "weight_kg": 30, "min_per_kg": 1e6}),
        ("dose_per_kg", {"dose_per_kg": math.nan, "weight_kg": 30, "min_per_kg": 1e6}),
        ("weight_kg", {"dose_per_kg": 1e6, "weight_kg": -30, "min_per_kg": 1e6}),
        ("weight_kg", {"dose_per_kg": 1e6, "weight_kg": True, "min_per_kg": 1e6}),
        ("min_per_kg", {"dose_per_kg": 1e6, "weight_kg": 30, "min_per_kg": 0}),
        ("max_total", {"dose_per_kg": 1e6, "weight_kg": 30, "max_total": -1}),
        ("weight_cutoff_kg", {"dose_per_kg": 1e6, "weight_kg": 30, "min_per_kg": 1, "weight_cutoff_kg": 0}),
        ("min_per_kg", {"dose_per_kg": 1e6, "weight_kg": 30, "min_per_kg": 5e6, "max_per_kg": 1e6}),
        ("min_total", {"dose_per_kg": 1e6, "weight_kg": 30, "min_total": 5e8, "max_total": 1e8}),
        ("weight_cutoff_kg", {"dose_per_kg": 1e6, "weight_kg": 30, "min_per_kg": 1e5, "max_total": 1e8}),
        ("min_per_kg", {"dose_per_kg": 1e6, "weight_kg": 30}),
        ("min_per_kg", {"dose_per_kg": 1e6, "weight_kg": 30, "max_total": 1e8, "weight_cutoff_kg": 50}),
    ],
)
def test_dose_window_with_invalid_input_is_invalid(argument, kwargs):
    with pytest.raises(ValueError, match=argument):
        dose_within_window(**kwargs)


def test_dose_window_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        dose_within_window(1e6, 30)  # type: ignore[misc]


# --- Dose deviation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("planned", "given_mg", "expected"),
    [(100, 100, 0.0), (100, 90, -10.0), (100, 110, 10.0), (29.17, 30, 2.845), (1166.7, 1000, -14.288)],
)
def test_dose_deviation_is_signed_percent_of_plan(planned, given_mg, expected):
    assert dose_deviation_percent(planned, given_mg) == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_dose_deviation_with_invalid_planned_dose_is_invalid(bad):
    with pytest.raises(ValueError, match="planned_mg"):
        dose_deviation_percent(bad, 30)


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_dose_deviation_with_invalid_given_dose_is_invalid(bad):
    with pytest.raises(ValueError, match="given_mg"):
        dose_deviation_percent(30, bad)


@settings(max_examples=100, deadline=None, database=None)
@given(
    weight=st.floats(min_value=2, max_value=150),
    target=st.floats(min_value=1e4, max_value=1e8),
    per_ml=st.floats(min_value=1e4, max_value=1e9),
)
def test_cells_required_round_trip_through_volume_and_dose(weight, target, per_ml):
    cells = car_t_cells_required(weight, target)
    volume = infusion_volume_ml(cells, per_ml)
    assert dose_per_kg(volume * per_ml, weight) == pytest.approx(target, rel=1e-9)
    assert percent_of_target(dose_per_kg(cells, weight), target) == pytest.approx(100.0, rel=1e-9)
