"""Celery tasks of the registry app: thin wrappers that receive ids and call a service (STYLE §6).

Queued after commit (:func:`registry.exports.services.export_queue`); without a broker they run in-process.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

EXPORT_REDISPATCH = "registry.tasks.redispatch_pending_exports"


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def build_case_series_export(self: Any, export_id: int) -> None:
    """Build a background case-series export (``ExportLog`` ``export_id``): file, progress, status, expiry.

    Late acknowledgement: a worker lost mid-build leaves the message unacknowledged and the broker delivers
    it again (flagged ``redelivered``); the export it left "running" is then built again (``resume``).
    """
    from registry.exports.services import export_run

    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    export_run(export_id, resume=redelivered)


@shared_task(name=EXPORT_REDISPATCH, ignore_result=True)
def redispatch_pending_exports(older_than_minutes: float | None = None) -> list[int]:
    """Queue again the exports left pending while the broker was down (beat, every 5 minutes; twin command:
    ``manage.py dispatch_exports``). ``older_than_minutes``: default ``REGISTRY_EXPORT_REDISPATCH_MINUTES``.
    Returns [queued, still waiting]."""
    import datetime as dt

    from registry.exports.services import export_redispatch_pending

    older_than = None if older_than_minutes is None else dt.timedelta(minutes=older_than_minutes)
    return list(export_redispatch_pending(older_than=older_than))


@shared_task(ignore_result=True)
def purge_expired_exports() -> int:
    """Delete expired export files (schedule with beat; twin command: ``manage.py purge_exports``)."""
    from registry.exports.services import export_purge_expired

    return export_purge_expired()
