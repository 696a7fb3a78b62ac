from __future__ import annotations

from registry import deidentify


def test_patient_pseudonyms_are_stable_per_recipient_and_unlinkable():
    a, b = "key-a" * 8, "key-b" * 8
    assert deidentify.patient_pseudonym(a, 3) == deidentify.patient_pseudonym(a, 3)
    assert deidentify.patient_pseudonym(a, 3) != deidentify.patient_pseudonym(b, 3)
    assert deidentify.patient_pseudonym(a, 3).startswith("P-")


def test_pseudonyms_do_not_follow_enrolment_order():
    key = "k" * 64
    pseudonyms = [deidentify.patient_pseudonym(key, i) for i in range(1, 50)]
    assert len(set(pseudonyms)) == 49
    assert pseudonyms != sorted(pseudonyms)


def test_centre_pseudonyms_number_centres_without_revealing_them():
    mapping = deidentify.centre_pseudonyms("x" * 64, [7, 3, 11])
    assert sorted(mapping.values()) == ["C1", "C2", "C3"]
    assert mapping == deidentify.centre_pseudonyms("x" * 64, [11, 7, 3])


def test_small_counts_are_suppressed():
    assert [deidentify.suppress_count(n) for n in (0, 1, 4, 5, 12)] == [0, "<5", "<5", 5, 12]
    assert deidentify.suppress_count(2, threshold=2) == 2
