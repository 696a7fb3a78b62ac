"""Tuned reads for the patient pages: the scoped patient list and the baseline sections of one patient.

Identity leaves this module only as an age (DESIGN §5), except :attr:`PatientPage.identity`, which is filled
only when the caller says the viewer may see identity.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

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


def patient_list_page(
    user: Any,
    *,
    q: str = "",
    diagnosis: str = "",
    status: str = "",
    page: Any = 1,
    per_page: int = PATIENTS_PER_PAGE,
) -> tuple[Page, list[PatientRow]]:
    """One page of the patient list: a count query and one query for the rows (date of birth joined in
    only to compute the age at infusion, which is all that is returned)."""
    rows = patient_queryset(user, q=q, diagnosis=diagnosis, status=status).values(
        "pk",
        "code",
        "centre__code",
        "diagnosis",
        "sex",
        "day0",
        "status",
        "is_illustrative",
        "voided_at",
        "identity__date_of_birth",
    )
    paginator = Paginator(rows, per_page)
    page_obj = paginator.get_page(page)
    diagnoses = dict(Diagnosis.choices)
    sexes = dict(Sex.choices)
    statuses = dict(PatientStatus.choices)
    result = [
        PatientRow(
            pk=row["pk"],
            code=row["code"],
            centre_code=row["centre__code"],
            diagnosis=str(diagnoses.get(row["diagnosis"], row["diagnosis"])),
            sex=str(sexes.get(row["sex"], row["sex"])),
            age_at_infusion=completed_years(row["identity__date_of_birth"], row["day0"]),
            day0=row["day0"],
            status=str(statuses.get(row["status"], row["status"])),
            is_illustrative=row["is_illustrative"],
            is_voided=row["voided_at"] is not None,
        )
        for row in page_obj.object_list
    ]
    return page_obj, result


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
