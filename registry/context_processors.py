from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from registry import access
from registry.access_events import may_read_access_log


def registry_context(request: HttpRequest) -> dict[str, Any]:
    """The user's memberships for the navigation bar (one query, cached on the user)."""
    user = getattr(request, "user", None)
    if user is None:
        return {"user_memberships": [], "registry_version": settings.REGISTRY_VERSION, "nav": {}}
    # The grants are cached on the user: these flags cost no query beyond the memberships.
    nav = {
        "patients": access.can_anywhere(user, access.Action.READ),
        "exports": access.can_anywhere(user, access.Action.EXPORT)
        or access.can_anywhere(user, access.Action.EXPORT_IDENTIFIED),
        "summaries": access.can_anywhere(user, access.Action.SUMMARIES),
        "api_clients": access.can_anywhere(user, access.Action.API_CLIENTS),
        "access_log": may_read_access_log(user),
    }
    return {
        "user_memberships": access.memberships(user),
        "registry_version": settings.REGISTRY_VERSION,
        "nav": nav,
    }
