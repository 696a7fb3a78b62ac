"""Toxicity grading for CAR T cell therapy: CRS, ICANS (ICE, CAPD), ICAHT and laboratory CTCAE grades.

Pure functions with a fixed public contract (DESIGN.md §3, ``adverse_events/grading.py``): they take plain
values, return plain values, import nothing from Django, never touch the database and never read the clock.
Services store the inputs, the result, the published rule (``CRS_RULE``, ``ICANS_RULE``, ``ICAHT_RULE``,
``CTCAE_RULE``) and the registry's own ``ALGORITHM_VERSION`` next to every computed grade.

Invalid input raises ``ValueError`` whose message names the argument and the allowed values: unknown codes,
negative or non-finite measurements, scores above their maxima, booleans where integers are expected, and the
combinations that DESIGN.md calls invalid. Physiological plausibility (a 45 °C temperature) is checked by
forms, not here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from numbers import Integral, Real
from types import MappingProxyType
from typing import Any

__all__ = [
    "ALGORITHM_VERSION",
    "CAPD_ANSWERS",
    "CAPD_ITEMS",
    "CAPD_MAX",
    "CEREBRAL_EDEMA_CODES",
    "CONSCIOUSNESS_LEVELS",
    "CRS_RULE",
    "CTCAE_RULE",
    "CTCAE_TERMS",
    "CTCAE_VERSION",
    "CTCAE_VERSIONS",
    "ICAHT_DURATION_MODES",
    "ICAHT_RULE",
    "ICANS_RULE",
    "ICE_ITEM_MAXIMA",
    "ICE_MAX",
    "MOTOR_CODES",
    "OXYGEN_DEVICES",
    "SEIZURE_CODES",
    "VASOPRESSORS",
    "VASOPRESSOR_NAMES",
    "VASOPRESSOR_SYNONYMS",
    "capd_score",
    "crs_grade",
    "ctcae_grade",
    "ice_score",
    "icaht_assessment",
    "icaht_grade",
    "icans_grade",
    "icans_tool",
]

# ----------------------------------------------------------------------------------------------------------
# Rule versions
# ----------------------------------------------------------------------------------------------------------

CRS_RULE = "ASTCT 2019"
ICANS_RULE = "ASTCT 2019"
ICAHT_RULE = "EHA/EBMT 2023"
CTCAE_VERSION = "5.0"
CTCAE_RULE = f"CTCAE {CTCAE_VERSION}"
#: The registry's own version of the algorithms in this module; bump it when any computed grade may change.
ALGORITHM_VERSION = "1.0.0"

# ----------------------------------------------------------------------------------------------------------
# Code lists (forms build their choices from these)
# ----------------------------------------------------------------------------------------------------------

#: Canonical vasopressor names (ASTCT 2019 CRS). Input is case-insensitive; see VASOPRESSOR_SYNONYMS.
VASOPRESSORS: tuple[str, ...] = ("norepinephrine", "epinephrine", "dopamine", "phenylephrine", "vasopressin")
VASOPRESSOR_SYNONYMS: Mapping[str, str] = MappingProxyType(
    {"noradrenaline": "norepinephrine", "adrenaline": "epinephrine"}
)
#: Every accepted (lower-case) vasopressor name, canonical names and synonyms.
VASOPRESSOR_NAMES: frozenset[str] = frozenset(VASOPRESSORS) | frozenset(VASOPRESSOR_SYNONYMS)

OXYGEN_DEVICES: tuple[str, ...] = (
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
#: Upper edge of low-flow oxygen by nasal cannula, L/min (inclusive: 6.0 L/min is low-flow).
LOW_FLOW_MAX_L_MIN = 6.0
#: CRS fever threshold, °C (inclusive: 38.0 °C is fever).
FEVER_THRESHOLD_C = 38.0

_OXYGEN_DEVICE_GRADE: Mapping[str, int] = MappingProxyType(
    {
        "none": 0,
        "blow_by": 2,
        "high_flow_nasal_cannula": 3,
        "facemask": 3,
        "non_rebreather": 3,
        "venturi": 3,
        "cpap": 4,
        "bipap": 4,
        "mechanical_ventilation": 4,
        # "nasal_cannula" depends on the flow: 2 at <= 6.0 L/min, 3 above.
    }
)

CONSCIOUSNESS_LEVELS: tuple[str, ...] = (
    "alert",
    "awakens_spontaneously",
    "awakens_to_voice",
    "awakens_to_touch",
    "unarousable",
)
SEIZURE_CODES: tuple[str, ...] = ("none", "resolved_rapidly", "prolonged_or_repetitive")
MOTOR_CODES: tuple[str, ...] = ("none", "deep_focal_weakness")
CEREBRAL_EDEMA_CODES: tuple[str, ...] = ("none", "focal", "diffuse")

_CONSCIOUSNESS_GRADE = MappingProxyType(dict(zip(CONSCIOUSNESS_LEVELS, (0, 1, 2, 3, 4), strict=True)))
_SEIZURE_GRADE = MappingProxyType(dict(zip(SEIZURE_CODES, (0, 3, 4), strict=True)))
_MOTOR_GRADE = MappingProxyType(dict(zip(MOTOR_CODES, (0, 4), strict=True)))
_CEREBRAL_EDEMA_GRADE = MappingProxyType(dict(zip(CEREBRAL_EDEMA_CODES, (0, 3, 4), strict=True)))

#: Age (years, at the assessment) from which ICE replaces CAPD (inclusive: 12.0 years uses ICE).
ICE_MIN_AGE_YEARS = 12.0

ICE_ITEM_MAXIMA: Mapping[str, int] = MappingProxyType(
    {"orientation": 4, "naming": 3, "following_commands": 1, "writing": 1, "attention": 1}
)
ICE_MAX = sum(ICE_ITEM_MAXIMA.values())  # 10

#: CAPD items 1..8; items 1-4 are reverse-scored (never = 4), items 5-8 direct (always = 4).
CAPD_ITEMS: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
CAPD_ANSWERS: tuple[str, ...] = ("never", "rarely", "sometimes", "often", "always")
CAPD_MAX = 4 * len(CAPD_ITEMS)  # 32
#: CAPD total from which the screen is positive for delirium (Traube 2014).
CAPD_POSITIVE_CUTOFF = 9
_CAPD_REVERSED_ITEMS = frozenset({1, 2, 3, 4})

CTCAE_TERMS: tuple[str, ...] = (
    "neutrophil_count_decreased",
    "platelet_count_decreased",
    "lymphocyte_count_decreased",
    "white_blood_cell_decreased",
    "anemia",
)
CTCAE_VERSIONS: tuple[str, ...] = (CTCAE_VERSION,)
#: CTCAE v5.0 lower edges of grades 2, 3 and 4 ("< A - B" means value < A and >= B, so A belongs to the
#: lower grade). Neutrophils, platelets, lymphocytes and WBC in 10^9/L; anaemia (haemoglobin) in g/L, where
#: grade 4 is a clinical judgement and the computable grade stops at 3.
_CTCAE_V5_CUTS: Mapping[str, tuple[float, ...]] = MappingProxyType(
    {
        "neutrophil_count_decreased": (1.5, 1.0, 0.5),
        "platelet_count_decreased": (75.0, 50.0, 25.0),
        "lymphocyte_count_decreased": (0.8, 0.5, 0.2),
        "white_blood_cell_decreased": (3.0, 2.0, 1.0),
        "anemia": (100.0, 80.0),
    }
)

ICAHT_DURATION_MODES: tuple[str, ...] = ("longest", "cumulative")
ICAHT_EARLY_WINDOW_END = 30
ICAHT_LATE_WINDOW_START = 31
#: The default last study day of the late window.
ICAHT_LATE_WINDOW_END = 100
#: Longest run of missing days that the early window fills (interpolation inside, nearest value at its ends).
ICAHT_MAX_FILL_DAYS = 7
#: Episodes separated by at most this many days above the threshold are joined (the bridged days count).
ICAHT_MAX_BRIDGE_DAYS = 2
#: An episode that starts on or before this day and lasts to the end of the early window is grade 4.
ICAHT_NEVER_RECOVERED_START_MAX_DAY = 3


# ----------------------------------------------------------------------------------------------------------
# Validation helpers
# ----------------------------------------------------------------------------------------------------------


def _allowed(values: Iterable[str]) -> str:
    return ", ".join(repr(v) for v in values)


def _check_flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def _check_measurement(name: str, value: Any, unit: str) -> float:
    """A finite, non-negative number (bool rejected); Decimal accepted."""
    if type(value) is float and 0.0 <= value < math.inf:
        return value  # the common case (database floats), without the slower abstract-base-class checks
    if isinstance(value, bool) or not isinstance(value, Real | Decimal):
        raise ValueError(f"{name} must be a finite number >= 0 ({unit}), got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a finite number >= 0 ({unit}), got {value!r}")
    return number


def _check_score(name: str, value: Any, maximum: int) -> int:
    """An integer 0..maximum; booleans and floats are rejected (a score is counted, never measured)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or not 0 <= value <= maximum:
        raise ValueError(f"{name} must be an integer from 0 to {maximum}, got {value!r}")
    return int(value)


def _check_code(name: str, value: Any, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {_allowed(allowed)}, got {value!r}")
    return value


def _check_day(name: str, value: Any) -> int:
    if type(value) is int:
        return value  # the common case, without the slower abstract-base-class check
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer study day (day 0 = infusion), got {value!r}")
    return int(value)


# ----------------------------------------------------------------------------------------------------------
# CRS
# ----------------------------------------------------------------------------------------------------------


def _canonical_vasopressors(vasopressors: Any) -> frozenset[str]:
    if isinstance(vasopressors, str | bytes) or not isinstance(vasopressors, Iterable):
        raise ValueError(
            f"vasopressors must be a collection of names from {_allowed(sorted(VASOPRESSOR_NAMES))}, "
            f"got {vasopressors!r}"
        )
    agents: set[str] = set()
    for agent in vasopressors:
        name = agent.strip().lower() if isinstance(agent, str) else None
        if name not in VASOPRESSOR_NAMES:
            raise ValueError(
                f"vasopressors: unknown vasopressor {agent!r}; allowed (case-insensitive): "
                f"{_allowed(sorted(VASOPRESSOR_NAMES))}"
            )
        agents.add(VASOPRESSOR_SYNONYMS.get(name, name))
    return frozenset(agents)


def crs_grade(
    *,
    temperature_c: float | None,
    fever_other_cause: bool = False,
    after_anticytokine_or_antipyretic: bool = False,
    hypotension: bool = False,
    vasopressors: Iterable[str] = (),
    oxygen_device: str = "none",
    oxygen_flow_l_min: float | None = None,
    died_of_crs: bool = False,
) -> int:
    """Cytokine release syndrome grade 0-5 by the ASTCT 2019 consensus (Lee et al., BBMT 2019).

    Arguments and units:

    - ``temperature_c``: highest temperature of the assessment, °C, or ``None`` when not measured. Fever is
      ``temperature_c >= 38.0`` (inclusive) and not ``fever_other_cause``.
    - ``after_anticytokine_or_antipyretic``: the patient already has CRS in this episode and has received
      tocilizumab, anakinra, corticosteroids or antipyretics for it (premedication does not count). Fever is
      then no longer required: hypotension and hypoxia drive the grade, fever alone still gives 1, nothing
      gives 0. Without it and without fever the grade is 0.
    - ``hypotension``: hypotension needing fluids (grade 2 without a vasopressor).
    - ``vasopressors``: names from ``VASOPRESSOR_NAMES``, case-insensitive, synonyms (noradrenaline,
      adrenaline) and duplicates counted once. Any vasopressor implies hypotension; two or more other than
      vasopressin -> 4; one or more in all (vasopressin alone counts) -> 3.
    - ``oxygen_device`` in ``OXYGEN_DEVICES``: blow-by -> 2; ``nasal_cannula`` -> 2 at
      ``oxygen_flow_l_min <= 6.0`` (low-flow), 3 above (high-flow); high-flow nasal cannula, facemask,
      non-rebreather, Venturi -> 3; CPAP, BiPAP, mechanical ventilation -> 4. ``oxygen_flow_l_min`` (L/min) is
      required and must be > 0 with ``nasal_cannula``, invalid with ``"none"``, and recorded but not used with
      the other devices.
    - ``died_of_crs`` -> 5, whatever else.

    The grade is the worst of the hypotension and hypoxia levels (at least 1 with fever).
    """
    if temperature_c is not None:
        temperature = _check_measurement("temperature_c", temperature_c, "°C")
    else:
        temperature = None
    fever_other_cause = _check_flag("fever_other_cause", fever_other_cause)
    treated = _check_flag("after_anticytokine_or_antipyretic", after_anticytokine_or_antipyretic)
    hypotension = _check_flag("hypotension", hypotension)
    died_of_crs = _check_flag("died_of_crs", died_of_crs)
    agents = _canonical_vasopressors(vasopressors)
    device = _check_code("oxygen_device", oxygen_device, OXYGEN_DEVICES)
    flow = None
    if oxygen_flow_l_min is not None:
        flow = _check_measurement("oxygen_flow_l_min", oxygen_flow_l_min, "L/min")
        if device == "none":
            raise ValueError(
                "oxygen_flow_l_min must be None when oxygen_device is 'none' "
                f"(allowed devices with a flow: {_allowed(d for d in OXYGEN_DEVICES if d != 'none')})"
            )
    if device == "nasal_cannula" and (flow is None or flow == 0):
        raise ValueError(
            "oxygen_flow_l_min is required with oxygen_device 'nasal_cannula' and must be a number > 0 "
            f"(L/min), got {oxygen_flow_l_min!r}"
        )

    if died_of_crs:
        return 5
    fever = temperature is not None and temperature >= FEVER_THRESHOLD_C and not fever_other_cause
    if not fever and not treated:
        return 0

    non_vasopressin = agents - {"vasopressin"}
    if len(non_vasopressin) >= 2:
        hypotension_grade = 4
    elif agents:
        hypotension_grade = 3
    elif hypotension:
        hypotension_grade = 2
    else:
        hypotension_grade = 0

    if device == "nasal_cannula":
        hypoxia_grade = 2 if flow is not None and flow <= LOW_FLOW_MAX_L_MIN else 3
    else:
        hypoxia_grade = _OXYGEN_DEVICE_GRADE[device]

    grade = max(hypotension_grade, hypoxia_grade)
    if grade == 0:
        return 1 if fever else 0
    return grade


# ----------------------------------------------------------------------------------------------------------
# ICANS, ICE, CAPD
# ----------------------------------------------------------------------------------------------------------


def ice_score(*, orientation: int, naming: int, following_commands: int, writing: int, attention: int) -> int:
    """Immune effector cell-associated encephalopathy (ICE) score 0-10, ASTCT 2019.

    Points (integers; booleans rejected): ``orientation`` 0-4 (year, month, city, hospital), ``naming`` 0-3
    (three objects), ``following_commands`` 0-1, ``writing`` 0-1 (a standard sentence), ``attention`` 0-1
    (count backwards from 100 by 10). Returns the sum; 10 is normal.
    """
    items = {
        "orientation": orientation,
        "naming": naming,
        "following_commands": following_commands,
        "writing": writing,
        "attention": attention,
    }
    return sum(_check_score(name, value, ICE_ITEM_MAXIMA[name]) for name, value in items.items())


def capd_score(answers: Mapping[int, str]) -> int:
    """Cornell Assessment of Pediatric Delirium (CAPD) total 0-32 (Traube et al. 2014), as used by ASTCT 2019.

    ``answers`` maps every item number 1..8 to one of ``CAPD_ANSWERS``
    (``"never" | "rarely" | "sometimes" | "often" | "always"``, exact lower-case). Items 1-4 (eye contact,
    purposeful actions, awareness, communicates needs) are reverse-scored (never = 4, always = 0); items 5-8
    (restless, inconsolable, underactive, slow to respond) are scored directly (never = 0, always = 4). A
    total >= 9 is a positive delirium screen.
    """
    if not isinstance(answers, Mapping):
        raise ValueError(
            f"answers must be a mapping of CAPD items {list(CAPD_ITEMS)} to answers, got {answers!r}"
        )
    keys = list(answers)
    unknown = [k for k in keys if isinstance(k, bool) or k not in CAPD_ITEMS]
    if unknown:
        raise ValueError(
            f"answers: unknown CAPD item(s) {unknown!r}; items are the integers {list(CAPD_ITEMS)}"
        )
    missing = [item for item in CAPD_ITEMS if item not in answers]
    if missing:
        raise ValueError(
            f"answers: CAPD items {missing} are missing; all items {list(CAPD_ITEMS)} are required"
        )
    total = 0
    for item in CAPD_ITEMS:
        answer = _check_code(f"answers[{item}]", answers[item], CAPD_ANSWERS)
        points = CAPD_ANSWERS.index(answer)
        total += 4 - points if item in _CAPD_REVERSED_ITEMS else points
    return total


def icans_tool(*, age_years: float, developmental_delay: bool = False) -> str:
    """The encephalopathy tool of ASTCT 2019 ICANS grading: ``"ice"`` or ``"capd"``.

    ICE when ``age_years`` (age at the assessment, years) ``>= 12`` (inclusive) and no developmental delay;
    CAPD for younger children and for patients with a baseline developmental delay.
    """
    age = _check_measurement("age_years", age_years, "years")
    delay = _check_flag("developmental_delay", developmental_delay)
    return "ice" if age >= ICE_MIN_AGE_YEARS and not delay else "capd"


def icans_grade(
    *,
    age_years: float,
    ice_score: int | None = None,
    capd_score: int | None = None,
    unable_to_perform: bool = False,
    awake_with_global_aphasia: bool = False,
    developmental_delay: bool = False,
    consciousness: str = "alert",
    seizure: str = "none",
    motor: str = "none",
    cerebral_edema: str = "none",
    died_of_icans: bool = False,
) -> int:
    """Immune effector cell-associated neurotoxicity syndrome (ICANS) grade 0-5, ASTCT 2019 (all ages).

    The worst domain wins; ``died_of_icans`` -> 5.

    - Encephalopathy tool (see ``icans_tool``): ICE (0-10) when ``age_years`` (age at the assessment, years)
      ``>= 12`` and not ``developmental_delay``, else CAPD (0-32). ICE 10 -> 0, 7-9 -> 1, 3-6 -> 2, 0-2 -> 3;
      ``unable_to_perform`` -> 4, or 3 when ``awake_with_global_aphasia``. CAPD 0 -> 0, 1-8 -> 1, >= 9 -> 3,
      ``unable_to_perform`` -> 4 (grade 2 with CAPD comes from the consciousness domain). No score and not
      ``unable_to_perform`` -> this domain is 0.
    - ``consciousness`` in ``CONSCIOUSNESS_LEVELS``: alert 0, awakens_spontaneously 1, awakens_to_voice 2,
      awakens_to_touch 3, unarousable 4.
    - ``seizure`` in ``SEIZURE_CODES``: none 0, resolved_rapidly 3 (incl. non-convulsive seizure on EEG
      resolving with intervention), prolonged_or_repetitive 4.
    - ``motor`` in ``MOTOR_CODES``: none 0, deep_focal_weakness 4 (tremor and myoclonus are not ICANS).
    - ``cerebral_edema`` in ``CEREBRAL_EDEMA_CODES``: none 0, focal 3, diffuse 4 (incl. posturing, CN VI
      palsy, papilloedema, Cushing's triad).

    Findings attributed to another cause (sedation, infection, haemorrhage) are not passed. Invalid: a score
    of the wrong tool for the age, both scores, a score with ``unable_to_perform``,
    ``awake_with_global_aphasia`` without ``unable_to_perform`` or on the CAPD path.
    """
    tool = icans_tool(age_years=age_years, developmental_delay=developmental_delay)
    unable = _check_flag("unable_to_perform", unable_to_perform)
    aphasia = _check_flag("awake_with_global_aphasia", awake_with_global_aphasia)
    died = _check_flag("died_of_icans", died_of_icans)
    ice = None if ice_score is None else _check_score("ice_score", ice_score, ICE_MAX)
    capd = None if capd_score is None else _check_score("capd_score", capd_score, CAPD_MAX)
    consciousness_grade = _CONSCIOUSNESS_GRADE[
        _check_code("consciousness", consciousness, CONSCIOUSNESS_LEVELS)
    ]
    seizure_grade = _SEIZURE_GRADE[_check_code("seizure", seizure, SEIZURE_CODES)]
    motor_grade = _MOTOR_GRADE[_check_code("motor", motor, MOTOR_CODES)]
    edema_grade = _CEREBRAL_EDEMA_GRADE[_check_code("cerebral_edema", cerebral_edema, CEREBRAL_EDEMA_CODES)]

    if ice is not None and capd is not None:
        raise ValueError("ice_score and capd_score: give at most one of them (ICE from age 12, else CAPD)")
    if tool == "ice" and capd is not None:
        raise ValueError(
            "capd_score is not allowed from age 12 without developmental delay; give ice_score (0-10) instead"
        )
    if tool == "capd" and ice is not None:
        raise ValueError(
            "ice_score is not allowed below age 12 or with developmental delay; give capd_score (0-32) "
            "instead"
        )
    if unable and (ice is not None or capd is not None):
        raise ValueError("unable_to_perform=True is not allowed together with ice_score or capd_score")
    if aphasia and not unable:
        raise ValueError("awake_with_global_aphasia=True requires unable_to_perform=True (ICE 0 while awake)")
    if aphasia and tool == "capd":
        raise ValueError(
            "awake_with_global_aphasia applies only to the ICE path (age >= 12, no developmental delay)"
        )

    if tool == "ice":
        if unable:
            encephalopathy = 3 if aphasia else 4
        elif ice is None or ice == ICE_MAX:
            encephalopathy = 0
        elif ice >= 7:
            encephalopathy = 1
        elif ice >= 3:
            encephalopathy = 2
        else:
            encephalopathy = 3
    else:
        if unable:
            encephalopathy = 4
        elif capd is None or capd == 0:
            encephalopathy = 0
        elif capd < CAPD_POSITIVE_CUTOFF:
            encephalopathy = 1
        else:
            encephalopathy = 3

    if died:
        return 5
    return max(encephalopathy, consciousness_grade, seizure_grade, motor_grade, edema_grade)


# ----------------------------------------------------------------------------------------------------------
# ICAHT
# ----------------------------------------------------------------------------------------------------------


def _daily_lowest(anc: Any) -> dict[int, float]:
    """Validate the (study day, ANC cells/µL) pairs and keep the lowest value of each day."""
    if isinstance(anc, str | bytes | Mapping) or not isinstance(anc, Iterable):
        raise ValueError(f"anc must be an iterable of (study day, ANC cells/µL) pairs, got {anc!r}")
    daily: dict[int, float] = {}
    for pair in anc:
        if type(pair) is tuple and len(pair) == 2:
            # The common case (database rows: an int day, a finite float >= 0), checked inline.
            day, value = pair
            if type(day) is int and type(value) is float and 0.0 <= value < math.inf:
                if day not in daily or value < daily[day]:
                    daily[day] = value
                continue
            items = pair
        elif type(pair) is tuple:
            items = pair
        elif isinstance(pair, str | bytes) or not isinstance(pair, Iterable):
            raise ValueError(f"anc: each entry must be a (study day, ANC cells/µL) pair, got {pair!r}")
        else:
            items = tuple(pair)
        if len(items) != 2:
            raise ValueError(f"anc: each entry must be a (study day, ANC cells/µL) pair, got {pair!r}")
        day = _check_day("anc study day", items[0])
        value = _check_measurement("anc value", items[1], "cells/µL")
        if day not in daily or value < daily[day]:
            daily[day] = value
    return daily


def _fill_early_window(observed: Mapping[int, float], window_end: int) -> list[float | None]:
    """Daily series for days 0..window_end: observed days, interpolated internal gaps of <= 7 days, nearest
    value across <= 7 days at either end of the window; longer gaps stay ``None``."""
    series: list[float | None] = [None] * (window_end + 1)
    days = sorted(observed)
    for day in days:
        series[day] = observed[day]
    first, last = days[0], days[-1]
    if 0 < first <= ICAHT_MAX_FILL_DAYS:
        for day in range(0, first):
            series[day] = observed[first]
    if 0 < window_end - last <= ICAHT_MAX_FILL_DAYS:
        for day in range(last + 1, window_end + 1):
            series[day] = observed[last]
    for left, right in zip(days, days[1:], strict=False):
        missing = right - left - 1
        if 1 <= missing <= ICAHT_MAX_FILL_DAYS:
            v_left, v_right = observed[left], observed[right]
            span = right - left
            for day in range(left + 1, right):
                series[day] = v_left + (v_right - v_left) * (day - left) / span
    return series


def _joined_episodes(series: list[float | None], threshold: float) -> list[tuple[int, int]]:
    """Runs of days with ANC <= threshold, joined across 1-2 days above it; (first day, last day) each."""
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for day, value in enumerate(series):
        below = value is not None and value <= threshold
        if below and start is None:
            start = day
        elif not below and start is not None:
            runs.append((start, day - 1))
            start = None
    if start is not None:
        runs.append((start, len(series) - 1))
    joined: list[tuple[int, int]] = []
    for first, last in runs:
        if joined and first - joined[-1][1] - 1 <= ICAHT_MAX_BRIDGE_DAYS:
            joined[-1] = (joined[-1][0], last)
        else:
            joined.append((first, last))
    return joined


def _late_grade_from(nadir: float) -> int:
    if nadir <= 100:
        return 4
    if nadir <= 500:
        return 3
    if nadir <= 1000:
        return 2
    if nadir <= 1500:
        return 1
    return 0


def icaht_assessment(
    anc: Iterable[tuple[int, float]],
    *,
    last_day: int | None = None,
    late_window_end: int = ICAHT_LATE_WINDOW_END,
    duration: str = "longest",
) -> dict[str, Any]:
    """Early and late immune effector cell-associated haematotoxicity (ICAHT), EHA/EBMT 2023 (Rejeski et al.,
    Blood 2023), with the figures behind the grades.

    ``anc``: (study day, absolute neutrophil count in cells/µL) pairs; day 0 is the infusion, days may repeat
    (the day's lowest value is used) and may be negative (pre-infusion values fall outside both windows).
    ``last_day``: last study day of follow-up or death (or censoring); it ends both windows and later values
    are ignored. ``late_window_end``: last study day of the late window (default 100, >= 31). ``duration`` in
    ``ICAHT_DURATION_MODES``: ``"longest"`` (default) grades the longest joined episode, ``"cumulative"``
    their sum.

    Early window, days 0..30 (or to ``last_day``): the day's lowest value; a run of at most 7 days without a
    value between two values is linearly interpolated (no rounding); at either end of the window, up to 7 days
    without a value take the nearest value inside the window (never beyond ``last_day``); longer gaps stay
    empty and count as above the threshold. Episodes of ANC <= 500 and of ANC <= 100 separated by 1-2 days
    above the threshold are joined and the bridged days count. ANC <= 500: 1-6 days -> 1, 7-13 -> 2, >= 14
    -> 3, and 4 when >= 31 days or when an episode starting on day 0-3 lasts to the end of the window (day
    ``min(30, last_day)``: never recovered, e.g. early death). ANC <= 100: 7-13 days -> 3, >= 14 -> 4. The
    early grade is the higher of the two.

    Late window, day 31 to ``late_window_end`` (and ``last_day``): raw values, the day's lowest, no
    interpolation; graded on the nadir when the second-lowest daily value is also <= 1500 or there is a single
    value: <= 100 -> 4, <= 500 -> 3, <= 1000 -> 2, <= 1500 -> 1, otherwise 0.

    Returns a dict (all counts in days, ANC in cells/µL):

    - ``early_grade``, ``late_grade``: 0-4, or ``None`` when the window holds no value (or is empty because
      ``last_day`` ends follow-up before it).
    - ``early_longest_days_le_500``, ``early_longest_days_le_100``: last - first + 1 of the longest joined
      episode (0 when none); ``early_cumulative_days_le_500``, ``early_cumulative_days_le_100``: sum over the
      joined episodes (bridged days included). ``None`` when the early window is not evaluable.
    - ``early_episodes_le_500``, ``early_episodes_le_100``: the joined episodes as (first day, last day)
      tuples.
    - ``early_never_recovered``: an ANC <= 500 episode started on day 0-3 and lasted to the end of the window.
    - ``nadir_anc``: lowest early value (``None`` if no early value).
    - ``late_nadir_anc``, ``late_second_lowest_anc``: lowest and second-lowest daily lowest values of the late
      window (``None`` when absent).
    - ``neutrophil_recovery_day``: the first of 3 consecutive days with ANC > 500 after the last day <= 500 in
      the early window's daily series (interpolated and filled days count, empty days break the run); ``None``
      if never <= 500 there or not recovered within the early window.
    - ``early_window_end`` (``None`` if the window is empty), ``late_window`` ((first, last) day or ``None``),
      ``duration``, ``rule`` (``ICAHT_RULE``), ``algorithm_version`` (``ALGORITHM_VERSION``).
    """
    daily = _daily_lowest(anc)
    if last_day is not None:
        last_day = _check_day("last_day", last_day)
    if isinstance(late_window_end, bool) or not isinstance(late_window_end, Integral) or late_window_end < 31:
        raise ValueError(f"late_window_end must be an integer study day >= 31, got {late_window_end!r}")
    late_window_end = int(late_window_end)
    duration = _check_code("duration", duration, ICAHT_DURATION_MODES)

    result: dict[str, Any] = {
        "early_grade": None,
        "late_grade": None,
        "early_longest_days_le_500": None,
        "early_longest_days_le_100": None,
        "early_cumulative_days_le_500": None,
        "early_cumulative_days_le_100": None,
        "early_episodes_le_500": [],
        "early_episodes_le_100": [],
        "early_never_recovered": False,
        "nadir_anc": None,
        "late_nadir_anc": None,
        "late_second_lowest_anc": None,
        "neutrophil_recovery_day": None,
        "early_window_end": None,
        "late_window": None,
        "duration": duration,
        "rule": ICAHT_RULE,
        "algorithm_version": ALGORITHM_VERSION,
    }

    # Early window.
    early_end = ICAHT_EARLY_WINDOW_END if last_day is None else min(ICAHT_EARLY_WINDOW_END, last_day)
    if early_end >= 0:
        result["early_window_end"] = early_end
        observed = {day: value for day, value in daily.items() if 0 <= day <= early_end}
        if observed:
            series = _fill_early_window(observed, early_end)
            episodes_500 = _joined_episodes(series, 500)
            episodes_100 = _joined_episodes(series, 100)
            longest_500 = max((b - a + 1 for a, b in episodes_500), default=0)
            longest_100 = max((b - a + 1 for a, b in episodes_100), default=0)
            cumulative_500 = sum(b - a + 1 for a, b in episodes_500)
            cumulative_100 = sum(b - a + 1 for a, b in episodes_100)
            days_500 = longest_500 if duration == "longest" else cumulative_500
            days_100 = longest_100 if duration == "longest" else cumulative_100
            never_recovered = any(
                a <= ICAHT_NEVER_RECOVERED_START_MAX_DAY and b == early_end for a, b in episodes_500
            )
            if days_500 >= 31 or never_recovered:
                grade_500 = 4
            elif days_500 >= 14:
                grade_500 = 3
            elif days_500 >= 7:
                grade_500 = 2
            elif days_500 >= 1:
                grade_500 = 1
            else:
                grade_500 = 0
            grade_100 = 4 if days_100 >= 14 else 3 if days_100 >= 7 else 0
            result.update(
                early_grade=max(grade_500, grade_100),
                early_longest_days_le_500=longest_500,
                early_longest_days_le_100=longest_100,
                early_cumulative_days_le_500=cumulative_500,
                early_cumulative_days_le_100=cumulative_100,
                early_episodes_le_500=episodes_500,
                early_episodes_le_100=episodes_100,
                early_never_recovered=never_recovered,
                nadir_anc=min(observed.values()),
                neutrophil_recovery_day=_recovery_day(series),
            )

    # Late window.
    late_end = late_window_end if last_day is None else min(late_window_end, last_day)
    if late_end >= ICAHT_LATE_WINDOW_START:
        result["late_window"] = (ICAHT_LATE_WINDOW_START, late_end)
        late_values = sorted(v for day, v in daily.items() if ICAHT_LATE_WINDOW_START <= day <= late_end)
        if late_values:
            nadir = late_values[0]
            second = late_values[1] if len(late_values) > 1 else None
            transient = second is not None and second > 1500
            result.update(
                late_grade=0 if transient else _late_grade_from(nadir),
                late_nadir_anc=nadir,
                late_second_lowest_anc=second,
            )
    return result


def _recovery_day(series: list[float | None]) -> int | None:
    """First of 3 consecutive days > 500 after the last day <= 500 (CIBMTR-style engraftment), or None."""
    low_days = [day for day, value in enumerate(series) if value is not None and value <= 500]
    if not low_days:
        return None
    start = low_days[-1] + 1
    after = series[start : start + 3]
    if len(after) == 3 and all(value is not None and value > 500 for value in after):
        return start
    return None


def icaht_grade(
    anc: Iterable[tuple[int, float]],
    *,
    last_day: int | None = None,
    late_window_end: int = ICAHT_LATE_WINDOW_END,
    duration: str = "longest",
) -> tuple[int | None, int | None]:
    """(early, late) ICAHT grade 0-4 by EHA/EBMT 2023 from (study day, ANC cells/µL) pairs; ``None`` where a
    window holds no value. Same arguments and rules as ``icaht_assessment``, which also returns the
    figures."""
    assessment = icaht_assessment(anc, last_day=last_day, late_window_end=late_window_end, duration=duration)
    return assessment["early_grade"], assessment["late_grade"]


# ----------------------------------------------------------------------------------------------------------
# CTCAE laboratory grades
# ----------------------------------------------------------------------------------------------------------


def ctcae_grade(term: str, value: float, lln: float | None = None, version: str = "5.0") -> int | None:
    """Laboratory adverse-event grade by CTCAE v5.0 for the terms in ``CTCAE_TERMS``.

    Units: ``value`` and ``lln`` (the lab's lower limit of normal, age-specific in children) in 10^9/L for
    ``neutrophil_count_decreased``, ``platelet_count_decreased``, ``lymphocyte_count_decreased`` and
    ``white_blood_cell_decreased``; haemoglobin in g/L for ``anemia``.

    CTCAE writes the bands as "< A - B" (value < A and >= B), so a boundary value belongs to the milder grade:
    neutrophils < 1.5 -> 2, < 1.0 -> 3, < 0.5 -> 4; platelets < 75, < 50, < 25; lymphocytes < 0.8, < 0.5,
    < 0.2; WBC < 3.0, < 2.0, < 1.0; anaemia < 100 g/L -> 2, < 80 -> 3 (grade 4 anaemia is a clinical
    judgement, so the computed grade stops at 3). Above the grade-2 edge: < LLN -> 1, >= LLN -> 0, and
    ``None`` (not gradable) when ``lln`` is missing. The grade-2+ bands apply whatever the LLN (as CTCAE and
    admiral do). Only ``version="5.0"`` is implemented; any other version is invalid.
    """
    if not isinstance(version, str) or version not in CTCAE_VERSIONS:
        raise ValueError(f"version must be one of {_allowed(CTCAE_VERSIONS)} (implemented), got {version!r}")
    term = _check_code("term", term, CTCAE_TERMS)
    unit = "g/L" if term == "anemia" else "10^9/L"
    number = _check_measurement("value", value, unit)
    limit = None if lln is None else _check_measurement("lln", lln, unit)

    cuts = _CTCAE_V5_CUTS[term]
    grade = 0
    for index, edge in enumerate(cuts, start=2):
        if number < edge:
            grade = index
    if grade:
        return grade
    if limit is None:
        return None
    return 1 if number < limit else 0


INFECTION_TREATMENT_ROUTES: tuple[str, ...] = ("none", "topical", "oral", "iv")


def infection_proposed_grade(
    *,
    treatment_route: str,
    invasive_intervention: bool = False,
    hospitalised: bool = False,
    icu: bool = False,
    life_threatening: bool = False,
    fatal: bool = False,
) -> int:
    """A CTCAE 5.0 infection grade (1-5) proposed from the facts, for the clinician to confirm.

    Follows the CTCAE general grade definitions and the usual per-site infection wording (the per-site text is
    unverified, GRADING.md §4.2): death → 5; life-threatening or intensive care → 4; IV anti-infective,
    invasive intervention or hospitalisation → 3; oral anti-infective → 2; no or topical treatment → 1.
    ``treatment_route`` in ``"none" | "topical" | "oral" | "iv"``.
    """
    if treatment_route not in INFECTION_TREATMENT_ROUTES:
        raise ValueError(
            f"treatment_route must be one of {_allowed(INFECTION_TREATMENT_ROUTES)}, got {treatment_route!r}"
        )
    flags = {
        name: _check_flag(name, value)
        for name, value in (
            ("invasive_intervention", invasive_intervention),
            ("hospitalised", hospitalised),
            ("icu", icu),
            ("life_threatening", life_threatening),
            ("fatal", fatal),
        )
    }
    if flags["fatal"]:
        return 5
    if flags["life_threatening"] or flags["icu"]:
        return 4
    if treatment_route == "iv" or flags["invasive_intervention"] or flags["hospitalised"]:
        return 3
    if treatment_route == "oral":
        return 2
    return 1
