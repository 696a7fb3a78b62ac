"""Disease-activity and response instruments for the CAR T registry: SLE, JDM, systemic sclerosis, helpers.

Pure functions: plain values in, plain values out; nothing from Django, no database, no clock. Services store
the inputs, the result, the published rule (:data:`PUBLISHED_RULES`) and ``SCORES_VERSION``.

The names, keyword arguments and code lists of the functions and constants listed in DESIGN.md §3
("``outcomes/scores.py``") are a public contract. Everything else here is an extra with documented defaults.

Validation rules shared by every function:

- codes are exact lower-case strings (steroid drug names are the one case-insensitive exception); an unknown
  code raises ``ValueError`` listing the allowed codes; a descriptor repeated counts once;
- item mappings must contain every required code and nothing else;
- item scores are ``int`` (``bool`` is refused) within the item's range; measurements are real numbers
  (``int``, ``float``, ``Decimal``, ``Fraction``; never ``bool``), finite and non-negative unless stated
  otherwise;
- flags are ``bool`` (``0``/``1``/``None`` are refused, so a missing answer is never read as "no").

Every ``ValueError`` message names the argument (and the item code, where there is one) and the allowed
values. Which clinical findings make a descriptor present (arthritis joint count, proteinuria threshold) is
decided on the form, not here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from numbers import Real
from types import MappingProxyType

__all__ = [
    "CMAS_ITEM_MAXIMA",
    "CMAS_TIMED_ITEMS",
    "EUSTAR_AI_WEIGHTS",
    "JDM_PERCENT_MEASURES",
    "JDM_TIS_LEVELS",
    "MMT8_ITEMS",
    "MRSS_SITES",
    "PUBLISHED_RULES",
    "SCORES_VERSION",
    "SLEDAI_2K_SEROLOGY",
    "SLEDAI_2K_WEIGHTS",
    "SLEDAI_MAJOR_ORGAN",
    "STEROID_FACTORS",
    "clinical_sledai_2k",
    "cmas",
    "cmas_timed_item",
    "doris_remission",
    "eustar_active",
    "eustar_activity_index",
    "jdm_percent_improvement",
    "jdm_response",
    "jdm_total_improvement_score",
    "lldas",
    "lldas_major_organ_activity",
    "mmt8",
    "mrss",
    "pediatric_egfr",
    "prednisone_equivalent_mg",
    "printo_inactive_jdm",
    "sledai_2k",
]

#: The registry's own algorithm version for this module; services store it next to each result.
SCORES_VERSION = "1.0.0"

#: Published rule behind each function, for services to store with the result.
PUBLISHED_RULES: Mapping[str, str] = MappingProxyType(
    {
        "sledai_2k": "SLEDAI-2K (Gladman 2002)",
        "clinical_sledai_2k": "clinical SLEDAI-2K (SLEDAI-2K without serology, DORIS 2021)",
        "doris_remission": "DORIS 2021 remission on treatment (van Vollenhoven 2021)",
        "lldas": "LLDAS (Franklyn 2016)",
        "cmas": "CMAS (Lovell 1999)",
        "mmt8": "MMT8 unilateral, 0-80 (IMACS)",
        "mrss": "modified Rodnan skin score, 17 sites, 0-51",
        "jdm_total_improvement_score": "2016 ACR/EULAR response criteria for JDM, Total Improvement Score",
        "printo_inactive_jdm": "PRINTO clinically inactive disease in JDM (Lazarevic 2013)",
        "eustar_activity_index": "revised EUSTAR activity index (Valentini 2017), binary mRSS item",
        "prednisone_equivalent_mg": "prednisone equivalence, BNF-derived table",
        "pediatric_egfr": "bedside Schwartz (Schwartz 2009)",
    }
)

# ------------------------------------------------------------------------------------------------------------
# Validation helpers
# ------------------------------------------------------------------------------------------------------------


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, Real | Decimal):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return result


def _in_range(name: str, value: object, low: float, high: float | None = None) -> float:
    result = _number(name, value)
    if result < low or (high is not None and result > high):
        allowed = f"between {low:g} and {high:g}" if high is not None else f">= {low:g}"
        raise ValueError(f"{name} must be a finite number {allowed}, got {value!r}")
    return result


def _positive(name: str, value: object) -> float:
    result = _number(name, value)
    if result <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return result


def _integer(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer between {low} and {high}, got {value!r}")
    return value


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def _allowed(codes: Iterable[str]) -> str:
    return ", ".join(sorted(codes))


def _code_set(name: str, codes: object, allowed: Iterable[str]) -> frozenset[str]:
    """Validate an iterable of codes against ``allowed``; duplicates collapse."""
    allowed = frozenset(allowed)
    if isinstance(codes, str | bytes | Mapping) or not isinstance(codes, Iterable):
        raise ValueError(f"{name} must be an iterable of codes (not a string or a mapping), got {codes!r}")
    result = set()
    for code in codes:
        if not isinstance(code, str) or code not in allowed:
            raise ValueError(f"{name} contains unknown code {code!r}; allowed: {_allowed(allowed)}")
        result.add(code)
    return frozenset(result)


def _complete_mapping(name: str, mapping: object, required: Iterable[str]) -> Mapping[str, object]:
    """Check that ``mapping`` has exactly the ``required`` codes as keys."""
    required = tuple(required)
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{name} must be a mapping of code to value with codes {_allowed(required)}")
    unknown = [key for key in mapping if key not in required]
    if unknown:
        raise ValueError(f"{name} contains unknown code {unknown[0]!r}; allowed: {_allowed(required)}")
    missing = [code for code in required if code not in mapping]
    if missing:
        raise ValueError(
            f"{name} is missing required codes: {', '.join(missing)} (all of {len(required)} needed)"
        )
    return mapping


# ------------------------------------------------------------------------------------------------------------
# SLE: SLEDAI-2K, clinical SLEDAI-2K, DORIS remission, LLDAS
# ------------------------------------------------------------------------------------------------------------

#: SLEDAI-2K descriptor weights (Gladman 2002); the 24 codes sum to 105.
SLEDAI_2K_WEIGHTS: Mapping[str, int] = MappingProxyType(
    {
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
)

#: The two serological descriptors left out of the clinical SLEDAI-2K.
SLEDAI_2K_SEROLOGY = frozenset({"low_complement", "increased_dna_binding"})

#: LLDAS (Franklyn 2016) major organ systems as SLEDAI-2K descriptors (a registry choice, GRADING §5.3).
SLEDAI_MAJOR_ORGAN: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "renal": frozenset({"urinary_casts", "hematuria", "proteinuria", "pyuria"}),
        "cns": frozenset(
            {
                "seizure",
                "psychosis",
                "organic_brain_syndrome",
                "visual_disturbance",
                "cranial_nerve_disorder",
                "lupus_headache",
                "cva",
            }
        ),
        "vasculitis": frozenset({"vasculitis"}),
        "cardiopulmonary": frozenset({"pleurisy", "pericarditis"}),
        "fever": frozenset({"fever"}),
    }
)

_SLEDAI_2K_MAX = sum(SLEDAI_2K_WEIGHTS.values())  # 105
_CLINICAL_SLEDAI_2K_MAX = _SLEDAI_2K_MAX - sum(SLEDAI_2K_WEIGHTS[code] for code in SLEDAI_2K_SEROLOGY)  # 101


def sledai_2k(descriptors: Iterable[str]) -> int:
    """SLEDAI-2K (Gladman 2002), 0–105: the sum of the weights of the descriptors present.

    ``descriptors`` is an iterable of codes from :data:`SLEDAI_2K_WEIGHTS` (not a string, not a mapping); a
    descriptor given twice counts once. Whether a descriptor is present (e.g. arthritis in more than 2 joints,
    proteinuria > 0.5 g/24 h) is decided by the form that proposes it.
    """
    present = _code_set("descriptors", descriptors, SLEDAI_2K_WEIGHTS)
    return sum(SLEDAI_2K_WEIGHTS[code] for code in present)


def clinical_sledai_2k(descriptors: Iterable[str]) -> int:
    """Clinical SLEDAI-2K, 0–101: SLEDAI-2K without ``low_complement`` and ``increased_dna_binding``.

    Serological descriptors are accepted and ignored, so the same descriptor list feeds both scores.
    """
    present = _code_set("descriptors", descriptors, SLEDAI_2K_WEIGHTS)
    return sum(SLEDAI_2K_WEIGHTS[code] for code in present - SLEDAI_2K_SEROLOGY)


def lldas_major_organ_activity(descriptors: Iterable[str]) -> bool:
    """True when any descriptor belongs to a major organ system of :data:`SLEDAI_MAJOR_ORGAN`.

    Renal (casts, haematuria, proteinuria, pyuria), CNS (the seven neuropsychiatric 8-point items),
    vasculitis, cardiopulmonary (pleurisy, pericarditis) or fever. Feeds ``lldas(major_organ_activity=...)``;
    non-SLEDAI cardiopulmonary features, haemolytic anaemia and GI activity are separate booleans of
    :func:`lldas`.
    """
    present = _code_set("descriptors", descriptors, SLEDAI_2K_WEIGHTS)
    return any(present & codes for codes in SLEDAI_MAJOR_ORGAN.values())


def doris_remission(*, clinical_sledai: int, physician_global: float, prednisone_mg_per_day: float) -> bool:
    """DORIS 2021 remission on treatment (van Vollenhoven 2021).

    All of: clinical SLEDAI-2K = 0 (serology ignored); physician global assessment < 0.5 on the 0–3 scale;
    prednisone-equivalent ≤ 5 mg/day (absolute, not per kg; the abstract's "5 mg/day or less"). Antimalarials
    and stable immunosuppressants are allowed and duration is not part of the definition, so neither is an
    argument.

    ``clinical_sledai``: integer 0–101; ``physician_global``: 0–3; ``prednisone_mg_per_day``: ≥ 0 (0 = none).
    """
    score = _integer("clinical_sledai", clinical_sledai, 0, _CLINICAL_SLEDAI_2K_MAX)
    pga = _in_range("physician_global", physician_global, 0.0, 3.0)
    prednisone = _in_range("prednisone_mg_per_day", prednisone_mg_per_day, 0.0)
    return score == 0 and pga < 0.5 and prednisone <= 5.0


def lldas(
    *,
    sledai_2k: int,
    major_organ_activity: bool,
    new_activity: bool,
    physician_global: float,
    prednisone_mg_per_day: float,
    non_standard_immunosuppression: bool = False,
    haemolytic_anaemia_or_gi_activity: bool = False,
) -> bool:
    """Lupus Low Disease Activity State (Franklyn 2016).

    All of: SLEDAI-2K ≤ 4 (serological activity allowed within it); no major organ activity
    (``major_organ_activity``, see :func:`lldas_major_organ_activity`); no haemolytic anaemia or GI activity;
    no new lupus activity since the previous assessment; physician global assessment ≤ 1 on 0–3;
    prednisone-equivalent ≤ 7.5 mg/day; only well-tolerated standard maintenance immunosuppression
    (``non_standard_immunosuppression`` is True for investigational drugs or doses above maintenance).

    ``sledai_2k``: integer 0–105; ``physician_global``: 0–3; ``prednisone_mg_per_day``: ≥ 0; flags are
    ``bool``.
    """
    score = _integer("sledai_2k", sledai_2k, 0, _SLEDAI_2K_MAX)
    major = _flag("major_organ_activity", major_organ_activity)
    new = _flag("new_activity", new_activity)
    pga = _in_range("physician_global", physician_global, 0.0, 3.0)
    prednisone = _in_range("prednisone_mg_per_day", prednisone_mg_per_day, 0.0)
    non_standard = _flag("non_standard_immunosuppression", non_standard_immunosuppression)
    haemolysis_gi = _flag("haemolytic_anaemia_or_gi_activity", haemolytic_anaemia_or_gi_activity)
    return (
        score <= 4
        and not major
        and not new
        and pga <= 1.0
        and prednisone <= 7.5
        and not non_standard
        and not haemolysis_gi
    )


# ------------------------------------------------------------------------------------------------------------
# Juvenile dermatomyositis: CMAS, MMT8, Total Improvement Score, PRINTO inactive disease
# ------------------------------------------------------------------------------------------------------------

#: CMAS items (Lovell 1999) with their maxima; total 52.
CMAS_ITEM_MAXIMA: Mapping[str, int] = MappingProxyType(
    {
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
)

#: CMAS items scored from a duration in seconds, with the lower edge (s) of each band above 0.
CMAS_TIMED_ITEMS: Mapping[str, tuple[float, ...]] = MappingProxyType(
    {
        "head_elevation": (10.0, 30.0, 60.0, 120.0),
        "straight_leg_lift": (10.0, 30.0, 60.0, 120.0),
        "arm_raise_duration": (10.0, 30.0, 60.0),
    }
)

#: MMT8 muscle groups (IMACS), each 0–10 on the Kendall scale, tested on one side.
MMT8_ITEMS = (
    "neck_flexors",
    "deltoid_middle",
    "biceps_brachii",
    "wrist_extensors",
    "gluteus_maximus",
    "gluteus_medius",
    "quadriceps",
    "ankle_dorsiflexors",
)


def cmas(items: Mapping[str, int]) -> int:
    """Childhood Myositis Assessment Scale (Lovell 1999), 0–52.

    ``items`` maps every code of :data:`CMAS_ITEM_MAXIMA` to an integer between 0 and that item's maximum; all
    14 are required (a partial CMAS has no published total).
    """
    checked = _complete_mapping("items", items, CMAS_ITEM_MAXIMA)
    return sum(
        _integer(f"items[{code!r}]", checked[code], 0, maximum) for code, maximum in CMAS_ITEM_MAXIMA.items()
    )


def cmas_timed_item(seconds: float, item: str = "head_elevation") -> int:
    """Score a timed CMAS item from the seconds held.

    ``head_elevation`` and ``straight_leg_lift``: 0 s → 0, 0 < s < 10 → 1, < 30 → 2, < 60 → 3, < 120 → 4,
    ≥ 120 → 5. ``arm_raise_duration``: 0 → 0, < 10 → 1, < 30 → 2, < 60 → 3, ≥ 60 → 4. ``seconds`` ≥ 0 and
    finite; ``item`` one of :data:`CMAS_TIMED_ITEMS`.
    """
    if item not in CMAS_TIMED_ITEMS:
        raise ValueError(f"item must be one of {_allowed(CMAS_TIMED_ITEMS)}; got {item!r}")
    held = _in_range("seconds", seconds, 0.0)
    if held == 0:
        return 0
    return 1 + sum(1 for edge in CMAS_TIMED_ITEMS[item] if held >= edge)


def mmt8(items: Mapping[str, int]) -> int:
    """Manual Muscle Testing, 8 groups (IMACS), unilateral total 0–80.

    ``items`` maps every code of :data:`MMT8_ITEMS` to an integer 0–10 (Kendall scale); all 8 are required. A
    "trace" grade is entered as an integer by the assessor (its numeric value is not settled in the sources).
    """
    checked = _complete_mapping("items", items, MMT8_ITEMS)
    return sum(_integer(f"items[{code!r}]", checked[code], 0, 10) for code in MMT8_ITEMS)


#: Core-set measures of the JDM Total Improvement Score.
_TIS_MEASURES = (
    "physician_global",
    "patient_global",
    "muscle_strength",
    "function",
    "enzymes",
    "extramuscular",
)

#: Level scores of the 2016 ACR/EULAR JDM response criteria: measure → (band upper edges in % improvement,
#: points of the band above each edge). Improvement at or below the first edge (including any worsening)
#: scores 0.
JDM_TIS_LEVELS: Mapping[str, tuple[tuple[float, ...], tuple[float, ...]]] = MappingProxyType(
    {
        "physician_global": ((5.0, 15.0, 25.0, 40.0), (7.5, 15.0, 17.5, 20.0)),
        "patient_global": ((5.0, 15.0, 25.0, 40.0), (2.5, 5.0, 7.5, 10.0)),
        "muscle_strength": ((2.0, 10.0, 20.0, 30.0), (10.0, 20.0, 27.5, 32.5)),
        "function": ((5.0, 15.0, 25.0, 40.0), (5.0, 7.5, 7.5, 10.0)),
        "enzymes": ((5.0, 15.0, 25.0, 40.0), (2.5, 5.0, 7.5, 7.5)),
        "extramuscular": ((5.0, 15.0, 25.0, 40.0), (7.5, 12.5, 15.0, 20.0)),
    }
)

# A percentage computed as (0.8 − 0.35) / 3 × 100 comes out as 15.000000000000002; band edges are compared
# with this absolute tolerance so that such a value stays in the band whose (inclusive) upper edge is 15.
_TIS_EDGE_TOLERANCE = 1e-9

#: Measures accepted by :func:`jdm_percent_improvement`: measure → (instrument range, True if higher is
#: better). ``enzymes`` has no range: its improvement is relative to the baseline value.
JDM_PERCENT_MEASURES: Mapping[str, tuple[float | None, bool]] = MappingProxyType(
    {
        "physician_global": (10.0, False),
        "patient_global": (10.0, False),
        "function": (3.0, False),
        "extramuscular": (10.0, False),
        "mmt8": (80.0, True),
        "cmas": (52.0, True),
        "enzymes": (None, False),
    }
)


def _tis_level(measure: str, percent: float) -> float:
    edges, points = JDM_TIS_LEVELS[measure]
    band = sum(1 for edge in edges if percent > edge + _TIS_EDGE_TOLERANCE)
    return 0.0 if band == 0 else points[band - 1]


def jdm_total_improvement_score(percent_improvement: Mapping[str, float]) -> float:
    """Total Improvement Score of the 2016 ACR/EULAR response criteria for JDM, 0–100.

    ``percent_improvement`` maps all six core-set measures — ``physician_global``, ``patient_global``,
    ``muscle_strength`` (MMT8 or CMAS), ``function`` (CHAQ), ``enzymes`` (most abnormal), ``extramuscular`` —
    to the absolute percent improvement (negative = worsening; see :func:`jdm_percent_improvement`). Each
    value must be finite and at most 100. Bands (:data:`JDM_TIS_LEVELS`) include their upper edge: up to 5 %
    (2 % for muscle strength) scores 0, including any worsening; exactly 15 % is in the 5–15 band; above 40 %
    (30 %) is the top band.
    """
    checked = _complete_mapping("percent_improvement", percent_improvement, _TIS_MEASURES)
    total = 0.0
    for measure in _TIS_MEASURES:
        name = f"percent_improvement[{measure!r}]"
        value = _number(name, checked[measure])
        if value > 100.0:
            raise ValueError(f"{name} must be a finite number <= 100 (percent improvement), got {value!r}")
        total += _tis_level(measure, value)
    return total


def jdm_percent_improvement(measure: str, baseline: float, follow_up: float) -> float:
    """Absolute percent improvement of one JDM core-set measure, signed so that improvement is positive.

    - ``physician_global``, ``patient_global`` (VAS 0–10), ``function`` (CHAQ 0–3), ``extramuscular`` (0–10):
      ``(baseline − follow_up) / range × 100``.
    - ``mmt8`` (0–80), ``cmas`` (0–52): ``(follow_up − baseline) / range × 100``.
    - ``enzymes`` (the most abnormal of CK, aldolase, ALT, AST, LDH, same unit at both visits): the relative
      change ``(baseline − follow_up) / baseline × 100``. A documented registry choice until checked against
      the official IMACS/PRINTO calculator; ``baseline`` must be > 0 and the result may fall below −100 when
      enzymes rise.

    Values must be finite and within the instrument range (enzymes: ≥ 0). Feed ``mmt8`` or ``cmas`` results
    into ``muscle_strength`` of :func:`jdm_total_improvement_score`.
    """
    if measure not in JDM_PERCENT_MEASURES:
        raise ValueError(f"measure must be one of {_allowed(JDM_PERCENT_MEASURES)}; got {measure!r}")
    scale, higher_is_better = JDM_PERCENT_MEASURES[measure]
    if scale is None:
        before = _positive("baseline", baseline)
        after = _in_range("follow_up", follow_up, 0.0)
        return (before - after) / before * 100.0
    before = _in_range("baseline", baseline, 0.0, scale)
    after = _in_range("follow_up", follow_up, 0.0, scale)
    change = after - before if higher_is_better else before - after
    return change / scale * 100.0


def jdm_response(tis: float) -> str:
    """JDM improvement category from the Total Improvement Score (0–100).

    ``"major"`` ≥ 70, ``"moderate"`` ≥ 45, ``"minimal"`` ≥ 30, otherwise ``"none"`` (JDM thresholds, not the
    adult DM/PM ones).
    """
    score = _in_range("tis", tis, 0.0, 100.0)
    if score >= 70.0:
        return "major"
    if score >= 45.0:
        return "moderate"
    if score >= 30.0:
        return "minimal"
    return "none"


def printo_inactive_jdm(
    *,
    ck_u_l: float | None,
    cmas: float | None,
    mmt8: float | None,
    physician_global: float | None,
) -> bool:
    """PRINTO clinically inactive disease in JDM (Lazarevic 2013): at least 3 of 4 criteria met.

    Criteria: CK ≤ 150 U/L; CMAS ≥ 48 (0–52); MMT8 ≥ 78 (0–80); physician global VAS ≤ 0.2 (0–10 cm). Every
    argument must be passed; ``None`` means "not measured" and counts as not met (so three criteria met with
    one missing still give inactive disease). Given values must be finite and within their range (CK ≥ 0).
    """
    met = 0
    if ck_u_l is not None and _in_range("ck_u_l", ck_u_l, 0.0) <= 150.0:
        met += 1
    if cmas is not None and _in_range("cmas", cmas, 0.0, 52.0) >= 48.0:
        met += 1
    if mmt8 is not None and _in_range("mmt8", mmt8, 0.0, 80.0) >= 78.0:
        met += 1
    if physician_global is not None and _in_range("physician_global", physician_global, 0.0, 10.0) <= 0.2:
        met += 1
    return met >= 3


# ------------------------------------------------------------------------------------------------------------
# Systemic sclerosis: mRSS, revised EUSTAR activity index
# ------------------------------------------------------------------------------------------------------------

#: The 17 modified Rodnan skin score sites, each 0–3.
MRSS_SITES = (
    "face",
    "anterior_chest",
    "abdomen",
    *(
        f"{area}_{side}"
        for area in ("fingers", "hands", "forearms", "upper_arms", "thighs", "lower_legs", "feet")
        for side in ("right", "left")
    ),
)

#: Weights of the revised EUSTAR activity index (Valentini 2017); they sum to 10.
EUSTAR_AI_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "skin_worsening": 1.5,
        "digital_ulcers": 1.5,
        "mrss_above_18": 1.5,
        "tendon_friction_rubs": 2.25,
        "crp_above_1_mg_dl": 2.25,
        "dlco_below_70_percent": 1.0,
    }
)


def mrss(sites: Mapping[str, int]) -> int:
    """Modified Rodnan skin score, 0–51: 17 sites (:data:`MRSS_SITES`), each an integer 0–3, all required."""
    checked = _complete_mapping("sites", sites, MRSS_SITES)
    return sum(_integer(f"sites[{site!r}]", checked[site], 0, 3) for site in MRSS_SITES)


def eustar_activity_index(
    *,
    skin_worsening: bool,
    digital_ulcers: bool,
    mrss: int,
    tendon_friction_rubs: bool,
    crp_mg_dl: float,
    dlco_percent_predicted: float,
) -> float:
    """Revised EUSTAR activity index for systemic sclerosis (Valentini 2017), 0–10.

    Patient-reported skin worsening in the last month 1.5; active digital ulcers 1.5; mRSS > 18 1.5; tendon
    friction rubs 2.25; CRP > 1 mg/dL (> 10 mg/L) 2.25; DLCO < 70 % predicted 1.0. The mRSS item is the binary
    one (the continuous 0.084 × mRSS variant is not implemented). Flags are ``bool``; ``mrss`` an integer
    0–51; ``crp_mg_dl`` and ``dlco_percent_predicted`` ≥ 0. Active disease: :func:`eustar_active`.
    """
    flags = {
        "skin_worsening": _flag("skin_worsening", skin_worsening),
        "digital_ulcers": _flag("digital_ulcers", digital_ulcers),
        "mrss_above_18": _integer("mrss", mrss, 0, 51) > 18,
        "tendon_friction_rubs": _flag("tendon_friction_rubs", tendon_friction_rubs),
        "crp_above_1_mg_dl": _in_range("crp_mg_dl", crp_mg_dl, 0.0) > 1.0,
        "dlco_below_70_percent": _in_range("dlco_percent_predicted", dlco_percent_predicted, 0.0) < 70.0,
    }
    return sum(EUSTAR_AI_WEIGHTS[item] for item, present in flags.items() if present)


def eustar_active(index: float) -> bool:
    """True when a revised EUSTAR activity index (0–10) shows active disease (≥ 2.5)."""
    return _in_range("index", index, 0.0, 10.0) >= 2.5


# ------------------------------------------------------------------------------------------------------------
# Steroids and kidney function
# ------------------------------------------------------------------------------------------------------------

#: mg of prednisone equivalent to 1 mg of each glucocorticoid (oral or IV), BNF-derived.
STEROID_FACTORS: Mapping[str, float] = MappingProxyType(
    {
        "prednisone": 1.0,
        "prednisolone": 1.0,
        "methylprednisolone": 1.25,
        "dexamethasone": 6.667,
        "hydrocortisone": 0.25,
        "deflazacort": 0.8333,
        "betamethasone": 6.667,
        "triamcinolone": 1.25,
    }
)


def prednisone_equivalent_mg(
    drug: str,
    dose_mg: float,
    *,
    dexamethasone_factor: float = 6.667,
    betamethasone_factor: float = 6.667,
) -> float:
    """Prednisone-equivalent dose in mg: ``dose_mg × factor`` (:data:`STEROID_FACTORS`), unrounded.

    ``drug`` is matched case-insensitively against :data:`STEROID_FACTORS`. The dexamethasone and
    betamethasone factors default to 6.667 (0.75 mg ≡ prednisone 5 mg); some tables use 0.6 mg (8.333), hence
    the keywords. ``dose_mg`` ≥ 0 (0 mg gives 0); factors > 0. Not for depot intra-articular/IM preparations;
    pulse methylprednisolone is reported separately by the service. Compare results with a tolerance
    (deflazacort 30 mg → 24.999).
    """
    if not isinstance(drug, str) or drug.lower() not in STEROID_FACTORS:
        raise ValueError(f"drug must be one of {_allowed(STEROID_FACTORS)} (any case); got {drug!r}")
    dose = _in_range("dose_mg", dose_mg, 0.0)
    factors = {
        **STEROID_FACTORS,
        "dexamethasone": _positive("dexamethasone_factor", dexamethasone_factor),
        "betamethasone": _positive("betamethasone_factor", betamethasone_factor),
    }
    return dose * factors[drug.lower()]


def pediatric_egfr(
    *,
    height_cm: float,
    creatinine_umol_l: float | None = None,
    creatinine_mg_dl: float | None = None,
) -> float:
    """Bedside Schwartz eGFR in mL/min/1.73 m² (Schwartz 2009), unrounded.

    ``36.5 × height_cm / creatinine_umol_l`` or, equivalently, ``0.413 × height_cm / creatinine_mg_dl``. Give
    exactly one creatinine argument; height and creatinine must be finite and > 0.
    """
    height = _positive("height_cm", height_cm)
    if (creatinine_umol_l is None) == (creatinine_mg_dl is None):
        raise ValueError("give exactly one of creatinine_umol_l or creatinine_mg_dl")
    if creatinine_umol_l is not None:
        return 36.5 * height / _positive("creatinine_umol_l", creatinine_umol_l)
    return 0.413 * height / _positive("creatinine_mg_dl", creatinine_mg_dl)
