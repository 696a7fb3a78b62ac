"""Download of the long-format export of a case series (all visits and laboratory values), streamed.

Coordinators only (``Action.EXPORT``, of their centres or registry-wide), internal mode: the rows of the
centres they may export, filtered like the series page (centre, diagnosis, product, infusion period). Anyone
else — clinicians, monitors, users without a membership — gets the same 404 as a missing case series, and a
centre filter outside the coordinator's centres is that 404 too. Logged by :mod:`registry.exports.stream`.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from registry import access
from registry.access import Action
from registry.exports import formats, longformat, modes, selectors
from registry.exports.forms import FilterForm
from registry.exports.stream import LongExport
from registry.models import CaseSeries, ExportMode


def _require_coordinator(request: HttpRequest) -> None:
    if not access.can_anywhere(request.user, Action.EXPORT):
        raise Http404


@login_required
@require_GET
def long_format(request: HttpRequest, pk: int) -> HttpResponse | StreamingHttpResponse:
    """The long-format CSV of the series' visits and labs, streamed as it is read."""
    _require_coordinator(request)
    series = get_object_or_404(CaseSeries, pk=pk)
    centre = request.GET.get("centre", "")
    centre_ids = modes.export_centre_ids(
        request.user,
        ExportMode.INTERNAL,
        centre_id=selectors.centre_id_for_code(centre) if centre else None,
    )
    form = FilterForm(request.GET)
    if not form.is_valid():
        problems = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items())
        return HttpResponseBadRequest(
            _("Invalid filters: %(problems)s") % {"problems": problems}, content_type="text/plain"
        )
    export = LongExport(
        user=request.user, series=series, centre_ids=centre_ids, filters=form.export_filters()
    )
    return export.response()


@login_required
@require_GET
def long_format_dictionary(request: HttpRequest) -> HttpResponse:
    """The data dictionary of the long format (columns, then every visit and lab variable)."""
    _require_coordinator(request)
    response = HttpResponse(longformat.dictionary_csv(), content_type=formats.CONTENT_TYPES["csv"])
    response["Content-Disposition"] = 'attachment; filename="long-format-dictionary.csv"'
    return response
