"""The clinic that the follow-up summary tests share (service level and real worker): built through the real
services on dates relative to today, since services refuse future dates."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from adverse_events import services as ae_services
from dosing import services as dosing_services
from outcomes import services as outcome_services
from outcomes.models import ScheduleTimepoint
from registry.models import Membership
from tests.factories import enrol, path_to_infusion

ROME = zoneinfo.ZoneInfo("Europe/Rome")
TODAY = timezone.localdate()  # the registry's (and Rome's) date: services refuse later dates


def at(day0: dt.date, day: int, hour: int = 9) -> dt.datetime:
    return dt.datetime.combine(day0 + dt.timedelta(days=day), dt.time(hour), tzinfo=ROME)


def infused(centre, user, *, days_ago: int, diagnosis: str = "sle"):
    """A child infused ``days_ago`` days before TODAY (day 0), through the real services."""
    day0 = TODAY - dt.timedelta(days=days_ago)
    patient = enrol(centre, user, diagnosis=diagnosis, dob=dt.date(2012, 5, 1))
    path = path_to_infusion(patient, user, today=day0 + dt.timedelta(days=1))
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
    return patient


def tp(code: str) -> ScheduleTimepoint:
    return ScheduleTimepoint.objects.get(protocol="default", code=code)


def lab(patient, user, analyte: str, value: str, day: int, unit: str = "cells/µL"):
    return outcome_services.lab_result_record(
        patient=patient,
        item=outcome_services.LabInput(analyte, value, unit, at(patient.day0, day)),
        recorded_by=user,
    )


def coordinator_of(username: str, centre, email: str):
    user = get_user_model().objects.create_user(username=username, password="x" * 16, email=email)
    Membership.objects.create(user=user, centre=centre, role="coordinator")
    return user


def add_coordinators(*, rome, erlangen, rome_coordinator, coordinator, rome_clinician) -> None:
    """E-mail addresses: two Rome coordinators, one of Erlangen, one registry-wide; a Rome clinician."""
    for user, email in (
        (rome_coordinator, "rome.coordinator@example.org"),
        (coordinator, "registry.coordinator@example.org"),
        (rome_clinician, "rome.clinician@example.org"),
    ):
        user.email = email
        user.save(update_fields=["email"])
    coordinator_of("rome.coordinator2", rome, "rome.coordinator2@example.org")
    coordinator_of("erlangen.coordinator", erlangen, "erlangen.coordinator@example.org")


ROME_COORDINATORS = ["rome.coordinator2@example.org", "rome.coordinator@example.org"]
ERLANGEN_COORDINATORS = ["erlangen.coordinator@example.org"]


def build_clinic(*, rome, erlangen, rome_clinician, erlangen_clinician) -> dict:
    """Rome: Anna (SLE, day 75: month 2 overdue, month 3 due, a day-28 visit without most labs, silent since)
    and Bruno (JDM, day 60: month-2 visit done; open grade-3 CRS, late cytopenia, B cells back on day 57).
    Erlangen: Carla (JDM, day 80: month 2 overdue, month 3 open)."""
    anna = infused(rome, rome_clinician, days_ago=75)
    outcome_services.visit_record(
        patient=anna,
        timepoint=tp("d28"),
        visit_date=anna.day0 + dt.timedelta(days=28),
        recorded_by=rome_clinician,
        instrument={"descriptors": [], "physician_global": Decimal("0.2")},
    )
    lab(anna, rome_clinician, "anc", "2100", 27)

    bruno = infused(rome, rome_clinician, days_ago=60, diagnosis="jdm")
    ae_services.crs_assessment_record(
        patient=bruno,
        assessed_at=at(bruno.day0, 1),
        recorded_by=rome_clinician,
        max_temperature_c=Decimal("39.1"),
        hypotension=True,
        vasopressors=["norepinephrine"],
    )
    lab(bruno, rome_clinician, "cd19", "0", 10)
    lab(bruno, rome_clinician, "anc", "900", 40)
    lab(bruno, rome_clinician, "anc", "1200", 50)
    lab(bruno, rome_clinician, "cd19", "25", 57)
    outcome_services.visit_record(
        patient=bruno,
        timepoint=tp("m2"),
        visit_date=bruno.day0 + dt.timedelta(days=58),
        recorded_by=rome_clinician,
    )

    carla = infused(erlangen, erlangen_clinician, days_ago=80, diagnosis="jdm")
    return {"anna": anna, "bruno": bruno, "carla": carla, "rome": rome, "erlangen": erlangen}
