"""The demo follow-up reproduces the published follow-up aggregates (SEED.md) through the services."""

from __future__ import annotations

import datetime as dt
import io
import statistics

import pytest
from django.core.management import call_command
from django.utils import timezone

from outcomes import scores
from outcomes.models import (
    JdmAssessment,
    LabResult,
    Medication,
    MedicationClass,
    SledaiAssessment,
    SscAssessment,
    Visit,
)
from outcomes.selectors import course_summaries, schedule_statuses
from patients.models import Patient, PriorTherapy
from registry.demo_followup import (
    FOLLOW_UP,
    Jdm,
    Ssc,
    cmas_entry,
    mmt8_entry,
    month_day,
    mrss_entry,
)
from registry.demo_series import RECENT_DAYS_SINCE_DAY0, SERIES_FOLLOW_UP_MONTHS

SLE_JDM = {
    "DEMO-ROM-01",
    "DEMO-ROM-02",
    "DEMO-ROM-03",
    "DEMO-ERL-02",
    "DEMO-ROM-04",
    "DEMO-ERL-01",
    "DEMO-ERL-03",
}
SSC = "DEMO-ROM-05"


@pytest.fixture
def demo(demo_loaded, db):
    return demo_loaded


@pytest.fixture
def children(demo, db) -> dict[str, Patient]:
    return {
        p.identity.hospital_number: p
        for p in Patient.objects.select_related("identity").filter(is_illustrative=True)
    }


@pytest.fixture
def courses(children):
    by_id = course_summaries(children.values(), today=timezone.localdate())
    return {number: by_id[p.pk] for number, p in children.items()}


def _visits(patient: Patient) -> list[Visit]:
    return list(
        Visit.objects.filter(patient=patient, voided_at__isnull=True)
        .select_related("timepoint", "sledai", "jdm", "ssc")
        .order_by("visit_date")
    )


def _instrument(visit: Visit):
    for name in ("sledai", "jdm", "ssc"):
        if hasattr(visit, name):
            return getattr(visit, name)
    return None


def _scored(patient: Patient) -> list[tuple[int, object]]:
    return [((v.visit_date - patient.day0).days, _instrument(v)) for v in _visits(patient) if _instrument(v)]


def test_output_names_what_the_follow_up_created(demo):
    line = next(line for line in demo.splitlines() if line.startswith("Demo follow-up"))
    assert "medications" in line and "visits" in line and "lab results" in line
    assert " 0 visits" not in line


def test_series_follow_up_has_the_published_median_and_range(courses):
    months = sorted(courses[number].follow_up_months for number in SERIES_FOLLOW_UP_MONTHS)
    assert months == [9, 12, 14, 16, 17, 19, 21, 24]
    assert statistics.median(months) == 16.5
    assert (min(months), max(months)) == (9, 24)
    for number, length in SERIES_FOLLOW_UP_MONTHS.items():
        assert courses[number].last_follow_up_day == month_day(length)


def test_series_visits_follow_the_schedule_up_to_the_last_follow_up(children):
    for number in SERIES_FOLLOW_UP_MONTHS:
        patient = children[number]
        visits = _visits(patient)
        last_day = (visits[-1].visit_date - patient.day0).days
        codes = [v.timepoint.code if v.timepoint else None for v in visits]
        assert codes[0] == "screening" and visits[0].visit_date < patient.day0
        expected = [
            code
            for code, day in (("d21", 21), ("d28", 28), ("m2", 61), ("m3", 91), ("m6", 183), ("m9", 274))
            + (("m12", 365), ("m15", 457), ("m18", 548), ("m24", 730))
            if day <= last_day
        ]
        assert [c for c in codes[1:] if c] == expected
        for visit in visits[1:]:
            if visit.timepoint is not None:
                start, end = visit.timepoint.window()
                assert start <= (visit.visit_date - patient.day0).days <= end
        # only the final visit may be unscheduled
        assert None not in codes[:-1]


def test_every_series_child_stays_immunomodulator_free_without_restart(children, courses):
    for number in SERIES_FOLLOW_UP_MONTHS:
        patient, course = children[number], courses[number]
        assert course.immunomodulator_free, number
        assert course.immunomodulator_free_since_day is not None
        assert course.immunomodulator_free_since_day <= course.last_follow_up_day
        assert not [f for f in course.flares if f["kind"] == "treatment"]
        meds = list(Medication.objects.filter(patient=patient))
        assert {m.medication_class for m in meds} >= {
            MedicationClass.GLUCOCORTICOID,
            MedicationClass.IMMUNOMODULATOR,
        }
        apheresis = patient.aphereses.get().performed_on
        for med in meds:
            assert med.started_on < patient.day0 and not med.restarted_for_disease_activity
            assert med.stopped_on is not None and med.stopped_on < patient.day0 and med.stop_reason
            assert med.started_on < apheresis and med.stopped_on < apheresis
        assert not Medication.objects.filter(patient=patient, started_on__gt=patient.day0).exists()


def test_medications_are_the_prior_therapy_lines_running_at_screening(children):
    for number, patient in children.items():
        lines = {(t.start_date, t.stop_date) for t in PriorTherapy.objects.filter(patient=patient)}
        meds = Medication.objects.filter(patient=patient)
        assert meds.count() == len(FOLLOW_UP[number].meds)
        for med in meds:
            assert (med.started_on, med.stopped_on) in lines, (number, med.drug)
        screening = _visits(patient)[0].visit_date
        running = [m for m in meds if m.started_on <= screening <= m.stopped_on]
        assert any(m.medication_class == MedicationClass.GLUCOCORTICOID for m in running)


def test_seven_of_eight_reach_remission_and_the_ssc_child_improves(children, courses):
    reached = {n for n in SERIES_FOLLOW_UP_MONTHS if courses[n].remission_reached}
    assert reached == SLE_JDM
    scored = _scored(children[SSC])
    baseline, last = scored[0][1], scored[-1][1]
    assert isinstance(baseline, SscAssessment) and isinstance(last, SscAssessment)
    assert last.mrss < baseline.mrss
    assert last.eustar_activity_index < baseline.eustar_activity_index
    assert last.fvc_percent_predicted > baseline.fvc_percent_predicted


def test_sle_baseline_is_active_and_doris_remission_comes_by_month_6(children, courses):
    for number, patient in children.items():
        if patient.diagnosis != "sle":
            continue
        baseline = _scored(patient)[0][1]
        assert isinstance(baseline, SledaiAssessment)
        assert 12 <= baseline.sledai_2k <= 20
        assert {"low_complement", "increased_dna_binding", "proteinuria"} <= set(baseline.descriptors)
        assert baseline.prednisone_mg_per_day > 0 and not baseline.doris_remission
        if number in SERIES_FOLLOW_UP_MONTHS:
            assert courses[number].first_remission_day <= 183
            last = _scored(patient)[-1][1]
            assert last.doris_remission and last.clinical_sledai_2k == 0 and last.prednisone_mg_per_day == 0
            assert last.sledai_2k == scores.sledai_2k(last.descriptors)


def test_jdm_becomes_inactive_by_month_6_with_a_response_against_baseline(children, courses):
    for number, patient in children.items():
        if patient.diagnosis != "jdm":
            continue
        scored = _scored(patient)
        baseline = scored[0][1]
        assert isinstance(baseline, JdmAssessment) and not baseline.printo_inactive
        base_labs = LabResult.objects.filter(
            patient=patient, sampled_on__lte=patient.day0, analyte__in=("ck", "aldolase")
        )
        assert {r.analyte for r in base_labs} == {"ck", "aldolase"}
        assert all(r.uln is not None and r.value > r.uln for r in base_labs)
        for _day, follow_up in scored[1:]:
            assert follow_up.total_improvement_score is not None and follow_up.response
        if number in SERIES_FOLLOW_UP_MONTHS:
            assert courses[number].first_remission_day <= 183
            last = scored[-1][1]
            assert last.printo_inactive and last.response == "major"


def test_every_childs_activity_falls_from_baseline_to_the_last_visit(children):
    for number, patient in children.items():
        scored = _scored(patient)
        assert scored[0][0] < 0 < scored[-1][0], number
        baseline, last = scored[0][1], scored[-1][1]
        if isinstance(baseline, SledaiAssessment):
            assert last.sledai_2k < baseline.sledai_2k
        elif isinstance(baseline, JdmAssessment):
            assert last.physician_global < baseline.physician_global
            assert last.cmas > baseline.cmas and last.mmt8 > baseline.mmt8
        else:
            assert last.mrss < baseline.mrss


def test_b_cells_come_back_in_most_children_and_the_disease_stays_quiet(children, courses):
    series = [courses[n] for n in SERIES_FOLLOW_UP_MONTHS]
    assert (
        sum(1 for c in series if c.b_cell_reconstitution_day and 61 <= c.b_cell_reconstitution_day <= 200)
        >= 6
    )
    for number in SERIES_FOLLOW_UP_MONTHS:
        course = courses[number]
        assert course.b_cell_reconstitution_day is not None, number
        assert course.b_cell_aplasia_day is not None and course.b_cell_aplasia_day <= 7
        assert course.flares == []
        assert course.igg_nadir_g_l is not None and course.igg_nadir_day > 0
        if number in SLE_JDM:
            # in remission at every visit after both remission and reconstitution
            after = max(course.first_remission_day, course.b_cell_reconstitution_day)
            for day, instrument in _scored(children[number]):
                if day >= after:
                    ok = instrument.doris_remission if isinstance(instrument, SledaiAssessment) else None
                    assert ok if ok is not None else instrument.printo_inactive, (number, day)


def test_the_published_boy_has_no_b_cells_until_day_28(children, courses):
    boy = children["DEMO-ERL-01"]
    cd19 = [
        ((r.sampled_on - boy.day0).days, r.value)
        for r in LabResult.objects.filter(patient=boy, analyte="cd19").order_by("sampled_at")
    ]
    assert all(value == 0 for day, value in cd19 if 5 <= day <= 28)
    assert min(day for day, value in cd19 if day >= 5 and value >= 10) > 28
    assert courses["DEMO-ERL-01"].car_t_peak_per_ul == pytest.approx(32.69)
    assert courses["DEMO-ERL-01"].car_t_peak_day == 7


def test_recent_children_have_early_visits_and_an_open_month_3(children):
    today = timezone.localdate()
    statuses = schedule_statuses([children[n] for n in RECENT_DAYS_SINCE_DAY0], today)
    for number in RECENT_DAYS_SINCE_DAY0:
        patient = children[number]
        codes = [v.timepoint.code for v in _visits(patient)]
        assert codes == ["screening", "d21", "d28"]
        assert Medication.objects.filter(patient=patient).exists()
        by_code = {s.code: s.status for s in statuses[patient.pk]}
        assert by_code["d28"] == "completed"
        assert by_code["m3"] in ("upcoming", "due", "in_window")
    rome06 = {s.code: s.status for s in statuses[children["DEMO-ROM-06"].pk]}
    assert rome06["m2"] == "overdue"
    assert rome06["m3"] in ("due", "in_window")


def test_no_follow_up_date_is_in_the_future(children):
    today, now = timezone.localdate(), timezone.now()
    assert not Visit.objects.filter(visit_date__gt=today).exists()
    assert not LabResult.objects.filter(sampled_at__gt=now).exists()
    assert not Medication.objects.filter(started_on__gt=today).exists()
    assert not Medication.objects.filter(stopped_on__gt=today).exists()


def test_follow_up_labs_carry_reference_limits_and_are_not_duplicated(children):
    follow_up = LabResult.objects.filter(
        patient__in=children.values(), analyte__in=("igg", "c3", "c4", "anti_dsdna", "upcr", "ck", "aldolase")
    )
    assert follow_up.exists()
    assert not follow_up.filter(lln__isnull=True).exists() and not follow_up.filter(uln__isnull=True).exists()
    seen = set()
    for row in LabResult.objects.filter(patient__in=children.values()).values_list(
        "patient_id", "sampled_on", "analyte"
    ):
        assert row not in seen, row
        seen.add(row)


def test_loading_again_creates_nothing(demo, children):
    models = (Visit, Medication, LabResult, SledaiAssessment, JdmAssessment, SscAssessment)
    before = [(m.objects.count(), m.history.count()) for m in models]
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    assert [(m.objects.count(), m.history.count()) for m in models] == before
    assert "0 medications, 0 visits, 0 assessments, 0 lab results created" in out.getvalue()


def test_entered_items_add_up_to_the_table_totals():
    for spec in FOLLOW_UP.values():
        for row in spec.visits:
            if isinstance(row, Jdm):
                items, seconds = cmas_entry(row.cmas)
                timed = {k: scores.cmas_timed_item(v, k) for k, v in seconds.items()}
                assert scores.cmas({**items, **timed}) == row.cmas
                assert scores.mmt8(mmt8_entry(row.mmt8)) == row.mmt8
            elif isinstance(row, Ssc):
                assert scores.mrss(mrss_entry(row.mrss)) == row.mrss


def test_last_visit_is_on_the_published_month(children):
    for number, months in SERIES_FOLLOW_UP_MONTHS.items():
        patient = children[number]
        last = _visits(patient)[-1]
        assert last.visit_date == patient.day0 + dt.timedelta(days=month_day(months))
        assert round((last.visit_date - patient.day0).days / 30.4375, 1) == months
