"""Toxicity forms, reachable from the patient page's "Toxicity" section.

Every view starts with :func:`registry.access.access_patient` (``for_write=True``: only the clinicians of the
patient's centre), so another centre's user, a monitor and a coordinator get the same 404 for every URL and
method. Each form uses the shared :func:`patients.views.record_form` flow: Preview shows what the service will
compute (CRS and ICANS grades, ICE/CAPD score, laboratory CTCAE grades, the proposed infection grade) without
saving; Save is one service call. A grade posted for CRS, ICANS or a laboratory value is not a form field and
is ignored: those grades are always computed.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from adverse_events import forms, grading, services
from adverse_events.models import AdverseEvent, CrsAssessment, IcansAssessment, Infection, SupportiveCare
from outcomes import services as lab_services
from outcomes.labs import CTCAE_TERM_FOR_ANALYTE, analyte
from patients import services as patient_services
from patients.forms import VoidForm
from patients.models import Patient
from patients.views import detail_url, record_form
from registry import access

SECTION = "toxicity"

# --- CRS --------------------------------------------------------------------------------------------------


def _crs_preview(patient: Patient, data: dict[str, Any], *, exclude_pk: int | None = None) -> dict[str, Any]:
    needed = (*forms.CRS_FORM_FIELDS, *(f"vaso_{a}_dose" for a in forms.VASOPRESSORS_DOSED_PER_MCG))
    if any(name not in data for name in needed):
        return {"invalid": True}  # a field has an error: no grade from a partly read form
    if data.get("assessed_at") is None:
        return {"missing": True}
    observations = forms.crs_observations(data)
    grade, fever_not_required = services.crs_preview(
        patient=patient, assessed_at=data["assessed_at"], exclude_pk=exclude_pk, **observations
    )
    temperature = observations["max_temperature_c"]
    return {
        "grade": grade,
        "fever_not_required": fever_not_required,
        "fever": temperature is not None
        and temperature >= grading.FEVER_THRESHOLD_C
        and not observations["fever_other_cause"],
        "study_day": patient.study_day(
            lab_services.local_date(data["assessed_at"], patient.centre.time_zone)
        ),
        "rule": grading.CRS_RULE,
    }


CRS_INTRO = _(
    "Enter what was observed; the ASTCT 2019 grade is computed (Preview shows it before saving). Once CRS "
    "has been treated with tocilizumab, a corticosteroid, anakinra or an antipyretic, fever is no longer "
    "required: hypotension and hypoxia drive the grade."
)


@login_required
@require_http_methods(["GET", "POST"])
def crs_add(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    return record_form(
        request,
        patient=patient,
        form_class=forms.CrsForm,
        form_kwargs={"time_zone": patient.centre.time_zone},
        title=_("Record a CRS assessment"),
        intro=CRS_INTRO,
        save=lambda data: services.crs_assessment_record(
            patient=patient,
            assessed_at=data["assessed_at"],
            recorded_by=request.user,
            **forms.crs_observations(data),
        ),
        preview=lambda data: _crs_preview(patient, data),
        preview_template="adverse_events/_crs_preview.html",
        success_message=_("CRS assessment saved."),
        success_url=detail_url(patient, SECTION),
        save_another=True,
    )


def _patient_row(model: type, patient: Patient, pk: int) -> Any:
    row = model._default_manager.filter(patient=patient, pk=pk, voided_at__isnull=True).first()
    if row is None:
        raise Http404
    return row


@login_required
@require_http_methods(["GET", "POST"])
def crs_edit(request: HttpRequest, patient_id: int, pk: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    assessment = _patient_row(CrsAssessment, patient, pk)
    assessment.patient = patient  # the centre is already loaded
    return record_form(
        request,
        patient=patient,
        form_class=forms.CrsEditForm,
        form_kwargs={"time_zone": patient.centre.time_zone},
        initial=forms.crs_initial(assessment),
        title=_("Edit the CRS assessment of %(t)s")
        % {"t": lab_services.local_date(assessment.assessed_at, patient.centre.time_zone).isoformat()},
        intro=_(
            "Changes need a reason. Later assessments of the patient are regraded if this one changes "
            "whether fever is still required."
        ),
        save=lambda data: services.crs_assessment_update(
            assessment=assessment,
            changes={"assessed_at": data["assessed_at"], **forms.crs_observations(data)},
            recorded_by=request.user,
            reason=data.get("reason") or "",
        ),
        preview=lambda data: _crs_preview(patient, data, exclude_pk=assessment.pk),
        preview_template="adverse_events/_crs_preview.html",
        success_message=_("CRS assessment saved."),
        success_url=detail_url(patient, SECTION),
    )


# --- ICANS ------------------------------------------------------------------------------------------------


def _icans_preview(patient: Patient, data: dict[str, Any]) -> dict[str, Any]:
    item_names = forms.icans_item_names(data.get("tool"))
    if any(name not in data for name in (*forms.ICANS_BASE_FIELDS, *item_names)):
        return {"invalid": True}  # a field has an error: no grade from a partly read form
    if data.get("assessed_at") is None:
        return {"missing": True}
    row = services.icans_preview(
        patient=patient, assessed_at=data["assessed_at"], **forms.icans_observations(data)
    )
    filled = [n for n in item_names if data.get(n) not in (None, "")]
    return {
        "row": row,
        "study_day": patient.study_day(
            lab_services.local_date(data["assessed_at"], patient.centre.time_zone)
        ),
        "incomplete": bool(filled) and len(filled) < len(item_names),
        "no_score": row.ice_score is None and row.capd_score is None and not row.unable_to_perform,
        "rule": grading.ICANS_RULE,
    }


ICANS_INTRO = _(
    "The tool follows the age at the assessment, computed from the date of birth: ICE from 12 years, CAPD "
    "below 12 or with developmental delay. If you change the time or the developmental delay, press Preview "
    "to see the right items. The ASTCT 2019 grade is computed; the worst domain wins."
)


@login_required
@require_http_methods(["GET", "POST"])
def icans_add(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    return record_form(
        request,
        patient=patient,
        form_class=forms.IcansForm,
        form_kwargs={"patient": patient},
        title=_("Record an ICANS assessment"),
        intro=ICANS_INTRO,
        save=lambda data: services.icans_assessment_record(
            patient=patient,
            assessed_at=data["assessed_at"],
            recorded_by=request.user,
            **forms.icans_observations(data),
        ),
        preview=lambda data: _icans_preview(patient, data),
        preview_template="adverse_events/_icans_preview.html",
        success_message=_("ICANS assessment saved."),
        success_url=detail_url(patient, SECTION),
        save_another=True,
    )


@login_required
@require_http_methods(["GET", "POST"])
def icans_edit(request: HttpRequest, patient_id: int, pk: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    assessment = _patient_row(IcansAssessment, patient, pk)
    assessment.patient = patient
    return record_form(
        request,
        patient=patient,
        form_class=forms.IcansEditForm,
        form_kwargs={"patient": patient},
        initial=forms.icans_initial(assessment),
        title=_("Edit the ICANS assessment of %(t)s")
        % {"t": lab_services.local_date(assessment.assessed_at, patient.centre.time_zone).isoformat()},
        intro=_("Changes need a reason; the tool and the grade are computed again."),
        save=lambda data: services.icans_assessment_update(
            assessment=assessment,
            changes={"assessed_at": data["assessed_at"], **forms.icans_observations(data)},
            recorded_by=request.user,
            reason=data.get("reason") or "",
        ),
        preview=lambda data: _icans_preview(patient, data),
        preview_template="adverse_events/_icans_preview.html",
        success_message=_("ICANS assessment saved."),
        success_url=detail_url(patient, SECTION),
    )


# --- blood counts -----------------------------------------------------------------------------------------


def _cbc_preview(data: dict[str, Any]) -> dict[str, Any]:
    results = []
    for _field, code, item in forms.blood_count_items(data):
        spec = analyte(code)
        entry: dict[str, Any] = {"item": item, "label": spec.label, "unit": spec.unit}
        try:
            canonical = spec.to_canonical(float(lab_services.parse_number("value", item.value)), item.unit)
            lln = (
                None
                if item.lln is None
                else spec.to_canonical(float(lab_services.parse_number("lln", item.lln)), item.unit)
            )
        except (ValidationError, ValueError) as exc:
            entry["error"] = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        else:
            term, divisor = CTCAE_TERM_FOR_ANALYTE[code]
            entry["value"] = canonical
            entry["grade"] = grading.ctcae_grade(
                term, canonical / divisor, lln=None if lln is None else lln / divisor
            )
            entry["needs_lln"] = entry["grade"] is None
        results.append(entry)
    if not results:
        return {"missing": True}
    return {"results": results, "rule": grading.CTCAE_RULE}


def _cbc_service_errors(exc: ValidationError, cells: list[tuple[str, str, Any]]) -> ValidationError:
    """Put the service's "row N field" errors (N = the N-th value) back on the grid row or column."""
    if not hasattr(exc, "error_dict"):
        return exc
    errors: dict[str, list[str]] = {}
    for key, messages in exc.message_dict.items():
        parts = key.split(" ")
        if len(parts) == 3 and parts[0] == "row" and parts[1].isdigit() and 0 < int(parts[1]) <= len(cells):
            field, code, _item = cells[int(parts[1]) - 1]
            label = forms.CBC_SHORT[code]
            target = f"{code}_unit" if parts[2] in ("unit", "lln") else field
            errors.setdefault(target, []).extend(f"{label}: {m}" for m in messages)
        else:
            errors.setdefault(key, []).extend(messages)
    return ValidationError(errors)


@login_required
@require_http_methods(["GET", "POST"])
def blood_counts_add(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    try:
        rows = int(request.GET.get("rows", forms.CBC_DEFAULT_ROWS))
    except ValueError:
        rows = forms.CBC_DEFAULT_ROWS

    def save(data: dict[str, Any]) -> Any:
        cells = forms.blood_count_items(data)
        try:
            return lab_services.lab_results_record_many(
                patient=patient, items=[item for _f, _c, item in cells], recorded_by=request.user
            )
        except ValidationError as exc:
            raise _cbc_service_errors(exc, cells) from exc

    return record_form(
        request,
        patient=patient,
        form_class=forms.BloodCountForm,
        form_kwargs={"time_zone": patient.centre.time_zone, "rows": rows},
        title=_("Enter blood counts"),
        intro=_(
            "One row per sample, values as on the report. The neutrophil counts give the early and late "
            "ICAHT grades (EHA/EBMT 2023) on the patient page; every value gets its laboratory CTCAE v5.0 "
            "grade, which needs the lab's lower limit of normal for grade 1. Need more rows? Add ?rows=20 "
            "to the address."
        ),
        save=save,
        preview=_cbc_preview,
        preview_template="adverse_events/_cbc_preview.html",
        success_message=_("Blood counts saved."),
        success_url=detail_url(patient, SECTION),
    )


# --- supportive care, infections, other adverse events ----------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def supportive_care_add(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    return record_form(
        request,
        patient=patient,
        form_class=forms.SupportiveCareForm,
        title=_("Record supportive care"),
        intro=_("Transfusions, G-CSF and other support given for haematotoxicity."),
        save=lambda data: services.supportive_care_record(patient=patient, recorded_by=request.user, **data),
        success_message=_("Supportive care saved."),
        success_url=detail_url(patient, SECTION),
        save_another=True,
    )


def _infection_preview(data: dict[str, Any]) -> dict[str, Any]:
    if not data.get("treatment_route") or not data.get("outcome"):
        return {"missing": True}
    facts = {name: data.get(name) for name in services.INFECTION_FIELDS}
    proposed = services.infection_proposal(Infection(**facts))
    chosen = data.get("grade")
    return {
        "proposed": proposed,
        "chosen": chosen if chosen is not None else proposed,
        "differs": chosen is not None and chosen != proposed,
        "severe": (chosen if chosen is not None else proposed) >= Infection.SEVERE_GRADE,
        "rule": grading.CTCAE_RULE,
    }


@login_required
@require_http_methods(["GET", "POST"])
def infection_add(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    return record_form(
        request,
        patient=patient,
        form_class=forms.InfectionForm,
        title=_("Record an infection"),
        intro=_(
            "The registry proposes a CTCAE grade from the treatment, hospitalisation, intensive care and "
            "outcome; you confirm it (or choose another). Severe = grade 3 or higher."
        ),
        save=lambda data: services.infection_record(
            patient=patient,
            onset_on=data["onset_on"],
            grade=data["grade"],
            recorded_by=request.user,
            **{name: data[name] for name in services.INFECTION_FIELDS},
        ),
        preview=_infection_preview,
        preview_template="adverse_events/_infection_preview.html",
        success_message=_("Infection saved."),
        success_url=detail_url(patient, SECTION),
    )


@login_required
@require_http_methods(["GET", "POST"])
def adverse_event_add(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    return record_form(
        request,
        patient=patient,
        form_class=forms.AdverseEventForm,
        title=_("Record an adverse event"),
        intro=_(
            "Other adverse events, graded by you with CTCAE v5.0 (CRS, ICANS, infections and blood counts "
            "have their own forms)."
        ),
        save=lambda data: services.adverse_event_record(patient=patient, recorded_by=request.user, **data),
        success_message=_("Adverse event saved."),
        success_url=detail_url(patient, SECTION),
        save_another=True,
    )


# --- void -------------------------------------------------------------------------------------------------

VOIDABLE: dict[str, type] = {
    "crs": CrsAssessment,
    "icans": IcansAssessment,
    "infection": Infection,
    "adverse-event": AdverseEvent,
    "supportive-care": SupportiveCare,
}


@login_required
@require_http_methods(["GET", "POST"])
def record_void(request: HttpRequest, patient_id: int, kind: str, pk: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    model = VOIDABLE.get(kind)
    if model is None:
        raise Http404
    record = _patient_row(model, patient, pk)
    record.patient = patient

    def save(data: dict[str, Any]) -> Any:
        if model is CrsAssessment:  # later assessments may be regraded
            return services.crs_assessment_void(
                assessment=record, recorded_by=request.user, reason=data["reason"]
            )
        return patient_services.record_void(record=record, recorded_by=request.user, reason=data["reason"])

    return record_form(
        request,
        patient=patient,
        form_class=VoidForm,
        title=_("Void %(what)s") % {"what": model._meta.verbose_name},
        intro=_(
            "Only for a record entered in error. It is kept and audited, and drops out of grades, summaries "
            "and exports."
        ),
        save=save,
        success_message=_("Record voided."),
        success_url=detail_url(patient, SECTION),
        danger=True,
    )
