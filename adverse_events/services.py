"""Writes of toxicity data. CRS and ICANS grades are computed here from raw observations, never typed.

CRS: whether fever is still required depends on the episode (ASTCT 2019: once CRS has been treated with
tocilizumab, corticosteroids, anakinra or antipyretics, hypotension and hypoxia drive the grade). The episode
is derived from the patient's assessments in time order, so adding, editing or voiding one assessment regrades
the
later ones of the patient; every regraded row gets an audit entry saying why.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from adverse_events import grading
from adverse_events.models import (
    SERIOUS_CRITERIA,
    AdverseEvent,
    CrsAssessment,
    IcansAssessment,
    Infection,
    SupportiveCare,
)
from outcomes.services import local_date
from patients.models import Patient, PatientIdentity
from registry.audit import require_reason, save_audited
from registry.records import (
    apply_changes,
    check_accepts_new_data,
    check_not_future,
    field_error,
    full_clean,
    save_changes,
    void_record,
)


def _grading_error(exc: ValueError, fields: Iterable[str]) -> ValidationError:
    """Map a grader's ValueError (which names its argument) onto the form field it came from."""
    message = str(exc)
    for field in fields:
        if message.startswith(field) or f"{field} " in message or f"'{field}'" in message:
            return field_error(field, message)
    return ValidationError(message)


def _check_study_window(patient: Patient, field: str, on: dt.date) -> None:
    day0 = Patient.objects.filter(pk=patient.pk).values_list("day0", flat=True).first()
    if day0 is None:
        raise field_error(field, _("Toxicity is assessed from day 0: record the infusion first."))
    if on < day0:
        raise field_error(
            field,
            _("%(d)s is before day 0 (%(day0)s); toxicity assessments start at day 0."),
            d=on.isoformat(),
            day0=day0.isoformat(),
        )
    _check_not_after_death(patient, **{field: on})


def _check_not_after_death(patient: Patient, **dates: dt.date | None) -> None:
    """Nothing starts, ends or resolves after the patient's date of death (read afresh: it may have been
    recorded since ``patient`` was loaded). Dates before day 0 stay allowed for adverse events and supportive
    care (lymphodepletion and apheresis happen before the infusion)."""
    death = Patient.objects.filter(pk=patient.pk).values_list("death_date", flat=True).first()
    if death is None:
        return
    for field, on in dates.items():
        if on is not None and on > death:
            raise field_error(
                field,
                _("%(d)s is after the date of death (%(dd)s)."),
                d=on.isoformat(),
                dd=death.isoformat(),
            )


def _check_moment(patient: Patient, field: str, moment: dt.datetime) -> dt.date:
    if timezone.is_naive(moment):
        raise field_error(field, _("The time needs a time zone."))
    if moment > timezone.now() + dt.timedelta(minutes=5):
        raise field_error(field, _("The assessment time is in the future."))
    on = local_date(moment, patient.centre.time_zone)
    _check_study_window(patient, field, on)
    return on


# --- CRS --------------------------------------------------------------------------------------------------

CRS_FIELDS = (
    "max_temperature_c",
    "fever_other_cause",
    "antipyretic_given",
    "hypotension",
    "fluid_bolus_ml_per_kg",
    "vasopressors",
    "oxygen_device",
    "oxygen_flow_l_min",
    "tocilizumab_mg_per_kg",
    "corticosteroid_given",
    "anakinra_given",
    "died_of_crs",
)


def _normalise_vasopressors(value: Any) -> list[dict[str, Any]]:
    """Accept agent codes or {"agent", "dose_mcg_kg_min"} entries; return clean entries."""
    if value in (None, ""):
        return []
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise field_error("vasopressors", _("Give a list of vasopressors."))
    clean = []
    for entry in value:
        agent, dose = (
            (entry, None) if isinstance(entry, str) else (entry.get("agent"), entry.get("dose_mcg_kg_min"))
        )
        agent = str(agent or "").strip().lower()
        if agent not in grading.VASOPRESSOR_NAMES:
            raise field_error(
                "vasopressors",
                _("'%(a)s' is not a vasopressor; allowed: %(allowed)s."),
                a=agent,
                allowed=", ".join(grading.VASOPRESSORS),
            )
        if dose is not None and not (0 <= float(dose) <= 10):
            raise field_error("vasopressors", _("Vasopressor dose must be 0–10 µg/kg/min."))
        clean.append(
            {
                "agent": grading.VASOPRESSOR_SYNONYMS.get(agent, agent),
                "dose_mcg_kg_min": None if dose is None else float(dose),
            }
        )
    return clean


def crs_grade_of(row: CrsAssessment, *, after_anticytokine_or_antipyretic: bool) -> int:
    """Grade one assessment with ASTCT 2019 (pure grader), mapping errors to fields."""
    try:
        return grading.crs_grade(
            temperature_c=None if row.max_temperature_c is None else float(row.max_temperature_c),
            fever_other_cause=row.fever_other_cause,
            after_anticytokine_or_antipyretic=after_anticytokine_or_antipyretic,
            hypotension=row.hypotension,
            vasopressors=[v["agent"] for v in row.vasopressors],
            oxygen_device=row.oxygen_device,
            oxygen_flow_l_min=None if row.oxygen_flow_l_min is None else float(row.oxygen_flow_l_min),
            died_of_crs=row.died_of_crs,
        )
    except ValueError as exc:
        raise _grading_error(
            exc, ("oxygen_flow_l_min", "oxygen_device", "vasopressors", "temperature_c")
        ) from exc


def crs_sequence(rows: list[CrsAssessment]) -> list[tuple[int, bool]]:
    """(grade, fever-no-longer-required) for each assessment, in time order.

    An episode starts with the first assessment graded ≥ 1 and ends at the next assessment graded 0. Within an
    episode, once tocilizumab, a corticosteroid, anakinra or an antipyretic has been given (at an assessment
    of
    that episode), later assessments are graded without requiring fever.
    """
    results = []
    active = treated = False
    for row in rows:
        masked = active and treated
        grade = crs_grade_of(row, after_anticytokine_or_antipyretic=masked)
        if grade >= 1:
            if not active:
                active, treated = True, False
            treated = treated or row.anticytokine_or_antipyretic_given
        else:
            active = treated = False
        results.append((grade, masked))
    return results


def _regrade_crs(patient: Patient, *, pending: CrsAssessment | None, recorded_by: Any, why: str) -> None:
    rows = list(
        CrsAssessment.objects.select_for_update()
        .filter(patient=patient, voided_at__isnull=True)
        .exclude(pk=pending.pk if pending and pending.pk else None)
        .order_by("assessed_at", "pk")
    )
    if pending is not None:
        rows.append(pending)
        rows.sort(key=lambda r: (r.assessed_at, r.pk or 0))
    for row, (grade, masked) in zip(rows, crs_sequence(rows), strict=True):
        if row is pending:
            row.grade, row.after_anticytokine_or_antipyretic = grade, masked
            continue
        if (row.grade, row.after_anticytokine_or_antipyretic) != (grade, masked):
            row.grade, row.after_anticytokine_or_antipyretic = grade, masked
            save_audited(
                row,
                user=recorded_by,
                reason=why,
                update_fields=["grade", "after_anticytokine_or_antipyretic", "updated_at"],
            )


def _clean_crs(row: CrsAssessment) -> None:
    row.vasopressors = _normalise_vasopressors(row.vasopressors)
    full_clean(row, exclude=["patient", "grade"])
    if row.oxygen_device == "none" and row.oxygen_flow_l_min:
        raise field_error("oxygen_flow_l_min", _("A flow was given but the oxygen device is 'none'."))
    if row.oxygen_device == "nasal_cannula" and row.oxygen_flow_l_min is None:
        raise field_error(
            "oxygen_flow_l_min", _("Give the nasal-cannula flow (L/min): ≤ 6 is low-flow, > 6 high-flow.")
        )


@transaction.atomic
def crs_assessment_record(
    *, patient: Patient, assessed_at: dt.datetime, recorded_by: Any, **observations: Any
) -> CrsAssessment:
    """Record a CRS assessment; its ASTCT 2019 grade (and later ones') is computed."""
    check_accepts_new_data(patient)
    unknown = sorted(set(observations) - set(CRS_FIELDS))
    if unknown:
        raise ValidationError(_("Unknown CRS fields: %(f)s.") % {"f": ", ".join(unknown)})
    row = CrsAssessment(patient=patient, assessed_at=assessed_at, grade=0, **observations)
    _clean_crs(row)
    _check_moment(patient, "assessed_at", assessed_at)
    _regrade_crs(
        patient,
        pending=row,
        recorded_by=recorded_by,
        why=_("regraded: CRS assessment of %(t)s added") % {"t": assessed_at.isoformat()},
    )
    save_audited(row, user=recorded_by)
    return row


def crs_preview(
    *, patient: Patient, assessed_at: dt.datetime, exclude_pk: int | None = None, **observations: Any
) -> tuple[int, bool]:
    """The grade the assessment would get, without saving (for the live form).

    ``exclude_pk``: the assessment being edited, which the edited version replaces in the sequence.
    """
    row = CrsAssessment(patient=patient, assessed_at=assessed_at, grade=0, **observations)
    _clean_crs(row)
    _check_moment(patient, "assessed_at", assessed_at)
    rows = list(
        CrsAssessment.objects.filter(patient=patient, voided_at__isnull=True, assessed_at__lte=assessed_at)
        .exclude(pk=exclude_pk)
        .order_by("assessed_at", "pk")
    )
    rows.append(row)
    return crs_sequence(rows)[-1]


@transaction.atomic
def crs_assessment_update(
    *, assessment: CrsAssessment, changes: dict[str, Any], recorded_by: Any, reason: str
) -> CrsAssessment:
    reason = require_reason(reason)
    changed = apply_changes(assessment, changes, allowed=(*CRS_FIELDS, "assessed_at"))
    if not changed:
        return assessment
    _clean_crs(assessment)
    _check_moment(assessment.patient, "assessed_at", assessment.assessed_at)
    _regrade_crs(
        assessment.patient,
        pending=assessment,
        recorded_by=recorded_by,
        why=_("regraded: CRS assessment of %(t)s edited") % {"t": assessment.assessed_at.isoformat()},
    )
    save_changes(
        assessment,
        [*changed, "grade", "after_anticytokine_or_antipyretic"],
        recorded_by=recorded_by,
        reason=reason,
    )
    return assessment


@transaction.atomic
def crs_assessment_void(*, assessment: CrsAssessment, recorded_by: Any, reason: str) -> CrsAssessment:
    void_record(assessment, recorded_by=recorded_by, reason=reason)
    _regrade_crs(
        assessment.patient,
        pending=None,
        recorded_by=recorded_by,
        why=_("regraded: CRS assessment of %(t)s voided") % {"t": assessment.assessed_at.isoformat()},
    )
    return assessment


# --- ICANS ------------------------------------------------------------------------------------------------

ICANS_FIELDS = (
    "developmental_delay",
    "ice_items",
    "capd_answers",
    "unable_to_perform",
    "awake_with_global_aphasia",
    "consciousness",
    "seizure",
    "motor",
    "cerebral_edema",
    "findings_other_cause",
    "died_of_icans",
)


def age_at(patient: Patient, on: dt.date) -> Decimal:
    identity = PatientIdentity.objects.filter(patient=patient).only("date_of_birth").first()
    if identity is None:
        raise field_error(
            "assessed_at",
            _("The date of birth is needed to choose ICE or CAPD; record the patient's identity first."),
        )
    if on < identity.date_of_birth:
        raise field_error(
            "assessed_at",
            _("%(d)s is before the date of birth (%(dob)s)."),
            d=on.isoformat(),
            dob=identity.date_of_birth.isoformat(),
        )
    return Decimal((on - identity.date_of_birth).days / 365.25).quantize(Decimal("0.01"))


ICE_ITEMS = ("orientation", "naming", "following_commands", "writing", "attention")


def _ice_points(items: Any) -> dict[str, int]:
    """The five ICE items as whole numbers; anything else is refused naming the item (never truncated)."""
    if not isinstance(items, dict) or set(items) != set(ICE_ITEMS):
        raise field_error(
            "ice_items",
            _("The ICE score needs exactly these items: %(items)s."),
            items=", ".join(ICE_ITEMS),
        )
    points = {}
    for item, value in items.items():
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise field_error(item, _("Give a whole number of points; got %(v)s."), v=value)
        points[item] = value
    return points


def _capd_item(key: Any) -> int:
    try:
        item = int(key)
    except (TypeError, ValueError):
        item = None
    if item is None or str(item) != str(key).strip() or item not in grading.CAPD_ITEMS:
        raise field_error(
            "capd_answers",
            _("'%(k)s' is not a CAPD item; the items are %(items)s."),
            k=key,
            items=", ".join(str(i) for i in grading.CAPD_ITEMS),
        )
    return item


def _grade_icans(row: IcansAssessment) -> None:
    age = float(row.age_years)
    try:
        row.tool = grading.icans_tool(age_years=age, developmental_delay=row.developmental_delay)
        row.ice_score = row.capd_score = None
        if row.tool == "ice" and row.capd_answers:
            raise field_error(
                "capd_answers", _("At age %(a)s the ICE score is used, not CAPD."), a=row.age_years
            )
        if row.tool == "capd" and row.ice_items:
            raise field_error(
                "ice_items", _("Below 12 years or with developmental delay the CAPD is used, not ICE.")
            )
        if row.unable_to_perform and (row.ice_items or row.capd_answers):
            raise field_error(
                "unable_to_perform",
                _("Leave the items empty when the patient cannot perform the assessment."),
            )
        if row.tool == "ice" and row.ice_items:
            row.ice_score = grading.ice_score(**_ice_points(row.ice_items))
        if row.tool == "capd" and row.capd_answers:
            row.capd_answers = {str(_capd_item(k)): v for k, v in row.capd_answers.items()}
            row.capd_score = grading.capd_score({int(k): v for k, v in row.capd_answers.items()})
        row.grade = grading.icans_grade(
            age_years=age,
            ice_score=row.ice_score,
            capd_score=row.capd_score,
            unable_to_perform=row.unable_to_perform,
            awake_with_global_aphasia=row.awake_with_global_aphasia,
            developmental_delay=row.developmental_delay,
            consciousness=row.consciousness,
            seizure=row.seizure,
            motor=row.motor,
            cerebral_edema=row.cerebral_edema,
            died_of_icans=row.died_of_icans,
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            raise
        raise _grading_error(
            ValueError(str(exc)),
            (
                "orientation",
                "naming",
                "following_commands",
                "writing",
                "attention",
                "answers",
                "awake_with_global_aphasia",
                "consciousness",
                "seizure",
                "motor",
                "cerebral_edema",
                "unable_to_perform",
            ),
        ) from exc


def _prepare_icans(patient: Patient, row: IcansAssessment) -> None:
    full_clean(row, exclude=["patient", "grade", "age_years", "tool"])
    on = _check_moment(patient, "assessed_at", row.assessed_at)
    row.age_years = age_at(patient, on)
    _grade_icans(row)


@transaction.atomic
def icans_assessment_record(
    *, patient: Patient, assessed_at: dt.datetime, recorded_by: Any, **observations: Any
) -> IcansAssessment:
    """Record an ICANS assessment; the tool follows the age at the assessment, the grade is computed."""
    check_accepts_new_data(patient)
    unknown = sorted(set(observations) - set(ICANS_FIELDS))
    if unknown:
        raise ValidationError(_("Unknown ICANS fields: %(f)s.") % {"f": ", ".join(unknown)})
    row = IcansAssessment(
        patient=patient, assessed_at=assessed_at, grade=0, age_years=Decimal("0"), tool="ice", **observations
    )
    _prepare_icans(patient, row)
    save_audited(row, user=recorded_by)
    return row


def icans_preview(*, patient: Patient, assessed_at: dt.datetime, **observations: Any) -> IcansAssessment:
    row = IcansAssessment(
        patient=patient, assessed_at=assessed_at, grade=0, age_years=Decimal("0"), tool="ice", **observations
    )
    _prepare_icans(patient, row)
    return row


@transaction.atomic
def icans_assessment_update(
    *, assessment: IcansAssessment, changes: dict[str, Any], recorded_by: Any, reason: str
) -> IcansAssessment:
    reason = require_reason(reason)
    changed = apply_changes(assessment, changes, allowed=(*ICANS_FIELDS, "assessed_at"))
    if not changed:
        return assessment
    _prepare_icans(assessment.patient, assessment)
    save_changes(
        assessment,
        [*changed, "grade", "age_years", "tool", "ice_score", "capd_score", "capd_answers"],
        recorded_by=recorded_by,
        reason=reason,
    )
    return assessment


# --- haematotoxicity support, infections, other AEs ---------------------------------------------------------


@transaction.atomic
def supportive_care_record(
    *,
    patient: Patient,
    kind: str,
    started_on: dt.date,
    recorded_by: Any,
    ended_on: dt.date | None = None,
    units: int = 1,
) -> SupportiveCare:
    check_accepts_new_data(patient)
    row = SupportiveCare(patient=patient, kind=kind, started_on=started_on, ended_on=ended_on, units=units)
    full_clean(row, exclude=["patient"])
    check_not_future("started_on", started_on)
    check_not_future("ended_on", ended_on)
    if ended_on and ended_on < started_on:
        raise field_error("ended_on", _("The end is before the start."))
    _check_not_after_death(patient, started_on=started_on, ended_on=ended_on)
    save_audited(row, user=recorded_by)
    return row


INFECTION_FIELDS = (
    "site",
    "organism_type",
    "organism",
    "treatment_route",
    "invasive_intervention",
    "hospitalised",
    "icu",
    "life_threatening",
    "outcome",
    "resolved_on",
)


def infection_proposal(row: Infection) -> int:
    try:
        return grading.infection_proposed_grade(
            treatment_route=row.treatment_route,
            invasive_intervention=row.invasive_intervention,
            hospitalised=row.hospitalised,
            icu=row.icu,
            life_threatening=row.life_threatening,
            fatal=row.outcome == "fatal",
        )
    except ValueError as exc:
        raise field_error("treatment_route", str(exc)) from exc


@transaction.atomic
def infection_record(
    *, patient: Patient, onset_on: dt.date, grade: int | None, recorded_by: Any, **facts: Any
) -> Infection:
    """Record an infection. ``grade`` is the clinician's confirmation of the proposed grade (required)."""
    check_accepts_new_data(patient)
    unknown = sorted(set(facts) - set(INFECTION_FIELDS))
    if unknown:
        raise ValidationError(_("Unknown infection fields: %(f)s.") % {"f": ", ".join(unknown)})
    row = Infection(patient=patient, onset_on=onset_on, grade=grade or 1, proposed_grade=1, **facts)
    full_clean(row, exclude=["patient", "proposed_grade"])
    check_not_future("onset_on", onset_on)
    check_not_future("resolved_on", row.resolved_on)
    _check_study_window(patient, "onset_on", onset_on)
    if row.resolved_on and row.resolved_on < onset_on:
        raise field_error("resolved_on", _("Resolution is before onset."))
    _check_not_after_death(patient, resolved_on=row.resolved_on)
    row.proposed_grade = infection_proposal(row)
    if grade is None:
        raise field_error("grade", _("Confirm the grade (proposed: %(g)s)."), g=row.proposed_grade)
    if row.outcome == "fatal" and grade != 5:
        raise field_error("grade", _("A fatal infection is grade 5."))
    save_audited(row, user=recorded_by)
    return row


@transaction.atomic
def adverse_event_record(
    *,
    patient: Patient,
    term: str,
    grade: int,
    attribution: str,
    started_on: dt.date,
    outcome: str,
    recorded_by: Any,
    serious: bool = False,
    serious_criteria: list[str] | None = None,
    ended_on: dt.date | None = None,
    action_taken: str = "",
) -> AdverseEvent:
    """Record another adverse event, graded by the clinician (CTCAE 5.0)."""
    check_accepts_new_data(patient)
    criteria = sorted(set(serious_criteria or []))
    unknown = [c for c in criteria if c not in SERIOUS_CRITERIA]
    if unknown:
        raise field_error(
            "serious_criteria",
            _("Unknown seriousness criteria: %(c)s; allowed: %(a)s."),
            c=", ".join(unknown),
            a=", ".join(SERIOUS_CRITERIA),
        )
    if serious and not criteria:
        raise field_error("serious_criteria", _("A serious event needs at least one seriousness criterion."))
    if criteria and not serious:
        raise field_error("serious", _("Seriousness criteria were given: mark the event as serious."))
    row = AdverseEvent(
        patient=patient,
        term=term.strip(),
        grade=grade,
        attribution=attribution,
        started_on=started_on,
        ended_on=ended_on,
        outcome=outcome,
        serious=serious,
        serious_criteria=criteria,
        action_taken=action_taken.strip(),
    )
    full_clean(row, exclude=["patient"])
    check_not_future("started_on", started_on)
    check_not_future("ended_on", ended_on)
    if ended_on and ended_on < started_on:
        raise field_error("ended_on", _("The end is before the start."))
    _check_not_after_death(patient, started_on=started_on, ended_on=ended_on)
    if outcome == "fatal" and grade != 5:
        raise field_error("grade", _("A fatal adverse event is grade 5."))
    save_audited(row, user=recorded_by)
    return row
