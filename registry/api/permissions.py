"""Resource-group scope: a client sees only the resource groups it was granted (403 otherwise)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission

from registry.models import ApiClient


class HasResourceGroup(BasePermission):
    """Authenticated API client whose ``resource_groups`` include the view's ``resource_group``.

    A view with ``resource_group = None`` (the data dictionary) needs only a valid token.
    """

    message = _("This token is not granted the resource group of this endpoint.")
    code = "out_of_scope"

    def has_permission(self, request: Any, view: Any) -> bool:
        client = request.auth
        if not isinstance(client, ApiClient):
            return False  # DRF turns this into 401, since an authenticator was tried and none succeeded
        group = getattr(view, "resource_group", None)
        return group is None or group in (client.resource_groups or [])
