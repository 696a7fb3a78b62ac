"""The summary frame of each case-series table (section, characteristic, statistic, then one column for all
patients and one per diagnosis present), from its per-patient frame.
"""

from __future__ import annotations

import pandas as pd

from patients.models import Diagnosis, Organ
from registry.exports.definitions import DIAGNOSES, DIAGNOSIS_SHORT, EFFICACY_TIMEPOINTS, MEASURES
from registry.exports.modes import ExportPolicy
from registry.exports.tables.summary import Summary, _present

# --- summaries --------------------------------------------------------------------------------


def baseline_summary(frame: pd.DataFrame, policy: ExportPolicy, spread: str) -> pd.DataFrame:
    organs = sorted(
        {o for found in frame["_organs"] for o in found}, key=lambda o: list(Organ.values).index(o)
    )
    frame = frame.assign(
        **{f"_organ:{organ}": frame["_organs"].map(lambda found, o=organ: o in found) for organ in organs}
    )
    s = Summary(frame, policy, spread)
    s.patients("Patients", "Patients")
    centres = sorted(set(frame["_centre_label"]))
    s.levels("Patients", "Centre", "_centre_label", [(c, c) for c in centres])
    s.levels("Patients", "Diagnosis", "diagnosis", [(d, str(Diagnosis(d).label)) for d in DIAGNOSES])
    s.levels("Demographics", "Sex", "sex", [("female", "female"), ("male", "male")])
    s.continuous("Demographics", "Age at infusion, years", "age_at_infusion_years", decimals=0)
    s.continuous("Disease", "Disease duration at infusion, years", "disease_duration_years", decimals=1)
    for organ in organs:
        s.flag("Organ involvement", str(Organ(organ).label), f"_organ:{organ}", not_evaluable=False)
    s.continuous(
        "Prior therapy", "Prior lines of therapy (glucocorticoids not counted)", "prior_lines", decimals=0
    )
    s.flag("Prior therapy", "B-cell-targeted prior therapy", "b_cell_targeted_prior", not_evaluable=False)
    for m in MEASURES:
        s.continuous(
            "Disease activity at baseline",
            f"{m.label} ({DIAGNOSIS_SHORT[m.diagnosis]})",
            f"baseline_{m.code}",
            decimals=m.decimals,
            only=m.diagnosis,
            skip_empty=True,
        )
    return s.frame()


def dosing_summary(frame: pd.DataFrame, policy: ExportPolicy, spread: str) -> pd.DataFrame:
    s = Summary(frame, policy, spread)
    s.patients("Patients", "Patients")
    s.flag("Patients", "Infused (day 0 recorded)", "_infused", not_evaluable=False)
    products = sorted({p for p in frame["product"] if _present(p)})
    if products:
        s.levels("Product", "Product", "product", [(p, p) for p in products], missing_label="no run")
    s.levels(
        "Manufacturing",
        "Manufacturing",
        "manufacturing_outcome",
        [("success", "successful"), ("failed", "failed")],
        missing_label="no run recorded",
    )
    s.continuous("Manufacturing", "Vein-to-vein time, days", "vein_to_vein_days", decimals=0)
    s.continuous("Manufacturing", "Manufacturing duration, days", "manufacturing_days", decimals=0)
    s.continuous("Manufacturing", "Transduction efficiency, %", "transduction_pct", decimals=1)
    s.continuous("Manufacturing", "Viability, %", "viability_pct", decimals=1)
    s.continuous("Manufacturing", "Drug-product bags per run, n", "bags", decimals=0)
    s.levels(
        "Manufacturing",
        "Product",
        "product_state",
        [("fresh", "fresh"), ("cryopreserved", "cryopreserved")],
        missing_label="no run recorded",
    )
    s.continuous("Dosing", "Dose, ×10⁶ CAR T cells/kg", "dose_per_kg", decimals=2, scale=1e-6)
    s.continuous("Dosing", "Dose, % of target", "percent_of_target", decimals=1)
    s.levels(
        "Dosing",
        "Dose window",
        "dose_window",
        [("within", "within"), ("below", "below"), ("above", "above")],
        missing_label="not infused",
    )
    s.flag("Dosing", "More than one infusion", "_reinfused", not_evaluable=False)
    regimens = sorted({r for r in frame["lymphodepletion_regimen"] if _present(r)})
    s.levels(
        "Lymphodepletion",
        "Regimen",
        "lymphodepletion_regimen",
        [(r, r) for r in regimens],
        missing_label="none recorded",
    )
    s.continuous(
        "Lymphodepletion", "Fludarabine, total mg/m²", "fludarabine_mg_m2", decimals=0, skip_empty=True
    )
    s.continuous(
        "Lymphodepletion",
        "Cyclophosphamide, total mg/m²",
        "cyclophosphamide_mg_m2",
        decimals=0,
        skip_empty=True,
    )
    s.continuous(
        "Lymphodepletion", "Bendamustine, total mg/m²", "bendamustine_mg_m2", decimals=0, skip_empty=True
    )
    return s.frame()


GRADES = [(g, f"grade {g}") for g in range(1, 6)]
ICAHT_GRADES = [(g, f"grade {g}") for g in range(0, 5)]


def safety_summary(frame: pd.DataFrame, policy: ExportPolicy, spread: str) -> pd.DataFrame:
    s = Summary(frame, policy, spread)
    s.patients("Patients", "Patients with day 0")
    s.levels("CRS (ASTCT 2019)", "CRS", "crs_max_grade", GRADES, any_level="any grade", any_from=1)
    s.continuous("CRS (ASTCT 2019)", "CRS onset, study day", "crs_onset_day", decimals=0)
    s.continuous("CRS (ASTCT 2019)", "CRS duration, days", "crs_duration_days", decimals=0)
    s.flag("CRS (ASTCT 2019)", "Tocilizumab", "_tocilizumab", not_evaluable=False)
    s.flag("CRS (ASTCT 2019)", "Corticosteroids for CRS", "crs_corticosteroids", not_evaluable=False)
    s.levels("ICANS (ASTCT 2019)", "ICANS", "icans_max_grade", GRADES, any_level="any grade", any_from=1)
    s.continuous("ICANS (ASTCT 2019)", "ICANS onset, study day", "icans_onset_day", decimals=0)
    s.continuous("ICANS (ASTCT 2019)", "ICANS duration, days", "icans_duration_days", decimals=0)
    s.levels("ICAHT (EHA/EBMT 2023)", "Early ICAHT", "icaht_early_grade", ICAHT_GRADES)
    s.levels("ICAHT (EHA/EBMT 2023)", "Late ICAHT", "icaht_late_grade", ICAHT_GRADES)
    s.continuous(
        "ICAHT (EHA/EBMT 2023)", "Neutrophil recovery, study day", "neutrophil_recovery_day", decimals=0
    )
    s.flag("ICAHT (EHA/EBMT 2023)", "G-CSF", "gcsf", not_evaluable=False)
    s.flag("ICAHT (EHA/EBMT 2023)", "Transfusion", "transfusions", not_evaluable=False)
    s.flag("Infections", "Any infection", "_any_infection", not_evaluable=False)
    s.count_sum("Infections", "Infection episodes", "infections")
    s.flag("Infections", "Severe infection (grade ≥ 3)", "_severe_infection", not_evaluable=False)
    s.flag("Other adverse events", "Serious adverse event", "_sae", not_evaluable=False)
    s.flag("Other adverse events", "Adverse event grade ≥ 3", "_ae_grade3", not_evaluable=False)
    s.flag("Other adverse events", "Died", "died", not_evaluable=False)
    return s.frame()


def efficacy_summary(frame: pd.DataFrame, policy: ExportPolicy, spread: str) -> pd.DataFrame:
    s = Summary(frame, policy, spread)
    s.patients("Patients", "Patients with day 0")
    s.continuous("Follow-up", "Follow-up, months", "follow_up_months", decimals=1)
    for m in MEASURES:
        if not any(frame[f"_m:{m.code}:{tp}"].notna().any() for tp, _l in EFFICACY_TIMEPOINTS):
            continue
        section = f"{m.label} ({DIAGNOSIS_SHORT[m.diagnosis]})"
        for tp, label in EFFICACY_TIMEPOINTS:
            s.continuous(section, str(label), f"_m:{m.code}:{tp}", decimals=m.decimals, only=m.diagnosis)
        for tp, label in EFFICACY_TIMEPOINTS[1:]:
            s.continuous(
                section,
                f"% change from baseline, {label}",
                f"_c:{m.code}:{tp}",
                decimals=1,
                only=m.diagnosis,
            )
    s.flag(
        "Response",
        "Remission / inactive disease reached (DORIS, PRINTO, EUSTAR-AI < 2.5)",
        "remission_reached",
        not_evaluable=False,
    )
    s.flag("Response", "Remission / inactive disease at last assessment", "remission_at_last")
    s.flag("Response", "LLDAS at last assessment (SLE)", "lldas_at_last", only=Diagnosis.SLE)
    responses = [("major", "major"), ("moderate", "moderate"), ("minimal", "minimal"), ("none", "none")]
    if (frame["diagnosis"] == Diagnosis.JDM).any():
        s.levels(
            "Response",
            "ACR/EULAR JDM response at last assessment (JDM)",
            "jdm_response_at_last",
            responses,
            only=Diagnosis.JDM,
        )
    s.flag("Response", "Flare after remission", "_flare")
    s.flag("Immunomodulators", "Immunomodulator-free at last follow-up", "immunomodulator_free")
    s.flag(
        "Immunomodulators",
        "Immunomodulator-free after B-cell reconstitution (of reconstituted)",
        "_free_after_reconstitution",
        not_evaluable=False,
    )
    s.flag("B cells and CAR T cells", "B-cell aplasia", "_b_cell_aplasia", not_evaluable=False)
    s.flag(
        "B cells and CAR T cells",
        "B-cell reconstitution (of aplastic)",
        "_reconstituted",
        not_evaluable=False,
    )
    s.continuous(
        "B cells and CAR T cells", "B-cell reconstitution, study day", "b_cell_reconstitution_day", decimals=0
    )
    s.continuous("B cells and CAR T cells", "CAR T-cell peak, cells/µL", "car_t_peak_per_ul", decimals=1)
    s.continuous("B cells and CAR T cells", "CAR T-cell peak, study day", "car_t_peak_day", decimals=0)
    s.continuous("B cells and CAR T cells", "IgG nadir, g/L", "igg_nadir_g_l", decimals=1, skip_empty=True)
    return s.frame()
