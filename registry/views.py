"""Cross-cutting pages: home, no-centre notice, health check, per-record audit history."""

from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from registry import access
from registry.audit import record_history
from registry.health import check_broker, check_database


@login_required
def home(request: HttpRequest) -> HttpResponse:
    if not access.has_membership(request.user):
        return redirect("no_centre")
    memberships = access.memberships(request.user)
    return render(request, "registry/home.html", {"memberships": memberships})


@login_required
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
    return render(
        request,
        "registry/record_history.html",
        {
            "instance": instance,
            "model_name": model._meta.verbose_name,
            "entries": entries,
        },
    )
