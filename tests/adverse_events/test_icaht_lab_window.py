"""The safety summaries read only the ANC values of the ICAHT windows (day 0 to the end of the late window);
the assessment is the same as over every value, and a patient whose values all lie outside the windows still
gets one (not evaluable)."""

from __future__ import annotations

from adverse_events import grading
from adverse_events.selectors import safety_summary
from outcomes import services as lab_services
from tests.adverse_events.test_services import at, infused_patient


def anc(patient, user, values):
    lab_services.lab_results_record_many(
        patient=patient,
        recorded_by=user,
        items=[lab_services.LabInput("anc", value, "10^9/L", at(day), lln="1.5") for day, value in values],
    )


def test_icaht_over_the_windows_equals_icaht_over_every_value(rome, rome_clinician):
    patient = infused_patient(rome, rome_clinician)
    values = [(-3, "0.05"), (1, "0.4"), (4, "0.2"), (8, "1.1"), (45, "0.9"), (70, "1.2"), (110, "0.05")]
    anc(patient, rome_clinician, values)
    summary = safety_summary(patient)
    expected = grading.icaht_assessment([(d, float(v) * 1000) for d, v in values], last_day=110)
    assert summary.icaht == expected
    assert summary.icaht["late_nadir_anc"] == 900.0  # not the day-110 value, outside the late window


def test_a_patient_with_anc_values_only_outside_the_windows_is_assessed_as_not_evaluable(rome, rome_clinician):
    patient = infused_patient(rome, rome_clinician)
    anc(patient, rome_clinician, [(-7, "0.3"), (-2, "0.2")])
    summary = safety_summary(patient)
    assert summary.icaht is not None
    assert (summary.icaht["early_grade"], summary.icaht["late_grade"]) == (None, None)
    assert summary.icaht == grading.icaht_assessment([(-7, 300.0), (-2, 200.0)], last_day=-2)
