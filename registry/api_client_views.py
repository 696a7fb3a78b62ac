"""Coordinator pages for API clients: list, create, detail (with recent requests), rotate, revoke.

Every page needs ``Action.API_CLIENTS`` somewhere (else 404); a client outside the user's centres is a 404
like a missing one. Tokens appear only in the response to the create or rotate POST — never stored, never in
a URL or a message.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from registry import access, api_clients
from registry.access import Action
from registry.access_events import access_event_record
from registry.api_client_forms import ApiClientForm, RevokeForm, RotateForm
from registry.models import AccessEventKind, ApiRequestLog

RECENT_REQUESTS = 20


def _require_coordinator(request: HttpRequest) -> None:
    if not access.can_anywhere(request.user, Action.API_CLIENTS):
        raise Http404


@login_required
@require_GET
def api_client_list(request: HttpRequest) -> HttpResponse:
    _require_coordinator(request)
    clients = list(api_clients.visible_clients(request.user))
    now = timezone.now()
    for client in clients:
        client.manageable = api_clients.may_manage(request.user, client)
        client.expired = client.expires_at <= now
    return render(request, "registry/api_clients/list.html", {"clients": clients})


def _token_page(request: HttpRequest, issued: api_clients.IssuedToken, *, rotated: bool) -> HttpResponse:
    access_event_record(
        kind=AccessEventKind.API_TOKEN,
        user=request.user,
        request=request,
        object_ref=issued.client.name,
        details={"action": "rotated" if rotated else "issued", "prefix": issued.client.token_prefix},
    )
    return render(
        request,
        "registry/api_clients/token.html",
        {
            "client": issued.client,
            "token": issued.token,
            "rotated": rotated,
            "api_url": request.build_absolute_uri("/api/v1/"),
        },
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def api_client_create(request: HttpRequest) -> HttpResponse:
    _require_coordinator(request)
    form = ApiClientForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            issued = api_clients.api_client_create(
                name=data["name"],
                purpose=data["purpose"],
                created_by=request.user,
                centres=list(data["centres"]),
                all_centres=data.get("all_centres", False),
                may_see_centres=data["may_see_centres"],
                resource_groups=data["resource_groups"],
                expires_days=data["expires_days"],
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        except PermissionDenied as exc:
            form.add_error("centres", str(exc))
        else:
            return _token_page(request, issued, rotated=False)
    return render(request, "registry/api_clients/form.html", {"form": form})


@login_required
@require_GET
def api_client_detail(request: HttpRequest, client_id: int) -> HttpResponse:
    _require_coordinator(request)
    client = api_clients.access_api_client(request.user, client_id)
    recent = list(ApiRequestLog.objects.filter(client=client).order_by("-at", "-pk")[:RECENT_REQUESTS])
    return render(
        request,
        "registry/api_clients/detail.html",
        {
            "client": client,
            "manageable": api_clients.may_manage(request.user, client),
            "groups": [str(api_clients.RESOURCE_GROUPS.get(g, g)) for g in client.resource_groups],
            "recent": recent,
        },
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def api_client_rotate(request: HttpRequest, client_id: int) -> HttpResponse:
    _require_coordinator(request)
    client = api_clients.access_api_client(request.user, client_id, for_manage=True)
    form = RotateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            issued = api_clients.api_client_rotate(
                client=client, recorded_by=request.user, expires_days=form.cleaned_data["expires_days"]
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return _token_page(request, issued, rotated=True)
    return render(
        request,
        "registry/api_clients/confirm.html",
        {"client": client, "form": form, "action": "rotate", "title": _("Rotate the token")},
    )


@login_required
@require_http_methods(["GET", "POST"])
def api_client_revoke(request: HttpRequest, client_id: int) -> HttpResponse:
    _require_coordinator(request)
    client = api_clients.access_api_client(request.user, client_id, for_manage=True)
    form = RevokeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            api_clients.api_client_revoke(
                client=client, recorded_by=request.user, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            access_event_record(
                kind=AccessEventKind.API_TOKEN,
                user=request.user,
                request=request,
                object_ref=client.name,
                details={"action": "revoked", "prefix": client.token_prefix},
            )
            messages.success(
                request,
                _("The client %(name)s was revoked; its token no longer works.") % {"name": client.name},
            )
            return redirect("api_clients:detail", client.pk)
    return render(
        request,
        "registry/api_clients/confirm.html",
        {"client": client, "form": form, "action": "revoke", "title": _("Revoke the client")},
    )
