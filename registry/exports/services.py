"""Writes of the exports: the export log (every export, whatever the path), background exports and expiry.

* :func:`export_log_record` — a direct export (web download, command): one ``ExportLog`` row with user, time,
  mode, filters and options, tables, format, row counts.
* :func:`export_queue` — a large export: a pending ``ExportLog``; the Celery task is queued after commit.
  When the broker cannot take it (Redis down), the export stays pending (``log.broker_unavailable`` tells
  the view, which says so to the user) and :func:`export_redispatch_pending` — beat, every few minutes, and
  its twin ``manage.py dispatch_exports`` — queues it again once the broker is back.
* :func:`export_run` — what the task does: rebuild the request from the log, check access again as the
  requesting user, write the file, report progress, mark it done (or failed), set its expiry.
* :func:`export_purge_expired` — delete the files of expired exports (the log rows stay, marked expired).

Settings: ``REGISTRY_EXPORT_EXPIRY_HOURS`` (default 72) — how long a background file can be downloaded;
``REGISTRY_EXPORT_BACKGROUND_MIN_PATIENTS`` (default 200) — from how many patients a web export (or any tidy
or HTML export from a quarter of that) runs in the background; ``REGISTRY_EXPORT_REDISPATCH_MINUTES``
(default 5) — how long an export may stay pending before it is queued again.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from registry.exports import builder, modes, selectors
from registry.exports.builder import ExportRequest, ExportResult
from registry.models import ExportLog, ExportStatus

logger = logging.getLogger(__name__)


def expiry_hours() -> float:
    return float(getattr(settings, "REGISTRY_EXPORT_EXPIRY_HOURS", 72))


def background_min_patients() -> int:
    return int(getattr(settings, "REGISTRY_EXPORT_BACKGROUND_MIN_PATIENTS", 200))


def runs_in_background(request: ExportRequest, patients: int) -> bool:
    """Large exports run in the background: many patients, or day-by-day data (tidy, HTML with figures)."""
    limit = background_min_patients()
    if request.longitudinal:
        limit = max(limit // 4, 0)
    return patients > limit


def _log_filters(request: ExportRequest) -> dict[str, Any]:
    return {**request.filters.as_dict(), "options": request.options()}


def export_log_record(
    *,
    user: Any,
    request: ExportRequest,
    result: ExportResult | None = None,
    row_counts: dict | None = None,
    fmt: str = "",
    tables: list[str] | None = None,
) -> ExportLog:
    """Log a finished direct export (web download, command); ``fmt``/``tables`` override for figures."""
    log = ExportLog(
        user=user,
        case_series=request.series,
        mode=request.policy.mode,
        purpose=request.policy.purpose,
        recipient=request.policy.recipient,
        filters=_log_filters(request),
        tables=tables if tables is not None else list(request.tables),
        format=fmt or request.fmt,
        row_counts=row_counts if row_counts is not None else (result.row_counts if result else {}),
        status=ExportStatus.DONE,
        progress=100,
    )
    log.full_clean(exclude=["file"])
    log.save()
    return log


@transaction.atomic
def export_queue(*, user: Any, request: ExportRequest) -> ExportLog:
    """Log a background export as pending and queue its task once the log row is committed."""
    log = ExportLog(
        user=user,
        case_series=request.series,
        mode=request.policy.mode,
        purpose=request.policy.purpose,
        recipient=request.policy.recipient,
        filters=_log_filters(request),
        tables=list(request.tables),
        format=request.fmt,
        status=ExportStatus.PENDING,
        progress=0,
    )
    log.full_clean(exclude=["file"])
    log.save()
    log.broker_unavailable = None  # type: ignore[attr-defined]  # known once the row is committed

    def dispatch() -> None:
        log.broker_unavailable = not export_dispatch(log.pk)  # type: ignore[attr-defined]

    transaction.on_commit(dispatch)
    return log


def _broker_errors() -> tuple[type[BaseException], ...]:
    from kombu.exceptions import OperationalError as BrokerError

    return (BrokerError, OSError)


def export_dispatch(export_id: int) -> bool:
    """Queue the task of a pending export; False (logged) when the broker cannot take it now.

    Without a broker the task runs here and now (eager): its failure is the export's (marked failed by
    :func:`export_run`), logged, never an error for the requester. With a broker, a refused publish (after
    Celery's bounded publish retries, about a second) leaves the export pending for
    :func:`export_redispatch_pending`. A second message for the same export is harmless: only a pending
    export is claimed (:func:`export_run`).
    """
    from registry.tasks import build_case_series_export

    if build_case_series_export.app.conf.task_always_eager:
        try:
            build_case_series_export.delay(export_id)
        except Exception:
            logger.exception("export %s failed (run in-process, no broker)", export_id)
        return True
    try:
        build_case_series_export.delay(export_id)
    except _broker_errors() as exc:
        logger.warning(
            "export %s not queued: broker unavailable (%s: %s); it stays pending and is queued again "
            "when the broker is back",
            export_id,
            type(exc).__name__,
            exc,
        )
        return False
    return True


def redispatch_minutes() -> float:
    return float(getattr(settings, "REGISTRY_EXPORT_REDISPATCH_MINUTES", 5))


def export_redispatch_pending(
    *, older_than: dt.timedelta | None = None, now: dt.datetime | None = None, limit: int = 500
) -> tuple[int, int]:
    """Queue again the exports still pending ``older_than`` after their request; (queued, not queued).

    Their message never reached a worker: the broker was down when they were requested, or it lost the
    message (restarted without persistence). Oldest first; the first refused publish stops the run (the
    broker is still down: the next run tries again). Without a broker they are built here, now.
    """
    now = now or timezone.now()
    older_than = dt.timedelta(minutes=redispatch_minutes()) if older_than is None else older_than
    pending = list(
        ExportLog.objects.filter(status=ExportStatus.PENDING, created_at__lte=now - older_than)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    queued = 0
    for export_id in pending:
        if not export_dispatch(export_id):
            break
        queued += 1
    if pending:
        logger.info(
            "pending exports: %s queued again, %s still waiting for the broker", queued, len(pending) - queued
        )
    return queued, len(pending) - queued


def request_from_log(log: ExportLog, *, centre_ids: Any = None) -> ExportRequest:
    options = dict(log.filters.get("options", {}))
    centre_ids = centre_ids if centre_ids is not None else selectors.all_centre_ids()
    policy = modes.make_policy(
        log.mode,
        recipient=log.recipient,
        purpose=log.purpose,
        threshold=options.get("threshold"),
        centre_ids=centre_ids,
    )
    return ExportRequest(
        series=log.case_series,
        fmt=log.format,
        policy=policy,
        tables=tuple(log.tables),
        filters=selectors.ExportFilters.from_dict(log.filters),
        spread=options.get("spread", "range"),
        part=options.get("part", ""),
        requested_by=log.user.get_username(),
    )


def _set(export_id: int, **fields: Any) -> int:
    return ExportLog.objects.filter(pk=export_id).update(**fields)


def export_run(export_id: int, *, resume: bool = False) -> ExportLog | None:
    """Build a queued export as its requesting user; returns the log (``None`` when it was not claimed).

    ``resume``: the broker redelivered the task because the worker running it was lost (killed, out of
    memory) before acknowledging it; an export left "running" by that worker is then built again from the
    start. The log names a file only together with the final status, so nothing the dead worker wrote is
    served. (A redelivery after the visibility timeout while the first worker is still alive would build
    twice; the last build wins — an export is a file, not clinical data.)
    """
    # Claim it: only a pending export starts (or, on redelivery, one its lost worker left running), so a
    # duplicate message — a second dispatch, a redelivery of a finished task — does not build twice.
    claimable = [ExportStatus.PENDING, ExportStatus.RUNNING] if resume else [ExportStatus.PENDING]
    if not ExportLog.objects.filter(pk=export_id, status__in=claimable).update(
        status=ExportStatus.RUNNING, progress=5
    ):
        return None
    log = ExportLog.objects.select_related("user", "case_series").get(pk=export_id)
    try:
        request = request_from_log(log)
        centre = selectors.centre_id_for_code(request.filters.centre) if request.filters.centre else None
        # Access as the requesting user, now: a membership removed since the request ends the export.
        centre_ids = modes.export_centre_ids(log.user, log.mode, centre_id=centre)
        result = builder.build(request, centre_ids=centre_ids, progress=lambda p: _set(export_id, progress=p))
        file = result.single()
        token = secrets.token_urlsafe(8)
        log.file.save(f"{token}-{file.name}", ContentFile(file.content), save=False)
        _set(
            export_id,
            file=log.file.name,
            row_counts=result.row_counts,
            status=ExportStatus.DONE,
            progress=100,
            expires_at=timezone.now() + dt.timedelta(hours=expiry_hours()),
        )
    except (Http404, ValidationError, ValueError) as exc:
        message = "access revoked" if isinstance(exc, Http404) else str(exc)
        _set(export_id, status=ExportStatus.FAILED, error=message[:2000])
        logger.warning("export %s failed: %s", export_id, message)
    except Exception as exc:  # the log must not stay "running" forever
        _set(export_id, status=ExportStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
        logger.exception("export %s failed", export_id)
        raise
    log.refresh_from_db()
    return log


def export_purge_expired(*, now: dt.datetime | None = None) -> int:
    """Delete the files of exports past their expiry; the log rows stay, marked expired. Returns how many."""
    now = now or timezone.now()
    purged = 0
    for log in (
        ExportLog.objects.filter(expires_at__lte=now).exclude(file="").exclude(status=ExportStatus.EXPIRED)
    ):
        if log.file:
            log.file.delete(save=False)
        purged += _set(log.pk, file="", status=ExportStatus.EXPIRED)
    return purged


def export_file_available(log: ExportLog, *, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    return (
        log.status == ExportStatus.DONE
        and bool(log.file)
        and (log.expires_at is None or log.expires_at > now)
    )


def policy_for(
    mode: str,
    *,
    recipient: str = "",
    purpose: str = "",
    threshold: int | None = None,
) -> modes.ExportPolicy:
    return modes.make_policy(
        mode, recipient=recipient, purpose=purpose, threshold=threshold, centre_ids=selectors.all_centre_ids()
    )
