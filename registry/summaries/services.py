"""Writes of the follow-up summaries: generate (compute, render, store) and e-mail.

One row per (scope, kind, period) — the database's unique constraints on ``FollowUpSummary`` guarantee it. A
rerun (after a crash, a duplicate delivery of the task, or by hand) replaces the row's content in place and
never creates a second one; when nothing changed it writes nothing at all. The e-mail goes out once per
summary (``resend_email=True`` sends it again).
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import logging
import zoneinfo
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from registry.models import Centre, FollowUpSummary, SummaryKind
from registry.summaries import figures, selectors

logger = logging.getLogger(__name__)

TEMPLATES = {
    SummaryKind.DAILY: ("registry/summaries/_daily.html", "registry/summaries/daily.txt"),
    SummaryKind.WEEKLY: ("registry/summaries/_registry.html", "registry/summaries/registry.txt"),
    SummaryKind.MONTHLY: ("registry/summaries/_registry.html", "registry/summaries/registry.txt"),
}
# Keys of the content that describe how it was computed rather than what it says: a rerun whose other keys
# are unchanged leaves the stored row alone ("rerunning changes nothing").
VOLATILE_KEYS = frozenset({"window"})


def site_url() -> str:
    """Link prefix for e-mails (``REGISTRY_SITE_URL``, e.g. https://registry.example.org); pages use paths."""
    return str(getattr(settings, "REGISTRY_SITE_URL", "") or "").rstrip("/")


def summary_period(kind: str, on: dt.date) -> tuple[dt.date, dt.date]:
    """The period a summary produced on ``on`` covers.

    Daily: that day. Weekly: the last complete ISO week (Monday–Sunday) before ``on``. Monthly: the last
    complete calendar month before ``on``.
    """
    kind = SummaryKind(kind)
    if kind == SummaryKind.DAILY:
        return on, on
    if kind == SummaryKind.WEEKLY:
        monday = on - dt.timedelta(days=on.weekday())
        return monday - dt.timedelta(days=7), monday - dt.timedelta(days=1)
    first = on.replace(day=1)
    last = first - dt.timedelta(days=1)
    return last.replace(day=1), last


def period_end_for(kind: str, period_start: dt.date) -> dt.date:
    """The end of the period starting ``period_start``; ``ValueError`` if no period starts on that day."""
    kind = SummaryKind(kind)
    if kind == SummaryKind.DAILY:
        return period_start
    if kind == SummaryKind.WEEKLY:
        if period_start.weekday() != 0:
            raise ValueError(f"period_start: a weekly summary starts on a Monday, got {period_start}")
        return period_start + dt.timedelta(days=6)
    if period_start.day != 1:
        raise ValueError(f"period_start: a monthly summary starts on the 1st, got {period_start}")
    return period_start.replace(day=calendar.monthrange(period_start.year, period_start.month)[1])


def local_today(centre: Centre | None, now: dt.datetime | None = None) -> dt.date:
    """Today in the centre's time zone (the registry's ``TIME_ZONE`` for registry-wide summaries)."""
    tz = zoneinfo.ZoneInfo(centre.time_zone if centre is not None else settings.TIME_ZONE)
    return (now or timezone.now()).astimezone(tz).date()


def _jsonable(content: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(content, cls=DjangoJSONEncoder))


def _comparable(content: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (content or {}).items() if k not in VOLATILE_KEYS}


def render_summary(kind: str, content: dict[str, Any], *, link_prefix: str = "") -> tuple[str, str]:
    """(HTML fragment, plain text) of a summary's content, in the registry's language."""
    html_template, text_template = TEMPLATES[SummaryKind(kind)]
    context = {"c": content, "kind": kind, "site": link_prefix}
    with translation.override(settings.LANGUAGE_CODE):
        return render_to_string(html_template, context), render_to_string(text_template, context)


def _find_locked(lookup: dict[str, Any]) -> FollowUpSummary | None:
    """The row of (scope, kind, period), locked until the end of the transaction (PostgreSQL)."""
    return FollowUpSummary.objects.select_for_update().filter(**lookup).first()


def _store(
    *,
    centre: Centre | None,
    kind: str,
    period_start: dt.date,
    period_end: dt.date,
    content: dict[str, Any],
    html: str,
    text: str,
    now: dt.datetime,
) -> tuple[FollowUpSummary, bool]:
    """Insert or replace the one row of (scope, kind, period); (row, whether anything was written)."""
    lookup = {"centre": centre, "kind": kind, "period_start": period_start}
    values = {
        "period_end": period_end,
        "generated_at": now,
        "content": content,
        "html": html,
        "text": text,
    }
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                summary = _find_locked(lookup)
                if summary is None:
                    return FollowUpSummary.objects.create(**lookup, **values), True
                if _comparable(summary.content) == _comparable(content) and summary.period_end == period_end:
                    # Same findings (HTML and text are rendered from them): keep the row, its window and its
                    # generation time as they are.
                    return summary, False
                for name, value in values.items():
                    setattr(summary, name, value)
                summary.save(update_fields=list(values))
                return summary, True
        except IntegrityError:
            # Two runs for the same (scope, kind, period) both found no row and both inserted: the unique
            # constraint refused the second insert (its savepoint is rolled back). The retry finds the
            # winner's row, locks it and replaces it.
            if attempt == 2:
                raise
            logger.info("summary %s %s %s: concurrent insert, replacing", kind, centre, period_start)
    raise AssertionError("unreachable")


def summary_generate(
    *,
    centre: Centre | None,
    kind: str,
    period_start: dt.date,
    email: bool = True,
    resend_email: bool = False,
    now: dt.datetime | None = None,
) -> FollowUpSummary:
    """Compute, render and store the summary of (``centre``, ``kind``, ``period_start``); e-mail it once.

    Daily digests belong to a centre (``period_start`` is the centre's local date); weekly and monthly
    summaries are registry-wide (``centre=None``; ``period_start`` a Monday or the 1st). Reads happen before
    the short write transaction; the e-mail after it (see :func:`summary_email`).
    """
    kind = SummaryKind(kind)
    if kind == SummaryKind.DAILY and centre is None:
        raise ValueError("centre: a daily digest belongs to a centre")
    if kind != SummaryKind.DAILY and centre is not None:
        raise ValueError("centre: weekly and monthly summaries are registry-wide (centre=None)")
    period_end = period_end_for(kind, period_start)
    now = now or timezone.now()
    previous = selectors.previous_summary(centre=centre, kind=kind, before=period_start)
    with translation.override(settings.LANGUAGE_CODE):
        if kind == SummaryKind.DAILY:
            content = selectors.centre_digest(centre, period_start, now=now, previous=previous)
        else:
            content = figures.registry_summary(period_start, period_end, previous=previous)
    content = _jsonable({**content, "kind": kind.value})
    html, text = render_summary(kind, content, link_prefix="")
    summary, written = _store(
        centre=centre,
        kind=kind,
        period_start=period_start,
        period_end=period_end,
        content=content,
        html=html,
        text=text,
        now=now,
    )
    logger.info(
        "summary %s #%s %s %s: %s",
        kind,
        summary.pk,
        centre.code if centre else "registry",
        period_start,
        "stored" if written else "unchanged",
    )
    if email and (summary.emailed_at is None or resend_email):
        summary_email(summary, resend=resend_email)
    return summary


def _subject(summary: FollowUpSummary) -> str:
    c = summary.content or {}
    if summary.kind == SummaryKind.DAILY:
        counts = c.get("counts", {})
        return _(
            "[CAR T registry] %(centre)s daily digest %(date)s: %(overdue)s overdue, %(due)s due, "
            "%(open)s open episodes, %(severe)s new grade ≥ 3 events"
        ) % {
            "centre": c.get("centre", {}).get("code", ""),
            "date": summary.period_start.isoformat(),
            "overdue": counts.get("overdue", 0),
            "due": counts.get("due", 0),
            "open": counts.get("open_episodes", 0),
            "severe": counts.get("new_severe_events", 0),
        }
    return _("[CAR T registry] %(kind)s %(start)s – %(end)s") % {
        "kind": summary.get_kind_display(),
        "start": summary.period_start.isoformat(),
        "end": summary.period_end.isoformat(),
    }


def _messages(summary: FollowUpSummary, recipients: list[str]) -> list[EmailMultiAlternatives]:
    prefix = site_url()
    with translation.override(settings.LANGUAGE_CODE):
        fragment, text = render_summary(summary.kind, summary.content, link_prefix=prefix)
        subject = _subject(summary)
        html = render_to_string(
            "registry/summaries/email.html",
            {"summary": summary, "fragment": fragment, "subject": subject, "site": prefix},
        )
    messages = []
    for address in recipients:
        # One message per coordinator: recipients do not see each other's addresses.
        message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [address])
        message.attach_alternative(html, "text/html")
        messages.append(message)
    return messages


def summary_email(summary: FollowUpSummary, *, resend: bool = False) -> int:
    """E-mail a stored summary (plain text + HTML) to its coordinators; record when and to whom.

    Daily digests go to the coordinators of the centre, registry summaries to the registry-wide coordinators.
    The row is locked while sending, deliberately (the one exception to "no slow I/O in a transaction",
    bounded by ``EMAIL_TIMEOUT``): two deliveries of the same task cannot both send, and a crash before the
    commit leaves ``emailed_at`` empty so the redelivered task sends it (at least once, never silently lost).
    Returns the number of messages sent.
    """
    recipients = selectors.summary_recipients(summary.centre if summary.centre_id else None)
    if not recipients:
        logger.warning("summary #%s: no coordinator with an e-mail address; not sent", summary.pk)
        return 0
    with transaction.atomic():
        locked = FollowUpSummary.objects.select_for_update().get(pk=summary.pk)
        if locked.emailed_at is not None and not resend:
            summary.emailed_at, summary.recipients = locked.emailed_at, locked.recipients
            return 0
        locked.centre = summary.centre
        sent = get_connection(fail_silently=False).send_messages(_messages(locked, recipients))
        locked.emailed_at = timezone.now()
        locked.recipients = recipients
        locked.save(update_fields=["emailed_at", "recipients"])
    summary.emailed_at, summary.recipients = locked.emailed_at, locked.recipients
    logger.info("summary #%s e-mailed to %s coordinator(s)", summary.pk, len(recipients))
    return sent or 0
