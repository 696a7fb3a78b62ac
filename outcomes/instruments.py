"""Scoring of the disease-activity instruments of a visit: pure shaping around :mod:`outcomes.scores`.

These functions take plain values (items, globals, lab values) and return the computed fields; services feed
them from the visit form, the patient's medications and the shared laboratory table. ``ValueError`` from the
score functions is re-raised naming the instrument field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from outcomes import scores

SLEDAI_LAB_DESCRIPTORS = (
    "low_complement",
    "increased_dna_binding",
    "thrombocytopenia",
    "leukopenia",
    "proteinuria",
)
# Form-level thresholds that propose lab-backed descriptors (GRADING.md §5.1; the clinician confirms).
PLATELETS_BELOW_10E9_L = 100.0
WBC_BELOW_CELLS_UL = 3000.0
PROTEINURIA_UPCR_ABOVE_G_G = 0.5


def suggest_sledai_descriptors(labs: Mapping[str, tuple[float, float | None, float | None]]) -> list[str]:
    """Lab-backed SLEDAI-2K descriptors suggested from the visit's labs.

    ``labs`` maps analyte code → (value in canonical unit, LLN, ULN): low complement (C3 or C4 below LLN),
    increased DNA binding (anti-dsDNA above ULN), thrombocytopenia (platelets < 100 ×10⁹/L), leukopenia
    (WBC < 3000/µL), proteinuria (UPCR > 0.5 g/g).
    """
    found = []

    def below_lln(code: str) -> bool:
        value = labs.get(code)
        return value is not None and value[1] is not None and value[0] < value[1]

    if below_lln("c3") or below_lln("c4"):
        found.append("low_complement")
    dna = labs.get("anti_dsdna")
    if dna is not None and dna[2] is not None and dna[0] > dna[2]:
        found.append("increased_dna_binding")
    if "platelets" in labs and labs["platelets"][0] < PLATELETS_BELOW_10E9_L:
        found.append("thrombocytopenia")
    if "wbc" in labs and labs["wbc"][0] < WBC_BELOW_CELLS_UL:
        found.append("leukopenia")
    if "upcr" in labs and labs["upcr"][0] > PROTEINURIA_UPCR_ABOVE_G_G:
        found.append("proteinuria")
    return found


@dataclass(frozen=True)
class SledaiResult:
    sledai_2k: int
    clinical_sledai_2k: int
    doris_remission: bool
    lldas: bool


def score_sledai(
    *,
    descriptors: list[str],
    physician_global: float,
    prednisone_mg_per_day: float,
    new_activity: bool = False,
    non_standard_immunosuppression: bool = False,
    haemolytic_anaemia_or_gi_activity: bool = False,
) -> SledaiResult:
    total = scores.sledai_2k(descriptors)
    clinical = scores.clinical_sledai_2k(descriptors)
    return SledaiResult(
        total,
        clinical,
        scores.doris_remission(
            clinical_sledai=clinical,
            physician_global=physician_global,
            prednisone_mg_per_day=prednisone_mg_per_day,
        ),
        scores.lldas(
            sledai_2k=total,
            major_organ_activity=scores.lldas_major_organ_activity(descriptors),
            new_activity=new_activity,
            physician_global=physician_global,
            prednisone_mg_per_day=prednisone_mg_per_day,
            non_standard_immunosuppression=non_standard_immunosuppression,
            haemolytic_anaemia_or_gi_activity=haemolytic_anaemia_or_gi_activity,
        ),
    )


def cmas_items_with_timed(items: Mapping[str, Any], timed_seconds: Mapping[str, Any]) -> dict[str, int]:
    """CMAS items where timed items given in seconds are converted to their item score."""
    merged = {k: v for k, v in items.items() if v not in (None, "")}
    for item, seconds in timed_seconds.items():
        if seconds in (None, ""):
            continue
        merged[item] = scores.cmas_timed_item(float(seconds), item)
    return merged


@dataclass(frozen=True)
class JdmResult:
    cmas: int | None
    mmt8: int | None
    percent_improvement: dict[str, float]
    total_improvement_score: float | None
    response: str
    printo_inactive: bool | None


JDM_MEASURES = (
    "physician_global",
    "patient_global",
    "muscle_strength",
    "function",
    "enzymes",
    "extramuscular",
)


def score_jdm(
    *, current: Mapping[str, Any], baseline: Mapping[str, Any] | None, ck_u_l: float | None
) -> JdmResult:
    """CMAS, MMT8, percent improvements against baseline, TIS and response, PRINTO inactive disease.

    ``current``/``baseline``: ``cmas``, ``mmt8``, ``physician_global``, ``patient_global``, ``chaq``,
    ``extramuscular``, ``enzyme`` (value of the most abnormal muscle enzyme at baseline, same enzyme at both).
    The TIS needs all six core-set measures at both visits; muscle strength uses MMT8 when both visits have
    it, else CMAS.
    """
    improvements: dict[str, float] = {}
    tis = None
    response = ""
    if baseline is not None:
        pairs = {
            "physician_global": ("physician_global", "physician_global"),
            "patient_global": ("patient_global", "patient_global"),
            "function": ("function", "chaq"),
            "extramuscular": ("extramuscular", "extramuscular"),
            "enzymes": ("enzymes", "enzyme"),
        }
        for measure, (scale, key) in pairs.items():
            if baseline.get(key) is not None and current.get(key) is not None:
                if scale == "enzymes" and not baseline[key]:
                    continue
                improvements[measure] = scores.jdm_percent_improvement(
                    scale, float(baseline[key]), float(current[key])
                )
        for key in ("mmt8", "cmas"):
            if baseline.get(key) is not None and current.get(key) is not None:
                improvements["muscle_strength"] = scores.jdm_percent_improvement(
                    key, float(baseline[key]), float(current[key])
                )
                break
        if all(m in improvements for m in JDM_MEASURES):
            capped = {m: min(v, 100.0) for m, v in improvements.items()}
            tis = scores.jdm_total_improvement_score(capped)
            response = scores.jdm_response(tis)
    printo = None
    if current.get("physician_global") is not None:
        printo = scores.printo_inactive_jdm(
            ck_u_l=ck_u_l,
            cmas=current.get("cmas"),
            mmt8=current.get("mmt8"),
            physician_global=float(current["physician_global"]),
        )
    return JdmResult(current.get("cmas"), current.get("mmt8"), improvements, tis, response, printo)


@dataclass(frozen=True)
class SscResult:
    mrss: int
    eustar_activity_index: float | None
    eustar_active: bool | None


def score_ssc(
    *,
    sites: Mapping[str, int],
    skin_worsening: bool,
    digital_ulcers: bool,
    tendon_friction_rubs: bool,
    crp_mg_dl: float | None,
    dlco_percent_predicted: float | None,
) -> SscResult:
    total = scores.mrss(sites)
    if crp_mg_dl is None or dlco_percent_predicted is None:
        return SscResult(total, None, None)
    index = scores.eustar_activity_index(
        skin_worsening=skin_worsening,
        digital_ulcers=digital_ulcers,
        mrss=total,
        tendon_friction_rubs=tendon_friction_rubs,
        crp_mg_dl=crp_mg_dl,
        dlco_percent_predicted=dlco_percent_predicted,
    )
    return SscResult(total, index, scores.eustar_active(index))
