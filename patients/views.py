"""Patient pages: list, enrolment, the patient page, and the forms for enrolment data, identity, status,
baseline and growth.

Every view that takes a patient id starts with :func:`registry.access.access_patient` (``for_write=True``
for the forms), so "not yours" and "does not exist" are the same 404 for every page and method. Writes are
one service call each; the service's field-keyed errors are shown next to the fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from adverse_events.templatetags.toxicity import toxicity_page
from dosing import selectors as dosing_selectors
from outcomes.templatetags.outcomes_page import follow_up_page
from patients import forms, selectors, services
from patients.glance import course_glance
from patients.models import Patient
from registry import access
from registry.access import Action
from registry.access_events import identity_viewed

# --- the one form flow: GET, Preview (computes, saves nothing), Save (one service call) --------------------


def detail_url(patient: Patient, anchor: str = "") -> str:
    url = reverse("patients:detail", args=[patient.pk])
    return f"{url}#{anchor}" if anchor else url


def record_form(
    request: HttpRequest,
    *,
    patient: Patient | None,
    form_class: type[forms.RecordForm],
    title: str,
    save: Callable[[dict[str, Any]], Any],
    success_message: str,
    success_url: str | Callable[[Any], str] | None = None,
    preview: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
    preview_template: str | None = None,
    form_kwargs: dict[str, Any] | None = None,
    initial: dict[str, Any] | None = None,
    save_another: bool = False,
    intro: str = "",
    danger: bool = False,
) -> HttpResponse:
    """Render ``form_class``; on POST either preview (``action=preview``) or save through ``save``.

    ``save`` receives the cleaned data and calls exactly one service; a ValidationError from it is put on
    the fields it names and nothing is saved (services are atomic). ``preview`` computes the derived values
    from whatever is filled in (every field optional in preview mode) and never writes.
    """
    form_kwargs = form_kwargs or {}
    computed = None
    if request.method == "POST":
        action = request.POST.get("action", "save")
        is_preview = action == "preview"  # never saves, even on a form without computed values
        form = form_class(request.POST, preview=is_preview, **form_kwargs)
        valid = form.is_valid()
        if is_preview:
            try:
                computed = preview(form.cleaned_data) if preview is not None else None
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
        elif valid:
            try:
                obj = save(form.cleaned_data)
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            else:
                messages.success(request, success_message)
                if save_another and action == "save_another":
                    return redirect(request.path)
                if callable(success_url):
                    return redirect(success_url(obj))
                return redirect(success_url or detail_url(patient))
    else:
        form = form_class(initial=initial, **form_kwargs)
    return render(
        request,
        "patients/record_form.html",
        {
            "patient": patient,
            "form": form,
            "title": title,
            "intro": intro,
            "computed": computed,
            "preview_template": preview_template if preview else None,
            "save_another": save_another,
            "danger": danger,
            "cancel_url": detail_url(patient) if patient else reverse("patients:list"),
        },
    )


# --- list and enrolment -----------------------------------------------------------------------------------


@login_required
@require_GET
def patient_list(request: HttpRequest) -> HttpResponse:
    """The worklist (also the home page): the patients of the user's centres with the study day today, the
    next visit due and its window, overdue visits and open CRS/ICANS episodes; a link straight to the visit
    form of the next timepoint for the clinicians who may record it."""
    if not access.has_membership(request.user):
        return redirect("no_centre")
    status_choices = selectors.status_filter_choices()
    filters = forms.PatientFilterForm(request.GET or None, status_choices=status_choices)
    values = filters.cleaned_data if filters.is_valid() else {}
    page, rows = selectors.patient_list_page(
        request.user,
        q=values.get("q", ""),
        diagnosis=values.get("diagnosis", ""),
        status=values.get("status", ""),
        page=request.GET.get("page", 1),
    )
    query = request.GET.copy()
    query.pop("page", None)
    readable = access.centre_ids_for(request.user, Action.READ)
    return render(
        request,
        "patients/patient_list.html",
        {
            "filters": filters,
            "page": page,
            "rows": rows,
            "query": query.urlencode(),
            "can_enrol": access.can_anywhere(request.user, Action.WRITE),
            "several_centres": readable is None or len(readable) > 1,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def patient_enrol(request: HttpRequest) -> HttpResponse:
    centres = access.visible_centres(request.user, Action.WRITE)
    if not centres.exists():
        raise Http404

    def save(data: dict[str, Any]) -> Patient:
        # data["centre"] comes from a choice limited to the centres where the user may write.
        return services.patient_enrol(
            centre=data["centre"],
            sex=data["sex"],
            diagnosis=data["diagnosis"],
            recorded_by=request.user,
            identity={name: data[name] for name in forms.IDENTITY_FIELDS},
            **{name: data[name] for name in forms.PATIENT_FIELDS if name not in ("sex", "diagnosis")},
        )

    return record_form(
        request,
        patient=None,
        form_class=forms.EnrolForm,
        form_kwargs={"centres": centres},
        title=_("Enrol a patient"),
        intro=_(
            "The registry code (e.g. ROM-004) is allocated on saving. Identity is stored apart and "
            "shown only to the clinicians of the centre."
        ),
        save=save,
        success_message=_("Patient enrolled."),
        success_url=lambda patient: detail_url(patient),
    )


# --- the patient page -------------------------------------------------------------------------------------


@login_required
def patient_detail(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id)
    if request.method not in ("GET", "HEAD"):
        # After the access check, so that another centre's user gets the same 404 whatever the method.
        return HttpResponseNotAllowed(["GET", "HEAD"])
    can_identity = access.can(request.user, Action.IDENTITY, patient.centre_id)
    can_write = access.can(request.user, Action.WRITE, patient.centre_id)
    can_add = can_write and patient.accepts_new_data
    dosing = dosing_selectors.dosing_page(patient)
    page = selectors.patient_page(
        patient, show_identity=can_identity, first_apheresis_on=dosing.first_apheresis_on
    )
    if page.identity is not None:
        identity_viewed(request, patient, page="patient")
    # The follow-up and toxicity sections are built once here (their template tags reuse them) because the
    # header, the timeline and the plots show the same data.
    follow = follow_up_page(patient, growth=page.growth)
    toxicity = toxicity_page(patient)
    glance = course_glance(patient, dosing=dosing, follow=follow, toxicity=toxicity, can_add=can_add)
    return render(
        request,
        "patients/patient_detail.html",
        {
            "patient": patient,
            "page": page,
            "dosing": dosing,
            "follow": follow,
            "toxicity": toxicity,
            "glance": glance,
            "can_identity": can_identity,
            "can_write": can_write,
            "can_add": can_add,
        },
    )


# --- patient, identity, status, void ----------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def patient_edit(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    return record_form(
        request,
        patient=patient,
        form_class=forms.PatientEditForm,
        initial={name: getattr(patient, name) for name in forms.PATIENT_FIELDS},
        title=_("Edit enrolment data"),
        save=lambda data: services.patient_update(
            patient=patient,
            changes={name: data[name] for name in forms.PATIENT_FIELDS},
            recorded_by=request.user,
            reason=data["reason"],
        ),
        success_message=_("Enrolment data saved."),
    )


@login_required
@require_http_methods(["GET", "POST"])
def identity_edit(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    if not access.can(request.user, Action.IDENTITY, patient.centre_id):
        raise Http404
    identity = getattr(patient, "identity", None)
    if identity is not None and request.method == "GET":
        identity_viewed(request, patient, page="identity_edit")
    return record_form(
        request,
        patient=patient,
        form_class=forms.IdentityForm,
        initial={name: getattr(identity, name) for name in forms.IDENTITY_FIELDS} if identity else None,
        title=_("Edit identity"),
        intro=_("Identity is seen only by the clinicians of this centre. Changes need a reason."),
        save=lambda data: services.identity_update(
            patient=patient,
            changes={name: data[name] for name in forms.IDENTITY_FIELDS},
            recorded_by=request.user,
            reason=data["reason"],
        ),
        success_message=_("Identity saved."),
        success_url=detail_url(patient, "identity"),
    )


@login_required
@require_http_methods(["GET", "POST"])
def status_change(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    return record_form(
        request,
        patient=patient,
        form_class=forms.StatusForm,
        initial={
            "status": patient.status,
            "death_date": patient.death_date,
            "death_cause": patient.death_cause,
            "death_related_to_car_t": patient.death_related_to_car_t,
        },
        title=_("Change status"),
        intro=_("A deceased patient needs the date, the cause and whether the death was related to CAR T."),
        save=lambda data: services.patient_set_status(
            patient=patient,
            status=data["status"],
            status_date=data["status_date"],
            death_date=data["death_date"],
            death_cause=data["death_cause"],
            death_related_to_car_t=data["death_related_to_car_t"],
            recorded_by=request.user,
            reason=data["reason"],
        ),
        success_message=_("Status saved."),
    )


@login_required
@require_http_methods(["GET", "POST"])
def patient_void(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    return record_form(
        request,
        patient=patient,
        form_class=forms.VoidForm,
        title=_("Void patient %(code)s") % {"code": patient.code},
        intro=_(
            "Only for a patient enrolled in error. The record is kept and audited, and drops out of exports."
        ),
        save=lambda data: services.patient_void(
            patient=patient, recorded_by=request.user, reason=data["reason"]
        ),
        success_message=_("Patient voided."),
        danger=True,
    )


# Records that the patient page can void: model label → (path from the record to its patient, date field).
# Infusions are not voided here: voiding the day-0 infusion must also reset day 0 (no service for it yet).
VOIDABLE: dict[str, tuple[str, str | None]] = {
    "patients.organinvolvement": ("patient", None),
    "patients.priortherapy": ("patient", "start_date"),
    "patients.growthmeasurement": ("patient", "measured_on"),
    "dosing.apheresis": ("patient", "performed_on"),
    "dosing.admission": ("patient", "admitted_on"),
    "dosing.manufacturingrun": ("patient", "started_on"),
    "dosing.productbag": ("run__patient", None),
    "dosing.releasetest": ("run__patient", None),
    "dosing.lymphodepletiondose": ("patient", "given_on"),
}


@login_required
@require_http_methods(["GET", "POST"])
def record_void(
    request: HttpRequest, patient_id: int, app_label: str, model_name: str, pk: int
) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    spec = VOIDABLE.get(f"{app_label}.{model_name}".lower())
    if spec is None:
        raise Http404
    patient_path, date_field = spec
    model = apps.get_model(app_label, model_name)
    record = model._default_manager.filter(**{patient_path: patient}, pk=pk, voided_at__isnull=True).first()
    if record is None:
        raise Http404
    what = str(model._meta.verbose_name)
    if date_field and getattr(record, date_field):
        what = f"{what} ({getattr(record, date_field).isoformat()})"
    return record_form(
        request,
        patient=patient,
        form_class=forms.VoidForm,
        title=_("Void %(what)s") % {"what": what},
        intro=_("Only for a record entered in error. It is kept and audited, and drops out of exports."),
        save=lambda data: services.record_void(
            record=record, recorded_by=request.user, reason=data["reason"]
        ),
        success_message=_("Record voided."),
        danger=True,
    )


# --- baseline and growth ----------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def organ_involvement_add(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    return record_form(
        request,
        patient=patient,
        form_class=forms.OrganInvolvementForm,
        title=_("Add organ involvement at baseline"),
        save=lambda data: services.organ_involvement_record(
            patient=patient,
            organ=data["organ"],
            nephritis_class=data["nephritis_class"],
            detail=data["detail"],
            recorded_by=request.user,
        ),
        success_message=_("Organ involvement saved."),
        success_url=detail_url(patient, "baseline"),
        save_another=True,
    )


@login_required
@require_http_methods(["GET", "POST"])
def prior_therapy_add(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    return record_form(
        request,
        patient=patient,
        form_class=forms.PriorTherapyForm,
        title=_("Add a prior therapy"),
        intro=_(
            "Glucocorticoids are recorded but not counted as a line. For drugs stopped before apheresis the "
            "stop date dates the washout."
        ),
        save=lambda data: services.prior_therapy_record(patient=patient, recorded_by=request.user, **data),
        success_message=_("Prior therapy saved."),
        success_url=detail_url(patient, "baseline"),
        save_another=True,
    )


def _growth_preview(data: dict[str, Any]) -> dict[str, Any]:
    height, weight = data.get("height_cm"), data.get("weight_kg")
    formula = data.get("bsa_formula") or "mosteller"
    if height is None or weight is None:
        return {"missing": True}
    # The same derivation and rounding the service stores.
    return {"bsa_m2": services._bsa(height, weight, formula), "formula": formula}


@login_required
@require_http_methods(["GET", "POST"])
def growth_add(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    return record_form(
        request,
        patient=patient,
        form_class=forms.GrowthForm,
        title=_("Add weight and height"),
        save=lambda data: services.growth_record(patient=patient, recorded_by=request.user, **data),
        preview=_growth_preview,
        preview_template="patients/_growth_preview.html",
        success_message=_("Growth measurement saved."),
        success_url=detail_url(patient, "growth"),
    )
