"""Enrolment, identity, status, baseline and growth services: validation, audit, nothing half saved."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from patients import services
from patients.models import GrowthMeasurement, Patient, PatientIdentity
from tests.factories import enrol


def test_enrolment_allocates_consecutive_codes_per_centre(rome, erlangen, rome_clinician, erlangen_clinician):
    first = enrol(rome, rome_clinician)
    second = enrol(rome, rome_clinician)
    other = enrol(erlangen, erlangen_clinician)
    assert (first.code, second.code, other.code) == ("ROM-001", "ROM-002", "ERL-001")


def test_enrolment_stores_identity_apart_and_audits_both(rome, rome_clinician):
    patient = enrol(rome, rome_clinician)
    identity = PatientIdentity.objects.get(patient=patient)
    assert identity.family_name == "Testa"
    assert not hasattr(Patient, "family_name")
    assert identity.history.get().history_user == rome_clinician
    assert patient.history.get().history_type == "+"


@pytest.mark.parametrize(
    ("identity_dob", "fields", "field"),
    [
        (dt.date(2014, 3, 1), {"diagnosis_date": dt.date(2013, 1, 1)}, "diagnosis_date"),
        (dt.date.today() + dt.timedelta(days=3), {}, "date_of_birth"),
        (dt.date(1980, 1, 1), {}, "date_of_birth"),
        (dt.date(2014, 3, 1), {"guardian_consent_date": dt.date(2010, 1, 1)}, "guardian_consent_date"),
        (dt.date(2014, 3, 1), {"classification_criteria": "acr_eular_2013_ssc"}, "classification_criteria"),
    ],
)
def test_enrolment_rejects_implausible_dates_and_criteria_naming_the_field(
    rome, rome_clinician, identity_dob, fields, field
):
    with pytest.raises(ValidationError) as err:
        enrol(rome, rome_clinician, dob=identity_dob, **fields)
    assert field in err.value.message_dict
    assert Patient.objects.count() == 0 and PatientIdentity.objects.count() == 0


def test_enrolment_rejects_unknown_diagnosis(rome, rome_clinician):
    with pytest.raises(ValidationError) as err:
        enrol(rome, rome_clinician, diagnosis="gout")
    assert "diagnosis" in err.value.message_dict


def test_identity_edit_needs_a_reason_and_is_audited(rome, rome_clinician):
    patient = enrol(rome, rome_clinician)
    with pytest.raises(ValidationError):
        services.identity_update(
            patient=patient, changes={"family_name": "Rossi"}, recorded_by=rome_clinician, reason=""
        )
    services.identity_update(
        patient=patient,
        changes={"family_name": "Rossi"},
        recorded_by=rome_clinician,
        reason="spelling corrected from ID card",
    )
    latest = PatientIdentity.history.filter(patient_id=patient.pk).latest()
    assert (latest.family_name, latest.history_change_reason) == ("Rossi", "spelling corrected from ID card")


def test_identity_edit_with_a_birth_date_after_the_diagnosis_names_the_birth_date(rome, rome_clinician):
    patient = enrol(rome, rome_clinician)
    before = PatientIdentity.objects.get(patient=patient).date_of_birth
    with pytest.raises(ValidationError) as err:
        services.identity_update(
            patient=patient,
            changes={"date_of_birth": patient.diagnosis_date + dt.timedelta(days=1)},
            recorded_by=rome_clinician,
            reason="typo",
        )
    assert list(err.value.message_dict) == ["date_of_birth"]
    assert "date of diagnosis" in err.value.message_dict["date_of_birth"][0]
    assert PatientIdentity.objects.get(patient=patient).date_of_birth == before


def test_deceased_status_requires_date_and_relation(rome, rome_clinician):
    patient = enrol(rome, rome_clinician)
    with pytest.raises(ValidationError) as err:
        services.patient_set_status(
            patient=patient, status="deceased", recorded_by=rome_clinician, reason="x"
        )
    assert "death_date" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        services.patient_set_status(
            patient=patient,
            status="deceased",
            recorded_by=rome_clinician,
            reason="x",
            death_date=dt.date.today(),
        )
    assert "death_related_to_car_t" in err.value.message_dict
    services.patient_set_status(
        patient=patient,
        status="deceased",
        recorded_by=rome_clinician,
        reason="reported by family",
        death_date=dt.date.today(),
        death_cause="sepsis",
        death_related_to_car_t="not_related",
    )
    patient.refresh_from_db()
    assert (patient.status, patient.death_related_to_car_t) == ("deceased", "not_related")


def test_consent_withdrawn_blocks_new_data_but_keeps_existing(rome, rome_clinician):
    patient = enrol(rome, rome_clinician)
    services.growth_record(
        patient=patient,
        measured_on=dt.date.today(),
        weight_kg=Decimal("30"),
        height_cm=Decimal("140"),
        recorded_by=rome_clinician,
    )
    services.patient_set_status(
        patient=patient,
        status="consent_withdrawn",
        recorded_by=rome_clinician,
        reason="guardians withdrew consent",
    )
    with pytest.raises(ValidationError, match="Consent was withdrawn"):
        services.growth_record(
            patient=patient,
            measured_on=dt.date.today(),
            weight_kg=Decimal("31"),
            height_cm=Decimal("140"),
            recorded_by=rome_clinician,
        )
    assert GrowthMeasurement.objects.filter(patient=patient).count() == 1


@pytest.mark.parametrize(
    ("formula", "expected"),
    [("mosteller", Decimal("1.167")), ("haycock", Decimal("1.164")), ("dubois", Decimal("1.171"))],
)
def test_growth_derives_bsa_with_the_formula_recorded(rome, rome_clinician, formula, expected):
    patient = enrol(rome, rome_clinician)
    row = services.growth_record(
        patient=patient,
        measured_on=dt.date.today(),
        weight_kg=Decimal("35"),
        height_cm=Decimal("140"),
        recorded_by=rome_clinician,
        bsa_formula=formula,
    )
    assert (row.bsa_m2, row.bsa_formula) == (expected, formula)


@pytest.mark.parametrize(
    ("weight", "height", "field"),
    [
        ("1.9", "100", "weight_kg"),
        ("151", "100", "weight_kg"),
        ("30", "39", "height_cm"),
        ("30", "211", "height_cm"),
    ],
)
def test_growth_rejects_implausible_measurements_naming_the_field(
    rome, rome_clinician, weight, height, field
):
    patient = enrol(rome, rome_clinician)
    with pytest.raises(ValidationError) as err:
        services.growth_record(
            patient=patient,
            measured_on=dt.date.today(),
            weight_kg=Decimal(weight),
            height_cm=Decimal(height),
            recorded_by=rome_clinician,
        )
    assert field in err.value.message_dict
    assert not GrowthMeasurement.objects.exists()


def test_unknown_bsa_formula_is_rejected(rome, rome_clinician):
    patient = enrol(rome, rome_clinician)
    with pytest.raises(ValidationError) as err:
        services.growth_record(
            patient=patient,
            measured_on=dt.date.today(),
            weight_kg=Decimal("30"),
            height_cm=Decimal("140"),
            recorded_by=rome_clinician,
            bsa_formula="gehan",
        )
    assert "bsa_formula" in err.value.message_dict


def test_prior_therapy_stop_before_start_is_rejected(rome, rome_clinician):
    patient = enrol(rome, rome_clinician)
    with pytest.raises(ValidationError) as err:
        services.prior_therapy_record(
            patient=patient,
            drug="mycophenolate",
            therapy_class="conventional_immunosuppressant",
            recorded_by=rome_clinician,
            start_date=dt.date(2023, 5, 1),
            stop_date=dt.date(2023, 1, 1),
            reason_stopped="inefficacy",
        )
    assert "stop_date" in err.value.message_dict


def test_prior_therapy_b_cell_flag_defaults_from_class(rome, rome_clinician):
    patient = enrol(rome, rome_clinician)
    row = services.prior_therapy_record(
        patient=patient,
        drug="rituximab",
        therapy_class="b_cell_targeted",
        recorded_by=rome_clinician,
        start_date=dt.date(2022, 1, 1),
        stop_date=dt.date(2022, 6, 1),
        reason_stopped="inefficacy",
    )
    assert row.b_cell_targeted


def test_nephritis_class_only_with_lupus_nephritis(rome, rome_clinician):
    patient = enrol(rome, rome_clinician)
    with pytest.raises(ValidationError) as err:
        services.organ_involvement_record(
            patient=patient, organ="skin", nephritis_class="IV", recorded_by=rome_clinician
        )
    assert "nephritis_class" in err.value.message_dict
    row = services.organ_involvement_record(
        patient=patient, organ="lupus_nephritis", nephritis_class="IV", recorded_by=rome_clinician
    )
    assert row.nephritis_class == "IV"
    with pytest.raises(ValidationError) as err:
        services.organ_involvement_record(
            patient=patient, organ="lupus_nephritis", recorded_by=rome_clinician
        )
    assert "organ" in err.value.message_dict


def test_void_keeps_the_row_with_its_reason(rome, rome_clinician):
    patient = enrol(rome, rome_clinician)
    row = services.organ_involvement_record(patient=patient, organ="skin", recorded_by=rome_clinician)
    services.record_void(record=row, recorded_by=rome_clinician, reason="wrong patient")
    row.refresh_from_db()
    assert row.is_voided and row.void_reason == "wrong patient"
    again = services.organ_involvement_record(patient=patient, organ="skin", recorded_by=rome_clinician)
    assert again.pk != row.pk
