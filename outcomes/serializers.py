"""De-identified output of follow-up: visits with their computed scores, labs in long format, medications with
the prednisone-equivalent, and the derived course of each patient — days relative to the infusion."""

from __future__ import annotations

from rest_framework import serializers

from outcomes.labs import ANALYTES
from outcomes.models import DoseUnit, Frequency, LabSource, MedicationClass, StopReasonMed, TimepointKind
from outcomes.scores import SLEDAI_2K_WEIGHTS
from registry.api.fields import (
    PATIENT_DESCRIPTION,
    ROW_ID_DESCRIPTION,
    boolean,
    code,
    codes,
    integer,
    not_removed,
    number,
    study_day_field,
    text,
)

JDM_RESPONSES = [
    ("none", "No response"),
    ("minimal", "Minimal (TIS ≥ 30)"),
    ("moderate", "Moderate (TIS ≥ 45)"),
    ("major", "Major (TIS ≥ 70)"),
]
ANALYTE_CHOICES = [(a.code, f"{a.label} ({a.unit})") for a in ANALYTES.values()]


class SleScoresSerializer(serializers.Serializer):
    descriptors = codes("SLEDAI-2K descriptors present (10-day window)", SLEDAI_2K_WEIGHTS)
    sledai_2k = integer("SLEDAI-2K, computed", unit="points 0–105")
    clinical_sledai_2k = integer(
        "Clinical SLEDAI-2K (without the serological items), computed", unit="points 0–101"
    )
    physician_global = number("Physician global assessment", unit="points 0–3")
    prednisone_mg_per_day = number("Prednisone-equivalent on the visit day", unit="mg/day")
    doris_remission = boolean("DORIS remission, computed")
    lldas = boolean("Lupus low disease activity state, computed")
    upcr_g_g = number("Urine protein:creatinine ratio (null if not measured)", unit="g/g", nullable=True)
    egfr = number(
        "Bedside Schwartz eGFR (null without creatinine and height)", unit="mL/min/1.73 m²", nullable=True
    )
    scores_version = text("Version of the registry's scores module")


class JdmScoresSerializer(serializers.Serializer):
    cmas = integer(
        "Childhood Myositis Assessment Scale (null if not scored)", unit="points 0–52", nullable=True
    )
    mmt8 = integer(
        "Manual muscle testing of 8 muscles, unilateral (null if not scored)",
        unit="points 0–80",
        nullable=True,
    )
    cdasi_activity = number("CDASI activity (null if not scored)", unit="points 0–100", nullable=True)
    cdasi_damage = number("CDASI damage (null if not scored)", unit="points 0–32", nullable=True)
    chaq = number("CHAQ disability index (null if not scored)", unit="points 0–3", nullable=True)
    physician_global = number("Physician global activity", unit="points 0–10")
    patient_global = number(
        "Patient/parent global activity (null if not scored)", unit="points 0–10", nullable=True
    )
    extramuscular = number("Extramuscular activity (null if not scored)", unit="points 0–10", nullable=True)
    total_improvement_score = number(
        "ACR/EULAR total improvement score against baseline (null without baseline)",
        unit="points 0–100",
        nullable=True,
    )
    response = code("ACR/EULAR response (null without baseline)", JDM_RESPONSES, nullable=True)
    printo_inactive = boolean("PRINTO clinically inactive disease (null if not evaluable)", nullable=True)
    scores_version = text("Version of the registry's scores module")


class SscScoresSerializer(serializers.Serializer):
    mrss = integer("Modified Rodnan skin score (17 sites)", unit="points 0–51")
    fvc_percent_predicted = number("FVC (null if not measured)", unit="% predicted", nullable=True)
    dlco_percent_predicted = number("DLCO (null if not measured)", unit="% predicted", nullable=True)
    skin_worsening = boolean("Patient-reported skin worsening in the last month")
    digital_ulcers = boolean("Active digital ulcers")
    tendon_friction_rubs = boolean("Tendon friction rubs")
    raynaud = boolean("Raynaud's phenomenon")
    crp_mg_dl = number("CRP used for the activity index (null if not measured)", unit="mg/dL", nullable=True)
    eustar_activity_index = number(
        "Revised EUSTAR activity index (null if not computable)", unit="points 0–10", nullable=True
    )
    eustar_active = boolean("Active disease (EUSTAR-AI ≥ 2.5; null if not computable)", nullable=True)
    scores_version = text("Version of the registry's scores module")


class VisitSerializer(serializers.Serializer):
    id = text(ROW_ID_DESCRIPTION)
    removed = not_removed()
    patient = text(PATIENT_DESCRIPTION)
    study_day = study_day_field("Day of the visit.", nullable=False)
    timepoint = text(
        "Code of the scheduled timepoint, e.g. m3 (null for an unscheduled visit)", nullable=True
    )
    timepoint_kind = code(
        "Kind of timepoint (null for an unscheduled visit)", TimepointKind.choices, nullable=True
    )
    nominal_day = integer(
        "Nominal study day of the timepoint (null for an unscheduled visit)", unit="days", nullable=True
    )
    sle = SleScoresSerializer(
        allow_null=True, help_text="SLE instruments (null unless recorded at this visit)."
    )
    jdm = JdmScoresSerializer(
        allow_null=True, help_text="JDM instruments (null unless recorded at this visit)."
    )
    ssc = SscScoresSerializer(
        allow_null=True, help_text="SSc instruments (null unless recorded at this visit)."
    )


class LabSerializer(serializers.Serializer):
    id = text(ROW_ID_DESCRIPTION)
    removed = not_removed()
    patient = text(PATIENT_DESCRIPTION)
    study_day = study_day_field("Day of the sample (date in the centre's time zone).", nullable=False)
    analyte = code("Analyte (the dictionary gives each canonical unit)", ANALYTE_CHOICES)
    value = number("Value converted to the analyte's canonical unit", unit="the analyte's canonical unit")
    unit = text("Canonical unit of the analyte, e.g. cells/µL")
    lln = number(
        "Lower limit of normal (null if not reported)", unit="the analyte's canonical unit", nullable=True
    )
    uln = number(
        "Upper limit of normal (null if not reported)", unit="the analyte's canonical unit", nullable=True
    )
    source = code("Where the value was measured", LabSource.choices)
    ctcae_term = text("Laboratory CTCAE term graded from this value (null if not graded)", nullable=True)
    ctcae_grade = integer(
        "Laboratory CTCAE grade, computed (null if not graded)", unit="CTCAE grade 0–4", nullable=True
    )
    ctcae_version = text("CTCAE version of the grade (null if not graded)", nullable=True)


class MedicationSerializer(serializers.Serializer):
    id = text(ROW_ID_DESCRIPTION)
    removed = not_removed()
    patient = text(PATIENT_DESCRIPTION)
    drug = text("Drug name (lower case)")
    medication_class = code("Class of medication", MedicationClass.choices)
    dose = number("Dose per administration, in dose_unit", unit="dose_unit")
    dose_unit = code("Unit of the dose", DoseUnit.choices)
    route = text("Route, e.g. oral, iv")
    frequency = code("Frequency", Frequency.choices)
    start_study_day = study_day_field("First day of the course.", nullable=False)
    stop_study_day = study_day_field("Last day of the course (null while running).")
    stop_reason = code("Why it was stopped (null while running)", StopReasonMed.choices, nullable=True)
    restarted_for_disease_activity = boolean("Started after CAR T because the disease became active again")
    prednisone_equivalent_mg_per_day = number(
        "Daily prednisone-equivalent (glucocorticoids only; null otherwise)", unit="mg/day", nullable=True
    )


class FlareSerializer(serializers.Serializer):
    day = study_day_field("Day of the flare.", nullable=False)
    kind = code(
        "How the flare showed", [("activity", "Disease activity score"), ("treatment", "Treatment started")]
    )
    detail = text("The score and value, or the drug started")


class ActivitySerializer(serializers.Serializer):
    day = study_day_field("Day of the visit.", nullable=False)
    score = code("Activity score", [("SLEDAI-2K", "SLEDAI-2K"), ("CMAS", "CMAS"), ("mRSS", "mRSS")])
    value = number("Value of the score", unit="points of the score")


class CourseSerializer(serializers.Serializer):
    id = text("The patient's pseudonym (one course per patient with day 0)")
    removed = not_removed()
    patient = text(PATIENT_DESCRIPTION)
    car_t_peak_per_ul = number(
        "Peak CAR T cells in blood after day 0 (null if not measured)", unit="cells/µL", nullable=True
    )
    car_t_peak_day = study_day_field("Day of the CAR T peak.")
    b_cell_aplasia_day = study_day_field(
        "First sample after day 0 with CD19+ B cells below the aplasia threshold."
    )
    b_cell_reconstitution_day = study_day_field(
        "First later sample at or above the reconstitution threshold."
    )
    igg_nadir_g_l = number("Lowest IgG after day 0 (null if not measured)", unit="g/L", nullable=True)
    igg_nadir_day = study_day_field("Day of the IgG nadir.")
    last_follow_up_day = study_day_field("Day of the last visit.")
    follow_up_months = number(
        "Follow-up: last visit minus day 0 in months of 30.4375 days, one decimal",
        unit="months",
        nullable=True,
    )
    immunomodulator_free = boolean("No immunomodulator or glucocorticoid running today")
    immunomodulator_free_since_day = study_day_field("Day after which none has been running.")
    latest_status = text("Disease status at the latest visit with an instrument (empty if none)")
    latest_status_day = study_day_field("Day of that visit.")
    remission_reached = boolean("Remission or inactive disease reached after day 0")
    first_remission_day = study_day_field("First visit in remission or inactive disease.")
    prednisone_current_mg = number("Prednisone-equivalent running today", unit="mg/day")
    flares = FlareSerializer(many=True, help_text="Flares after remission, in time order.")
    activity = ActivitySerializer(many=True, help_text="Disease activity score at each visit, in time order.")
