"""Writes of the exports: the export log (every export, whatever the path), background exports and expiry.

* :func:`export_log_record` — a direct export (web download, command): one ``ExportLog`` row with user, time,
  mode, filters and options, tables, format, row counts.
* :func:`export_queue` — a large export: a pending ``ExportLog``; the Celery task is queued after commit.
* :func:`export_run` — what the task does: rebuild the request from the log, check access again as the
  requesting user, write the file, report progress, mark it done (or failed), set its expiry.
* :func:`export_purge_expired` — delete the files of expired exports (the log rows stay, marked expired).

Settings: ``REGISTRY_EXPORT_EXPIRY_HOURS`` (default 72) — how long a background file can be downloaded;
``REGISTRY_EXPORT_BACKGROUND_MIN_PATIENTS`` (default 200) — from how many patients a web export (or any tidy
or HTML export from a quarter of that) runs in the background.
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
    from registry.tasks import build_case_series_export

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
    # robust: a failing eager run (no broker) is logged and marked failed, never a 500 for the requester.
    transaction.on_commit(lambda: build_case_series_export.delay(log.pk), robust=True)
    return log


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


def export_run(export_id: int) -> ExportLog | None:
    """Build a queued export as its requesting user; returns the log (``None`` when it was not pending)."""
    # Claim it: only a pending export starts, so a redelivered task does not build twice.
    if not ExportLog.objects.filter(pk=export_id, status=ExportStatus.PENDING).update(
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
