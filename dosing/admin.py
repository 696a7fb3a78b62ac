"""Staff maintain the CAR T products (target dose and window); clinical rows are read-only here.

Clinical records are written only through :mod:`dosing.services` (validation, derived doses, audit); the
admin shows them for support but cannot add, change or delete them.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
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
from registry.admin import AuditedAdmin, ReasonForm


class ProductForm(ReasonForm):
    class Meta:
        model = Product
        fields = "__all__"

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for field in (
            "target_cells_per_kg",
            "min_cells_per_kg",
            "max_cells_per_kg",
            "min_cells_total",
            "max_cells_total",
            "weight_cutoff_kg",
        ):
            value = cleaned.get(field)
            if value is not None and value <= 0:
                self.add_error(field, _("Must be greater than 0."))
        for low, high in (("min_cells_per_kg", "max_cells_per_kg"), ("min_cells_total", "max_cells_total")):
            if (
                cleaned.get(low) is not None
                and cleaned.get(high) is not None
                and cleaned[low] > cleaned[high]
            ):
                self.add_error(high, _("The window maximum is below its minimum."))
        has_per_kg = (
            cleaned.get("min_cells_per_kg") is not None or cleaned.get("max_cells_per_kg") is not None
        )
        has_total = cleaned.get("min_cells_total") is not None or cleaned.get("max_cells_total") is not None
        if has_per_kg and has_total and cleaned.get("weight_cutoff_kg") is None:
            self.add_error(
                "weight_cutoff_kg",
                _(
                    "With both a per-kg and a total window, give the weight cut-off that chooses "
                    "between them."
                ),
            )
        return cleaned


@admin.register(Product)
class ProductAdmin(AuditedAdmin):
    form = ProductForm
    list_display = (
        "name",
        "code",
        "target_antigen",
        "target_cells_per_kg",
        "min_cells_per_kg",
        "max_cells_per_kg",
    )
    search_fields = ("name", "code")
    prepopulated_fields = {"code": ("name",)}

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False  # runs refer to products; retire a product by leaving it unused


class ReadOnlyClinicalAdmin(admin.ModelAdmin):
    """Clinical rows for support staff to look at; every write goes through the services."""

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Apheresis)
class ApheresisAdmin(ReadOnlyClinicalAdmin):
    list_display = ("patient", "performed_on", "cd3_cells_collected", "voided_at")
    list_select_related = ("patient",)


@admin.register(Admission)
class AdmissionAdmin(ReadOnlyClinicalAdmin):
    list_display = ("patient", "admitted_on", "discharged_on", "ward", "reason", "voided_at")
    list_select_related = ("patient",)


@admin.register(ManufacturingRun)
class ManufacturingRunAdmin(ReadOnlyClinicalAdmin):
    list_display = ("patient", "product", "started_on", "finished_on", "outcome", "voided_at")
    list_select_related = ("patient", "product")


@admin.register(ProductBag)
class ProductBagAdmin(ReadOnlyClinicalAdmin):
    list_display = ("identifier", "run", "car_t_cells", "volume_ml", "voided_at")
    list_select_related = ("run",)


@admin.register(ReleaseTest)
class ReleaseTestAdmin(ReadOnlyClinicalAdmin):
    list_display = ("run", "kind", "passed", "voided_at")
    list_select_related = ("run",)


@admin.register(LymphodepletionDose)
class LymphodepletionDoseAdmin(ReadOnlyClinicalAdmin):
    list_display = ("patient", "agent", "given_on", "planned_mg", "given_mg", "deviation_pct", "voided_at")
    list_select_related = ("patient",)


@admin.register(Infusion)
class InfusionAdmin(ReadOnlyClinicalAdmin):
    list_display = ("patient", "infused_on", "is_reinfusion", "dose_per_kg", "dose_window", "voided_at")
    list_select_related = ("patient",)
