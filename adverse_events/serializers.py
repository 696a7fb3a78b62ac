"""De-identified output of toxicity: CRS and ICANS assessments with their inputs and computed grades, the
per-patient summary (episodes, ICAHT), infections and other adverse events — days relative to the infusion."""

from __future__ import annotations

from rest_framework import serializers

from adverse_events import grading
from adverse_events.models import (
    SERIOUS_CRITERIA,
    AeOutcome,
    Attribution,
    IcansTool,
    OrganismType,
    TreatmentRoute,
)
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


class VasopressorSerializer(serializers.Serializer):
    agent = code("Vasopressor", grading.VASOPRESSORS)
    dose_mcg_kg_min = number("Dose (null if not recorded)", unit="µg/kg/min", nullable=True)


class CrsAssessmentSerializer(serializers.Serializer):
    id = text(ROW_ID_DESCRIPTION)
    removed = not_removed()
    patient = text(PATIENT_DESCRIPTION)
    study_day = study_day_field("Day of the assessment (date in the centre's time zone).", nullable=False)
    max_temperature_c = number("Maximum temperature (null if not measured)", unit="°C", nullable=True)
    fever_other_cause = boolean("Fever attributed to another cause (then it is not CRS fever)")
    antipyretic_given = boolean("Antipyretic given")
    hypotension = boolean("Hypotension needing fluids")
    fluid_bolus_ml_per_kg = number("Fluid bolus (null if none recorded)", unit="mL/kg", nullable=True)
    vasopressors = VasopressorSerializer(many=True, help_text="Vasopressors running (empty if none).")
    oxygen_device = code("Oxygen support", grading.OXYGEN_DEVICES)
    oxygen_flow_l_min = number("Oxygen flow (null if not applicable)", unit="L/min", nullable=True)
    tocilizumab_mg_per_kg = number("Tocilizumab given (null if none)", unit="mg/kg", nullable=True)
    corticosteroid_given = boolean("Corticosteroid given for CRS")
    anakinra_given = boolean("Anakinra given")
    died_of_crs = boolean("Died of CRS")
    after_anticytokine_or_antipyretic = boolean(
        "CRS already treated in this episode, so fever is no longer required (derived)"
    )
    grade = integer("CRS grade, computed (never typed) by the rule below", unit="grade 0–5")
    rule = text("Published grading rule, e.g. ASTCT 2019")
    algorithm_version = text("Version of the registry's grading algorithm")


class IceItemsSerializer(serializers.Serializer):
    orientation = integer("ICE orientation (year, month, city, hospital)", unit="points 0–4")
    naming = integer("ICE naming of three objects", unit="points 0–3")
    following_commands = integer("ICE following simple commands", unit="points 0–1")
    writing = integer("ICE writing a standard sentence", unit="points 0–1")
    attention = integer("ICE counting backwards from 100 by 10", unit="points 0–1")


CAPD_ANSWER_CHOICES = list(grading.CAPD_ANSWERS)


class CapdAnswersSerializer(serializers.Serializer):
    """CAPD items 1–8 (items 1–4 reverse-scored)."""

    def get_fields(self):
        return {f"item_{i}": code(f"CAPD item {i} answer", CAPD_ANSWER_CHOICES) for i in grading.CAPD_ITEMS}


class IcansAssessmentSerializer(serializers.Serializer):
    id = text(ROW_ID_DESCRIPTION)
    removed = not_removed()
    patient = text(PATIENT_DESCRIPTION)
    study_day = study_day_field("Day of the assessment (date in the centre's time zone).", nullable=False)
    age_years = integer("Age at the assessment in completed years (ICE from 12)", unit="years")
    developmental_delay = boolean("Developmental delay (then CAPD is used at any age)")
    tool = code("Encephalopathy tool used", IcansTool.choices)
    ice_items = IceItemsSerializer(allow_null=True, help_text="ICE items (null unless ICE was scored).")
    capd_answers = CapdAnswersSerializer(
        allow_null=True, help_text="CAPD answers (null unless CAPD was scored)."
    )
    ice_score = integer("ICE score (null unless ICE was scored)", unit="points 0–10", nullable=True)
    capd_score = integer("CAPD score (null unless CAPD was scored)", unit="points 0–32", nullable=True)
    unable_to_perform = boolean("Unable to perform the assessment")
    awake_with_global_aphasia = boolean("Awake with global aphasia")
    consciousness = code("Level of consciousness", grading.CONSCIOUSNESS_LEVELS)
    seizure = code("Seizures", grading.SEIZURE_CODES)
    motor = code("Motor findings", grading.MOTOR_CODES)
    cerebral_edema = code("Raised intracranial pressure / cerebral oedema", grading.CEREBRAL_EDEMA_CODES)
    findings_attributed_to_other_cause = boolean(
        "Some findings were attributed to another cause and not graded (the description is not exported)"
    )
    died_of_icans = boolean("Died of ICANS")
    grade = integer("ICANS grade, computed (never typed) by the rule below", unit="grade 0–5")
    rule = text("Published grading rule, e.g. ASTCT 2019")
    algorithm_version = text("Version of the registry's grading algorithm")


class EpisodeSerializer(serializers.Serializer):
    onset_day = study_day_field("First day graded 1 or more.", nullable=False)
    resolution_day = study_day_field("First later day graded 0 (null while ongoing).")
    duration_days = integer("Resolution minus onset (null while ongoing)", unit="days", nullable=True)
    max_grade = integer("Worst grade of the episode", unit="grade 0–5")
    assessments = integer("Assessments graded 1 or more in the episode", unit="assessments")


class ToxicitySummarySerializer(serializers.Serializer):
    id = text("The patient's pseudonym (one summary per patient with day 0)")
    removed = not_removed()
    patient = text(PATIENT_DESCRIPTION)
    crs_max_grade = integer("Worst CRS grade", unit="grade 0–5")
    crs_onset_day = study_day_field("Onset of the first CRS episode (null if none).")
    crs_duration_days = integer(
        "Duration of the worst CRS episode (null if none or ongoing)", unit="days", nullable=True
    )
    crs_episodes = EpisodeSerializer(many=True, help_text="CRS episodes in time order.")
    tocilizumab_doses = integer("Assessments with tocilizumab given", unit="doses")
    crs_corticosteroids = boolean("Corticosteroids given for CRS")
    anakinra = boolean("Anakinra given")
    icans_max_grade = integer("Worst ICANS grade", unit="grade 0–5")
    icans_onset_day = study_day_field("Onset of the first ICANS episode (null if none).")
    icans_duration_days = integer(
        "Duration of the worst ICANS episode (null if none or ongoing)", unit="days", nullable=True
    )
    icans_tools = codes("Encephalopathy tools used", IcansTool.choices)
    icans_episodes = EpisodeSerializer(many=True, help_text="ICANS episodes in time order.")
    open_episode = boolean("A CRS or ICANS episode is still ongoing")
    icaht_early_grade = integer(
        "Early ICAHT grade, days 0–30 (null if not evaluable)", unit="grade 0–4", nullable=True
    )
    icaht_late_grade = integer(
        "Late ICAHT grade, after day 30 (null if not evaluable)", unit="grade 0–4", nullable=True
    )
    icaht_early_longest_days_le_500 = integer(
        "Longest early episode with ANC ≤ 500/µL (null without ANC values)", unit="days", nullable=True
    )
    icaht_early_longest_days_le_100 = integer(
        "Longest early episode with ANC ≤ 100/µL (null without ANC values)", unit="days", nullable=True
    )
    icaht_nadir_anc = number(
        "Lowest ANC after day 0 (null without ANC values)", unit="cells/µL", nullable=True
    )
    icaht_late_nadir_anc = number("Lowest ANC after day 30 (null if none)", unit="cells/µL", nullable=True)
    neutrophil_recovery_day = study_day_field(
        "First of 3 consecutive days with ANC > 500/µL after the last day ≤ 500 (null if never ≤ 500 or not "
        "recovered)."
    )
    icaht_rule = text("Published ICAHT rule, e.g. EHA/EBMT 2023 (null without ANC values)", nullable=True)
    transfusions = integer("Red-cell and platelet transfusions", unit="units")
    gcsf = boolean("G-CSF given")
    infections = integer("Infections recorded", unit="infections")
    severe_infections = integer("Infections of CTCAE grade 3 or more", unit="infections")
    max_infection_grade = integer("Worst infection grade (0 if none)", unit="CTCAE grade 0–5")
    serious_adverse_events = integer(
        "Serious adverse events (other than CRS, ICANS, infections)", unit="events"
    )
    max_ae_grade = integer("Worst grade of other adverse events (0 if none)", unit="CTCAE grade 0–5")
    algorithm_version = text("Version of the registry's grading algorithm")


class InfectionSerializer(serializers.Serializer):
    id = text(ROW_ID_DESCRIPTION)
    removed = not_removed()
    patient = text(PATIENT_DESCRIPTION)
    onset_study_day = study_day_field("Onset of the infection.", nullable=False)
    resolved_study_day = study_day_field("Day the infection resolved (null if not resolved or not recorded).")
    organism_type = code(
        "Type of organism (the organism and site are free text and not exported)", OrganismType.choices
    )
    treatment_route = code("Treatment", TreatmentRoute.choices)
    invasive_intervention = boolean("Invasive intervention needed")
    hospitalised = boolean("Hospitalised for the infection")
    icu = boolean("Intensive care needed")
    life_threatening = boolean("Life-threatening")
    outcome = code("Outcome", AeOutcome.choices)
    proposed_grade = integer("CTCAE grade proposed by the registry from the facts", unit="CTCAE grade 1–5")
    grade = integer("CTCAE grade confirmed by the clinician", unit="CTCAE grade 1–5")
    ctcae_version = text("CTCAE version, e.g. 5.0")


class AdverseEventSerializer(serializers.Serializer):
    id = text(ROW_ID_DESCRIPTION)
    removed = not_removed()
    patient = text(PATIENT_DESCRIPTION)
    term = text("CTCAE term")
    grade = integer("CTCAE grade given by the clinician", unit="CTCAE grade 1–5")
    ctcae_version = text("CTCAE version, e.g. 5.0")
    serious = boolean("Serious adverse event")
    serious_criteria = codes("Seriousness criteria met", list(SERIOUS_CRITERIA.items()))
    attribution = code("Attributed to", Attribution.choices)
    start_study_day = study_day_field("Start of the event.", nullable=False)
    end_study_day = study_day_field("End of the event (null if ongoing or not recorded).")
    outcome = code("Outcome", AeOutcome.choices)
