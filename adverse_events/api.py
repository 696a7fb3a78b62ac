"""Toxicity resources: ``crs-assessments``, ``icans-assessments``, ``toxicity-summaries`` (episodes, ICAHT,
counts per patient), ``infections`` and ``adverse-events``.

Queries per page: one for the rows (with patient and centre joined); the summaries add the six fixed queries
of :func:`adverse_events.selectors.safety_summaries` (CRS, ICANS, labs, supportive care, infections, AEs) for
the whole page.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from adverse_events.grading import ALGORITHM_VERSION
from adverse_events.models import (
    AdverseEvent,
    CrsAssessment,
    IcansAssessment,
    Infection,
    SupportiveCare,
)
from adverse_events.selectors import safety_summaries
from adverse_events.serializers import (
    AdverseEventSerializer,
    CrsAssessmentSerializer,
    IcansAssessmentSerializer,
    InfectionSerializer,
    ToxicitySummarySerializer,
)
from outcomes.models import LabResult
from patients.models import Patient
from registry.api.base import (
    PatientLevelRetrieveMixin,
    ResourceViewSet,
    api_resource,
    days_between,
    local_study_day,
)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


class _RowResource(ResourceViewSet):
    resource_group = "toxicity"
    model: Any = None

    def base_queryset(self) -> QuerySet:
        return self.model.objects.select_related("patient__centre")

    def row_head(self, row: Any) -> dict[str, Any]:
        return {
            "id": self.scope.row_id(self.resource, row.pk),
            "removed": False,
            "patient": self.scope.patient(row.patient_id),
        }


@api_resource
class CrsAssessmentViewSet(_RowResource):
    resource = "crs-assessments"
    title = "CRS assessments"
    model = CrsAssessment
    serializer_class = CrsAssessmentSerializer
    resource_description = (
        "CRS assessments with every observation that feeds the grade, and the computed ASTCT grade."
    )

    def prepare(self, rows: list[CrsAssessment]) -> list[dict[str, Any]]:
        return [
            {
                **self.row_head(row),
                "study_day": local_study_day(row.assessed_at, row.patient.centre.time_zone, row.patient.day0),
                "max_temperature_c": _float(row.max_temperature_c),
                "fever_other_cause": row.fever_other_cause,
                "antipyretic_given": row.antipyretic_given,
                "hypotension": row.hypotension,
                "fluid_bolus_ml_per_kg": _float(row.fluid_bolus_ml_per_kg),
                "vasopressors": [
                    {"agent": v.get("agent"), "dose_mcg_kg_min": v.get("dose_mcg_kg_min")}
                    for v in (row.vasopressors or [])
                ],
                "oxygen_device": row.oxygen_device,
                "oxygen_flow_l_min": _float(row.oxygen_flow_l_min),
                "tocilizumab_mg_per_kg": _float(row.tocilizumab_mg_per_kg),
                "corticosteroid_given": row.corticosteroid_given,
                "anakinra_given": row.anakinra_given,
                "died_of_crs": row.died_of_crs,
                "after_anticytokine_or_antipyretic": row.after_anticytokine_or_antipyretic,
                "grade": row.grade,
                "rule": row.rule,
                "algorithm_version": row.algorithm_version,
            }
            for row in rows
        ]


@api_resource
class IcansAssessmentViewSet(_RowResource):
    resource = "icans-assessments"
    title = "ICANS assessments"
    model = IcansAssessment
    serializer_class = IcansAssessmentSerializer
    resource_description = (
        "ICANS assessments: ICE items (age ≥ 12) or CAPD answers (younger or developmental delay), the other "
        "domains, and the computed ASTCT grade."
    )

    def prepare(self, rows: list[IcansAssessment]) -> list[dict[str, Any]]:
        result = []
        for row in rows:
            capd = None
            if row.capd_answers:
                capd = {f"item_{int(k)}": v for k, v in row.capd_answers.items()}
            ice = None
            if row.ice_items:
                ice = {k: int(v) for k, v in row.ice_items.items()}
            result.append(
                {
                    **self.row_head(row),
                    "study_day": local_study_day(
                        row.assessed_at, row.patient.centre.time_zone, row.patient.day0
                    ),
                    "age_years": int(row.age_years),
                    "developmental_delay": row.developmental_delay,
                    "tool": row.tool,
                    "ice_items": ice,
                    "capd_answers": capd,
                    "ice_score": row.ice_score,
                    "capd_score": row.capd_score,
                    "unable_to_perform": row.unable_to_perform,
                    "awake_with_global_aphasia": row.awake_with_global_aphasia,
                    "consciousness": row.consciousness,
                    "seizure": row.seizure,
                    "motor": row.motor,
                    "cerebral_edema": row.cerebral_edema,
                    "findings_attributed_to_other_cause": bool((row.findings_other_cause or "").strip()),
                    "died_of_icans": row.died_of_icans,
                    "grade": row.grade,
                    "rule": row.rule,
                    "algorithm_version": row.algorithm_version,
                }
            )
        return result


@api_resource
class InfectionViewSet(_RowResource):
    resource = "infections"
    model = Infection
    serializer_class = InfectionSerializer
    resource_description = (
        "Infections with the grade proposed by the registry and the grade confirmed by the clinician."
    )

    def prepare(self, rows: list[Infection]) -> list[dict[str, Any]]:
        return [
            {
                **self.row_head(row),
                "onset_study_day": days_between(row.onset_on, row.patient.day0),
                "resolved_study_day": days_between(row.resolved_on, row.patient.day0),
                "organism_type": row.organism_type,
                "treatment_route": row.treatment_route,
                "invasive_intervention": row.invasive_intervention,
                "hospitalised": row.hospitalised,
                "icu": row.icu,
                "life_threatening": row.life_threatening,
                "outcome": row.outcome,
                "proposed_grade": row.proposed_grade,
                "grade": row.grade,
                "ctcae_version": row.ctcae_version,
            }
            for row in rows
        ]


@api_resource
class AdverseEventViewSet(_RowResource):
    resource = "adverse-events"
    title = "other adverse events"
    model = AdverseEvent
    serializer_class = AdverseEventSerializer
    resource_description = (
        "Other adverse events with CTCAE term, grade and version (graded by the clinician)."
    )

    def prepare(self, rows: list[AdverseEvent]) -> list[dict[str, Any]]:
        return [
            {
                **self.row_head(row),
                "term": row.term,
                "grade": row.grade,
                "ctcae_version": row.ctcae_version,
                "serious": row.serious,
                "serious_criteria": list(row.serious_criteria or []),
                "attribution": row.attribution,
                "start_study_day": days_between(row.started_on, row.patient.day0),
                "end_study_day": days_between(row.ended_on, row.patient.day0),
                "outcome": row.outcome,
            }
            for row in rows
        ]


@api_resource
class ToxicitySummaryViewSet(PatientLevelRetrieveMixin, ResourceViewSet):
    resource = "toxicity-summaries"
    resource_group = "toxicity"
    serializer_class = ToxicitySummarySerializer
    patient_path = ""
    patient_level = True
    resource_description = (
        "One toxicity summary per patient with day 0: CRS and ICANS episodes and maxima, treatment of CRS, "
        "ICAHT (EHA/EBMT 2023) from the ANC values, transfusions and G-CSF, infections and other adverse "
        "events."
    )

    def base_queryset(self) -> QuerySet:
        return Patient.objects.select_related("centre")

    def changed_since(self, since: dt.datetime) -> Q:
        q = Q(updated_at__gte=since)
        for model in (CrsAssessment, IcansAssessment, LabResult, SupportiveCare, Infection, AdverseEvent):
            q |= Exists(model.objects.filter(patient=OuterRef("pk"), updated_at__gte=since))
        return q

    def prepare(self, rows: list[Patient]) -> list[dict[str, Any]]:
        summaries = safety_summaries(rows)
        result = []
        for patient in rows:
            s = summaries[patient.pk]
            icaht = s.icaht or {}
            pseudonym = self.scope.patient(patient.pk)

            def episodes(items):
                return [
                    {
                        "onset_day": e.onset_day,
                        "resolution_day": e.resolution_day,
                        "duration_days": e.duration_days,
                        "max_grade": e.max_grade,
                        "assessments": e.assessments,
                    }
                    for e in items
                ]

            result.append(
                {
                    "id": pseudonym,
                    "removed": False,
                    "patient": pseudonym,
                    "crs_max_grade": s.crs_max_grade,
                    "crs_onset_day": s.crs_onset_day,
                    "crs_duration_days": s.crs_duration_days,
                    "crs_episodes": episodes(s.crs_episodes),
                    "tocilizumab_doses": s.tocilizumab_doses,
                    "crs_corticosteroids": s.crs_corticosteroids,
                    "anakinra": s.anakinra,
                    "icans_max_grade": s.icans_max_grade,
                    "icans_onset_day": s.icans_onset_day,
                    "icans_duration_days": s.icans_duration_days,
                    "icans_tools": sorted(s.icans_tools),
                    "icans_episodes": episodes(s.icans_episodes),
                    "open_episode": s.open_episode,
                    "icaht_early_grade": icaht.get("early_grade"),
                    "icaht_late_grade": icaht.get("late_grade"),
                    "icaht_early_longest_days_le_500": icaht.get("early_longest_days_le_500"),
                    "icaht_early_longest_days_le_100": icaht.get("early_longest_days_le_100"),
                    "icaht_nadir_anc": _float(icaht.get("nadir_anc")),
                    "icaht_late_nadir_anc": _float(icaht.get("late_nadir_anc")),
                    "neutrophil_recovery_day": s.neutrophil_recovery_day,
                    "icaht_rule": icaht.get("rule"),
                    "transfusions": s.transfusions,
                    "gcsf": s.gcsf,
                    "infections": s.infections,
                    "severe_infections": int(s.severe_infections),
                    "max_infection_grade": s.max_infection_grade,
                    "serious_adverse_events": int(s.serious_adverse_events),
                    "max_ae_grade": s.max_ae_grade,
                    "algorithm_version": ALGORITHM_VERSION,
                }
            )
        return result
