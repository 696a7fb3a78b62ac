"""The audit trail records every create, update and delete, whatever the path."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from patients import services
from patients.models import Patient
from registry.audit import AuditReasonRequired, acting_as
from registry.models import Centre, Membership


def test_enrolment_through_the_service_is_audited_as_a_creation(rome_patient, rome_clinician):
    (entry,) = rome_patient.history.all()
    assert entry.history_type == "+"
    assert entry.history_user == rome_clinician
    assert entry.code == "ROM-001"


def test_an_edit_through_the_service_records_old_new_user_and_reason(rome_patient, rome_clinician):
    services.patient_update(
        patient=rome_patient,
        changes={"diagnosis": "jdm"},
        recorded_by=rome_clinician,
        reason="diagnosis revised after muscle biopsy",
    )
    latest, first = rome_patient.history.order_by("-history_id")[:2]
    assert latest.history_type == "~"
    assert latest.history_change_reason == "diagnosis revised after muscle biopsy"
    assert latest.history_user == rome_clinician
    delta = latest.diff_against(first)
    assert [(c.field, c.old, c.new) for c in delta.changes] == [("diagnosis", "sle", "jdm")]


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_an_edit_without_a_reason_is_refused_and_nothing_changes(rome_patient, rome_clinician, reason):
    with pytest.raises(ValidationError) as err:
        services.patient_update(
            patient=rome_patient, changes={"diagnosis": "jdm"}, recorded_by=rome_clinician, reason=reason
        )
    assert "reason" in err.value.message_dict
    rome_patient.refresh_from_db()
    assert rome_patient.diagnosis == "sle"
    assert rome_patient.history.count() == 1


def test_a_bare_save_of_a_clinical_record_without_reason_is_refused_by_the_audit_layer(rome_patient):
    rome_patient.status = "completed"
    with pytest.raises(AuditReasonRequired), transaction.atomic():
        rome_patient.save()
    assert Patient.objects.get(pk=rome_patient.pk).status == "active"


def test_voiding_keeps_the_record_and_audits_the_reason(rome_patient, rome_clinician):
    services.patient_void(patient=rome_patient, recorded_by=rome_clinician, reason="duplicate enrolment")
    rome_patient.refresh_from_db()
    assert rome_patient.is_voided
    assert rome_patient.history.latest().history_change_reason == "duplicate enrolment"


def test_admin_edit_requires_a_reason_and_stores_it(client, staff_admin, rome_patient):
    client.force_login(staff_admin)
    url = reverse("admin:patients_patient_change", args=[rome_patient.pk])
    data = {
        "sex": "female",
        "diagnosis": "ssc",
        "treatment_pathway": "hospital_exemption",
        "change_reason": "",
    }
    response = client.post(url, data)
    assert response.status_code == 200
    assert "Give a reason for changing this record." in response.content.decode()
    assert Patient.objects.get(pk=rome_patient.pk).diagnosis == "sle"

    data["change_reason"] = "transcription error"
    response = client.post(url, data)
    assert response.status_code == 302
    latest = rome_patient.history.latest()
    assert (latest.diagnosis, latest.history_user, latest.history_change_reason) == (
        "ssc",
        staff_admin,
        "transcription error",
    )


def test_admin_create_and_delete_are_audited(client, staff_admin, rome):
    from django.contrib.auth import get_user_model

    member = get_user_model().objects.create_user("new.monitor", password="x" * 12)
    client.force_login(staff_admin)
    response = client.post(
        reverse("admin:registry_membership_add"), {"user": member.pk, "centre": rome.pk, "role": "monitor"}
    )
    assert response.status_code == 302
    membership = Membership.objects.get(user=member)
    response = client.post(reverse("admin:registry_membership_delete", args=[membership.pk]), {"post": "yes"})
    assert response.status_code == 302
    kinds = list(
        Membership.history.filter(id=membership.pk)
        .order_by("history_id")
        .values_list("history_type", "history_user__username")
    )
    assert kinds == [("+", "admin"), ("-", "admin")]


def test_admin_cannot_delete_clinical_records(client, staff_admin, rome_patient):
    client.force_login(staff_admin)
    response = client.post(reverse("admin:patients_patient_delete", args=[rome_patient.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert Patient.objects.filter(pk=rome_patient.pk).exists()


def test_management_command_writes_are_attributed_to_the_system_user(db):
    call_command("load_demo", stdout=io.StringIO())
    rome = Centre.objects.get(code="ROM")
    entry = rome.history.get()
    assert entry.history_user.username == "registry-system"
    assert not entry.history_user.is_active


def test_acting_as_attributes_task_writes(rome, system_user):
    with acting_as(system_user, reason="nightly task"):
        rome.name = "Ospedale Pediatrico Bambino Gesù (Roma)"
        rome.save()
    latest = rome.history.latest()
    assert (latest.history_user, latest.history_change_reason) == (system_user, "nightly task")


def test_history_rows_cannot_be_updated(rome_patient):
    table = Patient.history.model._meta.db_table
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f'UPDATE "{table}" SET code = %s', ["TAMPERED"])
    assert rome_patient.history.get().code == "ROM-001"


@pytest.mark.postgres
def test_history_rows_cannot_be_deleted_on_postgresql(rome_patient):
    table = Patient.history.model._meta.db_table
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f'DELETE FROM "{table}"')
    assert rome_patient.history.count() == 1


def test_history_page_shows_who_what_and_why_to_a_monitor(client, rome_monitor, rome_patient, rome_clinician):
    services.patient_set_status(
        patient=rome_patient, status="completed", recorded_by=rome_clinician, reason="24-month follow-up completed"
    )
    client.force_login(rome_monitor)
    response = client.get(reverse("record_history", args=["patients", "patient", rome_patient.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "24-month follow-up completed" in body
    assert "rome.clinician" in body
    assert "Active" in body or "active" in body


def test_history_page_is_404_for_another_centre(client, erlangen_clinician, rome_patient):
    client.force_login(erlangen_clinician)
    response = client.get(reverse("record_history", args=["patients", "patient", rome_patient.pk]))
    assert response.status_code == 404


def test_history_page_is_404_for_models_without_audit(client, rome_monitor):
    client.force_login(rome_monitor)
    assert client.get(reverse("record_history", args=["auth", "user", rome_monitor.pk])).status_code == 404
    assert client.get(reverse("record_history", args=["nope", "nothing", 1])).status_code == 404
