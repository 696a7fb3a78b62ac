"""Safety summaries of many patients at once: the study day of an assessment is its date in the centre's time
zone (computed by the database), and rows of patients outside the requested list are ignored."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

from adverse_events import services
from adverse_events.selectors import safety_summaries, safety_summary
from patients.models import Patient
from registry.models import Centre
from tests.adverse_events.test_services import DAY0, infused_patient

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
ROME = zoneinfo.ZoneInfo("Europe/Rome")


def febrile(patient, user, moment):
    return services.crs_assessment_record(
        patient=patient, assessed_at=moment, recorded_by=user, max_temperature_c=Decimal("38.6")
    )


def afebrile(patient, user, moment):
    return services.crs_assessment_record(
        patient=patient, assessed_at=moment, recorded_by=user, max_temperature_c=Decimal("36.8")
    )


def test_an_assessment_late_in_the_evening_west_of_utc_counts_on_the_centres_day(rome, rome_clinician):
    Centre.objects.filter(pk=rome.pk).update(time_zone="America/New_York")
    patient = infused_patient(rome, rome_clinician)
    # 21:30 in New York on day 2 is already day 3 in UTC; 21:30 on day 5 likewise.
    febrile(
        patient, rome_clinician, dt.datetime.combine(DAY0 + dt.timedelta(days=2), dt.time(21, 30), NEW_YORK)
    )
    afebrile(
        patient, rome_clinician, dt.datetime.combine(DAY0 + dt.timedelta(days=5), dt.time(21, 30), NEW_YORK)
    )
    summary = safety_summary(Patient.objects.select_related("centre").get(pk=patient.pk))
    assert (summary.crs_max_grade, summary.crs_onset_day, summary.crs_duration_days) == (1, 2, 3)


def test_an_assessment_just_after_midnight_east_of_utc_counts_on_the_centres_day(rome, rome_clinician):
    patient = infused_patient(rome, rome_clinician)
    # 00:30 in Rome on day 1 is still day 0 in UTC.
    febrile(patient, rome_clinician, dt.datetime.combine(DAY0 + dt.timedelta(days=1), dt.time(0, 30), ROME))
    summary = safety_summary(patient)
    assert (summary.crs_max_grade, summary.crs_onset_day) == (1, 1)
    assert summary.open_episode


def test_with_an_id_query_rows_of_other_patients_are_ignored(rome, rome_clinician):
    asked, other = infused_patient(rome, rome_clinician), infused_patient(rome, rome_clinician)
    febrile(asked, rome_clinician, dt.datetime.combine(DAY0 + dt.timedelta(days=1), dt.time(8), ROME))
    febrile(other, rome_clinician, dt.datetime.combine(DAY0 + dt.timedelta(days=2), dt.time(8), ROME))
    # The subquery also finds ``other`` (say, enrolled after the list was read): it must not break the read.
    summaries = safety_summaries([asked], id_query=Patient.objects.values("pk"))
    assert set(summaries) == {asked.pk}
    assert (summaries[asked.pk].crs_max_grade, summaries[asked.pk].crs_onset_day) == (1, 1)


def test_treatments_are_counted_voided_assessments_left_out_and_the_lowest_anc_of_a_day_graded(
    rome, rome_clinician
):
    """What the summary counts from many rows (one row per patient with arrays on PostgreSQL, rows on
    SQLite): tocilizumab doses, corticosteroid and anakinra flags, voided assessments left out, and the
    day's lowest ANC when a day has several values."""
    from outcomes import services as lab_services

    patient = infused_patient(rome, rome_clinician)
    at = lambda day, hour=8: dt.datetime.combine(DAY0 + dt.timedelta(days=day), dt.time(hour), ROME)  # noqa: E731
    fever = {"max_temperature_c": Decimal("38.9")}
    services.crs_assessment_record(
        patient=patient,
        assessed_at=at(1),
        recorded_by=rome_clinician,
        tocilizumab_mg_per_kg=Decimal("8"),
        **fever,
    )
    services.crs_assessment_record(
        patient=patient, assessed_at=at(2), recorded_by=rome_clinician, corticosteroid_given=True, **fever
    )
    voided = services.crs_assessment_record(
        patient=patient,
        assessed_at=at(3),
        recorded_by=rome_clinician,
        anakinra_given=True,
        tocilizumab_mg_per_kg=Decimal("8"),
        **fever,
    )
    services.crs_assessment_void(assessment=voided, recorded_by=rome_clinician, reason="entered twice")
    afebrile(patient, rome_clinician, at(4))

    def anc(day, value, hour):
        lab_services.lab_result_record(
            patient=patient,
            recorded_by=rome_clinician,
            item=lab_services.LabInput("anc", value, "cells/µL", at(day, hour)),
        )

    anc(0, "2500", 8)
    for day in range(1, 12):  # ≤ 500 in the morning of days 1–11, recovered by the evening: 11 days
        anc(day, "300", 7)
        anc(day, "1800", 19)
    anc(12, "2000", 8)
    summary = safety_summaries([patient])[patient.pk]
    assert (summary.tocilizumab_doses, summary.crs_corticosteroids, summary.anakinra) == (1, True, False)
    assert (summary.crs_max_grade, summary.crs_onset_day, summary.crs_duration_days) == (1, 1, 3)
    assert summary.icaht["early_longest_days_le_500"] == 11 and summary.icaht_early == 2
