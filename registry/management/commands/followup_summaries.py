"""Generate follow-up summaries synchronously — the twin of the Celery beat jobs (no worker needed).

    python manage.py followup_summaries                       # today's daily digest of every centre
    python manage.py followup_summaries --centre ROM --date 2026-03-02
    python manage.py followup_summaries --kind weekly         # last complete week, registry-wide
    python manage.py followup_summaries --kind monthly --date 2026-03-01

A rerun replaces the stored summary (never a second one) and does not e-mail it again unless --resend-email.
A failing centre is reported and the others still run; the command then exits with an error.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.core.management.base import CommandError, CommandParser

from registry.management.base import RegistryCommand
from registry.models import Centre, SummaryKind
from registry.summaries import services

logger = logging.getLogger(__name__)


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--date: '{value}' is not a date in YYYY-MM-DD form") from None


class Command(RegistryCommand):
    help = "Generate (or replace) the daily centre digests or the weekly/monthly registry summary now."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--date",
            type=_date,
            help="The day the summary is produced for (YYYY-MM-DD). Daily: the digest's date (default: "
            "each centre's local today). Weekly/monthly: a day after the period (default today): the last "
            "complete week (Monday–Sunday) or calendar month before it.",
        )
        parser.add_argument("--centre", help="Centre code (daily digests only; default every centre).")
        parser.add_argument("--kind", choices=SummaryKind.values, default=SummaryKind.DAILY.value)
        parser.add_argument("--no-email", action="store_true", help="Store the summary without e-mailing it.")
        parser.add_argument(
            "--resend-email", action="store_true", help="E-mail the summary again even if it was sent."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        kind = SummaryKind(options["kind"])
        on: dt.date | None = options["date"]
        email_options = {"email": not options["no_email"], "resend_email": options["resend_email"]}
        if kind != SummaryKind.DAILY:
            if options["centre"]:
                raise CommandError(
                    "--centre applies to daily digests; weekly and monthly summaries are registry-wide"
                )
            period_start, _end = services.summary_period(kind, on or services.local_today(None))
            summary = services.summary_generate(
                centre=None, kind=kind, period_start=period_start, **email_options
            )
            self._report(summary)
            return
        centres = Centre.objects.order_by("code")
        if options["centre"]:
            centres = centres.filter(code=options["centre"].upper())
            if not centres.exists():
                raise CommandError(f"--centre: no centre with code '{options['centre']}'")
        failures = []
        for centre in centres:
            day = on or services.local_today(centre)
            try:
                summary = services.summary_generate(
                    centre=centre, kind=kind, period_start=day, **email_options
                )
            except Exception as exc:
                # One centre's failure must not stop the others' digests.
                logger.exception("daily digest of %s for %s failed", centre.code, day)
                self.stderr.write(f"{centre.code} daily {day}: FAILED ({exc.__class__.__name__}: {exc})")
                failures.append(centre.code)
                continue
            self._report(summary)
        if failures:
            raise CommandError(f"daily digest failed for: {', '.join(failures)}")

    def _report(self, summary: Any) -> None:
        scope = summary.centre.code if summary.centre_id else "registry"
        counts = summary.content.get("counts")
        detail = ", ".join(f"{k} {v}" for k, v in counts.items()) if counts else ""
        mailed = f"e-mailed to {len(summary.recipients)}" if summary.emailed_at else "not e-mailed"
        self.stdout.write(
            f"{scope} {summary.kind} {summary.period_start}–{summary.period_end}: summary #{summary.pk} "
            f"({mailed}){': ' + detail if detail else ''}"
        )
