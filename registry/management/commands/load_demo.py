"""``python manage.py load_demo``: the demo centres, accounts and clinical data (idempotent)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandError

from outcomes.services import schedule_ensure_default
from registry.demo import ACCOUNTS, load_base_demo
from registry.demo_followup import load_demo_followup
from registry.demo_series import SERIES_NAME, load_demo_series
from registry.demo_toxicity import load_demo_toxicity
from registry.management.base import RegistryCommand


class Command(RegistryCommand):
    help = "Load the demo centres, one account per role and the illustrative demo case series (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.REGISTRY_DEMO_ALLOWED:
            raise CommandError(
                "Demo data (with published demo passwords) is only loaded when DEBUG=true or "
                "REGISTRY_DEMO_ALLOWED=true; refusing on what looks like a production database."
            )
        schedule_ensure_default()
        created = load_base_demo()
        self.stdout.write(
            f"Demo loaded: {created['centres']} centres, {created['users']} users, "
            f"{created['memberships']} memberships created (0 means they were already there)."
        )
        clinical = load_demo_series()
        rows = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in clinical.items())
        self.stdout.write(
            f"Demo clinical data (illustrative reconstruction, invented per-patient values): {rows} created "
            f"(0 patients means they were already there). Case series: {SERIES_NAME}."
        )
        toxicity = load_demo_toxicity()
        rows = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in toxicity.items())
        self.stdout.write(
            f"Demo toxicity course (raw observations; grades computed by the registry): {rows} created "
            "(0 means it was already there)."
        )
        followup = load_demo_followup()
        rows = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in followup.items())
        self.stdout.write(
            f"Demo follow-up (medications, visits with instruments scored by the registry, labs): {rows} "
            "created (0 means it was already there)."
        )
        self.stdout.write("Demo accounts (username / password — role):")
        for account in ACCOUNTS:
            what = (
                f"{account.role} at {account.centre or 'all centres'}"
                if account.role
                else "staff administrator"
            )
            self.stdout.write(f"  {account.username:<20} {account.password:<26} {what}")
