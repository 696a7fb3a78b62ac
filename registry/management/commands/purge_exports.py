"""``python manage.py purge_exports``: delete the files of expired case-series exports (beat job's twin)."""

from __future__ import annotations

from typing import Any

from registry.exports.services import export_purge_expired
from registry.management.base import RegistryCommand


class Command(RegistryCommand):
    help = "Delete the files of background exports past their expiry (REGISTRY_EXPORT_EXPIRY_HOURS)."

    def handle(self, *args: Any, **options: Any) -> None:
        purged = export_purge_expired()
        self.stdout.write(f"{purged} expired export file(s) deleted.")
