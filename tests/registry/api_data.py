"""Seed data for the API tests, built through the real services, with identity values and free text that must
never leave through the API (names, dates of birth, hospital numbers, registry codes, notes)."""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo
from dataclasses import dataclass, field
from decimal import Decimal

from adverse_events import services as ae_services
from dosing import services as dosing_services
from outcomes import services as outcome_services
from outcomes.models import ScheduleTimepoint
from outcomes.services import LabInput
from patients import services as patient_services
from registry.api_clients import api_client_create
from tests.factories import path_to_infusion

TODAY = dt.date.today()
DAY0 = TODAY - dt.timedelta(days=120)
_counter = itertools.count(1)


@dataclass
class Seeded:
    patient: object
    secrets: list[str] = field(default_factory=list)


def _at(day: int, tz: str, hour: int = 9) -> dt.datetime:
    return dt.datetime.combine(DAY0 + dt.timedelta(days=day), dt.time(hour), tzinfo=zoneinfo.ZoneInfo(tz))


def seed_patient(centre, user, *, diagnosis: str = "sle", infused: bool = True, full: bool = True) -> Seeded:
    """A patient with identity and (when ``infused``) day 0 plus one row in every study-day resource."""
    n = next(_counter)
    given, family = f"Ottavia{n}x", f"Quintiliani{n}z"
    hospital = f"HOSP-{700000 + n}"
    dob = dt.date(2011, 3, 1) + dt.timedelta(days=n)
    contact = f"Madre Lucrezia{n} tel 06-555-{1000 + n}"
    patient = patient_services.patient_enrol(
        centre=centre,
        sex="female" if n % 2 else "male",
        diagnosis=diagnosis,
        recorded_by=user,
        identity={
            "given_name": given,
            "family_name": family,
            "date_of_birth": dob,
            "hospital_number": hospital,
            "contact": contact,
        },
        diagnosis_date=dt.date(2021, 5, 1),
        approval_reference=f"AIFA-SECRET-{n}",
    )
    secrets = [
        given,
        family,
        hospital,
        contact,
        dob.isoformat(),
        dob.strftime("%d/%m/%Y"),
        patient.code,
        f"AIFA-SECRET-{n}",
    ]
    seeded = Seeded(patient, secrets)
    patient_services.organ_involvement_record(
        patient=patient,
        organ="lupus_nephritis" if diagnosis == "sle" else "skin",
        nephritis_class="IV" if diagnosis == "sle" else "",
        detail=f"biopsy note Serafina{n}",
        recorded_by=user,
    )
    seeded.secrets.append(f"biopsy note Serafina{n}")
    patient_services.prior_therapy_record(
        patient=patient, drug="rituximab", therapy_class="b_cell_targeted", recorded_by=user
    )
    if not infused:
        return seeded
    path = path_to_infusion(patient, user, today=DAY0 + dt.timedelta(days=1))
    dosing_services.lymphodepletion_dose_record(
        patient=patient,
        agent="fludarabine",
        given_on=DAY0 - dt.timedelta(days=5),
        mg_per_m2=Decimal("25"),
        given_mg=Decimal("27.5"),
        recorded_by=user,
    )
    dosing_services.infusion_record(
        patient=patient,
        run=path.run,
        infused_on=DAY0,
        growth=path.growth,
        car_t_cells_infused=3e7,
        volume_infused_ml=Decimal("15"),
        bags=[path.bags[0]],
        premedication=f"paracetamol per Dr Benvenuto{n}",
        recorded_by=user,
    )
    seeded.secrets.append(f"Dr Benvenuto{n}")
    patient.refresh_from_db()
    if not full:
        return seeded
    tz = centre.time_zone
    ae_services.crs_assessment_record(
        patient=patient, assessed_at=_at(1, tz), recorded_by=user, max_temperature_c=Decimal("38.6")
    )
    ae_services.crs_assessment_record(
        patient=patient, assessed_at=_at(3, tz), recorded_by=user, max_temperature_c=Decimal("36.8")
    )
    ae_services.icans_assessment_record(
        patient=patient,
        assessed_at=_at(2, tz),
        recorded_by=user,
        ice_items={"orientation": 4, "naming": 3, "following_commands": 1, "writing": 1, "attention": 0},
        findings_other_cause=f"sedation by Nurse Gualtiero{n}",
    )
    seeded.secrets.append(f"Nurse Gualtiero{n}")
    outcome_services.lab_results_record_many(
        patient=patient,
        items=[
            LabInput("anc", value, "cells/µL", _at(day, tz, 7))
            for day, value in ((-6, 2500), (1, 300), (3, 250), (6, 800), (7, 900), (8, 1200), (40, 1800))
        ]
        + [LabInput("cd19", 0, "cells/µL", _at(14, tz, 7)), LabInput("igg", 6.2, "g/L", _at(28, tz, 7))],
        recorded_by=user,
    )
    timepoint = ScheduleTimepoint.objects.get(protocol="default", code="m3")
    instrument = (
        {"descriptors": ["low_complement"], "physician_global": Decimal("0.3")}
        if diagnosis == "sle"
        else None
    )
    outcome_services.visit_record(
        patient=patient,
        timepoint=timepoint,
        visit_date=DAY0 + dt.timedelta(days=92),
        recorded_by=user,
        assessed_by=f"Dr Ermenegilda{n}",
        notes=f"visit note Pancrazio{n}",
        instrument=instrument,
    )
    seeded.secrets += [f"Dr Ermenegilda{n}", f"visit note Pancrazio{n}"]
    outcome_services.medication_record(
        patient=patient,
        drug="Prednisone",
        medication_class="glucocorticoid",
        dose="10",
        dose_unit="mg",
        frequency="daily",
        started_on=DAY0 - dt.timedelta(days=200),
        stopped_on=DAY0 + dt.timedelta(days=30),
        stop_reason="taper_completed",
        recorded_by=user,
    )
    ae_services.infection_record(
        patient=patient,
        onset_on=DAY0 + dt.timedelta(days=20),
        grade=2,
        site=f"ear of Fulgenzio{n}",
        organism_type="viral",
        organism=f"virus from Crispino{n}",
        treatment_route="oral",
        outcome="resolved",
        resolved_on=DAY0 + dt.timedelta(days=27),
        recorded_by=user,
    )
    seeded.secrets += [f"ear of Fulgenzio{n}", f"virus from Crispino{n}"]
    ae_services.adverse_event_record(
        patient=patient,
        term="Rash maculo-papular",
        grade=1,
        attribution="car_t",
        started_on=DAY0 + dt.timedelta(days=10),
        outcome="resolved",
        ended_on=DAY0 + dt.timedelta(days=15),
        action_taken=f"called Mamma Eustachia{n}",
        recorded_by=user,
    )
    seeded.secrets.append(f"Mamma Eustachia{n}")
    return seeded


def token_for(user, *, name: str, centres=(), all_centres: bool = False, **kwargs) -> tuple[object, str]:
    issued = api_client_create(
        name=name,
        purpose="pooled analysis",
        created_by=user,
        centres=list(centres),
        all_centres=all_centres,
        **kwargs,
    )
    return issued.client, issued.token


LIST_ENDPOINTS = [
    "patients",
    "infusions",
    "crs-assessments",
    "icans-assessments",
    "toxicity-summaries",
    "infections",
    "adverse-events",
    "visits",
    "labs",
    "medications",
    "courses",
]
