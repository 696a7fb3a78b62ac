"""Case-series pages: the series list, the series page (tables, figures, downloads), the user's exports.

Access (DESIGN §5): coordinators (``Action.EXPORT``, their centres or registry-wide) see the tables and
export them internally or externally; clinicians only request identified exports of their own centre's
patients (``Action.EXPORT_IDENTIFIED``), with a purpose; monitors and everyone else get the same 404 as a
missing page. Every download is logged (:mod:`registry.exports.services`); reading the tables and figures on
the page is not an export. Small exports stream back at once; large ones run as a Celery task and the status
page polls its progress with htmx (no inline script: the CSP forbids it).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from registry import access
from registry.access import Action
from registry.exports import builder, figures, formats, modes, selectors, services, tables
from registry.exports.builder import ExportRequest
from registry.exports.definitions import FIGURE_TITLES, FIGURES
from registry.exports.forms import DownloadForm, FilterForm
from registry.models import CaseSeries, ExportLog, ExportMode, ExportStatus

PAGE_PATIENT_ROWS = 200  # per-patient tables on the page up to this size; larger ones: download


def _require_exporter(user: Any) -> None:
    if not modes.may_export(user):
        raise Http404


def _series(user: Any, pk: int) -> CaseSeries:
    _require_exporter(user)
    return get_object_or_404(CaseSeries, pk=pk)


def _centre_id(filters: selectors.ExportFilters) -> int | None:
    return selectors.centre_id_for_code(filters.centre) if filters.centre else None


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    _require_exporter(request.user)
    coordinator = access.can_anywhere(request.user, Action.EXPORT)
    ids = access.centre_ids_for(request.user, Action.EXPORT if coordinator else Action.EXPORT_IDENTIFIED)
    visible = Q(patients__voided_at__isnull=True)
    if ids is not access.ALL:
        visible &= Q(patients__centre_id__in=ids)
    series = CaseSeries.objects.annotate(visible_patients=Count("patients", filter=visible)).order_by("name")
    return render(
        request,
        "registry/exports/index.html",
        {
            "series_list": series,
            "coordinator": coordinator,
            "exports": [
                (e, services.export_file_available(e))
                for e in ExportLog.objects.filter(user=request.user).select_related("case_series")[:10]
            ],
        },
    )


@login_required
@require_GET
def series_page(request: HttpRequest, pk: int) -> HttpResponse:
    series = _series(request.user, pk)
    form = FilterForm(request.GET or None)
    return _render_series(request, series, form, DownloadForm(initial=_initial(request, form)))


def _initial(request: HttpRequest, form: FilterForm) -> dict[str, Any]:
    initial = {k: v for k, v in request.GET.items() if k in form.fields}
    if not access.can_anywhere(request.user, Action.EXPORT):
        initial["mode"] = ExportMode.IDENTIFIED
    return initial


def _render_series(
    request: HttpRequest, series: CaseSeries, form: FilterForm, download: DownloadForm, *, status: int = 200
) -> HttpResponse:
    coordinator = access.can_anywhere(request.user, Action.EXPORT)
    context: dict[str, Any] = {
        "series": series,
        "form": form,
        "download": download,
        "coordinator": coordinator,
        "identified_allowed": access.can_anywhere(request.user, Action.EXPORT_IDENTIFIED),
        "tables": [],
        "figures": [],
    }
    valid = form.is_valid() if form.is_bound else True
    filters = form.export_filters() if form.is_bound and valid else selectors.ExportFilters()
    spread = form.export_spread() if form.is_bound and valid else "range"
    if coordinator and valid:
        centre_ids = modes.export_centre_ids(request.user, ExportMode.INTERNAL, centre_id=_centre_id(filters))
        policy = services.policy_for(ExportMode.INTERNAL)
        data = selectors.series_data(series, centre_ids=centre_ids, filters=filters)
        built = tables.build_tables(data, policy, spread=spread)
        query = urlencode({**filters.as_dict(), "spread": spread})
        context |= {
            "patients": len(data.patients),
            "infused": len(data.infused),
            "query": query,
            "tables": [
                {
                    "key": key,
                    "title": table.title,
                    "summary": formats.html_table(table.summary, tables.summary_labels(table.summary)),
                    "patients": formats.html_table(table.patients)
                    if len(table.patients) <= PAGE_PATIENT_ROWS
                    else None,
                    "notes": table.notes,
                }
                for key, table in built.items()
            ],
            "figures": [{"name": name, "title": FIGURE_TITLES[name]} for name in FIGURES],
        }
    return render(request, "registry/exports/series.html", context, status=status)


def _attachment(file: builder.ExportFile) -> HttpResponse:
    response = HttpResponse(file.content, content_type=file.content_type)
    response["Content-Disposition"] = f'attachment; filename="{file.name}"'
    return response


@login_required
@require_POST
def download(request: HttpRequest, pk: int) -> HttpResponse:
    """Export as requested: access (404) first, then the form; small exports stream, large ones queue."""
    series = _series(request.user, pk)
    form = DownloadForm(request.POST)
    mode = request.POST.get("mode", ExportMode.INTERNAL)
    if mode not in modes.MODES:
        mode = ExportMode.INTERNAL
    centre = request.POST.get("centre", "")
    centre_ids = modes.export_centre_ids(
        request.user, mode, centre_id=selectors.centre_id_for_code(centre) if centre else None
    )
    if not form.is_valid():
        return _render_series(request, series, FilterForm(request.POST), form, status=400)
    data = form.cleaned_data
    try:
        policy = services.policy_for(
            mode, recipient=data["recipient"], purpose=data["purpose"], threshold=data["threshold"]
        )
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            for message in messages:
                form.add_error(field if field in form.fields else None, message)
        return _render_series(request, series, FilterForm(request.POST), form, status=400)
    export = ExportRequest(
        series=series,
        fmt=data["fmt"],
        policy=policy,
        tables=form.export_tables(),
        filters=form.export_filters(),
        spread=form.export_spread(),
        part=data.get("part") or "",
        requested_by=request.user.get_username(),
    )
    patients = selectors.count_patients(series, centre_ids=centre_ids, filters=export.filters)
    if services.runs_in_background(export, patients):
        log = services.export_queue(user=request.user, request=export)
        if getattr(log, "broker_unavailable", None):
            flash.warning(
                request,
                _(
                    "Background processing is unavailable right now. Your export is recorded as queued and "
                    "will start automatically when it is back; this page updates by itself."
                ),
            )
        return redirect("exports:status", pk=log.pk)
    result = builder.build(export, centre_ids=centre_ids)
    services.export_log_record(user=request.user, request=export, result=result)
    return _attachment(result.single())


@login_required
@require_GET
def figure(request: HttpRequest, pk: int, name: str, ext: str) -> HttpResponse:
    """A figure of the series (internal mode, coordinators); ``?download=1`` makes it a logged export."""
    series = _series(request.user, pk)
    if (
        name not in FIGURES
        or ext not in figures.FORMATS
        or not access.can_anywhere(request.user, Action.EXPORT)
    ):
        raise Http404
    form = FilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        raise Http404
    filters = form.export_filters() if form.is_bound else selectors.ExportFilters()
    centre_ids = modes.export_centre_ids(request.user, ExportMode.INTERNAL, centre_id=_centre_id(filters))
    policy = services.policy_for(ExportMode.INTERNAL)
    data = selectors.series_data(series, centre_ids=centre_ids, filters=filters, longitudinal=True)
    content = figures.render(name, data, policy, ext)
    response = HttpResponse(content, content_type=figures.FORMATS[ext])
    if request.GET.get("download"):
        export = ExportRequest(
            series=series,
            fmt="html",
            policy=policy,
            filters=filters,
            requested_by=request.user.get_username(),
        )
        services.export_log_record(
            user=request.user,
            request=export,
            row_counts={"figure_patients": len(data.infused)},
            fmt=ext,
            tables=[f"figure:{name}"],
        )
        filename = f"{builder.basename(export, timezone.now())}-{name}.{ext}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _own_export(request: HttpRequest, pk: int) -> ExportLog:
    _require_exporter(request.user)
    return get_object_or_404(ExportLog.objects.select_related("case_series"), pk=pk, user=request.user)


@login_required
@require_GET
def my_exports(request: HttpRequest) -> HttpResponse:
    _require_exporter(request.user)
    exports = ExportLog.objects.filter(user=request.user).select_related("case_series")[:100]
    return render(
        request,
        "registry/exports/mine.html",
        {"exports": [(e, services.export_file_available(e)) for e in exports]},
    )


@login_required
@require_GET
def export_status(request: HttpRequest, pk: int) -> HttpResponse:
    log = _own_export(request, pk)
    return render(request, "registry/exports/status.html", _status_context(log))


@login_required
@require_GET
def export_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress fragment that the status page polls (htmx); it stops polling once finished."""
    log = _own_export(request, pk)
    return render(request, "registry/exports/_progress.html", _status_context(log))


def _status_context(log: ExportLog) -> dict[str, Any]:
    return {
        "export": log,
        "available": services.export_file_available(log),
        "finished": log.status in (ExportStatus.DONE, ExportStatus.FAILED, ExportStatus.EXPIRED),
    }


@login_required
@require_GET
def export_file(request: HttpRequest, pk: int) -> FileResponse:
    log = _own_export(request, pk)
    if not services.export_file_available(log):
        raise Http404(_("This export is not ready or has expired."))
    name = log.file.name.rsplit("/", 1)[-1].split("-", 1)[-1]
    return FileResponse(log.file.open("rb"), as_attachment=True, filename=name)
