"""Tuned reads for the patient pages: the scoped patient list and the baseline sections of one patient.

Identity leaves this module only as an age (DESIGN §5), except :attr:`PatientPage.identity`, which is filled
only when the caller says the viewer may see identity.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, replace
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import F, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from adverse_events.selectors import latest_grade_annotations
from outcomes.schedule import TimepointStatus, timepoint_status
from outcomes.selectors import next_due, schedule_statuses
from outcomes.templatetags.outcomes_page import STATUS_LABELS
from patients.models import (
    Diagnosis,
    GrowthMeasurement,
    OrganInvolvement,
    Patient,
    PatientIdentity,
    PatientStatus,
    PriorTherapy,
    Sex,
    TherapyClass,
)
from registry import access

PATIENTS_PER_PAGE = 50


def completed_years(date_of_birth: dt.date | None, on: dt.date | None) -> int | None:
    """Age in completed years on ``on`` (the age a clinician writes down)."""
    if date_of_birth is None or on is None:
        return None
    return on.year - date_of_birth.year - ((on.month, on.day) < (date_of_birth.month, date_of_birth.day))


# --- list -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatientRow:
    pk: int
    code: str
    centre_code: str
    diagnosis: str
    sex: str
    age_at_infusion: int | None
    day0: dt.date | None
    status: str
    is_illustrative: bool
    is_voided: bool
    # the worklist: study day today (centre's time zone), the next visit due and its window, flags
    study_day: int | None = None
    next_due: TimepointStatus | None = None
    next_due_label: str = ""
    overdue: bool = False
    also_outstanding: int = 0
    open_episode: bool = False
    can_record: bool = False

    @property
    def next_visit_url(self) -> str:
        """The visit form preset to the next timepoint (one click from the list), when the user may record."""
        if not (self.can_record and self.next_due):
            return ""
        return reverse("outcomes:visit_add", args=[self.pk]) + f"?timepoint={self.next_due.code}"


def patient_queryset(user: Any, *, q: str = "", diagnosis: str = "", status: str = "") -> QuerySet[Patient]:
    """Patients at the centres where ``user`` may read, filtered by code, diagnosis and status."""
    patients = access.scope(Patient.objects.all(), user, access.Action.READ)
    if q.strip():
        patients = patients.filter(code__icontains=q.strip())
    if diagnosis:
        patients = patients.filter(diagnosis=diagnosis)
    if status == "voided":
        patients = patients.filter(voided_at__isnull=False)
    elif status:
        patients = patients.filter(status=status, voided_at__isnull=True)
    return patients.order_by("centre__code", "sequence")


OUTSTANDING = ("overdue", "in_window", "due")


def _centre_today(time_zone: str) -> dt.date:
    return timezone.localtime(timezone.now(), zoneinfo.ZoneInfo(time_zone)).date()


def patient_list_page(
    user: Any,
    *,
    q: str = "",
    diagnosis: str = "",
    status: str = "",
    page: Any = 1,
    per_page: int = PATIENTS_PER_PAGE,
) -> tuple[Page, list[PatientRow]]:
    """One page of the worklist, in four queries whatever the number of patients: the count, the rows (with
    the date of birth, only to compute the age at infusion, and the grade of each patient's latest CRS and
    ICANS assessment joined in), the follow-up timepoints and the visited timepoints of the page's patients.

    The visit schedule (next visit due, overdue) is computed for active patients with day 0 only, each with
    today in their centre's time zone.
    """
    rows = (
        patient_queryset(user, q=q, diagnosis=diagnosis, status=status)
        .select_related("centre")
        .only(
            "pk",
            "code",
            "centre",
            "centre__code",
            "centre__time_zone",
            "diagnosis",
            "sex",
            "day0",
            "status",
            "is_illustrative",
            "voided_at",
        )
        .annotate(date_of_birth=F("identity__date_of_birth"), **latest_grade_annotations())
    )
    paginator = Paginator(rows, per_page)
    page_obj = paginator.get_page(page)
    patients = list(page_obj.object_list)
    followed = [p for p in patients if p.day0 is not None and p.voided_at is None and p.status == "active"]
    today = timezone.localdate()
    statuses = schedule_statuses(followed, today) if followed else {}
    writable = access.centre_ids_for(user, access.Action.WRITE)
    diagnoses = dict(Diagnosis.choices)
    sexes = dict(Sex.choices)
    patient_statuses = dict(PatientStatus.choices)
    result = []
    for p in patients:
        study_day = (_centre_today(p.centre.time_zone) - p.day0).days if p.day0 else None
        schedule = [_as_of(s, study_day) for s in statuses.get(p.pk, [])]
        due = next_due(schedule)
        outstanding = [s for s in schedule if s.status in OUTSTANDING]
        result.append(
            PatientRow(
                pk=p.pk,
                code=p.code,
                centre_code=p.centre.code,
                diagnosis=str(diagnoses.get(p.diagnosis, p.diagnosis)),
                sex=str(sexes.get(p.sex, p.sex)),
                age_at_infusion=completed_years(p.date_of_birth, p.day0),
                day0=p.day0,
                status=str(patient_statuses.get(p.status, p.status)),
                is_illustrative=p.is_illustrative,
                is_voided=p.voided_at is not None,
                study_day=study_day,
                next_due=due,
                next_due_label=str(STATUS_LABELS.get(due.status, due.status)) if due else "",
                overdue=any(s.status == "overdue" for s in schedule),
                also_outstanding=len([s for s in outstanding if s is not due]),
                open_episode=(p.latest_crs_grade or 0) >= 1 or (p.latest_icans_grade or 0) >= 1,
                can_record=p.accepts_new_data and (writable is None or p.centre_id in writable),
            )
        )
    return page_obj, result


def _as_of(status: TimepointStatus, today_day: int | None) -> TimepointStatus:
    """The status recomputed for the patient's today (its centre's date; the selector used the server's)."""
    if status.status == "completed" or today_day is None:
        return status
    return replace(
        status,
        status=timepoint_status(
            today_day=today_day,
            window_start=status.window_start_day,
            window_end=status.window_end_day,
            completed=False,
        ),
    )


# --- one patient ------------------------------------------------------------------------------------------


@dataclass
class PatientPage:
    """Header and baseline sections of the patient page. ``identity`` is ``None`` unless allowed."""

    patient: Patient
    identity: PatientIdentity | None
    has_identity: bool
    age_at_infusion: int | None
    age_today: int | None
    disease_duration_years: float | None
    organ_involvements: list[OrganInvolvement]
    prior_therapies: list[PriorTherapy]
    prior_lines: int
    b_cell_targeted_before: bool
    growth: list[GrowthMeasurement]


def _set_study_day(rows: list[Any], patient: Patient, date_field: str) -> None:
    for row in rows:
        row.study_day = patient.study_day(getattr(row, date_field))


def patient_page(
    patient: Patient, *, show_identity: bool, first_apheresis_on: dt.date | None = None
) -> PatientPage:
    """Four queries: identity, organ involvement, prior therapies, growth (voided rows left out).

    ``first_apheresis_on`` (from the dosing sections) dates the washout of each prior therapy.
    """
    identity = PatientIdentity.objects.filter(patient=patient).first()
    dob = identity.date_of_birth if identity else None
    today = timezone.localdate()
    end = patient.death_date or today
    organs = list(OrganInvolvement.objects.filter(patient=patient, voided_at__isnull=True).order_by("organ"))
    therapies = list(
        PriorTherapy.objects.filter(patient=patient, voided_at__isnull=True).order_by(
            "start_date", "stop_date", "pk"
        )
    )
    for therapy in therapies:
        therapy.counts_as_line = therapy.therapy_class != TherapyClass.GLUCOCORTICOID
        # Washout: days from stopping the drug to the (first) apheresis; negative = stopped after it.
        therapy.washout_days = (
            (first_apheresis_on - therapy.stop_date).days
            if therapy.stop_date and first_apheresis_on
            else None
        )
    growth = list(
        GrowthMeasurement.objects.filter(patient=patient, voided_at__isnull=True).order_by(
            "-measured_on", "-pk"
        )
    )
    _set_study_day(growth, patient, "measured_on")
    duration = None
    if patient.diagnosis_date:
        duration = round(((patient.day0 or today) - patient.diagnosis_date).days / 365.25, 1)
    return PatientPage(
        patient=patient,
        identity=identity if show_identity else None,
        has_identity=identity is not None,
        age_at_infusion=completed_years(dob, patient.day0),
        age_today=completed_years(dob, end) if patient.day0 is None else None,
        disease_duration_years=duration,
        organ_involvements=organs,
        prior_therapies=therapies,
        prior_lines=sum(1 for t in therapies if t.counts_as_line),
        b_cell_targeted_before=any(t.b_cell_targeted for t in therapies),
        growth=growth,
    )


def growth_choices(patient: Patient) -> QuerySet[GrowthMeasurement]:
    """Valid measurements of the patient, newest first (for the weight/BSA pickers)."""
    return GrowthMeasurement.objects.filter(patient=patient, voided_at__isnull=True).order_by(
        "-measured_on", "-pk"
    )


def status_filter_choices() -> list[tuple[str, Any]]:
    return [*PatientStatus.choices, ("voided", _("Voided (entered in error)"))]


__all__ = [
    "PatientPage",
    "PatientRow",
    "completed_years",
    "growth_choices",
    "patient_list_page",
    "patient_page",
    "patient_queryset",
    "status_filter_choices",
]
