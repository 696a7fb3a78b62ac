"""The named system user that management commands and tasks act as in the audit trail."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model


def get_system_user() -> Any:
    """Return (creating once) the inactive account that stands for the registry itself."""
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        username=settings.REGISTRY_SYSTEM_USERNAME,
        defaults={"is_active": False, "first_name": "Registry", "last_name": "system"},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user
