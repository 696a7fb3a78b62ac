"""The path to day 0 in the browser: apheresis → manufacturing → bags → release tests → lymphodepletion →
infusion, entirely through the views, with previews, validation, access and the admin."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from dosing import services as dosing_services
from dosing.models import (
    Apheresis,
    Infusion,
    InfusionBag,
    LymphodepletionDose,
    ManufacturingRun,
    Product,
    ProductBag,
    ReleaseTest,
)
from patients import services as patient_services
from patients.models import GrowthMeasurement, Patient

TODAY = timezone.localdate()


def ago(days: int) -> dt.date:
    return TODAY - dt.timedelta(days=days)


@pytest.fixture
def product(db):
    # Illustrative product data: target 1 × 10⁶ CAR+ T cells/kg, window 0.5–1.5 × 10⁶/kg.
    return Product.objects.create(
        name="zorpocabtagene autoleucel (MB-CART19.1)",
        code="mb-cart19-1",
        costimulatory_domain="4-1BB",
        vector="lentiviral",
        target_cells_per_kg=1e6,
        min_cells_per_kg=0.5e6,
        max_cells_per_kg=1.5e6,
    )


@pytest.fixture
def clinician_client(client, rome_clinician):
    client.force_login(rome_clinician)
    return client


def enrol(centre, user, *, dob=None) -> Patient:
    return patient_services.patient_enrol(
        centre=centre,
        sex="female",
        diagnosis="sle",
        recorded_by=user,
        identity={"given_name": "Giulia", "family_name": "Rossi", "date_of_birth": dob or ago(12 * 365)},
        diagnosis_date=ago(3 * 365),
    )


def ready_to_infuse(patient, user, product, *, bag_cells=(2e7, 2e7), weight="32.50"):
    """Growth, apheresis, a successful run with bags, through the services (for the focused tests)."""
    growth = patient_services.growth_record(
        patient=patient,
        measured_on=ago(60),
        weight_kg=Decimal(weight),
        height_cm=Decimal("140"),
        recorded_by=user,
    )
    apheresis = dosing_services.apheresis_record(patient=patient, performed_on=ago(50), recorded_by=user)
    run = dosing_services.manufacturing_run_record(
        apheresis=apheresis,
        product=product,
        started_on=ago(49),
        finished_on=ago(30),
        product_state="fresh",
        recorded_by=user,
    )
    bags = [
        dosing_services.product_bag_record(
            run=run, identifier=f"B{i}", car_t_cells=cells, volume_ml=Decimal("10"), recorded_by=user
        )
        for i, cells in enumerate(bag_cells, start=1)
    ]
    return growth, apheresis, run, bags


def body(response) -> str:
    return response.content.decode()


def field_errors(response, field: str) -> list[str]:
    return list(response.context["form"].errors.get(field, []))


# --- the whole path through the browser ------------------------------------------------------------------


def test_clinician_records_enrolment_to_day0_entirely_through_the_views(
    clinician_client, rome, rome_clinician, product
):
    client = clinician_client

    # Enrolment: the clinician's only centre is preselected; the registry code is allocated.
    response = client.get(reverse("patients:enrol"))
    assert response.context["form"]["centre"].initial == rome.pk
    response = client.post(
        reverse("patients:enrol"),
        {
            "centre": rome.pk,
            "given_name": "Giulia",
            "family_name": "Rossi",
            "date_of_birth": ago(12 * 365).isoformat(),
            "hospital_number": "H-4711",
            "sex": "female",
            "diagnosis": "sle",
            "classification_criteria": "eular_acr_2019_sle",
            "diagnosis_date": ago(3 * 365).isoformat(),
            "treatment_pathway": "hospital_exemption",
            "approval_reference": "HE-2024-07",
            "guardian_consent_date": ago(70).isoformat(),
            "child_assent_date": ago(70).isoformat(),
        },
    )
    patient = Patient.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("patients:detail", args=[patient.pk])
    assert patient.code == "ROM-001"
    assert patient.identity.hospital_number == "H-4711"
    pid = patient.pk

    # Growth with a decimal comma; the preview shows the BSA and saves nothing.
    growth_url = reverse("patients:growth_add", args=[pid])
    growth_data = {
        "measured_on": ago(60).isoformat(),
        "weight_kg": "32,5",
        "height_cm": "140",
        "bsa_formula": "mosteller",
    }
    preview = client.post(growth_url, {**growth_data, "action": "preview"})
    assert preview.status_code == 200
    assert "1.124" in body(preview)  # √(140 × 32.5 / 3600) = 1.1242 m²
    assert not GrowthMeasurement.objects.exists()
    assert client.post(growth_url, {**growth_data, "action": "save"}).status_code == 302
    growth = GrowthMeasurement.objects.get()
    assert growth.weight_kg == Decimal("32.50") and growth.bsa_m2 == Decimal("1.124")

    # Apheresis.
    response = client.post(
        reverse("dosing:apheresis_add", args=[pid]),
        {"performed_on": ago(50).isoformat(), "cd3_cells_collected": "2,1e9", "volume_processed_ml": "3500"},
    )
    assert response.status_code == 302
    apheresis = Apheresis.objects.get()
    assert apheresis.cd3_cells_collected == pytest.approx(2.1e9)

    # Manufacturing run (the only apheresis and the only product are preselected).
    run_url = reverse("dosing:run_add", args=[pid])
    form = client.get(run_url).context["form"]
    assert form["apheresis"].initial == apheresis.pk and form["product"].initial == product.pk
    response = client.post(
        run_url,
        {
            "apheresis": apheresis.pk,
            "product": product.pk,
            "platform": "CliniMACS Prodigy",
            "site": "OPBG cell factory",
            "started_on": ago(49).isoformat(),
            "finished_on": ago(37).isoformat(),
            "product_state": "fresh",
            "transduction_efficiency_pct": "38,5",
            "viability_pct": "92",
            "cd4_cd8_ratio": "1,8",
            "vector_copy_number": "2.1",
            "total_viable_car_t_cells": "4.0 × 10^7",
            "outcome": "success",
        },
    )
    assert response.status_code == 302
    run = ManufacturingRun.objects.get()
    assert run.transduction_efficiency_pct == Decimal("38.50")
    assert run.total_viable_car_t_cells == pytest.approx(4e7)

    # Two bags of 2 × 10⁷ cells in 10 mL; the preview shows the concentration.
    bag_url = reverse("dosing:bag_add", args=[pid, run.pk])
    preview = client.post(
        bag_url, {"identifier": "B1", "car_t_cells": "2e7", "volume_ml": "10", "action": "preview"}
    )
    assert "2.00 × 10⁶" in body(preview)
    assert not ProductBag.objects.exists()
    for identifier in ("B1", "B2"):
        response = client.post(bag_url, {"identifier": identifier, "car_t_cells": "2e7", "volume_ml": "10,0"})
        assert response.status_code == 302
    assert sorted(ProductBag.objects.values_list("identifier", flat=True)) == ["B1", "B2"]

    # Release tests: pass and out of specification are computed.
    test_url = reverse("dosing:release_test_add", args=[pid, run.pk])
    client.post(test_url, {"kind": "sterility", "spec_expected": "negative", "result_text": "Negative"})
    client.post(test_url, {"kind": "viability", "spec_min": "70", "result_value": "92"})
    preview = client.post(
        test_url, {"kind": "endotoxin", "spec_max": "5", "result_value": "7,2", "action": "preview"}
    )
    assert "Out of specification" in body(preview)
    client.post(test_url, {"kind": "endotoxin", "spec_max": "5", "result_value": "7,2"})
    verdicts = dict(ReleaseTest.objects.values_list("kind", "passed"))
    assert verdicts == {"sterility": True, "viability": True, "endotoxin": False}

    # Lymphodepletion: the preview shows BSA used, planned mg and the deviation flag.
    ld_url = reverse("dosing:lymphodepletion_add", args=[pid])
    ld = {"agent": "fludarabine", "given_on": ago(15).isoformat(), "mg_per_m2": "25", "given_mg": "35"}
    preview = client.post(ld_url, {**ld, "action": "preview"})
    text = body(preview)
    assert "1.124" in text  # BSA used
    assert "28.10" in text  # 25 mg/m² × 1.124 m²
    assert "+24.6 %" in text and "more than 10 % from the plan" in text
    assert not LymphodepletionDose.objects.exists()
    for days, agent, mg_per_m2, given in (
        (15, "fludarabine", "25", "28,1"),
        (14, "fludarabine", "25", "28.1"),
        (13, "fludarabine", "25", "35"),
        (13, "cyclophosphamide", "1000", "1124"),
    ):
        response = client.post(
            ld_url,
            {"agent": agent, "given_on": ago(days).isoformat(), "mg_per_m2": mg_per_m2, "given_mg": given},
        )
        assert response.status_code == 302, field_errors(response, "__all__")
    doses = list(LymphodepletionDose.objects.order_by("given_on", "agent"))
    assert [d.planned_mg for d in doses] == [
        Decimal("28.10"),
        Decimal("28.10"),
        Decimal("1124.00"),
        Decimal("28.10"),
    ]
    assert [d.deviation_flagged for d in doses] == [False, False, False, True]

    # Infusion: the preview shows the plan (3.25 × 10⁷ cells: B1 whole + 6.3 mL of B2) and the dose.
    inf_url = reverse("dosing:infusion_add", args=[pid])
    form = client.get(inf_url).context["form"]
    assert form["run"].initial == run.pk and form["growth"].initial == growth.pk
    bags = {b.identifier: b.pk for b in ProductBag.objects.all()}
    infusion = {
        "run": run.pk,
        "infused_on": ago(10).isoformat(),
        "growth": growth.pk,
        "bags": [bags["B1"], bags["B2"]],
        "car_t_cells_infused": "3,25e7",
        "volume_infused_ml": "16,3",
        "premedication": "paracetamol, cetirizine",
    }
    preview = client.post(inf_url, {**infusion, "action": "preview"})
    text = body(preview)
    plan = preview.context["computed"]["plan"]
    assert plan.cells_required == pytest.approx(3.25e7)
    assert [(b.bag.identifier, b.volume_ml) for b in plan.bags] == [
        ("B1", Decimal("10.0")),
        ("B2", Decimal("6.3")),
    ]
    assert "3.25 × 10⁷" in text and "16.3" in text
    assert "1.00 × 10⁶" in text and "100.0 %" in text and "Within window" in text
    assert not Infusion.objects.exists()
    response = client.post(inf_url, {**infusion, "action": "save"})
    assert response.status_code == 302
    saved = Infusion.objects.get()
    assert saved.dose_per_kg == pytest.approx(1e6)
    assert saved.percent_of_target == pytest.approx(100.0)
    assert saved.dose_window == "within"
    assert sorted(InfusionBag.objects.values_list("bag__identifier", flat=True)) == ["B1", "B2"]

    # Day 0 is set and every earlier record has its study day on the patient page.
    patient.refresh_from_db()
    assert patient.day0 == ago(10)
    page = client.get(reverse("patients:detail", args=[pid]))
    text = body(page)
    assert page.status_code == 200
    for study_day in ("D\u221250", "D\u221240", "D\u22125", "D\u22123", "D0"):
        assert study_day in text
    assert "Vein-to-vein" in text

    # Every record was audited.
    for model in (
        GrowthMeasurement,
        Apheresis,
        ManufacturingRun,
        ProductBag,
        ReleaseTest,
        LymphodepletionDose,
    ):
        assert model.history.filter(history_type="+", history_user=rome_clinician).exists()


# --- validation: the message names the field and nothing is saved ----------------------------------------


@pytest.fixture
def patient(rome, rome_clinician):
    return enrol(rome, rome_clinician)


def test_transduction_above_100_percent_is_refused_on_its_field(
    clinician_client, patient, rome_clinician, product
):
    apheresis = dosing_services.apheresis_record(
        patient=patient, performed_on=ago(50), recorded_by=rome_clinician
    )
    response = clinician_client.post(
        reverse("dosing:run_add", args=[patient.pk]),
        {
            "apheresis": apheresis.pk,
            "product": product.pk,
            "platform": "CliniMACS Prodigy",
            "started_on": ago(49).isoformat(),
            "finished_on": ago(37).isoformat(),
            "product_state": "fresh",
            "transduction_efficiency_pct": "120",
            "outcome": "success",
        },
    )
    assert response.status_code == 200
    errors = field_errors(response, "transduction_efficiency_pct")
    assert errors and "Transduction efficiency (%)" in errors[0] and "0 and 100" in errors[0]
    assert "Transduction efficiency (%) must be between 0 and 100" in body(response)
    assert not ManufacturingRun.objects.exists()


def test_manufacturing_end_before_start_is_refused_on_the_end_date(
    clinician_client, patient, rome_clinician, product
):
    apheresis = dosing_services.apheresis_record(
        patient=patient, performed_on=ago(50), recorded_by=rome_clinician
    )
    response = clinician_client.post(
        reverse("dosing:run_add", args=[patient.pk]),
        {
            "apheresis": apheresis.pk,
            "product": product.pk,
            "platform": "CliniMACS Prodigy",
            "started_on": ago(40).isoformat(),
            "finished_on": ago(45).isoformat(),
            "product_state": "fresh",
            "outcome": "success",
        },
    )
    assert response.status_code == 200
    assert any("before the start" in e for e in field_errors(response, "finished_on"))
    assert not ManufacturingRun.objects.exists()


def test_lymphodepletion_after_day0_is_refused_on_its_date(
    clinician_client, patient, rome_clinician, product
):
    growth, _, run, bags = ready_to_infuse(patient, rome_clinician, product)
    dosing_services.infusion_record(
        patient=patient,
        run=run,
        infused_on=ago(10),
        growth=growth,
        car_t_cells_infused=3.25e7,
        volume_infused_ml=Decimal("16.3"),
        bags=bags,
        recorded_by=rome_clinician,
    )
    response = clinician_client.post(
        reverse("dosing:lymphodepletion_add", args=[patient.pk]),
        {"agent": "fludarabine", "given_on": ago(8).isoformat(), "mg_per_m2": "25", "given_mg": "28.1"},
    )
    assert response.status_code == 200
    assert any("before day 0" in e for e in field_errors(response, "given_on"))
    assert not LymphodepletionDose.objects.exists()


def test_a_bag_cannot_be_infused_twice(clinician_client, patient, rome_clinician, product):
    growth, _, run, bags = ready_to_infuse(patient, rome_clinician, product, bag_cells=(4e7, 4e7))
    dosing_services.infusion_record(
        patient=patient,
        run=run,
        infused_on=ago(10),
        growth=growth,
        car_t_cells_infused=3.25e7,
        volume_infused_ml=Decimal("8.1"),
        bags=[bags[0]],
        recorded_by=rome_clinician,
    )
    url = reverse("dosing:infusion_add", args=[patient.pk])
    # The infused bag is shown but cannot be ticked ...
    page = body(clinician_client.get(url))
    assert "already infused" in page
    # ... and a crafted POST naming it is refused on the bags field.
    response = clinician_client.post(
        url,
        {
            "run": run.pk,
            "infused_on": ago(3).isoformat(),
            "growth": growth.pk,
            "bags": [bags[0].pk],
            "car_t_cells_infused": "3e7",
            "volume_infused_ml": "7.5",
            "is_reinfusion": "on",
        },
    )
    assert response.status_code == 200
    assert any("B1 has already been infused" in e for e in field_errors(response, "bags"))
    assert Infusion.objects.count() == 1
    assert InfusionBag.objects.count() == 1


def test_out_of_window_dose_needs_a_justification(clinician_client, patient, rome_clinician, product):
    growth, _, run, bags = ready_to_infuse(patient, rome_clinician, product)
    url = reverse("dosing:infusion_add", args=[patient.pk])
    data = {
        "run": run.pk,
        "infused_on": ago(10).isoformat(),
        "growth": growth.pk,
        "bags": [bags[0].pk],
        "car_t_cells_infused": "1.0e7",  # 0.31 × 10⁶/kg at 32.5 kg: below the 0.5–1.5 × 10⁶/kg window
        "volume_infused_ml": "5",
    }
    preview = clinician_client.post(url, {**data, "action": "preview"})
    assert "Below window" in body(preview) and "a justification is required" in body(preview)
    response = clinician_client.post(url, data)
    assert response.status_code == 200
    assert any("record a justification" in e for e in field_errors(response, "out_of_window_justification"))
    assert not Infusion.objects.exists()
    patient.refresh_from_db()
    assert patient.day0 is None
    # With a justification the dose is saved and flagged.
    response = clinician_client.post(
        url, {**data, "out_of_window_justification": "Low expansion; all available."}
    )
    assert response.status_code == 302
    assert Infusion.objects.get().dose_window == "below"


def test_infusion_preview_saves_nothing_and_works_without_cells(
    clinician_client, patient, rome_clinician, product
):
    growth, _, run, _bags = ready_to_infuse(patient, rome_clinician, product)
    response = clinician_client.post(
        reverse("dosing:infusion_add", args=[patient.pk]),
        {"run": run.pk, "growth": growth.pk, "action": "preview"},
    )
    assert response.status_code == 200
    assert not response.context["form"].errors  # preview needs only the run and the weight
    assert "3.25 × 10⁷" in body(response)
    assert "Enter the CAR+ T cells infused" in body(response)
    assert not Infusion.objects.exists()


def test_htmx_preview_posts_to_the_same_view(clinician_client, patient, rome_clinician, product):
    ready_to_infuse(patient, rome_clinician, product)
    page = body(clinician_client.get(reverse("dosing:lymphodepletion_add", args=[patient.pk])))
    assert 'hx-post="/patients/' in page and 'hx-target="#record-form"' in page
    assert 'name="action" value="save"' in page  # saving needs no JavaScript
    assert "<script>" not in page and "style=" not in page  # the CSP allows neither


def test_cell_counts_accept_comma_and_scientific_notation(clinician_client, patient, rome_clinician, product):
    _, _, run, _ = ready_to_infuse(patient, rome_clinician, product, bag_cells=())
    url = reverse("dosing:bag_add", args=[patient.pk, run.pk])
    for identifier, cells, expected in (
        ("C1", "3,2e7", 3.2e7),
        ("C2", "3.2 × 10^7", 3.2e7),
        ("C3", "45000000", 4.5e7),
    ):
        response = clinician_client.post(
            url, {"identifier": identifier, "car_t_cells": cells, "volume_ml": "12,5"}
        )
        assert response.status_code == 302
        bag = ProductBag.objects.get(identifier=identifier)
        assert bag.car_t_cells == pytest.approx(expected) and bag.volume_ml == Decimal("12.5")


def test_bag_volume_outside_range_is_refused(clinician_client, patient, rome_clinician, product):
    _, _, run, _ = ready_to_infuse(patient, rome_clinician, product, bag_cells=())
    response = clinician_client.post(
        reverse("dosing:bag_add", args=[patient.pk, run.pk]),
        {"identifier": "X", "car_t_cells": "2e7", "volume_ml": "0"},
    )
    assert any("Volume (mL) must be between 0.5 and 500" in e for e in field_errors(response, "volume_ml"))
    assert not ProductBag.objects.exists()


def test_another_patients_run_is_404(clinician_client, rome, rome_clinician, product):
    mine = enrol(rome, rome_clinician)
    other = enrol(rome, rome_clinician)
    _, _, other_run, _ = ready_to_infuse(other, rome_clinician, product)
    assert clinician_client.get(reverse("dosing:bag_add", args=[mine.pk, other_run.pk])).status_code == 404
    response = clinician_client.post(
        reverse("dosing:bag_add", args=[mine.pk, other_run.pk]),
        {"identifier": "B9", "car_t_cells": "2e7", "volume_ml": "10"},
    )
    assert response.status_code == 404
    assert not ProductBag.objects.filter(identifier="B9").exists()


def test_admission_and_discharge(clinician_client, patient):
    response = clinician_client.post(
        reverse("dosing:admission_add", args=[patient.pk]),
        {"admitted_on": ago(12).isoformat(), "ward": "ward", "reason": "infusion"},
    )
    assert response.status_code == 302
    admission = patient.admissions.get()
    response = clinician_client.post(
        reverse("dosing:admission_discharge", args=[patient.pk, admission.pk]),
        {"discharged_on": ago(14).isoformat()},
    )
    assert any("cannot be before admission" in e for e in field_errors(response, "discharged_on"))
    response = clinician_client.post(
        reverse("dosing:admission_discharge", args=[patient.pk, admission.pk]),
        {"discharged_on": ago(2).isoformat()},
    )
    assert response.status_code == 302
    admission.refresh_from_db()
    assert admission.discharged_on == ago(2)


# --- access -----------------------------------------------------------------------------------------------


@pytest.fixture
def full_path(rome, rome_clinician, product):
    patient = enrol(rome, rome_clinician)
    growth, apheresis, run, bags = ready_to_infuse(patient, rome_clinician, product)
    admission = dosing_services.admission_record(
        patient=patient, admitted_on=ago(11), reason="infusion", recorded_by=rome_clinician
    )
    return patient, run, admission


def dosing_urls(patient, run, admission) -> dict[str, str]:
    p = patient.pk
    return {
        "dosing:apheresis_add": reverse("dosing:apheresis_add", args=[p]),
        "dosing:admission_add": reverse("dosing:admission_add", args=[p]),
        "dosing:admission_discharge": reverse("dosing:admission_discharge", args=[p, admission.pk]),
        "dosing:run_add": reverse("dosing:run_add", args=[p]),
        "dosing:bag_add": reverse("dosing:bag_add", args=[p, run.pk]),
        "dosing:release_test_add": reverse("dosing:release_test_add", args=[p, run.pk]),
        "dosing:lymphodepletion_add": reverse("dosing:lymphodepletion_add", args=[p]),
        "dosing:infusion_add": reverse("dosing:infusion_add", args=[p]),
    }


URL_NAMES = [
    "dosing:apheresis_add",
    "dosing:admission_add",
    "dosing:admission_discharge",
    "dosing:run_add",
    "dosing:bag_add",
    "dosing:release_test_add",
    "dosing:lymphodepletion_add",
    "dosing:infusion_add",
]


@pytest.mark.parametrize("name", URL_NAMES)
def test_other_centres_clinician_gets_404_on_every_dosing_page(client, erlangen_clinician, full_path, name):
    url = dosing_urls(*full_path)[name]
    client.force_login(erlangen_clinician)
    assert client.get(url).status_code == 404
    assert client.post(url, {"action": "save", "identifier": "X", "car_t_cells": "1e7"}).status_code == 404
    assert client.post(url, {"action": "preview"}).status_code == 404


@pytest.mark.parametrize("persona", ["rome_monitor", "monitor", "rome_coordinator", "coordinator"])
@pytest.mark.parametrize("name", URL_NAMES)
def test_readers_get_404_on_dosing_write_views(request, client, full_path, persona, name):
    url = dosing_urls(*full_path)[name]
    client.force_login(request.getfixturevalue(persona))
    assert client.get(url).status_code == 404
    assert client.post(url, {"action": "save"}).status_code == 404


@pytest.mark.parametrize("name", URL_NAMES)
def test_own_clinician_reaches_every_dosing_page(clinician_client, full_path, name):
    assert clinician_client.get(dosing_urls(*full_path)[name]).status_code == 200


def test_anonymous_user_is_sent_to_login(client, full_path):
    response = client.get(dosing_urls(*full_path)["dosing:infusion_add"])
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


# --- admin ------------------------------------------------------------------------------------------------


def test_staff_maintain_products_in_the_admin_and_clinical_rows_are_read_only(client, staff_admin, full_path):
    from django.contrib import admin

    from registry.admin import AuditedAdmin

    client.force_login(staff_admin)
    assert isinstance(admin.site._registry[Product], AuditedAdmin)
    response = client.post(
        reverse("admin:dosing_product_add"),
        {
            "name": "Illustrative CD19 product",
            "code": "illustrative-cd19",
            "target_antigen": "CD19",
            "target_cells_per_kg": "1000000",
            "min_cells_per_kg": "1500000",
            "max_cells_per_kg": "500000",
        },
    )
    assert response.status_code == 200  # window maximum below its minimum
    assert not Product.objects.filter(code="illustrative-cd19").exists()
    response = client.post(
        reverse("admin:dosing_product_add"),
        {
            "name": "Illustrative CD19 product",
            "code": "illustrative-cd19",
            "target_antigen": "CD19",
            "target_cells_per_kg": "1000000",
            "min_cells_per_kg": "500000",
            "max_cells_per_kg": "1500000",
        },
    )
    assert response.status_code == 302
    product = Product.objects.get(code="illustrative-cd19")
    assert product.history.get().history_user == staff_admin
    _, run, _ = full_path
    for model in (Apheresis, ManufacturingRun, ProductBag, ReleaseTest, LymphodepletionDose, Infusion):
        model_admin = admin.site._registry.get(model)
        if model_admin is None:
            continue
        request = type("R", (), {"user": staff_admin})()
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request)
        assert not model_admin.has_delete_permission(request)
    assert client.get(reverse("admin:dosing_manufacturingrun_change", args=[run.pk])).status_code == 200
    assert client.post(reverse("admin:dosing_manufacturingrun_change", args=[run.pk]), {}).status_code == 403


def test_preview_never_saves_even_on_a_form_without_computed_values(clinician_client, patient):
    response = clinician_client.post(
        reverse("dosing:apheresis_add", args=[patient.pk]),
        {"performed_on": ago(5).isoformat(), "action": "preview"},
    )
    assert response.status_code == 200
    assert not Apheresis.objects.exists()
