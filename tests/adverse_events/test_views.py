"""Toxicity in the browser: CRS and ICANS graded live from raw observations (same grade as the pure function and
the service), ICE or CAPD chosen by the age at the assessment, blood counts, infections with a proposed grade
that the clinician confirms, other adverse events, edits and voids with a reason, the patient page's Toxicity
section, and access (another centre: 404 everywhere; readers: 404 on writes)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from adverse_events import grading
from adverse_events import services as toxicity
from adverse_events.models import AdverseEvent, CrsAssessment, IcansAssessment, Infection, SupportiveCare
from dosing import services as dosing_services
from outcomes.models import LabResult
from tests.factories import enrol, path_to_infusion

ROME = zoneinfo.ZoneInfo("Europe/Rome")
TODAY = timezone.localdate()
DAY0 = TODAY - dt.timedelta(days=20)
TEEN_DOB = DAY0 - dt.timedelta(days=int(14.5 * 365.25))
EIGHT_YEAR_OLD_DOB = DAY0 - dt.timedelta(days=int(8.2 * 365.25))
# Twelve on day 10 exactly (age = days / 365.25): CAPD before day 10, ICE from day 10.
TWELVE_ON_DAY_10_DOB = DAY0 + dt.timedelta(days=10) - dt.timedelta(days=int(12 * 365.25))

CAPD_9 = {
    1: "often",
    2: "often",
    3: "sometimes",
    4: "always",
    5: "sometimes",
    6: "rarely",
    7: "sometimes",
    8: "never",
}
ICE_8 = {"orientation": 4, "naming": 3, "following_commands": 1, "writing": 0, "attention": 0}


def at(day: int, hour: int = 8) -> dt.datetime:
    return dt.datetime.combine(DAY0 + dt.timedelta(days=day), dt.time(hour), tzinfo=ROME)


def local(day: int, hour: int = 8) -> str:
    """The value a datetime-local input posts: local time at the centre, no zone."""
    return at(day, hour).strftime("%Y-%m-%dT%H:%M")


def infused_patient(centre, user, *, dob=TEEN_DOB):
    patient = enrol(centre, user, dob=dob)
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


@pytest.fixture
def patient(rome, rome_clinician):
    return infused_patient(rome, rome_clinician)


@pytest.fixture
def young_patient(rome, rome_clinician):
    return infused_patient(rome, rome_clinician, dob=EIGHT_YEAR_OLD_DOB)


@pytest.fixture
def clinician_client(client, rome_clinician):
    client.force_login(rome_clinician)
    return client


def url(name: str, patient, *args) -> str:
    return reverse(f"adverse_events:{name}", args=[patient.pk, *args])


def body(response) -> str:
    return response.content.decode()


def errors(response, field: str) -> list[str]:
    return list(response.context["form"].errors.get(field, []))


def crs_post(day: int = 2, hour: int = 8, **fields) -> dict[str, str]:
    data = {"assessed_at": local(day, hour), "oxygen_device": "none"}
    data.update({k: ("on" if v is True else v) for k, v in fields.items() if v is not False})
    return data


FEBRILE_PRESSORS_NC4 = {
    "max_temperature_c": "38,9",
    "hypotension": True,
    "fluid_bolus_ml_per_kg": "20",
    "vaso_norepinephrine": True,
    "vaso_norepinephrine_dose": "0.1",
    "vaso_vasopressin": True,
    "oxygen_device": "nasal_cannula",
    "oxygen_flow_l_min": "4",
}


# --- CRS --------------------------------------------------------------------------------------------------


def test_febrile_day_with_norepinephrine_vasopressin_and_4_l_nasal_cannula_is_grade_3_before_and_after_saving(
    clinician_client, patient
):
    data = crs_post(2, **FEBRILE_PRESSORS_NC4)
    response = clinician_client.post(url("crs_add", patient), {**data, "action": "preview"})
    assert response.status_code == 200
    computed = response.context["computed"]
    assert computed["grade"] == 3 and not computed["fever_not_required"]
    assert 'class="crs-grade grade-3"' in body(response) and "Grade 3" in body(response)
    assert not CrsAssessment.objects.exists()  # preview never saves

    response = clinician_client.post(url("crs_add", patient), data)
    assert response.status_code == 302
    assert response["Location"].endswith("#toxicity")
    row = CrsAssessment.objects.get()
    pure = grading.crs_grade(
        temperature_c=38.9,
        hypotension=True,
        vasopressors=["norepinephrine", "vasopressin"],
        oxygen_device="nasal_cannula",
        oxygen_flow_l_min=4.0,
    )
    assert row.grade == pure == computed["grade"] == 3
    assert row.vasopressors == [
        {"agent": "norepinephrine", "dose_mcg_kg_min": 0.1},
        {"agent": "vasopressin", "dose_mcg_kg_min": None},
    ]
    assert (row.max_temperature_c, row.oxygen_flow_l_min, row.assessed_at) == (Decimal("38.9"), 4, at(2))
    page = body(clinician_client.get(reverse("patients:detail", args=[patient.pk])))
    assert 'class="grade-3" title="08:00 38.9 °C' in page


def test_form_has_no_grade_input_and_a_posted_grade_is_ignored(clinician_client, patient):
    response = clinician_client.get(url("crs_add", patient))
    assert "grade" not in response.context["form"].fields
    assert 'name="grade"' not in body(response)
    clinician_client.post(url("crs_add", patient), {**crs_post(2, **FEBRILE_PRESSORS_NC4), "grade": "0"})
    assert CrsAssessment.objects.get().grade == 3


def test_preview_says_fever_is_no_longer_required_once_crs_was_treated(
    clinician_client, patient, rome_clinician
):
    toxicity.crs_assessment_record(
        patient=patient,
        assessed_at=at(1),
        recorded_by=rome_clinician,
        max_temperature_c=Decimal("39.1"),
        tocilizumab_mg_per_kg=Decimal("8"),
    )
    data = crs_post(2, max_temperature_c="37,2", hypotension=True)
    response = clinician_client.post(url("crs_add", patient), {**data, "action": "preview"})
    assert response.context["computed"]["grade"] == 2
    assert response.context["computed"]["fever_not_required"]
    assert 'class="fever-rule"><mark class="flag">No: CRS was already treated in this episode' in body(
        response
    )
    clinician_client.post(url("crs_add", patient), data)
    saved = CrsAssessment.objects.get(assessed_at=at(2))
    assert (saved.grade, saved.after_anticytokine_or_antipyretic) == (2, True)


@pytest.mark.parametrize(
    ("fields", "day", "field", "words"),
    [
        ({"max_temperature_c": "46"}, 2, "max_temperature_c", "temperature"),
        ({"max_temperature_c": "29"}, 2, "max_temperature_c", "temperature"),
        ({"oxygen_device": "nasal_cannula", "oxygen_flow_l_min": "81"}, 2, "oxygen_flow_l_min", "flow"),
        ({"oxygen_device": "nasal_cannula"}, 2, "oxygen_flow_l_min", "flow"),
        ({"vaso_dopamine_dose": "5"}, 2, "vaso_dopamine_dose", "dopamine"),
        ({"max_temperature_c": "38.5"}, -1, "assessed_at", "day 0"),
    ],
)
def test_bad_crs_input_is_refused_on_its_field_and_nothing_is_saved(
    clinician_client, patient, fields, day, field, words
):
    for action in ("preview", "save"):
        response = clinician_client.post(
            url("crs_add", patient), {**crs_post(day, **fields), "action": action}
        )
        assert response.status_code == 200
        messages = errors(response, field)
        assert messages and words in " ".join(messages).lower(), messages
    assert "computed" not in response.context or response.context["computed"] is None
    assert not CrsAssessment.objects.exists()


def test_crs_after_death_is_refused_on_the_time(clinician_client, patient, rome_clinician):
    from patients.services import patient_set_status

    patient_set_status(
        patient=patient,
        status="deceased",
        recorded_by=rome_clinician,
        reason="died",
        death_date=DAY0 + dt.timedelta(days=5),
        death_cause="sepsis",
        death_related_to_car_t="not_related",
    )
    response = clinician_client.post(url("crs_add", patient), crs_post(6, max_temperature_c="38.5"))
    assert "after the date of death" in " ".join(errors(response, "assessed_at"))
    assert not CrsAssessment.objects.exists()


def test_crs_time_is_read_in_the_centres_time_zone(clinician_client, patient, settings):
    settings.TIME_ZONE = "UTC"
    clinician_client.post(url("crs_add", patient), crs_post(3, 23, max_temperature_c="38.2"))
    row = CrsAssessment.objects.get()
    assert row.assessed_at == at(3, 23)  # 23:00 in Rome, whatever the server's zone
    page = body(clinician_client.get(reverse("patients:detail", args=[patient.pk])))
    assert f"<td>{(DAY0 + dt.timedelta(days=3)).isoformat()} 23:00</td><td>D+3</td>" in page
    edit = body(clinician_client.get(url("crs_edit", patient, row.pk)))
    assert f'value="{(DAY0 + dt.timedelta(days=3)).isoformat()}T23:00"' in edit


def test_editing_a_crs_assessment_needs_a_reason_and_regrades_later_ones(
    clinician_client, patient, rome_clinician
):
    first = toxicity.crs_assessment_record(
        patient=patient, assessed_at=at(1), recorded_by=rome_clinician, max_temperature_c=Decimal("38.6")
    )
    later = toxicity.crs_assessment_record(
        patient=patient,
        assessed_at=at(2),
        recorded_by=rome_clinician,
        max_temperature_c=Decimal("37.0"),
        hypotension=True,
    )
    assert later.grade == 0
    edit = url("crs_edit", patient, first.pk)
    form = clinician_client.get(edit).context["form"]
    assert form.initial["max_temperature_c"] == Decimal("38.6") and "reason" in form.fields
    data = crs_post(1, max_temperature_c="38.6", antipyretic_given=True)
    preview = clinician_client.post(edit, {**data, "action": "preview"})
    assert preview.context["computed"]["grade"] == 1 and not preview.context["computed"]["fever_not_required"]
    response = clinician_client.post(edit, data)
    assert "reason" in " ".join(errors(response, "reason")).lower()
    first.refresh_from_db()
    assert not first.antipyretic_given
    response = clinician_client.post(edit, {**data, "reason": "antipyretic omitted"})
    assert response.status_code == 302
    later.refresh_from_db()
    assert later.grade == 2 and later.after_anticytokine_or_antipyretic
    assert "regraded" in later.history.latest().history_change_reason


def test_edit_preview_replaces_the_assessment_being_edited(clinician_client, patient, rome_clinician):
    row = toxicity.crs_assessment_record(
        patient=patient,
        assessed_at=at(2),
        recorded_by=rome_clinician,
        max_temperature_c=Decimal("38.8"),
        tocilizumab_mg_per_kg=Decimal("8"),
    )
    # Corrected: it was an afebrile hypotensive day without treatment. The old version must not count as
    # "already treated" for the new one, in the preview as on saving.
    data = {**crs_post(2, max_temperature_c="36.9", hypotension=True), "reason": "wrong day transcribed"}
    preview = clinician_client.post(url("crs_edit", patient, row.pk), {**data, "action": "preview"})
    assert (preview.context["computed"]["grade"], preview.context["computed"]["fever_not_required"]) == (
        0,
        False,
    )
    clinician_client.post(url("crs_edit", patient, row.pk), data)
    row.refresh_from_db()
    assert row.grade == 0


def test_voiding_a_crs_assessment_needs_a_reason_and_regrades(clinician_client, patient, rome_clinician):
    treated = toxicity.crs_assessment_record(
        patient=patient,
        assessed_at=at(1),
        recorded_by=rome_clinician,
        max_temperature_c=Decimal("38.6"),
        antipyretic_given=True,
    )
    later = toxicity.crs_assessment_record(
        patient=patient,
        assessed_at=at(2),
        recorded_by=rome_clinician,
        max_temperature_c=Decimal("37.0"),
        hypotension=True,
    )
    assert later.grade == 2
    void = url("void", patient, "crs", treated.pk)
    assert "reason" in " ".join(errors(clinician_client.post(void, {"reason": ""}), "reason")).lower()
    assert clinician_client.post(void, {"reason": "wrong patient"}).status_code == 302
    treated.refresh_from_db()
    later.refresh_from_db()
    assert treated.voided_at is not None and later.grade == 0


# --- ICANS ------------------------------------------------------------------------------------------------


def icans_post(day: int, tool: str = "", **fields) -> dict[str, str]:
    data = {
        "assessed_at": local(day),
        "tool_shown": tool,
        "consciousness": "alert",
        "seizure": "none",
        "motor": "none",
        "cerebral_edema": "none",
    }
    data.update({k: ("on" if v is True else str(v)) for k, v in fields.items() if v is not False})
    return data


def capd(answers) -> dict[str, str]:
    return {f"capd_{item}": answer for item, answer in answers.items()}


def test_an_eight_year_old_gets_capd_and_capd_9_with_spontaneous_waking_is_grade_3(
    clinician_client, young_patient
):
    form = clinician_client.get(url("icans_add", young_patient)).context["form"]
    assert form.tool == "capd"
    assert {f"capd_{i}" for i in range(1, 9)} <= set(form.fields) and "orientation" not in form.fields
    assert "awake_with_global_aphasia" not in form.fields  # ICE only
    data = icans_post(4, "capd", consciousness="awakens_spontaneously", **capd(CAPD_9))
    response = clinician_client.post(url("icans_add", young_patient), {**data, "action": "preview"})
    row = response.context["computed"]["row"]
    assert (row.tool, row.capd_score, row.grade) == ("capd", 9, 3)
    assert 'class="icans-grade grade-3"' in body(response)
    assert not IcansAssessment.objects.exists()
    assert clinician_client.post(url("icans_add", young_patient), data).status_code == 302
    saved = IcansAssessment.objects.get()
    assert (saved.tool, saved.capd_score, saved.grade) == ("capd", 9, 3)
    assert saved.grade == grading.icans_grade(
        age_years=float(saved.age_years),
        capd_score=grading.capd_score(CAPD_9),
        consciousness="awakens_spontaneously",
    )


def test_an_adolescent_gets_the_ice_score(clinician_client, patient):
    form = clinician_client.get(url("icans_add", patient)).context["form"]
    assert form.tool == "ice" and set(grading.ICE_ITEM_MAXIMA) <= set(form.fields)
    assert "capd_1" not in form.fields and "awake_with_global_aphasia" in form.fields
    response = clinician_client.post(url("icans_add", patient), icans_post(5, "ice", **ICE_8))
    assert response.status_code == 302
    saved = IcansAssessment.objects.get()
    assert (saved.tool, saved.ice_score, saved.grade) == ("ice", 8, 1)


def test_the_tool_follows_the_assessment_time_not_today(clinician_client, rome, rome_clinician):
    patient = infused_patient(rome, rome_clinician, dob=TWELVE_ON_DAY_10_DOB)
    assert clinician_client.get(url("icans_add", patient)).context["form"].tool == "ice"  # now: over 12
    # The clinician types a time before the 12th birthday and presses Preview: the CAPD items appear.
    response = clinician_client.post(url("icans_add", patient), {**icans_post(5, "ice"), "action": "preview"})
    form = response.context["form"]
    assert form.tool == "capd" and "capd_1" in form.fields and "orientation" not in form.fields
    assert "CAPD applies" in body(response)
    assert 'name="tool_shown" value="capd"' in body(response)
    # Saving with the ICE items typed for the old tool is refused; nothing is saved.
    response = clinician_client.post(url("icans_add", patient), icans_post(5, "ice", **ICE_8))
    assert response.context["form"].tool == "capd" and response.context["form"].errors
    assert not IcansAssessment.objects.exists()
    answers = dict.fromkeys(range(1, 5), "always") | dict.fromkeys(range(5, 9), "never")
    response = clinician_client.post(url("icans_add", patient), icans_post(5, "capd", **capd(answers)))
    assert response.status_code == 302
    assert IcansAssessment.objects.get().tool == "capd"
    assert clinician_client.post(url("icans_add", patient), icans_post(10, "ice", **ICE_8)).status_code == 302
    assert IcansAssessment.objects.get(assessed_at=at(10)).tool == "ice"


def test_without_a_date_of_birth_the_form_says_so_and_saves_nothing(clinician_client, patient):
    from patients.models import PatientIdentity

    PatientIdentity.objects.filter(patient=patient).delete()
    response = clinician_client.get(url("icans_add", patient))
    assert response.context["form"].tool is None and "date of birth is needed" in body(response)
    response = clinician_client.post(url("icans_add", patient), icans_post(4, "ice", **ICE_8))
    assert "date of birth" in " ".join(errors(response, "assessed_at"))
    assert not IcansAssessment.objects.exists()


def test_developmental_delay_switches_an_adolescent_to_capd(clinician_client, patient):
    data = icans_post(5, "ice", developmental_delay=True)
    response = clinician_client.post(url("icans_add", patient), {**data, "action": "preview"})
    assert response.context["form"].tool == "capd"


@pytest.mark.parametrize(
    ("who", "fields", "field", "words"),
    [
        ("young", {**capd(CAPD_9), "capd_3": "sometimes?"}, "capd_3", "aware of the surroundings"),
        ("teen", {**ICE_8, "orientation": 5}, "orientation", "orientation"),
        ("teen", {**ICE_8, "naming": 4}, "naming", "naming"),
        ("teen", {**ICE_8, "attention": -1}, "attention", "attention"),
        ("teen", {**ICE_8, "writing": ""}, "writing", "needed"),
    ],
)
def test_bad_icans_items_are_refused_naming_the_item(
    clinician_client, patient, young_patient, who, fields, field, words
):
    target = young_patient if who == "young" else patient
    tool = "capd" if who == "young" else "ice"
    for action in ("preview", "save"):
        response = clinician_client.post(
            url("icans_add", target), {**icans_post(4, tool, **fields), "action": action}
        )
        if action == "save" or field != "writing":
            messages = errors(response, field)
            assert messages and words in " ".join(messages).lower(), messages
    assert not IcansAssessment.objects.exists()


def test_icans_needs_the_items_or_an_explicit_reason(clinician_client, patient):
    response = clinician_client.post(url("icans_add", patient), icans_post(4, "ice"))
    assert "unable to perform" in " ".join(errors(response, "orientation"))
    response = clinician_client.post(url("icans_add", patient), icans_post(4, "ice", score_not_obtained=True))
    assert errors(response, "findings_other_cause")
    response = clinician_client.post(
        url("icans_add", patient),
        icans_post(4, "ice", score_not_obtained=True, findings_other_cause="sedated for MRI"),
    )
    assert response.status_code == 302
    assert IcansAssessment.objects.get().grade == 0
    response = clinician_client.post(
        url("icans_add", patient),
        icans_post(5, "ice", unable_to_perform=True, awake_with_global_aphasia=True),
    )
    assert response.status_code == 302
    assert IcansAssessment.objects.get(assessed_at=at(5)).grade == 3


@pytest.mark.parametrize("day", [-1, 6])
def test_icans_before_day0_or_after_death_is_refused(clinician_client, patient, rome_clinician, day):
    from patients.services import patient_set_status

    patient_set_status(
        patient=patient,
        status="deceased",
        recorded_by=rome_clinician,
        reason="died",
        death_date=DAY0 + dt.timedelta(days=5),
        death_cause="sepsis",
        death_related_to_car_t="not_related",
    )
    response = clinician_client.post(url("icans_add", patient), icans_post(day, "ice", **ICE_8))
    assert errors(response, "assessed_at")
    assert not IcansAssessment.objects.exists()


def test_icans_posted_grade_is_ignored_and_edit_needs_a_reason(clinician_client, patient):
    clinician_client.post(url("icans_add", patient), {**icans_post(4, "ice", **ICE_8), "grade": "0"})
    row = IcansAssessment.objects.get()
    assert row.grade == 1
    edit = url("icans_edit", patient, row.pk)
    form = clinician_client.get(edit).context["form"]
    assert form.initial["orientation"] == 4 and form.tool == "ice"
    data = icans_post(4, "ice", **{**ICE_8, "orientation": 1})
    assert errors(clinician_client.post(edit, data), "reason")
    assert clinician_client.post(edit, {**data, "reason": "transcription error"}).status_code == 302
    row.refresh_from_db()
    assert (row.ice_score, row.grade) == (5, 2)


# --- blood counts, supportive care, infections, adverse events --------------------------------------------


def cbc_post(**rows) -> dict[str, str]:
    data = {
        "anc_unit_unit": "10^9/L",
        "anc_unit_lln": "1,5",
        "wbc_unit_unit": "10^9/L",
        "wbc_unit_lln": "4.0",
        "alc_unit_unit": "10^9/L",
        "alc_unit_lln": "",
        "platelets_unit_unit": "10^9/L",
        "platelets_unit_lln": "150",
        "haemoglobin_unit_unit": "g/dL",
        "haemoglobin_unit_lln": "11.5",
    }
    data.update(rows)
    return data


def test_blood_counts_grid_saves_every_value_with_unit_and_lln(clinician_client, patient):
    data = cbc_post(
        row_1_at=local(3),
        row_1_anc="0,45",
        row_1_wbc="1.2",
        row_1_haemoglobin="9.5",
        row_2_at=local(5),
        row_2_anc="0.3",
        row_2_platelets="40",
    )
    preview = clinician_client.post(url("blood_counts_add", patient), {**data, "action": "preview"})
    results = preview.context["computed"]["results"]
    assert [(r["label"], r["grade"]) for r in results][:1] == [("Absolute neutrophil count", 4)]
    assert not LabResult.objects.exists()
    assert clinician_client.post(url("blood_counts_add", patient), data).status_code == 302
    rows = {(r.analyte, r.sampled_at): r for r in LabResult.objects.all()}
    assert len(rows) == 5
    anc = rows[("anc", at(3))]
    assert (anc.value, anc.lln, anc.ctcae_grade, anc.unit_reported) == (450.0, 1500.0, 4, "10^9/L")
    assert rows[("haemoglobin", at(3))].value == 95.0
    page = body(clinician_client.get(reverse("patients:detail", args=[patient.pk])))
    assert 'class="icaht-early"' in page


def test_blood_counts_bad_cell_names_the_row_and_saves_nothing(clinician_client, patient):
    data = cbc_post(row_1_at=local(3), row_1_anc="0.4", row_2_at=local(4), row_2_anc="5000")
    response = clinician_client.post(url("blood_counts_add", patient), data)
    assert "plausible range" in " ".join(errors(response, "row_2"))
    response = clinician_client.post(url("blood_counts_add", patient), cbc_post(row_1_anc="0.4"))
    assert "sample time" in " ".join(errors(response, "row_1"))
    assert not LabResult.objects.exists()


def test_supportive_care_is_recorded(clinician_client, patient):
    data = {"kind": "gcsf", "started_on": (DAY0 + dt.timedelta(days=7)).isoformat(), "units": "3"}
    assert clinician_client.post(url("supportive_care_add", patient), data).status_code == 302
    assert SupportiveCare.objects.get().units == 3


INFECTION = {
    "site": "urinary tract",
    "organism_type": "bacterial",
    "organism": "E. coli",
    "treatment_route": "iv",
    "hospitalised": "on",
    "outcome": "resolved",
}


def test_infection_grade_is_proposed_prefilled_and_must_be_confirmed(clinician_client, patient):
    data = {**INFECTION, "onset_on": (DAY0 + dt.timedelta(days=12)).isoformat()}
    preview = clinician_client.post(url("infection_add", patient), {**data, "action": "preview"})
    assert preview.context["computed"]["proposed"] == 3
    assert 'class="proposed-grade">Grade 3' in body(preview)
    assert '<option value="3" selected>' in body(preview)  # prefilled with the proposal
    assert not Infection.objects.exists()
    response = clinician_client.post(url("infection_add", patient), data)  # no grade chosen
    messages = errors(response, "grade")
    assert len(messages) == 1 and "proposes 3" in messages[0]
    assert not Infection.objects.exists()
    assert clinician_client.post(url("infection_add", patient), {**data, "grade": "2"}).status_code == 302
    row = Infection.objects.get()
    assert (row.proposed_grade, row.grade, row.is_severe) == (3, 2, False)


def test_adverse_event_with_seriousness_criteria(clinician_client, patient):
    data = {
        "term": "Hypogammaglobulinemia",
        "grade": "2",
        "attribution": "car_t",
        "started_on": (DAY0 + dt.timedelta(days=14)).isoformat(),
        "outcome": "ongoing",
        "serious": "on",
    }
    response = clinician_client.post(url("adverse_event_add", patient), data)
    assert errors(response, "serious_criteria")
    assert not AdverseEvent.objects.exists()
    response = clinician_client.post(
        url("adverse_event_add", patient), {**data, "serious_criteria": ["hospitalisation"]}
    )
    assert response.status_code == 302
    assert AdverseEvent.objects.get().serious_criteria == ["hospitalisation"]
    response = clinician_client.post(url("adverse_event_add", patient), {**data, "grade": "7"})
    assert errors(response, "grade") and AdverseEvent.objects.count() == 1


# --- the patient page ------------------------------------------------------------------------------------


def _toxicity_rows(patient, user, n: int) -> None:
    for i in range(n):
        toxicity.crs_assessment_record(
            patient=patient, assessed_at=at(1 + i), recorded_by=user, max_temperature_c=Decimal("38.4")
        )
        toxicity.icans_assessment_record(
            patient=patient, assessed_at=at(1 + i), recorded_by=user, ice_items=ICE_8
        )
        toxicity.supportive_care_record(
            patient=patient,
            kind="platelet_transfusion",
            started_on=DAY0 + dt.timedelta(days=i),
            recorded_by=user,
        )
        toxicity.infection_record(
            patient=patient,
            onset_on=DAY0 + dt.timedelta(days=5 + i),
            grade=2,
            recorded_by=user,
            site="skin",
            organism_type="bacterial",
            treatment_route="oral",
            outcome="resolved",
        )
        toxicity.adverse_event_record(
            patient=patient,
            term="Febrile neutropenia",
            grade=3,
            attribution="car_t",
            started_on=DAY0 + dt.timedelta(days=3 + i),
            outcome="resolved",
            serious=True,
            serious_criteria=["hospitalisation"],
            recorded_by=user,
        )


# The Toxicity section of the patient page: the safety summary (CRS, ICANS, laboratory results, supportive care,
# infections, adverse events) and the rows it lists (CRS, ICANS, infections, adverse events, supportive care).
# With the 16 queries pinned in tests/patients/test_views.py the page (without other apps' sections) runs 27.
TOXICITY_SECTION_QUERIES = 6 + 5


@pytest.mark.parametrize("n", [1, 3])
def test_toxicity_section_queries_do_not_grow_with_rows(
    django_assert_num_queries, patient, rome_clinician, n
):
    from adverse_events.templatetags.toxicity import toxicity_page

    _toxicity_rows(patient, rome_clinician, n)
    with django_assert_num_queries(TOXICITY_SECTION_QUERIES):
        page = toxicity_page(patient)
    assert len(page.crs) == len(page.icans) == len(page.infections) == len(page.adverse_events) == n
    assert page.summary.crs_max_grade == 1 and page.crs_days[1].grade == 1


def test_section_without_day0_runs_only_the_list_queries(django_assert_num_queries, rome, rome_clinician):
    from adverse_events.templatetags.toxicity import toxicity_page

    patient = enrol(rome, rome_clinician)
    with django_assert_num_queries(3):  # infections, adverse events, supportive care
        page = toxicity_page(patient)
    assert page.summary is None and page.crs == []


def test_patient_page_shows_the_toxicity_section_with_links_for_the_centres_clinician(
    clinician_client, patient, rome_clinician
):
    _toxicity_rows(patient, rome_clinician, 2)
    text = body(clinician_client.get(reverse("patients:detail", args=[patient.pk])))
    assert 'id="toxicity"' in text
    assert 'class="crs-max"><strong class="grade-1">1</strong> · onset D+1' in text
    assert '<dd class="saes">2</dd>' in text and 'class="infections">2 (0)' in text
    assert url("crs_add", patient) in text and url("icans_add", patient) in text
    assert url("crs_edit", patient, CrsAssessment.objects.first().pk) in text
    assert (
        reverse("record_history", args=["adverse_events", "infection", Infection.objects.first().pk]) in text
    )
    assert 'class="grade-1" title="08:00 38.4 °C → grade 1"' in text


@pytest.mark.parametrize("persona", ["rome_monitor", "rome_coordinator"])
def test_readers_see_the_section_without_write_links(request, client, patient, rome_clinician, persona):
    _toxicity_rows(patient, rome_clinician, 1)
    client.force_login(request.getfixturevalue(persona))
    text = body(client.get(reverse("patients:detail", args=[patient.pk])))
    assert 'id="toxicity"' in text and "History" in text
    assert url("crs_add", patient) not in text
    assert (
        "/edit/" not in text.split('id="toxicity"')[1] and "void-link" not in text.split('id="toxicity"')[1]
    )


def test_patient_without_day0_has_no_flowsheet(clinician_client, rome, rome_clinician):
    patient = enrol(rome, rome_clinician)
    text = body(clinician_client.get(reverse("patients:detail", args=[patient.pk])))
    assert "record the infusion first" in text and 'class="flowsheet"' not in text
    assert url("adverse_event_add", patient) in text


# --- access -----------------------------------------------------------------------------------------------


@pytest.fixture
def rows(patient, rome_clinician):
    _toxicity_rows(patient, rome_clinician, 1)
    return {
        "crs": CrsAssessment.objects.get().pk,
        "icans": IcansAssessment.objects.get().pk,
        "infection": Infection.objects.get().pk,
        "adverse-event": AdverseEvent.objects.get().pk,
        "supportive-care": SupportiveCare.objects.get().pk,
    }


URLS = [
    ("crs_add", ()),
    ("crs_edit", ("crs",)),
    ("icans_add", ()),
    ("icans_edit", ("icans",)),
    ("blood_counts_add", ()),
    ("supportive_care_add", ()),
    ("infection_add", ()),
    ("adverse_event_add", ()),
    *(("void", (kind, kind)) for kind in ("crs", "icans", "infection", "adverse-event", "supportive-care")),
]


def _url(patient, rows, name, args) -> str:
    # ("crs",) → the CRS row's pk; ("crs", "crs") → kind and pk for the void URL.
    if name == "void":
        return url(name, patient, args[0], rows[args[1]])
    return url(name, patient, *(rows[a] for a in args))


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize(("name", "args"), URLS)
def test_other_centres_clinician_gets_404_on_every_toxicity_url(
    client, erlangen_clinician, patient, rows, name, args, method
):
    client.force_login(erlangen_clinician)
    response = getattr(client, method)(
        _url(patient, rows, name, args), {"action": "preview"} if method == "post" else None
    )
    assert response.status_code == 404


@pytest.mark.parametrize("persona", ["rome_monitor", "monitor", "rome_coordinator"])
@pytest.mark.parametrize(("name", "args"), URLS)
def test_readers_get_404_on_every_toxicity_write(request, client, patient, rows, persona, name, args):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(_url(patient, rows, name, args)).status_code == 404
    assert client.post(_url(patient, rows, name, args), {"reason": "x"}).status_code == 404
    assert CrsAssessment.objects.filter(voided_at__isnull=False).count() == 0


@pytest.mark.parametrize(("name", "args"), URLS)
def test_own_clinician_reaches_every_toxicity_form(clinician_client, patient, rows, name, args):
    assert clinician_client.get(_url(patient, rows, name, args)).status_code == 200


def test_another_patients_record_is_404(clinician_client, rome, rome_clinician, patient, rows):
    other = infused_patient(rome, rome_clinician)
    assert clinician_client.get(url("crs_edit", other, rows["crs"])).status_code == 404
    assert clinician_client.get(url("void", other, "icans", rows["icans"])).status_code == 404
    assert clinician_client.get(url("void", patient, "labresult", rows["crs"])).status_code == 404


def test_anonymous_user_is_sent_to_login(client, patient):
    assert client.get(url("crs_add", patient)).status_code == 302


def test_staff_see_toxicity_rows_in_the_admin_read_only(client, staff_admin, patient, rows):
    client.force_login(staff_admin)
    assert client.get(reverse("admin:adverse_events_crsassessment_changelist")).status_code == 200
    assert client.get(reverse("admin:adverse_events_crsassessment_add")).status_code == 403


# --- the demo (kept last: it loads the demo centres and users for the rest of the module) -----------------


def test_patient_page_shows_the_toxicity_summary_of_the_demo_series(demo_loaded, db, client):
    from django.contrib.auth import get_user_model

    from adverse_events.selectors import safety_summaries
    from registry.demo_series import SERIES_NAME
    from registry.models import CaseSeries

    series = list(CaseSeries.objects.get(name=SERIES_NAME).patients.select_related("centre"))
    summaries = safety_summaries(series)
    with_crs = next(p for p in series if summaries[p.pk].crs_max_grade == 1 and p.centre.code == "ROM")
    client.force_login(get_user_model().objects.get(username="rome.clinician"))
    text = body(client.get(reverse("patients:detail", args=[with_crs.pk])))
    summary = summaries[with_crs.pk]
    onset = f"D+{summary.crs_onset_day}" if summary.crs_onset_day else "D0"
    assert f'class="crs-max"><strong class="grade-1">1</strong> · onset {onset}' in text
    assert 'class="flowsheet"' in text and '<td class="grade-1" title=' in text
    assert 'class="infections">' in text and "Late ICAHT" in text
