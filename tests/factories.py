"""Helpers that build a patient's path to day 0 through the real services (audited, validated)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from dosing import services as dosing_services
from dosing.models import Product
from patients import services as patient_services


def make_product(**overrides) -> Product:
    fields = {
        "name": "zorpocabtagene autoleucel (MB-CART19.1)",
        "code": "mb-cart19-1",
        "costimulatory_domain": "4-1BB",
        "vector": "lentiviral",
        "target_cells_per_kg": 1e6,
        "min_cells_per_kg": 0.8e6,
        "max_cells_per_kg": 1.2e6,
    }
    fields.update(overrides)
    product, _ = Product.objects.get_or_create(code=fields["code"], defaults=fields)
    return product


@dataclass
class Path:
    patient: object
    growth: object
    apheresis: object
    run: object
    bags: list


def enrol(centre, user, *, dob=dt.date(2014, 3, 1), diagnosis="sle", sex="female", **fields):
    return patient_services.patient_enrol(
        centre=centre,
        sex=sex,
        diagnosis=diagnosis,
        recorded_by=user,
        identity={
            "given_name": "Anna",
            "family_name": "Testa",
            "date_of_birth": dob,
            "hospital_number": "H-123",
        },
        diagnosis_date=fields.pop("diagnosis_date", dt.date(2021, 5, 1)),
        **fields,
    )


def path_to_infusion(
    patient, user, *, today=None, weight="30.00", height="140.0", bag_cells=(4e7, 4e7)
) -> Path:
    """Growth, apheresis, a manufacturing run with bags; ready for lymphodepletion and infusion."""
    today = today or dt.date.today()
    growth = patient_services.growth_record(
        patient=patient,
        measured_on=today - dt.timedelta(days=40),
        weight_kg=Decimal(weight),
        height_cm=Decimal(height),
        recorded_by=user,
    )
    apheresis = dosing_services.apheresis_record(
        patient=patient, performed_on=today - dt.timedelta(days=35), recorded_by=user, cd3_cells_collected=2e9
    )
    run = dosing_services.manufacturing_run_record(
        apheresis=apheresis,
        product=make_product(),
        started_on=today - dt.timedelta(days=34),
        finished_on=today - dt.timedelta(days=22),
        product_state="fresh",
        recorded_by=user,
        transduction_efficiency_pct=Decimal("35"),
        viability_pct=Decimal("92"),
    )
    bags = [
        dosing_services.product_bag_record(
            run=run, identifier=f"BAG-{i + 1}", car_t_cells=cells, volume_ml=Decimal("20"), recorded_by=user
        )
        for i, cells in enumerate(bag_cells)
    ]
    return Path(patient, growth, apheresis, run, bags)
