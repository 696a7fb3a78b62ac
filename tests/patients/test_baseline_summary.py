"""The stored baseline summary (organ involvement and prior therapy at a glance) that the API's patient list
reads: every write to a patient's organ involvement or prior therapies rewrites it, so the list shows what the
clinician entered last, and the migration filled it for patients entered before it existed."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.apps import apps as django_apps
from django.core.cache import cache
from django.db import connection

from patients import services
from patients.baseline import summarise
from patients.models import BaselineSummary, OrganInvolvement, PriorTherapy
from tests.factories import enrol
from tests.registry.api_data import token_for

pytestmark = pytest.mark.django_db


def stored(patient) -> dict:
    row = BaselineSummary.objects.filter(patient=patient).values().first()
    return row and {k: v for k, v in row.items() if k != "patient_id"}


def therapy(patient, user, drug, klass, **fields):
    return services.prior_therapy_record(
        patient=patient,
        drug=drug,
        therapy_class=klass,
        recorded_by=user,
        start_date=dt.date(2022, 1, 1),
        **fields,
    )


def test_each_write_to_the_baseline_rewrites_the_summary(rome, rome_clinician):
    patient = enrol(rome, rome_clinician)
    assert stored(patient) is None  # nothing recorded yet: the API shows an empty baseline
    skin = services.organ_involvement_record(patient=patient, organ="skin", recorded_by=rome_clinician)
    services.organ_involvement_record(
        patient=patient, organ="lupus_nephritis", nephritis_class="IV+V", recorded_by=rome_clinician
    )
    therapy(patient, rome_clinician, "prednisone", "glucocorticoid")
    therapy(patient, rome_clinician, "mycophenolate", "conventional_immunosuppressant")
    ritux = therapy(patient, rome_clinician, "rituximab", "b_cell_targeted")
    assert stored(patient) == {
        "organs": "lupus_nephritis,skin",
        "nephritis_class": "IV+V",
        "prior_therapy_lines": 2,  # prednisone is recorded, not a line
        "prior_therapy_classes": "b_cell_targeted,conventional_immunosuppressant,glucocorticoid",
        "prior_b_cell_targeted": True,
    }

    services.prior_therapy_update(
        therapy=ritux,
        changes={"therapy_class": "biologic", "b_cell_targeted": False, "drug": "tocilizumab"},
        recorded_by=rome_clinician,
        reason="wrong drug transcribed",
    )
    services.record_void(record=skin, recorded_by=rome_clinician, reason="entered for the wrong patient")
    assert stored(patient) == {
        "organs": "lupus_nephritis",
        "nephritis_class": "IV+V",
        "prior_therapy_lines": 2,
        "prior_therapy_classes": "biologic,conventional_immunosuppressant,glucocorticoid",
        "prior_b_cell_targeted": False,
    }


def test_a_refused_write_leaves_the_summary_as_it_was(rome, rome_clinician):
    patient = enrol(rome, rome_clinician)
    services.organ_involvement_record(patient=patient, organ="skin", recorded_by=rome_clinician)
    before = stored(patient)
    with pytest.raises(Exception, match="already recorded"):
        services.organ_involvement_record(patient=patient, organ="skin", recorded_by=rome_clinician)
    assert stored(patient) == before


def test_the_api_lists_the_baseline_as_entered(client, rome, rome_clinician, coordinator):
    cache.clear()
    patient = enrol(rome, rome_clinician)
    services.organ_involvement_record(
        patient=patient, organ="lupus_nephritis", nephritis_class="III", recorded_by=rome_clinician
    )
    services.organ_involvement_record(patient=patient, organ="arthritis", recorded_by=rome_clinician)
    row = therapy(patient, rome_clinician, "obinutuzumab", "biologic", b_cell_targeted=True)
    therapy(patient, rome_clinician, "hydroxychloroquine", "antimalarial")
    bare = enrol(rome, rome_clinician)
    _, token = token_for(coordinator, name="Baseline", centres=[rome])

    def listed():
        response = client.get("/api/v1/patients/", HTTP_AUTHORIZATION=f"Token {token}")
        assert response.status_code == 200
        return {
            r["diagnosis"] + str(bool(r["baseline"]["organ_involvement"])): r
            for r in response.json()["results"]
        }

    rows = listed()
    assert len(rows) == 2
    assert rows["sleTrue"]["baseline"] | {"disease_duration_years": None} == {
        "disease_duration_years": None,
        "organ_involvement": ["arthritis", "lupus_nephritis"],
        "lupus_nephritis_class": "III",
        "prior_therapy_lines": 2,
        "prior_therapy_classes": ["antimalarial", "biologic"],
        "prior_b_cell_targeted": True,  # flagged, though not of the B-cell class
    }
    assert rows["sleFalse"]["baseline"] == {  # the patient with nothing recorded (no stored summary)
        "disease_duration_years": None,
        "organ_involvement": [],
        "lupus_nephritis_class": None,
        "prior_therapy_lines": 0,
        "prior_therapy_classes": [],
        "prior_b_cell_targeted": False,
    }
    assert stored(bare) is None

    services.record_void(record=row, recorded_by=rome_clinician, reason="never given")
    assert listed()["sleTrue"]["baseline"]["prior_therapy_classes"] == ["antimalarial"]
    assert listed()["sleTrue"]["baseline"]["prior_b_cell_targeted"] is False


def test_the_migration_fills_the_summary_of_patients_entered_before_it(rome, rome_clinician):
    patient = enrol(rome, rome_clinician)
    services.organ_involvement_record(patient=patient, organ="muscle", recorded_by=rome_clinician)
    voided = services.organ_involvement_record(patient=patient, organ="skin", recorded_by=rome_clinician)
    services.record_void(record=voided, recorded_by=rome_clinician, reason="wrong patient")
    therapy(patient, rome_clinician, "methotrexate", "conventional_immunosuppressant")
    expected = stored(patient)
    BaselineSummary.objects.all().delete()  # as before the migration

    migration = importlib.import_module("patients.migrations.0003_baseline_summary")
    migration.fill(django_apps, connection.schema_editor())

    assert stored(patient) == expected
    organs = OrganInvolvement.objects.filter(patient=patient, voided_at__isnull=True)
    therapies = PriorTherapy.objects.filter(patient=patient, voided_at__isnull=True)
    assert expected == summarise(
        organs.values_list("organ", "nephritis_class"),
        therapies.values_list("therapy_class", "b_cell_targeted"),
    )
    assert expected["organs"] == "muscle"
