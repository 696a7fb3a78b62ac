"""Seed a throwaway registry database for the fault tests; prints one JSON line with what the test needs.

Run as ``python -m tests.reliability.fault_seed`` with ``DATABASE_URL`` pointing at a migrated database. Built
through the real services (validated, audited) with the export tests' small registry
(:func:`tests.registry.exports_factory.small_registry`): two centres, the personas, an infused SLE patient
ROM-001 whose identity is "Anna Testa" (so a page can be checked for identity leaks), a case series, and an
API client for every centre.
"""

from __future__ import annotations

import json
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings.test")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402

from registry.api_clients import api_client_create  # noqa: E402
from registry.models import Centre, Membership  # noqa: E402
from tests.registry.exports_factory import small_registry  # noqa: E402

PASSWORD = "correct-horse-battery"


def _member(username: str, role: str | None, centre: Centre | None = None, **extra):
    user = get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)
    if role:
        Membership.objects.create(user=user, centre=centre, role=role)
    return user


def main() -> dict:
    rome = Centre.objects.create(
        code="ROM", name="Ospedale Pediatrico Bambino Gesù, Rome", country="IT", time_zone="Europe/Rome"
    )
    erlangen = Centre.objects.create(
        code="ERL", name="Universitätsklinikum Erlangen", country="DE", time_zone="Europe/Berlin"
    )
    rome_clinician = _member("rome.clinician", "clinician", rome)
    erlangen_clinician = _member("erlangen.clinician", "clinician", erlangen)
    coordinator = _member("coordinator", "coordinator", None)
    staff = _member("admin", None, is_staff=True, is_superuser=True)
    registry = small_registry(rome, erlangen, rome_clinician, erlangen_clinician, staff)
    issued = api_client_create(
        name="Pooled analysis (fault test)",
        purpose="Reliability test: API reads during a database restart.",
        created_by=coordinator,
        all_centres=True,
    )
    return {
        "password": PASSWORD,
        "clinician": rome_clinician.username,
        "coordinator": coordinator.username,
        "patient_id": registry.rom_sle.pk,
        "patient_code": registry.rom_sle.code,
        # ROM-002 has no laboratory values: every one of them is then a save of the load test.
        "save_patient_id": registry.rom_jdm.pk,
        "centre_ids": sorted([rome.pk, erlangen.pk]),
        "identity": ["Anna", "Testa", "H-123"],
        "series_id": registry.series.pk,
        "token": issued.token,
    }


if __name__ == "__main__":
    print(json.dumps(main()))
