"""A small clinic for the fuzz tests: one patient at every stage, built through the real services.

``build_world`` returns the primary keys of the records the forms and services are fuzzed against, so that
each test can reload fresh instances; ``row_counts`` takes a snapshot of every clinical table and every audit
(history) table in one query, to prove that a rejected input left nothing behind.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.db import connection

from adverse_events import services as toxicity
from dosing import services as dosing
from outcomes import services as outcomes
from outcomes.models import ScheduleTimepoint
from patients import services as patients
from tests.factories import enrol, path_to_infusion

TODAY = dt.date.today()
DAY0 = TODAY - dt.timedelta(days=100)
DOB_TEEN = dt.date(2011, 1, 15)  # 15 at day 0: ICE path
DOB_CHILD = dt.date(2018, 6, 1)  # 7 at day 0: CAPD path

CLINICAL_APPS = ("patients", "dosing", "outcomes", "adverse_events", "registry")


def at(patient, day: int, hour: int = 10) -> dt.datetime:
    tz = zoneinfo.ZoneInfo(patient.centre.time_zone)
    return dt.datetime.combine(DAY0 + dt.timedelta(days=day), dt.time(hour), tzinfo=tz)


def infuse(centre, user, *, diagnosis: str, dob: dt.date, spare_bag: bool = True):
    patient = enrol(centre, user, diagnosis=diagnosis, dob=dob)
    path = path_to_infusion(patient, user, today=DAY0 + dt.timedelta(days=1), bag_cells=(3.9e7, 3.3e7, 3.0e7))
    dosing.lymphodepletion_dose_record(
        patient=patient,
        agent="fludarabine",
        given_on=DAY0 - dt.timedelta(days=4),
        mg_per_m2=Decimal("30"),
        given_mg=Decimal("34"),
        growth=path.growth,
        recorded_by=user,
    )
    dosing.infusion_record(
        patient=patient,
        run=path.run,
        infused_on=DAY0,
        growth=path.growth,
        car_t_cells_infused=3.0e7,
        volume_infused_ml=Decimal("15"),
        bags=[path.bags[0]],
        recorded_by=user,
    )
    patient.refresh_from_db()
    return patient, path


def build_world(centre, user) -> dict[str, int]:
    """Patients at each stage and one record of every kind the edit, stop, discharge and void forms need."""
    sle, sle_path = infuse(centre, user, diagnosis="sle", dob=DOB_TEEN)
    jdm, _ = infuse(centre, user, diagnosis="jdm", dob=DOB_CHILD)
    ssc, _ = infuse(centre, user, diagnosis="ssc", dob=DOB_TEEN)
    pre = enrol(centre, user, diagnosis="sle", dob=DOB_TEEN)
    pre_path = path_to_infusion(pre, user, today=TODAY)
    admission = dosing.admission_record(
        patient=sle, admitted_on=DAY0 - dt.timedelta(days=1), reason="infusion", recorded_by=user
    )
    crs = toxicity.crs_assessment_record(
        patient=sle,
        assessed_at=at(sle, 1),
        max_temperature_c=Decimal("38.4"),
        oxygen_device="none",
        recorded_by=user,
    )
    icans = toxicity.icans_assessment_record(
        patient=sle,
        assessed_at=at(sle, 2),
        ice_items={"orientation": 4, "naming": 3, "following_commands": 1, "writing": 1, "attention": 1},
        recorded_by=user,
    )
    infection = toxicity.infection_record(
        patient=sle,
        onset_on=DAY0 + dt.timedelta(days=20),
        grade=2,
        site="upper_respiratory",
        organism_type="viral",
        treatment_route="oral",
        outcome="resolved",
        resolved_on=DAY0 + dt.timedelta(days=27),
        recorded_by=user,
    )
    medication = outcomes.medication_record(
        patient=sle,
        drug="prednisone",
        medication_class="glucocorticoid",
        dose=Decimal("10"),
        dose_unit="mg",
        frequency="daily",
        started_on=DAY0 - dt.timedelta(days=60),
        recorded_by=user,
    )
    m1 = ScheduleTimepoint.objects.get(protocol="default", code="d28")
    visits = {}
    for name, patient, instrument in (
        ("sle", sle, {"physician_global": Decimal("0.3"), "descriptors": []}),
        ("jdm", jdm, {"physician_global": Decimal("1.0")}),
        ("ssc", ssc, {"mrss_sites": dict.fromkeys(_MRSS_SITES, 1)}),
    ):
        visits[name] = outcomes.visit_record(
            patient=patient,
            visit_date=DAY0 + dt.timedelta(days=28),
            timepoint=m1,
            instrument=instrument,
            recorded_by=user,
        ).pk
    lab = outcomes.lab_result_record(
        patient=sle, item=outcomes.LabInput("anc", "1,2", "10^9/L", at(sle, 7)), recorded_by=user
    )
    therapy = patients.prior_therapy_record(
        patient=sle, drug="rituximab", therapy_class="b_cell_targeted", recorded_by=user
    )
    organ = patients.organ_involvement_record(patient=sle, organ="arthritis", recorded_by=user)
    return {
        "sle": sle.pk,
        "jdm": jdm.pk,
        "ssc": ssc.pk,
        "pre": pre.pk,
        "pre_run": pre_path.run.pk,
        "pre_apheresis": pre_path.apheresis.pk,
        "pre_growth": pre_path.growth.pk,
        "sle_run": sle_path.run.pk,
        "sle_growth": sle_path.growth.pk,
        "sle_bag": sle_path.bags[1].pk,
        "admission": admission.pk,
        "crs": crs.pk,
        "icans": icans.pk,
        "infection": infection.pk,
        "medication": medication.pk,
        "visit_sle": visits["sle"],
        "visit_jdm": visits["jdm"],
        "visit_ssc": visits["ssc"],
        "lab": lab.pk,
        "therapy": therapy.pk,
        "organ": organ.pk,
    }


_MRSS_SITES = (
    "face",
    "anterior_chest",
    "abdomen",
    *(
        f"{part}_{side}"
        for part in ("fingers", "hands", "forearms", "upper_arms", "thighs", "lower_legs", "feet")
        for side in ("right", "left")
    ),
)


def _tables() -> list[str]:
    names = []
    for app in CLINICAL_APPS:
        for model in apps.get_app_config(app).get_models():
            if model._meta.managed and not model._meta.proxy:
                names.append(model._meta.db_table)
    return sorted(set(names))


def row_counts() -> dict[str, int]:
    """Rows in every table of the clinical apps and their history (audit) tables, in one query."""
    tables = _tables()
    quote = connection.ops.quote_name
    sql = "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {quote(t)})" for t in tables)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return dict(zip(tables, cursor.fetchone(), strict=True))


@dataclass
class World:
    centre: Any
    user: Any
    pks: dict[str, int]

    def get(self, model: type, key: str) -> Any:
        return model.objects.get(pk=self.pks[key])


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The clinic, built once per test module inside a transaction that is rolled back at the end.

    Tests also take ``db`` (a savepoint per test) and roll back each hypothesis example themselves.
    """
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from registry.models import Centre, Membership

    with django_db_blocker.unblock(), transaction.atomic():
        outcomes.schedule_ensure_default()
        centre = Centre.objects.create(
            code="FUZ", name="Fuzz children's hospital", country="IT", time_zone="Europe/Rome"
        )
        user = get_user_model().objects.create_user(username="fuzz.clinician", password="not-used-here-1")
        Membership.objects.create(user=user, centre=centre, role="clinician")
        yield World(centre, user, build_world(centre, user))
        transaction.set_rollback(True)
