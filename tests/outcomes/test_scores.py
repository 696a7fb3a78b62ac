"""Tests for outcomes/scores.py (GRADING.md §5–8; DESIGN.md §3 wins where they differ).

Pure functions: no database, no Django.
"""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outcomes.scores import (
    CMAS_ITEM_MAXIMA,
    MMT8_ITEMS,
    MRSS_SITES,
    SCORES_VERSION,
    SLEDAI_2K_WEIGHTS,
    SLEDAI_MAJOR_ORGAN,
    STEROID_FACTORS,
    clinical_sledai_2k,
    cmas,
    cmas_timed_item,
    doris_remission,
    eustar_active,
    eustar_activity_index,
    jdm_percent_improvement,
    jdm_response,
    jdm_total_improvement_score,
    lldas,
    lldas_major_organ_activity,
    mmt8,
    mrss,
    pediatric_egfr,
    prednisone_equivalent_mg,
    printo_inactive_jdm,
    sledai_2k,
)

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None, database=None)

# --- SLEDAI-2K ----------------------------------------------------------------------------------------------

EXPECTED_SLEDAI_2K_WEIGHTS = {
    "seizure": 8,
    "psychosis": 8,
    "organic_brain_syndrome": 8,
    "visual_disturbance": 8,
    "cranial_nerve_disorder": 8,
    "lupus_headache": 8,
    "cva": 8,
    "vasculitis": 8,
    "arthritis": 4,
    "myositis": 4,
    "urinary_casts": 4,
    "hematuria": 4,
    "proteinuria": 4,
    "pyuria": 4,
    "rash": 2,
    "alopecia": 2,
    "mucosal_ulcers": 2,
    "pleurisy": 2,
    "pericarditis": 2,
    "low_complement": 2,
    "increased_dna_binding": 2,
    "fever": 1,
    "thrombocytopenia": 1,
    "leukopenia": 1,
}


def test_sledai_2k_weights_are_the_24_published_codes_summing_to_105():
    assert dict(SLEDAI_2K_WEIGHTS) == EXPECTED_SLEDAI_2K_WEIGHTS
    assert len(SLEDAI_2K_WEIGHTS) == 24
    assert sum(SLEDAI_2K_WEIGHTS.values()) == 105


def test_sledai_2k_weights_cannot_be_changed_by_a_caller():
    with pytest.raises(TypeError):
        SLEDAI_2K_WEIGHTS["fever"] = 8  # type: ignore[index]


def test_scores_version():
    assert SCORES_VERSION == "1.0.0"


@pytest.mark.parametrize(
    ("descriptors", "total", "clinical"),
    [
        (["arthritis", "low_complement", "increased_dna_binding"], 8, 4),
        (["seizure", "fever"], 9, 9),
        (["low_complement", "increased_dna_binding"], 4, 0),
        (list(EXPECTED_SLEDAI_2K_WEIGHTS), 105, 101),
        ([], 0, 0),
        (["thrombocytopenia"], 1, 1),
        (["proteinuria"], 4, 4),
        (("rash", "alopecia", "mucosal_ulcers"), 6, 6),
        ({"vasculitis", "pleurisy"}, 10, 10),
        (["leukopenia", "leukopenia", "leukopenia"], 1, 1),  # repeated descriptor counts once
        (["low_complement", "low_complement"], 2, 0),
    ],
)
def test_sledai_2k_and_clinical_sledai_2k(descriptors, total, clinical):
    assert sledai_2k(descriptors) == total
    assert clinical_sledai_2k(descriptors) == clinical


def test_sledai_2k_accepts_a_generator():
    assert sledai_2k(code for code in ["cva", "fever"]) == 9


@pytest.mark.parametrize(
    "descriptors",
    [
        ["Arthritis"],  # codes are exact lower case
        ["arthritis", "malar_rash"],
        ["haematuria"],  # the code is the US spelling
        [None],
        [8],
        "arthritis",  # a bare string would be read letter by letter
        {"arthritis": True},  # a mapping could hide False values
        None,
        42,
    ],
)
def test_sledai_2k_with_unknown_or_malformed_descriptors_is_invalid(descriptors):
    with pytest.raises(ValueError, match="descriptors"):
        sledai_2k(descriptors)
    with pytest.raises(ValueError, match="descriptors"):
        clinical_sledai_2k(descriptors)


def test_unknown_descriptor_error_lists_allowed_codes():
    with pytest.raises(ValueError, match="allowed: .*alopecia.*vasculitis"):
        sledai_2k(["lupus_nephritis"])


@PROPERTY_SETTINGS
@given(st.lists(st.sampled_from(sorted(EXPECTED_SLEDAI_2K_WEIGHTS)), max_size=40))
def test_sledai_2k_is_within_0_105_and_clinical_never_exceeds_it(descriptors):
    total = sledai_2k(descriptors)
    clinical = clinical_sledai_2k(descriptors)
    assert 0 <= clinical <= total <= 105
    assert total - clinical in (0, 2, 4)
    assert total == sum(EXPECTED_SLEDAI_2K_WEIGHTS[code] for code in set(descriptors))


# --- LLDAS major organ mapping ------------------------------------------------------------------------------


def test_sledai_major_organ_mapping():
    assert {organ: set(codes) for organ, codes in SLEDAI_MAJOR_ORGAN.items()} == {
        "renal": {"urinary_casts", "hematuria", "proteinuria", "pyuria"},
        "cns": {
            "seizure",
            "psychosis",
            "organic_brain_syndrome",
            "visual_disturbance",
            "cranial_nerve_disorder",
            "lupus_headache",
            "cva",
        },
        "vasculitis": {"vasculitis"},
        "cardiopulmonary": {"pleurisy", "pericarditis"},
        "fever": {"fever"},
    }


@pytest.mark.parametrize(
    ("descriptors", "expected"),
    [
        (["proteinuria"], True),
        (["pyuria"], True),
        (["lupus_headache"], True),
        (["vasculitis"], True),
        (["pericarditis"], True),
        (["fever"], True),
        (["low_complement", "increased_dna_binding"], False),
        (["arthritis", "rash", "thrombocytopenia", "leukopenia", "myositis"], False),
        ([], False),
    ],
)
def test_lldas_major_organ_activity(descriptors, expected):
    assert lldas_major_organ_activity(descriptors) is expected


def test_lldas_major_organ_activity_rejects_unknown_codes():
    with pytest.raises(ValueError, match="descriptors"):
        lldas_major_organ_activity(["nephritis"])


# --- DORIS remission ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clinical_sledai", "physician_global", "prednisone", "expected"),
    [
        (0, 0.4, 5.0, True),  # on MMF: maintenance immunosuppression allowed
        (0, 0.5, 5.0, False),  # PGA must be < 0.5
        (0, 0.49, 5.0, True),
        (0, 0.4, 5.5, False),
        (0, 0.4, 5, True),  # prednisone <= 5 mg/day
        (0, 0.0, 0.0, True),
        (1, 0.0, 0.0, False),
        (4, 0.3, 0.0, False),
        (0, 3.0, 0.0, False),
    ],
)
def test_doris_remission(clinical_sledai, physician_global, prednisone, expected):
    result = doris_remission(
        clinical_sledai=clinical_sledai, physician_global=physician_global, prednisone_mg_per_day=prednisone
    )
    assert result is expected


def test_doris_remission_ignores_serology():
    # anti-dsDNA high + low C3, HCQ only: cSLEDAI 0
    clinical = clinical_sledai_2k(["increased_dna_binding", "low_complement"])
    assert doris_remission(clinical_sledai=clinical, physician_global=0.3, prednisone_mg_per_day=0) is True


@pytest.mark.parametrize(
    ("argument", "kwargs"),
    [
        ("clinical_sledai", {"clinical_sledai": -1}),
        ("clinical_sledai", {"clinical_sledai": 102}),  # clinical SLEDAI-2K maximum is 101
        ("clinical_sledai", {"clinical_sledai": 0.0}),
        ("clinical_sledai", {"clinical_sledai": False}),
        ("clinical_sledai", {"clinical_sledai": None}),
        ("physician_global", {"physician_global": 3.1}),
        ("physician_global", {"physician_global": -0.1}),
        ("physician_global", {"physician_global": math.nan}),
        ("prednisone_mg_per_day", {"prednisone_mg_per_day": -5}),
        ("prednisone_mg_per_day", {"prednisone_mg_per_day": math.inf}),
        ("prednisone_mg_per_day", {"prednisone_mg_per_day": True}),
    ],
)
def test_doris_remission_with_invalid_input_is_invalid(argument, kwargs):
    arguments = {"clinical_sledai": 0, "physician_global": 0.2, "prednisone_mg_per_day": 0.0} | kwargs
    with pytest.raises(ValueError, match=argument):
        doris_remission(**arguments)


# --- LLDAS --------------------------------------------------------------------------------------------------

LLDAS_MET = {
    "sledai_2k": 4,
    "major_organ_activity": False,
    "new_activity": False,
    "physician_global": 1.0,
    "prednisone_mg_per_day": 7.5,
}


def test_lldas_with_serological_sledai_4_pga_1_and_prednisone_7_5_is_met():
    descriptors = ["low_complement", "increased_dna_binding"]
    assert (
        lldas(
            sledai_2k=sledai_2k(descriptors),
            major_organ_activity=lldas_major_organ_activity(descriptors),
            new_activity=False,
            physician_global=1.0,
            prednisone_mg_per_day=7.5,
        )
        is True
    )


def test_lldas_with_sledai_4_from_proteinuria_is_not_met():
    descriptors = ["proteinuria"]
    assert (
        lldas(
            sledai_2k=sledai_2k(descriptors),
            major_organ_activity=lldas_major_organ_activity(descriptors),
            new_activity=False,
            physician_global=0.0,
            prednisone_mg_per_day=0.0,
        )
        is False
    )


def test_lldas_on_prednisolone_7_5_mg_is_met():
    prednisone = prednisone_equivalent_mg("prednisolone", 7.5)
    assert lldas(**(LLDAS_MET | {"prednisone_mg_per_day": prednisone})) is True


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, True),
        ({"sledai_2k": 0}, True),
        ({"sledai_2k": 5}, False),
        ({"physician_global": 1.1}, False),
        ({"physician_global": 0.0}, True),
        ({"prednisone_mg_per_day": 8.0}, False),
        ({"prednisone_mg_per_day": 7.51}, False),
        ({"prednisone_mg_per_day": Decimal("7.5")}, True),
        ({"major_organ_activity": True}, False),
        ({"new_activity": True}, False),
        ({"non_standard_immunosuppression": True}, False),
        ({"haemolytic_anaemia_or_gi_activity": True}, False),
        ({"non_standard_immunosuppression": False, "haemolytic_anaemia_or_gi_activity": False}, True),
    ],
)
def test_lldas_boundaries(change, expected):
    assert lldas(**(LLDAS_MET | change)) is expected


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("sledai_2k", -1),
        ("sledai_2k", 106),
        ("sledai_2k", 4.0),
        ("sledai_2k", True),
        ("major_organ_activity", 0),
        ("major_organ_activity", None),
        ("new_activity", "no"),
        ("physician_global", 3.5),
        ("physician_global", math.nan),
        ("prednisone_mg_per_day", -0.5),
        ("non_standard_immunosuppression", 1),
        ("haemolytic_anaemia_or_gi_activity", None),
    ],
)
def test_lldas_with_invalid_input_is_invalid(argument, value):
    with pytest.raises(ValueError, match=argument):
        lldas(**(LLDAS_MET | {argument: value}))


# --- CMAS ---------------------------------------------------------------------------------------------------

CMAS_MAXIMA = {
    "head_elevation": 5,
    "leg_raise": 2,
    "straight_leg_lift": 5,
    "supine_to_prone": 3,
    "sit_ups": 6,
    "supine_to_sit": 3,
    "arm_raise_straighten": 3,
    "arm_raise_duration": 4,
    "floor_sit": 3,
    "all_fours": 4,
    "floor_rise": 4,
    "chair_rise": 4,
    "stool_step": 3,
    "pick_up": 3,
}


def test_cmas_item_maxima_are_the_14_items_summing_to_52():
    assert dict(CMAS_ITEM_MAXIMA) == CMAS_MAXIMA
    assert sum(CMAS_ITEM_MAXIMA.values()) == 52


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (CMAS_MAXIMA, 52),
        (CMAS_MAXIMA | {"sit_ups": 4}, 50),  # sit-ups 4 of 6
        (dict.fromkeys(CMAS_MAXIMA, 0), 0),
        (CMAS_MAXIMA | {"head_elevation": 4, "arm_raise_duration": 2, "pick_up": 0}, 46),
    ],
)
def test_cmas_total(items, expected):
    assert cmas(items) == expected


@pytest.mark.parametrize(
    ("items", "match"),
    [
        ({k: v for k, v in CMAS_MAXIMA.items() if k != "pick_up"}, "pick_up"),  # every item required
        ({}, "items"),
        (CMAS_MAXIMA | {"sit_ups": 7}, "sit_ups"),  # above the item maximum
        (CMAS_MAXIMA | {"leg_raise": 3}, "leg_raise"),
        (CMAS_MAXIMA | {"floor_rise": -1}, "floor_rise"),
        (CMAS_MAXIMA | {"chair_rise": 2.5}, "chair_rise"),
        (CMAS_MAXIMA | {"chair_rise": 2.0}, "chair_rise"),
        (CMAS_MAXIMA | {"leg_raise": True}, "leg_raise"),  # bools are not scores
        (CMAS_MAXIMA | {"stool_step": None}, "stool_step"),
        (CMAS_MAXIMA | {"head_lift": 5}, "head_lift"),  # unknown code
        (CMAS_MAXIMA | {"Head_Elevation": 5}, "Head_Elevation"),
        ([("head_elevation", 5)], "items"),
    ],
)
def test_cmas_with_invalid_items_is_invalid(items, match):
    with pytest.raises(ValueError, match=match):
        cmas(items)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (120, 5),
        (119, 4),
        (119.9, 4),
        (60, 4),
        (59.9, 3),
        (30, 3),
        (29, 2),
        (10, 2),
        (9, 1),
        (9.99, 1),
        (0.5, 1),
        (0, 0),
        (0.0, 0),
        (600, 5),
    ],
)
def test_cmas_head_elevation_time_bands(seconds, expected):
    assert cmas_timed_item(seconds) == expected
    assert cmas_timed_item(seconds, "head_elevation") == expected
    assert cmas_timed_item(seconds, item="straight_leg_lift") == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0, 0), (1, 1), (9.9, 1), (10, 2), (29.9, 2), (30, 3), (59.9, 3), (60, 4), (120, 4), (300, 4)],
)
def test_cmas_arm_raise_duration_time_bands(seconds, expected):
    assert cmas_timed_item(seconds, item="arm_raise_duration") == expected


@pytest.mark.parametrize(
    ("argument", "seconds", "item"),
    [
        ("seconds", -1, "head_elevation"),
        ("seconds", math.nan, "head_elevation"),
        ("seconds", math.inf, "head_elevation"),
        ("seconds", True, "head_elevation"),
        ("seconds", None, "head_elevation"),
        ("item", 30, "sit_ups"),  # not a timed item
        ("item", 30, "Head_Elevation"),
        ("item", 30, "arm_raise"),
    ],
)
def test_cmas_timed_item_with_invalid_input_is_invalid(argument, seconds, item):
    with pytest.raises(ValueError, match=argument):
        cmas_timed_item(seconds, item=item)


@PROPERTY_SETTINGS
@given(
    first=st.floats(min_value=0, max_value=1000),
    second=st.floats(min_value=0, max_value=1000),
    item=st.sampled_from(["head_elevation", "straight_leg_lift", "arm_raise_duration"]),
)
def test_cmas_timed_item_never_decreases_with_longer_holds_and_stays_within_item_maximum(first, second, item):
    low, high = sorted((first, second))
    assert 0 <= cmas_timed_item(low, item) <= cmas_timed_item(high, item) <= CMAS_MAXIMA[item]


@PROPERTY_SETTINGS
@given(st.fixed_dictionaries({code: st.integers(0, maximum) for code, maximum in CMAS_MAXIMA.items()}))
def test_cmas_is_the_sum_of_items_within_0_52(items):
    assert cmas(items) == sum(items.values())
    assert 0 <= cmas(items) <= 52


# --- MMT8 ---------------------------------------------------------------------------------------------------

MMT8_ALL_10 = dict.fromkeys(
    [
        "neck_flexors",
        "deltoid_middle",
        "biceps_brachii",
        "wrist_extensors",
        "gluteus_maximus",
        "gluteus_medius",
        "quadriceps",
        "ankle_dorsiflexors",
    ],
    10,
)


def test_mmt8_items_are_the_eight_imacs_groups():
    assert set(MMT8_ITEMS) == set(MMT8_ALL_10)
    assert len(MMT8_ITEMS) == 8


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (MMT8_ALL_10, 80),
        (dict.fromkeys(MMT8_ALL_10, 9) | {"neck_flexors": 6}, 69),  # 6 + 7 × 9
        (dict.fromkeys(MMT8_ALL_10, 0), 0),
    ],
)
def test_mmt8_unilateral_total(items, expected):
    assert mmt8(items) == expected


@pytest.mark.parametrize(
    ("items", "match"),
    [
        ({k: v for k, v in MMT8_ALL_10.items() if k != "quadriceps"}, "quadriceps"),
        (MMT8_ALL_10 | {"quadriceps": 11}, "quadriceps"),
        (MMT8_ALL_10 | {"deltoid_middle": -1}, "deltoid_middle"),
        (MMT8_ALL_10 | {"deltoid_middle": 9.5}, "deltoid_middle"),
        (MMT8_ALL_10 | {"wrist_extensors": True}, "wrist_extensors"),
        (MMT8_ALL_10 | {"neck_extensors": 10}, "neck_extensors"),  # MMT24 group, not MMT8
        ("all 10", "items"),
    ],
)
def test_mmt8_with_invalid_items_is_invalid(items, match):
    with pytest.raises(ValueError, match=match):
        mmt8(items)


# --- JDM Total Improvement Score ----------------------------------------------------------------------------


def _tis(physician, parent, muscle, chaq, enzyme, extramuscular):
    return {
        "physician_global": physician,
        "patient_global": parent,
        "muscle_strength": muscle,
        "function": chaq,
        "enzymes": enzyme,
        "extramuscular": extramuscular,
    }


@pytest.mark.parametrize(
    ("case", "improvement", "tis", "category"),
    [
        ("J1", _tis(40, 20, 12.5, 25, 0, 30), 65.0, "moderate"),
        ("J2", _tis(10, 0, 5, 10, 0, 10), 30.0, "minimal"),
        ("J3", _tis(5, 5, 2, 5, 5, 5), 0.0, "none"),
        ("J4", _tis(41, 41, 31, 41, 41, 41), 100.0, "major"),
    ],
)
def test_jdm_total_improvement_score_reference_cases(case, improvement, tis, category):
    assert jdm_total_improvement_score(improvement) == pytest.approx(tis)
    assert jdm_response(jdm_total_improvement_score(improvement)) == category


@pytest.mark.parametrize(
    ("measure", "percent", "points"),
    [
        ("physician_global", -50, 0.0),  # any worsening scores 0
        ("physician_global", 5, 0.0),
        ("physician_global", 5.01, 7.5),
        ("physician_global", 15, 7.5),  # upper edges inclusive
        ("physician_global", 15.01, 15.0),
        ("physician_global", 25, 15.0),
        ("physician_global", 40, 17.5),
        ("physician_global", 40.01, 20.0),
        ("physician_global", 100, 20.0),
        ("patient_global", 15, 2.5),
        ("patient_global", 25, 5.0),
        ("patient_global", 40, 7.5),
        ("patient_global", 41, 10.0),
        ("muscle_strength", -10, 0.0),
        ("muscle_strength", 2, 0.0),
        ("muscle_strength", 2.01, 10.0),
        ("muscle_strength", 10, 10.0),
        ("muscle_strength", 20, 20.0),
        ("muscle_strength", 30, 27.5),
        ("muscle_strength", 30.01, 32.5),
        ("function", 15, 5.0),
        ("function", 25, 7.5),
        ("function", 40, 7.5),
        ("function", 40.5, 10.0),
        ("enzymes", 15, 2.5),
        ("enzymes", 25, 5.0),
        ("enzymes", 40, 7.5),
        ("enzymes", 100, 7.5),
        ("enzymes", -300, 0.0),
        ("extramuscular", 15, 7.5),
        ("extramuscular", 25, 12.5),
        ("extramuscular", 40, 15.0),
        ("extramuscular", 50, 20.0),
    ],
)
def test_jdm_tis_band_of_each_measure(measure, percent, points):
    improvement = _tis(0, 0, 0, 0, 0, 0) | {measure: percent}
    assert jdm_total_improvement_score(improvement) == points


def test_jdm_physician_global_6_to_2_is_40_percent_and_scores_17_5():
    percent = jdm_percent_improvement("physician_global", 6, 2)  # J5
    assert percent == pytest.approx(40.0)
    assert jdm_total_improvement_score(_tis(percent, 0, 0, 0, 0, 0)) == 17.5


@pytest.mark.parametrize(
    ("baseline", "follow_up", "points"),
    [
        (0.8, 0.35, 5.0),  # computes as 15.000000000000002 %; stays in the 5-15 band
        (0.5, 0.35, 0.0),  # computes as 5.000000000000001 %; stays at 0
    ],
)
def test_jdm_tis_band_edges_survive_floating_point_percentages(baseline, follow_up, points):
    percent = jdm_percent_improvement("function", baseline, follow_up)
    assert jdm_total_improvement_score(_tis(0, 0, 0, percent, 0, 0)) == points


@pytest.mark.parametrize(
    ("measure", "baseline", "follow_up", "expected"),
    [
        ("physician_global", 6, 2, 40.0),
        ("patient_global", 5, 7, -20.0),
        ("function", 1.5, 0.75, 25.0),  # CHAQ 0-3
        ("extramuscular", 4, 0, 40.0),
        ("mmt8", 60, 70, 12.5),  # (FU - BL) / 80
        ("mmt8", 70, 60, -12.5),
        ("cmas", 26, 39, 25.0),  # (FU - BL) / 52
        ("enzymes", 1000, 150, 85.0),  # relative change of the most abnormal enzyme
        ("enzymes", 200, 400, -100.0),
        ("enzymes", 200, 0, 100.0),
        ("physician_global", 0, 0, 0.0),
    ],
)
def test_jdm_percent_improvement(measure, baseline, follow_up, expected):
    assert jdm_percent_improvement(measure, baseline, follow_up) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("argument", "measure", "baseline", "follow_up"),
    [
        ("measure", "mmt24", 60, 70),
        ("measure", "CMAS", 20, 30),
        ("measure", "muscle_strength", 20, 30),
        ("baseline", "physician_global", 11, 2),
        ("follow_up", "physician_global", 6, -1),
        ("baseline", "function", 3.1, 1),
        ("follow_up", "mmt8", 60, 81),
        ("follow_up", "cmas", 20, 53),
        ("baseline", "enzymes", 0, 100),  # relative change needs a positive baseline
        ("follow_up", "enzymes", 100, -1),
        ("baseline", "cmas", math.nan, 20),
        ("follow_up", "mmt8", 60, True),
    ],
)
def test_jdm_percent_improvement_with_invalid_input_is_invalid(argument, measure, baseline, follow_up):
    with pytest.raises(ValueError, match=argument):
        jdm_percent_improvement(measure, baseline, follow_up)


@pytest.mark.parametrize(
    ("improvement", "match"),
    [
        ({k: v for k, v in _tis(0, 0, 0, 0, 0, 0).items() if k != "enzymes"}, "enzymes"),
        (_tis(0, 0, 0, 0, 0, 0) | {"mmt8": 10}, "mmt8"),
        (_tis(0, 0, 0, 0, 0, 0) | {"enzymes": math.nan}, "enzymes"),
        (_tis(0, 0, 0, 0, 0, 0) | {"function": None}, "function"),
        (_tis(0, 0, 0, 0, 0, 0) | {"function": True}, "function"),
        (_tis(0, 0, 0, 0, 0, 0) | {"physician_global": 100.5}, "physician_global"),
        ([40, 20, 12.5, 25, 0, 30], "percent_improvement"),
    ],
)
def test_jdm_total_improvement_score_with_invalid_input_is_invalid(improvement, match):
    with pytest.raises(ValueError, match=match):
        jdm_total_improvement_score(improvement)


@pytest.mark.parametrize(
    ("tis", "category"),
    [
        (0, "none"),
        (29.9, "none"),
        (30, "minimal"),
        (44.99, "minimal"),
        (45, "moderate"),
        (69.9, "moderate"),
        (70, "major"),
        (100, "major"),
    ],
)
def test_jdm_response_thresholds(tis, category):
    assert jdm_response(tis) == category


@pytest.mark.parametrize("tis", [-1, 100.5, math.nan, None, True])
def test_jdm_response_with_invalid_score_is_invalid(tis):
    with pytest.raises(ValueError, match="tis"):
        jdm_response(tis)


@PROPERTY_SETTINGS
@given(
    st.fixed_dictionaries(
        {
            key: st.floats(min_value=-500, max_value=100)
            for key in (
                "physician_global",
                "patient_global",
                "muscle_strength",
                "function",
                "enzymes",
                "extramuscular",
            )
        }
    )
)
def test_jdm_tis_is_within_0_100_in_steps_of_2_5(improvement):
    tis = jdm_total_improvement_score(improvement)
    assert 0 <= tis <= 100
    assert (tis / 2.5) == int(tis / 2.5)
    assert jdm_response(tis) in ("none", "minimal", "moderate", "major")


# --- PRINTO clinically inactive JDM -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ck", "cmas_total", "mmt8_total", "pga", "expected"),
    [
        (160, 50, 78, 0.1, True),  # 3 of 4
        (160, 47, 80, 0.2, False),  # 2 of 4
        (150, 48, 78, 0.2, True),  # all four, each exactly on its boundary
        (151, 47, 77, 0.21, False),  # none
        (100, 52, 80, 0.0, True),
        (None, 50, 80, 0.1, True),  # not measured counts as not met: still 3 of 4
        (None, None, 80, 0.1, False),
        (None, None, None, None, False),
        (120, 52, 80, None, True),
        (Decimal("150.0"), 48, 77, 0.3, False),
    ],
)
def test_printo_inactive_jdm(ck, cmas_total, mmt8_total, pga, expected):
    result = printo_inactive_jdm(ck_u_l=ck, cmas=cmas_total, mmt8=mmt8_total, physician_global=pga)
    assert result is expected


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("ck_u_l", -1),
        ("ck_u_l", math.inf),
        ("cmas", 53),
        ("cmas", -1),
        ("mmt8", 81),
        ("mmt8", True),
        ("physician_global", 10.5),
        ("physician_global", math.nan),
    ],
)
def test_printo_inactive_jdm_with_invalid_input_is_invalid(argument, value):
    arguments = {"ck_u_l": 100, "cmas": 50, "mmt8": 80, "physician_global": 0.1} | {argument: value}
    with pytest.raises(ValueError, match=argument):
        printo_inactive_jdm(**arguments)


# --- mRSS ---------------------------------------------------------------------------------------------------

MRSS_ZERO = dict.fromkeys(
    ["face", "anterior_chest", "abdomen"]
    + [
        f"{area}_{side}"
        for area in ("fingers", "hands", "forearms", "upper_arms", "thighs", "lower_legs", "feet")
        for side in ("right", "left")
    ],
    0,
)


def test_mrss_sites_are_the_17_sites():
    assert set(MRSS_SITES) == set(MRSS_ZERO)
    assert len(MRSS_SITES) == 17


@pytest.mark.parametrize(
    ("sites", "expected"),
    [
        (dict.fromkeys(MRSS_ZERO, 3), 51),
        (
            MRSS_ZERO | {"fingers_right": 2, "fingers_left": 2, "hands_right": 1, "hands_left": 1, "face": 1},
            7,
        ),
        (MRSS_ZERO, 0),
    ],
)
def test_mrss_total(sites, expected):
    assert mrss(sites) == expected


@pytest.mark.parametrize(
    ("sites", "match"),
    [
        ({k: v for k, v in MRSS_ZERO.items() if k != "feet_left"}, "feet_left"),
        (MRSS_ZERO | {"face": 4}, "face"),
        (MRSS_ZERO | {"abdomen": -1}, "abdomen"),
        (MRSS_ZERO | {"abdomen": 1.5}, "abdomen"),
        (MRSS_ZERO | {"thighs_right": False}, "thighs_right"),
        (MRSS_ZERO | {"back": 1}, "back"),
        (MRSS_ZERO | {"fingers": 1}, "fingers"),
        (None, "sites"),
    ],
)
def test_mrss_with_invalid_sites_is_invalid(sites, match):
    with pytest.raises(ValueError, match=match):
        mrss(sites)


@PROPERTY_SETTINGS
@given(st.fixed_dictionaries({site: st.integers(0, 3) for site in MRSS_ZERO}))
def test_mrss_is_the_sum_of_sites_within_0_51(sites):
    total = mrss(sites)
    assert total == sum(sites.values())
    assert 0 <= total <= 51


# --- Revised EUSTAR activity index --------------------------------------------------------------------------

EUSTAR_NONE = {
    "skin_worsening": False,
    "digital_ulcers": False,
    "mrss": 0,
    "tendon_friction_rubs": False,
    "crp_mg_dl": 0.2,
    "dlco_percent_predicted": 95.0,
}


@pytest.mark.parametrize(
    ("change", "index", "active"),
    [
        ({"digital_ulcers": True, "crp_mg_dl": 1.2}, 3.75, True),
        ({"mrss": 18}, 0.0, False),  # binary item needs mRSS > 18
        ({"mrss": 19}, 1.5, False),
        (
            {
                "skin_worsening": True,
                "digital_ulcers": True,
                "mrss": 30,
                "tendon_friction_rubs": True,
                "crp_mg_dl": 2.0,
                "dlco_percent_predicted": 50.0,
            },
            10.0,
            True,
        ),
        ({}, 0.0, False),
        ({"skin_worsening": True}, 1.5, False),
        ({"tendon_friction_rubs": True}, 2.25, False),
        ({"tendon_friction_rubs": True, "dlco_percent_predicted": 69.9}, 3.25, True),
        ({"crp_mg_dl": 1.0}, 0.0, False),  # needs CRP > 1 mg/dL
        ({"crp_mg_dl": 1.01}, 2.25, False),
        ({"dlco_percent_predicted": 70.0}, 0.0, False),  # needs DLCO < 70 %
        ({"dlco_percent_predicted": 69.9}, 1.0, False),
        ({"skin_worsening": True, "dlco_percent_predicted": 60}, 2.5, True),  # exactly 2.5 is active
    ],
)
def test_eustar_activity_index(change, index, active):
    result = eustar_activity_index(**(EUSTAR_NONE | change))
    assert result == pytest.approx(index)
    assert eustar_active(result) is active


@pytest.mark.parametrize(("index", "active"), [(0, False), (2.49, False), (2.5, True), (10, True)])
def test_eustar_active_threshold(index, active):
    assert eustar_active(index) is active


@pytest.mark.parametrize("index", [-0.1, 10.5, math.nan, None, True])
def test_eustar_active_with_invalid_index_is_invalid(index):
    with pytest.raises(ValueError, match="index"):
        eustar_active(index)


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("skin_worsening", 1),
        ("digital_ulcers", None),
        ("tendon_friction_rubs", "yes"),
        ("mrss", 52),
        ("mrss", -1),
        ("mrss", 18.5),
        ("mrss", True),
        ("crp_mg_dl", -0.1),
        ("crp_mg_dl", math.nan),
        ("dlco_percent_predicted", -5),
        ("dlco_percent_predicted", math.inf),
    ],
)
def test_eustar_activity_index_with_invalid_input_is_invalid(argument, value):
    with pytest.raises(ValueError, match=argument):
        eustar_activity_index(**(EUSTAR_NONE | {argument: value}))


# --- Prednisone equivalents ---------------------------------------------------------------------------------


def test_steroid_factor_table():
    assert dict(STEROID_FACTORS) == {
        "prednisone": 1.0,
        "prednisolone": 1.0,
        "methylprednisolone": 1.25,
        "dexamethasone": 6.667,
        "hydrocortisone": 0.25,
        "deflazacort": 0.8333,
        "betamethasone": 6.667,
        "triamcinolone": 1.25,
    }


@pytest.mark.parametrize(
    ("drug", "dose_mg", "expected"),
    [
        ("methylprednisolone", 1000, 1250.0),
        ("dexamethasone", 10, 66.67),
        ("hydrocortisone", 100, 25.0),
        ("deflazacort", 30, 25.0),  # 24.999: compared with a tolerance
        ("prednisolone", 7.5, 7.5),
        ("prednisone", 20, 20.0),
        ("betamethasone", 0.75, 5.0),
        ("triamcinolone", 4, 5.0),
        ("Prednisolone", 5, 5.0),  # drug names are case-insensitive
        ("DEXAMETHASONE", 0.75, 5.0),
        ("prednisone", 0, 0.0),
    ],
)
def test_prednisone_equivalent_mg(drug, dose_mg, expected):
    assert prednisone_equivalent_mg(drug, dose_mg) == pytest.approx(expected, abs=0.01)


def test_dexamethasone_factor_is_configurable():
    assert prednisone_equivalent_mg("dexamethasone", 0.6, dexamethasone_factor=8.333) == pytest.approx(
        5.0, abs=1e-3
    )
    assert prednisone_equivalent_mg("prednisone", 10, dexamethasone_factor=8.333) == 10.0


def test_betamethasone_factor_is_configurable():
    assert prednisone_equivalent_mg("betamethasone", 0.6, betamethasone_factor=8.333) == pytest.approx(
        5.0, abs=1e-3
    )


@pytest.mark.parametrize(
    ("argument", "drug", "dose_mg", "kwargs"),
    [
        ("drug", "cortisone", 25, {}),
        ("drug", "", 25, {}),
        ("drug", None, 25, {}),
        ("dose_mg", "prednisone", -5, {}),
        ("dose_mg", "prednisone", math.nan, {}),
        ("dose_mg", "prednisone", True, {}),
        ("dose_mg", "prednisone", "5", {}),
        ("dexamethasone_factor", "dexamethasone", 1, {"dexamethasone_factor": 0}),
        ("dexamethasone_factor", "dexamethasone", 1, {"dexamethasone_factor": -6.667}),
        ("betamethasone_factor", "betamethasone", 1, {"betamethasone_factor": math.inf}),
    ],
)
def test_prednisone_equivalent_with_invalid_input_is_invalid(argument, drug, dose_mg, kwargs):
    with pytest.raises(ValueError, match=argument):
        prednisone_equivalent_mg(drug, dose_mg, **kwargs)


@PROPERTY_SETTINGS
@given(
    drug=st.sampled_from(sorted(STEROID_FACTORS)),
    dose=st.floats(min_value=0, max_value=2000),
    factor=st.floats(min_value=1, max_value=10),
)
def test_prednisone_equivalent_scales_linearly_with_dose(drug, dose, factor):
    single = prednisone_equivalent_mg(drug, dose)
    assert single >= 0
    assert prednisone_equivalent_mg(drug, dose * factor) == pytest.approx(
        single * factor, rel=1e-9, abs=1e-12
    )


# --- Paediatric eGFR (bedside Schwartz) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("height_cm", "kwargs", "expected"),
    [
        (140, {"creatinine_umol_l": 50}, 102.2),
        (140, {"creatinine_mg_dl": 0.6}, 96.367),
        (110, {"creatinine_umol_l": 35}, 114.714),
        (110, {"creatinine_mg_dl": 0.4}, 113.575),
    ],
)
def test_bedside_schwartz_egfr(height_cm, kwargs, expected):
    assert pediatric_egfr(height_cm=height_cm, **kwargs) == pytest.approx(expected, abs=1e-3)


def test_bedside_schwartz_agrees_across_creatinine_units():
    in_umol = pediatric_egfr(height_cm=140, creatinine_umol_l=0.6 * 88.4)
    in_mg = pediatric_egfr(height_cm=140, creatinine_mg_dl=0.6)
    assert in_umol == pytest.approx(in_mg, rel=1e-3)


@pytest.mark.parametrize(
    ("argument", "kwargs"),
    [
        ("creatinine_umol_l", {"height_cm": 140}),  # neither creatinine
        ("creatinine_mg_dl", {"height_cm": 140, "creatinine_umol_l": 50, "creatinine_mg_dl": 0.6}),  # both
        ("creatinine_umol_l", {"height_cm": 140, "creatinine_umol_l": 0}),
        ("creatinine_mg_dl", {"height_cm": 140, "creatinine_mg_dl": -0.5}),
        ("creatinine_mg_dl", {"height_cm": 140, "creatinine_mg_dl": math.nan}),
        ("height_cm", {"height_cm": 0, "creatinine_umol_l": 50}),
        ("height_cm", {"height_cm": True, "creatinine_umol_l": 50}),
        ("height_cm", {"height_cm": math.inf, "creatinine_umol_l": 50}),
    ],
)
def test_pediatric_egfr_with_invalid_input_is_invalid(argument, kwargs):
    with pytest.raises(ValueError, match=argument):
        pediatric_egfr(**kwargs)
