"""Forms of the case-series page: the filters (GET) and the download request (POST).

Access is not decided here: a mode or centre the user may not export is the views' 404 (same answer as a
missing case series), checked before the form's own errors.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from dosing.models import Product
from patients.models import Diagnosis
from registry.exports import builder, modes
from registry.exports.definitions import TABLE_TITLES, TABLES
from registry.exports.selectors import ExportFilters
from registry.models import Centre, ExportMode


class FilterForm(forms.Form):
    centre = forms.ChoiceField(label=_("Centre"), required=False)
    diagnosis = forms.ChoiceField(
        label=_("Diagnosis"), required=False, choices=[("", _("All diagnoses")), *Diagnosis.choices]
    )
    product = forms.ChoiceField(label=_("Product"), required=False)
    infused_from = forms.DateField(
        label=_("Infused from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    infused_to = forms.DateField(
        label=_("Infused to"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    spread = forms.ChoiceField(
        label=_("Spread"),
        required=False,
        initial="range",
        choices=[("range", _("median (range)")), ("iqr", _("median (IQR)"))],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Every centre is a valid choice: a centre the user may not export is a 404 in the view, not a form
        # error, so "not yours" and "does not exist" look the same.
        self.fields["centre"].choices = [("", _("All my centres"))] + [
            (c.code, f"{c.name} ({c.code})") for c in Centre.objects.order_by("code")
        ]
        self.fields["product"].choices = [("", _("All products"))] + [
            (p.code, p.name) for p in Product.objects.order_by("name")
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("infused_from"), data.get("infused_to")
        if start and end and end < start:
            self.add_error("infused_to", _("The end of the infusion period is before its start."))
        return data

    def export_filters(self) -> ExportFilters:
        data = self.cleaned_data
        return ExportFilters(
            centre=data.get("centre") or "",
            diagnosis=data.get("diagnosis") or "",
            product=data.get("product") or "",
            infused_from=data.get("infused_from"),
            infused_to=data.get("infused_to"),
        )

    def export_spread(self) -> str:
        return self.cleaned_data.get("spread") or "range"


class DownloadForm(FilterForm):
    mode = forms.ChoiceField(label=_("Mode"), choices=ExportMode.choices, initial=ExportMode.INTERNAL)
    recipient = forms.CharField(
        label=_("Recipient (external)"),
        required=False,
        max_length=200,
        help_text=_("Pseudonyms are keyed to the recipient: the same recipient always gets the same ones."),
    )
    threshold = forms.IntegerField(
        label=_("Suppress counts below (external)"),
        required=False,
        min_value=modes.MIN_THRESHOLD,
        max_value=modes.MAX_THRESHOLD,
    )
    purpose = forms.CharField(
        label=_("Purpose (identified)"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    fmt = forms.ChoiceField(
        label=_("Format"),
        choices=[
            ("xlsx", _("XLSX workbook")),
            ("csv", _("CSV")),
            ("html", _("HTML document with figures")),
            ("tidy", _("Tidy datasets (CSV, long format)")),
        ],
    )
    table = forms.ChoiceField(
        label=_("Tables"),
        choices=[("all", _("All tables")), *((t, TABLE_TITLES[t]) for t in TABLES)],
        initial="all",
    )
    part = forms.ChoiceField(
        label=_("Part"),
        required=False,
        choices=[
            ("", _("Summary and per-patient")),
            ("summary", _("Summary")),
            ("patients", _("Per patient")),
        ],
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("fmt") == "tidy" and data.get("part"):
            self.add_error("part", _("Tidy datasets are not split into summary and per-patient parts."))
        if data.get("fmt") not in builder.FORMATS:
            self.add_error("fmt", _("Unknown format."))
        return data

    def export_tables(self) -> tuple[str, ...]:
        table = self.cleaned_data.get("table") or "all"
        return TABLES if table == "all" else (table,)
