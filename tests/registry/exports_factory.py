"""A small registry for the export tests, built through the real services (validated, audited).

``small_registry`` makes, in one case series:

* ROM-001 — SLE girl born 2010-01-15, Flu/Cy, infused on DAY0 (30 kg, 1 × 10⁶/kg), CRS grade 1 on days 1–2,
  lupus nephritis and arthritis, one B-cell-targeted prior line, SLEDAI-2K 6 at screening and 0 at month 3,
  an immunomodulator stopped before apheresis, a grade-2 infection;
* ROM-002 — JDM boy born 2012-06-01, infused on DAY0, no CRS;
* ERL-001 — SLE girl born 2009-03-10 at Erlangen, infused on DAY0, CRS grade 2 (fever with hypotension) on
  day 2, a voided grade-4 CRS assessment on day 3;
* ROM-003 — SLE girl, enrolled, not infused yet (no day 0);
* ROM-004 — voided (entered in error): never exported.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal

from adverse_events import services as toxicity
from dosing import services as dosing
from outcomes import services as outcomes
from outcomes.models import ScheduleTimepoint
from patients import services as patients
from registry.models import CaseSeries
from tests.factories import enrol, path_to_infusion

TODAY = dt.date.today()
DAY0 = TODAY - dt.timedelta(days=120)
SERIES_NAME = "Test series"


@dataclass
class Registry:
    series: CaseSeries
    rom_sle: object
    rom_jdm: object
    erl_sle: object
    rom_not_infused: object
    rom_voided: object


def _at(patient, day: int, hour: int = 18) -> dt.datetime:
    tz = zoneinfo.ZoneInfo(patient.centre.time_zone)
    return dt.datetime.combine(DAY0 + dt.timedelta(days=day), dt.time(hour), tzinfo=tz)


def infused(centre, user, *, diagnosis="sle", sex="female", dob=dt.date(2010, 1, 15), weight="30.00"):
    """A patient from enrolment to day 0 (DAY0) with Flu/Cy and 1 × 10⁶ CAR T cells/kg."""
    patient = enrol(centre, user, diagnosis=diagnosis, sex=sex, dob=dob)
    cells = float(Decimal(weight)) * 1e6
    path = path_to_infusion(
        patient, user, today=DAY0 + dt.timedelta(days=1), weight=weight, bag_cells=(cells * 1.3, cells * 1.1)
    )
    for agent, day, mg_m2 in (
        ("fludarabine", -5, "30"),
        ("fludarabine", -4, "30"),
        ("fludarabine", -3, "30"),
        ("cyclophosphamide", -3, "500"),
    ):
        on = DAY0 + dt.timedelta(days=day)
        plan = dosing.lymphodepletion_preview(patient=patient, given_on=on, mg_per_m2=Decimal(mg_m2))
        dosing.lymphodepletion_dose_record(
            patient=patient,
            agent=agent,
            given_on=on,
            mg_per_m2=Decimal(mg_m2),
            given_mg=plan.planned_mg,
            growth=path.growth,
            recorded_by=user,
        )
    dosing.infusion_record(
        patient=patient,
        run=path.run,
        infused_on=DAY0,
        growth=path.growth,
        car_t_cells_infused=cells,
        volume_infused_ml=Decimal("10"),
        bags=[path.bags[0]],
        recorded_by=user,
    )
    patient.refresh_from_db()
    return patient


def crs(patient, user, day: int, temperature: str, *, hypotension: bool = False):
    return toxicity.crs_assessment_record(
        patient=patient,
        assessed_at=_at(patient, day),
        max_temperature_c=Decimal(temperature),
        hypotension=hypotension,
        oxygen_device="none",
        recorded_by=user,
    )


def lab(patient, user, analyte: str, value: str, day: int, unit: str = "cells/µL"):
    return outcomes.lab_result_record(
        patient=patient,
        item=outcomes.LabInput(analyte, value, unit, _at(patient, day, 8)),
        recorded_by=user,
    )


def timepoint(code: str) -> ScheduleTimepoint:
    return ScheduleTimepoint.objects.get(protocol="default", code=code)


def add_patients(centre, user, n: int) -> list:
    """``n`` more infused SLE patients with a CRS course, a visit and labs (for query-count tests)."""
    made = []
    for _ in range(n):
        p = infused(centre, user)
        crs(p, user, 1, "38.4")
        crs(p, user, 2, "37.0")
        lab(p, user, "anc", "400", 3)
        lab(p, user, "cd19", "0", 7)
        outcomes.visit_record(
            patient=p,
            timepoint=timepoint("m3"),
            visit_date=DAY0 + dt.timedelta(days=91),
            recorded_by=user,
            instrument={"descriptors": [], "physician_global": Decimal("0")},
        )
        made.append(p)
    return made


def small_registry(rome, erlangen, rome_clinician, erlangen_clinician, staff_user) -> Registry:
    rom_sle = infused(rome, rome_clinician)
    patients.organ_involvement_record(
        patient=rom_sle, organ="lupus_nephritis", nephritis_class="IV", recorded_by=rome_clinician
    )
    patients.organ_involvement_record(
        patient=rom_sle, organ="arthritis", detail="knees, Anna's favourite", recorded_by=rome_clinician
    )
    patients.prior_therapy_record(
        patient=rom_sle,
        drug="Rituximab",
        therapy_class="b_cell_targeted",
        start_date=DAY0 - dt.timedelta(days=400),
        stop_date=DAY0 - dt.timedelta(days=200),
        reason_stopped="inefficacy",
        recorded_by=rome_clinician,
    )
    patients.prior_therapy_record(
        patient=rom_sle,
        drug="Prednisone",
        therapy_class="glucocorticoid",
        start_date=DAY0 - dt.timedelta(days=400),
        stop_date=DAY0 - dt.timedelta(days=20),
        reason_stopped="car_t",
        recorded_by=rome_clinician,
    )
    crs(rom_sle, rome_clinician, 0, "37.1")
    crs(rom_sle, rome_clinician, 1, "38.5")
    crs(rom_sle, rome_clinician, 2, "38.2")
    crs(rom_sle, rome_clinician, 3, "37.0")
    for day, anc in ((0, "1800"), (2, "700"), (4, "400"), (6, "450"), (8, "900"), (10, "1600"), (45, "2500")):
        lab(rom_sle, rome_clinician, "anc", anc, day)
    for day, cart, cd19 in ((3, "4.1", "35"), (7, "32.69", "0"), (14, "12", "0"), (95, "0.1", "15")):
        lab(rom_sle, rome_clinician, "car_t", cart, day)
        lab(rom_sle, rome_clinician, "cd19", cd19, day)
    outcomes.visit_record(
        patient=rom_sle,
        timepoint=timepoint("screening"),
        visit_date=DAY0 - dt.timedelta(days=30),
        recorded_by=rome_clinician,
        notes="Anna Testa doing well",
        instrument={"descriptors": ["arthritis", "rash"], "physician_global": Decimal("2")},
    )
    outcomes.visit_record(
        patient=rom_sle,
        timepoint=timepoint("m3"),
        visit_date=DAY0 + dt.timedelta(days=91),
        recorded_by=rome_clinician,
        instrument={"descriptors": [], "physician_global": Decimal("0")},
    )
    outcomes.medication_record(
        patient=rom_sle,
        drug="Mycophenolate",
        medication_class="immunomodulator",
        dose="500",
        dose_unit="mg",
        frequency="bid",
        started_on=DAY0 - dt.timedelta(days=300),
        stopped_on=DAY0 - dt.timedelta(days=28),
        stop_reason="car_t",
        recorded_by=rome_clinician,
    )
    toxicity.infection_record(
        patient=rom_sle,
        onset_on=DAY0 + dt.timedelta(days=40),
        grade=2,
        site="urinary tract (Anna's cystitis)",
        organism_type="bacterial",
        organism="E. coli",
        treatment_route="oral",
        outcome="resolved",
        resolved_on=DAY0 + dt.timedelta(days=47),
        recorded_by=rome_clinician,
    )

    rom_jdm = infused(rome, rome_clinician, diagnosis="jdm", sex="male", dob=dt.date(2012, 6, 1))
    crs(rom_jdm, rome_clinician, 1, "37.2")

    erl_sle = infused(erlangen, erlangen_clinician, dob=dt.date(2009, 3, 10), weight="45.00")
    crs(erl_sle, erlangen_clinician, 1, "37.2")
    crs(erl_sle, erlangen_clinician, 2, "38.9", hypotension=True)
    voided = crs(erl_sle, erlangen_clinician, 3, "39.5", hypotension=True)
    voided.refresh_from_db()
    toxicity.crs_assessment_void(assessment=voided, recorded_by=erlangen_clinician, reason="wrong patient")
    crs(erl_sle, erlangen_clinician, 4, "37.0")

    rom_not_infused = enrol(rome, rome_clinician)
    rom_voided = enrol(rome, rome_clinician, sex="male")
    patients.patient_void(patient=rom_voided, recorded_by=rome_clinician, reason="duplicate entry")

    series = patients.case_series_create(
        name=SERIES_NAME,
        patients=[rom_sle, rom_jdm, erl_sle, rom_not_infused, rom_voided],
        recorded_by=staff_user,
    )
    for p in (rom_sle, rom_jdm, erl_sle, rom_not_infused):
        p.refresh_from_db()
    return Registry(series, rom_sle, rom_jdm, erl_sle, rom_not_infused, rom_voided)
