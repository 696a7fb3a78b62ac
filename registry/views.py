"""Cross-cutting pages: home, no-centre notice, health check, per-record audit history."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import FieldDoesNotExist
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from registry import access
from registry.access_events import identity_viewed
from registry.audit import HistoryEntry, record_history
from registry.health import check_broker, check_database


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The home page is the worklist: the patients of the user's centres with the next visit due
    (:func:`patients.views.patient_list`, also at ``/patients/``); without a membership, the no-centre
    page."""
    from patients.views import patient_list  # the project app routes to a domain app's page

    return patient_list(request)


@login_required
@require_GET
def no_centre(request: HttpRequest) -> HttpResponse:
    if access.has_membership(request.user):
        return redirect("home")
    return render(request, "registry/no_centre.html", status=200)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """JSON health: 200 when the database (and the broker, if configured) answer, else 503."""
    db_error = check_database()
    broker_error = check_broker()
    body = {
        "database": "ok" if db_error is None else f"error: {db_error}",
        "broker": ("ok" if broker_error is None else f"error: {broker_error}")
        if settings.CELERY_BROKER_URL
        else "not configured (tasks run in-process)",
    }
    body["status"] = "ok" if db_error is None and broker_error is None else "unavailable"
    return JsonResponse(body, status=200 if body["status"] == "ok" else 503)


# Models whose history may be shown, and the fields of each that are identity (masked unless allowed).
IDENTITY_FIELDS: dict[str, frozenset[str]] = {
    "patients.patientidentity": frozenset(
        {"given_name", "family_name", "date_of_birth", "hospital_number", "contact"}
    ),
}


@login_required
@require_GET
def record_history_view(request: HttpRequest, app_label: str, model_name: str, pk: int) -> HttpResponse:
    """The audit history of one clinical record (who, when, old → new, reason), read-only."""
    try:
        model = apps.get_model(app_label, model_name)
    except LookupError:
        raise Http404 from None
    if not hasattr(model, "history") or not hasattr(model, "centre_lookup"):
        raise Http404
    instance = model._default_manager.filter(pk=pk).first()
    if instance is None:
        raise Http404
    centre_id = access.centre_id_of(instance)
    if not access.can(request.user, access.Action.AUDIT, centre_id):
        raise Http404
    key = f"{app_label}.{model_name}".lower()
    masked = (
        frozenset()
        if access.can(request.user, access.Action.IDENTITY, centre_id)
        else IDENTITY_FIELDS.get(key, frozenset())
    )
    entries = record_history(instance, masked_fields=masked)
    if key in IDENTITY_FIELDS and not masked:
        identity_viewed(request, _patient_of(instance), page="history")
    # ?field=physician_global narrows the history to one field (the links next to values on the pages).
    field_name = request.GET.get("field", "")
    field_label = None
    if field_name:
        try:
            field_label = model._meta.get_field(field_name).verbose_name
        except FieldDoesNotExist:
            raise Http404 from None
        entries = [replace(e, changes=[c for c in e.changes if c.field == field_name]) for e in entries]
        entries = [e for e in entries if e.changes]
    return render(
        request,
        "registry/record_history.html",
        {
            "instance": _describe(instance),
            "model_name": model._meta.verbose_name,
            "entries": [_readable(e) for e in entries],
            "field_name": field_name,
            "field_label": field_label,
            "patient": _patient_of(instance),
        },
    )


def _display(value: Any) -> Any:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "—"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "—"
    return value


def _readable(entry: HistoryEntry) -> HistoryEntry:
    """Lists, mappings and booleans as people read them (``rash, fever``, not ``['rash', 'fever']``)."""
    changes = [replace(c, old=_display(c.old), new=_display(c.new)) for c in entry.changes]
    return replace(entry, changes=changes)


def _describe(instance: Any) -> str:
    """The record as people name it; instruments without their own name are named by their visit."""
    text = str(instance)
    if text == f"{type(instance).__name__} object ({instance.pk})":
        visit = getattr(instance, "visit", None)
        return str(visit) if visit is not None else f"#{instance.pk}"
    return text


def _patient_of(instance: Any) -> Any:
    """The patient a clinical record belongs to (for the way back), following its ``centre_lookup``."""
    obj = instance
    for part in getattr(type(instance), "centre_lookup", "centre").split("__")[:-1]:
        obj = getattr(obj, part, None)
    return obj if getattr(obj, "_meta", None) and obj._meta.label_lower == "patients.patient" else None
