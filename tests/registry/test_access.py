"""The access matrix: role × own centre × other centre × registry-wide × action."""

from __future__ import annotations

import pytest
from django.http import Http404

from patients.models import Patient
from registry import access
from registry.access import Action

A = Action
# persona → (actions allowed at Rome, actions allowed at Erlangen)
EXPECTED = {
    "rome_clinician": ({A.READ, A.WRITE, A.IDENTITY, A.EXPORT_IDENTIFIED, A.AUDIT}, set()),
    "rome_coordinator": ({A.READ, A.EXPORT, A.SUMMARIES, A.API_CLIENTS, A.AUDIT}, set()),
    "rome_monitor": ({A.READ, A.AUDIT}, set()),
    "coordinator": (
        {A.READ, A.EXPORT, A.SUMMARIES, A.API_CLIENTS, A.AUDIT},
        {A.READ, A.EXPORT, A.SUMMARIES, A.API_CLIENTS, A.AUDIT},
    ),
    "monitor": ({A.READ, A.AUDIT}, {A.READ, A.AUDIT}),
    "nobody": (set(), set()),
    "staff_admin": (set(), set()),
}


@pytest.mark.parametrize("persona", sorted(EXPECTED))
@pytest.mark.parametrize("action", list(Action))
def test_access_matrix(request, persona, action, rome, erlangen):
    user = request.getfixturevalue(persona)
    at_rome, at_erlangen = EXPECTED[persona]
    assert access.can(user, action, rome.pk) is (action in at_rome)
    assert access.can(user, action, erlangen.pk) is (action in at_erlangen)


def test_registry_wide_clinician_reads_everywhere_but_writes_and_sees_identity_nowhere(rome, erlangen):
    from django.contrib.auth import get_user_model

    from registry.models import Membership

    user = get_user_model().objects.create_user("central.clinician", password="x" * 12)
    Membership.objects.create(user=user, centre=None, role="clinician")
    for centre in (rome, erlangen):
        assert access.can(user, A.READ, centre.pk)
        assert not access.can(user, A.WRITE, centre.pk)
        assert not access.can(user, A.IDENTITY, centre.pk)


def test_anonymous_user_may_do_nothing(rome):
    from django.contrib.auth.models import AnonymousUser

    assert not any(access.can(AnonymousUser(), action, rome.pk) for action in Action)


def test_inactive_user_loses_all_access(rome_clinician, rome):
    rome_clinician.is_active = False
    assert not access.can(rome_clinician, A.READ, rome.pk)


def test_scope_limits_patients_to_own_centre(rome_patient, erlangen_patient, rome_clinician, coordinator):
    assert list(access.scope(Patient.objects.all(), rome_clinician)) == [rome_patient]
    assert set(access.scope(Patient.objects.all(), coordinator)) == {rome_patient, erlangen_patient}
    assert list(access.scope(Patient.objects.all(), rome_clinician, A.EXPORT)) == []


def test_access_patient_gives_the_same_404_for_other_centre_and_missing(rome_patient, erlangen_clinician):
    with pytest.raises(Http404) as other:
        access.access_patient(erlangen_clinician, rome_patient.pk)
    with pytest.raises(Http404) as missing:
        access.access_patient(erlangen_clinician, 999_999)
    assert str(other.value) == str(missing.value)


def test_access_patient_for_write_refuses_a_monitor(rome_patient, rome_monitor):
    assert access.access_patient(rome_monitor, rome_patient.pk) == rome_patient
    with pytest.raises(Http404):
        access.access_patient(rome_monitor, rome_patient.pk, for_write=True)


@pytest.mark.parametrize("bad_id", ["abc", None, "1; drop table"])
def test_access_patient_with_malformed_id_is_404(rome_clinician, bad_id):
    with pytest.raises(Http404):
        access.access_patient(rome_clinician, bad_id)


def test_access_centre(rome, erlangen, rome_clinician):
    assert access.access_centre(rome_clinician, rome.pk) == rome
    with pytest.raises(Http404):
        access.access_centre(rome_clinician, erlangen.pk)


def test_grants_are_computed_with_one_query(rome_clinician, rome, erlangen, django_assert_num_queries):
    access.forget_grants(rome_clinician)
    with django_assert_num_queries(1):  # the memberships of the user
        for action in Action:
            access.can(rome_clinician, action, rome.pk)
            access.can(rome_clinician, action, erlangen.pk)
