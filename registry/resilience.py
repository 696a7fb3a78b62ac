"""A database that is down (restart, failover, maintenance) gives a clean 503, never a 500 or a hang.

Two entry points, both answering with :func:`unavailable_response`:

* :class:`DatabaseUnavailableMiddleware` — ``process_exception`` for errors raised by a view (the usual case:
  the view's first query fails). The response then passes through the other middleware (security headers).
* :func:`server_error` — the project's ``handler500``: errors raised outside a view (loading the session or
  the user in a middleware, saving the session after the view) reach Django's uncaught-exception handler;
  a database outage there is a 503 as well; anything else is the usual 500 page.

Browser requests get ``templates/503.html`` (translated; rendered without context processors, which would
query the database; no stack trace, no user or patient data); ``/api/`` gets the API's JSON error shape. Both
carry ``Retry-After`` and ``Cache-Control: no-store``.

Is anything half saved? No: every write service is one transaction (STYLE §7), so a save interrupted by the
outage is rolled back by the server. A save can have committed and its *response* still be a 503 (the
session is saved after the view), which is why the page asks the user to check before entering again.

Connections recover by themselves: a failed query marks the connection (``errors_occurred``), Django closes an
unusable connection at the end of the request and ``CONN_HEALTH_CHECKS`` tests a persistent one before reuse
(settings); ``connect_timeout`` (settings) bounds a connection attempt to an unreachable server.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.utils.translation import gettext as _
from django.views import defaults

logger = logging.getLogger("registry.resilience")

RETRY_AFTER_SECONDS = 30
API_PREFIX = "/api/"


def _driver_errors() -> tuple[type[BaseException], ...]:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency; SQLite-only installs work without it
        return ()
    return (psycopg.OperationalError, psycopg.InterfaceError)


# Django wraps the driver's errors in its own classes; raw driver errors can escape code that uses the
# connection directly (a cursor outside Django's wrapper), so both are recognised.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, *_driver_errors())


def is_database_unavailable(exc: BaseException | None) -> bool:
    """True when ``exc`` (or an exception it was raised from) means "the database cannot be reached"."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, DATABASE_UNAVAILABLE):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def wants_json(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def unavailable_detail() -> str:
    """The message of the API's 503 (translated)."""
    return _("The registry's database is unavailable for a moment; retry in %(s)s seconds.") % {
        "s": RETRY_AFTER_SECONDS
    }


def unavailable_response(request: HttpRequest, exc: BaseException | None = None) -> HttpResponse:
    """The 503 for a request that met a database outage: JSON under ``/api/``, else the HTML page."""
    logger.warning(
        "database unavailable (%s) for %s %s: answered 503",
        type(exc).__name__ if exc else "unknown",
        request.method,
        request.path[:200],
    )
    if wants_json(request):
        response: HttpResponse = JsonResponse(
            {
                "status": 503,
                "code": "service_unavailable",
                "detail": unavailable_detail(),
            },
            status=503,
        )
    else:
        html = loader.render_to_string("503.html", {"retry_after": RETRY_AFTER_SECONDS})
        response = HttpResponse(html, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """Turn a database outage raised by a view into a 503 (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if is_database_unavailable(exception):
            return unavailable_response(request, exception)
        return None


def server_error(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """``handler500``: a database outage outside a view is a 503 too; anything else the usual 500 page."""
    exc = sys.exc_info()[1]
    if is_database_unavailable(exc):
        return unavailable_response(request, exc)
    if wants_json(request):
        return JsonResponse(
            {
                "status": 500,
                "code": "server_error",
                "detail": _("Internal error. It was logged; please report the time of the request."),
            },
            status=500,
        )
    return defaults.server_error(request)
