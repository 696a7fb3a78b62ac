"""Coordinators' pages: the summaries of their centres (and, registry-wide, the registry summaries).

Access goes through :mod:`registry.access` with ``Action.SUMMARIES``: coordinators of a centre see that
centre's daily digests; registry-wide coordinators see every digest and the weekly/monthly registry summaries.
Anyone else — and anyone asking for a summary that is not theirs or does not exist — gets the same 404.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from registry import access
from registry.access import Action
from registry.models import FollowUpSummary, SummaryKind

PAGE_SIZE = 50


def access_summary(user: Any, summary_id: Any) -> FollowUpSummary:
    """The summary, if ``user`` may read summaries of its scope; else 404 (same as a missing one)."""
    try:
        summary = FollowUpSummary.objects.select_related("centre").get(pk=int(summary_id))
    except (FollowUpSummary.DoesNotExist, TypeError, ValueError):
        raise Http404 from None
    # A registry-wide summary (centre None) needs SUMMARIES at every centre: access.can() says so for None.
    if not access.can(user, Action.SUMMARIES, summary.centre_id):
        raise Http404
    return summary


def visible_summaries(user: Any):
    """Summaries ``user`` may read: their centres' digests; registry summaries need a registry-wide grant."""
    return access.scope(
        FollowUpSummary.objects.select_related("centre").defer("content", "html", "text"),
        user,
        Action.SUMMARIES,
        centre_lookup="centre",
    )


@login_required
@require_GET
def summary_list(request: HttpRequest) -> HttpResponse:
    if not access.can_anywhere(request.user, Action.SUMMARIES):
        raise Http404
    summaries = visible_summaries(request.user)
    kind = request.GET.get("kind", "")
    if kind in SummaryKind.values:
        summaries = summaries.filter(kind=kind)
    centre = request.GET.get("centre", "")
    if centre == "registry":
        summaries = summaries.filter(centre__isnull=True)
    elif centre:
        summaries = summaries.filter(centre__code=centre)
    page = Paginator(summaries.order_by("-period_start", "kind", "centre__code"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "registry/summaries/list.html",
        {
            "page": page,
            "kinds": SummaryKind.choices,
            "kind": kind,
            "centre": centre,
            "centres": access.visible_centres(request.user, Action.SUMMARIES),
            "registry_wide": access.centre_ids_for(request.user, Action.SUMMARIES) is access.ALL,
        },
    )


@login_required
@require_GET
def summary_detail(request: HttpRequest, summary_id: int) -> HttpResponse:
    summary = access_summary(request.user, summary_id)
    return render(request, "registry/summaries/detail.html", {"summary": summary})
