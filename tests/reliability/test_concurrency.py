"""Two people (or two workers) at once, on PostgreSQL with real transactions and one connection per thread.

* two clinicians saving the same visit: exactly one wins, the other is told about the conflict, no update lost
  (service and browser form);
* two workers running the same daily digest: one stored summary, e-mailed once;
* an export while data change: every table of the export comes from one snapshot (before or after, never a
  mix);
* double submits: two first infusions of one child, two bags with one identifier, two enrolments at once.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse

from dosing import services as dosing
from dosing.models import Infusion, ProductBag
from outcomes import services as outcomes
from outcomes.models import ScheduleTimepoint, Visit
from patients import services as patients
from patients.models import OrganInvolvement, Patient
from tests.factories import enrol, path_to_infusion
from tests.registry.exports_factory import DAY0, infused

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def at_once(*calls: Callable[[], Any]) -> list[tuple[str, Any]]:
    """Run ``calls`` in threads released together; each thread has its own connection and closes it."""
    barrier = threading.Barrier(len(calls))
    results: list[tuple[str, Any]] = [("missing", None)] * len(calls)

    def worker(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = ("ok", call())
        except Exception as exc:  # noqa: BLE001 - reported to the test
            results[index] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(not t.is_alive() for t in threads)
    return results


def _sle_visit(rome, user) -> Visit:
    patient = infused(rome, user)
    return outcomes.visit_record(
        patient=patient,
        visit_date=DAY0 + dt.timedelta(days=28),
        timepoint=ScheduleTimepoint.objects.get(protocol="default", code="d28"),
        instrument={"physician_global": Decimal("0.5"), "descriptors": ["rash"]},
        notes="first entry",
        recorded_by=user,
    )


# --- the same visit saved twice -------------------------------------------------------------------------------


def test_two_clinicians_saving_the_same_visit_one_wins_the_other_gets_a_conflict(rome, rome_clinician):
    visit = _sle_visit(rome, rome_clinician)
    version = visit.row_version

    def save(notes: str) -> Callable[[], Visit]:
        def call() -> Visit:
            return outcomes.visit_update(
                visit=Visit.objects.get(pk=visit.pk),
                expected_version=version,
                changes={"notes": notes},
                reason="added the discharge letter",
                recorded_by=rome_clinician,
            )

        return call

    results = at_once(save("note of clinician A"), save("note of clinician B"))
    winners = [value for status, value in results if status == "ok"]
    losers = [value for status, value in results if status == "error"]
    assert len(winners) == 1 and len(losers) == 1
    assert isinstance(losers[0], outcomes.ConcurrentEdit)
    assert "changed by someone else" in losers[0].messages[0]
    stored = Visit.objects.get(pk=visit.pk)
    assert stored.notes == winners[0].notes  # the winner's edit is kept, not overwritten by the loser
    assert stored.row_version == version + 1
    assert stored.history.filter(history_type="~").count() == 1


def _form_data(form) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for bound in form:
        value = bound.value()
        if value is None or value is False:
            continue
        if value is True:
            value = "on"
        elif isinstance(value, dt.date):
            value = value.isoformat()
        data[bound.html_name] = value
    return data


def test_two_browsers_saving_the_same_visit_form_the_second_sees_the_conflict(rome, rome_clinician):
    visit = _sle_visit(rome, rome_clinician)
    url = reverse("outcomes:visit_edit", args=[visit.patient_id, visit.pk])
    browsers = [Client(), Client()]
    posts = []
    for index, browser in enumerate(browsers):
        browser.force_login(rome_clinician)
        page = browser.get(url)
        assert page.status_code == 200
        data = _form_data(page.context["form"])
        data.update(notes=f"edited in browser {index}", reason="letter received")
        posts.append(data)
    results = at_once(*(lambda b=b, d=d: b.post(url, d) for b, d in zip(browsers, posts, strict=True)))
    responses = [value for status, value in results if status == "ok"]
    assert len(responses) == 2, results
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 302]
    refused = next(r for r in responses if r.status_code == 200)
    assert "changed by someone else" in refused.content.decode()
    stored = Visit.objects.get(pk=visit.pk)
    assert stored.notes in {"edited in browser 0", "edited in browser 1"}
    assert stored.row_version == visit.row_version + 1


# --- the same digest twice ------------------------------------------------------------------------------------


def test_two_workers_running_the_same_digest_store_one_summary_and_mail_it_once(
    rome, rome_clinician, settings
):
    from registry.models import FollowUpSummary, Membership
    from registry.summaries.services import local_today, summary_generate

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    coordinator = Membership.objects.create(
        user=type(rome_clinician).objects.create_user(
            username="rome.coord", email="coord@example.org", password="x-not-used-1"
        ),
        centre=rome,
        role="coordinator",
    )
    assert coordinator.pk
    infused(rome, rome_clinician)
    day = local_today(rome)
    mail.outbox = []

    def run() -> Any:
        return summary_generate(centre=rome, kind="daily", period_start=day)

    results = at_once(run, run, run)
    assert [status for status, _value in results] == ["ok", "ok", "ok"], results
    assert FollowUpSummary.objects.filter(centre=rome, kind="daily", period_start=day).count() == 1
    assert len({value.pk for _status, value in results}) == 1
    recipients = FollowUpSummary.objects.get(centre=rome, kind="daily", period_start=day).recipients
    assert len(mail.outbox) == len(recipients) >= 1  # e-mailed once, not once per worker


# --- an export while data change ------------------------------------------------------------------------------


def test_an_export_reads_one_snapshot_while_another_clinician_saves(rome, rome_clinician, monkeypatch):
    from registry.exports import builder, selectors
    from registry.exports.services import policy_for
    from registry.models import CaseSeries

    patient = infused(rome, rome_clinician)
    series = CaseSeries.objects.create(name="Snapshot series")
    series.patients.add(patient)
    original = selectors._last_visit_dates
    committed = threading.Event()

    def another_clinician_saves() -> None:
        # One transaction, committed between two of the export's reads: a new organ (read before the hook)
        # and a new visit (read after it).
        try:
            with transaction.atomic():
                patients.organ_involvement_record(patient=patient, organ="skin", recorded_by=rome_clinician)
                outcomes.visit_record(
                    patient=patient,
                    visit_date=DAY0 + dt.timedelta(days=28),
                    timepoint=ScheduleTimepoint.objects.get(protocol="default", code="d28"),
                    instrument={"physician_global": Decimal("0.2"), "descriptors": []},
                    recorded_by=rome_clinician,
                )
            committed.set()
        finally:
            connection.close()

    def hooked(patient_ids: Any) -> Any:
        thread = threading.Thread(target=another_clinician_saves)
        thread.start()
        thread.join(timeout=60)
        return original(patient_ids)

    monkeypatch.setattr(selectors, "_last_visit_dates", hooked)
    request = builder.ExportRequest(series=series, fmt="csv", policy=policy_for("internal"))
    data = builder.load(request, centre_ids=None)
    assert committed.is_set()
    organ_seen = "skin" in data.organs[patient.pk]
    visit_seen = len(data.visits[patient.pk]) == 1
    assert organ_seen == visit_seen, "the export mixed data from before and after the other save"
    assert not organ_seen  # the snapshot is the one of the export's first read
    # The change itself was committed and a new export sees all of it.
    monkeypatch.setattr(selectors, "_last_visit_dates", original)
    after = builder.load(request, centre_ids=None)
    assert "skin" in after.organs[patient.pk] and len(after.visits[patient.pk]) == 1
    assert OrganInvolvement.objects.filter(patient=patient, organ="skin").count() == 1


# --- double submits -------------------------------------------------------------------------------------------


def test_a_double_submitted_infusion_is_saved_once_and_the_second_gets_a_clear_error(rome, rome_clinician):
    patient = enrol(rome, rome_clinician)
    today = dt.date.today()
    path = path_to_infusion(patient, rome_clinician, today=today)

    def infuse(bag: ProductBag) -> Callable[[], Any]:
        return lambda: dosing.infusion_record(
            patient=Patient.objects.get(pk=patient.pk),
            run=path.run,
            infused_on=today,
            growth=path.growth,
            car_t_cells_infused=3.0e7,
            volume_infused_ml=Decimal("15"),
            bags=[bag],
            recorded_by=rome_clinician,
        )

    results = at_once(infuse(path.bags[0]), infuse(path.bags[1]))
    assert sorted(status for status, _v in results) == ["error", "ok"], results
    error = next(v for s, v in results if s == "error")
    assert isinstance(error, ValidationError) and "Day 0 is already recorded" in str(error)
    assert Infusion.objects.filter(patient=patient).count() == 1
    assert Patient.objects.get(pk=patient.pk).day0 == today


def test_a_bag_entered_twice_at_once_is_saved_once(rome, rome_clinician):
    patient = enrol(rome, rome_clinician)
    path = path_to_infusion(patient, rome_clinician, bag_cells=())

    def add() -> Any:
        return dosing.product_bag_record(
            run=path.run,
            identifier="BAG-7",
            car_t_cells=2e7,
            volume_ml=Decimal("20"),
            recorded_by=rome_clinician,
        )

    results = at_once(add, add)
    assert sorted(status for status, _v in results) == ["error", "ok"], results
    error = next(v for s, v in results if s == "error")
    assert isinstance(error, ValidationError) and "BAG-7" in str(error)
    assert ProductBag.objects.filter(run=path.run, identifier="BAG-7").count() == 1


def test_two_enrolments_at_once_get_two_different_codes(rome, rome_clinician):
    def enrol_one() -> Patient:
        return patients.patient_enrol(centre=rome, sex="female", diagnosis="sle", recorded_by=rome_clinician)

    results = at_once(enrol_one, enrol_one, enrol_one)
    assert [status for status, _v in results] == ["ok", "ok", "ok"], results
    codes = sorted(value.code for _s, value in results)
    assert codes == ["ROM-001", "ROM-002", "ROM-003"]
    assert Patient.objects.filter(centre=rome).count() == 3
