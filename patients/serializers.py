"""De-identified output of the patients resource (DESIGN §5): no names, dates of birth, hospital numbers,
registry codes, free text or calendar dates — ages in whole years and days relative to the infusion."""

from __future__ import annotations

from rest_framework import serializers

from patients.models import (
    ClassificationCriteria,
    DeathRelation,
    Diagnosis,
    NephritisClass,
    Organ,
    PatientStatus,
    Sex,
    TherapyClass,
    TreatmentPathway,
)
from registry.api.fields import (
    PATIENT_DESCRIPTION,
    boolean,
    code,
    codes,
    integer,
    not_removed,
    number,
    study_day_field,
    text,
)


class BaselineSerializer(serializers.Serializer):
    disease_duration_years = number(
        "Time from diagnosis to the infusion, one decimal (null before day 0 or without a diagnosis date)",
        unit="years",
        nullable=True,
    )
    organ_involvement = codes("Organ involvement recorded at baseline", Organ.choices)
    lupus_nephritis_class = code(
        "ISN/RPS class of lupus nephritis at baseline (null if none recorded)",
        NephritisClass.choices,
        nullable=True,
    )
    prior_therapy_lines = integer("Lines of therapy before CAR T, glucocorticoids not counted", unit="lines")
    prior_therapy_classes = codes("Classes of therapy received before CAR T", TherapyClass.choices)
    prior_b_cell_targeted = boolean("Whether any B-cell-targeted therapy was given before CAR T")


class PatientSerializer(serializers.Serializer):
    id = text(PATIENT_DESCRIPTION)
    removed = not_removed()
    centre = text("The treating centre: C1, C2 … for this client, or the centre's code if it may see centres")
    diagnosis = code("Autoimmune disease treated", Diagnosis.choices)
    sex = code("Sex", Sex.choices)
    classification_criteria = code(
        "Classification criteria met (null if not recorded)", ClassificationCriteria.choices, nullable=True
    )
    treatment_pathway = code("Regulatory pathway of the treatment", TreatmentPathway.choices)
    status = code("Follow-up status", PatientStatus.choices)
    infused = boolean(
        "Whether the patient has day 0 (the CAR T infusion); only then are there study-day rows"
    )
    age_at_infusion_years = integer(
        "Age at the infusion in completed years (null before day 0)", unit="years", nullable=True
    )
    death_study_day = study_day_field("Day of death (null if alive or before day 0).")
    death_related_to_car_t = code(
        "Whether the death was related to CAR T (null if alive)", DeathRelation.choices, nullable=True
    )
    baseline = BaselineSerializer(help_text="Baseline summary before the infusion.")
