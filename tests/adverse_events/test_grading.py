"""Tests of adverse_events/grading.py: the worked examples of GRADING.md §1-4 (as settled by DESIGN.md §3),
every threshold edge, the error rules, and a few properties. Pure functions: no database, no Django."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adverse_events import grading
from adverse_events.grading import (
    CAPD_ANSWERS,
    CAPD_ITEMS,
    CEREBRAL_EDEMA_CODES,
    CONSCIOUSNESS_LEVELS,
    CTCAE_TERMS,
    MOTOR_CODES,
    OXYGEN_DEVICES,
    SEIZURE_CODES,
    VASOPRESSOR_NAMES,
    capd_score,
    crs_grade,
    ctcae_grade,
    icaht_assessment,
    icaht_grade,
    icans_grade,
    ice_score,
)

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None)


# ----------------------------------------------------------------------------------------------------------
# Module surface
# ----------------------------------------------------------------------------------------------------------


def test_rule_versions_are_named():
    assert grading.CRS_RULE == "ASTCT 2019"
    assert grading.ICANS_RULE == "ASTCT 2019"
    assert grading.ICAHT_RULE == "EHA/EBMT 2023"
    assert grading.CTCAE_VERSION == "5.0"
    assert grading.CTCAE_RULE == "CTCAE 5.0"
    assert grading.ALGORITHM_VERSION == "1.0.0"


def test_code_lists_are_immutable_lower_case_strings():
    for codes in (
        grading.VASOPRESSORS,
        OXYGEN_DEVICES,
        CONSCIOUSNESS_LEVELS,
        SEIZURE_CODES,
        MOTOR_CODES,
        CEREBRAL_EDEMA_CODES,
        CAPD_ANSWERS,
        CTCAE_TERMS,
        grading.ICAHT_DURATION_MODES,
    ):
        assert isinstance(codes, tuple)
        assert all(code == code.lower() for code in codes)
        assert len(set(codes)) == len(codes)
    assert isinstance(VASOPRESSOR_NAMES, frozenset)
    assert {"noradrenaline", "adrenaline"} <= VASOPRESSOR_NAMES


def test_code_lists_match_the_contract():
    assert OXYGEN_DEVICES == (
        "none",
        "blow_by",
        "nasal_cannula",
        "high_flow_nasal_cannula",
        "facemask",
        "non_rebreather",
        "venturi",
        "cpap",
        "bipap",
        "mechanical_ventilation",
    )
    assert CONSCIOUSNESS_LEVELS == (
        "alert",
        "awakens_spontaneously",
        "awakens_to_voice",
        "awakens_to_touch",
        "unarousable",
    )
    assert SEIZURE_CODES == ("none", "resolved_rapidly", "prolonged_or_repetitive")
    assert MOTOR_CODES == ("none", "deep_focal_weakness")
    assert CEREBRAL_EDEMA_CODES == ("none", "focal", "diffuse")
    assert CAPD_ANSWERS == ("never", "rarely", "sometimes", "often", "always")
    assert CAPD_ITEMS == (1, 2, 3, 4, 5, 6, 7, 8)
    assert set(CTCAE_TERMS) == {
        "neutrophil_count_decreased",
        "platelet_count_decreased",
        "lymphocyte_count_decreased",
        "white_blood_cell_decreased",
        "anemia",
    }
    assert set(grading.VASOPRESSORS) == {
        "norepinephrine",
        "epinephrine",
        "dopamine",
        "phenylephrine",
        "vasopressin",
    }


@pytest.mark.parametrize(
    "function",
    [crs_grade, icans_grade, ice_score, capd_score, icaht_grade, icaht_assessment, ctcae_grade],
)
def test_every_public_function_documents_its_rule_and_units(function):
    doc = function.__doc__ or ""
    assert any(rule in doc for rule in ("ASTCT 2019", "EHA/EBMT 2023", "CTCAE v5.0", "Traube"))


# ----------------------------------------------------------------------------------------------------------
# CRS (ASTCT 2019)
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "kwargs", "expected"),
    [
        ("C1 38.0 is fever", {"temperature_c": 38.0}, 1),
        ("C2 37.9 is not fever", {"temperature_c": 37.9}, 0),
        (
            "C3 norepinephrine and low-flow cannula",
            {
                "temperature_c": 38.6,
                "vasopressors": ["norepinephrine"],
                "oxygen_device": "nasal_cannula",
                "oxygen_flow_l_min": 2,
            },
            3,
        ),
        (
            "C4 cannula 6.0 L/min is low-flow",
            {"temperature_c": 38.4, "oxygen_device": "nasal_cannula", "oxygen_flow_l_min": 6.0},
            2,
        ),
        (
            "C4 cannula 6.5 L/min is high-flow",
            {"temperature_c": 38.4, "oxygen_device": "nasal_cannula", "oxygen_flow_l_min": 6.5},
            3,
        ),
        (
            "C5 post-tocilizumab afebrile norepinephrine and vasopressin",
            {
                "temperature_c": 37.0,
                "after_anticytokine_or_antipyretic": True,
                "vasopressors": ["norepinephrine", "vasopressin"],
            },
            3,
        ),
        (
            "C6 post-tocilizumab afebrile norepinephrine and epinephrine",
            {
                "temperature_c": 37.0,
                "after_anticytokine_or_antipyretic": True,
                "vasopressors": ["norepinephrine", "epinephrine"],
            },
            4,
        ),
        ("C7 fluid bolus, room air", {"temperature_c": 39.0, "hypotension": True}, 2),
        ("C8 BiPAP", {"temperature_c": 38.2, "oxygen_device": "bipap"}, 4),
    ],
)
def test_crs_worked_examples_c1_to_c8(case, kwargs, expected):
    assert crs_grade(**kwargs) == expected, case


def test_crs_at_exactly_38_0_degrees_is_fever_grade_1():
    assert crs_grade(temperature_c=38.0) == 1


def test_crs_at_37_9_degrees_without_treatment_is_grade_0():
    assert crs_grade(temperature_c=37.9) == 0


def test_crs_with_bipap_is_grade_4():
    assert crs_grade(temperature_c=38.5, oxygen_device="bipap") == 4


@pytest.mark.parametrize(
    ("flow", "expected"),
    [(0.5, 2), (2, 2), (6.0, 2), (6.01, 3), (6.1, 3), (15, 3)],
)
def test_crs_nasal_cannula_is_low_flow_up_to_6_l_min_inclusive(flow, expected):
    assert crs_grade(temperature_c=38.5, oxygen_device="nasal_cannula", oxygen_flow_l_min=flow) == expected


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        ("none", 1),
        ("blow_by", 2),
        ("high_flow_nasal_cannula", 3),
        ("facemask", 3),
        ("non_rebreather", 3),
        ("venturi", 3),
        ("cpap", 4),
        ("bipap", 4),
        ("mechanical_ventilation", 4),
    ],
)
def test_crs_oxygen_device_sets_the_hypoxia_grade(device, expected):
    assert crs_grade(temperature_c=38.5, oxygen_device=device) == expected


def test_crs_flow_is_recorded_but_ignored_for_devices_other_than_nasal_cannula():
    assert crs_grade(temperature_c=38.5, oxygen_device="high_flow_nasal_cannula", oxygen_flow_l_min=4) == 3
    assert crs_grade(temperature_c=38.5, oxygen_device="blow_by", oxygen_flow_l_min=10) == 2


@pytest.mark.parametrize(
    ("vasopressors", "expected"),
    [
        ((), 1),
        (["vasopressin"], 3),
        (["norepinephrine"], 3),
        (["dopamine"], 3),
        (["phenylephrine"], 3),
        (["norepinephrine", "vasopressin"], 3),
        (["norepinephrine", "noradrenaline"], 3),
        (["epinephrine", "adrenaline", "EPINEPHRINE"], 3),
        (["norepinephrine", "norepinephrine"], 3),
        (["norepinephrine", "epinephrine"], 4),
        (["Dopamine", "Phenylephrine"], 4),
        (["noradrenaline", "adrenaline", "vasopressin"], 4),
        ({"norepinephrine", "dopamine"}, 4),
    ],
)
def test_crs_vasopressor_count_excludes_vasopressin_and_counts_each_drug_once(vasopressors, expected):
    assert crs_grade(temperature_c=38.5, vasopressors=vasopressors) == expected


def test_crs_vasopressor_names_are_case_insensitive():
    assert crs_grade(temperature_c=38.5, vasopressors=["NorEpinephrine", " Vasopressin "]) == 3


def test_crs_any_vasopressor_implies_hypotension():
    assert crs_grade(temperature_c=38.5, hypotension=False, vasopressors=["vasopressin"]) == 3


def test_crs_hypotension_needing_fluids_only_is_grade_2():
    assert crs_grade(temperature_c=38.5, hypotension=True) == 2


def test_crs_grade_is_the_worse_of_hypotension_and_hypoxia():
    assert crs_grade(temperature_c=38.5, hypotension=True, oxygen_device="cpap") == 4
    assert (
        crs_grade(temperature_c=38.5, vasopressors=["dopamine", "epinephrine"], oxygen_device="blow_by") == 4
    )


def test_crs_fever_with_other_cause_is_not_crs():
    assert crs_grade(temperature_c=39.5, fever_other_cause=True, hypotension=True, oxygen_device="bipap") == 0


def test_crs_without_fever_and_without_prior_treatment_is_grade_0_despite_hypoxia():
    assert crs_grade(temperature_c=37.0, vasopressors=["norepinephrine"], oxygen_device="bipap") == 0
    assert crs_grade(temperature_c=None, hypotension=True) == 0


def test_crs_after_treatment_without_fever_hypotension_or_hypoxia_is_grade_0():
    assert crs_grade(temperature_c=36.8, after_anticytokine_or_antipyretic=True) == 0
    assert crs_grade(temperature_c=None, after_anticytokine_or_antipyretic=True) == 0


def test_crs_after_treatment_with_fever_alone_is_grade_1():
    assert crs_grade(temperature_c=38.3, after_anticytokine_or_antipyretic=True) == 1


def test_crs_after_treatment_hypoxia_drives_the_grade_without_fever():
    assert (
        crs_grade(temperature_c=None, after_anticytokine_or_antipyretic=True, oxygen_device="facemask") == 3
    )
    assert (
        crs_grade(
            temperature_c=36.5,
            after_anticytokine_or_antipyretic=True,
            oxygen_device="nasal_cannula",
            oxygen_flow_l_min=6.0,
        )
        == 2
    )


def test_crs_after_treatment_fever_of_other_cause_does_not_give_grade_1():
    assert crs_grade(temperature_c=39.0, fever_other_cause=True, after_anticytokine_or_antipyretic=True) == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"temperature_c": 37.0},
        {"temperature_c": None},
        {"temperature_c": 39.0, "oxygen_device": "bipap", "vasopressors": ["dopamine", "epinephrine"]},
    ],
)
def test_crs_death_from_crs_is_grade_5_whatever_else(kwargs):
    assert crs_grade(died_of_crs=True, **kwargs) == 5


def test_crs_accepts_decimal_temperature_from_the_database():
    assert crs_grade(temperature_c=Decimal("38.0")) == 1
    assert crs_grade(temperature_c=Decimal("37.9")) == 0


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"temperature_c": math.nan}, "temperature_c"),
        ({"temperature_c": math.inf}, "temperature_c"),
        ({"temperature_c": -1.0}, "temperature_c"),
        ({"temperature_c": True}, "temperature_c"),
        ({"temperature_c": "38.5"}, "temperature_c"),
        ({"temperature_c": 38.5, "vasopressors": ["milrinone"]}, "vasopressors"),
        ({"temperature_c": 38.5, "vasopressors": "norepinephrine"}, "vasopressors"),
        ({"temperature_c": 38.5, "vasopressors": [None]}, "vasopressors"),
        ({"temperature_c": 38.5, "vasopressors": 3}, "vasopressors"),
        ({"temperature_c": 38.5, "oxygen_device": "Nasal_Cannula", "oxygen_flow_l_min": 2}, "oxygen_device"),
        ({"temperature_c": 38.5, "oxygen_device": "oxygen_tent"}, "oxygen_device"),
        ({"temperature_c": 38.5, "oxygen_device": None}, "oxygen_device"),
        ({"temperature_c": 38.5, "oxygen_device": "nasal_cannula"}, "oxygen_flow_l_min"),
        (
            {"temperature_c": 38.5, "oxygen_device": "nasal_cannula", "oxygen_flow_l_min": 0},
            "oxygen_flow_l_min",
        ),
        ({"temperature_c": 38.5, "oxygen_flow_l_min": 2.0}, "oxygen_flow_l_min"),
        ({"temperature_c": 38.5, "oxygen_device": "facemask", "oxygen_flow_l_min": -1}, "oxygen_flow_l_min"),
        (
            {"temperature_c": 38.5, "oxygen_device": "nasal_cannula", "oxygen_flow_l_min": math.nan},
            "oxygen_flow_l_min",
        ),
        ({"temperature_c": 38.5, "hypotension": "yes"}, "hypotension"),
        ({"temperature_c": 38.5, "fever_other_cause": 1}, "fever_other_cause"),
        (
            {"temperature_c": 38.5, "after_anticytokine_or_antipyretic": None},
            "after_anticytokine_or_antipyretic",
        ),
        ({"temperature_c": 38.5, "died_of_crs": "no"}, "died_of_crs"),
    ],
)
def test_crs_invalid_input_raises_value_error_naming_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        crs_grade(**kwargs)


def test_crs_invalid_input_is_rejected_even_when_the_patient_died():
    with pytest.raises(ValueError, match="vasopressors"):
        crs_grade(temperature_c=38.5, vasopressors=["milrinone"], died_of_crs=True)


def test_crs_error_message_lists_the_allowed_devices():
    with pytest.raises(ValueError, match="mechanical_ventilation"):
        crs_grade(temperature_c=38.5, oxygen_device="ventilator")


# Oxygen support in order of escalation (device, flow in L/min).
OXYGEN_LADDER = (
    ("none", None),
    ("blow_by", None),
    ("nasal_cannula", 1.0),
    ("nasal_cannula", 6.0),
    ("nasal_cannula", 6.1),
    ("high_flow_nasal_cannula", None),
    ("facemask", None),
    ("non_rebreather", None),
    ("venturi", None),
    ("cpap", None),
    ("bipap", None),
    ("mechanical_ventilation", None),
)

crs_context = st.fixed_dictionaries(
    {
        "temperature_c": st.one_of(st.none(), st.floats(min_value=34.0, max_value=42.0)),
        "fever_other_cause": st.booleans(),
        "after_anticytokine_or_antipyretic": st.booleans(),
        "hypotension": st.booleans(),
        "vasopressors": st.lists(st.sampled_from(sorted(VASOPRESSOR_NAMES)), max_size=4),
        "died_of_crs": st.booleans(),
    }
)


@PROPERTY_SETTINGS
@given(context=crs_context, step=st.integers(min_value=0, max_value=len(OXYGEN_LADDER) - 1))
def test_crs_grade_is_always_between_0_and_5(context, step):
    device, flow = OXYGEN_LADDER[step]
    assert 0 <= crs_grade(oxygen_device=device, oxygen_flow_l_min=flow, **context) <= 5


@PROPERTY_SETTINGS
@given(context=crs_context)
def test_crs_grade_never_falls_when_oxygen_support_escalates(context):
    grades = [
        crs_grade(oxygen_device=device, oxygen_flow_l_min=flow, **context) for device, flow in OXYGEN_LADDER
    ]
    assert grades == sorted(grades)


@PROPERTY_SETTINGS
@given(context=crs_context, extra=st.sampled_from(sorted(VASOPRESSOR_NAMES)))
def test_crs_grade_never_falls_when_a_vasopressor_is_added(context, extra):
    before = crs_grade(**context)
    after = crs_grade(**{**context, "vasopressors": [*context["vasopressors"], extra]})
    assert after >= before


# ----------------------------------------------------------------------------------------------------------
# ICE and CAPD
# ----------------------------------------------------------------------------------------------------------

ICE_FULL = {"orientation": 4, "naming": 3, "following_commands": 1, "writing": 1, "attention": 1}


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (ICE_FULL, 10),
        ({"orientation": 0, "naming": 0, "following_commands": 0, "writing": 0, "attention": 0}, 0),
        ({**ICE_FULL, "attention": 0}, 9),
        ({**ICE_FULL, "orientation": 1}, 7),
        ({"orientation": 2, "naming": 2, "following_commands": 1, "writing": 0, "attention": 1}, 6),
    ],
)
def test_ice_score_is_the_sum_of_its_five_items(items, expected):
    assert ice_score(**items) == expected


@pytest.mark.parametrize(
    ("item", "value"),
    [
        ("orientation", 5),
        ("naming", 4),
        ("following_commands", 2),
        ("writing", 2),
        ("attention", 2),
        ("orientation", -1),
        ("naming", True),
        ("attention", False),
        ("orientation", 2.0),
        ("writing", "1"),
        ("naming", None),
    ],
)
def test_ice_item_outside_its_range_or_not_an_int_raises_value_error(item, value):
    with pytest.raises(ValueError, match=item):
        ice_score(**{**ICE_FULL, item: value})


def capd(items_1_to_4: str, items_5_to_8: str, **overrides: str) -> dict[int, str]:
    answers = dict.fromkeys((1, 2, 3, 4), items_1_to_4) | dict.fromkeys((5, 6, 7, 8), items_5_to_8)
    answers.update({int(key.removeprefix("item")): value for key, value in overrides.items()})
    return answers


@pytest.mark.parametrize(
    ("case", "answers", "expected"),
    [
        ("P1 items 1-4 always, 5-8 never", capd("always", "never"), 0),
        ("P2 items 1-4 often, 5-8 rarely", capd("often", "rarely"), 8),
        ("P2 with item 5 sometimes", capd("often", "rarely", item5="sometimes"), 9),
        ("P3 all sometimes", capd("sometimes", "sometimes"), 16),
        ("worst: items 1-4 never, 5-8 always", capd("never", "always"), 32),
        ("reverse scoring of item 1", capd("always", "never", item1="never"), 4),
        ("direct scoring of item 8", capd("always", "never", item8="always"), 4),
    ],
)
def test_capd_worked_examples_and_scoring_direction(case, answers, expected):
    assert capd_score(answers) == expected, case


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({1: "never"}, "answers"),
        (dict.fromkeys(range(1, 8), "never"), "missing"),
        ({**capd("always", "never"), 9: "never"}, "unknown"),
        ({str(k): "never" for k in range(1, 9)}, "unknown"),
        ({True: "never", **dict.fromkeys(range(2, 9), "never")}, "unknown"),
        (capd("always", "never", item3="Often"), r"answers\[3\]"),
        (capd("always", "never", item6="usually"), r"answers\[6\]"),
        (capd("always", "never", item2=None), r"answers\[2\]"),
        ([("1", "never")], "answers"),
    ],
)
def test_capd_incomplete_or_unknown_answers_raise_value_error(answers, message):
    with pytest.raises(ValueError, match=message):
        capd_score(answers)


def test_capd_error_lists_the_allowed_answers():
    with pytest.raises(ValueError, match="sometimes"):
        capd_score(capd("always", "never", item4="seldom"))


@PROPERTY_SETTINGS
@given(answers=st.fixed_dictionaries({item: st.sampled_from(CAPD_ANSWERS) for item in CAPD_ITEMS}))
def test_capd_score_is_always_between_0_and_32(answers):
    assert 0 <= capd_score(answers) <= 32


# ----------------------------------------------------------------------------------------------------------
# ICANS (ASTCT 2019)
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "kwargs", "expected"),
    [
        ("I1 ICE 10, alert", {"age_years": 15, "ice_score": 10}, 0),
        ("I2 ICE 7", {"age_years": 15, "ice_score": 7}, 1),
        ("I2 ICE 6", {"age_years": 15, "ice_score": 6}, 2),
        ("I2 ICE 2", {"age_years": 15, "ice_score": 2}, 3),
        (
            "I3 ICE 3 with rapidly resolving seizure",
            {"age_years": 30, "ice_score": 3, "seizure": "resolved_rapidly"},
            3,
        ),
        (
            "I4 ICE 0 awake with global aphasia",
            {"age_years": 15, "unable_to_perform": True, "awake_with_global_aphasia": True},
            3,
        ),
        (
            "I4 ICE 0 unarousable",
            {"age_years": 15, "unable_to_perform": True, "consciousness": "unarousable"},
            4,
        ),
        (
            "I5 CAPD 9, awakens spontaneously",
            {"age_years": 8, "capd_score": 9, "consciousness": "awakens_spontaneously"},
            3,
        ),
        (
            "I5 CAPD 8, awakens to voice",
            {"age_years": 8, "capd_score": 8, "consciousness": "awakens_to_voice"},
            2,
        ),
        ("I5 CAPD 8, alert", {"age_years": 8, "capd_score": 8}, 1),
        ("I6 age 12.0 uses ICE", {"age_years": 12.0, "ice_score": 8}, 1),
        ("I7 ICE 9 with myoclonus (not passed)", {"age_years": 14, "ice_score": 9}, 1),
    ],
)
def test_icans_worked_examples(case, kwargs, expected):
    assert icans_grade(**kwargs) == expected, case


@pytest.mark.parametrize(
    ("ice", "expected"), [(10, 0), (9, 1), (8, 1), (7, 1), (6, 2), (3, 2), (2, 3), (0, 3)]
)
def test_icans_ice_domain_edges(ice, expected):
    assert icans_grade(age_years=16, ice_score=ice) == expected


@pytest.mark.parametrize(("capd_total", "expected"), [(0, 0), (1, 1), (8, 1), (9, 3), (20, 3), (32, 3)])
def test_icans_capd_domain_edges(capd_total, expected):
    assert icans_grade(age_years=6, capd_score=capd_total) == expected


def test_icans_at_age_11_99_uses_capd_and_rejects_ice():
    assert grading.icans_tool(age_years=11.99) == "capd"
    assert icans_grade(age_years=11.99, capd_score=9) == 3
    with pytest.raises(ValueError, match="ice_score"):
        icans_grade(age_years=11.99, ice_score=10)


def test_icans_at_age_12_0_uses_ice_and_rejects_capd():
    assert grading.icans_tool(age_years=12.0) == "ice"
    assert icans_grade(age_years=12.0, ice_score=2) == 3
    with pytest.raises(ValueError, match="capd_score"):
        icans_grade(age_years=12.0, capd_score=0)


def test_icans_developmental_delay_uses_capd_after_age_12():
    assert grading.icans_tool(age_years=15, developmental_delay=True) == "capd"
    assert icans_grade(age_years=15, developmental_delay=True, capd_score=10) == 3
    with pytest.raises(ValueError, match="ice_score"):
        icans_grade(age_years=15, developmental_delay=True, ice_score=10)


def test_icans_unable_to_perform_ice_is_grade_4():
    assert icans_grade(age_years=13, unable_to_perform=True) == 4


def test_icans_unable_to_perform_capd_is_grade_4():
    assert icans_grade(age_years=5, unable_to_perform=True) == 4


def test_icans_without_a_score_has_an_encephalopathy_domain_of_0():
    assert icans_grade(age_years=13) == 0
    assert icans_grade(age_years=3) == 0
    assert icans_grade(age_years=3, consciousness="awakens_to_voice") == 2


@pytest.mark.parametrize(
    ("domain", "code", "expected"),
    [
        ("consciousness", "alert", 0),
        ("consciousness", "awakens_spontaneously", 1),
        ("consciousness", "awakens_to_voice", 2),
        ("consciousness", "awakens_to_touch", 3),
        ("consciousness", "unarousable", 4),
        ("seizure", "none", 0),
        ("seizure", "resolved_rapidly", 3),
        ("seizure", "prolonged_or_repetitive", 4),
        ("motor", "none", 0),
        ("motor", "deep_focal_weakness", 4),
        ("cerebral_edema", "none", 0),
        ("cerebral_edema", "focal", 3),
        ("cerebral_edema", "diffuse", 4),
    ],
)
def test_icans_each_domain_code_sets_its_grade(domain, code, expected):
    assert icans_grade(age_years=14, ice_score=10, **{domain: code}) == expected
    assert icans_grade(age_years=7, capd_score=0, **{domain: code}) == expected


def test_icans_worst_domain_wins():
    assert (
        icans_grade(age_years=14, ice_score=8, consciousness="awakens_to_voice", cerebral_edema="focal") == 3
    )
    assert icans_grade(age_years=9, capd_score=4, motor="deep_focal_weakness") == 4


def test_icans_death_from_icans_is_grade_5():
    assert icans_grade(age_years=14, ice_score=10, died_of_icans=True) == 5
    assert icans_grade(age_years=4, unable_to_perform=True, died_of_icans=True) == 5


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"age_years": 14, "ice_score": 10, "capd_score": 0}, "capd_score"),
        ({"age_years": 8, "ice_score": 10, "capd_score": 0}, "ice_score"),
        ({"age_years": 14, "capd_score": 3}, "capd_score"),
        ({"age_years": 8, "ice_score": 9}, "ice_score"),
        ({"age_years": 14, "ice_score": 0, "unable_to_perform": True}, "unable_to_perform"),
        ({"age_years": 8, "capd_score": 12, "unable_to_perform": True}, "unable_to_perform"),
        ({"age_years": 14, "awake_with_global_aphasia": True}, "awake_with_global_aphasia"),
        ({"age_years": 14, "ice_score": 0, "awake_with_global_aphasia": True}, "awake_with_global_aphasia"),
        (
            {"age_years": 8, "unable_to_perform": True, "awake_with_global_aphasia": True},
            "awake_with_global_aphasia",
        ),
        ({"age_years": 14, "ice_score": 11}, "ice_score"),
        ({"age_years": 14, "ice_score": -1}, "ice_score"),
        ({"age_years": 14, "ice_score": True}, "ice_score"),
        ({"age_years": 14, "ice_score": 7.0}, "ice_score"),
        ({"age_years": 8, "capd_score": 33}, "capd_score"),
        ({"age_years": 8, "capd_score": False}, "capd_score"),
        ({"age_years": -1}, "age_years"),
        ({"age_years": math.nan}, "age_years"),
        ({"age_years": math.inf}, "age_years"),
        ({"age_years": True}, "age_years"),
        ({"age_years": 14, "consciousness": "Alert"}, "consciousness"),
        ({"age_years": 14, "consciousness": "drowsy"}, "consciousness"),
        ({"age_years": 14, "seizure": "focal"}, "seizure"),
        ({"age_years": 14, "motor": "tremor"}, "motor"),
        ({"age_years": 14, "motor": "myoclonus"}, "motor"),
        ({"age_years": 14, "cerebral_edema": "mild"}, "cerebral_edema"),
        ({"age_years": 14, "developmental_delay": "no"}, "developmental_delay"),
        ({"age_years": 14, "died_of_icans": 0}, "died_of_icans"),
    ],
)
def test_icans_invalid_input_raises_value_error_naming_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        icans_grade(**kwargs)


def test_icans_error_message_lists_the_allowed_codes():
    with pytest.raises(ValueError, match="awakens_to_touch"):
        icans_grade(age_years=14, consciousness="somnolent")


@PROPERTY_SETTINGS
@given(
    age=st.floats(min_value=0, max_value=25),
    delay=st.booleans(),
    score=st.integers(min_value=0, max_value=32),
    score_given=st.booleans(),
    unable=st.booleans(),
    consciousness=st.sampled_from(CONSCIOUSNESS_LEVELS),
    seizure=st.sampled_from(SEIZURE_CODES),
    motor=st.sampled_from(MOTOR_CODES),
    edema=st.sampled_from(CEREBRAL_EDEMA_CODES),
    died=st.booleans(),
)
def test_icans_grade_is_always_between_0_and_5(
    age, delay, score, score_given, unable, consciousness, seizure, motor, edema, died
):
    tool = grading.icans_tool(age_years=age, developmental_delay=delay)
    scores = {}
    if score_given and not unable:
        scores = {"ice_score": min(score, 10)} if tool == "ice" else {"capd_score": score}
    grade = icans_grade(
        age_years=age,
        developmental_delay=delay,
        unable_to_perform=unable,
        consciousness=consciousness,
        seizure=seizure,
        motor=motor,
        cerebral_edema=edema,
        died_of_icans=died,
        **scores,
    )
    assert 0 <= grade <= 5
    assert (grade == 5) == died


# ----------------------------------------------------------------------------------------------------------
# ICAHT (EHA/EBMT 2023)
# ----------------------------------------------------------------------------------------------------------


def anc_series(*segments: tuple[int, int, float], default: float = 1000.0, first: int = 0, last: int = 30):
    """Daily (study day, ANC cells/µL) pairs from ``first`` to ``last``; each segment (start, end, value)
    overrides the default, later segments over earlier ones."""
    values = dict.fromkeys(range(first, last + 1), default)
    for start, end, value in segments:
        for day in range(start, end + 1):
            values[day] = value
    return sorted(values.items())


@pytest.mark.parametrize(
    ("case", "anc", "expected_early"),
    [
        ("H1 <=500 days 2-7 (6 d)", anc_series((2, 7, 300)), 1),
        ("H2 <=500 days 2-8 (7 d)", anc_series((2, 8, 300)), 2),
        ("H3 <=500 days 1-14, <=100 days 3-9", anc_series((1, 14, 300), (3, 9, 50)), 3),
        ("H4 <=500 days 1-20, <=100 days 2-15", anc_series((1, 20, 300), (2, 15, 50)), 4),
        ("H5 episodes joined across 2 days", anc_series((1, 5, 300), (6, 7, 600), (8, 12, 300)), 2),
        ("H6 3 days above is stable recovery", anc_series((1, 5, 300), (6, 8, 600), (9, 12, 300)), 1),
        ("H7 <=500 days 1-30, never recovered", anc_series((1, 30, 300)), 4),
        ("H8 exactly 500 on days 1-7", anc_series((1, 7, 500)), 2),
    ],
)
def test_icaht_early_worked_examples_h1_to_h8(case, anc, expected_early):
    early, late = icaht_grade(anc)
    assert early == expected_early, case
    assert late is None


def test_icaht_h5_joined_episode_lasts_12_days_with_the_bridged_days():
    result = icaht_assessment(anc_series((1, 5, 300), (6, 7, 600), (8, 12, 300)))
    assert result["early_longest_days_le_500"] == 12
    assert result["early_episodes_le_500"] == [(1, 12)]


def test_icaht_h6_longest_episode_is_5_days_and_cumulative_reading_is_9_days():
    anc = anc_series((1, 5, 300), (6, 8, 600), (9, 12, 300))
    result = icaht_assessment(anc)
    assert result["early_longest_days_le_500"] == 5
    assert result["early_cumulative_days_le_500"] == 9
    assert result["early_grade"] == 1
    assert icaht_grade(anc, duration="cumulative") == (2, None)


@pytest.mark.parametrize(
    ("case", "anc", "expected_late"),
    [
        ("L1 900 and 1200", [(45, 900), (60, 1200)], 2),
        ("L2 single value 400", [(40, 400)], 3),
        ("L3 second value above 1500 is transient", [(40, 1400), (60, 1800)], 0),
        ("L4 90 and 300", [(35, 90), (38, 300)], 4),
    ],
)
def test_icaht_late_worked_examples_l1_to_l4(case, anc, expected_late):
    assert icaht_grade(anc) == (None, expected_late), case


@pytest.mark.parametrize(
    ("value", "expected"),
    [(501, 0), (500, 1), (101, 1), (100, 1), (0, 1)],
)
def test_icaht_early_anc_thresholds_are_inclusive_for_a_single_day(value, expected):
    assert icaht_grade(anc_series((10, 10, value)))[0] == expected


@pytest.mark.parametrize(
    ("days", "expected"),
    [(1, 1), (6, 1), (7, 2), (13, 2), (14, 3), (30, 3), (31, 4)],
)
def test_icaht_early_grade_by_days_at_or_below_500(days, expected):
    # An episode starting on day 0 that stops before the end of the window: graded on its duration alone.
    anc = anc_series((0, days - 1, 300))
    assert icaht_assessment(anc)["early_longest_days_le_500"] == days
    assert icaht_grade(anc)[0] == expected


@pytest.mark.parametrize(
    ("days", "expected"),
    [(6, 2), (7, 3), (13, 3), (14, 4)],
)
def test_icaht_early_grade_by_days_at_or_below_100(days, expected):
    # <=500 on two more days than <=100 (6 -> 8 days, grade 2; 13 -> 15 days, grade 3).
    anc = anc_series((5, 5 + days + 1, 300), (6, 6 + days - 1, 100))
    assert icaht_assessment(anc)["early_longest_days_le_100"] == days
    assert icaht_grade(anc)[0] == expected


def test_icaht_anc_101_does_not_count_toward_the_100_arm():
    assert icaht_grade(anc_series((1, 8, 300), (2, 8, 100)))[0] == 3
    assert icaht_grade(anc_series((1, 8, 300), (2, 8, 101)))[0] == 2


def test_icaht_anc_501_does_not_count_toward_the_500_arm():
    assert icaht_grade(anc_series((1, 7, 500)))[0] == 2
    assert icaht_grade(anc_series((1, 7, 501)))[0] == 0


@pytest.mark.parametrize(
    ("start", "expected"),
    [(0, 4), (3, 4), (4, 3), (10, 3)],
)
def test_icaht_episode_starting_on_day_0_to_3_and_lasting_to_day_30_is_grade_4(start, expected):
    assert icaht_grade(anc_series((start, 30, 300)))[0] == expected


def test_icaht_episode_ending_on_day_29_is_not_never_recovered():
    result = icaht_assessment(anc_series((0, 29, 300)))
    assert result["early_longest_days_le_500"] == 30
    assert result["early_never_recovered"] is False
    assert result["early_grade"] == 3


def test_icaht_death_on_day_16_while_neutropenic_since_day_0_is_grade_4():
    anc = anc_series((0, 16, 300), last=16)
    assert icaht_grade(anc, last_day=16) == (4, None)
    # Without last_day the window runs to day 30: the 14 days after the last value stay empty (gap > 7 days).
    assert icaht_grade(anc) == (3, None)


def test_icaht_early_window_ends_on_last_day_and_later_values_are_ignored():
    anc = [*anc_series((0, 20, 300), last=20), (21, 3000), (22, 3000), (23, 3000), (40, 300)]
    result = icaht_assessment(anc, last_day=20)
    assert result["early_window_end"] == 20
    assert result["early_grade"] == 4
    assert result["late_grade"] is None
    assert result["late_window"] is None


def test_icaht_window_end_fill_stops_at_last_day():
    # Last value on day 15, death on day 20: days 16-20 take the day-15 value (5 days <= 7).
    anc = anc_series((0, 15, 300), last=15)
    result = icaht_assessment(anc, last_day=20)
    assert result["early_episodes_le_500"] == [(0, 20)]
    assert result["early_grade"] == 4


def test_icaht_window_end_fill_takes_the_nearest_value_inside_the_window_not_a_later_one():
    # Day 30 takes day 29's 300 (never interpolated toward day 34): the episode lasts to day 30.
    anc = [*anc_series((0, 29, 300), last=29), (34, 3000)]
    result = icaht_assessment(anc)
    assert result["early_episodes_le_500"] == [(0, 30)]
    assert result["early_grade"] == 4


@pytest.mark.parametrize(
    ("last_value_day", "expected_episode", "expected_grade"),
    [(23, (0, 30), 4), (22, (0, 22), 3)],
)
def test_icaht_up_to_7_days_at_the_end_of_the_window_take_the_last_value(
    last_value_day, expected_episode, expected_grade
):
    result = icaht_assessment(anc_series((0, last_value_day, 300), last=last_value_day))
    assert result["early_episodes_le_500"] == [expected_episode]
    assert result["early_grade"] == expected_grade


@pytest.mark.parametrize(
    ("first_value_day", "expected_episode"),
    [(7, (0, 9)), (8, (8, 9))],
)
def test_icaht_up_to_7_days_at_the_start_of_the_window_take_the_first_value(
    first_value_day, expected_episode
):
    anc = anc_series((first_value_day, 9, 300), first=first_value_day)
    assert icaht_assessment(anc)["early_episodes_le_500"] == [expected_episode]


@pytest.mark.parametrize(
    ("right_day", "expected_episodes"),
    [
        # 7 missing days (1..7) between day 0 (1000) and day 8 (200): interpolated, day 5 is exactly 500.
        (8, [(5, 8)]),
        # 8 missing days (1..8): the gap stays empty and counts as above the threshold.
        (9, [(9, 9)]),
    ],
)
def test_icaht_internal_gaps_of_at_most_7_days_are_interpolated(right_day, expected_episodes):
    anc = [(0, 1000), (right_day, 200), *anc_series(first=right_day + 1)]
    assert icaht_assessment(anc)["early_episodes_le_500"] == expected_episodes


def test_icaht_interpolated_values_are_not_rounded():
    # Day 1 lies halfway between 1000 and 1: 500.5 stays above 500 (rounding to 10 would make it 500).
    anc = [(0, 1000), (2, 1), *anc_series(first=3)]
    result = icaht_assessment(anc)
    assert result["early_episodes_le_500"] == [(2, 2)]
    assert result["early_grade"] == 1


def test_icaht_interpolation_fills_missing_days_inside_an_episode():
    # Days 4 and 8 missing between values <= 500: the episode spans days 3-9 (peer case patient 10).
    anc = [(2, 1220), (3, 470), (5, 90), (6, 310), (7, 270), (9, 310), *anc_series(first=10)]
    result = icaht_assessment(anc)
    assert result["early_longest_days_le_500"] == 7
    assert result["early_grade"] == 2


@pytest.mark.parametrize(
    ("days_above", "expected_longest"),
    [(1, 11), (2, 12), (3, 5)],
)
def test_icaht_episodes_join_across_1_or_2_days_above_500_but_not_3(days_above, expected_longest):
    anc = anc_series((1, 5, 300), (6, 5 + days_above, 600), (6 + days_above, 10 + days_above, 300))
    assert icaht_assessment(anc)["early_longest_days_le_500"] == expected_longest


def test_icaht_episodes_at_or_below_100_join_across_days_above_100():
    # <=100 days 1-5 and 8-12, 101 on days 6-7: one 12-day <=100 episode -> 3.
    anc = anc_series((1, 5, 50), (6, 7, 101), (8, 12, 50))
    result = icaht_assessment(anc)
    assert result["early_longest_days_le_100"] == 12
    assert result["early_longest_days_le_500"] == 12
    assert result["early_grade"] == 3


def test_icaht_day_lowest_value_is_used():
    anc = [*anc_series(), (10, 450), (10, 2000)]
    result = icaht_assessment(anc)
    assert result["early_episodes_le_500"] == [(10, 10)]
    assert result["nadir_anc"] == 450


def test_icaht_cumulative_duration_sums_joined_episodes():
    anc = anc_series((1, 5, 300), (10, 12, 300), (20, 20, 300))
    assert icaht_grade(anc) == (1, None)
    assert icaht_grade(anc, duration="cumulative") == (2, None)
    assert icaht_assessment(anc)["early_cumulative_days_le_500"] == 9


def test_icaht_without_any_value_is_not_evaluable():
    assert icaht_grade([]) == (None, None)
    result = icaht_assessment([])
    assert result["nadir_anc"] is None
    assert result["early_longest_days_le_500"] is None
    assert result["neutrophil_recovery_day"] is None


def test_icaht_pre_infusion_values_fall_outside_both_windows():
    assert icaht_grade([(-5, 100), (-1, 50)]) == (None, None)


def test_icaht_last_day_before_infusion_leaves_both_windows_empty():
    assert icaht_grade([(0, 100), (40, 100)], last_day=-1) == (None, None)


def test_icaht_day_30_is_early_and_day_31_is_late():
    assert icaht_grade([(30, 300)]) == (1, None)
    assert icaht_grade([(31, 300)]) == (None, 3)


@pytest.mark.parametrize(
    ("nadir", "expected"),
    [(1501, 0), (1500, 1), (1001, 1), (1000, 2), (501, 2), (500, 3), (101, 3), (100, 4), (0, 4)],
)
def test_icaht_late_grade_thresholds_on_a_single_value(nadir, expected):
    assert icaht_grade([(50, nadir)])[1] == expected


@pytest.mark.parametrize(
    ("second", "expected"),
    [(1500, 3), (1501, 0)],
)
def test_icaht_late_nadir_counts_only_if_the_second_lowest_is_at_most_1500(second, expected):
    result = icaht_assessment([(40, 400), (60, second)])
    assert result["late_grade"] == expected
    assert result["late_nadir_anc"] == 400
    assert result["late_second_lowest_anc"] == second


def test_icaht_late_values_of_the_same_day_count_once():
    # Two draws on day 40: one daily value (the lowest), so it is the single value of the window.
    result = icaht_assessment([(40, 400), (40, 2500), (70, 2600)])
    assert result["late_nadir_anc"] == 400
    assert result["late_second_lowest_anc"] == 2600
    assert result["late_grade"] == 0
    assert icaht_grade([(40, 400), (40, 2500)]) == (None, 3)


def test_icaht_late_window_ends_at_day_100_by_default():
    assert icaht_grade([(100, 400)]) == (None, 3)
    assert icaht_grade([(101, 400)]) == (None, None)
    assert icaht_grade([(150, 400)], late_window_end=180) == (None, 3)


def test_icaht_late_window_is_censored_at_last_day():
    anc = [(35, 900), (47, 2410), (62, 3290)]
    assert icaht_grade(anc) == (None, 0)
    assert icaht_grade(anc, last_day=42) == (None, 2)
    assert icaht_assessment(anc, last_day=42)["late_window"] == (31, 42)


def test_icaht_late_values_are_not_interpolated():
    result = icaht_assessment([(31, 2000), (60, 2000), (90, 300)])
    assert result["late_nadir_anc"] == 300
    assert result["late_second_lowest_anc"] == 2000
    assert result["late_grade"] == 0


def test_icaht_neutrophil_recovery_is_the_first_of_3_days_above_500_after_the_last_low_day():
    assert icaht_assessment(anc_series((2, 7, 300)))["neutrophil_recovery_day"] == 8
    # Two good days after the last low day, then the window ends: not recovered.
    assert icaht_assessment(anc_series((2, 28, 300)))["neutrophil_recovery_day"] is None
    assert icaht_assessment(anc_series((2, 27, 300)))["neutrophil_recovery_day"] == 28
    # Never <= 500.
    assert icaht_assessment(anc_series())["neutrophil_recovery_day"] is None


def test_icaht_assessment_reports_every_documented_figure():
    result = icaht_assessment([*anc_series((2, 9, 300), (4, 6, 80)), (45, 900), (60, 1200)])
    assert result["early_grade"] == 2
    assert result["late_grade"] == 2
    assert result["early_longest_days_le_500"] == 8
    assert result["early_longest_days_le_100"] == 3
    assert result["early_cumulative_days_le_500"] == 8
    assert result["early_cumulative_days_le_100"] == 3
    assert result["nadir_anc"] == 80
    assert result["late_nadir_anc"] == 900
    assert result["late_second_lowest_anc"] == 1200
    assert result["neutrophil_recovery_day"] == 10
    assert result["rule"] == "EHA/EBMT 2023"
    assert result["algorithm_version"] == grading.ALGORITHM_VERSION
    assert result["duration"] == "longest"


def test_icaht_grade_matches_the_assessment():
    anc = [*anc_series((1, 12, 300)), (50, 700), (70, 900)]
    result = icaht_assessment(anc, last_day=80)
    assert icaht_grade(anc, last_day=80) == (result["early_grade"], result["late_grade"]) == (2, 2)


def test_icaht_accepts_lists_and_decimals():
    assert icaht_grade([[40, Decimal("400")], [50, Decimal("1200.5")]]) == (None, 3)


@pytest.mark.parametrize(
    ("anc", "kwargs", "argument"),
    [
        ("0:300", {}, "anc"),
        ({0: 300}, {}, "anc"),
        (None, {}, "anc"),
        ([(0, 300, 1)], {}, "anc"),
        ([300], {}, "anc"),
        ([(1.5, 300)], {}, "study day"),
        ([(True, 300)], {}, "study day"),
        ([("3", 300)], {}, "study day"),
        ([(3, -1)], {}, "anc value"),
        ([(3, math.nan)], {}, "anc value"),
        ([(3, math.inf)], {}, "anc value"),
        ([(3, True)], {}, "anc value"),
        ([(3, "300")], {}, "anc value"),
        ([(3, 300)], {"last_day": 30.0}, "last_day"),
        ([(3, 300)], {"last_day": True}, "last_day"),
        ([(3, 300)], {"late_window_end": 30}, "late_window_end"),
        ([(3, 300)], {"late_window_end": 100.0}, "late_window_end"),
        ([(3, 300)], {"duration": "sum"}, "duration"),
        ([(3, 300)], {"duration": "Longest"}, "duration"),
    ],
)
def test_icaht_invalid_input_raises_value_error_naming_the_argument(anc, kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        icaht_grade(anc, **kwargs)
    with pytest.raises(ValueError, match=argument):
        icaht_assessment(anc, **kwargs)


anc_draws = st.lists(
    st.tuples(st.integers(min_value=-10, max_value=120), st.floats(min_value=0, max_value=8000)),
    max_size=40,
)


@PROPERTY_SETTINGS
@given(
    anc=anc_draws,
    last_day=st.one_of(st.none(), st.integers(min_value=-5, max_value=150)),
    late_window_end=st.integers(min_value=31, max_value=365),
)
def test_icaht_grades_are_always_none_or_between_0_and_4(anc, last_day, late_window_end):
    for duration in grading.ICAHT_DURATION_MODES:
        early, late = icaht_grade(anc, last_day=last_day, late_window_end=late_window_end, duration=duration)
        assert early is None or 0 <= early <= 4
        assert late is None or 0 <= late <= 4


@PROPERTY_SETTINGS
@given(anc=anc_draws, last_day=st.one_of(st.none(), st.integers(min_value=0, max_value=150)))
def test_icaht_cumulative_reading_is_never_milder_than_longest_episode(anc, last_day):
    longest = icaht_assessment(anc, last_day=last_day)
    cumulative = icaht_assessment(anc, last_day=last_day, duration="cumulative")
    if longest["early_grade"] is None:
        assert cumulative["early_grade"] is None
    else:
        assert cumulative["early_grade"] >= longest["early_grade"]
        assert longest["early_cumulative_days_le_500"] >= longest["early_longest_days_le_500"]
        assert longest["early_longest_days_le_500"] >= longest["early_longest_days_le_100"]


# ----------------------------------------------------------------------------------------------------------
# CTCAE v5.0 laboratory grades
# ----------------------------------------------------------------------------------------------------------


def _rows(term: str, values: list[float], lln: float | None, grades: list[int | None]):
    return [
        pytest.param(term, value, lln, grade, id=f"{term}-{value}-lln{lln}")
        for value, grade in zip(values, grades, strict=True)
    ]


@pytest.mark.parametrize(
    ("term", "value", "lln", "expected"),
    [
        # T1 neutrophils, LLN 2.0 (10^9/L)
        *_rows(
            "neutrophil_count_decreased",
            [0.49, 0.5, 0.99, 1.0, 1.49, 1.5, 1.9, 2.0],
            2.0,
            [4, 3, 3, 2, 2, 1, 1, 0],
        ),
        # T2 platelets, LLN 100 (10^9/L)
        *_rows("platelet_count_decreased", [24, 25, 49, 50, 74, 75, 99, 100], 100, [4, 3, 3, 2, 2, 1, 1, 0]),
        # T4 lymphocytes, LLN 1.4 (10^9/L)
        *_rows("lymphocyte_count_decreased", [0.19, 0.2, 0.49, 0.5, 0.79, 0.8], 1.4, [4, 3, 3, 2, 2, 1]),
        # T5 anaemia, haemoglobin in g/L, LLN 140
        *_rows("anemia", [79, 80, 99, 100, 139, 140], 140, [3, 2, 2, 1, 1, 0]),
        # WBC, LLN 4.0 (10^9/L)
        *_rows(
            "white_blood_cell_decreased",
            [0.99, 1.0, 1.99, 2.0, 2.99, 3.0, 3.99, 4.0],
            4.0,
            [4, 3, 3, 2, 2, 1, 1, 0],
        ),
    ],
)
def test_ctcae_v5_boundary_values_belong_to_the_milder_grade(term, value, lln, expected):
    assert ctcae_grade(term, value, lln) == expected


@pytest.mark.parametrize(
    ("term", "value", "expected"),
    [
        ("platelet_count_decreased", 75, None),  # T3: grade 1 or 0 needs the LLN
        ("platelet_count_decreased", 74, 2),  # T3: grade 2 without LLN
        ("platelet_count_decreased", 24.9, 4),
        ("neutrophil_count_decreased", 1.5, None),
        ("neutrophil_count_decreased", 1.49, 2),
        ("neutrophil_count_decreased", 0.0, 4),
        ("lymphocyte_count_decreased", 0.8, None),
        ("lymphocyte_count_decreased", 0.79, 2),
        ("white_blood_cell_decreased", 3.0, None),
        ("white_blood_cell_decreased", 2.99, 2),
        ("anemia", 100, None),
        ("anemia", 99, 2),
        ("anemia", 79.9, 3),
        ("anemia", 20, 3),  # grade 4 anaemia is clinical: the computed grade stops at 3
    ],
)
def test_ctcae_without_lln_grades_2_to_4_and_returns_none_where_grade_1_needs_it(term, value, expected):
    assert ctcae_grade(term, value) == expected
    assert ctcae_grade(term, value, None, "5.0") == expected


def test_ctcae_value_at_or_above_lln_is_grade_0():
    assert ctcae_grade("neutrophil_count_decreased", 3.5, 1.8) == 0
    assert ctcae_grade("platelet_count_decreased", 150, 150) == 0
    assert ctcae_grade("anemia", 125, 115) == 0


def test_ctcae_grade_2_band_applies_even_when_the_lln_is_below_it():
    # A child's LLN of 1.2 x 10^9/L does not lift CTCAE's fixed < 1.5 grade-2 band.
    assert ctcae_grade("neutrophil_count_decreased", 1.3, 1.2) == 2


def test_ctcae_accepts_decimal_values():
    assert ctcae_grade("anemia", Decimal("99.5"), Decimal("120")) == 2


@pytest.mark.parametrize(
    ("args", "argument"),
    [
        (("thrombocytopenia", 20, 150), "term"),
        (("Anemia", 90, 120), "term"),
        (("fever", 38.5, None), "term"),
        (("anemia", -1, 120), "value"),
        (("anemia", math.nan, 120), "value"),
        (("anemia", math.inf, 120), "value"),
        (("anemia", True, 120), "value"),
        (("anemia", "90", 120), "value"),
        (("anemia", 90, -120), "lln"),
        (("anemia", 90, math.nan), "lln"),
        (("anemia", 90, False), "lln"),
        (("anemia", 90, 120, "6.0"), "version"),
        (("anemia", 90, 120, "4.03"), "version"),
        (("anemia", 90, 120, "5"), "version"),
        (("anemia", 90, 120, 5.0), "version"),
    ],
)
def test_ctcae_invalid_input_raises_value_error_naming_the_argument(args, argument):
    with pytest.raises(ValueError, match=argument):
        ctcae_grade(*args)


@PROPERTY_SETTINGS
@given(
    term=st.sampled_from(CTCAE_TERMS),
    value=st.floats(min_value=0, max_value=500),
    lln=st.one_of(st.none(), st.floats(min_value=0, max_value=500)),
)
def test_ctcae_grade_is_none_or_between_0_and_4(term, value, lln):
    grade = ctcae_grade(term, value, lln)
    assert grade is None or 0 <= grade <= 4
    if term == "anemia" and grade is not None:
        assert grade <= 3


@PROPERTY_SETTINGS
@given(
    term=st.sampled_from(CTCAE_TERMS),
    values=st.tuples(st.floats(min_value=0, max_value=200), st.floats(min_value=0, max_value=200)),
    lln=st.floats(min_value=0, max_value=200),
)
def test_ctcae_grade_never_falls_when_the_value_falls(term, values, lln):
    low, high = sorted(values)
    assert ctcae_grade(term, low, lln) >= ctcae_grade(term, high, lln)


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"treatment_route": "none"}, 1),
        ({"treatment_route": "topical"}, 1),
        ({"treatment_route": "oral"}, 2),
        ({"treatment_route": "iv"}, 3),
        ({"treatment_route": "oral", "hospitalised": True}, 3),
        ({"treatment_route": "none", "invasive_intervention": True}, 3),
        ({"treatment_route": "iv", "icu": True}, 4),
        ({"treatment_route": "iv", "life_threatening": True}, 4),
        ({"treatment_route": "iv", "fatal": True}, 5),
    ],
)
def test_infection_proposed_grade(facts, expected):
    assert grading.infection_proposed_grade(**facts) == expected


def test_infection_proposed_grade_rejects_unknown_route():
    with pytest.raises(ValueError, match="treatment_route"):
        grading.infection_proposed_grade(treatment_route="intramuscular")
