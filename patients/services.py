"""Every write to patients goes through one function here."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from patients.models import Diagnosis, Patient, PatientStatus, Sex
from registry.audit import require_reason, save_audited
from registry.models import Centre

EDITABLE_FIELDS = ("sex", "diagnosis", "status")


def _check_choice(field: str, value: Any, choices: type) -> None:
    allowed = [c.value for c in choices]
    if value not in allowed:
        raise ValidationError(
            {
                field: _("'%(value)s' is not allowed; choose one of: %(allowed)s.")
                % {"value": value, "allowed": ", ".join(allowed)}
            }
        )


@transaction.atomic
def patient_enrol(*, centre: Centre, sex: str, diagnosis: str, recorded_by: Any) -> Patient:
    """Enrol a child: allocate the next registry code of the centre (ROM-001, ROM-002, ...)."""
    _check_choice("sex", sex, Sex)
    _check_choice("diagnosis", diagnosis, Diagnosis)
    # Lock the centre row so two enrolments at the same centre cannot take the same number.
    Centre.objects.select_for_update().get(pk=centre.pk)
    last = Patient.objects.filter(centre=centre).aggregate(m=Max("sequence"))["m"] or 0
    patient = Patient(
        centre=centre, sequence=last + 1, code=f"{centre.code}-{last + 1:03d}", sex=sex, diagnosis=diagnosis
    )
    patient.full_clean()
    save_audited(patient, user=recorded_by)
    return patient


@transaction.atomic
def patient_update(*, patient: Patient, changes: dict[str, Any], recorded_by: Any, reason: str) -> Patient:
    """Change fields of an existing patient; the reason is stored in the audit trail."""
    reason = require_reason(reason)
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValidationError(
            _("These fields cannot be changed here: %(fields)s.") % {"fields": ", ".join(unknown)}
        )
    checks = {"sex": Sex, "diagnosis": Diagnosis, "status": PatientStatus}
    for field, value in changes.items():
        _check_choice(field, value, checks[field])
    changed = [f for f, v in changes.items() if getattr(patient, f) != v]
    if not changed:
        return patient
    for field in changed:
        setattr(patient, field, changes[field])
    save_audited(patient, user=recorded_by, reason=reason, update_fields=[*changed, "updated_at"])
    return patient


@transaction.atomic
def patient_void(*, patient: Patient, recorded_by: Any, reason: str) -> Patient:
    """Mark a patient record entered in error; it is kept, audited, and drops out of exports."""
    reason = require_reason(reason)
    if patient.voided_at is not None:
        raise ValidationError(_("This record is already voided."))
    patient.voided_at = timezone.now()
    patient.void_reason = reason
    save_audited(
        patient, user=recorded_by, reason=reason, update_fields=["voided_at", "void_reason", "updated_at"]
    )
    return patient
