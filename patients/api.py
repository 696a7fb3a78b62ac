"""``/api/v1/patients/``: one row per patient, de-identified (DESIGN §5).

Queries per page: the patients (their date of birth read only to compute the age at infusion, which is all
that leaves; with their pseudonyms and places for this client), organ involvement and prior therapies (one
query), and — for a registry-wide client only — the centres for their labels (a client with specific centres
has them from its authentication): two or three, whatever the page size.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from django.db import connection
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
        organs: dict[int, list[str]] = defaultdict(list)
        nephritis: dict[int, str | None] = {}
        classes: dict[int, set[str]] = defaultdict(set)
        b_cell: dict[int, bool] = defaultdict(bool)
        lines: dict[int, int] = defaultdict(int)
        for kind, pid, klass, subclass, targeted in baseline_rows([row["pk"] for row in rows]):
            if kind == ORGAN:  # organs come in (patient, organ) order
                organs[pid].append(klass)
                if subclass:
                    nephritis[pid] = subclass
            else:
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
                        "organ_involvement": organs[pid],
                        "lupus_nephritis_class": nephritis.get(pid),
                        "prior_therapy_lines": lines[pid],
                        "prior_therapy_classes": sorted(classes[pid]),
                        "prior_b_cell_targeted": b_cell[pid],
                    },
                }
            )
        return result


ORGAN, THERAPY = 0, 1


def baseline_rows(patient_ids: list[int]) -> list[tuple[int, int, str, str | None, Any]]:
    """The current organ involvement and prior therapies of a page of patients, in one query:
    ``(ORGAN, patient_id, organ, nephritis_class, None)`` in (patient, organ) order, then
    ``(THERAPY, patient_id, therapy_class, None, b_cell_targeted)``.

    Hand-written SQL (``UNION ALL``) on purpose: this is the hot path of the API's patient list, and the ORM
    spends ≈ 1.5 ms of CPU preparing each ``patient_id IN (…100 ids…)`` lookup — as much as the rest of the
    page's shaping. On PostgreSQL the ids go as one array parameter."""
    if not patient_ids:
        return []
    if connection.vendor == "postgresql":
        # The ids as one array literal: psycopg dumps a 100-item list item by item (≈ 1 ms of CPU); these are
        # integers read from the database, so the literal is exact.
        literal = "{" + ",".join(str(int(pk)) for pk in patient_ids) + "}"
        where, ids = "patient_id = ANY(%s::bigint[])", [literal]
    else:
        where, ids = f"patient_id IN ({', '.join(['%s'] * len(patient_ids))})", list(patient_ids)
    organ, therapy = OrganInvolvement._meta.db_table, PriorTherapy._meta.db_table
    sql = (
        f'SELECT {ORGAN}, patient_id, organ, nephritis_class, NULL FROM "{organ}" '  # noqa: S608 - see below
        f"WHERE {where} AND voided_at IS NULL UNION ALL "
        f'SELECT {THERAPY}, patient_id, therapy_class, NULL, b_cell_targeted FROM "{therapy}" '
        f"WHERE {where} AND voided_at IS NULL ORDER BY 1, 2, 3"
    )  # only the models' table names and constants are interpolated; the ids are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, ids + ids)
        return cursor.fetchall()
