"""Celery tasks of the registry app: thin wrappers that receive ids and call a service (STYLE §6).

Queued after commit (:func:`registry.exports.services.export_queue`); without a broker they run in-process.
"""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def build_case_series_export(export_id: int) -> None:
    """Build a background case-series export (``ExportLog`` ``export_id``): file, progress, status, expiry."""
    from registry.exports.services import export_run

    export_run(export_id)


@shared_task(ignore_result=True)
def purge_expired_exports() -> int:
    """Delete expired export files (schedule with beat; twin command: ``manage.py purge_exports``)."""
    from registry.exports.services import export_purge_expired

    return export_purge_expired()
