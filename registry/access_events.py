"""The access log: log-ins, failed log-ins, log-outs, two-factor steps, identity views and API tokens.

:func:`access_event_record` is the one writer of :class:`~registry.models.AccessEvent` (append-only; the
database refuses UPDATE and DELETE, :mod:`registry.signals`). Django's authentication signals are the only
entry point for log-ins and log-outs whatever the path (the log-in page, the admin's log-in, an idle
time-out), so their receivers here call the writer. A failed log-in stores the username as typed, never the
password.

Exports are not copied into this table: :class:`~registry.models.ExportLog` already holds every export (user,
time, mode, purpose, filters, row counts) and :func:`access_log_rows` lists both side by side.

Who reads the log: monitors and coordinators whose membership is registry-wide (``Action.AUDIT`` at every
centre); staff read it, read-only, in the admin.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models import CharField, F, GenericIPAddressField, QuerySet, Value
from django.db.models.functions import Coalesce, JSONObject
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from registry import access
from registry.access import Action
from registry.models import AccessEvent, AccessEventKind, ExportLog, Role

USER_AGENT_MAX = 200
EXPORT_KIND = "export"  # the ExportLog rows in the listing

# Session keys written at log-in and read by registry.middleware (no query per request).
SESSION_AUTHENTICATED_AT = "registry_authenticated_at"
SESSION_LAST_SEEN = "registry_last_seen"
SESSION_OTP_REQUIRED = "registry_otp_required"


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address as django-axes sees it (REMOTE_ADDR, or the proxy settings of axes)."""
    if request is None:
        return None
    from axes.helpers import get_client_ip_address

    return get_client_ip_address(request) or None


def access_event_record(
    *,
    kind: AccessEventKind | str,
    user: Any = None,
    request: HttpRequest | None = None,
    username: str = "",
    patient: Any = None,
    object_ref: str = "",
    details: dict[str, Any] | None = None,
) -> AccessEvent:
    """Append one access event. ``request`` supplies the address and the browser (truncated)."""
    kind = AccessEventKind(kind)
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    if not username and user is not None:
        username = user.get_username()
    agent = ""
    if request is not None:
        agent = (request.META.get("HTTP_USER_AGENT") or "")[:USER_AGENT_MAX]
    if patient is not None and not object_ref:
        object_ref = patient.code
    return AccessEvent.objects.create(
        kind=kind,
        user=user,
        username=(username or "")[:150],
        patient=patient,
        object_ref=object_ref[:200],
        ip_address=client_ip(request),
        user_agent=agent,
        details=details or {},
    )


def identity_viewed(request: HttpRequest, patient: Any, *, page: str) -> AccessEvent:
    """Record that ``request.user`` was shown the identity of ``patient`` on ``page``."""
    return access_event_record(
        kind=AccessEventKind.IDENTITY_VIEW,
        user=request.user,
        request=request,
        patient=patient,
        details={"page": page, "path": request.path},
    )


# --- authentication signals -----------------------------------------------------------------------------


def _on_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    from django_otp import user_has_device

    if request is not None and hasattr(request, "session"):
        now = timezone.now().timestamp()
        request.session[SESSION_AUTHENTICATED_AT] = now
        request.session[SESSION_LAST_SEEN] = now
        # Whether a second factor is due is decided once here, so that no request pays a query for it.
        request.session[SESSION_OTP_REQUIRED] = user_has_device(user, confirmed=True)
    access_event_record(kind=AccessEventKind.LOGIN, user=user, request=request)


def _on_logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is None:
        return  # logging out an anonymous session is not an event
    reason = getattr(request, "registry_logout_reason", "") if request is not None else ""
    access_event_record(
        kind=AccessEventKind.LOGOUT,
        user=user,
        request=request,
        details={"reason": reason} if reason else None,
    )


def _on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # Only the username: Django masks the password in ``credentials`` but it is never stored at all.
    attempted = str(credentials.get("username") or "")
    details: dict[str, Any] = {}
    if request is not None and getattr(request, "axes_locked_out", False):
        details["locked_out"] = True
    access_event_record(
        kind=AccessEventKind.LOGIN_FAILED, request=request, username=attempted, details=details
    )


def connect_signals() -> None:
    user_logged_in.connect(_on_logged_in, dispatch_uid="registry_access_event_login")
    user_logged_out.connect(_on_logged_out, dispatch_uid="registry_access_event_logout")
    user_login_failed.connect(_on_login_failed, dispatch_uid="registry_access_event_login_failed")


def lockout_response(
    request: HttpRequest, original_response: Any = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    """django-axes' answer to a locked-out log-in: 429 and a page that says for how many minutes."""
    from axes.helpers import get_cool_off

    cool_off = get_cool_off(request)
    minutes = math.ceil(cool_off.total_seconds() / 60) if cool_off else None
    return render(
        request,
        "registration/locked_out.html",
        {"minutes": minutes, "failure_limit": settings.AXES_FAILURE_LIMIT},
        status=429,
    )


# --- the log page ------------------------------------------------------------------------------------------


def may_read_access_log(user: Any) -> bool:
    """Registry-wide monitors and coordinators (``Action.AUDIT`` at every centre)."""
    if access.centre_ids_for(user, Action.AUDIT) is not access.ALL:
        return False
    return any(
        m.centre_id is None and m.role in (Role.MONITOR, Role.COORDINATOR) for m in access.memberships(user)
    )


def kind_choices() -> list[tuple[str, str]]:
    from django.utils.translation import gettext_lazy as _

    return [*AccessEventKind.choices, (EXPORT_KIND, _("Export"))]


COLUMNS = ("ev_at", "ev_kind", "ev_username", "ev_object", "ev_ip", "ev_agent", "ev_details", "ev_source")


def access_log_rows(
    *,
    username: str = "",
    kind: str = "",
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> QuerySet:
    """Access events and exports, newest first, as dicts with the keys of :data:`COLUMNS`.

    ``username`` matches exactly, case-insensitively (the typed name for failed log-ins); ``since`` is
    inclusive and ``until`` exclusive. One SQL query (a UNION) per page, one for the count.
    """
    # No model ordering inside the UNION (SQLite refuses it); the result is ordered as a whole.
    events = AccessEvent.objects.order_by()
    exports = ExportLog.objects.order_by()
    if username:
        events = events.filter(username__iexact=username)
        exports = exports.filter(user__username__iexact=username)
    if since is not None:
        events = events.filter(at__gte=since)
        exports = exports.filter(created_at__gte=since)
    if until is not None:
        events = events.filter(at__lt=until)
        exports = exports.filter(created_at__lt=until)
    event_rows = events.annotate(
        ev_at=F("at"),
        ev_kind=F("kind"),
        ev_username=F("username"),
        ev_object=F("object_ref"),
        ev_ip=F("ip_address"),
        ev_agent=F("user_agent"),
        ev_details=F("details"),
        ev_source=Value("event", output_field=CharField()),
    ).values(*COLUMNS)
    export_rows = exports.annotate(
        ev_at=F("created_at"),
        ev_kind=Value(EXPORT_KIND, output_field=CharField()),
        ev_username=F("user__username"),
        ev_object=Coalesce(F("case_series__name"), Value(""), output_field=CharField()),
        ev_ip=Value(None, output_field=GenericIPAddressField()),
        ev_agent=Value("", output_field=CharField()),
        ev_details=JSONObject(
            mode=F("mode"), format=F("format"), status=F("status"), purpose=F("purpose"), rows=F("row_counts")
        ),
        ev_source=Value("export", output_field=CharField()),
    ).values(*COLUMNS)
    if kind == EXPORT_KIND:
        return export_rows.order_by("-ev_at")
    if kind:
        return event_rows.filter(kind=kind).order_by("-ev_at")
    return event_rows.union(export_rows, all=True).order_by("-ev_at")

