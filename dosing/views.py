"""Forms from apheresis to day 0, reachable from the patient page.

Each view starts with :func:`registry.access.access_patient` (``for_write=True``), then builds its form with
choices limited to the patient's own rows and hands the cleaned data to one service. Growth, lymphodepletion,
bags, release tests, manufacturing and the infusion have a Preview that shows the computed values (BSA,
planned dose and deviation, concentration, pass/out of specification, infusion plan and dose) without saving.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from dosing import forms, selectors, services
from dosing.models import DoseWindow, ProductBag
from patients.selectors import growth_choices
from patients.views import detail_url, record_form
from registry import access

# --- apheresis and admissions -----------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def apheresis_add(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    return record_form(
        request,
        patient=patient,
        form_class=forms.ApheresisForm,
        title=_("Record an apheresis"),
        save=lambda data: services.apheresis_record(patient=patient, recorded_by=request.user, **data),
        success_message=_("Apheresis saved."),
        success_url=detail_url(patient, "apheresis"),
    )


@login_required
@require_http_methods(["GET", "POST"])
def admission_add(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    return record_form(
        request,
        patient=patient,
        form_class=forms.AdmissionForm,
        title=_("Record an admission"),
        intro=_("The infusion admission and every readmission; leave the discharge empty while inpatient."),
        save=lambda data: services.admission_record(patient=patient, recorded_by=request.user, **data),
        success_message=_("Admission saved."),
        success_url=detail_url(patient, "admissions"),
    )


@login_required
@require_http_methods(["GET", "POST"])
def admission_discharge(request: HttpRequest, patient_id: int, pk: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    admission = patient.admissions.filter(pk=pk, voided_at__isnull=True, discharged_on__isnull=True).first()
    if admission is None:
        raise Http404
    return record_form(
        request,
        patient=patient,
        form_class=forms.DischargeForm,
        title=_("Discharge (admitted %(d)s)") % {"d": admission.admitted_on.isoformat()},
        save=lambda data: services.admission_discharge(
            admission=admission, discharged_on=data["discharged_on"], recorded_by=request.user
        ),
        success_message=_("Discharge saved."),
        success_url=detail_url(patient, "admissions"),
    )


# --- manufacturing ----------------------------------------------------------------------------------------


def _run_preview(data: dict[str, Any]) -> dict[str, Any]:
    started, finished, apheresis = data.get("started_on"), data.get("finished_on"), data.get("apheresis")
    if not started or not finished:
        return {"missing": True}
    return {
        "duration_days": (finished - started).days,
        "from_apheresis_days": (started - apheresis.performed_on).days if apheresis else None,
    }


@login_required
@require_http_methods(["GET", "POST"])
def manufacturing_run_add(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)

    def save(data: dict[str, Any]) -> Any:
        return services.manufacturing_run_record(
            apheresis=data["apheresis"],
            product=data["product"],
            started_on=data["started_on"],
            finished_on=data["finished_on"],
            product_state=data["product_state"],
            recorded_by=request.user,
            **{name: data[name] for name in forms.ManufacturingRunForm.SERVICE_FIELDS},
        )

    return record_form(
        request,
        patient=patient,
        form_class=forms.ManufacturingRunForm,
        form_kwargs={"aphereses": selectors.apheresis_choices(patient)},
        title=_("Record a manufacturing run"),
        intro=_("Add the bags and the release tests from the patient page once the run is saved."),
        save=save,
        preview=_run_preview,
        preview_template="dosing/_run_preview.html",
        success_message=_("Manufacturing run saved."),
        success_url=detail_url(patient, "manufacturing"),
    )


def _bag_preview(data: dict[str, Any]) -> dict[str, Any]:
    cells, volume = data.get("car_t_cells"), data.get("volume_ml")
    if not cells or not volume:
        return {"missing": True}
    return {"cells_per_ml": ProductBag(car_t_cells=cells, volume_ml=volume).cells_per_ml}


@login_required
@require_http_methods(["GET", "POST"])
def product_bag_add(request: HttpRequest, patient_id: int, run_id: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    run = selectors.patient_run(patient, run_id)
    if run is None:
        raise Http404
    return record_form(
        request,
        patient=patient,
        form_class=forms.ProductBagForm,
        title=_("Add a bag to the run of %(d)s") % {"d": run.started_on.isoformat()},
        save=lambda data: services.product_bag_record(run=run, recorded_by=request.user, **data),
        preview=_bag_preview,
        preview_template="dosing/_bag_preview.html",
        success_message=_("Bag saved."),
        success_url=detail_url(patient, f"run-{run.pk}"),
        save_another=True,
    )


def _release_test_preview(data: dict[str, Any]) -> dict[str, Any]:
    if not data.get("kind"):
        return {"missing": True}
    passed = services.release_test_passed(
        kind=data["kind"],
        spec_min=data.get("spec_min"),
        spec_max=data.get("spec_max"),
        spec_expected=data.get("spec_expected") or "",
        result_value=data.get("result_value"),
        result_text=data.get("result_text") or "",
    )
    return {"passed": passed}


@login_required
@require_http_methods(["GET", "POST"])
def release_test_add(request: HttpRequest, patient_id: int, run_id: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    run = selectors.patient_run(patient, run_id)
    if run is None:
        raise Http404
    return record_form(
        request,
        patient=patient,
        form_class=forms.ReleaseTestForm,
        title=_("Add a release test to the run of %(d)s") % {"d": run.started_on.isoformat()},
        intro=_(
            "Numeric tests (endotoxin, VCN, viability, identity) need a minimum and/or maximum; "
            "sterility and mycoplasma an expected result such as 'negative'. Pass or out of specification "
            "is computed."
        ),
        save=lambda data: services.release_test_record(run=run, recorded_by=request.user, **data),
        preview=_release_test_preview,
        preview_template="dosing/_release_test_preview.html",
        success_message=_("Release test saved."),
        success_url=detail_url(patient, f"run-{run.pk}"),
        save_another=True,
    )


# --- lymphodepletion --------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def lymphodepletion_add(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)

    def preview(data: dict[str, Any]) -> dict[str, Any]:
        if not data.get("given_on") or not data.get("mg_per_m2"):
            return {"missing": True}
        result = services.lymphodepletion_preview(
            patient=patient,
            given_on=data["given_on"],
            mg_per_m2=data["mg_per_m2"],
            given_mg=data.get("given_mg"),
            growth=data.get("growth"),
        )
        return {"ld": result, "study_day": patient.study_day(data["given_on"])}

    return record_form(
        request,
        patient=patient,
        form_class=forms.LymphodepletionForm,
        form_kwargs={"growths": growth_choices(patient)},
        title=_("Record a lymphodepletion dose"),
        intro=_(
            "One row per agent and day (e.g. fludarabine 30 mg/m² on D−5, D−4, D−3). The planned dose is "
            "mg/m² × BSA of the latest measurement; a deviation of more than 10 % is flagged."
        ),
        save=lambda data: services.lymphodepletion_dose_record(
            patient=patient, recorded_by=request.user, **data
        ),
        preview=preview,
        preview_template="dosing/_lymphodepletion_preview.html",
        success_message=_("Lymphodepletion dose saved."),
        success_url=detail_url(patient, "lymphodepletion"),
        save_another=True,
    )


# --- infusion ---------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def infusion_add(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)

    def preview(data: dict[str, Any]) -> dict[str, Any]:
        run, growth = data.get("run"), data.get("growth")
        if run is None or growth is None:
            return {"missing": True}
        target = data.get("target_cells_per_kg") or run.product.target_cells_per_kg
        plan = services.infusion_plan(run=run, growth=growth, target_cells_per_kg=target)
        dose = None
        if data.get("car_t_cells_infused"):
            dose = services.infusion_dose(
                product=run.product,
                weight_kg=float(growth.weight_kg),
                car_t_cells_infused=float(data["car_t_cells_infused"]),
                target_cells_per_kg=float(target),
            )
        selected = list(data.get("bags") or [])
        return {
            "plan": plan,
            "product": run.product,
            "dose": dose,
            "outside_window": dose is not None and dose.window != DoseWindow.WITHIN,
            "selected_cells": sum(b.car_t_cells for b in selected) if selected else None,
            "selected_volume": sum((b.volume_ml for b in selected), Decimal("0")) if selected else None,
        }

    def save(data: dict[str, Any]) -> Any:
        return services.infusion_record(
            patient=patient,
            run=data["run"],
            infused_on=data["infused_on"],
            growth=data["growth"],
            car_t_cells_infused=data["car_t_cells_infused"],
            volume_infused_ml=data["volume_infused_ml"],
            bags=list(data["bags"]),
            target_cells_per_kg=data["target_cells_per_kg"] or None,
            premedication=data["premedication"],
            out_of_window_justification=data["out_of_window_justification"],
            is_reinfusion=data["is_reinfusion"],
            recorded_by=request.user,
        )

    return record_form(
        request,
        patient=patient,
        form_class=forms.InfusionForm,
        form_kwargs={
            "runs": selectors.run_choices(patient, successful_only=True),
            "growths": growth_choices(patient),
            "bags": selectors.bag_choices(patient),
        },
        title=_("Record the CAR T infusion"),
        intro=_(
            "Preview shows the plan (cells required for the weight and target, which bag(s), how many "
            "mL) and the resulting dose before you save. The first infusion sets day 0."
        ),
        save=save,
        preview=preview,
        preview_template="dosing/_infusion_preview.html",
        success_message=_("Infusion saved."),
        success_url=detail_url(patient, "infusion"),
    )
