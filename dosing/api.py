"""``/api/v1/infusions/``: manufacturing and infusion, one row per infusion (day 0 and re-infusions).

Queries per page: the infusions with their run, product and apheresis (bag count as a subquery), and the
lymphodepletion doses of the page's patients — two, whatever the page size.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from dosing.models import Infusion, InfusionBag, LymphodepletionDose
from dosing.serializers import InfusionSerializer
from registry.api.base import ResourceViewSet, api_resource


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


@api_resource
class InfusionViewSet(ResourceViewSet):
    resource = "infusions"
    title = "infusions with their manufacturing"
    resource_group = "dosing"
    serializer_class = InfusionSerializer
    resource_description = (
        "Manufacturing and infusion: product, manufacturing figures, bag count, vein-to-vein days, weight, "
        "dose per kg and its window, and the lymphodepletion totals before day 0. Failed runs without an "
        "infusion are not listed."
    )

    def base_queryset(self) -> QuerySet:
        bags = (
            InfusionBag.objects.filter(infusion=OuterRef("pk"))
            .order_by()
            .values("infusion")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return Infusion.objects.select_related("patient", "run__product", "run__apheresis").annotate(
            bag_count=Coalesce(Subquery(bags, output_field=IntegerField()), 0)
        )

    def changed_since(self, since: dt.datetime) -> Q:
        return (
            super().changed_since(since)
            | Q(run__updated_at__gte=since)
            | Q(run__apheresis__updated_at__gte=since)
            | Exists(LymphodepletionDose.objects.filter(patient=OuterRef("patient"), updated_at__gte=since))
        )

    def prepare(self, rows: list[Infusion]) -> list[dict[str, Any]]:
        doses: dict[int, list[tuple[dt.date, str, float]]] = defaultdict(list)
        for pid, given_on, agent, mg_m2 in LymphodepletionDose.objects.filter(
            patient_id__in={r.patient_id for r in rows if not r.is_reinfusion}, voided_at__isnull=True
        ).values_list("patient_id", "given_on", "agent", "mg_per_m2"):
            doses[pid].append((given_on, agent, float(mg_m2)))
        result = []
        for row in rows:
            patient, run = row.patient, row.run
            day0 = patient.day0
            totals: dict[str, float] = defaultdict(float)
            ld_start = None
            if not row.is_reinfusion:
                before = [d for d in doses[patient.pk] if d[0] <= row.infused_on]
                for _on, agent, mg_m2 in before:
                    totals[agent] += mg_m2
                ld_start = (min(d[0] for d in before) - day0).days if before else None
            result.append(
                {
                    "id": self.scope.row_id(self.resource, row.pk),
                    "removed": False,
                    "patient": self.scope.patient(patient.pk),
                    "study_day": (row.infused_on - day0).days,
                    "is_reinfusion": row.is_reinfusion,
                    "product": run.product.code,
                    "product_name": run.product.name,
                    "target_antigen": run.product.target_antigen,
                    "costimulatory_domain": run.product.costimulatory_domain,
                    "product_state": run.product_state,
                    "manufacturing_outcome": run.outcome,
                    "apheresis_study_day": (run.apheresis.performed_on - day0).days,
                    "cd3_cells_collected": run.apheresis.cd3_cells_collected,
                    "manufacturing_start_study_day": (run.started_on - day0).days,
                    "manufacturing_days": (run.finished_on - run.started_on).days,
                    "vein_to_vein_days": (row.infused_on - run.apheresis.performed_on).days,
                    "transduction_efficiency_pct": _float(run.transduction_efficiency_pct),
                    "viability_pct": _float(run.viability_pct),
                    "cd4_cd8_ratio": _float(run.cd4_cd8_ratio),
                    "vector_copy_number": _float(run.vector_copy_number),
                    "total_viable_car_t_cells": run.total_viable_car_t_cells,
                    "bag_count": row.bag_count,
                    "weight_kg": float(row.weight_kg),
                    "target_cells_per_kg": row.target_cells_per_kg,
                    "car_t_cells_infused": row.car_t_cells_infused,
                    "dose_per_kg": row.dose_per_kg,
                    "percent_of_target": row.percent_of_target,
                    "dose_window": row.dose_window,
                    "volume_infused_ml": float(row.volume_infused_ml),
                    "lymphodepletion_start_study_day": ld_start,
                    "fludarabine_mg_per_m2_total": totals.get("fludarabine"),
                    "cyclophosphamide_mg_per_m2_total": totals.get("cyclophosphamide"),
                    "bendamustine_mg_per_m2_total": totals.get("bendamustine"),
                }
            )
        return result
