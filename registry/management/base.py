"""Base class for the registry's management commands: they act as the named system user."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from registry.audit import acting_as
from registry.system import get_system_user


class RegistryCommand(BaseCommand):
    """A command whose audited writes are attributed to the registry system user."""

    def execute(self, *args: Any, **options: Any) -> Any:
        self.system_user = get_system_user()
        with acting_as(self.system_user):
            return super().execute(*args, **options)
