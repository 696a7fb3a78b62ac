"""Follow-up in the browser: the visit form of the patient's diagnosis with its scores computed as it is
filled in, the visit page and its edit (reason + optimistic lock), labs as a grid or pasted from a
spreadsheet, and medications (record, stop).

Every view starts with :func:`registry.access.access_patient` (``for_write=True`` for the forms), so another
centre's patient is the same 404 as a missing one, for GET and POST alike; monitors and coordinators read.
Writes are one service call each. "Preview" (``action=preview``, also sent by htmx as the form changes)
computes through the same code the service uses and saves nothing; saving works without JavaScript.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from outcomes import forms, instruments, scores, services
from outcomes.labs import ANALYTES
from outcomes.models import Medication, MedicationClass, ScheduleTimepoint, Visit
from outcomes.templatetags.outcomes_page import centre_today, lab_flag, latest_labs
from patients.models import Patient
from patients.services import latest_growth
from patients.views import detail_url, record_form
from registry import access
from registry.access import Action

# --- helpers ------------------------------------------------------------------------------------------------


def _visit_of(patient: Patient, pk: int) -> Visit:
    visit = (
        Visit.objects.filter(patient=patient, pk=pk, voided_at__isnull=True)
        .select_related("timepoint", "sledai", "jdm", "ssc")
        .first()
    )
    if visit is None:
        raise Http404
    return visit


def instrument_of(visit: Visit) -> Any:
    for name in ("sledai", "jdm", "ssc"):
        row = getattr(visit, name, None)  # a missing reverse one-to-one raises an AttributeError subclass
        if row is not None and row.voided_at is None:
            return row
    return None


def _error_list(form: Any) -> list[str]:
    """Every error of ``form`` as "Label: message" (the live preview shows them next to the scores)."""
    result = []
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        for message in errors:
            result.append(f"{capfirst(label)}: {message}" if label else message)
    return result


def _unit(code: str) -> str:
    return ANALYTES[code].unit


def sledai_suggestions(patient: Patient, on: dt.date, *, upcr_g_g: Any = None) -> dict[str, str]:
    """Lab-backed descriptors suggested from the labs of the 10 days before the visit, with the evidence.

    A UPCR typed on the form counts like a laboratory UPCR.
    """
    labs = services.labs_on(patient, on)
    if upcr_g_g is not None:
        labs = {**labs, "upcr": (float(upcr_g_g), None, None)}
    evidence: dict[str, str] = {}

    def fmt(code: str, limit: str, index: int) -> str:
        value, lln, uln = labs[code]
        bound = (lln, uln)[index - 1]
        text = f"{ANALYTES[code].label} {value:g} {_unit(code)}"
        return f"{text} ({limit} {bound:g})" if bound is not None else text

    for code in instruments.suggest_sledai_descriptors(labs):
        if code == "low_complement":
            parts = [
                fmt(c, _("LLN"), 1)
                for c in ("c3", "c4")
                if c in labs and labs[c][1] is not None and labs[c][0] < labs[c][1]
            ]
        elif code == "increased_dna_binding":
            parts = [fmt("anti_dsdna", _("ULN"), 2)]
        elif code == "thrombocytopenia":
            parts = [f"{fmt('platelets', '', 0)} < {instruments.PLATELETS_BELOW_10E9_L:g}"]
        elif code == "leukopenia":
            parts = [f"{fmt('wbc', '', 0)} < {instruments.WBC_BELOW_CELLS_UL:g}"]
        else:
            parts = [f"UPCR {labs['upcr'][0]:g} g/g > {instruments.PROTEINURIA_UPCR_ABOVE_G_G:g}"]
        evidence[code] = "; ".join(parts)
    return evidence


def _bound_date(form: Any, name: str) -> dt.date | None:
    value = form.cleaned_data.get(name) if hasattr(form, "cleaned_data") else None
    if value is None and form.is_bound:
        try:
            value = dt.date.fromisoformat(form.data.get(name, ""))
        except ValueError:
            value = None
    return value


# --- the visit form: preview --------------------------------------------------------------------------------


def visit_preview(
    patient: Patient, form: Any, *, today: dt.date, visit: Visit | None = None
) -> dict[str, Any]:
    """What the clinician sees while filling in: every score the data entered so far allows, never saved."""
    data = form.cleaned_data
    on = data.get("visit_date") or today
    result: dict[str, Any] = {
        "instrument": form.instrument,
        "on": on,
        "date_missing": data.get("visit_date") is None,
        "study_day": patient.study_day(on),
        "notes": form.incomplete(),
        "row": None,
    }
    if form.instrument == "sledai":
        descriptors = [d for d in (data.get("descriptors") or []) if d in scores.SLEDAI_2K_WEIGHTS]
        result["sledai_2k"] = scores.sledai_2k(descriptors)
        result["clinical_sledai_2k"] = scores.clinical_sledai_2k(descriptors)
        result["major_organ"] = scores.lldas_major_organ_activity(descriptors)
        result["prednisone_mg_per_day"] = services.prednisone_mg_per_day_on(patient, on)
        result["suggestions"] = [
            (code, forms.SLEDAI_DESCRIPTORS[code][0], text, code in descriptors)
            for code, text in sledai_suggestions(patient, on, upcr_g_g=data.get("upcr_g_g")).items()
        ]
    elif form.instrument == "jdm":
        timed = []
        for code in scores.CMAS_TIMED_ITEMS:
            seconds = data.get(f"cmas_{code}_seconds")
            if seconds is not None:
                timed.append((forms.CMAS_LABELS[code], seconds, scores.cmas_timed_item(float(seconds), code)))
        result["timed"] = timed
        labs = services.labs_on(patient, on, days_before=7, days_after=1)
        result["enzymes"] = [
            (ANALYTES[c].label, labs[c][0], _unit(c), labs[c][2])
            for c in services.MUSCLE_ENZYMES
            if c in labs
        ]
        payload = form.instrument_payload() or {}
        if payload.get("cmas_items"):
            items = instruments.cmas_items_with_timed(payload["cmas_items"], payload["cmas_timed_seconds"])
            result["cmas"] = scores.cmas(items)
        if payload.get("mmt8_items"):
            result["mmt8"] = scores.mmt8(payload["mmt8_items"])
    else:
        sites = [data.get(f"mrss_{s}") for s in scores.MRSS_SITES]
        result["mrss_partial"] = sum(v for v in sites if v is not None)
        result["mrss_sites_given"] = sum(1 for v in sites if v is not None)
    payload = form.instrument_payload()
    ready = payload is not None and not (
        (form.instrument in ("sledai", "jdm") and data.get("physician_global") is None)
        or (form.instrument == "ssc" and not form.sites_complete())
    )
    if ready and not form.errors:
        try:
            result["row"] = services.instrument_preview(
                patient=patient, visit_date=on, instrument=payload, visit=visit
            )
        except ValidationError as exc:
            forms.add_service_errors(form, exc)
    if form.instrument == "jdm" and result["row"] is not None:
        result["improvements"] = improvement_rows(getattr(result["row"], "percent_improvement", {}))
        result["baseline_date"] = getattr(result["row"], "baseline_visit_date", None)
    result["errors"] = _error_list(form)
    return result


def improvement_rows(percent: dict[str, float]) -> list[tuple[Any, float]]:
    return [(label, percent[m]) for m, label in forms.JDM_MEASURE_LABELS.items() if m in percent]


# --- the visit form: new, edit, page ------------------------------------------------------------------------


def _visit_initial(patient: Patient, timepoint_code: str | None, today: dt.date) -> dict[str, Any]:
    initial: dict[str, Any] = {"visit_date": today}
    tp = (
        ScheduleTimepoint.objects.filter(protocol="default", code=timepoint_code).first()
        if timepoint_code
        else None
    )
    if tp is not None:
        initial["timepoint"] = tp.pk
        if patient.day0 is not None:
            initial["visit_date"] = min(today, patient.day0 + dt.timedelta(days=tp.nominal_day))
    return initial


def _render_visit_form(
    request: HttpRequest,
    *,
    patient: Patient,
    form: Any,
    title: str,
    computed: dict[str, Any] | None,
    visit: Visit | None = None,
    conflict: dict[str, Any] | None = None,
    today: dt.date,
) -> HttpResponse:
    tp = None
    if hasattr(form, "cleaned_data"):
        tp = form.cleaned_data.get("timepoint")
    elif form.initial.get("timepoint"):
        tp = ScheduleTimepoint.objects.filter(pk=form.initial["timepoint"]).first()
    elif visit is not None:
        tp = visit.timepoint
    expected = tp.expected_for(patient.diagnosis) if tp else []
    on = _bound_date(form, "visit_date") if form.is_bound else form.initial.get("visit_date")
    # A visit out of its window may be saved (late visits happen), but the form says so before saving.
    window = tp.window() if tp is not None and patient.day0 is not None and tp.kind == "follow_up" else None
    day = patient.study_day(on) if on else None
    return render(
        request,
        "outcomes/visit_form.html",
        {
            "patient": patient,
            "form": form,
            "title": title,
            "visit": visit,
            "computed": computed,
            "conflict": conflict,
            "timepoint": tp,
            "expected_instrument": form.instrument in expected,
            "expected_labs": [e for e in expected if e not in ("sledai", "jdm", "ssc", "crs", "icans")],
            "instrument_label": forms.INSTRUMENT_LABELS[form.instrument],
            "instrument_template": f"outcomes/_{patient.diagnosis}_fields.html",
            "visit_on": on,
            "study_day": day,
            "window": window,
            "outside_window": window is not None and day is not None and not window[0] <= day <= window[1],
            "today": today,
            "cancel_url": reverse("outcomes:visit_detail", args=[patient.pk, visit.pk])
            if visit
            else detail_url(patient, "visits"),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def visit_add(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    form_class = forms.VISIT_FORMS[patient.diagnosis]
    timepoints = forms.timepoint_queryset()
    today = centre_today(patient)
    computed = None
    if request.method == "POST":
        is_preview = request.POST.get("action", "save") == "preview"
        form = form_class(request.POST, preview=is_preview, patient=patient, timepoints=timepoints)
        valid = form.is_valid()
        if is_preview:
            computed = visit_preview(patient, form, today=today)
        elif valid:
            data = form.cleaned_data
            try:
                services.visit_record(
                    patient=patient,
                    visit_date=data["visit_date"],
                    timepoint=data["timepoint"],
                    assessed_by=data["assessed_by"],
                    notes=data["notes"],
                    instrument=form.instrument_payload(),
                    recorded_by=request.user,
                )
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            else:
                messages.success(request, _("Visit saved; its scores were computed by the registry."))
                return redirect(detail_url(patient, "visits"))
        on = _bound_date(form, "visit_date")
        if form.instrument == "sledai" and on:
            form.suggestions = sledai_suggestions(patient, on)
    else:
        initial = _visit_initial(patient, request.GET.get("timepoint"), today)
        form = form_class(initial=initial, patient=patient, timepoints=timepoints)
        if form.instrument == "sledai":
            # Lab-backed descriptors are pre-ticked for the clinician to confirm (GRADING.md §5.1).
            form.suggestions = sledai_suggestions(patient, initial["visit_date"])
            form.initial["descriptors"] = list(form.suggestions)
            upcr = services.labs_on(patient, initial["visit_date"]).get("upcr")
            if upcr is not None:
                form.initial["upcr_g_g"] = Decimal(str(round(upcr[0], 2)))
    return _render_visit_form(
        request,
        patient=patient,
        form=form,
        title=_("Record a visit"),
        computed=computed,
        today=today,
    )


def _saved_version(visit: Visit) -> dict[str, Any]:
    """The version someone else saved, to show next to the user's own input after a refused save."""
    saved = _visit_of(visit.patient, visit.pk)
    last = saved.history.select_related("history_user").order_by("-history_date", "-history_id").first()
    return {
        "visit": saved,
        "instrument": instrument_of(saved),
        "row_version": saved.row_version,
        "by": getattr(last, "history_user", None),
        "at": getattr(last, "history_date", None),
        "reason": getattr(last, "history_change_reason", "") or "",
    }


@login_required
@require_http_methods(["GET", "POST"])
def visit_edit(request: HttpRequest, patient_id: int, pk: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    visit = _visit_of(patient, pk)
    visit.patient = patient
    form_class = forms.VISIT_FORMS[patient.diagnosis]
    timepoints = forms.timepoint_queryset()
    today = centre_today(patient)
    computed = conflict = None
    if request.method == "POST":
        is_preview = request.POST.get("action", "save") == "preview"
        form = form_class(
            request.POST, preview=is_preview, patient=patient, timepoints=timepoints, editing=True
        )
        valid = form.is_valid()
        if is_preview:
            computed = visit_preview(patient, form, today=today, visit=visit)
        elif valid:
            data = form.cleaned_data
            expected = data["row_version"]
            seen = request.POST.get("seen_version", "")
            if request.POST.get("overwrite") and seen.isdigit():
                # The user saw the other version (shown after a refused save) and chose to replace it.
                expected = int(seen)
            try:
                services.visit_update(
                    visit=visit,
                    expected_version=expected,
                    recorded_by=request.user,
                    reason=data["reason"],
                    changes={name: data[name] for name in forms.VisitForm.VISIT_FIELDS},
                    instrument=form.instrument_payload(),
                )
            except services.ConcurrentEdit as exc:
                form.add_error(None, exc.messages)
                conflict = _saved_version(visit)
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            else:
                messages.success(request, _("Visit saved."))
                return redirect("outcomes:visit_detail", patient.pk, visit.pk)
        on = _bound_date(form, "visit_date")
        if form.instrument == "sledai" and on:
            form.suggestions = sledai_suggestions(patient, on)
    else:
        initial: dict[str, Any] = {
            "timepoint": visit.timepoint_id,
            "visit_date": visit.visit_date,
            "assessed_by": visit.assessed_by,
            "notes": visit.notes,
            "row_version": visit.row_version,
        }
        row = instrument_of(visit)
        if row is not None:
            initial.update(form_class.initial_from(row))
        form = form_class(initial=initial, patient=patient, timepoints=timepoints, editing=True)
        if form.instrument == "sledai":
            form.suggestions = sledai_suggestions(patient, visit.visit_date)
    return _render_visit_form(
        request,
        patient=patient,
        form=form,
        title=_("Edit the visit of %(d)s") % {"d": visit.visit_date.isoformat()},
        computed=computed,
        visit=visit,
        conflict=conflict,
        today=today,
    )


@login_required
def visit_detail(request: HttpRequest, patient_id: int, pk: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id)
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    visit = _visit_of(patient, pk)
    row = instrument_of(visit)
    improvements = None
    if row is not None and patient.diagnosis == "jdm":
        # % improvements against baseline are not stored; recompute them (nothing is saved).
        try:
            preview = services.instrument_preview(
                patient=patient,
                visit_date=visit.visit_date,
                instrument={name: getattr(row, name) for name in services.INSTRUMENT_FIELDS["jdm"]},
                visit=visit,
            )
            improvements = {
                "rows": improvement_rows(getattr(preview, "percent_improvement", {})),
                "baseline_date": getattr(preview, "baseline_visit_date", None),
            }
        except ValidationError:
            improvements = None
    can_write = access.can(request.user, Action.WRITE, patient.centre_id)
    return render(
        request,
        "outcomes/visit_detail.html",
        {
            "patient": patient,
            "visit": visit,
            "row": row,
            "study_day": patient.study_day(visit.visit_date),
            "improvements": improvements,
            "can_write": can_write and patient.accepts_new_data,
            "descriptor_groups": _descriptor_table(row) if patient.diagnosis == "sle" and row else [],
            "cmas_rows": _cmas_table(row) if patient.diagnosis == "jdm" and row else [],
            "mmt8_rows": [
                (label, (row.mmt8_items or {}).get(code)) for code, label in forms.MMT8_LABELS.items()
            ]
            if patient.diagnosis == "jdm" and row
            else [],
            "mrss_rows": _mrss_table(row) if patient.diagnosis == "ssc" and row else [],
        },
    )


def _descriptor_table(row: Any) -> list[dict[str, Any]]:
    present = set(row.descriptors or [])
    groups: dict[int, list[tuple[Any, bool]]] = {}
    for code, (label, _definition) in forms.SLEDAI_DESCRIPTORS.items():
        groups.setdefault(scores.SLEDAI_2K_WEIGHTS[code], []).append((label, code in present))
    return [{"weight": w, "items": items} for w, items in sorted(groups.items(), reverse=True)]


def _cmas_table(row: Any) -> list[dict[str, Any]]:
    items, seconds = row.cmas_items or {}, row.cmas_timed_seconds or {}
    return [
        {
            "label": label,
            "maximum": scores.CMAS_ITEM_MAXIMA[code],
            "score": items.get(code),
            "seconds": seconds.get(code),
        }
        for code, label in forms.CMAS_LABELS.items()
    ]


def _mrss_table(row: Any) -> list[dict[str, Any]]:
    sites = row.mrss_sites or {}
    return [
        {
            "label": label,
            "bilateral": True,
            "right": sites.get(f"{area}_right"),
            "left": sites.get(f"{area}_left"),
        }
        if bilateral
        else {"label": label, "bilateral": False, "centre": sites.get(area)}
        for area, label, bilateral in forms.MRSS_AREAS
    ]


# --- labs ---------------------------------------------------------------------------------------------------


def lab_rows_preview(patient: Patient, numbered: list[tuple[Any, Any]]) -> list[dict[str, Any]]:
    """Each value as it would be stored (canonical unit, flag, CTCAE grade) or its error; nothing saved."""
    rows = []
    floor = services._sample_time_floor(patient) if numbered else None
    for label, item in numbered:
        entry: dict[str, Any] = {"label": label, "item": item, "analyte": ANALYTES[item.analyte].label}
        try:
            built = services._build(patient, item, floor=floor)  # the service's own validation and conversion
        except ValidationError as exc:
            entry["errors"] = [f"{key}: {m}" for key, errors in exc.message_dict.items() for m in errors]
        else:
            entry.update(result=built, unit=_unit(item.analyte), flag=lab_flag(built))
        rows.append(entry)
    return rows


@login_required
@require_http_methods(["GET", "POST"])
def lab_grid(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    ranges = {r.analyte: (r.lln, r.uln) for r in latest_labs(patient)}
    computed = None
    if request.method == "POST":
        is_preview = request.POST.get("action", "save") == "preview"
        form = forms.LabGridForm(request.POST, preview=is_preview, patient=patient, reference_ranges=ranges)
        valid = form.is_valid()
        if is_preview:
            if form.sampled_at() is None:
                computed = {"missing": True}
            else:
                items = form.items()
                computed = {"rows": lab_rows_preview(patient, [(i.analyte, i) for i in items])}
        elif valid:
            items = form.items()
            try:
                saved = services.lab_results_record_many(
                    patient=patient, items=items, recorded_by=request.user
                )
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            else:
                messages.success(request, _("%(n)s laboratory values saved.") % {"n": len(saved)})
                return redirect(detail_url(patient, "labs"))
    else:
        try:
            on = dt.date.fromisoformat(request.GET.get("date", ""))
        except ValueError:
            on = centre_today(patient)
        form = forms.LabGridForm(initial={"sampled_on": on}, patient=patient, reference_ranges=ranges)
    return render(
        request,
        "outcomes/lab_grid.html",
        {"patient": patient, "form": form, "computed": computed, "cancel_url": detail_url(patient, "labs")},
    )


@login_required
@require_http_methods(["GET", "POST"])
def lab_paste(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    computed = None
    if request.method == "POST":
        is_preview = request.POST.get("action", "save") == "preview"
        form = forms.LabPasteForm(request.POST, preview=is_preview, patient=patient)
        valid = form.is_valid()
        if is_preview:
            rows = lab_rows_preview(patient, [(_("line %(n)s") % {"n": p.line}, p.item) for p in form.parsed])
            computed = {"rows": rows, "errors": form.line_errors, "count": len(form.parsed)}
        elif valid:
            try:
                saved = services.lab_results_record_many(
                    patient=patient, items=form.items(), recorded_by=request.user
                )
            except ValidationError as exc:
                form.service_errors_to_lines(exc)
            else:
                messages.success(request, _("%(n)s laboratory values saved.") % {"n": len(saved)})
                return redirect(detail_url(patient, "labs"))
    else:
        form = forms.LabPasteForm(patient=patient)
    return render(
        request,
        "outcomes/lab_paste.html",
        {
            "patient": patient,
            "form": form,
            "computed": computed,
            "max_rows": services.MAX_GRID_ROWS,
            "analytes": ANALYTES.values(),
            "cancel_url": detail_url(patient, "labs"),
        },
    )


# --- medications ----------------------------------------------------------------------------------------


def _medication_preview(patient: Patient, data: dict[str, Any]) -> dict[str, Any]:
    medication_class = data.get("medication_class")
    if not medication_class:
        return {"missing": True}
    if medication_class != MedicationClass.GLUCOCORTICOID:
        return {"not_glucocorticoid": True}
    if not all(data.get(name) for name in ("drug", "dose", "dose_unit", "frequency")):
        return {"missing": True}
    started = data.get("started_on") or centre_today(patient)
    med = Medication(
        patient=patient,
        drug=data["drug"].strip().lower(),
        medication_class=data["medication_class"],
        dose=data["dose"],
        dose_unit=data["dose_unit"],
        frequency=data["frequency"],
        started_on=started,
    )
    per_day = services._prednisone_equivalent(med, patient)  # the service's own conversion, not saved
    growth = latest_growth(patient, started)
    per_kg = round(float(per_day) / float(growth.weight_kg), 3) if per_day is not None and growth else None
    return {
        "mg_per_day": per_day,
        "mg_per_kg_day": per_kg,
        "weight_kg": growth.weight_kg if growth else None,
        "doris_ok": per_day is not None and per_day <= 5,
        "lldas_ok": per_day is not None and per_day <= Decimal("7.5"),
    }


@login_required
@require_http_methods(["GET", "POST"])
def medication_add(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    return record_form(
        request,
        patient=patient,
        form_class=forms.MedicationForm,
        title=_("Record a medication"),
        intro=_(
            "Immunomodulators, glucocorticoids and IVIG, with start and stop. Glucocorticoids get a daily "
            "prednisone-equivalent (pulses are reported apart). Tick 'started for disease activity' for a "
            "drug (re)started after CAR T because the disease flared."
        ),
        save=lambda data: services.medication_record(
            patient=patient, recorded_by=request.user, **{n: data[n] for n in forms.MEDICATION_FIELDS}
        ),
        preview=lambda data: _medication_preview(patient, data),
        preview_template="outcomes/_medication_preview.html",
        success_message=_("Medication saved."),
        success_url=detail_url(patient, "medications"),
        save_another=True,
    )


@login_required
@require_http_methods(["GET", "POST"])
def medication_stop(request: HttpRequest, patient_id: int, pk: int) -> HttpResponse:
    patient = access.access_patient(request.user, patient_id, for_write=True)
    medication = Medication.objects.filter(
        patient=patient, pk=pk, voided_at__isnull=True, stopped_on__isnull=True
    ).first()
    if medication is None:
        raise Http404
    medication.patient = patient
    return record_form(
        request,
        patient=patient,
        form_class=forms.MedicationStopForm,
        initial={"stopped_on": centre_today(patient)},
        title=_("Stop %(drug)s (started %(d)s)")
        % {"drug": medication.drug, "d": medication.started_on.isoformat()},
        save=lambda data: services.medication_stop(
            medication=medication,
            stopped_on=data["stopped_on"],
            stop_reason=data["stop_reason"],
            recorded_by=request.user,
            reason=(data.get("reason") or "").strip() or "medication stopped",
        ),
        success_message=_("Medication stopped."),
        success_url=detail_url(patient, "medications"),
    )
