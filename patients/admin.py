"""Staff views of patients. Edits go through the patient services (reason required); nothing is deleted.

Identity is not registered here: staff who are not clinicians of the patient's centre must not see it
(DESIGN §5); clinicians see and edit it on the patient's pages.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from patients import services
from patients.models import Patient
from registry.admin import AuditedAdmin


@admin.register(Patient)
class PatientAdmin(AuditedAdmin):
    list_display = ("code", "centre", "diagnosis", "sex", "status", "day0", "voided_at")
    list_filter = ("centre", "diagnosis", "status")
    search_fields = ("code",)
    readonly_fields = ("code", "centre", "day0", "voided_at", "void_reason")
    fields = (
        "code",
        "centre",
        *services.PATIENT_EDITABLE,
        "day0",
        "voided_at",
        "void_reason",
        "change_reason",
    )

    def has_add_permission(self, request: Any) -> bool:
        return False  # enrolment is the clinician's form, with its validation and code allocation

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False  # clinical records are voided with a reason, never deleted

    def save_model(self, request: Any, obj: Any, form: Any, change: bool) -> None:
        original = Patient.objects.get(pk=obj.pk)
        changes = {f: form.cleaned_data[f] for f in services.PATIENT_EDITABLE if f in form.changed_data}
        services.patient_update(
            patient=original,
            changes=changes,
            recorded_by=request.user,
            reason=form.cleaned_data.get("change_reason", ""),
        )
