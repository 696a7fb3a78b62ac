"""Security headers the framework does not set by itself, session expiry and the two-factor gate."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

from registry.access_events import SESSION_AUTHENTICATED_AT, SESSION_LAST_SEEN, SESSION_OTP_REQUIRED

# Everything is served from our own static files; no CDN, no inline script.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


# The interactive API documentation (drf-spectacular-sidecar's Swagger UI, served from our own static files)
# needs inline styles; only its own path gets them. Scripts stay 'self' (the split view serves its
# configuration as a script file, not inline).
RELAXED_CSP_PATHS = {
    "/api/v1/docs/": CONTENT_SECURITY_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'"),
}


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault(
            "Content-Security-Policy", RELAXED_CSP_PATHS.get(request.path, CONTENT_SECURITY_POLICY)
        )
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        # Static files leave through WhiteNoise before the clickjacking middleware sees them.
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.user.is_authenticated if hasattr(request, "user") else False:
            response.headers.setdefault("Cache-Control", "no-store")
        return response


# The last-seen time is written at most this often, so that a burst of requests does not write the session
# each time; the idle time-out is therefore exact to within this many seconds.
LAST_SEEN_RESOLUTION_SECONDS = 60


class SessionExpiryMiddleware:
    """Log out a session idle for ``REGISTRY_SESSION_IDLE_MINUTES`` or older than ``SESSION_COOKIE_AGE``.

    The times live in the session (written at log-in by :mod:`registry.access_events`), so a request costs no
    query. After the log-out the request goes on as anonymous: pages send the user to the log-in page with a
    message saying why (and that a form sent now was not saved); the log-out is in the access log with its
    reason.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is not None and SESSION_KEY in session:
            reason = self._expired(session)
            if reason:
                self._end(request, reason)
        return self.get_response(request)

    @staticmethod
    def _expired(session: Any) -> str:
        now = time.time()
        idle_seconds = int(getattr(settings, "REGISTRY_SESSION_IDLE_MINUTES", 30)) * 60
        last_seen = session.get(SESSION_LAST_SEEN)
        started = session.get(SESSION_AUTHENTICATED_AT)
        if idle_seconds > 0 and last_seen is not None and now - last_seen > idle_seconds:
            return "idle_timeout"
        if started is not None and now - started > settings.SESSION_COOKIE_AGE:
            return "max_age"
        if started is None:
            session[SESSION_AUTHENTICATED_AT] = now  # a session from before this middleware
        if last_seen is None or now - last_seen >= LAST_SEEN_RESOLUTION_SECONDS:
            session[SESSION_LAST_SEEN] = now
        return ""

    @staticmethod
    def _end(request: HttpRequest, reason: str) -> None:
        request.registry_logout_reason = reason  # type: ignore[attr-defined]
        logout(request)
        if reason == "idle_timeout":
            text = _(
                "You were logged out after %(minutes)d minutes without activity. Anything sent after that "
                "was not saved: log in again and repeat it."
            ) % {"minutes": settings.REGISTRY_SESSION_IDLE_MINUTES}
        else:
            text = _(
                "Your session reached its maximum length of %(hours)s hours. Anything sent after that was "
                "not saved: log in again and repeat it."
            ) % {"hours": f"{settings.SESSION_COOKIE_AGE / 3600:g}"}
        messages.warning(request, text)


class TwoFactorMiddleware:
    """The second factor (TOTP, django-otp).

    * A user who has confirmed a device (decided at log-in, kept in the session) reaches nothing but the
      code page and the log-out until a code is accepted.
    * With ``REGISTRY_REQUIRE_STAFF_2FA``, staff reach the admin only with a verified code: those without a
      device are sent to set one up first. Users without a device and outside the admin are not affected.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is not None and SESSION_KEY in session:
            target = self._gate(request, session)
            if target:
                query = urlencode({"next": request.get_full_path()})
                return HttpResponseRedirect(f"{reverse(target)}?{query}")
        return self.get_response(request)

    @staticmethod
    def _gate(request: HttpRequest, session: Any) -> str:
        path = request.path
        verify, setup = reverse("otp_verify"), reverse("otp_setup")
        if path in (verify, reverse("logout")):
            return ""
        device_required = bool(session.get(SESSION_OTP_REQUIRED))
        if device_required and not request.user.is_verified():
            return "otp_verify"
        if (
            getattr(settings, "REGISTRY_REQUIRE_STAFF_2FA", False)
            and path.startswith(reverse("admin:index"))
            and request.user.is_staff
            and not request.user.is_verified()
            and path != setup
        ):
            messages.warning(
                request,
                _("The administration needs two-factor authentication: set up an authenticator app first."),
            )
            return "otp_setup"
        return ""
