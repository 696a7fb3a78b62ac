from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from registry import access


def registry_context(request: HttpRequest) -> dict[str, Any]:
    """The user's memberships for the navigation bar (one query, cached on the user)."""
    user = getattr(request, "user", None)
    return {
        "user_memberships": access.memberships(user) if user is not None else [],
        "registry_version": settings.REGISTRY_VERSION,
    }
