"""Shared fixtures: the clinic's personas, and service-marker handling (DESIGN §6).

Tests that need a service carry a marker (``postgres``, ``redis``, ``browser``, ``slow``) and skip with a
clear reason when the service is missing — except under ``CI=true``, where a missing service fails the run.
"""

from __future__ import annotations

import os
import shutil
import socket
from urllib.parse import urlparse

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _missing_service(marker: str) -> str | None:
    if marker == "postgres":
        url = os.environ.get("DATABASE_URL", "")
        if not url.startswith(("postgres://", "postgresql://", "pgsql://")):
            return "needs PostgreSQL: set DATABASE_URL=postgres://... (the tests create their own database)"
        return None
    if marker == "redis":
        parsed = urlparse(REDIS_URL)
        if not _port_open(parsed.hostname or "127.0.0.1", parsed.port or 6379):
            return f"needs a Redis server at {parsed.hostname}:{parsed.port} (TEST_REDIS_URL)"
        return None
    if marker == "browser":
        if not (shutil.which("chromium") or os.path.exists("/usr/bin/chromium")):
            return "needs Debian's chromium (apt-get install chromium)"
        try:
            import playwright  # noqa: F401
        except ImportError:
            return "needs Playwright for Python (pip install '.[test]')"
        return None
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    cache: dict[str, str | None] = {}
    for item in items:
        for marker in ("postgres", "redis", "browser"):
            if item.get_closest_marker(marker) is None:
                continue
            if marker not in cache:
                cache[marker] = _missing_service(marker)
            reason = cache[marker]
            if reason is None:
                continue
            if IN_CI:
                item.stash[_MISSING] = reason
            else:
                item.add_marker(pytest.mark.skip(reason=reason))


_MISSING = pytest.StashKey[str]()


def pytest_runtest_setup(item: pytest.Item) -> None:
    reason = item.stash.get(_MISSING, None)
    if reason:
        pytest.fail(f"CI=true and a required service is missing: {reason}", pytrace=False)


# --- personas ---------------------------------------------------------------------------------------------


@pytest.fixture
def rome(db):
    from registry.models import Centre

    return Centre.objects.create(
        code="ROM", name="Ospedale Pediatrico Bambino Gesù, Rome", country="IT", time_zone="Europe/Rome"
    )


@pytest.fixture
def erlangen(db):
    from registry.models import Centre

    return Centre.objects.create(
        code="ERL", name="Universitätsklinikum Erlangen", country="DE", time_zone="Europe/Berlin"
    )


def _member(username: str, role: str | None, centre=None, **extra):
    from django.contrib.auth import get_user_model

    from registry.models import Membership

    user = get_user_model().objects.create_user(username=username, password="correct-horse-battery", **extra)
    if role:
        Membership.objects.create(user=user, centre=centre, role=role)
    return user


@pytest.fixture
def rome_clinician(rome):
    return _member("rome.clinician", "clinician", rome)


@pytest.fixture
def erlangen_clinician(erlangen):
    return _member("erlangen.clinician", "clinician", erlangen)


@pytest.fixture
def rome_coordinator(rome):
    return _member("rome.coordinator", "coordinator", rome)


@pytest.fixture
def coordinator(rome, erlangen):
    """A registry-wide coordinator (membership without a centre)."""
    return _member("coordinator", "coordinator", None)


@pytest.fixture
def rome_monitor(rome):
    return _member("rome.monitor", "monitor", rome)


@pytest.fixture
def monitor(rome, erlangen):
    """A registry-wide monitor."""
    return _member("monitor", "monitor", None)


@pytest.fixture
def nobody(db):
    """A logged-in user without any membership."""
    return _member("nobody", None)


@pytest.fixture
def staff_admin(db):
    return _member("admin", None, is_staff=True, is_superuser=True)


@pytest.fixture
def system_user(db):
    from registry.system import get_system_user

    return get_system_user()


@pytest.fixture
def rome_patient(rome, rome_clinician):
    from patients.services import patient_enrol

    return patient_enrol(centre=rome, sex="female", diagnosis="sle", recorded_by=rome_clinician)


@pytest.fixture
def erlangen_patient(erlangen, erlangen_clinician):
    from patients.services import patient_enrol

    return patient_enrol(centre=erlangen, sex="male", diagnosis="jdm", recorded_by=erlangen_clinician)


@pytest.fixture(scope="module")
def demo_loaded(django_db_setup, django_db_blocker):
    """``load_demo`` once per test module (it takes seconds), rolled back when the module ends.

    Tests that use it also take ``db``, which wraps each test in a savepoint inside this transaction.
    """
    import io

    from django.core.management import call_command
    from django.db import transaction

    with django_db_blocker.unblock(), transaction.atomic():
        # Transactional tests (browser, real worker) flush the database, emptying the default visit schedule
        # that a data migration installed; load_demo puts it back (schedule_ensure_default).
        out = io.StringIO()
        call_command("load_demo", stdout=out)
        yield out.getvalue()
        transaction.set_rollback(True)


@pytest.fixture(autouse=True)
def _migration_data_for_transactional_tests(request: pytest.FixtureRequest) -> None:
    """Put back the default visit schedule before a transactional test.

    Transactional tests (browser, real Celery worker) end with a flush that empties every table, including
    the rows a data migration installed; a later transactional test would find no schedule.
    """
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker is not None and marker.kwargs.get("transaction")) or any(
        name in request.fixturenames for name in ("transactional_db", "live_server")
    )
    if not transactional:
        return
    request.getfixturevalue("transactional_db")
    from outcomes.services import schedule_ensure_default

    schedule_ensure_default()
