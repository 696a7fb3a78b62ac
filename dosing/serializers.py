"""De-identified output of manufacturing and infusion: doses, product, bags, vein-to-vein time, study days."""

from __future__ import annotations

from rest_framework import serializers

from dosing.models import DoseWindow, ProductState, RunOutcome
from registry.api.fields import (
    PATIENT_DESCRIPTION,
    ROW_ID_DESCRIPTION,
    boolean,
    code,
    integer,
    not_removed,
    number,
    study_day_field,
    text,
)


class InfusionSerializer(serializers.Serializer):
    id = text(ROW_ID_DESCRIPTION)
    removed = not_removed()
    patient = text(PATIENT_DESCRIPTION)
    study_day = study_day_field("Day of this infusion (0 for the first).", nullable=False)
    is_reinfusion = boolean("A further infusion after day 0 (flagged in every output)")
    product = text("Code of the CAR T product, e.g. mb-cart19-1")
    product_name = text("Name of the CAR T product")
    target_antigen = text("Antigen targeted by the CAR, e.g. CD19")
    costimulatory_domain = text("Costimulatory domain of the CAR, e.g. 4-1BB (empty if not recorded)")
    product_state = code("Fresh or cryopreserved product", ProductState.choices)
    manufacturing_outcome = code("Outcome of the manufacturing run", RunOutcome.choices)
    apheresis_study_day = study_day_field("Day of the apheresis that the product was made from.")
    cd3_cells_collected = number(
        "CD3+ cells collected at apheresis (null if not recorded)", unit="cells", nullable=True
    )
    manufacturing_start_study_day = study_day_field("First day of manufacturing.")
    manufacturing_days = integer("Duration of manufacturing (end minus start)", unit="days")
    vein_to_vein_days = integer("Days from apheresis to this infusion", unit="days")
    transduction_efficiency_pct = number(
        "Transduction efficiency (null if not recorded)", unit="%", nullable=True
    )
    viability_pct = number("Viability of the product (null if not recorded)", unit="%", nullable=True)
    cd4_cd8_ratio = number("CD4:CD8 ratio of the product (null if not recorded)", unit="ratio", nullable=True)
    vector_copy_number = number(
        "Vector copy number (null if not recorded)", unit="copies/cell", nullable=True
    )
    total_viable_car_t_cells = number(
        "Total viable CAR+ T cells manufactured (null if not recorded)", unit="cells", nullable=True
    )
    bag_count = integer("Number of product bags infused", unit="bags")
    weight_kg = number("Weight used for the dose", unit="kg")
    target_cells_per_kg = number("Target dose", unit="CAR+ T cells/kg")
    car_t_cells_infused = number("CAR+ T cells infused", unit="cells")
    dose_per_kg = number("Dose infused per kg of body weight", unit="CAR+ T cells/kg")
    percent_of_target = number("Dose infused as a percentage of the target dose", unit="%")
    dose_window = code("Dose relative to the product's acceptable window", DoseWindow.choices)
    volume_infused_ml = number("Volume infused", unit="mL")
    lymphodepletion_start_study_day = study_day_field(
        "First day of lymphodepletion before this infusion (day-0 infusion only; null otherwise)."
    )
    fludarabine_mg_per_m2_total = number(
        "Total fludarabine of the lymphodepletion (day-0 infusion only; null if none)",
        unit="mg/m²",
        nullable=True,
    )
    cyclophosphamide_mg_per_m2_total = number(
        "Total cyclophosphamide of the lymphodepletion (day-0 infusion only; null if none)",
        unit="mg/m²",
        nullable=True,
    )
    bendamustine_mg_per_m2_total = number(
        "Total bendamustine of the lymphodepletion (day-0 infusion only; null if none)",
        unit="mg/m²",
        nullable=True,
    )
