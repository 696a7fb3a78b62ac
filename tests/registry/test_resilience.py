"""Outages in-process (the core suite; the real faults are in tests/reliability/test_faults.py).

* A database error that means "unreachable" is a 503 — the HTML page for browsers, JSON for the API, with
  ``Retry-After`` and without a stack trace — from a view, from outside a view (``handler500``) and from the
  API's exception handler; any other error stays a 500.
* The broker refusing a background export: the export is recorded as queued, the requester is told, and
  ``manage.py dispatch_exports`` (the beat job's twin) builds it once tasks can run again.
"""

from __future__ import annotations

import io
import socket
from contextlib import contextmanager

import psycopg
import pytest
from django.core.management import call_command
from django.db import InterfaceError, OperationalError
from django.test import Client
from django.urls import reverse

from registry import resilience
from registry.api.exceptions import api_exception_handler
from registry.celery import app as celery_app
from registry.exports import services
from registry.models import ExportLog, ExportStatus
from tests.registry.exports_factory import small_registry


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def broken_login(monkeypatch):
    """Reading the user fails as if the database had just gone away (a view's first query)."""

    def down(*args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")

    monkeypatch.setattr("django.contrib.auth.get_user", down)


def test_a_page_meeting_a_database_outage_is_the_503_page(db, broken_login):
    response = Client(raise_request_exception=False).get("/patients/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 503
    assert response["Retry-After"] == str(resilience.RETRY_AFTER_SECONDS)
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    assert "The registry is temporarily unavailable" in html
    assert "check whether it is there" in html  # what to do about a save that may or may not have happened
    assert "Traceback" not in html and "OperationalError" not in html and "127.0.0.1" not in html


def test_an_api_request_meeting_a_database_outage_is_a_json_503(db, monkeypatch):
    def down(token):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("registry.api_clients.client_for_token", down)  # the token lookup, the first query
    response = Client(raise_request_exception=False).get(
        "/api/v1/patients/", HTTP_AUTHORIZATION="Token abcdef12.secret"
    )
    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable" and response["Retry-After"]


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("the database system is shutting down"),
        InterfaceError("connection already closed"),
        psycopg.OperationalError("server closed the connection unexpectedly"),
    ],
    ids=["django-operational", "django-interface", "psycopg-operational"],
)
def test_the_api_exception_handler_answers_an_outage_with_503_not_500(error):
    response = api_exception_handler(error, {})
    assert response.status_code == 503
    assert response.data["code"] == "service_unavailable"
    assert response["Retry-After"] == str(resilience.RETRY_AFTER_SECONDS)


def test_outside_a_view_an_outage_is_503_and_any_other_error_still_500(rf):
    try:
        try:
            raise psycopg.OperationalError("terminating connection due to administrator command")
        except psycopg.OperationalError as exc:
            raise OperationalError(str(exc)) from exc
    except OperationalError:
        assert resilience.server_error(rf.get("/patients/")).status_code == 503
        api = resilience.server_error(rf.get("/api/v1/labs/"))
        assert api.status_code == 503 and api["Content-Type"] == "application/json"
    try:
        raise ValueError("a bug")
    except ValueError:
        assert resilience.server_error(rf.get("/patients/")).status_code == 500
        assert resilience.server_error(rf.get("/api/v1/labs/")).status_code == 500


# --- the broker refusing a background export --------------------------------------------------------------


@contextmanager
def celery_broker(url: str):
    """Point the registry's Celery app at ``url`` (not eager) for the block, then put it back."""
    conf = celery_app.conf
    saved = (conf.broker_url, conf.task_always_eager)

    def reset_pools() -> None:
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    reset_pools()
    conf.broker_url, conf.task_always_eager = url, False
    try:
        yield
    finally:
        conf.broker_url, conf.task_always_eager = saved
        reset_pools()


@pytest.fixture
def registry(rome, erlangen, rome_clinician, erlangen_clinician, staff_admin):
    return small_registry(rome, erlangen, rome_clinician, erlangen_clinician, staff_admin)


# Transactional: the task is queued when export_queue's transaction commits, inside the request, as in
# production (a test transaction around it would delay that to the end of the test).
@pytest.mark.django_db(transaction=True)
def test_export_requested_while_the_broker_is_down_is_queued_and_built_by_the_twin_command(
    client, registry, coordinator, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    settings.REGISTRY_EXPORT_BACKGROUND_MIN_PATIENTS = 0
    client.force_login(coordinator)
    with celery_broker(f"redis://127.0.0.1:{_closed_port()}/0"):
        response = client.post(
            reverse("exports:download", args=[registry.series.pk]),
            {"mode": "internal", "fmt": "csv", "table": "all", "spread": "range"},
        )
        log = ExportLog.objects.get()
        assert response.status_code == 302 and response["Location"] == reverse("exports:status", args=[log.pk])
        page = client.get(response["Location"])
        assert "Background processing is unavailable right now" in page.content.decode()
        assert (log.status, log.progress, log.file.name) == (ExportStatus.PENDING, 0, "")
        # The beat job with the broker still down: nothing queued, nothing lost.
        assert services.export_redispatch_pending(older_than=services.dt.timedelta(0)) == (0, 1)
    # Tasks can run again (here in-process, the embedded default): the twin command builds it.
    out = io.StringIO()
    call_command("dispatch_exports", "--older-than-minutes", "0", stdout=out)
    assert "1 pending export(s) queued." in out.getvalue()
    log.refresh_from_db()
    assert (log.status, log.progress) == (ExportStatus.DONE, 100) and (tmp_path / log.file.name).exists()
    # Nothing pending is left: a second run finds nothing.
    assert services.export_redispatch_pending(older_than=services.dt.timedelta(0)) == (0, 0)
