"""Demo data for a first run: centres, one user per role. Later issues extend it with clinical data.

Idempotent: running the loader twice changes nothing (rows are looked up by natural keys and created only
when missing; existing rows, including passwords, are left alone).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from registry.models import Centre, Membership, Role

CENTRES = [
    {
        "code": "ROM",
        "name": "Ospedale Pediatrico Bambino Gesù, Rome",
        "country": "IT",
        "time_zone": "Europe/Rome",
    },
    {"code": "ERL", "name": "Universitätsklinikum Erlangen", "country": "DE", "time_zone": "Europe/Berlin"},
]


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    role: str | None
    centre: str | None
    staff: bool = False


ACCOUNTS = [
    DemoAccount("rome.clinician", "demo-rome-clinician", Role.CLINICIAN, "ROM"),
    DemoAccount("erlangen.clinician", "demo-erlangen-clinician", Role.CLINICIAN, "ERL"),
    DemoAccount("coordinator", "demo-coordinator", Role.COORDINATOR, None),
    DemoAccount("rome.coordinator", "demo-rome-coordinator", Role.COORDINATOR, "ROM"),
    DemoAccount("monitor", "demo-monitor", Role.MONITOR, None),
    DemoAccount("admin", "demo-admin-staff", None, None, staff=True),
]


@transaction.atomic
def load_base_demo() -> dict[str, int]:
    """Create the demo centres and accounts; return how many rows were created."""
    created = {"centres": 0, "users": 0, "memberships": 0}
    centres: dict[str, Centre] = {}
    for spec in CENTRES:
        centre = Centre.objects.filter(code=spec["code"]).first()
        if centre is None:
            centre = Centre(**spec)
            centre.full_clean()
            centre.save()
            created["centres"] += 1
        centres[spec["code"]] = centre
    user_model = get_user_model()
    for account in ACCOUNTS:
        user = user_model.objects.filter(username=account.username).first()
        if user is None:
            user = user_model(username=account.username, is_staff=account.staff, is_superuser=account.staff)
            user.set_password(account.password)
            user.save()
            created["users"] += 1
        if account.role is None:
            continue
        centre = centres[account.centre] if account.centre else None
        if not Membership.objects.filter(user=user, centre=centre).exists():
            Membership.objects.create(user=user, centre=centre, role=account.role)
            created["memberships"] += 1
    return created
