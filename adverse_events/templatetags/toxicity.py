"""The patient page's "Toxicity" section, loaded by an inclusion tag so that the patient view stays the
patients app's own (``{% toxicity_section %}`` in ``adverse_events/_patient_sections.html``).

Queries: the safety summary (:func:`adverse_events.selectors.safety_summary`: CRS, ICANS, laboratory results,
supportive care, infections, adverse events — 6, none before day 0) and the rows listed here (CRS and ICANS
assessments, infections, adverse events, supportive care — 5): 11 in all, whatever the number of rows.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from django import template
from django.utils import timezone
from django.utils.translation import gettext as _

from adverse_events.forms import VASOPRESSOR_LABELS
from adverse_events.models import (
    SERIOUS_CRITERIA,
    AdverseEvent,
    CrsAssessment,
    IcansAssessment,
    Infection,
    SupportiveCare,
)
from adverse_events.selectors import SafetySummary, safety_summary
from outcomes.services import local_date
from patients.models import Patient

register = template.Library()

FLOWSHEET_LAST_DAY = 28


@dataclass
class DayCell:
    """One day of the flowsheet: the worst grade of the day and what each assessment of the day showed."""

    day: int
    grade: int | None = None
    details: list[str] = field(default_factory=list)
    future: bool = False

    def add(self, grade: int, detail: str) -> None:
        self.grade = grade if self.grade is None else max(self.grade, grade)
        self.details.append(detail)

    @property
    def title(self) -> str:
        return "; ".join(self.details)


@dataclass
class ToxicityPage:
    summary: SafetySummary | None
    crs: list[CrsAssessment]
    icans: list[IcansAssessment]
    infections: list[Infection]
    adverse_events: list[AdverseEvent]
    supportive_care: list[SupportiveCare]
    crs_days: list[DayCell]
    icans_days: list[DayCell]

    @property
    def days(self) -> list[int]:
        return [cell.day for cell in self.crs_days]


def _num(value: Any) -> str:
    return f"{float(value):g}"


def describe_crs(row: CrsAssessment) -> str:
    """The observations behind a CRS grade, as a clinician would read them."""
    parts = []
    if row.max_temperature_c is not None:
        fever = f"{_num(row.max_temperature_c)} °C"
        if row.fever_other_cause:
            fever += " " + _("(other cause)")
        parts.append(fever)
    if row.antipyretic_given:
        parts.append(_("antipyretic"))
    if row.hypotension:
        bolus = f" {_num(row.fluid_bolus_ml_per_kg)} mL/kg" if row.fluid_bolus_ml_per_kg else ""
        parts.append(_("hypotension") + bolus)
    for entry in row.vasopressors:
        dose = entry.get("dose_mcg_kg_min")
        label = str(VASOPRESSOR_LABELS.get(entry["agent"], entry["agent"]))
        parts.append(label + (f" {_num(dose)} µg/kg/min" if dose is not None else ""))
    if row.oxygen_device != "none":
        flow = f" {_num(row.oxygen_flow_l_min)} L/min" if row.oxygen_flow_l_min is not None else ""
        parts.append(row.get_oxygen_device_display() + flow)
    if row.tocilizumab_mg_per_kg:
        parts.append(_("tocilizumab %(d)s mg/kg") % {"d": _num(row.tocilizumab_mg_per_kg)})
    if row.corticosteroid_given:
        parts.append(_("corticosteroid"))
    if row.anakinra_given:
        parts.append(_("anakinra"))
    if row.died_of_crs:
        parts.append(_("died of CRS"))
    text = ", ".join(parts) or _("no findings")
    suffix = _(" (fever no longer required)") if row.after_anticytokine_or_antipyretic else ""
    return _("%(obs)s → grade %(g)s%(suffix)s") % {"obs": text, "g": row.grade, "suffix": suffix}


def describe_icans(row: IcansAssessment) -> str:
    parts = []
    if row.unable_to_perform:
        parts.append(
            _("%(tool)s: unable to perform") % {"tool": row.tool.upper()}
            + (" " + _("(awake, global aphasia)") if row.awake_with_global_aphasia else "")
        )
    elif row.tool == "ice" and row.ice_score is not None:
        parts.append(_("ICE %(s)s/10") % {"s": row.ice_score})
    elif row.tool == "capd" and row.capd_score is not None:
        parts.append(_("CAPD %(s)s/32") % {"s": row.capd_score})
    else:
        parts.append(_("%(tool)s not obtained") % {"tool": row.tool.upper()})
    parts.append(_("age %(a)s") % {"a": row.age_years})
    for name in ("consciousness", "seizure", "motor", "cerebral_edema"):
        if getattr(row, name) not in ("alert", "none"):
            parts.append(str(getattr(row, f"get_{name}_display")()).lower())
    if row.died_of_icans:
        parts.append(_("died of ICANS"))
    return _("%(obs)s → grade %(g)s") % {"obs": ", ".join(parts), "g": row.grade}


def _flowsheet(rows: list[Any], last_day: int | None) -> list[DayCell]:
    cells = [
        DayCell(day, future=last_day is not None and day > last_day) for day in range(FLOWSHEET_LAST_DAY + 1)
    ]
    for row in rows:
        if row.study_day is not None and 0 <= row.study_day <= FLOWSHEET_LAST_DAY:
            moment = timezone.localtime(row.assessed_at, row.local_zone).strftime("%H:%M")
            cells[row.study_day].add(row.grade, f"{moment} {row.description}")
    return cells


def toxicity_page(patient: Patient) -> ToxicityPage:
    """Everything the section shows; 11 queries with day 0, 5 without (see the module docstring)."""
    zone = zoneinfo.ZoneInfo(patient.centre.time_zone)

    def valid(model: type) -> Any:
        return model._default_manager.filter(patient=patient, voided_at__isnull=True)

    crs = list(valid(CrsAssessment).order_by("assessed_at", "pk")) if patient.day0 else []
    icans = list(valid(IcansAssessment).order_by("assessed_at", "pk")) if patient.day0 else []
    for row in (*crs, *icans):
        row.local_zone = zone
        row.study_day = patient.study_day(local_date(row.assessed_at, patient.centre.time_zone))
    for row in crs:
        row.description = describe_crs(row)
    for row in icans:
        row.description = describe_icans(row)
    infections = list(valid(Infection).order_by("onset_on", "pk"))
    adverse_events = list(valid(AdverseEvent).order_by("started_on", "pk"))
    supportive_care = list(valid(SupportiveCare).order_by("started_on", "pk"))
    for row in infections:
        row.study_day = patient.study_day(row.onset_on)
    for row in adverse_events:
        row.serious_labels = [str(SERIOUS_CRITERIA.get(c, c)) for c in row.serious_criteria]
    for row in (*adverse_events, *supportive_care):
        row.study_day = patient.study_day(row.started_on)
        row.end_study_day = patient.study_day(row.ended_on)
    last_day = None
    if patient.day0:
        ends = [timezone.localdate(timezone=zone)]
        if patient.death_date:
            ends.append(patient.death_date)
        last_day = patient.study_day(min(ends))
    return ToxicityPage(
        summary=safety_summary(patient) if patient.day0 else None,
        crs=crs,
        icans=icans,
        infections=infections,
        adverse_events=adverse_events,
        supportive_care=supportive_care,
        crs_days=_flowsheet(crs, last_day),
        icans_days=_flowsheet(icans, last_day),
    )


@register.inclusion_tag("adverse_events/_toxicity.html", takes_context=True)
def toxicity_section(context: template.Context) -> dict[str, Any]:
    patient: Patient = context["patient"]
    return {
        "patient": patient,
        # The patient view builds it once for the header and plots too; other pages get it built here.
        "toxicity": context.get("toxicity") or toxicity_page(patient),
        "can_write": context.get("can_write", False),
        "can_add": context.get("can_add", False),
        "request": context.get("request"),
    }
