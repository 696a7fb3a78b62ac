"""``python manage.py dispatch_exports``: queue the background exports still pending (beat job's twin).

An export requested while the broker (Redis) was down is recorded as pending and its requester told so; this
command — or the beat job ``registry.tasks.redispatch_pending_exports`` every 5 minutes — queues it once the
broker is back. Without a broker (embedded default) it builds them here and now.

    python manage.py dispatch_exports                       # pending for more than 5 minutes
    python manage.py dispatch_exports --older-than-minutes 0
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import CommandError, CommandParser

from registry.exports.services import export_redispatch_pending, redispatch_minutes
from registry.management.base import RegistryCommand


class Command(RegistryCommand):
    help = "Queue again the background exports still pending (e.g. requested while the broker was down)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than-minutes",
            type=float,
            default=None,
            help="Only exports pending for longer than this (default REGISTRY_EXPORT_REDISPATCH_MINUTES, 5).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        minutes = options["older_than_minutes"]
        minutes = redispatch_minutes() if minutes is None else minutes
        if minutes < 0:
            raise CommandError("--older-than-minutes: give 0 or more minutes")
        queued, waiting = export_redispatch_pending(older_than=dt.timedelta(minutes=minutes))
        self.stdout.write(f"{queued} pending export(s) queued.")
        if waiting:
            raise CommandError(
                f"{waiting} pending export(s) not queued: the broker is unavailable; "
                "run this again when it is back."
            )
