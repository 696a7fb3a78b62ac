"""``/api/v1/patients/``: one row per patient, de-identified (DESIGN §5).

One query per page: the patients (their date of birth read only to compute the age at infusion, which is all
that leaves; with their pseudonyms and places for this client, and their stored baseline summary,
:class:`patients.models.BaselineSummary`), whatever the page size. The centres' labels come with the client's
authentication.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from patients.baseline import codes
from patients.models import OrganInvolvement, Patient, PatientIdentity, PriorTherapy
from patients.selectors import completed_years
from patients.serializers import PatientSerializer
from registry.api.base import PatientLevelRetrieveMixin, ResourceViewSet, api_resource


@api_resource
class PatientViewSet(PatientLevelRetrieveMixin, ResourceViewSet):
    resource = "patients"
    resource_group = "patients"
    serializer_class = PatientSerializer
    patient_path = ""
    study_days = False  # a patient is listed before day 0 too (without ages or study days)
    patient_level = True
    prepared_is_representation = True  # prepare() builds the final rows (tests/registry/test_api.py pins it)
    resource_description = (
        "Patients of the token's centres: pseudonym, centre label, diagnosis, sex, age at infusion in whole "
        "years, status and a baseline summary. Patients without day 0 are listed (infused = false) but have "
        "no rows in the study-day resources."
    )

    def base_queryset(self) -> QuerySet:
        # The page is an index range of the client's stored order (registry.api.base.Scope.ordered), so the
        # identity join reads the page's rows only.
        return Patient.objects.values(
            "pk",
            "centre_id",
            "diagnosis",
            "sex",
            "classification_criteria",
            "treatment_pathway",
            "status",
            "day0",
            "diagnosis_date",
            "death_date",
            "death_related_to_car_t",
            "voided_at",
            "identity__date_of_birth",
            # The baseline as stored by patients.services (patients.models.BaselineSummary): no second query.
            "baseline_summary__organs",
            "baseline_summary__nephritis_class",
            "baseline_summary__prior_therapy_lines",
            "baseline_summary__prior_therapy_classes",
            "baseline_summary__prior_b_cell_targeted",
        )

    def changed_since(self, since: dt.datetime) -> Q:
        def changed(model: Any) -> Exists:
            return Exists(model.objects.filter(patient=OuterRef("pk"), updated_at__gte=since))

        return (
            Q(updated_at__gte=since)
            | changed(PatientIdentity)
            | changed(OrganInvolvement)
            | changed(PriorTherapy)
        )

    def is_removed(self, row: dict[str, Any]) -> bool:
        return self.params.updated_since is not None and row["voided_at"] is not None

    def prepare(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        labels = self.scope.centre_labels
        result = []
        for row in rows:
            day0 = row["day0"]
            duration = None
            if day0 and row["diagnosis_date"]:
                duration = round((day0 - row["diagnosis_date"]).days / 365.25, 1)
            result.append(
                {
                    "id": row["pseudonym"],  # this client's, stored (registry.api.base.Scope.ordered)
                    "removed": False,
                    "centre": labels.get(row["centre_id"], ""),
                    "diagnosis": row["diagnosis"],
                    "sex": row["sex"],
                    "classification_criteria": row["classification_criteria"] or None,
                    "treatment_pathway": row["treatment_pathway"],
                    "status": row["status"],
                    "infused": day0 is not None,
                    "age_at_infusion_years": completed_years(row["identity__date_of_birth"], day0),
                    "death_study_day": (row["death_date"] - day0).days
                    if day0 and row["death_date"]
                    else None,
                    "death_related_to_car_t": row["death_related_to_car_t"] or None,
                    "baseline": {
                        "disease_duration_years": duration,
                        "organ_involvement": codes(row["baseline_summary__organs"]),
                        "lupus_nephritis_class": row["baseline_summary__nephritis_class"] or None,
                        "prior_therapy_lines": row["baseline_summary__prior_therapy_lines"] or 0,
                        "prior_therapy_classes": codes(row["baseline_summary__prior_therapy_classes"]),
                        "prior_b_cell_targeted": bool(row["baseline_summary__prior_b_cell_targeted"]),
                    },
                }
            )
        return result
