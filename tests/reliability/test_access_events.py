"""The access log: log-ins, failed log-ins, log-outs, identity views, API tokens and exports; who may read it;
append-only in the database."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DatabaseError, transaction
from django.urls import reverse
from django.utils import timezone

from patients import services as patient_services
from registry.access_events import access_event_record
from registry.models import AccessEvent, AccessEventKind, ExportLog, ExportMode

PASSWORD = "correct-horse-battery"
IDENTITY = {
    "given_name": "Giulietta",
    "family_name": "Rossellini",
    "date_of_birth": dt.date(2014, 3, 9),
    "hospital_number": "OPBG-778899",
}


@pytest.fixture
def identified_patient(rome, rome_clinician):
    return patient_services.patient_enrol(
        centre=rome, sex="female", diagnosis="sle", recorded_by=rome_clinician, identity=IDENTITY
    )


def _events(kind: str) -> list[AccessEvent]:
    return list(AccessEvent.objects.filter(kind=kind).order_by("at", "pk"))


# --- authentication -----------------------------------------------------------------------------------------


def test_login_records_user_address_and_a_truncated_browser(client, rome_clinician):
    agent = "Mozilla/5.0 " + "x" * 400
    response = client.post(
        reverse("login"), {"username": "rome.clinician", "password": PASSWORD}, HTTP_USER_AGENT=agent
    )
    assert response.status_code == 302
    [event] = _events(AccessEventKind.LOGIN)
    assert event.user == rome_clinician and event.username == "rome.clinician"
    assert event.ip_address == "127.0.0.1"
    assert event.user_agent == agent[:200]


def test_failed_login_stores_the_typed_username_and_never_the_password(client, rome_clinician):
    secret = "Secret-Typo-Password-123"
    client.post(reverse("login"), {"username": "Rome.Clinican", "password": secret})
    client.post(reverse("login"), {"username": "nobody-here", "password": secret})
    failures = _events(AccessEventKind.LOGIN_FAILED)
    assert [e.username for e in failures] == ["Rome.Clinican", "nobody-here"]
    assert all(e.user is None for e in failures)
    stored = list(AccessEvent.objects.values_list("username", "object_ref", "user_agent", "details"))
    assert secret not in repr(stored) and "*****" not in repr(stored)


def test_logout_is_recorded(client, rome_clinician):
    client.post(reverse("login"), {"username": "rome.clinician", "password": PASSWORD})
    client.post(reverse("logout"))
    [event] = _events(AccessEventKind.LOGOUT)
    assert event.user == rome_clinician and event.details == {}


# --- identity views ------------------------------------------------------------------------------------------


def test_clinician_opening_the_patient_page_records_an_identity_view(client, rome_clinician, identified_patient):
    client.force_login(rome_clinician)
    response = client.get(reverse("patients:detail", args=[identified_patient.pk]))
    assert "Rossellini" in response.content.decode()
    [event] = _events(AccessEventKind.IDENTITY_VIEW)
    assert event.user == rome_clinician and event.patient == identified_patient
    assert event.object_ref == identified_patient.code and event.details["page"] == "patient"
    assert "Rossellini" not in repr(event.details) + event.object_ref  # the log names the code, not the child


def test_identity_edit_form_and_identity_history_record_a_view(client, rome_clinician, identified_patient):
    client.force_login(rome_clinician)
    assert client.get(reverse("patients:identity", args=[identified_patient.pk])).status_code == 200
    identity = identified_patient.identity
    history = client.get(reverse("record_history", args=["patients", "patientidentity", identity.pk]))
    assert "Rossellini" in history.content.decode()
    pages = [e.details["page"] for e in _events(AccessEventKind.IDENTITY_VIEW)]
    assert pages == ["identity_edit", "history"]


@pytest.mark.parametrize("persona", ["rome_coordinator", "rome_monitor", "coordinator"])
def test_users_who_do_not_see_identity_leave_no_identity_view(request, client, persona, identified_patient):
    client.force_login(request.getfixturevalue(persona))
    page = client.get(reverse("patients:detail", args=[identified_patient.pk]))
    assert page.status_code == 200 and "Rossellini" not in page.content.decode()
    identity = identified_patient.identity
    masked = client.get(reverse("record_history", args=["patients", "patientidentity", identity.pk]))
    assert masked.status_code == 200 and "Rossellini" not in masked.content.decode()
    assert not AccessEvent.objects.filter(kind=AccessEventKind.IDENTITY_VIEW).exists()


def test_patient_without_identity_records_no_identity_view(client, rome_clinician, rome_patient):
    client.force_login(rome_clinician)
    assert client.get(reverse("patients:detail", args=[rome_patient.pk])).status_code == 200
    assert not AccessEvent.objects.filter(kind=AccessEventKind.IDENTITY_VIEW).exists()


# --- API tokens -----------------------------------------------------------------------------------------------


def test_issuing_and_revoking_an_api_token_is_recorded(client, rome_coordinator, rome):
    client.force_login(rome_coordinator)
    client.post(
        "/api-clients/new/",
        {"name": "Rome pooled", "purpose": "EBMT", "centres": [rome.pk], "resource_groups": ["patients"],
         "expires_days": 90},
    )
    from registry.models import ApiClient

    api_client = ApiClient.objects.get(name="Rome pooled")
    client.post(f"/api-clients/{api_client.pk}/revoke/", {"reason": "study closed"})
    events = _events(AccessEventKind.API_TOKEN)
    assert [e.details["action"] for e in events] == ["issued", "revoked"]
    assert {e.object_ref for e in events} == {"Rome pooled"}
    assert all(api_client.token_hash not in repr(e.details) for e in events)


# --- append-only ---------------------------------------------------------------------------------------------


def test_access_events_cannot_be_changed(rome_clinician):
    event = access_event_record(kind=AccessEventKind.LOGIN, user=rome_clinician)
    with pytest.raises(DatabaseError), transaction.atomic():
        AccessEvent.objects.filter(pk=event.pk).update(username="someone-else")
    event.refresh_from_db()
    assert event.username == "rome.clinician"


@pytest.mark.postgres
def test_access_events_cannot_be_deleted_on_postgresql(rome_clinician):
    event = access_event_record(kind=AccessEventKind.LOGIN, user=rome_clinician)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AccessEvent.objects.filter(pk=event.pk).delete()
    assert AccessEvent.objects.filter(pk=event.pk).exists()


# --- the access-log page -------------------------------------------------------------------------------------


@pytest.fixture
def log_rows(rome_clinician, monitor, identified_patient):
    access_event_record(kind=AccessEventKind.LOGIN, user=rome_clinician)
    access_event_record(kind=AccessEventKind.LOGIN_FAILED, username="mallory")
    access_event_record(kind=AccessEventKind.IDENTITY_VIEW, user=rome_clinician, patient=identified_patient)
    access_event_record(kind=AccessEventKind.LOGIN, user=monitor)
    ExportLog.objects.create(
        user=rome_clinician, format="xlsx", mode=ExportMode.IDENTIFIED, purpose="Ward round list",
        row_counts={"patients": 1},
    )


def _rows(response) -> list[dict]:
    assert response.status_code == 200
    return response.context["page"].object_list


def test_registry_wide_monitor_reads_logins_identity_views_and_exports(client, monitor, log_rows):
    client.force_login(monitor)
    rows = _rows(client.get(reverse("access_log")))
    kinds = [r["ev_kind"] for r in rows]
    assert sorted(kinds) == sorted(["login", "login_failed", "identity_view", "login", "export", "login"])
    export = next(r for r in rows if r["ev_kind"] == "export")
    assert export["ev_username"] == "rome.clinician" and export["ev_details"]["mode"] == "identified"
    html = client.get(reverse("access_log")).content.decode()
    assert "ROM-001" in html and "Rossellini" not in html and "Ward round list" in html
    assert [r["ev_at"] for r in rows] == sorted((r["ev_at"] for r in rows), reverse=True)


def test_filters_by_kind_user_and_dates(client, coordinator, log_rows):
    client.force_login(coordinator)
    url = reverse("access_log")
    assert [r["ev_username"] for r in _rows(client.get(url, {"kind": "login_failed"}))] == ["mallory"]
    exports = _rows(client.get(url, {"kind": "export"}))
    assert [r["ev_kind"] for r in exports] == ["export"]
    mine = _rows(client.get(url, {"username": "ROME.CLINICIAN"}))
    assert {r["ev_kind"] for r in mine} == {"login", "identity_view", "export"}
    today = timezone.localdate()
    assert len(_rows(client.get(url, {"date_from": today.isoformat(), "date_to": today.isoformat()}))) == 6
    assert _rows(client.get(url, {"date_to": (today - dt.timedelta(days=1)).isoformat()})) == []


def test_a_reversed_date_range_gets_a_field_message(client, monitor, log_rows):
    client.force_login(monitor)
    response = client.get(reverse("access_log"), {"date_from": "2026-05-02", "date_to": "2026-05-01"})
    assert response.status_code == 200 and response.context["page"] is None
    assert "The end date is before the start date." in response.content.decode()


def test_the_log_is_paginated(client, monitor, rome_clinician):
    for _ in range(55):
        access_event_record(kind=AccessEventKind.LOGIN, user=rome_clinician)
    client.force_login(monitor)  # one more log-in event: 56 in all
    first = client.get(reverse("access_log"), {"kind": "login"})
    assert len(first.context["page"].object_list) == 50
    assert "kind=login&amp;page=2" in first.content.decode()  # the next page keeps the filter
    second = client.get(reverse("access_log"), {"kind": "login", "page": 2})
    assert len(second.context["page"].object_list) == 6
    assert "Page 2 of 2" in second.content.decode()


@pytest.mark.parametrize("persona", ["rome_clinician", "rome_monitor", "rome_coordinator", "nobody", "staff_admin"])
def test_only_registry_wide_monitors_and_coordinators_open_the_page(request, client, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("access_log")).status_code == 404
    assert "Access log" not in client.get(reverse("no_centre"), follow=True).content.decode()


def test_anonymous_users_are_sent_to_log_in(client, db):
    response = client.get(reverse("access_log"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_the_navigation_shows_the_access_log_to_those_who_may_read_it(client, monitor):
    client.force_login(monitor)
    assert reverse("access_log") in client.get(reverse("home"), follow=True).content.decode()


# --- admin ----------------------------------------------------------------------------------------------------


def test_admin_lists_access_events_read_only(client, staff_admin, rome_clinician):
    event = access_event_record(kind=AccessEventKind.LOGIN_FAILED, username="mallory")
    client.force_login(staff_admin)
    listing = client.get("/admin/registry/accessevent/")
    assert listing.status_code == 200 and "mallory" in listing.content.decode()
    assert client.get("/admin/registry/accessevent/add/").status_code == 403
    change = client.post(f"/admin/registry/accessevent/{event.pk}/change/", {"username": "eve"})
    assert change.status_code == 403
    assert client.post(f"/admin/registry/accessevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    event.refresh_from_db()
    assert event.username == "mallory"
