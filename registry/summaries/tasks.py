"""Celery jobs of the follow-up summaries (scheduled by django-celery-beat, see migration 0004).

* ``dispatch_daily_digests`` — hourly: for every centre whose local time has passed
  ``REGISTRY_DIGEST_LOCAL_HOUR`` (06:00) and that has no digest for its local date yet, queue
  ``generate_summary`` for that centre. One task per centre: a failing centre does not stop the others.
* ``generate_summary(centre_id, kind, date)`` — one summary; thin: loads the centre, calls the service. Late
  acknowledgement (a worker lost mid-run gets the task redelivered; the service is idempotent) and automatic
  retries with exponential backoff for transient errors (database, broker, SMTP).

Weekly (Monday) and monthly (1st) registry summaries are ``generate_summary(None, "weekly"|"monthly")`` beat
entries. Without a broker (embedded default) ``manage.py followup_summaries`` runs the same service.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from celery import shared_task
from celery.utils.log import get_task_logger
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable

from registry.models import Centre, FollowUpSummary, SummaryKind
from registry.summaries import services

logger = get_task_logger(__name__)

GENERATE = "registry.summaries.generate_summary"
DISPATCH = "registry.summaries.dispatch_daily_digests"


def digest_local_hour() -> int:
    return int(getattr(settings, "REGISTRY_DIGEST_LOCAL_HOUR", 6))


@shared_task(
    name=GENERATE,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(Exception,),
    dont_autoretry_for=(ObjectDoesNotExist, ValidationError, ValueError),
    retry_backoff=30,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=5,
)
def generate_summary(self: Any, centre_id: int | None, kind: str, date: str | None = None) -> int:
    """Generate (or replace) one summary and e-mail it; returns its id.

    ``date`` (ISO) is the day the summary is produced for: the digest's local date, or a day in the week/month
    after the period a registry summary covers; default today (the centre's, or the registry's time zone).
    """
    centre = Centre.objects.get(pk=centre_id) if centre_id is not None else None
    on = dt.date.fromisoformat(date) if date else services.local_today(centre)
    period_start, _end = services.summary_period(kind, on)
    logger.info(
        "generate_summary %s %s %s (attempt %s)",
        kind,
        centre.code if centre else "registry",
        period_start,
        self.request.retries + 1,
    )
    summary = services.summary_generate(centre=centre, kind=kind, period_start=period_start)
    return summary.pk


@shared_task(name=DISPATCH, acks_late=True)
def dispatch_daily_digests(now: str | None = None) -> list[int]:
    """Queue the daily digest of every centre past its local digest hour without one today; ids queued.

    ``now`` (ISO datetime) is for tests and catch-up runs; default the current time.
    """
    moment = dt.datetime.fromisoformat(now) if now else timezone.now()
    if timezone.is_naive(moment):
        raise ValueError("now: give a time zone (e.g. 2026-03-02T07:00:00+01:00)")
    hour = digest_local_hour()
    wanted: dict[int, dt.date] = {}
    for centre in Centre.objects.only("pk", "code", "time_zone"):
        local = moment.astimezone(zoneinfo.ZoneInfo(centre.time_zone))
        if local.hour >= hour:
            wanted[centre.pk] = local.date()
    existing = set(
        FollowUpSummary.objects.filter(
            kind=SummaryKind.DAILY, centre_id__in=list(wanted), period_start__in=set(wanted.values())
        ).values_list("centre_id", "period_start")
    )
    queued = []
    due = [(centre_id, on) for centre_id, on in sorted(wanted.items()) if (centre_id, on) not in existing]
    for index, (centre_id, on) in enumerate(due):
        try:
            # delay(), not delay_on_commit(): the dispatcher writes nothing, there is no commit to wait for.
            generate_summary.delay(centre_id, SummaryKind.DAILY.value, on.isoformat())
        except BrokerUnavailable as exc:
            # The broker refused the message (after Celery's bounded publish retries): the others would fail
            # the same way. Nothing is lost: the next hourly run queues every centre still without today's
            # digest, and `manage.py followup_summaries` makes them now without a broker.
            logger.error(
                "broker unavailable (%s): daily digests of %s centre(s) not queued; the next hourly dispatch "
                "queues them, or run `manage.py followup_summaries` now",
                exc,
                len(due) - index,
            )
            break
        except Exception:
            # Only reachable when the task runs in-process (no broker) or the broker refuses the message:
            # log it and go on with the next centre.
            logger.exception("daily digest of centre %s for %s failed", centre_id, on)
            continue
        queued.append(centre_id)
    logger.info("dispatch_daily_digests at %s: queued %s centre(s)", moment.isoformat(), len(queued))
    return queued
