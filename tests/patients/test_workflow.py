"""The clinician's workflow without a browser: the home worklist (scoped, next visit due, flags, constant
queries), the patient page's header, timeline and plots, one-click visit entry from "next due", field history
from any value, and accessible forms (errors announced and tied to their fields)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from adverse_events import services as tox_services
from outcomes import services as follow_services
from outcomes.models import Visit
from patients.models import Patient
from tests.factories import enrol
from tests.patients.course_data import DAYS_SINCE_INFUSION, demo_like_sle, tp

TODAY = timezone.localdate()
DAY0 = TODAY - dt.timedelta(days=DAYS_SINCE_INFUSION)


def day(n: int) -> dt.date:
    return DAY0 + dt.timedelta(days=n)


def body(response) -> str:
    return response.content.decode()


def text_of(html: str, css_class: str) -> list[str]:
    found = re.findall(rf'<(?:td|dd|th)[^>]* class="(?:[^"]*\s)?{css_class}(?:\s[^"]*)?"[^>]*>(.*?)</(?:td|dd|th)>', html, flags=re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", f).split()) for f in found]


@pytest.fixture
def sle(rome, rome_clinician):
    return demo_like_sle(rome, rome_clinician)


@pytest.fixture
def clinician(client, rome_clinician):
    client.force_login(rome_clinician)
    return client


def visit_add_url(patient, code: str) -> str:
    return reverse("outcomes:visit_add", args=[patient.pk]) + f"?timepoint={code}"


# --- the home worklist --------------------------------------------------------------------------------------


def test_home_is_the_worklist_with_study_day_next_visit_window_and_flags(clinician, sle):
    response = clinician.get(reverse("home"))
    assert response.status_code == 200
    (row,) = response.context["rows"]
    assert (row.code, row.study_day, row.age_at_infusion) == (sle.code, 70, 13)
    # Month 2 (D+54…D+68) closed two days ago: overdue; Month 3 (D+77…D+105) opens within 14 days: due.
    assert (row.next_due.code, row.next_due.status, row.overdue, row.also_outstanding) == ("m2", "overdue", True, 1)
    assert (row.next_due.window_start, row.next_due.window_end) == (day(54), day(68))
    assert row.open_episode is False  # the CRS episode of days 1-2 ended with the grade-0 assessment of day 3
    html = body(response)
    assert visit_add_url(sle, "m2") in html  # one click to the right form
    assert text_of(html, "study-day") == ["D+70"]
    assert "visit overdue" in text_of(html, "flags")[0]
    assert "D+54 … D+68" in text_of(html, "window")[0]


def test_open_crs_episode_is_flagged_on_the_worklist(clinician, sle, rome_clinician):
    tox_services.crs_assessment_record(
        patient=sle,
        assessed_at=timezone.make_aware(dt.datetime.combine(day(60), dt.time(10))),
        max_temperature_c=Decimal("38.8"),
        recorded_by=rome_clinician,
    )
    (row,) = clinician.get(reverse("home")).context["rows"]
    assert row.open_episode is True
    assert "open CRS/ICANS episode" in body(clinician.get(reverse("patients:list")))


def test_worklist_searches_and_filters(clinician, sle, rome, rome_clinician):
    jdm = enrol(rome, rome_clinician, diagnosis="jdm")

    def codes(**params):
        return [row.code for row in clinician.get(reverse("home"), params).context["rows"]]

    assert codes() == [sle.code, jdm.code]
    assert codes(q=jdm.code[-3:]) == [jdm.code]
    assert codes(diagnosis="sle") == [sle.code]
    assert codes(status="completed") == []


def test_readers_see_their_centres_without_the_record_link(client, sle, erlangen, erlangen_clinician, monitor, rome_coordinator):
    other = enrol(erlangen, erlangen_clinician, diagnosis="jdm")
    client.force_login(monitor)  # registry-wide
    response = client.get(reverse("home"))
    assert [r.code for r in response.context["rows"]] == [other.code, sle.code]  # by centre code: ERL, ROM
    assert response.context["several_centres"] and ">ERL<" in body(response)
    assert visit_add_url(sle, "m2") not in body(response) and response.context["rows"][1].next_due.code == "m2"
    client.force_login(rome_coordinator)
    assert [r.code for r in client.get(reverse("home")).context["rows"]] == [sle.code]
    client.force_login(erlangen_clinician)
    assert [r.code for r in client.get(reverse("home")).context["rows"]] == [other.code]


def _followed_patient(centre, user, i: int) -> Patient:
    """A patient with day 0, a day-28 visit and an open CRS episode (cheap: day 0 set directly)."""
    patient = enrol(centre, user, diagnosis="sle")
    Patient.objects.filter(pk=patient.pk).update(day0=day(-i))
    patient.refresh_from_db()
    follow_services.visit_record(
        patient=patient,
        timepoint=tp("d28"),
        visit_date=day(28),
        recorded_by=user,
        instrument={"descriptors": ["rash"], "physician_global": Decimal("1")},
    )
    tox_services.crs_assessment_record(
        patient=patient,
        assessed_at=timezone.make_aware(dt.datetime.combine(day(2), dt.time(10))),
        max_temperature_c=Decimal("38.5"),
        recorded_by=user,
    )
    return patient


# 1 session, 2 user, 3 memberships, 4 count (paginator), 5 the page's patients with the date of birth and the
# grade of their latest CRS and ICANS assessment (subqueries), 6 follow-up timepoints, 7 the visited
# timepoints of the page's patients (schedule_statuses).
WORKLIST_QUERIES = 7


@pytest.mark.parametrize("n", [2, 6])
def test_worklist_runs_a_constant_number_of_queries(client, django_assert_num_queries, rome, rome_clinician, n):
    for i in range(n):
        _followed_patient(rome, rome_clinician, i)
    client.force_login(rome_clinician)
    with django_assert_num_queries(WORKLIST_QUERIES):
        response = client.get(reverse("home"))
    rows = response.context["rows"]
    assert len(rows) == n
    assert all(r.open_episode and r.next_due is not None for r in rows)


# --- the patient page ---------------------------------------------------------------------------------------


def test_patient_page_header_shows_where_the_child_is(clinician, sle):
    html = body(clinician.get(reverse("patients:detail", args=[sle.pk])))
    assert text_of(html, "today-day") == ["D+70"]
    assert text_of(html, "header-follow-up") == ["0.9 months (last visit D+28)"]
    assert text_of(html, "header-immunomodulator-free") == [f"since {day(-20).isoformat()} (D−20)"]
    assert text_of(html, "header-latest-status") == ["active (D+28)"]  # SLEDAI-2K 6 at D+28: not LLDAS
    assert "Record Month 2" in text_of(html, "header-next-due")[0]
    assert visit_add_url(sle, "m2") in html


def test_timeline_runs_from_apheresis_to_the_next_visit(clinician, sle):
    response = clinician.get(reverse("patients:detail", args=[sle.pk]))
    kinds = [e.kind for e in response.context["glance"].timeline]
    assert kinds == ["apheresis", "visit", "lymphodepletion", "infusion", "crs", "visit", "next"]  # D−34, D−30 …
    html = body(response)
    labels = re.findall(r'<li class="event event-(\w+)[^"]*">', html)
    assert labels == kinds
    assert "grade 1, D+1 – D+3" in html and "Next: Month 2" in html


def test_patient_page_plots_are_accessible_svg_with_the_data(clinician, sle):
    html = body(clinician.get(reverse("patients:detail", args=[sle.pk])))
    for plot_id in ("plot-activity", "plot-car-t", "plot-anc", "plot-crs-icans", "plot-prednisone"):
        svg = re.search(rf'<svg [^>]*id="{plot_id}".*?</svg>', html, flags=re.S).group(0)
        assert 'role="img"' in svg and f'aria-labelledby="{plot_id}-title {plot_id}-desc"' in svg
        assert f'<title id="{plot_id}-title">' in svg and f'<desc id="{plot_id}-desc">' in svg
        assert 'class="axis-label"' in svg
    activity = re.search(r'<svg [^>]*id="plot-activity".*?</svg>', html, flags=re.S).group(0)
    # SLEDAI-2K at screening (arthritis 4 + rash 2 + complement 2 + DNA 2 + proteinuria 4) and at D+28.
    assert 'data-x="-30" data-y="14"' in activity and 'data-x="28" data-y="6"' in activity
    assert "LLDAS" in activity
    anc = re.search(r'<svg [^>]*id="plot-anc".*?</svg>', html, flags=re.S).group(0)
    assert re.findall(r'class="threshold" data-value="(\d+)"', anc) == ["1500", "500", "100"]
    assert 'data-x="7" data-y="90"' in anc
    car_t = re.search(r'<svg [^>]*id="plot-car-t".*?</svg>', html, flags=re.S).group(0)
    assert 'data-x="10" data-y="24.7"' in car_t and 'data-x="14" data-y="0"' in car_t  # CD19 0 on the 0 band
    crs = re.search(r'<svg [^>]*id="plot-crs-icans".*?</svg>', html, flags=re.S).group(0)
    assert 'data-x="1" data-y="1"' in crs and 'data-x="3" data-y="0"' in crs
    prednisone = re.search(r'<svg [^>]*id="plot-prednisone".*?</svg>', html, flags=re.S).group(0)
    assert 'data-y="15"' in prednisone and 'data-x="-19" data-y="0"' in prednisone
    assert "style=" not in html and "<script>" not in html


def test_patient_without_day0_has_a_timeline_but_no_plots(clinician, rome, rome_clinician):
    patient = enrol(rome, rome_clinician, diagnosis="jdm")
    response = clinician.get(reverse("patients:detail", args=[patient.pk]))
    assert response.context["glance"].plots == []
    assert "The plots start at day 0" in body(response)


# --- one click from "next due" to the saved point on the plot ------------------------------------------------


def test_next_due_opens_the_form_for_that_timepoint_and_saving_adds_the_point(clinician, sle):
    response = clinician.get(visit_add_url(sle, "m3"))
    form = response.context["form"]
    assert form.initial["timepoint"] == tp("m3").pk and form.initial["visit_date"] == TODAY
    html = body(response)
    assert "Month 3 window D+77 … D+105" in html and "Outside the window" in html  # day 70: early
    response = clinician.post(
        visit_add_url(sle, "m3"),
        {
            "timepoint": tp("m3").pk,
            "visit_date": TODAY.isoformat(),
            "assessed_by": "Dr Rossi",
            "descriptors": ["low_complement", "increased_dna_binding"],
            "physician_global": "0,3",
            "notes": "",
            "action": "save",
        },
    )
    assert response.status_code == 302 and response["Location"].startswith(reverse("patients:detail", args=[sle.pk]))
    html = body(clinician.get(response["Location"]))
    activity = re.search(r'<svg [^>]*id="plot-activity".*?</svg>', html, flags=re.S).group(0)
    assert 'data-x="70" data-y="4"' in activity


# --- field history --------------------------------------------------------------------------------------------


@pytest.fixture
def edited(sle, rome_clinician):
    visit = Visit.objects.get(patient=sle, timepoint__code="d28")
    follow_services.visit_update(
        visit=visit,
        expected_version=visit.row_version,
        recorded_by=rome_clinician,
        reason="transcription error: PGA was 0.4",
        instrument={
            "descriptors": ["rash", "low_complement", "increased_dna_binding"],
            "physician_global": Decimal("0.4"),
        },
    )
    return visit


def history(client, record, field=""):
    url = reverse("record_history", args=[record._meta.app_label, record._meta.model_name, record.pk])
    return client.get(url + (f"?field={field}" if field else ""))


def test_field_history_shows_who_when_old_new_and_why_for_one_field(client, edited, rome_clinician, monitor, erlangen_clinician):
    row = edited.sledai
    for user in (rome_clinician, monitor):  # the monitor reads the same page (read-only)
        client.force_login(user)
        response = history(client, row, "physician_global")
        assert response.status_code == 200
        changed, created = response.context["entries"]
        assert (changed.action, changed.user, changed.reason) == ("changed", "rome.clinician", "transcription error: PGA was 0.4")
        assert [(c.field, str(c.old), str(c.new)) for c in changed.changes] == [("physician_global", "1.0", "0.4")]
        assert created.action == "created" and [c.field for c in created.changes] == ["physician_global"]
        html = body(response)
        assert "History of physician global assessment (0–3)" in html and "transcription error" in html
        assert reverse("outcomes:visit_edit", args=[edited.patient_id, edited.pk]) not in html
    # Other fields of the record are left out; the whole record is one click away.
    assert "descriptors" not in [c.field for e in response.context["entries"] for c in e.changes]
    assert history(client, row, "no_such_field").status_code == 404
    client.force_login(erlangen_clinician)
    assert history(client, row, "physician_global").status_code == 404


def test_values_on_the_pages_link_to_their_field_history(clinician, edited, sle):
    row = edited.sledai

    def link(record, field):
        return reverse("record_history", args=[record._meta.app_label, record._meta.model_name, record.pk]) + f"?field={field}"

    html = body(clinician.get(reverse("patients:detail", args=[sle.pk])))
    growth = sle.growth.first()
    lab = sle.lab_results.filter(analyte="anc").last()
    for url in (
        link(row, "physician_global"),
        link(row, "sledai_2k"),
        link(sle, "diagnosis"),
        link(growth, "weight_kg"),
        link(lab, "value"),
    ):
        assert url in html, url
    html = body(clinician.get(reverse("outcomes:visit_detail", args=[sle.pk, edited.pk])))
    for url in (link(row, "physician_global"), link(row, "descriptors"), link(edited, "visit_date")):
        assert url in html, url
    assert 'aria-label="0.4 — History of physician global assessment (0–3)"' in html


# --- accessible forms -----------------------------------------------------------------------------------------


def test_visit_form_errors_are_announced_and_tied_to_their_fields(clinician, sle):
    response = clinician.post(
        visit_add_url(sle, "m3"),
        {"timepoint": tp("m3").pk, "visit_date": TODAY.isoformat(), "physician_global": "", "upcr_g_g": "x", "action": "save"},
    )
    assert response.status_code == 200
    html = body(response)
    summary = re.search(r'<div class="form-errors error-summary" role="alert".*?</div>', html, flags=re.S).group(0)
    assert 'href="#id_physician_global"' in summary and 'href="#id_upcr_g_g"' in summary
    field = re.search(r'<input[^>]*name="physician_global"[^>]*>', html).group(0)
    assert 'aria-invalid="true"' in field and "id_physician_global_error" in field
    assert 'id="id_physician_global_error"' in html
    # Fieldsets with legends, labels with their units, no JavaScript needed to save (a plain submit button).
    assert "<legend>SLEDAI-2K descriptors</legend>" in html and "UPCR (g/g)" in html
    assert '<button type="submit" name="action" value="save">' in html
    assert not Visit.objects.filter(patient=sle, timepoint__code="m3").exists()
