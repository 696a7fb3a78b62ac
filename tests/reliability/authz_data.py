"""One seeded registry for the authorisation matrix and the identity tests, built through the real services.

Two centres (Rome, Erlangen), the personas of DESIGN §5, patients with distinctive identities (names, dates of
birth, hospital numbers, contact), one row of every kind that a URL can name (visits, admissions, runs, CRS
and ICANS assessments, medications, summaries, exports, API clients …), API tokens in and out of scope, and a
row for every model the admin lists. Built once per test module (:func:`seeded`), rolled back at its end.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from adverse_events import services as ae_services
from adverse_events.models import CrsAssessment, IcansAssessment, SupportiveCare
from dosing import services as dosing_services
from dosing.models import ManufacturingRun
from outcomes import services as outcome_services
from outcomes.models import ScheduleTimepoint, Visit
from patients import services as patient_services
from patients.models import GrowthMeasurement, Patient
from registry.api_clients import api_client_revoke
from registry.models import ApiClient, Centre, ExportLog, FollowUpSummary, Membership
from tests.registry.api_data import DAY0, seed_patient, token_for

PASSWORD = "correct-horse-battery"

#: persona → (role, centre code or None for registry-wide, is_staff). ``anonymous`` has no user.
PERSONAS: dict[str, tuple[str | None, str | None, bool]] = {
    "rome_clinician": ("clinician", "ROM", False),
    "erlangen_clinician": ("clinician", "ERL", False),
    "rome_coordinator": ("coordinator", "ROM", False),
    "coordinator": ("coordinator", None, False),
    "rome_monitor": ("monitor", "ROM", False),
    "monitor": ("monitor", None, False),
    "nobody": (None, None, False),
    "staff_admin": (None, None, True),
}


def identity_strings(patient: Patient) -> list[str]:
    """Every identity value of ``patient`` as it could leak: names, hospital number, contact, and the date of
    birth as ISO, dd/mm/yyyy and dd.mm.yyyy."""
    identity = patient.identity
    dob = identity.date_of_birth
    return [
        identity.given_name,
        identity.family_name,
        identity.hospital_number,
        identity.contact,
        dob.isoformat(),
        dob.strftime("%d/%m/%Y"),
        dob.strftime("%d.%m.%Y"),
    ]


@dataclass
class Token:
    client: ApiClient | None
    token: str


@dataclass
class Seeded:
    rome: Centre
    erlangen: Centre
    users: dict[str, Any]
    rome_patient: Patient  # the target of every patient URL (SLE, fully documented)
    rome_jdm: Patient
    rome_waiting: Patient  # enrolled, no day 0
    erl_patient: Patient
    objects: dict[str, Any]
    tokens: dict[str, Token]
    series: Any
    summaries: dict[str, FollowUpSummary]
    export: ExportLog
    sessions: dict[str, str] = field(default_factory=dict)  # persona → session key (logged in)

    @property
    def rome_patients(self) -> list[Patient]:
        return [self.rome_patient, self.rome_jdm, self.rome_waiting]

    @property
    def erl_patients(self) -> list[Patient]:
        return [self.erl_patient]

    def identity_of(self, patients: list[Patient]) -> list[str]:
        return [text for p in patients for text in identity_strings(p)]

    def codes_of(self, patients: list[Patient]) -> list[str]:
        return [p.code for p in patients]


def _user(username: str, role: str | None, centre: Centre | None, is_staff: bool) -> Any:
    user = get_user_model().objects.create_user(
        username=username,
        password=PASSWORD,
        email=f"{username}@example.org",
        is_staff=is_staff,
        is_superuser=is_staff,
    )
    if role:
        Membership.objects.create(user=user, centre=centre, role=role)
    return user


def _admin_rows(rome: Centre) -> dict[str, Any]:
    """A row for every third-party model the admin lists, so that its change/delete/history URLs resolve."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django.contrib.auth.models import Group
    from django_celery_beat.models import (
        ClockedSchedule,
        CrontabSchedule,
        IntervalSchedule,
        PeriodicTask,
        SolarSchedule,
    )

    interval, _ = IntervalSchedule.objects.get_or_create(every=10, period=IntervalSchedule.MINUTES)
    rows = {
        "group": Group.objects.create(name="Data managers"),
        "interval": interval,
        "crontab": CrontabSchedule.objects.get_or_create(minute="5", hour="6")[0],
        "solar": SolarSchedule.objects.get_or_create(event="sunrise", latitude=41.9, longitude=12.5)[0],
        "clocked": ClockedSchedule.objects.create(clocked_time=timezone.now()),
        "attempt": AccessAttempt.objects.create(
            username="someone", ip_address="10.0.0.1", user_agent="test", failures_since_start=1
        ),
        "accesslog": AccessLog.objects.create(username="someone", ip_address="10.0.0.1", user_agent="test"),
        "failurelog": AccessFailureLog.objects.create(
            username="someone", ip_address="10.0.0.1", user_agent="test", locked_out=False
        ),
    }
    if not PeriodicTask.objects.exists():
        PeriodicTask.objects.create(name="authz test task", task="registry.tasks.noop", interval=interval)
    rows["periodictask"] = PeriodicTask.objects.order_by("pk").first()
    return rows


def build() -> Seeded:
    rome = Centre.objects.create(
        code="ROM", name="Ospedale Pediatrico Bambino Gesù, Rome", country="IT", time_zone="Europe/Rome"
    )
    erlangen = Centre.objects.create(
        code="ERL", name="Universitätsklinikum Erlangen", country="DE", time_zone="Europe/Berlin"
    )
    by_code = {"ROM": rome, "ERL": erlangen}
    users = {
        name: _user(name.replace("_", "."), role, by_code.get(code) if code else None, staff)
        for name, (role, code, staff) in PERSONAS.items()
    }
    rc, ec = users["rome_clinician"], users["erlangen_clinician"]

    rome_patient = seed_patient(rome, rc, diagnosis="sle").patient
    rome_jdm = seed_patient(rome, rc, diagnosis="jdm").patient
    rome_waiting = seed_patient(rome, rc, infused=False).patient
    erl_patient = seed_patient(erlangen, ec, diagnosis="ssc").patient

    # Instruments of the other diagnoses (the admin lists them); seed_patient scores SLE visits only.
    mrss = dict.fromkeys(
        ["face", "anterior_chest", "abdomen"]
        + [
            f"{site}_{side}"
            for site in ("fingers", "hands", "forearms", "upper_arms", "thighs", "lower_legs", "feet")
            for side in ("right", "left")
        ],
        1,
    )
    for patient, user, instrument in (
        (rome_jdm, rc, {"physician_global": Decimal("2")}),
        (erl_patient, ec, {"mrss_sites": mrss, "raynaud": True}),
    ):
        outcome_services.visit_record(
            patient=patient,
            timepoint=ScheduleTimepoint.objects.get(protocol="default", code="d28"),
            visit_date=DAY0 + dt.timedelta(days=28),
            recorded_by=user,
            instrument=instrument,
        )
    # An unconfirmed authenticator (the admin lists devices); unconfirmed, so nobody is asked for a code.
    device = TOTPDevice.objects.create(user=users["nobody"], name="authenticator", confirmed=False)

    run = ManufacturingRun.objects.filter(apheresis__patient=rome_patient).order_by("pk").first()
    release_test = dosing_services.release_test_record(
        run=run, kind="sterility", spec_expected="negative", result_text="negative", recorded_by=rc
    )
    admission = dosing_services.admission_record(
        patient=rome_patient, admitted_on=DAY0 - dt.timedelta(days=1), reason="infusion", recorded_by=rc
    )
    supportive = ae_services.supportive_care_record(
        patient=rome_patient, kind="gcsf", started_on=DAY0 + dt.timedelta(days=5), recorded_by=rc
    )
    ongoing = outcome_services.medication_record(
        patient=rome_patient,
        drug="Hydroxychloroquine",
        medication_class="immunomodulator",
        dose="200",
        dose_unit="mg",
        frequency="daily",
        started_on=DAY0 - dt.timedelta(days=300),
        recorded_by=rc,
    )
    objects = {
        "run": run,
        "release_test": release_test,
        "admission": admission,
        "supportive_care": supportive,
        "growth": GrowthMeasurement.objects.filter(patient=rome_patient).order_by("pk").first(),
        "visit": Visit.objects.filter(patient=rome_patient).order_by("pk").first(),
        "crs": CrsAssessment.objects.filter(patient=rome_patient).order_by("pk").first(),
        "icans": IcansAssessment.objects.filter(patient=rome_patient).order_by("pk").first(),
        "medication": ongoing,  # not stopped yet: its stop page exists
        "identity": rome_patient.identity,
        "totp": device,
        **_admin_rows(rome),
    }
    assert SupportiveCare.objects.filter(pk=supportive.pk).exists()

    series = patient_services.case_series_create(
        name="Authorisation test series",
        patients=[rome_patient, rome_jdm, rome_waiting, erl_patient],
        recorded_by=users["staff_admin"],
    )
    export = ExportLog.objects.create(
        user=users["rome_coordinator"],
        case_series=series,
        format="csv",
        mode="internal",
        status="done",
        row_counts={"baseline_patients": 3},
    )
    export.file.save("authz-export.csv", ContentFile(b"patient\nROM\n"), save=True)

    from registry.summaries.services import summary_generate

    today = timezone.localdate()
    summaries = {
        "rome_daily": summary_generate(centre=rome, kind="daily", period_start=today, email=False),
        "erl_daily": summary_generate(centre=erlangen, kind="daily", period_start=today, email=False),
        "weekly": summary_generate(
            centre=None, kind="weekly", period_start=today - dt.timedelta(days=today.weekday()), email=False
        ),
    }

    coordinator = users["coordinator"]
    rome_client, rome_token = token_for(coordinator, name="Rome, every group", centres=[rome])
    erl_client, erl_token = token_for(coordinator, name="Erlangen, every group", centres=[erlangen])
    dosing_client, dosing_token = token_for(
        coordinator, name="Rome, dosing only", centres=[rome], resource_groups=["dosing"]
    )
    all_client, all_token = token_for(coordinator, name="Every centre", all_centres=True)
    expired_client, expired_token = token_for(coordinator, name="Rome, expired", centres=[rome])
    ApiClient.objects.filter(pk=expired_client.pk).update(expires_at=timezone.now() - dt.timedelta(days=1))
    revoked_client, revoked_token = token_for(coordinator, name="Rome, revoked", centres=[rome])
    api_client_revoke(client=revoked_client, recorded_by=coordinator, reason="leaked in a log")
    tokens = {
        "token_in_scope": Token(rome_client, rome_token),
        "token_other_centre": Token(erl_client, erl_token),
        "token_other_group": Token(dosing_client, dosing_token),
        "token_all_centres": Token(all_client, all_token),
        "token_expired": Token(expired_client, expired_token),
        "token_revoked": Token(revoked_client, revoked_token),
        "token_wrong": Token(None, f"{rome_token.split('.')[0]}.{'x' * 43}"),
    }
    for patient in (rome_patient, rome_jdm, rome_waiting, erl_patient):
        patient.refresh_from_db()
    return Seeded(
        rome=rome,
        erlangen=erlangen,
        users=users,
        rome_patient=rome_patient,
        rome_jdm=rome_jdm,
        rome_waiting=rome_waiting,
        erl_patient=erl_patient,
        objects=objects,
        tokens=tokens,
        series=series,
        summaries=summaries,
        export=export,
    )


# --- the module fixture and helpers -------------------------------------------------------------------------

#: Tables that a denied request may legitimately touch: sessions, the API request log and the access log
#: (every request is logged, refused ones too), the log-in throttle's records.
UNWATCHED_TABLES = {
    "django_session",
    "registry_apirequestlog",
    "registry_accessevent",
    "axes_accessattempt",
    "axes_accesslog",
    "axes_accessfailurelog",
}


def fingerprint() -> tuple[int, ...]:
    """Row counts of every table (history tables included: every audited write adds a history row), in one
    query. Equal fingerprints before and after a request mean it created, changed or deleted nothing."""
    from django.apps import apps
    from django.db import connection

    tables = sorted(
        {m._meta.db_table for m in apps.get_models() if m._meta.managed and not m._meta.proxy}
        - UNWATCHED_TABLES
    )
    quote = connection.ops.quote_name
    sql = "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {quote(t)})" for t in tables)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return tuple(cursor.fetchone())


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """The seeded registry, once per module, rolled back when the module ends (tests also take ``db``)."""
    from django.conf import settings
    from django.db import transaction
    from django.test import Client

    with django_db_blocker.unblock(), transaction.atomic():
        data = build()
        for persona, user in data.users.items():
            client = Client()
            client.force_login(user)
            data.sessions[persona] = client.cookies[settings.SESSION_COOKIE_NAME].value
        yield data
        transaction.set_rollback(True)
