"""One JSON error shape for every API failure, and never a stack trace.

``{"status": 400, "code": "unknown_parameter", "detail": "…", "parameter": "colour"}`` — ``parameter`` only
when one query parameter is at fault. 401 without or with a bad token, 403 outside the token's resource
groups, 404 for anything not in the token's scope (exactly as for what does not exist), 429 when throttled
(with ``Retry-After``), 500 with a generic message (the traceback goes to the server log only).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

from registry.resilience import RETRY_AFTER_SECONDS, is_database_unavailable, unavailable_detail

logger = logging.getLogger("registry.api")


class BadParameter(exceptions.APIException):
    """A query parameter that is unknown, repeated or malformed (400, names the parameter)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_parameter"

    def __init__(self, parameter: str, detail: str, code: str = "invalid_parameter") -> None:
        super().__init__(detail=detail, code=code)
        self.parameter = parameter


def _flatten(detail: Any) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {_flatten(value)}" for key, value in detail.items())
    if isinstance(detail, list):
        return "; ".join(_flatten(item) for item in detail)
    return str(detail)


def _code(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    while isinstance(codes, dict | list) and codes:
        codes = next(iter(codes.values())) if isinstance(codes, dict) else codes[0]
    return codes if isinstance(codes, str) else exc.default_code


def error_body(status_code: int, code: str, detail: str, parameter: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status": status_code, "code": code, "detail": detail}
    if parameter:
        body["parameter"] = parameter
    return body


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(_("Not found."))
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.APIException):
        response = exception_handler(exc, context)  # keeps WWW-Authenticate and Retry-After, rolls back
        if response is None:  # pragma: no cover - DRF handles every APIException
            response = Response(status=exc.status_code)
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            detail = _("Too many requests; retry in %(s)d seconds.") % {"s": int(exc.wait) + 1}
        else:
            detail = _flatten(exc.detail)
        response.data = error_body(exc.status_code, _code(exc), detail, getattr(exc, "parameter", None))
        return response
    if is_database_unavailable(exc):  # an outage, not a bug: 503 with Retry-After, no traceback in the log
        set_rollback()
        return Response(
            error_body(503, "service_unavailable", unavailable_detail()),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    view = context.get("view")
    logger.exception("API error in %s", type(view).__name__ if view else "unknown view")
    set_rollback()
    return Response(
        error_body(
            500, "server_error", _("Internal error. It was logged; please report the time of the request.")
        ),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """JSON 404 for any path under ``/api/v1/`` that matches no endpoint."""
    return JsonResponse(error_body(404, "not_found", _("No such endpoint.")), status=404)
