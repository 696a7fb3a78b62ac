"""The demo toxicity course reproduces the published safety figures of the series (SEED.md), from raw data.

Grade 1 CRS in 6 of 8 (none higher), grade 1 ICANS in 1 (ICE or CAPD by age), late haematotoxicity grade 1 in
2, no severe infection; the published boy's CAR T peak (32.69 cells/µL on day 7) and B-cell clearance from day
5. Every stored grade is the pure grader's result for the stored observations.
"""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter

import pytest
from django.core.management import call_command
from django.utils import timezone

from adverse_events import grading
from adverse_events import services as toxicity
from adverse_events.models import CrsAssessment, IcansAssessment, Infection, SupportiveCare
from adverse_events.selectors import safety_summaries
from outcomes.models import LabResult
from outcomes.services import local_date
from patients.models import Patient
from registry.demo_series import RECENT_DAYS_SINCE_DAY0, SERIES_NAME
from registry.models import CaseSeries

TOXICITY_MODELS = (CrsAssessment, IcansAssessment, LabResult, Infection, SupportiveCare)
PUBLISHED_BOY = "DEMO-ERL-01"


def _load() -> str:
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


def _series() -> list[Patient]:
    return list(CaseSeries.objects.get(name=SERIES_NAME).patients.select_related("centre", "identity"))


def _recent() -> list[Patient]:
    return list(
        Patient.objects.filter(identity__hospital_number__in=list(RECENT_DAYS_SINCE_DAY0)).select_related(
            "centre", "identity"
        )
    )


def _by_number() -> dict[str, Patient]:
    return {p.identity.hospital_number: p for p in _series() + _recent()}


def _day(patient: Patient, moment: dt.datetime) -> int:
    return patient.study_day(local_date(moment, patient.centre.time_zone))


@pytest.fixture
def demo(demo_loaded, db):
    return demo_loaded


def test_series_reproduces_the_published_safety_figures(demo):
    series = _series()
    assert len(series) == 8
    summaries = safety_summaries(series)
    crs = Counter(summaries[p.pk].crs_max_grade for p in series)
    icans = Counter(summaries[p.pk].icans_max_grade for p in series)
    late = Counter(summaries[p.pk].icaht_late for p in series)
    early = [summaries[p.pk].icaht_early for p in series]
    assert crs == {1: 6, 0: 2}
    assert icans == {1: 1, 0: 7}
    assert late == {1: 2, 0: 6}
    assert all(grade is not None and grade <= 2 for grade in early), early
    assert sum(s.severe_infections for s in summaries.values()) == 0
    assert max(s.max_infection_grade for s in summaries.values()) <= 2
    assert sum(s.infections for s in summaries.values()) >= 3
    assert all(
        s.tocilizumab_doses == 0 and not s.crs_corticosteroids and not s.anakinra for s in summaries.values()
    )
    assert not any(s.open_episode for s in summaries.values())

    # The ICANS child's tool follows its age at the assessment: ICE from 12 years, CAPD below.
    (child,) = [p for p in series if summaries[p.pk].icans_max_grade == 1]
    for row in IcansAssessment.objects.filter(patient=child, grade__gte=1):
        assert row.tool == ("ice" if row.age_years >= 12 else "capd")
        score = row.ice_score if row.tool == "ice" else row.capd_score
        assert (7 <= score <= 9) if row.tool == "ice" else (1 <= score <= 8)

    # Late haematotoxicity grade 1: two ANC values of 1000–1500 cells/µL in days 31–100.
    for p in series:
        late_values = [
            r.value
            for r in LabResult.objects.filter(patient=p, analyte="anc")
            if 31 <= p.study_day(r.sampled_on) <= 100
        ]
        low = [v for v in late_values if v <= 1500]
        if summaries[p.pk].icaht_late == 1:
            assert len(low) == 2 and all(1000 <= v <= 1500 for v in low), p.identity.hospital_number
        else:
            assert not low, p.identity.hospital_number


def test_recent_rome_children_have_a_mild_course_up_to_today(demo):
    recent = _recent()
    assert len(recent) == 2
    summaries = safety_summaries(recent)
    today = timezone.localdate()
    for p in recent:
        s = summaries[p.pk]
        assert s.crs_max_grade <= 1 and s.icans_max_grade == 0 and s.severe_infections == 0
        assert s.icaht_early is not None and s.icaht_early <= 2
        last = max(LabResult.objects.filter(patient=p).values_list("sampled_on", flat=True))
        assert last < today and (today - last).days <= 2, p.identity.hospital_number


def test_the_published_boy_car_t_peak_b_cell_clearance_and_fever(demo):
    boy = _by_number()[PUBLISHED_BOY]
    car_t = {
        boy.study_day(r.sampled_on): r.value for r in LabResult.objects.filter(patient=boy, analyte="car_t")
    }
    peak_day = max(car_t, key=car_t.get)
    assert (peak_day, car_t[peak_day]) == (7, 32.69)
    assert list(car_t.values()).count(32.69) == 1
    cd19 = {
        boy.study_day(r.sampled_on): r.value for r in LabResult.objects.filter(patient=boy, analyte="cd19")
    }
    assert cd19[4] > 0
    assert {day: value for day, value in cd19.items() if 5 <= day <= 28} == dict.fromkeys(
        [d for d in cd19 if 5 <= d <= 28], 0.0
    )
    assert min(d for d in cd19 if d >= 5) == 5
    febrile = CrsAssessment.objects.filter(patient=boy, grade=1)
    assert febrile.exists() and all(row.max_temperature_c >= 38 for row in febrile)
    assert safety_summaries([boy])[boy.pk].crs_max_grade == 1


def test_every_child_has_daily_assessments_and_labs_and_every_grade_is_the_pure_graders(demo):
    children = _by_number()
    assert len(children) == 10
    for number, p in children.items():
        crs_rows = list(CrsAssessment.objects.filter(patient=p).order_by("assessed_at", "pk"))
        icans_rows = list(IcansAssessment.objects.filter(patient=p).order_by("assessed_at", "pk"))
        assert {_day(p, r.assessed_at) for r in crs_rows} == set(range(15)), number
        assert sorted(_day(p, r.assessed_at) for r in icans_rows) == list(range(15)), number
        cbc_days = {
            p.study_day(d)
            for d in LabResult.objects.filter(patient=p, analyte="anc").values_list("sampled_on", flat=True)
        }
        assert set(range(-5, 15)) | {21, 28} <= cbc_days, number

        for row in crs_rows:
            expected = grading.crs_grade(
                temperature_c=None if row.max_temperature_c is None else float(row.max_temperature_c),
                fever_other_cause=row.fever_other_cause,
                after_anticytokine_or_antipyretic=row.after_anticytokine_or_antipyretic,
                hypotension=row.hypotension,
                vasopressors=[v["agent"] for v in row.vasopressors],
                oxygen_device=row.oxygen_device,
                oxygen_flow_l_min=None if row.oxygen_flow_l_min is None else float(row.oxygen_flow_l_min),
                died_of_crs=row.died_of_crs,
            )
            assert row.grade == expected, (number, row.assessed_at)
            assert (row.rule, row.algorithm_version) == (grading.CRS_RULE, grading.ALGORITHM_VERSION)
            assert not row.hypotension and row.oxygen_device == "none" and row.vasopressors == []
        # The "fever no longer required" flag is the episode rule applied to the stored rows in time order.
        sequence = toxicity.crs_sequence(crs_rows)
        assert [(r.grade, r.after_anticytokine_or_antipyretic) for r in crs_rows] == sequence, number

        for row in icans_rows:
            age = float(row.age_years)
            assert row.tool == grading.icans_tool(age_years=age, developmental_delay=row.developmental_delay)
            ice = grading.ice_score(**row.ice_items) if row.ice_items else None
            capd = (
                grading.capd_score({int(k): v for k, v in row.capd_answers.items()})
                if row.capd_answers
                else None
            )
            assert (row.ice_score, row.capd_score) == (ice, capd), (number, row.assessed_at)
            expected = grading.icans_grade(
                age_years=age,
                ice_score=ice,
                capd_score=capd,
                unable_to_perform=row.unable_to_perform,
                awake_with_global_aphasia=row.awake_with_global_aphasia,
                developmental_delay=row.developmental_delay,
                consciousness=row.consciousness,
                seizure=row.seizure,
                motor=row.motor,
                cerebral_edema=row.cerebral_edema,
                died_of_icans=row.died_of_icans,
            )
            assert row.grade == expected, (number, row.assessed_at)
            assert row.grade == 0 or (ice, capd) != (None, None)

    for row in LabResult.objects.exclude(ctcae_term=""):
        divisor = 1.0 if row.analyte in ("platelets", "haemoglobin") else 1000.0
        lln = None if row.lln is None else row.lln / divisor
        assert row.ctcae_grade == grading.ctcae_grade(row.ctcae_term, row.value / divisor, lln=lln)
    for row in Infection.objects.all():
        assert row.grade == row.proposed_grade <= 2 and not row.hospitalised


def _snapshot() -> tuple[int, ...]:
    return tuple(n for m in TOXICITY_MODELS for n in (m.objects.count(), m.history.count()))


def test_loading_twice_creates_nothing(demo):
    assert "152 crs assessments, 150 icans assessments" in demo
    before = _snapshot()
    assert all(before)
    output = _load()
    assert _snapshot() == before
    assert "0 crs assessments, 0 icans assessments, 0 lab results, 0 infections, 0 supportive care" in output
