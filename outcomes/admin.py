"""Staff maintain the visit schedule (timepoints and windows are data); clinical rows are read-only here.

``ScheduleTimepoint`` has no history table of its own, so its admin keeps the registry's audit habit the
admin way: a change needs a reason, which is written into the admin log entry with the changed fields
(the log keeps who and when). Visits, instruments, medications and laboratory results are written only
through :mod:`outcomes.services` (validation, computed scores, audit); the admin shows them for support.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from outcomes.models import (
    JdmAssessment,
    LabResult,
    Medication,
    ScheduleTimepoint,
    SledaiAssessment,
    SscAssessment,
    TimepointKind,
    Visit,
)
from patients.models import Diagnosis


class ScheduleTimepointForm(forms.ModelForm):
    change_reason = forms.CharField(
        label=_("Reason for change"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_(
            "Required when changing an existing timepoint: every patient's schedule follows it. "
            "Stored in the admin log."
        ),
    )

    class Meta:
        model = ScheduleTimepoint
        fields = (
            "protocol",
            "code",
            "label",
            "kind",
            "nominal_day",
            "window_before_days",
            "window_after_days",
            "expected",
        )

    def clean_expected(self) -> dict[str, list[str]]:
        expected = self.cleaned_data.get("expected") or {}
        allowed = {"*", *Diagnosis.values}
        if not isinstance(expected, dict):
            raise forms.ValidationError(_('A mapping such as {"*": ["cbc"], "sle": ["sledai"]}.'))
        for key, value in expected.items():
            if key not in allowed:
                raise forms.ValidationError(
                    _("Unknown key %(k)s; use * or a diagnosis code (%(a)s).")
                    % {"k": key, "a": ", ".join(sorted(allowed))}
                )
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise forms.ValidationError(_("%(k)s must map to a list of codes.") % {"k": key})
        return expected

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        kind, day = cleaned.get("kind"), cleaned.get("nominal_day")
        if kind is not None and day is not None:
            wrong = (
                (kind == TimepointKind.PRE_INFUSION and day >= 0)
                or (kind == TimepointKind.DAY0 and day != 0)
                or (kind in (TimepointKind.INPATIENT, TimepointKind.FOLLOW_UP) and day <= 0)
            )
            if wrong:
                self.add_error(
                    "nominal_day",
                    _(
                        "Before the infusion needs a negative day, day 0 the day 0, inpatient and "
                        "follow-up timepoints a day after 0."
                    ),
                )
        if self.instance.pk and self.has_changed() and not (cleaned.get("change_reason") or "").strip():
            self.add_error("change_reason", _("Give a reason for changing this timepoint."))
        return cleaned


@admin.register(ScheduleTimepoint)
class ScheduleTimepointAdmin(admin.ModelAdmin):
    form = ScheduleTimepointForm
    list_display = (
        "protocol",
        "code",
        "label",
        "kind",
        "nominal_day",
        "window_before_days",
        "window_after_days",
    )
    list_filter = ("protocol", "kind")
    search_fields = ("code", "label")
    ordering = ("protocol", "nominal_day")

    def construct_change_message(self, request: Any, form: Any, formsets: Any, add: bool = False) -> Any:
        message = super().construct_change_message(request, form, formsets, add)
        reason = (form.cleaned_data.get("change_reason") or "").strip()
        if reason and isinstance(message, list):
            message.append({"changed": {"fields": [f"reason: {reason}"]}})
        return message

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        # Visits refer to timepoints (PROTECT); an unused timepoint is simply left out of a protocol.
        return False


class ReadOnlyClinicalAdmin(admin.ModelAdmin):
    """Clinical rows for support staff to look at; every write goes through the services."""

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Visit)
class VisitAdmin(ReadOnlyClinicalAdmin):
    list_display = ("patient", "timepoint", "visit_date", "row_version", "voided_at")
    list_select_related = ("patient", "timepoint")


@admin.register(SledaiAssessment)
class SledaiAssessmentAdmin(ReadOnlyClinicalAdmin):
    list_display = ("visit", "sledai_2k", "clinical_sledai_2k", "doris_remission", "lldas")
    list_select_related = ("visit__timepoint",)


@admin.register(JdmAssessment)
class JdmAssessmentAdmin(ReadOnlyClinicalAdmin):
    list_display = ("visit", "cmas", "mmt8", "total_improvement_score", "response", "printo_inactive")
    list_select_related = ("visit__timepoint",)


@admin.register(SscAssessment)
class SscAssessmentAdmin(ReadOnlyClinicalAdmin):
    list_display = ("visit", "mrss", "eustar_activity_index", "eustar_active")
    list_select_related = ("visit__timepoint",)


@admin.register(Medication)
class MedicationAdmin(ReadOnlyClinicalAdmin):
    list_display = ("patient", "drug", "medication_class", "started_on", "stopped_on", "voided_at")
    list_select_related = ("patient",)


@admin.register(LabResult)
class LabResultAdmin(ReadOnlyClinicalAdmin):
    list_display = (
        "patient",
        "sampled_at",
        "analyte",
        "value_reported",
        "unit_reported",
        "value",
        "voided_at",
    )
    list_filter = ("analyte",)
    list_select_related = ("patient",)
