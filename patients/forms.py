"""Browser forms for patients: enrolment, identity, status, baseline and growth.

Forms only shape and range-check input; every write is a call to :mod:`patients.services`, whose
field-keyed ``ValidationError`` messages are put back on the fields they name (:func:`add_service_errors`).
Numbers are accepted with a decimal point or a comma, cell counts also in scientific notation (3.2e7).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from dosing.calculations import BSA_FORMULAS
from patients.models import (
    GrowthMeasurement,
    OrganInvolvement,
    Patient,
    PatientIdentity,
    PatientStatus,
    PriorTherapy,
)
from registry.models import Centre

# --- numbers with a decimal comma -------------------------------------------------------------------------

# "3.2 × 10^7", "3,2x10^7", "3.2*10^7" → 3.2e7 (how cell counts are written on lab reports).
_TIMES_TEN = re.compile(
    r"^([+-]?[0-9]*[.]?[0-9]+)\s*[x×*]\s*10\s*(?:\^|\*\*|e)?\s*([+-]?[0-9]+)$", re.IGNORECASE
)


def _normalise_number(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip().replace("\u2009", "").replace(" ", "").replace(",", ".").replace("\u2212", "-")
    match = _TIMES_TEN.match(text)
    if match:
        text = f"{match.group(1)}e{match.group(2)}"
    return text


class DecimalCommaField(forms.DecimalField):
    """A decimal accepting ``32,5`` as well as ``32.5``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}))
        super().__init__(*args, **kwargs)

    def to_python(self, value: Any) -> Decimal | None:
        return super().to_python(_normalise_number(value))


class CellCountField(forms.FloatField):
    """A float accepting a decimal comma and scientific notation: ``3.2e7``, ``3,2e7``, ``3.2 × 10^7``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
        super().__init__(*args, **kwargs)

    def to_python(self, value: Any) -> float | None:
        return super().to_python(_normalise_number(value))

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, float):
            return f"{value:g}"
        return value


class DateField(forms.DateField):
    widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class RangeValidator:
    """The plausible range of a model field, with a message naming the field, its unit and the range."""

    def __init__(self, label: Any, low: Any, high: Any) -> None:
        self.label, self.low, self.high = label, low, high

    def __call__(self, value: Any) -> None:
        if value is None:
            return
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            if self.low is not None and self.high is not None:
                message = _(
                    "%(label)s must be between %(low)s and %(high)s; %(value)s is outside that range."
                )
            elif self.low is not None:
                message = _("%(label)s must be at least %(low)s; got %(value)s.")
            else:
                message = _("%(label)s must be at most %(high)s; got %(value)s.")
            raise ValidationError(
                message,
                code="out_of_range",
                params={
                    "label": capfirst(self.label),
                    "low": _fmt(self.low),
                    "high": _fmt(self.high),
                    "value": _fmt(value),
                },
            )


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def model_field(model: type[models.Model], name: str, **kwargs: Any) -> forms.Field:
    """The form field for ``model.name`` with its label (units included), help text, choices and range.

    Decimal fields accept a comma, float fields (cell counts) a comma and scientific notation, dates use the
    browser's date picker; the model's min/max validators become one message that states the allowed range.
    """
    field = model._meta.get_field(name)
    if isinstance(field, models.DecimalField):
        kwargs.setdefault("form_class", DecimalCommaField)
    elif isinstance(field, models.FloatField):
        kwargs.setdefault("form_class", CellCountField)
    elif isinstance(field, models.DateField):
        kwargs.setdefault("form_class", DateField)
        kwargs.setdefault("widget", DateField.widget)
    elif isinstance(field, models.TextField):
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 2}))
    form_field = field.formfield(**kwargs)
    low = next((v.limit_value for v in field.validators if isinstance(v, MinValueValidator)), None)
    high = next((v.limit_value for v in field.validators if isinstance(v, MaxValueValidator)), None)
    if low is not None or high is not None:
        form_field.validators.append(RangeValidator(field.verbose_name, low, high))
    return form_field


def reason_field(*, required: bool = False) -> forms.CharField:
    return forms.CharField(
        label=_("Reason for the change"),
        required=required,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Stored in the audit trail, e.g. 'transcription error'."),
    )


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Put a service's ValidationError on the fields it names (unknown keys become form-wide errors)."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            if field in form.fields:
                form.add_error(field, errors)
            else:
                label = field.replace("_", " ")
                form.add_error(None, [f"{capfirst(label)}: {m}" for e in errors for m in e.messages])
    else:
        form.add_error(None, exc.messages)


# --- the base of every record form ------------------------------------------------------------------------


class RecordForm(forms.Form):
    """A form whose ``preview`` mode makes every field optional, so computed values show early.

    ``fieldsets`` groups fields under legends for the template: ``[(legend, [field names])]``; without it
    every field is in one group.
    """

    fieldsets: list[tuple[Any, list[str]]] = []

    def __init__(self, *args: Any, preview: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.preview = preview
        if preview:
            self.make_optional()

    def make_optional(self) -> None:
        """Preview mode: no "required" errors, but keep the browser's own check for the Save that follows
        an htmx preview (the swapped-in form is rendered from this one)."""
        for field in self.fields.values():
            if field.required and field.widget.use_required_attribute(None):
                field.widget.attrs["required"] = True
            field.required = False

    def groups(self) -> list[tuple[Any, list[forms.BoundField]]]:
        if not self.fieldsets:
            return [(None, [self[name] for name in self.fields])]
        return [(legend, [self[n] for n in names if n in self.fields]) for legend, names in self.fieldsets]

    def values(self, names: Iterable[str]) -> dict[str, Any]:
        return {name: self.cleaned_data.get(name) for name in names}


# --- enrolment and patient fields -------------------------------------------------------------------------

PATIENT_FIELDS = (
    "sex",
    "diagnosis",
    "classification_criteria",
    "diagnosis_date",
    "treatment_pathway",
    "approval_reference",
    "guardian_consent_date",
    "child_assent_date",
    "reconsent_at_majority_date",
)
IDENTITY_FIELDS = ("given_name", "family_name", "date_of_birth", "hospital_number", "contact")


def _patient_fields() -> dict[str, forms.Field]:
    return {name: model_field(Patient, name) for name in PATIENT_FIELDS}


def _identity_fields() -> dict[str, forms.Field]:
    return {name: model_field(PatientIdentity, name) for name in IDENTITY_FIELDS}


class EnrolForm(RecordForm):
    centre = forms.ModelChoiceField(queryset=Centre.objects.none(), label=_("Centre"))

    fieldsets = [
        (_("Centre"), ["centre"]),
        (_("Identity (seen only by the clinicians of the centre)"), list(IDENTITY_FIELDS)),
        (_("Diagnosis"), ["sex", "diagnosis", "classification_criteria", "diagnosis_date"]),
        (_("Treatment pathway"), ["treatment_pathway", "approval_reference"]),
        (_("Consent"), ["guardian_consent_date", "child_assent_date", "reconsent_at_majority_date"]),
    ]

    def __init__(self, *args: Any, centres: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields.update(_identity_fields())
        self.fields.update(_patient_fields())
        self.fields["centre"].queryset = centres
        if not self.is_bound:
            first_two = list(centres[:2])
            if len(first_two) == 1:  # a clinician of one centre enrols there
                self.fields["centre"].initial = first_two[0].pk
        if self.preview:
            self.make_optional()


class PatientEditForm(RecordForm):
    reason = reason_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        reason = self.fields.pop("reason")
        self.fields.update(_patient_fields())
        self.fields["reason"] = reason


class IdentityForm(RecordForm):
    reason = reason_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        reason = self.fields.pop("reason")
        self.fields.update(_identity_fields())
        self.fields["reason"] = reason


class StatusForm(RecordForm):
    status = model_field(Patient, "status")
    status_date = model_field(Patient, "status_date")
    death_date = model_field(Patient, "death_date")
    death_cause = model_field(Patient, "death_cause")
    death_related_to_car_t = model_field(Patient, "death_related_to_car_t")
    reason = reason_field()

    fieldsets = [
        (None, ["status", "status_date"]),
        (_("If deceased"), ["death_date", "death_cause", "death_related_to_car_t"]),
        (None, ["reason"]),
    ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        # The service requires the date and the relation to CAR T; the cause is required by the registry's
        # status form (issue 3: "deceased (date, cause, related to CAR T or not)").
        if cleaned.get("status") == PatientStatus.DECEASED and not (cleaned.get("death_cause") or "").strip():
            self.add_error("death_cause", _("Give the cause of death when the status is deceased."))
        return cleaned


class VoidForm(RecordForm):
    reason = forms.CharField(
        label=_("Why is this record entered in error?"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("The record is kept, marked void and left out of exports; the reason is audited."),
    )


# --- baseline ---------------------------------------------------------------------------------------------


class OrganInvolvementForm(RecordForm):
    organ = model_field(OrganInvolvement, "organ")
    nephritis_class = model_field(OrganInvolvement, "nephritis_class")
    detail = model_field(OrganInvolvement, "detail")


B_CELL_CHOICES = [("", _("From the class")), ("yes", _("Yes")), ("no", _("No"))]


class PriorTherapyForm(RecordForm):
    drug = model_field(PriorTherapy, "drug")
    therapy_class = model_field(PriorTherapy, "therapy_class")
    b_cell_targeted = forms.TypedChoiceField(
        label=_("B-cell-targeted"),
        choices=B_CELL_CHOICES,
        coerce=lambda v: v == "yes",
        empty_value=None,
        required=False,
        help_text=_("Left at 'from the class', B-cell-targeted therapies are flagged automatically."),
    )
    start_date = model_field(PriorTherapy, "start_date")
    stop_date = model_field(PriorTherapy, "stop_date")
    reason_stopped = model_field(PriorTherapy, "reason_stopped")


BSA_FORMULA_LABELS = {
    "mosteller": _("Mosteller"),
    "haycock": _("Haycock"),
    "dubois": _("DuBois & DuBois"),
}


class GrowthForm(RecordForm):
    measured_on = model_field(GrowthMeasurement, "measured_on")
    weight_kg = model_field(GrowthMeasurement, "weight_kg")
    height_cm = model_field(GrowthMeasurement, "height_cm")
    bsa_formula = forms.ChoiceField(
        label=_("BSA formula"),
        choices=[(code, BSA_FORMULA_LABELS[code]) for code in BSA_FORMULAS],
        initial="mosteller",
    )


class PatientFilterForm(forms.Form):
    q = forms.CharField(label=_("Registry code"), required=False, max_length=20)
    diagnosis = forms.ChoiceField(label=_("Diagnosis"), required=False)
    status = forms.ChoiceField(label=_("Status"), required=False)

    def __init__(self, *args: Any, status_choices: list[tuple[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["diagnosis"].choices = [
            ("", _("All diagnoses")),
            *Patient._meta.get_field("diagnosis").choices,
        ]
        self.fields["status"].choices = [("", _("All statuses")), *status_choices]
