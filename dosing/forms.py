"""Browser forms from apheresis to day 0. Every save is a call to :mod:`dosing.services`.

Choice fields are limited to the patient's own valid rows (the view passes the querysets from
:mod:`dosing.selectors`), so a crafted POST cannot attach another patient's run, bag or measurement.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from dosing.models import (
    Admission,
    Apheresis,
    Infusion,
    LymphodepletionDose,
    ManufacturingRun,
    Product,
    ProductBag,
    ReleaseTest,
)
from patients.forms import DateField, RecordForm, model_field
from patients.models import GrowthMeasurement
from patients.templatetags.registry_format import sci


class LabelledChoiceField(forms.ModelChoiceField):
    """A model choice whose option text comes from ``label`` (runs and measurements have no __str__)."""

    def __init__(self, *args: Any, label_fn: Callable[[Any], str], **kwargs: Any) -> None:
        self.label_fn = label_fn
        super().__init__(*args, **kwargs)

    def label_from_instance(self, obj: Any) -> str:
        return self.label_fn(obj)


def growth_label(growth: Any) -> str:
    return gettext("%(date)s: %(w)s kg, %(h)s cm, BSA %(bsa)s m² (%(formula)s)") % {
        "date": growth.measured_on.isoformat(),
        "w": growth.weight_kg,
        "h": growth.height_cm,
        "bsa": growth.bsa_m2,
        "formula": growth.bsa_formula,
    }


def apheresis_label(apheresis: Any) -> str:
    if apheresis.cd3_cells_collected:
        return gettext("%(date)s (CD3+ %(cells)s)") % {
            "date": apheresis.performed_on.isoformat(),
            "cells": sci(apheresis.cd3_cells_collected),
        }
    return apheresis.performed_on.isoformat()


def run_label(run: Any) -> str:
    return gettext("%(product)s, %(start)s → %(end)s (%(outcome)s)") % {
        "product": run.product.name,
        "start": run.started_on.isoformat(),
        "end": run.finished_on.isoformat(),
        "outcome": run.get_outcome_display(),
    }


def bag_label(bag: Any) -> str:
    text = gettext("%(id)s: %(cells)s CAR+ T cells in %(ml)s mL (%(conc)s cells/mL)") % {
        "id": bag.identifier,
        "cells": sci(bag.car_t_cells),
        "ml": bag.volume_ml,
        "conc": sci(bag.cells_per_ml),
    }
    if getattr(bag, "infusion_bag", None) is not None:
        text += " — " + gettext("already infused")
    return text


class BagCheckboxes(forms.CheckboxSelectMultiple):
    """Checkboxes for bags; bags already infused are shown but cannot be ticked."""

    def create_option(self, name: str, value: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(name, value, *args, **kwargs)
        bag = getattr(value, "instance", None)
        if bag is not None and getattr(bag, "infusion_bag", None) is not None:
            option["attrs"]["disabled"] = True
        return option


class BagChoiceField(forms.ModelMultipleChoiceField):
    widget = BagCheckboxes

    def label_from_instance(self, obj: Any) -> str:
        return bag_label(obj)


# --- apheresis and admissions -----------------------------------------------------------------------------


class ApheresisForm(RecordForm):
    performed_on = model_field(Apheresis, "performed_on")
    cd3_cells_collected = model_field(Apheresis, "cd3_cells_collected")
    volume_processed_ml = model_field(Apheresis, "volume_processed_ml")
    complications = model_field(Apheresis, "complications")


class AdmissionForm(RecordForm):
    admitted_on = model_field(Admission, "admitted_on")
    discharged_on = model_field(Admission, "discharged_on")
    ward = model_field(Admission, "ward")
    reason = model_field(Admission, "reason")


class DischargeForm(RecordForm):
    discharged_on = DateField(label=_("Discharged"))


# --- manufacturing ----------------------------------------------------------------------------------------


class ManufacturingRunForm(RecordForm):
    apheresis = LabelledChoiceField(
        queryset=Apheresis.objects.none(), label=_("Apheresis"), label_fn=apheresis_label
    )
    product = forms.ModelChoiceField(queryset=Product.objects.all(), label=_("Product"))
    platform = model_field(ManufacturingRun, "platform")
    site = model_field(ManufacturingRun, "site")
    started_on = model_field(ManufacturingRun, "started_on")
    finished_on = model_field(ManufacturingRun, "finished_on")
    product_state = model_field(ManufacturingRun, "product_state")
    transduction_efficiency_pct = model_field(ManufacturingRun, "transduction_efficiency_pct")
    viability_pct = model_field(ManufacturingRun, "viability_pct")
    cd4_cd8_ratio = model_field(ManufacturingRun, "cd4_cd8_ratio")
    vector_copy_number = model_field(ManufacturingRun, "vector_copy_number")
    total_viable_car_t_cells = model_field(
        ManufacturingRun, "total_viable_car_t_cells", help_text=_("absolute number, e.g. 2.4e8")
    )
    outcome = model_field(ManufacturingRun, "outcome")

    fieldsets = [
        (_("Source and product"), ["apheresis", "product", "platform", "site", "product_state"]),
        (_("Dates"), ["started_on", "finished_on"]),
        (
            _("Quality"),
            [
                "transduction_efficiency_pct",
                "viability_pct",
                "cd4_cd8_ratio",
                "vector_copy_number",
                "total_viable_car_t_cells",
                "outcome",
            ],
        ),
    ]

    SERVICE_FIELDS = (
        "platform",
        "site",
        "transduction_efficiency_pct",
        "viability_pct",
        "cd4_cd8_ratio",
        "vector_copy_number",
        "total_viable_car_t_cells",
        "outcome",
    )

    def __init__(self, *args: Any, aphereses: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["apheresis"].queryset = aphereses
        if not self.is_bound:
            first = aphereses.first()
            if first is not None:
                self.fields["apheresis"].initial = first.pk
            products = list(Product.objects.all()[:2])
            if len(products) == 1:
                self.fields["product"].initial = products[0].pk


class ProductBagForm(RecordForm):
    identifier = model_field(ProductBag, "identifier")
    car_t_cells = model_field(ProductBag, "car_t_cells", help_text=_("absolute number, e.g. 2.0e7"))
    volume_ml = model_field(ProductBag, "volume_ml")


class ReleaseTestForm(RecordForm):
    kind = model_field(ReleaseTest, "kind")
    spec_min = model_field(ReleaseTest, "spec_min")
    spec_max = model_field(ReleaseTest, "spec_max")
    spec_expected = model_field(ReleaseTest, "spec_expected")
    result_value = model_field(ReleaseTest, "result_value")
    result_text = model_field(ReleaseTest, "result_text")

    fieldsets = [
        (None, ["kind"]),
        (_("Specification"), ["spec_min", "spec_max", "spec_expected"]),
        (_("Result"), ["result_value", "result_text"]),
    ]


# --- lymphodepletion and infusion -------------------------------------------------------------------------


class LymphodepletionForm(RecordForm):
    agent = model_field(LymphodepletionDose, "agent")
    given_on = model_field(LymphodepletionDose, "given_on")
    mg_per_m2 = model_field(LymphodepletionDose, "mg_per_m2")
    given_mg = model_field(LymphodepletionDose, "given_mg")
    growth = LabelledChoiceField(
        queryset=GrowthMeasurement.objects.none(),
        label=_("Weight and height used for the BSA"),
        required=False,
        empty_label=_("The latest measurement on or before the dose"),
        label_fn=growth_label,
    )

    def __init__(self, *args: Any, growths: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["growth"].queryset = growths


class InfusionForm(RecordForm):
    run = LabelledChoiceField(
        queryset=ManufacturingRun.objects.none(), label=_("Manufacturing run"), label_fn=run_label
    )
    infused_on = model_field(Infusion, "infused_on")
    growth = LabelledChoiceField(
        queryset=GrowthMeasurement.objects.none(), label=_("Weight used for the dose"), label_fn=growth_label
    )
    target_cells_per_kg = model_field(
        Infusion,
        "target_cells_per_kg",
        required=False,
        help_text=_("Leave empty to use the product's target dose."),
    )
    bags = BagChoiceField(queryset=ProductBag.objects.none(), label=_("Bag(s) infused"), required=True)
    car_t_cells_infused = model_field(Infusion, "car_t_cells_infused", help_text=_("e.g. 3.2e7"))
    volume_infused_ml = model_field(Infusion, "volume_infused_ml")
    premedication = model_field(Infusion, "premedication")
    out_of_window_justification = model_field(Infusion, "out_of_window_justification")
    is_reinfusion = model_field(Infusion, "is_reinfusion")

    fieldsets = [
        (_("Plan"), ["run", "infused_on", "growth", "target_cells_per_kg"]),
        (_("Given"), ["bags", "car_t_cells_infused", "volume_infused_ml", "premedication"]),
        (_("Exceptions"), ["out_of_window_justification", "is_reinfusion"]),
    ]

    def __init__(self, *args: Any, runs: Any, growths: Any, bags: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["run"].queryset = runs
        self.fields["growth"].queryset = growths
        self.fields["bags"].queryset = bags
        if not self.is_bound:
            for name, queryset in (("run", runs), ("growth", growths)):
                first = queryset.first()
                if first is not None:
                    self.fields[name].initial = first.pk
