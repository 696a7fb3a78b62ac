from __future__ import annotations

import io

from django.contrib.auth import get_user_model
from django.core.management import call_command

from registry.models import Centre, Membership


def _load() -> str:
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


def test_load_demo_creates_centres_and_one_account_per_role(db):
    output = _load()
    assert set(Centre.objects.values_list("code", flat=True)) >= {"ROM", "ERL"}
    roles = set(Membership.objects.values_list("role", flat=True))
    assert roles == {"clinician", "coordinator", "monitor"}
    assert "rome.clinician" in output and "demo-rome-clinician" in output
    assert get_user_model().objects.get(username="rome.clinician").check_password("demo-rome-clinician")


def test_load_demo_twice_changes_nothing(db):
    _load()
    counts = (
        Centre.objects.count(),
        get_user_model().objects.count(),
        Membership.objects.count(),
        Centre.history.count(),
        Membership.history.count(),
    )
    output = _load()
    assert (
        Centre.objects.count(),
        get_user_model().objects.count(),
        Membership.objects.count(),
        Centre.history.count(),
        Membership.history.count(),
    ) == counts
    assert "0 centres, 0 users, 0 memberships created" in output


def test_load_demo_refuses_when_not_allowed(db, settings):
    import pytest
    from django.core.management.base import CommandError

    settings.REGISTRY_DEMO_ALLOWED = False
    with pytest.raises(CommandError, match="production"):
        _load()
