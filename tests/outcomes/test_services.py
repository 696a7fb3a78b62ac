"""Visits, instruments, medications and the derived course through the services."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from dosing import services as dosing_services
from outcomes import services
from outcomes.models import ScheduleTimepoint, SledaiAssessment, Visit
from outcomes.schedule import follow_up_months, timepoint_status
from outcomes.selectors import course_summaries, next_due, schedule_statuses
from tests.factories import enrol, path_to_infusion

ROME = zoneinfo.ZoneInfo("Europe/Rome")
TODAY = dt.date.today()
DAY0 = TODAY - dt.timedelta(days=100)


def infused(centre, user, *, diagnosis="sle", dob=dt.date(2011, 4, 2)):
    patient = enrol(centre, user, diagnosis=diagnosis, dob=dob)
    path = path_to_infusion(patient, user, today=DAY0 + dt.timedelta(days=1))
    dosing_services.infusion_record(
        patient=patient,
        run=path.run,
        infused_on=DAY0,
        growth=path.growth,
        car_t_cells_infused=3e7,
        volume_infused_ml=Decimal("15"),
        bags=[path.bags[0]],
        recorded_by=user,
    )
    patient.refresh_from_db()
    return patient


def tp(code):
    return ScheduleTimepoint.objects.get(protocol="default", code=code)


@pytest.fixture
def sle(rome, rome_clinician):
    return infused(rome, rome_clinician)


@pytest.fixture
def jdm(rome, rome_clinician):
    return infused(rome, rome_clinician, diagnosis="jdm")


def test_default_schedule_follows_design(db):
    windows = {
        t.code: (t.nominal_day, t.window_before_days, t.window_after_days)
        for t in ScheduleTimepoint.objects.filter(protocol="default")
    }
    assert windows["d21"] == (21, 2, 2)
    assert windows["d28"] == (28, 3, 3)
    assert windows["m3"] == (91, 14, 14)
    assert windows["m6"] == (183, 21, 21)
    assert windows["m24"] == (730, 30, 30)
    assert windows["y15"][1:] == (60, 60)
    assert [f"d{d}" in windows for d in range(1, 15)] == [True] * 14


def test_month_3_sle_visit_computes_sledai_clinical_doris_and_lldas(sle, rome_clinician):
    services.medication_record(
        patient=sle,
        drug="Prednisolone",
        medication_class="glucocorticoid",
        dose="5",
        dose_unit="mg",
        frequency="daily",
        started_on=DAY0 - dt.timedelta(days=200),
        recorded_by=rome_clinician,
    )
    visit = services.visit_record(
        patient=sle,
        timepoint=tp("m3"),
        visit_date=DAY0 + dt.timedelta(days=92),
        recorded_by=rome_clinician,
        instrument={
            "descriptors": ["low_complement", "increased_dna_binding"],
            "physician_global": Decimal("0.3"),
        },
    )
    s = SledaiAssessment.objects.get(visit=visit)
    assert (s.sledai_2k, s.clinical_sledai_2k) == (4, 0)
    assert s.prednisone_mg_per_day == Decimal("5.00")
    assert s.doris_remission is True  # cSLEDAI 0, PGA < 0.5, prednisone ≤ 5
    assert s.lldas is True


def test_sledai_with_arthritis_and_high_pga_is_neither_doris_nor_lldas(sle, rome_clinician):
    visit = services.visit_record(
        patient=sle,
        timepoint=tp("m3"),
        visit_date=DAY0 + dt.timedelta(days=92),
        recorded_by=rome_clinician,
        instrument={"descriptors": ["arthritis", "rash", "rash"], "physician_global": Decimal("1.5")},
    )
    s = visit.sledai
    assert (s.sledai_2k, s.clinical_sledai_2k, s.doris_remission, s.lldas) == (6, 6, False, False)


def test_jdm_visit_scores_cmas_mmt8_and_response_against_baseline(jdm, rome_clinician):
    full_cmas = {
        "head_elevation": 5,
        "leg_raise": 2,
        "straight_leg_lift": 5,
        "supine_to_prone": 3,
        "sit_ups": 6,
        "supine_to_sit": 3,
        "arm_raise_straighten": 3,
        "arm_raise_duration": 4,
        "floor_sit": 3,
        "all_fours": 4,
        "floor_rise": 4,
        "chair_rise": 4,
        "stool_step": 3,
        "pick_up": 3,
    }
    weak = {**full_cmas, "sit_ups": 1, "floor_rise": 1, "chair_rise": 1, "head_elevation": 1}
    mmt = dict.fromkeys(
        (
            "neck_flexors",
            "deltoid_middle",
            "biceps_brachii",
            "wrist_extensors",
            "gluteus_maximus",
            "gluteus_medius",
            "quadriceps",
            "ankle_dorsiflexors",
        ),
        6,
    )
    base = {
        "cmas_items": weak,
        "mmt8_items": mmt,
        "chaq": Decimal("1.5"),
        "physician_global": Decimal("7"),
        "patient_global": Decimal("7"),
        "extramuscular": Decimal("6"),
    }
    services.visit_record(
        patient=jdm,
        timepoint=tp("screening"),
        visit_date=DAY0 - dt.timedelta(days=20),
        recorded_by=rome_clinician,
        instrument=base,
    )
    follow = {
        "cmas_items": {k: v for k, v in full_cmas.items() if k != "head_elevation"},
        "cmas_timed_seconds": {"head_elevation": 130},
        "mmt8_items": dict.fromkeys(mmt, 10),
        "chaq": Decimal("0"),
        "physician_global": Decimal("0.1"),
        "patient_global": Decimal("0.5"),
        "extramuscular": Decimal("0"),
    }
    visit = services.visit_record(
        patient=jdm,
        timepoint=tp("m3"),
        visit_date=DAY0 + dt.timedelta(days=90),
        recorded_by=rome_clinician,
        instrument=follow,
    )
    j = visit.jdm
    assert (j.cmas, j.mmt8) == (52, 80)
    assert j.cmas_items["head_elevation"] == 5  # 130 s → 5
    # enzymes missing → no TIS (all six core-set measures are required)
    assert j.total_improvement_score is None and j.response == ""
    assert j.printo_inactive is True  # CMAS ≥ 48, MMT8 ≥ 78, PGA ≤ 0.2 (CK not measured)


def test_cmas_item_above_maximum_is_rejected_and_nothing_saved(jdm, rome_clinician):
    with pytest.raises(ValidationError) as err:
        services.visit_record(
            patient=jdm,
            timepoint=tp("m3"),
            visit_date=DAY0 + dt.timedelta(days=90),
            recorded_by=rome_clinician,
            instrument={"cmas_items": {"head_elevation": 6}, "physician_global": Decimal("1")},
        )
    assert "jdm.cmas_items" in err.value.message_dict
    assert not Visit.objects.exists()


def test_follow_up_visit_before_day0_is_rejected(sle, rome_clinician):
    with pytest.raises(ValidationError) as err:
        services.visit_record(
            patient=sle,
            timepoint=tp("m3"),
            visit_date=DAY0 - dt.timedelta(days=1),
            recorded_by=rome_clinician,
        )
    assert "visit_date" in err.value.message_dict


def test_second_visit_for_the_same_timepoint_is_rejected(sle, rome_clinician):
    services.visit_record(
        patient=sle, timepoint=tp("d28"), visit_date=DAY0 + dt.timedelta(days=28), recorded_by=rome_clinician
    )
    with pytest.raises(ValidationError) as err:
        services.visit_record(
            patient=sle,
            timepoint=tp("d28"),
            visit_date=DAY0 + dt.timedelta(days=29),
            recorded_by=rome_clinician,
        )
    assert "timepoint" in err.value.message_dict


def test_concurrent_edit_is_refused_and_nothing_lost(sle, rome_clinician, erlangen_clinician):
    visit = services.visit_record(
        patient=sle,
        timepoint=tp("m3"),
        visit_date=DAY0 + dt.timedelta(days=92),
        recorded_by=rome_clinician,
        instrument={"descriptors": ["rash"], "physician_global": Decimal("1")},
    )
    opened_version = visit.row_version
    services.visit_update(
        visit=visit,
        expected_version=opened_version,
        recorded_by=rome_clinician,
        reason="rash had resolved",
        instrument={"descriptors": [], "physician_global": Decimal("0.2")},
    )
    stale = Visit.objects.get(pk=visit.pk)
    with pytest.raises(services.ConcurrentEdit, match="changed by someone else"):
        services.visit_update(
            visit=stale,
            expected_version=opened_version,
            recorded_by=rome_clinician,
            reason="second clinician",
            changes={"notes": "overwrite"},
        )
    visit.refresh_from_db()
    assert visit.notes == "" and visit.row_version == opened_version + 1
    assert visit.sledai.sledai_2k == 0
    assert visit.sledai.history.latest().history_change_reason == "rash had resolved"


def test_medication_stopping_before_it_starts_is_rejected(sle, rome_clinician):
    with pytest.raises(ValidationError) as err:
        services.medication_record(
            patient=sle,
            drug="mycophenolate",
            medication_class="immunomodulator",
            dose="500",
            dose_unit="mg",
            frequency="bid",
            started_on=DAY0,
            stopped_on=DAY0 - dt.timedelta(days=3),
            stop_reason="car_t",
            recorded_by=rome_clinician,
        )
    assert "stopped_on" in err.value.message_dict


def test_prednisone_equivalent_per_day_from_dose_unit_and_frequency(sle, rome_clinician):
    med = services.medication_record(
        patient=sle,
        drug="methylprednisolone",
        medication_class="glucocorticoid",
        dose="4",
        dose_unit="mg",
        frequency="bid",
        started_on=DAY0,
        recorded_by=rome_clinician,
    )
    assert med.prednisone_equivalent_mg_per_day == Decimal("10.00")  # 4 mg × 1.25 × 2
    per_kg = services.medication_record(
        patient=sle,
        drug="prednisone",
        medication_class="glucocorticoid",
        dose="0.5",
        dose_unit="mg/kg",
        frequency="daily",
        started_on=DAY0,
        recorded_by=rome_clinician,
    )
    assert per_kg.prednisone_equivalent_mg_per_day == Decimal("15.00")  # 0.5 mg/kg × 30 kg


@pytest.mark.parametrize(
    ("today_day", "completed", "status"),
    [
        (60, False, "upcoming"),
        (70, False, "due"),
        (80, False, "in_window"),
        (105, False, "in_window"),
        (106, False, "overdue"),
        (133, False, "overdue"),
        (134, False, "missed"),
        (200, True, "completed"),
    ],
)
def test_month_3_status_by_window(today_day, completed, status):
    # M3: nominal 91, window 77..105 (±14); grace = max(28, 14) days
    assert (
        timepoint_status(today_day=today_day, window_start=77, window_end=105, completed=completed) == status
    )


def test_schedule_status_and_next_due_follow_day0(sle, rome_clinician):
    services.visit_record(
        patient=sle, timepoint=tp("d21"), visit_date=DAY0 + dt.timedelta(days=21), recorded_by=rome_clinician
    )
    statuses = {s.code: s.status for s in schedule_statuses([sle], TODAY)[sle.pk]}
    assert statuses["d21"] == "completed"
    assert statuses["d28"] == "missed" and statuses["m2"] == "missed"  # M2 window 54–68, grace 14 days
    assert statuses["m3"] == "in_window"  # day 100
    assert next_due(schedule_statuses([sle], TODAY)[sle.pk]).code == "m3"


def test_follow_up_months_use_30_4375_day_months():
    assert follow_up_months(dt.date(2024, 1, 1), dt.date(2024, 1, 1) + dt.timedelta(days=502)) == 16.5


def test_course_tracks_car_t_peak_b_cells_igg_remission_and_immunomodulator_free(sle, rome_clinician):
    def lab(code, value, unit, day):
        services.lab_result_record(
            patient=sle,
            recorded_by=rome_clinician,
            item=services.LabInput(
                code, value, unit, dt.datetime.combine(DAY0 + dt.timedelta(days=day), dt.time(9), tzinfo=ROME)
            ),
        )

    for day, cart, cd19 in [
        (3, "4.1", "35"),
        (7, "32.69", "0"),
        (14, "12", "0"),
        (60, "0.4", "0.2"),
        (95, "0.1", "15"),
    ]:
        lab("car_t", cart, "cells/µL", day)
        lab("cd19", cd19, "cells/µL", day)
    lab("igg", "4.1", "g/L", 60)
    med = services.medication_record(
        patient=sle,
        drug="mycophenolate",
        medication_class="immunomodulator",
        dose="500",
        dose_unit="mg",
        frequency="bid",
        started_on=DAY0 - dt.timedelta(days=400),
        recorded_by=rome_clinician,
    )
    services.medication_stop(
        medication=med,
        stopped_on=DAY0 - dt.timedelta(days=20),
        stop_reason="car_t",
        recorded_by=rome_clinician,
    )
    services.visit_record(
        patient=sle,
        timepoint=tp("m3"),
        visit_date=DAY0 + dt.timedelta(days=92),
        recorded_by=rome_clinician,
        instrument={"descriptors": [], "physician_global": Decimal("0")},
    )
    course = course_summaries([sle])[sle.pk]
    assert (course.car_t_peak_per_ul, course.car_t_peak_day) == (32.69, 7)
    assert (course.b_cell_aplasia_day, course.b_cell_reconstitution_day) == (7, 95)
    assert (course.igg_nadir_g_l, course.igg_nadir_day) == (4.1, 60)
    assert course.immunomodulator_free and course.immunomodulator_free_since_day == -20
    assert course.latest_status == "DORIS remission" and course.remission_reached
    assert course.follow_up_months == round(92 / 30.4375, 1)


def test_course_query_count_is_constant(rome, rome_clinician, django_assert_num_queries):
    from patients.models import Patient

    for _ in range(3):
        p = infused(rome, rome_clinician)
        services.visit_record(
            patient=p,
            timepoint=tp("d28"),
            visit_date=DAY0 + dt.timedelta(days=28),
            recorded_by=rome_clinician,
            instrument={"descriptors": ["rash"], "physician_global": Decimal("1")},
        )
    patients = list(Patient.objects.all())
    with django_assert_num_queries(3):  # labs, visits joined with instruments, medications
        course_summaries(patients)


def test_stopping_a_medication_with_an_unlisted_reason_or_a_null_character_is_a_field_error(
    sle, rome_clinician
):
    """Found by the service fuzzer: an unlisted stop reason reached the database (too long for its column) and
    a null character in the audit reason was refused by PostgreSQL instead of the form."""
    med = services.medication_record(
        patient=sle,
        drug="mycophenolate",
        medication_class="immunomodulator",
        dose="500",
        dose_unit="mg",
        frequency="bid",
        started_on=DAY0,
        recorded_by=rome_clinician,
    )
    with pytest.raises(ValidationError) as err:
        services.medication_stop(
            medication=med,
            stopped_on=DAY0 + dt.timedelta(days=30),
            stop_reason="x" * 40,
            recorded_by=rome_clinician,
        )
    assert "stop_reason" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        services.medication_stop(
            medication=med,
            stopped_on=DAY0 + dt.timedelta(days=30),
            stop_reason="car_t",
            recorded_by=rome_clinician,
            reason="stopped\x00",
        )
    assert err.value.message_dict["reason"] == ["Null characters are not allowed."]
    med.refresh_from_db()
    assert med.stopped_on is None and med.stop_reason == ""
