"""The clinician's workflow in real Chromium: from the home worklist to a patient, a month-3 SLE visit with
the SLEDAI-2K score shown live before saving, the new point on the plot after saving, an edit with a reason
and the field's history (old → new, reason); another centre's clinician gets 404 and a monitor cannot edit.

Set ``REGISTRY_SCREENSHOTS=1`` to (re)write the screenshots of the main pages in ``docs/screenshots/``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "correct-horse-battery"


@pytest.fixture
def schedule(db):
    """Transactional tests flush the database, default visit schedule included: put it back."""
    from outcomes.models import ScheduleTimepoint
    from outcomes.schedule import default_timepoints

    for spec in default_timepoints():
        ScheduleTimepoint.objects.update_or_create(protocol="default", code=spec["code"], defaults=spec)


@pytest.fixture
def sle_child(schedule, rome, rome_clinician):
    """Like the demo's ROM-006: SLE, day 70, month 2 overdue, month 3 due (built through the services)."""
    from tests.patients.course_data import demo_like_sle

    return demo_like_sle(rome, rome_clinician)


def shot(page, name: str, *, locator: str | None = None) -> None:
    if not os.environ.get("REGISTRY_SCREENSHOTS"):
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = page.locator(locator) if locator else page
    target.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/")


def csp_watch(page) -> list[str]:
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    return violations


def test_clinician_records_month_3_sle_visit_sees_score_plot_edit_and_history(
    browser, live_server, sle_child, rome, rome_clinician
):
    from playwright.sync_api import expect

    from tests.factories import enrol

    enrol(rome, rome_clinician, diagnosis="jdm")  # a second child on the worklist
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(15_000)
    violations = csp_watch(page)

    # Home: the worklist, with the study day, the next visit due (overdue) and a link to its form.
    log_in(page, base, "rome.clinician")
    row = page.locator(f'tr[data-code="{sle_child.code}"]')
    expect(row.locator("td.study-day")).to_have_text("D+70")
    expect(row.locator("td.next-due")).to_contain_text("Month 2")
    expect(row.locator("td.flags")).to_contain_text("visit overdue")
    shot(page, "home")

    # The patient page: header, timeline, plots; the schedule offers the month-3 visit.
    row.get_by_role("link", name=sle_child.code, exact=True).click()
    expect(page.locator("dd.today-day")).to_have_text("D+70")
    expect(page.locator("#plot-activity")).to_be_visible()
    shot(page, "patient")
    page.get_by_role("link", name="Record Month 3 visit").click()

    # The visit form of the diagnosis, preset to month 3; the score is computed as the checklist is filled.
    expect(page.get_by_label("Timepoint")).to_have_value(str(_timepoint_pk("m3")))
    page.get_by_label("Assessed by").fill("Dr Rossi")
    for code in ("rash", "low_complement", "increased_dna_binding"):
        page.locator(f"#id_descriptors_{code}").check()
    page.get_by_label("Physician global assessment (0–3)").fill("0,3")
    page.get_by_label("Physician global assessment (0–3)").press("Tab")
    expect(page.locator("#preview dd.sledai-2k")).to_contain_text("6")  # rash 2 + complement 2 + DNA 2
    expect(page.locator("#preview dd.clinical-sledai")).to_contain_text("2")
    shot(page, "visit-form")
    page.get_by_role("button", name="Save").click()

    # Back on the patient page: the new point (D+70, SLEDAI-2K 6) is on the disease-activity plot.
    expect(page.get_by_text("Visit saved")).to_be_visible()
    point = page.locator('#plot-activity .series-1 .point[data-x="70"]')
    expect(point).to_have_attribute("data-y", "6")
    shot(page, "patient-plots", locator=".plots")

    # Edit with a reason, then follow the value to its history: old → new and the reason.
    visits = page.locator("#visits tbody tr").filter(has_text="Month 3")
    visits.get_by_role("link", name="Edit").click()
    page.get_by_label("Physician global assessment (0–3)").fill("0,5")
    page.get_by_label("Reason for the change").fill("PGA re-scored after review")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Visit saved")).to_be_visible()
    page.locator('a.field-history[href$="?field=physician_global"]').first.click()
    entry = page.locator("tr.history-entry").first
    expect(entry.locator(".old")).to_have_text("0.3")
    expect(entry.locator(".new")).to_have_text("0.5")
    expect(entry.locator(".reason")).to_have_text("PGA re-scored after review")
    expect(entry.locator(".who")).to_have_text("rome.clinician")
    shot(page, "history")

    # On a tablet (768 px) the form keeps one readable column and nothing scrolls sideways.
    page.set_viewport_size({"width": 768, "height": 1024})
    page.goto(f"{base}/patients/{sle_child.pk}/visits/new/?timepoint=m6")
    assert page.evaluate("document.documentElement.scrollWidth") <= 768
    shot(page, "visit-form-tablet")
    context.close()
    assert violations == []


def _timepoint_pk(code: str) -> int:
    from outcomes.models import ScheduleTimepoint

    return ScheduleTimepoint.objects.get(protocol="default", code=code).pk


def test_other_centre_gets_404_and_a_monitor_cannot_edit(browser, live_server, sle_child, erlangen_clinician, monitor):
    from outcomes.models import Visit

    base = live_server.url
    visit = Visit.objects.get(patient=sle_child, timepoint__code="d28")
    patient_url = f"{base}/patients/{sle_child.pk}/"
    edit_url = f"{base}/patients/{sle_child.pk}/visits/{visit.pk}/edit/"

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, base, "erlangen.clinician")
    assert page.goto(patient_url).status == 404
    assert page.goto(edit_url).status == 404
    context.close()

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, base, "monitor")
    assert page.goto(patient_url).status == 200
    assert page.locator("#plot-activity").count() == 1  # reads the whole course
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))")
    assert not [h for h in hrefs if re.search(r"/(edit|new|stop|void)/", h)], "no write links for a monitor"
    assert page.goto(edit_url).status == 404
    history = page.goto(f"{base}/audit/outcomes/visit/{visit.pk}/?field=visit_date")
    assert history.status == 200 and page.locator("tr.history-entry").count() == 1  # read-only, created
    context.close()


def test_visit_form_works_without_javascript(browser, live_server, sle_child):
    """Progressive enhancement: with JavaScript off, Preview and Save are plain form posts."""
    from playwright.sync_api import expect

    base = live_server.url
    context = browser.new_context(viewport={"width": 1024, "height": 900}, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(15_000)
    log_in(page, base, "rome.clinician")
    page.locator(f'tr[data-code="{sle_child.code}"] a.record-next').click()  # Month 2, overdue
    expect(page.get_by_label("Timepoint")).to_have_value(str(_timepoint_pk("m2")))
    for code in ("low_complement", "increased_dna_binding"):
        page.locator(f"#id_descriptors_{code}").check()
    page.get_by_role("button", name="Save").click()  # no physician global: refused, errors announced
    expect(page.locator("#error-summary")).to_contain_text("Physician global assessment (0–3)")
    expect(page.get_by_label("Physician global assessment (0–3)")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Physician global assessment (0–3)").fill("0.2")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview dd.sledai-2k")).to_contain_text("4")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Visit saved")).to_be_visible()
    # The form proposed the nominal date of month 2 (D+61), which was not changed here.
    expect(page.locator('#plot-activity .series-1 .point[data-x="61"]')).to_have_attribute("data-y", "4")
    context.close()
