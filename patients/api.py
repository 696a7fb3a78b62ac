"""``/api/v1/patients/``: one row per patient, de-identified (DESIGN §5).

Queries per page: centre labels, the patients (date of birth joined in only to compute the age at infusion,
which is all that leaves), organ involvement, prior therapies — four, whatever the page size.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from patients.models import OrganInvolvement, Patient, PatientIdentity, PriorTherapy, TherapyClass
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
    resource_description = (
        "Patients of the token's centres: pseudonym, centre label, diagnosis, sex, age at infusion in whole "
        "years, status and a baseline summary. Patients without day 0 are listed (infused = false) but have "
        "no rows in the study-day resources."
    )

    def base_queryset(self) -> QuerySet:
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
        ids = [row["pk"] for row in rows]
        organs: dict[int, list[str]] = defaultdict(list)
        nephritis: dict[int, str | None] = {}
        for pid, organ, klass in (
            OrganInvolvement.objects.filter(patient_id__in=ids, voided_at__isnull=True)
            .order_by("patient_id", "organ")
            .values_list("patient_id", "organ", "nephritis_class")
        ):
            organs[pid].append(organ)
            if klass:
                nephritis[pid] = klass
        classes: dict[int, set[str]] = defaultdict(set)
        b_cell: dict[int, bool] = defaultdict(bool)
        lines: dict[int, int] = defaultdict(int)
        for pid, klass, targeted in PriorTherapy.objects.filter(
            patient_id__in=ids, voided_at__isnull=True
        ).values_list("patient_id", "therapy_class", "b_cell_targeted"):
            classes[pid].add(klass)
            b_cell[pid] |= bool(targeted) or klass == TherapyClass.B_CELL
            lines[pid] += klass != TherapyClass.GLUCOCORTICOID  # glucocorticoids are not a line
        labels = self.scope.centre_labels
        result = []
        for row in rows:
            pid, day0 = row["pk"], row["day0"]
            duration = None
            if day0 and row["diagnosis_date"]:
                duration = round((day0 - row["diagnosis_date"]).days / 365.25, 1)
            result.append(
                {
                    "id": self.scope.patient(pid),
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
                        "organ_involvement": organs[pid],
                        "lupus_nephritis_class": nephritis.get(pid),
                        "prior_therapy_lines": lines[pid],
                        "prior_therapy_classes": sorted(classes[pid]),
                        "prior_b_cell_targeted": b_cell[pid],
                    },
                }
            )
        return result
