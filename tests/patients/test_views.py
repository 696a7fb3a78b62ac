"""Patient pages in the browser: the scoped list, enrolment, the patient page (identity only for the centre's
clinicians, a constant number of queries), and the forms for enrolment data, identity, status, voiding,
baseline and growth."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from dosing import services as dosing_services
from dosing.models import Product
from patients import services
from patients.models import GrowthMeasurement, OrganInvolvement, Patient, PatientIdentity, PriorTherapy

TODAY = timezone.localdate()
DOB = TODAY - dt.timedelta(days=12 * 365 + 100)
IDENTITY = {
    "given_name": "Giulietta",
    "family_name": "Rossellini",
    "date_of_birth": DOB,
    "hospital_number": "OPBG-778899",
    "contact": "Mother: +39 06 5555 0101",
}


def ago(days: int) -> dt.date:
    return TODAY - dt.timedelta(days=days)


def body(response) -> str:
    return response.content.decode()


def field_errors(response, field: str) -> list[str]:
    return list(response.context["form"].errors.get(field, []))


@pytest.fixture
def patient(rome, rome_clinician):
    return services.patient_enrol(
        centre=rome,
        sex="female",
        diagnosis="sle",
        recorded_by=rome_clinician,
        identity=IDENTITY,
        diagnosis_date=ago(3 * 365),
    )


@pytest.fixture
def clinician_client(client, rome_clinician):
    client.force_login(rome_clinician)
    return client


# --- list -------------------------------------------------------------------------------------------------


def test_home_is_the_patient_list(clinician_client, patient):
    """``/`` shows the worklist itself (the same view as ``/patients/``), not a welcome page."""
    home, listing = clinician_client.get(reverse("home")), clinician_client.get(reverse("patients:list"))
    assert [r.code for r in home.context["rows"]] == [r.code for r in listing.context["rows"]] == [patient.code]
    assert reverse("patients:enrol") in body(home)


def test_patient_list_is_scoped_to_the_users_centres(
    client, patient, erlangen_patient, rome_clinician, monitor
):
    client.force_login(rome_clinician)
    text = body(client.get(reverse("patients:list")))
    assert patient.code in text and erlangen_patient.code not in text
    assert "Enrol a patient" in text
    client.force_login(monitor)  # registry-wide: every centre, no enrolment
    text = body(client.get(reverse("patients:list")))
    assert patient.code in text and erlangen_patient.code in text
    assert "Enrol a patient" not in text


def test_patient_list_searches_by_code_and_filters(client, rome, rome_clinician, patient):
    jdm = services.patient_enrol(centre=rome, sex="male", diagnosis="jdm", recorded_by=rome_clinician)
    services.patient_set_status(
        patient=jdm, status="lost_to_follow_up", recorded_by=rome_clinician, reason="moved"
    )
    client.force_login(rome_clinician)

    def codes(**params):
        return [row.code for row in client.get(reverse("patients:list"), params).context["rows"]]

    assert codes() == ["ROM-001", "ROM-002"]
    assert codes(q="002") == ["ROM-002"]
    assert codes(diagnosis="sle") == ["ROM-001"]
    assert codes(status="lost_to_follow_up") == ["ROM-002"]
    assert codes(status="active", diagnosis="jdm") == []


def test_patient_list_shows_age_at_infusion_not_the_date_of_birth(client, patient, rome_coordinator):
    Patient.objects.filter(pk=patient.pk).update(day0=ago(10))
    client.force_login(rome_coordinator)
    response = client.get(reverse("patients:list"))
    (row,) = response.context["rows"]
    assert row.age_at_infusion == 12
    assert DOB.isoformat() not in body(response) and IDENTITY["family_name"] not in body(response)


def test_user_without_membership_is_sent_to_the_no_centre_page(client, nobody):
    client.force_login(nobody)
    assert client.get(reverse("patients:list"))["Location"] == reverse("no_centre")


# --- enrolment --------------------------------------------------------------------------------------------


ENROL = {
    "given_name": "Anna",
    "family_name": "Bianchi",
    "date_of_birth": (TODAY - dt.timedelta(days=9 * 365)).isoformat(),
    "hospital_number": "H-1",
    "contact": "",
    "sex": "female",
    "diagnosis": "jdm",
    "classification_criteria": "eular_acr_2017_iim",
    "diagnosis_date": ago(700).isoformat(),
    "treatment_pathway": "compassionate_use",
    "approval_reference": "CU-2025-3",
    "guardian_consent_date": ago(30).isoformat(),
    "child_assent_date": ago(30).isoformat(),
    "reconsent_at_majority_date": "",
}


def test_clinician_enrols_a_patient_with_identity_kept_apart(clinician_client, rome, rome_clinician):
    response = clinician_client.post(reverse("patients:enrol"), {**ENROL, "centre": rome.pk})
    patient = Patient.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "patients:detail", args=[patient.pk]
    )
    assert (patient.code, patient.diagnosis, patient.treatment_pathway) == (
        "ROM-001",
        "jdm",
        "compassionate_use",
    )
    assert patient.approval_reference == "CU-2025-3" and patient.guardian_consent_date == ago(30)
    assert PatientIdentity.objects.get(patient=patient).family_name == "Bianchi"
    assert patient.history.get().history_user == rome_clinician


def test_enrolment_errors_name_the_field_and_save_nothing(clinician_client, rome):
    data = {**ENROL, "centre": rome.pk, "diagnosis_date": (TODAY - dt.timedelta(days=10 * 365)).isoformat()}
    response = clinician_client.post(reverse("patients:enrol"), data)
    assert response.status_code == 200
    assert any("after the date of birth" in e for e in field_errors(response, "diagnosis_date"))
    data = {**ENROL, "centre": rome.pk, "classification_criteria": "eular_acr_2019_sle"}
    response = clinician_client.post(reverse("patients:enrol"), data)
    assert any(
        "do not belong to the diagnosis" in e for e in field_errors(response, "classification_criteria")
    )
    assert not Patient.objects.exists() and not PatientIdentity.objects.exists()


def test_clinician_cannot_enrol_at_another_centre(clinician_client, erlangen):
    response = clinician_client.post(reverse("patients:enrol"), {**ENROL, "centre": erlangen.pk})
    assert response.status_code == 200
    assert field_errors(response, "centre")
    assert not Patient.objects.exists()


@pytest.mark.parametrize("persona", ["rome_monitor", "monitor", "rome_coordinator", "coordinator", "nobody"])
def test_readers_cannot_enrol(request, client, persona, rome):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("patients:enrol")).status_code == 404
    assert client.post(reverse("patients:enrol"), {**ENROL, "centre": rome.pk}).status_code == 404
    assert not Patient.objects.exists()


# --- the patient page -------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["rome_coordinator", "coordinator", "rome_monitor", "monitor"])
def test_identity_never_appears_in_the_html_for_coordinators_and_monitors(request, client, patient, persona):
    from django.utils.formats import date_format

    leaks = [
        IDENTITY["given_name"],
        IDENTITY["family_name"],
        IDENTITY["hospital_number"],
        IDENTITY["contact"],
        DOB.isoformat(),
        date_format(DOB),
    ]
    client.force_login(request.getfixturevalue(persona))
    for url in (reverse("patients:detail", args=[patient.pk]), reverse("patients:list")):
        response = client.get(url)
        assert response.status_code == 200
        text = body(response)
        for value in leaks:
            assert value not in text, value
    assert response.context is not None


def test_clinician_of_the_centre_sees_identity_and_age(clinician_client, patient):
    response = clinician_client.get(reverse("patients:detail", args=[patient.pk]))
    text = body(response)
    for value in ("Giulietta", "Rossellini", "OPBG-778899", DOB.isoformat()):
        assert value in text
    assert response.context["page"].age_today == 12


def test_patient_page_header_and_banner(client, rome, rome_clinician, rome_monitor):
    demo = services.patient_enrol(
        centre=rome,
        sex="male",
        diagnosis="ssc",
        recorded_by=rome_clinician,
        identity=IDENTITY,
        is_illustrative=True,
    )
    client.force_login(rome_monitor)
    text = body(client.get(reverse("patients:detail", args=[demo.pk])))
    assert "Illustrative demo data" in text
    assert demo.code in text and "Systemic sclerosis" in text and "Male" in text
    assert "Edit enrolment data" not in text and "Add weight and height" not in text  # no write links


def test_write_links_only_for_the_centres_clinicians(client, patient, rome_clinician, monitor):
    client.force_login(rome_clinician)
    text = body(client.get(reverse("patients:detail", args=[patient.pk])))
    for url in (
        reverse("patients:edit", args=[patient.pk]),
        reverse("patients:growth_add", args=[patient.pk]),
        reverse("dosing:apheresis_add", args=[patient.pk]),
    ):
        assert url in text
    client.force_login(monitor)
    text = body(client.get(reverse("patients:detail", args=[patient.pk])))
    assert reverse("patients:edit", args=[patient.pk]) not in text
    assert reverse("record_history", args=["patients", "patient", patient.pk]) in text


def _product():
    return Product.objects.get_or_create(
        code="mb-cart19-1",
        defaults={
            "name": "zorpocabtagene autoleucel (MB-CART19.1)",
            "target_cells_per_kg": 1e6,
            "min_cells_per_kg": 0.5e6,
            "max_cells_per_kg": 1.5e6,
        },
    )[0]


def _records(patient, user, n: int) -> None:
    """``n`` rows of every kind shown on the patient page, through the services; the last infusion sets day 0."""
    organs = ["skin", "arthritis", "serositis", "haematological"]
    for i in range(n):
        services.organ_involvement_record(patient=patient, organ=organs[i], recorded_by=user)
        services.prior_therapy_record(
            patient=patient,
            drug=f"drug {i}",
            therapy_class="conventional_immunosuppressant" if i else "b_cell_targeted",
            start_date=ago(900 - i),
            stop_date=ago(80 - i),
            reason_stopped="inefficacy",
            recorded_by=user,
        )
        growth = services.growth_record(
            patient=patient,
            measured_on=ago(90 - i),
            weight_kg=Decimal("32.5"),
            height_cm=Decimal("140"),
            recorded_by=user,
        )
        dosing_services.admission_record(
            patient=patient,
            admitted_on=ago(40 - i),
            discharged_on=ago(39 - i),
            reason="other",
            recorded_by=user,
        )
    runs = []
    for i in range(n):
        apheresis = dosing_services.apheresis_record(
            patient=patient, performed_on=ago(70 - i), recorded_by=user
        )
        run = dosing_services.manufacturing_run_record(
            apheresis=apheresis,
            product=_product(),
            started_on=ago(69 - i),
            finished_on=ago(50 - i),
            product_state="fresh",
            recorded_by=user,
        )
        for j in range(n):
            dosing_services.product_bag_record(
                run=run, identifier=f"B{j}", car_t_cells=4e7, volume_ml=Decimal("10"), recorded_by=user
            )
        for kind in ["sterility", "mycoplasma", "endotoxin"][:n]:
            if kind == "endotoxin":
                dosing_services.release_test_record(
                    run=run, kind=kind, spec_max=5, result_value=1, recorded_by=user
                )
            else:
                dosing_services.release_test_record(
                    run=run, kind=kind, spec_expected="negative", result_text="negative", recorded_by=user
                )
        runs.append(run)
    for i in range(n):
        dosing_services.lymphodepletion_dose_record(
            patient=patient,
            agent="fludarabine",
            given_on=ago(20 - i),
            mg_per_m2=25,
            given_mg=28,
            recorded_by=user,
        )
    run = runs[0]
    bags = list(run.bags.order_by("identifier"))
    dosing_services.infusion_record(
        patient=patient,
        run=run,
        infused_on=ago(10),
        growth=growth,
        car_t_cells_infused=3.25e7,
        volume_infused_ml=Decimal("8.1"),
        bags=[bags[0]],
        recorded_by=user,
    )
    for i in range(1, n):
        dosing_services.infusion_record(
            patient=patient,
            run=runs[i],
            infused_on=ago(10 - i),
            growth=growth,
            car_t_cells_infused=3.25e7,
            volume_infused_ml=Decimal("8.1"),
            bags=[runs[i].bags.order_by("identifier")[0]],
            is_reinfusion=True,
            recorded_by=user,
        )


# 1 session, 2 user, 3 memberships (access grants, cached for the request), 4 patient + centre
# (access_patient), 5 identity (age), 6 organ involvement, 7 prior therapies, 8 growth, 9 aphereses,
# 10 admissions, 11 runs + product + apheresis, 12 their bags + infusion link + infusion, 13 their release
# tests, 14 lymphodepletion doses, 15 infusions + run + product + apheresis + weight, 16 the infused bags;
# follow-up (built once by the view; the header and the plots use it too): 17 follow-up timepoints,
# 18 visited timepoints, 19 visits with instruments, 20-22 course (CAR T/CD19/IgG labs, visits, medications),
# 23 medications list, 24 latest result per analyte; toxicity (also built once): 25-30 safety summary (CRS,
# ICANS, labs, supportive care, infections, adverse events), 31-35 the listed CRS, ICANS, infections, adverse
# events, supportive care; course at a glance: 36 the CAR T, CD19 and ANC series of the plots (the timeline
# and the other plots reuse the rows above); 37 the access-log row recording that the identity was shown.
PATIENT_PAGE_QUERIES = 37


@pytest.mark.parametrize("n", [1, 3])
def test_patient_page_runs_a_constant_number_of_queries(
    client, django_assert_num_queries, patient, rome_clinician, n
):
    _records(patient, rome_clinician, n)
    client.force_login(rome_clinician)
    url = reverse("patients:detail", args=[patient.pk])
    with django_assert_num_queries(PATIENT_PAGE_QUERIES):
        response = client.get(url)
    assert response.status_code == 200
    page, dosing = response.context["page"], response.context["dosing"]
    assert len(page.growth) == n and len(dosing.runs) == n and len(dosing.infusions) == n
    assert sum(len(run.valid_bags) for run in dosing.runs) == n * n


def test_patient_page_shows_prior_lines_b_cell_and_washout(clinician_client, patient, rome_clinician):
    user = rome_clinician
    services.prior_therapy_record(
        patient=patient, drug="prednisone", therapy_class="glucocorticoid", recorded_by=user
    )
    services.prior_therapy_record(
        patient=patient,
        drug="mycophenolate",
        therapy_class="conventional_immunosuppressant",
        start_date=ago(600),
        stop_date=ago(80),
        reason_stopped="car_t",
        recorded_by=user,
    )
    services.prior_therapy_record(
        patient=patient,
        drug="rituximab",
        therapy_class="b_cell_targeted",
        start_date=ago(400),
        stop_date=ago(200),
        reason_stopped="inefficacy",
        recorded_by=user,
    )
    dosing_services.apheresis_record(patient=patient, performed_on=ago(50), recorded_by=user)
    response = clinician_client.get(reverse("patients:detail", args=[patient.pk]))
    page = response.context["page"]
    assert page.prior_lines == 2 and page.b_cell_targeted_before
    washout = {t.drug: t.washout_days for t in page.prior_therapies}
    assert washout == {"prednisone": None, "mycophenolate": 30, "rituximab": 150}
    assert "2 prior lines of therapy" in body(response)


# --- access to every patient page -------------------------------------------------------------------------


def patient_urls(patient) -> dict[str, str]:
    growth = GrowthMeasurement.objects.filter(patient=patient).first()
    p = patient.pk
    return {
        "patients:detail": reverse("patients:detail", args=[p]),
        "patients:edit": reverse("patients:edit", args=[p]),
        "patients:identity": reverse("patients:identity", args=[p]),
        "patients:status": reverse("patients:status", args=[p]),
        "patients:void": reverse("patients:void", args=[p]),
        "patients:record_void": reverse(
            "patients:record_void", args=[p, "patients", "growthmeasurement", growth.pk]
        ),
        "patients:organ_add": reverse("patients:organ_add", args=[p]),
        "patients:therapy_add": reverse("patients:therapy_add", args=[p]),
        "patients:growth_add": reverse("patients:growth_add", args=[p]),
    }


WRITE_URL_NAMES = [
    "patients:edit",
    "patients:identity",
    "patients:status",
    "patients:void",
    "patients:record_void",
    "patients:organ_add",
    "patients:therapy_add",
    "patients:growth_add",
]


@pytest.fixture
def patient_with_growth(patient, rome_clinician):
    services.growth_record(
        patient=patient,
        measured_on=ago(5),
        weight_kg=Decimal("30"),
        height_cm=Decimal("135"),
        recorded_by=rome_clinician,
    )
    return patient


@pytest.mark.parametrize("name", ["patients:detail", *WRITE_URL_NAMES])
def test_other_centres_clinician_gets_404_on_every_patient_page(
    client, erlangen_clinician, patient_with_growth, name
):
    url = patient_urls(patient_with_growth)[name]
    client.force_login(erlangen_clinician)
    assert client.get(url).status_code == 404
    assert client.post(url, {"action": "save", "reason": "x", "status": "completed"}).status_code == 404
    patient_with_growth.refresh_from_db()
    assert patient_with_growth.status == "active" and patient_with_growth.voided_at is None


@pytest.mark.parametrize("persona", ["rome_monitor", "monitor", "rome_coordinator", "coordinator"])
def test_readers_see_the_patient_page_but_get_404_on_writes(request, client, patient_with_growth, persona):
    urls = patient_urls(patient_with_growth)
    client.force_login(request.getfixturevalue(persona))
    assert client.get(urls["patients:detail"]).status_code == 200
    for name in WRITE_URL_NAMES:
        assert client.get(urls[name]).status_code == 404, name
        assert client.post(urls[name], {"action": "save", "reason": "x"}).status_code == 404, name


def test_missing_patient_is_the_same_404(clinician_client):
    assert clinician_client.get(reverse("patients:detail", args=[999999])).status_code == 404


# --- the forms --------------------------------------------------------------------------------------------


def test_growth_errors_name_the_field_and_range_and_save_nothing(clinician_client, patient):
    url = reverse("patients:growth_add", args=[patient.pk])
    response = clinician_client.post(
        url,
        {"measured_on": ago(3).isoformat(), "weight_kg": "1", "height_cm": "300", "bsa_formula": "mosteller"},
    )
    assert response.status_code == 200
    assert field_errors(response, "weight_kg") == [
        "Weight (kg) must be between 2 and 150; 1 is outside that range."
    ]
    assert field_errors(response, "height_cm") == [
        "Height (cm) must be between 40 and 210; 300 is outside that range."
    ]
    assert "Weight (kg) must be between 2 and 150" in body(response)
    # The preview shows the same errors and no BSA.
    preview = clinician_client.post(url, {"weight_kg": "1", "height_cm": "140", "action": "preview"})
    assert field_errors(preview, "weight_kg") and preview.context["computed"] == {"missing": True}
    assert not GrowthMeasurement.objects.exists()


def test_growth_preview_uses_the_chosen_formula(clinician_client, patient):
    url = reverse("patients:growth_add", args=[patient.pk])
    response = clinician_client.post(
        url, {"weight_kg": "32,5", "height_cm": "140,0", "bsa_formula": "haycock", "action": "preview"}
    )
    assert response.context["computed"]["formula"] == "haycock"
    assert response.context["computed"]["bsa_m2"] == services._bsa(Decimal("140"), Decimal("32.5"), "haycock")
    assert not GrowthMeasurement.objects.exists()


def test_patient_edit_needs_a_reason(clinician_client, patient):
    url = reverse("patients:edit", args=[patient.pk])
    form = clinician_client.get(url).context["form"]
    data = {name: form[name].value() or "" for name in form.fields}
    data.update(approval_reference="HE-2025-11", reason="")
    data["diagnosis_date"] = patient.diagnosis_date.isoformat()
    response = clinician_client.post(url, data)
    assert response.status_code == 200 and field_errors(response, "reason")
    patient.refresh_from_db()
    assert patient.approval_reference == ""
    response = clinician_client.post(url, {**data, "reason": "approval arrived"})
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.approval_reference == "HE-2025-11"
    assert patient.history.first().history_change_reason == "approval arrived"


def test_identity_edit_is_audited_with_its_reason(clinician_client, patient):
    url = reverse("patients:identity", args=[patient.pk])
    data = {**IDENTITY, "date_of_birth": DOB.isoformat(), "hospital_number": "OPBG-000001"}
    assert field_errors(clinician_client.post(url, {**data, "reason": ""}), "reason")
    response = clinician_client.post(url, {**data, "reason": "new hospital number"})
    assert response.status_code == 302
    identity = PatientIdentity.objects.get(patient=patient)
    assert identity.hospital_number == "OPBG-000001"
    assert identity.history.first().history_change_reason == "new hospital number"


def test_deceased_needs_date_cause_and_relation(clinician_client, patient):
    url = reverse("patients:status", args=[patient.pk])
    response = clinician_client.post(url, {"status": "deceased", "reason": "reported by the family"})
    assert response.status_code == 200
    assert field_errors(response, "death_cause")
    response = clinician_client.post(
        url, {"status": "deceased", "death_cause": "sepsis", "reason": "reported by the family"}
    )
    assert field_errors(response, "death_date")
    response = clinician_client.post(
        url,
        {
            "status": "deceased",
            "death_date": ago(1).isoformat(),
            "death_cause": "sepsis",
            "reason": "reported",
        },
    )
    assert field_errors(response, "death_related_to_car_t")
    patient.refresh_from_db()
    assert patient.status == "active"
    response = clinician_client.post(
        url,
        {
            "status": "deceased",
            "death_date": ago(1).isoformat(),
            "death_cause": "sepsis",
            "death_related_to_car_t": "not_related",
            "reason": "reported by the family",
        },
    )
    assert response.status_code == 302
    patient.refresh_from_db()
    assert (patient.status, patient.death_cause, patient.death_related_to_car_t) == (
        "deceased",
        "sepsis",
        "not_related",
    )


def test_void_a_record_keeps_it_with_its_reason(clinician_client, patient_with_growth):
    growth = GrowthMeasurement.objects.get()
    url = reverse(
        "patients:record_void", args=[patient_with_growth.pk, "patients", "growthmeasurement", growth.pk]
    )
    assert field_errors(clinician_client.post(url, {"reason": " "}), "reason")
    assert clinician_client.post(url, {"reason": "wrong child"}).status_code == 302
    growth.refresh_from_db()
    assert growth.voided_at is not None and growth.void_reason == "wrong child"
    page = clinician_client.get(reverse("patients:detail", args=[patient_with_growth.pk]))
    assert page.context["page"].growth == []
    assert clinician_client.get(url).status_code == 404  # already voided


def test_void_only_whitelisted_records_of_this_patient(clinician_client, patient, erlangen_patient):
    assert (
        clinician_client.get(
            reverse("patients:record_void", args=[patient.pk, "registry", "membership", 1])
        ).status_code
        == 404
    )
    assert (
        clinician_client.get(
            reverse("patients:record_void", args=[patient.pk, "dosing", "infusion", 1])
        ).status_code
        == 404
    )


def test_void_patient(clinician_client, patient):
    url = reverse("patients:void", args=[patient.pk])
    assert clinician_client.post(url, {"reason": "enrolled twice"}).status_code == 302
    patient.refresh_from_db()
    assert patient.voided_at is not None
    text = body(clinician_client.get(reverse("patients:detail", args=[patient.pk])))
    assert "voided (entered in error): enrolled twice" in text


def test_organ_involvement_and_prior_therapy_forms(clinician_client, patient):
    url = reverse("patients:organ_add", args=[patient.pk])
    response = clinician_client.post(url, {"organ": "skin", "nephritis_class": "IV"})
    assert field_errors(response, "nephritis_class")
    assert not OrganInvolvement.objects.exists()
    response = clinician_client.post(
        url, {"organ": "lupus_nephritis", "nephritis_class": "IV", "action": "save_another"}
    )
    assert response.status_code == 302 and response["Location"] == url
    url = reverse("patients:therapy_add", args=[patient.pk])
    response = clinician_client.post(
        url, {"drug": "rituximab", "therapy_class": "b_cell_targeted", "b_cell_targeted": ""}
    )
    assert response.status_code == 302
    assert PriorTherapy.objects.get().b_cell_targeted is True  # from the class
    response = clinician_client.post(
        url,
        {
            "drug": "MMF",
            "therapy_class": "conventional_immunosuppressant",
            "start_date": ago(10).isoformat(),
            "stop_date": ago(20).isoformat(),
            "reason_stopped": "other",
        },
    )
    assert any("before the start date" in e for e in field_errors(response, "stop_date"))
    assert PriorTherapy.objects.count() == 1


def test_consent_withdrawn_hides_add_links(clinician_client, patient, rome_clinician):
    services.patient_set_status(
        patient=patient, status="consent_withdrawn", recorded_by=rome_clinician, reason="family"
    )
    text = body(clinician_client.get(reverse("patients:detail", args=[patient.pk])))
    assert "Consent withdrawn" in text
    assert reverse("patients:growth_add", args=[patient.pk]) not in text
    response = clinician_client.post(
        reverse("patients:growth_add", args=[patient.pk]),
        {
            "measured_on": ago(1).isoformat(),
            "weight_kg": "30",
            "height_cm": "130",
            "bsa_formula": "mosteller",
        },
    )
    assert response.status_code == 200 and "no new data" in body(response)
    assert not GrowthMeasurement.objects.exists()


def test_pages_have_no_inline_script_or_style(clinician_client, patient_with_growth):
    """The CSP forbids inline scripts and style attributes; every page of this app must do without."""
    for name, url in patient_urls(patient_with_growth).items():
        text = body(clinician_client.get(url))
        assert "style=" not in text and "<script>" not in text, name
        assert " on" + "click=" not in text, name
    text = body(clinician_client.get(reverse("patients:list")))
    assert "style=" not in text and "<script>" not in text
