"""What the case-series exports contain: instruments, timepoints, columns and their data dictionary.

Pure definitions (no queries, no pandas): the selectors read what is listed here, the tables shape it, the
formats write the dictionary next to the data. Units are in the labels and in the ``unit`` of each column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

DIAGNOSES = ("sle", "jdm", "ssc")
DIAGNOSIS_SHORT = {"sle": "SLE", "jdm": "JDM", "ssc": "SSc"}
#: One colour per diagnosis in every figure (colour-blind-safe Okabe–Ito hues).
DIAGNOSIS_COLOURS = {"sle": "#0072B2", "jdm": "#D55E00", "ssc": "#009E73"}

TABLES = ("baseline", "dosing", "safety", "efficacy")
TABLE_TITLES = {
    "baseline": _("Baseline characteristics"),
    "dosing": _("Manufacturing and dosing"),
    "safety": _("Safety"),
    "efficacy": _("Efficacy"),
}
FIGURES = ("swimmer", "spider", "kinetics", "toxicity")
FIGURE_TITLES = {
    "swimmer": _("Swimmer plot: follow-up and events per child"),
    "spider": _("Spider plot: % change in disease activity from baseline"),
    "kinetics": _("CAR T-cell and B-cell kinetics (log scale)"),
    "toxicity": _("Toxicity heat map: CRS and ICANS grade by study day"),
}
TIDY_DOMAINS = ("baseline", "dosing", "toxicity", "visits", "labs", "medications")

MONTH_DAYS = 30.4375  # DESIGN §4


@dataclass(frozen=True)
class Measure:
    """A disease-activity measure stored on a visit instrument."""

    code: str
    label: Any
    diagnosis: str
    instrument: str  # related name on Visit: sledai, jdm, ssc
    field: str
    unit: str
    higher_is_better: bool
    decimals: int


MEASURES: tuple[Measure, ...] = (
    Measure("sledai_2k", _("SLEDAI-2K"), "sle", "sledai", "sledai_2k", "points (0–105)", False, 0),
    Measure(
        "clinical_sledai_2k",
        _("Clinical SLEDAI-2K"),
        "sle",
        "sledai",
        "clinical_sledai_2k",
        "points",
        False,
        0,
    ),
    Measure(
        "sle_physician_global",
        _("Physician global assessment, SLE (0–3)"),
        "sle",
        "sledai",
        "physician_global",
        "0–3",
        False,
        1,
    ),
    Measure("cmas", _("CMAS (0–52)"), "jdm", "jdm", "cmas", "points", True, 0),
    Measure("mmt8", _("MMT8 (0–80)"), "jdm", "jdm", "mmt8", "points", True, 0),
    Measure("cdasi_activity", _("CDASI activity"), "jdm", "jdm", "cdasi_activity", "points", False, 1),
    Measure(
        "jdm_physician_global",
        _("Physician global activity, JDM (0–10)"),
        "jdm",
        "jdm",
        "physician_global",
        "0–10",
        False,
        1,
    ),
    Measure("chaq", _("CHAQ disability index (0–3)"), "jdm", "jdm", "chaq", "0–3", False, 2),
    Measure("mrss", _("Modified Rodnan skin score (0–51)"), "ssc", "ssc", "mrss", "points", False, 0),
    Measure(
        "eustar_ai",
        _("Revised EUSTAR activity index"),
        "ssc",
        "ssc",
        "eustar_activity_index",
        "points",
        False,
        2,
    ),
    Measure("fvc_pct", _("FVC, % predicted"), "ssc", "ssc", "fvc_percent_predicted", "%", True, 1),
    Measure("dlco_pct", _("DLCO, % predicted"), "ssc", "ssc", "dlco_percent_predicted", "%", True, 1),
)
MEASURE_BY_CODE = {m.code: m for m in MEASURES}
#: The disease-activity score of each diagnosis used in the per-patient efficacy table and the spider plot
#: (lower = less active for all three, so a negative % change is an improvement).
ACTIVITY_MEASURE = {"sle": "sledai_2k", "jdm": "jdm_physician_global", "ssc": "mrss"}
#: Efficacy timepoints: baseline (last assessment on or before day 0), scheduled months, last follow-up.
EFFICACY_TIMEPOINTS = (
    ("baseline", _("Baseline")),
    ("m3", _("Month 3")),
    ("m6", _("Month 6")),
    ("m12", _("Month 12")),
    ("last", _("Last follow-up")),
)
SCHEDULED_EFFICACY_TIMEPOINTS = ("m3", "m6", "m12")


@dataclass(frozen=True)
class Column:
    """A column of a per-patient table or tidy dataset, as the data dictionary describes it."""

    name: str
    label: Any  # str or lazy translation
    kind: str  # text, category, integer, number, boolean, study_day
    unit: str = ""
    description: Any = ""
    free_text: bool = False  # dropped in external exports
    identity: bool = False  # only in identified exports


def C(name, label, kind, unit="", description="", **flags) -> Column:  # noqa: N802 - a table-like helper
    return Column(name, label, kind, unit, description, **flags)


KEY_COLUMNS = (
    C(
        "patient",
        _("Patient"),
        "text",
        "",
        _("Registry code (internal, identified) or recipient pseudonym (external)."),
    ),
    C("centre", _("Centre"), "category", "", _("Centre code, or C1, C2 … in external exports.")),
    C("diagnosis", _("Diagnosis"), "category", "", _("sle, jdm or ssc.")),
)
IDENTITY_COLUMNS = (
    C("given_name", _("Given name"), "text", identity=True),
    C("family_name", _("Family name"), "text", identity=True),
    C("date_of_birth", _("Date of birth"), "text", "YYYY-MM-DD", identity=True),
    C("hospital_number", _("Hospital number"), "text", identity=True),
    C("infusion_date", _("Infusion date (day 0)"), "text", "YYYY-MM-DD", identity=True),
)

BASELINE_COLUMNS = (
    C("sex", _("Sex"), "category", "", _("female or male.")),
    C("age_at_infusion_years", _("Age at infusion"), "integer", "years", _("Completed years at day 0.")),
    C(
        "disease_duration_years",
        _("Disease duration"),
        "number",
        "years",
        _("Diagnosis to day 0, 365.25-day years."),
    ),
    C("treatment_pathway", _("Treatment pathway"), "category"),
    C(
        "organ_involvement",
        _("Organ involvement"),
        "category",
        "",
        _("Organs involved at baseline, '; '-separated codes."),
    ),
    C("organs_involved", _("Organs involved"), "integer", "n"),
    C(
        "prior_lines",
        _("Prior lines of therapy"),
        "integer",
        "n",
        _("Prior therapies except glucocorticoids."),
    ),
    C("b_cell_targeted_prior", _("B-cell-targeted prior therapy"), "boolean"),
    C(
        "prior_therapies",
        _("Prior therapies"),
        "text",
        "",
        _("Drug names as entered (free text)."),
        free_text=True,
    ),
    *(
        C(
            f"baseline_{m.code}",
            format_lazy("{} {}", m.label, _("at baseline")),
            "number",
            m.unit,
            _("Last assessment on or before day 0."),
        )
        for m in MEASURES
    ),
)

DOSING_COLUMNS = (
    C(
        "product",
        _("Product"),
        "category",
        "",
        _("Product code of the day-0 infusion (or of the latest run)."),
    ),
    C(
        "manufacturing_outcome",
        _("Manufacturing outcome"),
        "category",
        "",
        _("success or failed (latest run)."),
    ),
    C("manufacturing_runs", _("Manufacturing runs"), "integer", "n"),
    C("product_state", _("Fresh or cryopreserved"), "category"),
    C("vein_to_vein_days", _("Vein-to-vein time"), "integer", "days", _("Apheresis to infusion.")),
    C("apheresis_day", _("Apheresis"), "study_day", "study day"),
    C("manufacturing_days", _("Manufacturing duration"), "integer", "days", _("Run start to end.")),
    C("transduction_pct", _("Transduction efficiency"), "number", "%"),
    C("viability_pct", _("Viability"), "number", "%"),
    C("cd4_cd8_ratio", _("CD4:CD8 ratio"), "number"),
    C("vector_copy_number", _("Vector copy number"), "number", "copies/cell"),
    C("bags", _("Drug-product bags"), "integer", "n"),
    C("weight_kg", _("Weight used for dosing"), "number", "kg"),
    C("car_t_cells_infused", _("CAR T cells infused"), "integer", "cells"),
    C("dose_per_kg", _("Dose"), "integer", "CAR T cells/kg", _("Whole cells per kg.")),
    C("percent_of_target", _("Dose, % of target"), "number", "%"),
    C("dose_window", _("Dose window"), "category", "", _("below, within or above the product's window.")),
    C("reinfusions", _("Further infusions"), "integer", "n"),
    C(
        "lymphodepletion_regimen",
        _("Lymphodepletion regimen"),
        "category",
        "",
        _("Agents given, e.g. Flu/Cy."),
    ),
    C("lymphodepletion_start_day", _("Lymphodepletion start"), "study_day", "study day"),
    C("fludarabine_mg_m2", _("Fludarabine, total"), "number", "mg/m²"),
    C("cyclophosphamide_mg_m2", _("Cyclophosphamide, total"), "number", "mg/m²"),
    C("bendamustine_mg_m2", _("Bendamustine, total"), "number", "mg/m²"),
)

SAFETY_COLUMNS = (
    C("crs_max_grade", _("CRS, maximum grade"), "integer", "ASTCT 2019"),
    C("crs_onset_day", _("CRS onset"), "study_day", "study day"),
    C(
        "crs_duration_days",
        _("CRS duration"),
        "integer",
        "days",
        _("Worst episode, onset to first grade-0 assessment."),
    ),
    C("tocilizumab_doses", _("Tocilizumab doses"), "integer", "n"),
    C("crs_corticosteroids", _("Corticosteroids for CRS"), "boolean"),
    C("icans_max_grade", _("ICANS, maximum grade"), "integer", "ASTCT 2019"),
    C("icans_onset_day", _("ICANS onset"), "study_day", "study day"),
    C("icans_duration_days", _("ICANS duration"), "integer", "days"),
    C(
        "icaht_early_grade",
        _("Early ICAHT grade (days 0–30)"),
        "integer",
        "EHA/EBMT 2023",
        _("Empty when not evaluable."),
    ),
    C(
        "icaht_late_grade",
        _("Late ICAHT grade (after day 30)"),
        "integer",
        "EHA/EBMT 2023",
        _("Empty when not evaluable."),
    ),
    C("neutrophil_recovery_day", _("Neutrophil recovery"), "study_day", "study day"),
    C("transfusions", _("Transfusions"), "integer", "units"),
    C("gcsf", _("G-CSF given"), "boolean"),
    C("infections", _("Infections"), "integer", "n"),
    C("severe_infections", _("Severe infections (grade ≥ 3)"), "integer", "n"),
    C("max_infection_grade", _("Infection, maximum grade"), "integer", "CTCAE 5.0"),
    C("serious_adverse_events", _("Serious adverse events"), "integer", "n"),
    C("max_ae_grade", _("Other adverse events, maximum grade"), "integer", "CTCAE 5.0"),
    C("died", _("Died"), "boolean"),
)

EFFICACY_COLUMNS = (
    C(
        "activity_measure",
        _("Disease-activity score"),
        "category",
        "",
        _("SLEDAI-2K (SLE), physician global activity (JDM), mRSS (SSc)."),
    ),
    *(
        C(f"activity_{tp}", format_lazy("{}, {}", _("Activity score"), label), "number", "points")
        for tp, label in EFFICACY_TIMEPOINTS
    ),
    C("activity_last_day", _("Last assessment"), "study_day", "study day"),
    *(
        C(
            f"activity_change_{tp}_pct",
            format_lazy("{}, {}", _("Change from baseline"), label),
            "number",
            "%",
            _("(value − baseline) / baseline × 100; negative is improvement."),
        )
        for tp, label in EFFICACY_TIMEPOINTS[1:]
    ),
    C(
        "remission_reached",
        _("Remission / inactive disease reached"),
        "boolean",
        "",
        _("DORIS remission (SLE), PRINTO inactive (JDM), EUSTAR-AI < 2.5 (SSc)."),
    ),
    C("first_remission_day", _("First remission"), "study_day", "study day"),
    C("remission_at_last", _("Remission / inactive at last assessment"), "boolean"),
    C("lldas_at_last", _("LLDAS at last assessment (SLE)"), "boolean"),
    C("jdm_response_at_last", _("ACR/EULAR JDM response at last assessment"), "category"),
    C("latest_status", _("Latest disease status"), "category"),
    C("flares", _("Flares after remission"), "integer", "n"),
    C(
        "immunomodulator_free",
        _("Immunomodulator-free at last follow-up"),
        "boolean",
        "",
        _("No immunomodulator or glucocorticoid running; empty without follow-up after day 0."),
    ),
    C("immunomodulator_free_since_day", _("Immunomodulator-free since"), "study_day", "study day"),
    C(
        "b_cell_aplasia_day",
        _("B-cell aplasia from"),
        "study_day",
        "study day",
        _("CD19+ < 1 cell/µL (setting)."),
    ),
    C(
        "b_cell_reconstitution_day",
        _("B-cell reconstitution"),
        "study_day",
        "study day",
        _("CD19+ ≥ 10 cells/µL after aplasia (setting)."),
    ),
    C("car_t_peak_per_ul", _("CAR T-cell peak"), "number", "cells/µL"),
    C("car_t_peak_day", _("Day of CAR T-cell peak"), "study_day", "study day"),
    C("igg_nadir_g_l", _("IgG nadir"), "number", "g/L"),
    C("last_follow_up_day", _("Last follow-up"), "study_day", "study day"),
    C(
        "follow_up_months",
        _("Follow-up"),
        "number",
        "months",
        _("Last visit − day 0 in months of 30.4375 days."),
    ),
)

PATIENT_COLUMNS = {
    "baseline": BASELINE_COLUMNS,
    "dosing": DOSING_COLUMNS,
    "safety": SAFETY_COLUMNS,
    "efficacy": EFFICACY_COLUMNS,
}

SUMMARY_COLUMNS = (
    C("section", _("Section"), "text"),
    C("characteristic", _("Characteristic"), "text"),
    C(
        "statistic",
        _("Statistic"),
        "text",
        "",
        _("n; n (%) with % of the column's patients (one decimal); median (range) or median (IQR)."),
    ),
    C("all", _("All patients"), "text"),
    *(C(d, DIAGNOSIS_SHORT[d], "text", "", _("Patients with this diagnosis.")) for d in DIAGNOSES),
)

TIDY_COLUMNS = (
    *KEY_COLUMNS,
    C(
        "study_day",
        _("Study day"),
        "study_day",
        "days",
        _("Days from day 0 (the infusion); empty for static values."),
    ),
    C(
        "timepoint",
        _("Timepoint"),
        "category",
        "",
        _("Scheduled timepoint code whose window holds the day, 'baseline' for static values, '' otherwise."),
    ),
    C("variable", _("Variable"), "category", "", _("See the variables of the data dictionary.")),
    C("value", _("Value"), "text", "", _("Number, code or text; see the variable.")),
    C("unit", _("Unit"), "category"),
)
