"""The access-log page: log-ins, failed log-ins, log-outs, two-factor steps, identity views, API tokens and
exports, with filters (user, kind, date range), 50 a page, newest first.

Registry-wide monitors and coordinators only; anyone else gets the same 404 as a missing page.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from registry.access_events import access_log_rows, kind_choices, may_read_access_log

PAGE_SIZE = 50


class AccessLogFilterForm(forms.Form):
    username = forms.CharField(label=_("User"), max_length=150, required=False)
    kind = forms.ChoiceField(label=_("Kind"), required=False)
    date_from = forms.DateField(
        label=_("From (date)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To (date, inclusive)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", _("All kinds")), *kind_choices()]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", _("The end date is before the start date."))
        return cleaned


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _details(row: dict[str, Any]) -> list[tuple[str, Any]]:
    details = row["ev_details"] or {}
    if isinstance(details, str):  # SQLite returns the export half of the UNION as text
        import json

        details = json.loads(details)
    return [(key, value) for key, value in details.items() if value not in ("", None, {}, [])]


@login_required
@require_GET
def access_log(request: HttpRequest) -> HttpResponse:
    if not may_read_access_log(request.user):
        raise Http404
    form = AccessLogFilterForm(request.GET or None)
    page = None
    if not request.GET or form.is_valid():
        data = form.cleaned_data if request.GET else {}
        rows = access_log_rows(
            username=(data.get("username") or "").strip(),
            kind=data.get("kind") or "",
            since=_day_start(data["date_from"]) if data.get("date_from") else None,
            until=_day_start(data["date_to"] + dt.timedelta(days=1)) if data.get("date_to") else None,
        )
        page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
        page.object_list = list(page.object_list)
        labels = dict(kind_choices())
        for row in page.object_list:
            row["kind_label"] = labels.get(row["ev_kind"], row["ev_kind"])
            row["detail_items"] = _details(row)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "registry/access_log.html",
        {"form": form, "page": page, "query": query.urlencode()},
    )
