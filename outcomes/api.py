"""Follow-up resources: ``visits`` (with computed scores), ``labs`` (long format), ``medications``
(prednisone-equivalent) and ``courses`` (the derived course of each patient).

Queries per page: one for the rows (visits join their instruments; labs and medications their patient) — the
courses run the three fixed queries of :func:`outcomes.selectors.course_summaries` for the whole page.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from outcomes.labs import ANALYTES
from outcomes.models import JdmAssessment, LabResult, Medication, SledaiAssessment, SscAssessment, Visit
from outcomes.selectors import course_summaries
from outcomes.serializers import CourseSerializer, LabSerializer, MedicationSerializer, VisitSerializer
from patients.models import Patient
from registry.api.base import (
    PatientLevelRetrieveMixin,
    ResourceViewSet,
    api_resource,
    days_between,
)
from registry.api.exceptions import BadParameter


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _instrument(visit: Visit, name: str) -> Any:
    row = getattr(visit, name, None)  # a missing reverse one-to-one raises a subclass of AttributeError
    return row if row is not None and row.voided_at is None else None


@api_resource
class VisitViewSet(ResourceViewSet):
    resource = "visits"
    title = "visits with computed scores"
    resource_group = "follow_up"
    serializer_class = VisitSerializer
    resource_description = (
        "Visits with the computed instrument scores of the patient's disease: SLEDAI-2K, DORIS and LLDAS for "
        "SLE; CMAS, MMT8, total improvement score and response for JDM; mRSS and EUSTAR-AI for SSc."
    )

    def base_queryset(self) -> QuerySet:
        return Visit.objects.select_related("patient", "timepoint", "sledai", "jdm", "ssc")

    def changed_since(self, since: dt.datetime) -> Q:
        q = super().changed_since(since)
        for model in (SledaiAssessment, JdmAssessment, SscAssessment):
            q |= Exists(model.objects.filter(visit=OuterRef("pk"), updated_at__gte=since))
        return q

    def prepare(self, rows: list[Visit]) -> list[dict[str, Any]]:
        result = []
        for visit in rows:
            sle, jdm, ssc = (_instrument(visit, name) for name in ("sledai", "jdm", "ssc"))
            tp = visit.timepoint
            result.append(
                {
                    "id": self.scope.row_id(self.resource, visit.pk),
                    "removed": False,
                    "patient": self.scope.patient(visit.patient_id),
                    "study_day": days_between(visit.visit_date, visit.patient.day0),
                    "timepoint": tp.code if tp else None,
                    "timepoint_kind": tp.kind if tp else None,
                    "nominal_day": tp.nominal_day if tp else None,
                    "sle": None
                    if sle is None
                    else {
                        "descriptors": sorted(sle.descriptors or []),
                        "sledai_2k": sle.sledai_2k,
                        "clinical_sledai_2k": sle.clinical_sledai_2k,
                        "physician_global": float(sle.physician_global),
                        "prednisone_mg_per_day": float(sle.prednisone_mg_per_day),
                        "doris_remission": sle.doris_remission,
                        "lldas": sle.lldas,
                        "upcr_g_g": _float(sle.upcr_g_g),
                        "egfr": _float(sle.egfr),
                        "scores_version": sle.scores_version,
                    },
                    "jdm": None
                    if jdm is None
                    else {
                        "cmas": jdm.cmas,
                        "mmt8": jdm.mmt8,
                        "cdasi_activity": _float(jdm.cdasi_activity),
                        "cdasi_damage": _float(jdm.cdasi_damage),
                        "chaq": _float(jdm.chaq),
                        "physician_global": float(jdm.physician_global),
                        "patient_global": _float(jdm.patient_global),
                        "extramuscular": _float(jdm.extramuscular),
                        "total_improvement_score": _float(jdm.total_improvement_score),
                        "response": jdm.response or None,
                        "printo_inactive": jdm.printo_inactive,
                        "scores_version": jdm.scores_version,
                    },
                    "ssc": None
                    if ssc is None
                    else {
                        "mrss": ssc.mrss,
                        "fvc_percent_predicted": _float(ssc.fvc_percent_predicted),
                        "dlco_percent_predicted": _float(ssc.dlco_percent_predicted),
                        "skin_worsening": ssc.skin_worsening,
                        "digital_ulcers": ssc.digital_ulcers,
                        "tendon_friction_rubs": ssc.tendon_friction_rubs,
                        "raynaud": ssc.raynaud,
                        "crp_mg_dl": _float(ssc.crp_mg_dl),
                        "eustar_activity_index": _float(ssc.eustar_activity_index),
                        "eustar_active": ssc.eustar_active,
                        "scores_version": ssc.scores_version,
                    },
                }
            )
        return result


def _analyte(raw: str) -> str:
    if raw not in ANALYTES:
        raise BadParameter("analyte", _("Unknown analyte; the data dictionary lists the codes."))
    return raw


@api_resource
class LabViewSet(ResourceViewSet):
    resource = "labs"
    title = "laboratory results"
    resource_group = "follow_up"
    serializer_class = LabSerializer
    extra_filters = {
        "analyte": (
            OpenApiParameter(
                "analyte", OpenApiTypes.STR, enum=list(ANALYTES), description="Only this analyte."
            ),
            _analyte,
        )
    }
    resource_description = (
        "Laboratory results in long format: one row per value, in the analyte's canonical unit with its "
        "reference range and, for blood counts, the computed CTCAE grade."
    )

    def base_queryset(self) -> QuerySet:
        return LabResult.objects.select_related("patient").only(
            "pk",
            "updated_at",
            "voided_at",
            "sampled_on",
            "analyte",
            "value",
            "lln",
            "uln",
            "source",
            "ctcae_term",
            "ctcae_grade",
            "ctcae_version",
            "patient",
            "patient__day0",
            "patient__voided_at",
        )

    def apply_extra_filters(self, queryset: QuerySet, extra: dict[str, Any]) -> QuerySet:
        if "analyte" in extra:
            queryset = queryset.filter(analyte=extra["analyte"])
        return queryset

    def prepare(self, rows: list[LabResult]) -> list[dict[str, Any]]:
        return [
            {
                "id": self.scope.row_id(self.resource, row.pk),
                "removed": False,
                "patient": self.scope.patient(row.patient_id),
                "study_day": days_between(row.sampled_on, row.patient.day0),
                "analyte": row.analyte,
                "value": row.value,
                "unit": ANALYTES[row.analyte].unit if row.analyte in ANALYTES else "",
                "lln": row.lln,
                "uln": row.uln,
                "source": row.source,
                "ctcae_term": row.ctcae_term or None,
                "ctcae_grade": row.ctcae_grade,
                "ctcae_version": row.ctcae_version or None,
            }
            for row in rows
        ]


@api_resource
class MedicationViewSet(ResourceViewSet):
    resource = "medications"
    resource_group = "follow_up"
    serializer_class = MedicationSerializer
    resource_description = (
        "Immunomodulators, glucocorticoids (with the daily prednisone-equivalent) and IVIG courses."
    )

    def base_queryset(self) -> QuerySet:
        return Medication.objects.select_related("patient")

    def prepare(self, rows: list[Medication]) -> list[dict[str, Any]]:
        return [
            {
                "id": self.scope.row_id(self.resource, row.pk),
                "removed": False,
                "patient": self.scope.patient(row.patient_id),
                "drug": row.drug.strip().lower(),
                "medication_class": row.medication_class,
                "dose": float(row.dose),
                "dose_unit": row.dose_unit,
                "route": row.route,
                "frequency": row.frequency,
                "start_study_day": days_between(row.started_on, row.patient.day0),
                "stop_study_day": days_between(row.stopped_on, row.patient.day0),
                "stop_reason": row.stop_reason or None,
                "restarted_for_disease_activity": row.restarted_for_disease_activity,
                "prednisone_equivalent_mg_per_day": _float(row.prednisone_equivalent_mg_per_day),
            }
            for row in rows
        ]


@api_resource
class CourseViewSet(PatientLevelRetrieveMixin, ResourceViewSet):
    resource = "courses"
    resource_group = "follow_up"
    serializer_class = CourseSerializer
    patient_path = ""
    patient_level = True
    resource_description = (
        "The derived course of each patient with day 0: CAR T expansion, B-cell aplasia and reconstitution, "
        "IgG nadir, follow-up, immunomodulator-free survival, remission and flares, activity scores over "
        "time."
    )

    def base_queryset(self) -> QuerySet:
        return Patient.objects.select_related("centre")

    def changed_since(self, since: dt.datetime) -> Q:
        q = Q(updated_at__gte=since)
        for model in (LabResult, Visit, Medication):
            q |= Exists(model.objects.filter(patient=OuterRef("pk"), updated_at__gte=since))
        for model in (SledaiAssessment, JdmAssessment, SscAssessment):
            q |= Exists(model.objects.filter(visit__patient=OuterRef("pk"), updated_at__gte=since))
        return q

    def prepare(self, rows: list[Patient]) -> list[dict[str, Any]]:
        courses = course_summaries(rows)
        result = []
        for patient in rows:
            c = courses[patient.pk]
            pseudonym = self.scope.patient(patient.pk)
            result.append(
                {
                    "id": pseudonym,
                    "removed": False,
                    "patient": pseudonym,
                    "car_t_peak_per_ul": c.car_t_peak_per_ul,
                    "car_t_peak_day": c.car_t_peak_day,
                    "b_cell_aplasia_day": c.b_cell_aplasia_day,
                    "b_cell_reconstitution_day": c.b_cell_reconstitution_day,
                    "igg_nadir_g_l": c.igg_nadir_g_l,
                    "igg_nadir_day": c.igg_nadir_day,
                    "last_follow_up_day": c.last_follow_up_day,
                    "follow_up_months": c.follow_up_months,
                    "immunomodulator_free": c.immunomodulator_free,
                    "immunomodulator_free_since_day": c.immunomodulator_free_since_day,
                    "latest_status": c.latest_status,
                    "latest_status_day": c.latest_status_day,
                    "remission_reached": c.remission_reached,
                    "first_remission_day": c.first_remission_day,
                    "prednisone_current_mg": round(c.prednisone_current_mg, 2),
                    "flares": [
                        {
                            "day": f["day"],
                            "kind": f["kind"],
                            "detail": str(f["detail"]).lower()
                            if f["kind"] == "treatment"
                            else str(f["detail"]),
                        }
                        for f in c.flares
                    ],
                    "activity": [{"day": d, "score": name, "value": v} for d, name, v in c.activity],
                }
            )
        return result
