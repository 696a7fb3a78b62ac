"""Follow-up summaries at the service level (tasks run in-process here; the real worker is in
test_summaries_worker.py): digest content on a chosen date, idempotent reruns, e-mail, pages, failures, queries."""

from __future__ import annotations

import datetime as dt
import io
import zoneinfo
from decimal import Decimal

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from adverse_events import services as ae_services
from outcomes import services as outcome_services
from outcomes.selectors import schedule_statuses
from registry.models import Centre, FollowUpSummary, Membership
from registry.summaries import services, tasks
from tests.factories import enrol
from tests.registry.summaries_data import (
    ROME_COORDINATORS,
    TODAY,
    add_coordinators,
    at,
    build_clinic,
    infused,
    lab,
    tp,
)


@pytest.fixture
def people(rome, erlangen, rome_coordinator, rome_clinician, erlangen_clinician, coordinator):
    add_coordinators(
        rome=rome,
        erlangen=erlangen,
        rome_coordinator=rome_coordinator,
        coordinator=coordinator,
        rome_clinician=rome_clinician,
    )
    return {"rome": rome, "erlangen": erlangen}


@pytest.fixture
def clinic(people, rome_clinician, erlangen_clinician):
    return build_clinic(
        rome=people["rome"],
        erlangen=people["erlangen"],
        rome_clinician=rome_clinician,
        erlangen_clinician=erlangen_clinician,
    )


def digest(centre, on=TODAY, **kwargs) -> FollowUpSummary:
    return services.summary_generate(centre=centre, kind="daily", period_start=on, **kwargs)


def lines(summary, section):
    return [(line["code"], line.get("timepoint")) for line in summary.content["sections"][section]]


# --- content ----------------------------------------------------------------------------------------------


def test_digest_lists_exactly_the_due_and_overdue_visits_of_the_schedule(clinic):
    anna, bruno = clinic["anna"], clinic["bruno"]
    summary = digest(clinic["rome"])

    assert lines(summary, "overdue") == [(anna.code, "m2")]
    assert lines(summary, "due") == [(anna.code, "m3")]
    # ... which is exactly what the schedule says for the centre's patients on that date
    statuses = schedule_statuses([anna, bruno], TODAY)
    by_schedule = {
        (p.code, s.code, "overdue" if s.status == "overdue" else "due")
        for p in (anna, bruno)
        for s in statuses[p.pk]
        if s.status in ("due", "in_window", "overdue")
    }
    listed = {(c, t, "overdue") for c, t in lines(summary, "overdue")} | {
        (c, t, "due") for c, t in lines(summary, "due")
    }
    assert listed == by_schedule
    assert clinic["carla"].code not in summary.text  # another centre's patient


def test_digest_sections_flag_missing_data_toxicity_and_reconstitution(clinic):
    anna, bruno = clinic["anna"], clinic["bruno"]
    c = digest(clinic["rome"]).content["sections"]

    incomplete = {line["code"]: line for line in c["incomplete_visits"]}
    # Anna's day-28 SLE visit: SLEDAI-2K recorded, blood count sampled the day before; the rest is missing.
    assert incomplete[anna.code]["missing"] == [
        "lymphocyte_subsets",
        "immunoglobulins",
        "car_t",
        "serology",
        "renal",
    ]
    # Bruno's month-2 JDM visit was recorded without its instrument.
    assert "jdm" in incomplete[bruno.code]["missing"] and "cbc" not in incomplete[bruno.code]["missing"]

    assert [(e["code"], e["kind"], e["max_grade"]) for e in c["open_episodes"]] == [(bruno.code, "CRS", 3)]
    assert [(e["code"], e["description"]) for e in c["new_severe_events"]] == [(bruno.code, "CRS")]
    assert [(e["code"], e["grade"], e["nadir_anc"]) for e in c["late_cytopenias"]] == [(bruno.code, 2, 900.0)]
    assert [(e["code"], e["day"]) for e in c["new_b_cell_reconstitutions"]] == [(bruno.code, 57)]
    silent = c["silent_patients"]
    assert [(s["code"], s["timepoint"], s["last_data"]) for s in silent] == [
        (anna.code, "m2", (anna.day0 + dt.timedelta(days=28)).isoformat())
    ]


def test_every_line_links_to_the_patient_page(clinic):
    anna = clinic["anna"]
    summary = digest(clinic["rome"])
    url = reverse("patients:detail", args=[anna.pk])
    assert all(line["url"] for section in summary.content["sections"].values() for line in section)
    assert f'href="{url}"' in summary.html
    assert url in summary.text


def test_new_events_are_those_recorded_since_the_previous_digest(clinic, rome_clinician):
    rome, bruno = clinic["rome"], clinic["bruno"]
    first_run = timezone.now()
    today = digest(rome, now=first_run)
    assert lines(today, "new_severe_events") == [(bruno.code, None)]
    assert lines(today, "new_b_cell_reconstitutions") == [(bruno.code, None)]

    tomorrow_date = TODAY + dt.timedelta(days=1)
    tomorrow = digest(rome, tomorrow_date, now=first_run)
    assert tomorrow.content["window"]["start"] == today.content["window"]["end"]
    assert tomorrow.content["sections"]["new_severe_events"] == []  # already reported
    assert tomorrow.content["sections"]["new_b_cell_reconstitutions"] == []
    assert lines(tomorrow, "open_episodes") == [(bruno.code, None)]  # still open: listed every day

    ae_services.adverse_event_record(
        patient=bruno,
        term="Hypogammaglobulinaemia",
        grade=3,
        attribution="car_t",
        started_on=TODAY,
        outcome="ongoing",
        recorded_by=rome_clinician,
    )
    rerun = digest(rome, tomorrow_date)
    assert rerun.pk == tomorrow.pk
    assert [e["description"] for e in rerun.content["sections"]["new_severe_events"]] == [
        "Hypogammaglobulinaemia"
    ]


# --- storage and idempotency ------------------------------------------------------------------------------


def test_rerun_changes_nothing(clinic):
    first = digest(clinic["rome"])
    stored = FollowUpSummary.objects.get(pk=first.pk)
    second = digest(clinic["rome"])
    again = FollowUpSummary.objects.get(pk=first.pk)

    assert second.pk == first.pk
    assert FollowUpSummary.objects.filter(centre=clinic["rome"], kind="daily").count() == 1
    assert (again.content, again.html, again.text, again.generated_at, again.emailed_at) == (
        stored.content,
        stored.html,
        stored.text,
        stored.generated_at,
        stored.emailed_at,
    )
    assert len(mail.outbox) == 2  # the two Rome coordinators, once


def test_rerun_after_new_data_replaces_the_row_and_does_not_email_again(clinic, rome_clinician):
    first = digest(clinic["rome"])
    outcome_services.visit_record(
        patient=clinic["anna"],
        timepoint=tp("m2"),
        visit_date=TODAY - dt.timedelta(days=1),
        recorded_by=rome_clinician,
    )
    second = digest(clinic["rome"])
    assert second.pk == first.pk
    assert FollowUpSummary.objects.count() == 1
    assert lines(second, "overdue") == []
    assert FollowUpSummary.objects.get().content["sections"]["overdue"] == []
    assert len(mail.outbox) == 2
    digest(clinic["rome"], resend_email=True)
    assert len(mail.outbox) == 4


def test_concurrent_insert_is_resolved_by_the_unique_constraint(clinic, monkeypatch):
    """The race: two runs find no row; the other one inserts first; ours is refused by the unique constraint
    and replaces the winner's row instead of adding a second one."""
    rome = clinic["rome"]
    winner = FollowUpSummary.objects.create(
        centre=rome,
        kind="daily",
        period_start=TODAY,
        period_end=TODAY,
        generated_at=timezone.now(),
        content={"stale": True},
        html="stale",
    )
    real = services._find_locked
    lookups = []

    def late(lookup):
        lookups.append(lookup)
        return None if len(lookups) == 1 else real(lookup)  # first SELECT ran before the winner committed

    monkeypatch.setattr(services, "_find_locked", late)
    summary = digest(rome, email=False)
    assert (summary.pk, len(lookups)) == (winner.pk, 2)
    assert FollowUpSummary.objects.get().content["sections"]["overdue"]


def test_daily_digest_needs_a_centre_and_registry_summaries_none(rome):
    with pytest.raises(ValueError, match="centre"):
        services.summary_generate(centre=None, kind="daily", period_start=TODAY)
    with pytest.raises(ValueError, match="centre"):
        services.summary_generate(centre=rome, kind="weekly", period_start=dt.date(2026, 3, 2))
    with pytest.raises(ValueError, match="Monday"):
        services.summary_generate(centre=None, kind="weekly", period_start=dt.date(2026, 3, 3))


@pytest.mark.parametrize(
    ("kind", "on", "period"),
    [
        ("daily", dt.date(2026, 3, 4), (dt.date(2026, 3, 4), dt.date(2026, 3, 4))),
        ("weekly", dt.date(2026, 3, 2), (dt.date(2026, 2, 23), dt.date(2026, 3, 1))),  # a Monday
        ("weekly", dt.date(2026, 3, 4), (dt.date(2026, 2, 23), dt.date(2026, 3, 1))),
        ("monthly", dt.date(2026, 3, 1), (dt.date(2026, 2, 1), dt.date(2026, 2, 28))),
        ("monthly", dt.date(2024, 3, 15), (dt.date(2024, 2, 1), dt.date(2024, 2, 29))),
    ],
)
def test_summary_period(kind, on, period):
    assert services.summary_period(kind, on) == period


# --- e-mail -----------------------------------------------------------------------------------------------


def test_digest_is_emailed_to_the_centre_coordinators_only_as_text_and_html(clinic):
    summary = digest(clinic["rome"])
    to = sorted(address for message in mail.outbox for address in message.to)
    assert to == ROME_COORDINATORS
    assert summary.recipients == sorted(to) and summary.emailed_at is not None
    message = mail.outbox[0]
    assert "ROM daily digest" in message.subject and "1 overdue" in message.subject
    assert clinic["anna"].code in message.body and "<" not in message.body.split("\n")[0]
    ((html, mimetype),) = message.alternatives
    assert mimetype == "text/html" and clinic["anna"].code in html and "<table" in html


def test_email_links_are_absolute_when_the_site_url_is_set(clinic, settings):
    settings.REGISTRY_SITE_URL = "https://registry.example.org/"
    digest(clinic["rome"])
    url = reverse("patients:detail", args=[clinic["anna"].pk])
    assert f"https://registry.example.org{url}" in mail.outbox[0].body
    assert f'href="https://registry.example.org{url}"' in mail.outbox[0].alternatives[0][0]


def test_weekly_registry_summary_goes_to_registry_wide_coordinators(clinic):
    monday = TODAY - dt.timedelta(days=TODAY.weekday())
    summary = services.summary_generate(
        centre=None, kind="weekly", period_start=monday - dt.timedelta(days=7)
    )
    assert [m.to for m in mail.outbox] == [["registry.coordinator@example.org"]]
    c = summary.content
    assert {r["code"]: (r["patients"], r["by_diagnosis"]) for r in c["centres"]} == {
        "ERL": (1, {"sle": 0, "jdm": 1, "ssc": 0}),
        "ROM": (2, {"sle": 1, "jdm": 1, "ssc": 0}),
    }
    assert c["totals"]["infused"] == 3
    assert c["previous"] is None and c["changes"] is None
    safety = {s["metric"]: s["value"] for s in c["safety"]}
    assert safety["crs_grade_3_plus"] == 1 and safety["icaht_late_any"] == 1
    d28 = next(tp for tp in c["completeness"] if tp["timepoint"] == "d28")
    assert (d28["expected"], d28["completed"]) == (3, 1)  # all three past day 28 + window; Anna's visit
    assert {i["item"]: (i["present"], i["expected"]) for i in d28["items"]}["sledai"] == (1, 1)


def test_registry_summary_reports_changes_since_the_previous_one(clinic, rome_clinician, rome):
    monday = TODAY - dt.timedelta(days=TODAY.weekday())
    services.summary_generate(centre=None, kind="weekly", period_start=monday - dt.timedelta(days=14))
    enrol(rome, rome_clinician, diagnosis="ssc")
    summary = services.summary_generate(
        centre=None, kind="weekly", period_start=monday - dt.timedelta(days=7)
    )
    changes = {
        ch["metric"]: (ch["previous"], ch["current"], ch["delta"]) for ch in summary.content["changes"]
    }
    assert changes["patients"] == (3, 4, 1)
    assert "infused" not in changes and "crs_any" not in changes  # unchanged figures are not listed
    assert "patients enrolled: 3 → 4" in summary.text


# --- pages ------------------------------------------------------------------------------------------------


@pytest.fixture
def stored(clinic):
    monday = TODAY - dt.timedelta(days=TODAY.weekday())
    return {
        "rome": digest(clinic["rome"], email=False),
        "erlangen": digest(clinic["erlangen"], email=False),
        "registry": services.summary_generate(
            centre=None, kind="weekly", period_start=monday - dt.timedelta(days=7), email=False
        ),
    }


def get(client, user, name, *args):
    client.force_login(user)
    return client.get(reverse(name, args=args))


def test_coordinator_lists_and_reads_own_centre_digests(client, stored, rome_coordinator, clinic):
    listing = get(client, rome_coordinator, "summaries:list")
    assert listing.status_code == 200
    body = listing.content.decode()
    assert reverse("summaries:detail", args=[stored["rome"].pk]) in body
    assert reverse("summaries:detail", args=[stored["erlangen"].pk]) not in body
    assert reverse("summaries:detail", args=[stored["registry"].pk]) not in body

    page = get(client, rome_coordinator, "summaries:detail", stored["rome"].pk)
    assert page.status_code == 200
    html = page.content.decode()
    assert clinic["anna"].code in html and reverse("patients:detail", args=[clinic["anna"].pk]) in html


@pytest.mark.parametrize("which", ["erlangen", "registry"])
def test_coordinator_gets_404_for_another_centre_and_the_registry_summary(
    client, stored, rome_coordinator, which
):
    assert get(client, rome_coordinator, "summaries:detail", stored[which].pk).status_code == 404


@pytest.mark.parametrize("persona", ["rome_clinician", "rome_monitor", "monitor", "nobody"])
def test_clinicians_monitors_and_others_get_404(client, stored, persona, request):
    user = request.getfixturevalue(persona)
    assert get(client, user, "summaries:detail", stored["rome"].pk).status_code == 404
    assert get(client, user, "summaries:list").status_code == 404


def test_registry_wide_coordinator_reads_everything(client, stored, coordinator):
    for summary in stored.values():
        assert get(client, coordinator, "summaries:detail", summary.pk).status_code == 200
    listing = get(client, coordinator, "summaries:list")
    assert all(reverse("summaries:detail", args=[s.pk]) in listing.content.decode() for s in stored.values())


def test_missing_summary_is_the_same_404(client, stored, coordinator):
    assert get(client, coordinator, "summaries:detail", 999_999).status_code == 404


def test_pages_need_login(client, stored):
    response = client.get(reverse("summaries:detail", args=[stored["rome"].pk]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


# --- tasks (in-process here), the command and the schedule -------------------------------------------------


def local(centre_tz: str, hour: int, minute: int = 0) -> str:
    return dt.datetime.combine(TODAY, dt.time(hour, minute), tzinfo=zoneinfo.ZoneInfo(centre_tz)).isoformat()


def test_dispatch_waits_for_local_six_oclock_and_runs_once_per_local_date(clinic):
    tokyo = Centre.objects.create(code="TYO", name="Tokyo", country="JP", time_zone="Asia/Tokyo")
    # 05:30 in Rome: nobody yet in Rome/Erlangen; Tokyo (13:30) is past 06:00 for its own date
    queued = tasks.dispatch_daily_digests(now=local("Europe/Rome", 5, 30))
    assert queued == [tokyo.pk]
    assert tasks.dispatch_daily_digests(now=local("Europe/Rome", 6, 30)) == sorted(
        [clinic["rome"].pk, clinic["erlangen"].pk]
    )
    assert tasks.dispatch_daily_digests(now=local("Europe/Rome", 7, 30)) == []  # already there
    assert FollowUpSummary.objects.filter(kind="daily").count() == 3


def test_one_centre_failing_does_not_stop_the_others(clinic, monkeypatch, caplog):
    real = services.summary_generate

    def flaky(*, centre, **kwargs):
        if centre is not None and centre.code == "ROM":
            raise RuntimeError("Rome's database page is corrupt")
        return real(centre=centre, **kwargs)

    monkeypatch.setattr(services, "summary_generate", flaky)
    queued = tasks.dispatch_daily_digests(now=local("Europe/Rome", 6, 30))
    assert queued == [clinic["erlangen"].pk]
    assert list(FollowUpSummary.objects.values_list("centre__code", flat=True)) == ["ERL"]
    assert "Rome's database page is corrupt" in caplog.text

    with pytest.raises(CommandError, match="ROM"):
        call_command("followup_summaries", "--date", TODAY.isoformat())
    assert FollowUpSummary.objects.count() == 1  # Erlangen replaced in place, Rome still failing


def test_generate_task_accepts_ids_and_dates(clinic):
    pk = tasks.generate_summary.delay(clinic["rome"].pk, "daily", TODAY.isoformat()).get()
    assert FollowUpSummary.objects.get(pk=pk).centre == clinic["rome"]
    assert (
        tasks.generate_summary.delay(None, "monthly", "2026-03-01").get()
        == FollowUpSummary.objects.get(kind="monthly", period_start=dt.date(2026, 2, 1)).pk
    )


def test_command_runs_the_same_service_synchronously(clinic, capsys):
    call_command("followup_summaries", "--centre", "ROM", "--date", TODAY.isoformat())
    call_command("followup_summaries", "--centre", "ROM", "--date", TODAY.isoformat())
    out = capsys.readouterr().out
    assert out.count("ROM daily") == 2
    assert FollowUpSummary.objects.filter(centre__code="ROM", period_start=TODAY).count() == 1
    call_command("followup_summaries", "--kind", "weekly", "--date", TODAY.isoformat(), "--no-email")
    assert FollowUpSummary.objects.get(kind="weekly").emailed_at is None
    with pytest.raises(CommandError, match="registry-wide"):
        call_command("followup_summaries", "--kind", "monthly", "--centre", "ROM")


def test_beat_schedules_are_in_the_database_and_name_registered_tasks(db):
    from django_celery_beat.models import PeriodicTask

    from registry.celery import app

    rows = {t.task: t for t in PeriodicTask.objects.select_related("crontab")}
    dispatch = rows[tasks.DISPATCH]
    assert (dispatch.crontab.minute, dispatch.crontab.hour) == ("5", "*")
    schedules = {
        (t.crontab.day_of_week, t.crontab.day_of_month, t.kwargs)
        for t in PeriodicTask.objects.filter(task=tasks.GENERATE).select_related("crontab")
    }
    assert schedules == {
        ("1", "*", '{"centre_id": null, "kind": "weekly"}'),
        ("*", "1", '{"centre_id": null, "kind": "monthly"}'),
    }
    app.loader.import_default_modules()
    assert {tasks.DISPATCH, tasks.GENERATE} <= set(app.tasks)
    assert tasks.generate_summary.acks_late is True


# --- queries ----------------------------------------------------------------------------------------------


def busy_centre(code: str, n: int, user):
    """A centre with ``n`` infused children, each with a visit, labs and a CRS assessment."""
    centre = Centre.objects.create(code=code, name=f"Centre {code}", country="IT", time_zone="Europe/Rome")
    Membership.objects.create(user=user, centre=centre, role="clinician")
    for i in range(n):
        p = infused(centre, user, days_ago=70 + 5 * i, diagnosis=("sle", "jdm", "ssc")[i % 3])
        outcome_services.visit_record(
            patient=p, timepoint=tp("d28"), visit_date=p.day0 + dt.timedelta(days=28), recorded_by=user
        )
        lab(p, user, "anc", "800", 35)
        lab(p, user, "cd19", "0", 20)
        ae_services.crs_assessment_record(
            patient=p, assessed_at=at(p.day0, 1), recorded_by=user, max_temperature_c=Decimal("38.5")
        )
    return centre


def test_digest_query_count_does_not_grow_with_patients_per_centre(db, rome_clinician):
    small = busy_centre("SML", 2, rome_clinician)
    large = busy_centre("LRG", 6, rome_clinician)
    counts = []
    for centre in (small, large):
        with CaptureQueriesContext(connection) as queries:
            summary = digest(centre, email=False)
        counts.append(len(queries))
        assert summary.content["patients"]["infused"] in (2, 6)
    # previous digest; patients; timepoints; schedule; incomplete visits (visits, labs, CRS, ICANS); safety (6);
    # course (3); last data (labs, CRS, ICANS); new events (4); store (savepoint, lookup, insert, release)
    assert counts[0] == counts[1]
    assert counts[0] <= 32


def test_registry_summary_query_count_does_not_grow_with_patients(db, rome_clinician):
    runs = [
        ("SML", 2, "weekly", services.summary_period("weekly", TODAY)[0]),
        ("LRG", 4, "monthly", services.summary_period("monthly", TODAY)[0]),
    ]
    counts = []
    for code, n, kind, start in runs:
        busy_centre(code, n, rome_clinician)  # 2, then 6 patients in the registry
        with CaptureQueriesContext(connection) as queries:
            summary = services.summary_generate(centre=None, kind=kind, period_start=start, email=False)
        counts.append(len(queries))
    assert summary.content["totals"]["infused"] == 6
    assert counts[0] == counts[1]


# --- the demo registry --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_demo_digests_list_exactly_the_due_and_overdue_visits_of_the_schedule(db):
    """Acceptance: with the demo data on a chosen date (today: the demo is built relative to it)."""
    from patients.models import Patient

    call_command("load_demo", stdout=io.StringIO())
    for centre in Centre.objects.all():
        summary = digest(centre, email=False)
        patients = Patient.objects.filter(centre=centre, status="active", voided_at__isnull=True)
        statuses = schedule_statuses(patients, TODAY)
        for section, wanted in (("overdue", {"overdue"}), ("due", {"due", "in_window"})):
            expected = sorted(
                (p.code, s.code) for p in patients for s in statuses.get(p.pk, []) if s.status in wanted
            )
            assert sorted(lines(summary, section)) == expected, (centre.code, section)
    assert FollowUpSummary.objects.filter(kind="daily").count() == Centre.objects.count()


def test_list_page_queries_do_not_grow_with_summaries(client, stored, coordinator, django_assert_num_queries):
    client.force_login(coordinator)
    url = reverse("summaries:list")
    client.get(url)  # warm the session
    # session, user, memberships, count, page of summaries with their centres, centres for the filter
    with django_assert_num_queries(6):
        assert client.get(url).status_code == 200
    for day in range(1, 4):
        digest(stored["rome"].centre, TODAY - dt.timedelta(days=day), email=False)
    with django_assert_num_queries(6):
        assert client.get(url).status_code == 200
