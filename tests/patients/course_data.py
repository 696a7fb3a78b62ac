"""A demo-like child for the workflow tests, built through the real services (audited, validated): SLE,
infused 70 days ago (like the demo's ROM-006: month 2 overdue, month 3 due), with lymphodepletion, a grade-1
CRS episode on days 1–2, CAR T/CD19/ANC counts, prednisone stopped before CAR T and SLEDAI-2K visits at
screening and day 28."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from adverse_events import services as tox_services
from dosing import services as dosing_services
from outcomes import services as follow_services
from outcomes.models import ScheduleTimepoint
from outcomes.services import LabInput
from tests.factories import enrol, path_to_infusion

DAYS_SINCE_INFUSION = 70

CAR_T = {0: 0, 3: 0.7, 7: 15.3, 10: 24.7, 14: 12.4, 21: 3.7, 28: 1.5}
CD19 = {-5: 70, 0: 60, 3: 8, 7: 0, 14: 0, 28: 0}
ANC = {-5: 2900, 0: 1400, 3: 420, 5: 180, 7: 90, 9: 320, 12: 900, 16: 1600, 21: 2100, 28: 2300}


def tp(code: str) -> ScheduleTimepoint:
    return ScheduleTimepoint.objects.get(protocol="default", code=code)


def demo_like_sle(centre, user, *, days_since_infusion: int = DAYS_SINCE_INFUSION, labs: bool = True):
    """The patient (refreshed, with day 0) and its day 0."""
    today = timezone.localdate()
    day0 = today - dt.timedelta(days=days_since_infusion)

    def day(n: int) -> dt.date:
        return day0 + dt.timedelta(days=n)

    def at(n: int, hour: int = 9) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(day(n), dt.time(hour, 0)))

    patient = enrol(centre, user, diagnosis="sle", dob=today - dt.timedelta(days=14 * 365 + 40))
    path = path_to_infusion(patient, user, today=day(1))
    for n in (-5, -4, -3):  # fludarabine 25 mg/m² × BSA 1.08 m² (30 kg, 140 cm)
        dosing_services.lymphodepletion_dose_record(
            patient=patient, agent="fludarabine", given_on=day(n), mg_per_m2=25, given_mg=27, recorded_by=user
        )
    dosing_services.infusion_record(
        patient=patient,
        run=path.run,
        infused_on=day0,
        growth=path.growth,
        car_t_cells_infused=3e7,
        volume_infused_ml=Decimal("15"),
        bags=[path.bags[0]],
        recorded_by=user,
    )
    patient.refresh_from_db()
    follow_services.medication_record(
        patient=patient,
        drug="prednisone",
        medication_class="glucocorticoid",
        dose="15",
        dose_unit="mg",
        frequency="daily",
        started_on=day(-400),
        stopped_on=day(-20),
        stop_reason="car_t",
        recorded_by=user,
    )
    if labs:
        items = [LabInput("car_t", str(v), "cells/µL", at(n)) for n, v in CAR_T.items()]
        items += [LabInput("cd19", str(v), "cells/µL", at(n, 8)) for n, v in CD19.items()]
        items += [LabInput("anc", str(v), "cells/µL", at(n, 7)) for n, v in ANC.items()]
        follow_services.lab_results_record_many(patient=patient, items=items, recorded_by=user)
    for n, temperature in ((1, "38.6"), (2, "38.3"), (3, "36.9")):
        tox_services.crs_assessment_record(
            patient=patient, assessed_at=at(n, 20), max_temperature_c=Decimal(temperature), recorded_by=user
        )
    follow_services.visit_record(
        patient=patient,
        timepoint=tp("screening"),
        visit_date=day(-30),
        recorded_by=user,
        instrument={
            "descriptors": ["arthritis", "rash", "low_complement", "increased_dna_binding", "proteinuria"],
            "physician_global": Decimal("2.0"),
        },
    )
    follow_services.visit_record(
        patient=patient,
        timepoint=tp("d28"),
        visit_date=day(28),
        recorded_by=user,
        instrument={
            "descriptors": ["rash", "low_complement", "increased_dna_binding"],
            "physician_global": Decimal("1.0"),
        },
    )
    return patient
