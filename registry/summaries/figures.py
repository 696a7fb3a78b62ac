"""The registry summary (weekly, monthly): patients by centre and diagnosis, follow-up, completeness, safety,
changes since the previous summary of the same kind. A fixed number of queries whatever the registry's size.

Figures reflect the data in the registry when the summary is generated; schedule windows and follow-up
are evaluated at the end of the period (``as_of``). Completeness per follow-up timepoint: of the patients
whose window has closed (or who have the visit), how many have the visit — timepoints after death or after a
child left follow-up (completed, lost, withdrawn: the status date) are not expected; of the visits, how many
have each item the timepoint expects (:mod:`registry.summaries.completeness`).
"""

from __future__ import annotations

import datetime as dt
import statistics
import zoneinfo
from collections import defaultdict
from typing import Any

from django.utils.translation import gettext as _

from adverse_events.models import CrsAssessment, IcansAssessment
from adverse_events.selectors import safety_summaries
from outcomes.models import LabResult, Visit
from outcomes.selectors import course_summaries, follow_up_timepoints, schedule_statuses
from patients.models import DeathRelation, Diagnosis, Patient, PatientStatus
from registry.models import Centre, FollowUpSummary
from registry.summaries.completeness import (
    ASSESSMENT_ITEMS,
    CollectedData,
    item_label,
    visit_items,
    visits_with_items,
)
from registry.summaries.selectors import CONTENT_VERSION, SEVERE_GRADE, iso, local_date


def _spread(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "median": None, "min": None, "max": None}
    return {
        "n": len(values),
        "median": round(statistics.median(values), 1),
        "min": round(min(values), 1),
        "max": round(max(values), 1),
    }


def _follow_up_end(p: Patient) -> dt.date | None:
    """The date after which no visit is expected: death, or when a child stopped being followed."""
    if p.status == PatientStatus.DECEASED:
        return p.death_date or p.status_date
    if p.status != PatientStatus.ACTIVE:
        return p.status_date
    return None


def registry_summary(
    period_start: dt.date, period_end: dt.date, *, previous: FollowUpSummary | None
) -> dict[str, Any]:
    """The registry-wide summary as of ``period_end``.

    Queries (constant): centres; patients; follow-up timepoints; schedule (visits); course summaries (3);
    safety summaries (6); follow-up visits with instruments; laboratory dates; CRS and ICANS dates.
    """
    as_of = period_end
    centres = list(Centre.objects.order_by("code"))
    patients = list(Patient.objects.filter(voided_at__isnull=True).select_related("centre"))
    by_id = {p.pk: p for p in patients}
    infused = [p for p in patients if p.day0 is not None and p.day0 <= as_of]
    diagnoses = [{"code": c.value, "label": str(c.label)} for c in Diagnosis]

    courses = course_summaries(infused, today=as_of)
    follow_up = {pid: c.follow_up_months for pid, c in courses.items() if c.follow_up_months is not None}
    centre_rows = []
    for centre in centres:
        mine = [p for p in patients if p.centre_id == centre.pk]
        by_diagnosis = {d["code"]: 0 for d in diagnoses}
        for p in mine:
            by_diagnosis[p.diagnosis] = by_diagnosis.get(p.diagnosis, 0) + 1
        centre_rows.append(
            {
                "code": centre.code,
                "name": centre.name,
                "patients": len(mine),
                "infused": sum(1 for p in mine if p.day0 is not None and p.day0 <= as_of),
                "by_diagnosis": by_diagnosis,
                "diagnosis_counts": [by_diagnosis[d["code"]] for d in diagnoses],
                "follow_up_months": _spread([follow_up[p.pk] for p in mine if p.pk in follow_up]),
            }
        )
    totals_by_diagnosis = {
        d["code"]: sum(r["by_diagnosis"][d["code"]] for r in centre_rows) for d in diagnoses
    }

    # Completeness per follow-up timepoint: of the patients whose window has closed (or who completed the
    # visit), how many have the visit; of the visits, how many have each expected item.
    timepoints = follow_up_timepoints()
    statuses = schedule_statuses(infused, as_of, timepoints)
    tp_counts: dict[str, dict[str, int]] = {tp.code: {"expected": 0, "completed": 0} for tp in timepoints}
    for p in infused:
        stop = _follow_up_end(p)
        for s in statuses.get(p.pk, []):
            if stop is not None and s.window_start > stop and s.status != "completed":
                continue
            if s.status in ("completed", "overdue", "missed"):
                tp_counts[s.code]["expected"] += 1
                tp_counts[s.code]["completed"] += s.status == "completed"
    visits = list(
        visits_with_items(
            Visit.objects.filter(
                voided_at__isnull=True, timepoint__in=timepoints, patient__voided_at__isnull=True
            )
        )
    )
    data = CollectedData()
    for pid, analyte, on in (
        LabResult.objects.filter(voided_at__isnull=True)
        .values_list("patient_id", "analyte", "sampled_on")
        .iterator(chunk_size=20_000)
    ):
        data.add_lab(pid, analyte, on)
    if any(set(tp.expected_for(d["code"])) & set(ASSESSMENT_ITEMS) for tp in timepoints for d in diagnoses):
        for model, kind in ((CrsAssessment, "crs"), (IcansAssessment, "icans")):
            for pid, moment in model.objects.filter(
                voided_at__isnull=True, patient__voided_at__isnull=True
            ).values_list("patient_id", "assessed_at"):
                data.add_assessment(
                    pid, kind, local_date(moment, zoneinfo.ZoneInfo(by_id[pid].centre.time_zone))
                )
    data.sort()
    items: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)
    for visit in visits:
        p = by_id.get(visit.patient_id)
        if p is None:
            continue
        expected, missing = visit_items(visit, p, data)
        for item in expected:
            counter = items[visit.timepoint.code].setdefault(item, {"expected": 0, "present": 0})
            counter["expected"] += 1
            counter["present"] += item not in missing
    completeness = []
    for tp in timepoints:
        counts = tp_counts[tp.code]
        if not counts["expected"] and not items.get(tp.code):
            continue
        completeness.append(
            {
                "timepoint": tp.code,
                "label": tp.label,
                "expected": counts["expected"],
                "completed": counts["completed"],
                "percent": _percent(counts["completed"], counts["expected"]),
                "items": [
                    {
                        "item": item,
                        "label": item_label(item),
                        **c,
                        "percent": _percent(c["present"], c["expected"]),
                    }
                    for item, c in sorted(items.get(tp.code, {}).items())
                ],
            }
        )

    safety = safety_summaries(infused)
    s_all = list(safety.values())
    deceased = [p for p in patients if p.status == PatientStatus.DECEASED]
    safety_counts = {
        "patients_evaluable": len(s_all),
        "crs_any": sum(s.crs_max_grade >= 1 for s in s_all),
        "crs_grade_3_plus": sum(s.crs_max_grade >= SEVERE_GRADE for s in s_all),
        "icans_any": sum(s.icans_max_grade >= 1 for s in s_all),
        "icans_grade_3_plus": sum(s.icans_max_grade >= SEVERE_GRADE for s in s_all),
        "icaht_early_grade_3_plus": sum((s.icaht_early or 0) >= SEVERE_GRADE for s in s_all),
        "icaht_late_any": sum((s.icaht_late or 0) >= 1 for s in s_all),
        "infections": sum(s.infections for s in s_all),
        "severe_infections": sum(s.severe_infections for s in s_all),
        "serious_adverse_events": sum(s.serious_adverse_events for s in s_all),
        "open_episodes": sum(s.open_episode for s in s_all),
        "deaths": len(deceased),
        "deaths_related": sum(p.death_related_to_car_t == DeathRelation.RELATED for p in deceased),
    }
    overall = _spread(list(follow_up.values()))
    expected_total = sum(c["expected"] for c in tp_counts.values())
    completed_total = sum(c["completed"] for c in tp_counts.values())
    headline = {
        "patients": len(patients),
        "infused": len(infused),
        "median_follow_up_months": overall["median"],
        "visits_expected": expected_total,
        "visits_completed": completed_total,
        "visit_completeness_percent": _percent(completed_total, expected_total),
        **{k: v for k, v in safety_counts.items() if k != "patients_evaluable"},
    }
    changes = None
    if previous is not None:
        before = (previous.content or {}).get("headline") or {}
        changes = [
            {
                "metric": key,
                "label": metric_label(key),
                "previous": before.get(key),
                "current": value,
                "delta": None if before.get(key) is None or value is None else round(value - before[key], 1),
            }
            for key, value in headline.items()
            if before.get(key) != value
        ]
    return {
        "version": CONTENT_VERSION,
        "period": {"start": iso(period_start), "end": iso(period_end)},
        "as_of": iso(as_of),
        "diagnoses": diagnoses,
        "centres": centre_rows,
        "totals": {
            "patients": len(patients),
            "infused": len(infused),
            "by_diagnosis": totals_by_diagnosis,
            "diagnosis_counts": [totals_by_diagnosis[d["code"]] for d in diagnoses],
            "follow_up_months": overall,
        },
        "completeness": completeness,
        "safety": [
            {"metric": key, "label": metric_label(key), "value": value}
            for key, value in safety_counts.items()
            if key != "patients_evaluable"
        ],
        "patients_evaluable_for_safety": safety_counts["patients_evaluable"],
        "headline": headline,
        "previous": None
        if previous is None
        else {
            "id": previous.pk,
            "period_start": iso(previous.period_start),
            "period_end": iso(previous.period_end),
        },
        "changes": changes,
    }


def metric_label(key: str) -> str:
    labels = {
        "patients": _("patients enrolled"),
        "infused": _("patients infused"),
        "median_follow_up_months": _("median follow-up (months)"),
        "visits_expected": _("follow-up visits expected"),
        "visits_completed": _("follow-up visits completed"),
        "visit_completeness_percent": _("visit completeness (%)"),
        "crs_any": _("patients with CRS"),
        "crs_grade_3_plus": _("patients with CRS grade ≥ 3"),
        "icans_any": _("patients with ICANS"),
        "icans_grade_3_plus": _("patients with ICANS grade ≥ 3"),
        "icaht_early_grade_3_plus": _("patients with early ICAHT grade ≥ 3"),
        "icaht_late_any": _("patients with late ICAHT"),
        "infections": _("infections"),
        "severe_infections": _("infections grade ≥ 3"),
        "serious_adverse_events": _("serious adverse events"),
        "open_episodes": _("patients with an open CRS/ICANS episode"),
        "deaths": _("deaths"),
        "deaths_related": _("deaths related to CAR T"),
    }
    return str(labels.get(key, key))


def _percent(part: int, whole: int) -> float | None:
    return None if not whole else round(100.0 * part / whole, 1)
