"""Medications: record one, stop one."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from outcomes import scores
from outcomes.models import (
    Medication,
    StopReasonMed,
)
from patients.forms import (
    RecordForm,
    model_field,
)

# --- medications ----------------------------------------------------------------------------------------

ROUTE_CHOICES = [
    ("oral", _("Oral")),
    ("iv", _("Intravenous")),
    ("sc", _("Subcutaneous")),
    ("im", _("Intramuscular")),
    ("topical", _("Topical")),
    ("other", _("Other")),
]

MEDICATION_FIELDS = (
    "drug",
    "medication_class",
    "dose",
    "dose_unit",
    "route",
    "frequency",
    "started_on",
    "stopped_on",
    "stop_reason",
    "restarted_for_disease_activity",
)


class MedicationForm(RecordForm):
    drug = model_field(Medication, "drug")
    medication_class = model_field(Medication, "medication_class")
    dose = model_field(Medication, "dose")
    dose_unit = model_field(Medication, "dose_unit")
    route = forms.ChoiceField(label=_("Route"), choices=ROUTE_CHOICES, initial="oral")
    frequency = model_field(Medication, "frequency")
    started_on = model_field(Medication, "started_on")
    stopped_on = model_field(Medication, "stopped_on")
    stop_reason = model_field(Medication, "stop_reason")
    restarted_for_disease_activity = model_field(Medication, "restarted_for_disease_activity")

    fieldsets = [
        (_("Drug"), ["drug", "medication_class"]),
        (_("Dose"), ["dose", "dose_unit", "route", "frequency"]),
        (_("Course"), ["started_on", "stopped_on", "stop_reason", "restarted_for_disease_activity"]),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["drug"].help_text = _(
            "Glucocorticoids are converted to a prednisone-equivalent: %(names)s."
        ) % {"names": ", ".join(scores.STEROID_FACTORS)}
        self.fields["dose"].help_text = _("Per administration; glucocorticoids in mg or mg/kg.")


class MedicationStopForm(RecordForm):
    stopped_on = model_field(Medication, "stopped_on", required=True)
    stop_reason = forms.ChoiceField(label=_("Reason stopped"), choices=StopReasonMed.choices)
    reason = forms.CharField(
        label=_("Note for the audit trail"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Optional; 'medication stopped' is recorded when left empty."),
    )
