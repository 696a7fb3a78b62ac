"""A worker killed in the middle of a background export: the task is redelivered and the export completes once.

Reuses the real-worker harness of the follow-up summaries (:mod:`tests.registry.test_summaries_worker`: the
local Redis on its own key prefix and queue, the test database shared with the worker, bounded waits, workers
killed whatever happens), which already kills a worker in the middle of a digest. Here the first worker is
SIGKILLed while it builds an export (after it marked the export running); a second worker, with a short
visibility timeout, receives the unacknowledged message again (``redelivered``) and builds the export from the
start: one export, done, one file, the same row counts as a direct build.
"""

from __future__ import annotations

import time

import pytest

from registry.exports import builder, services
from registry.exports.builder import ExportRequest
from registry.exports.definitions import TABLES
from registry.models import ExportLog, ExportStatus
from tests.registry.exports_factory import small_registry
from tests.registry.test_summaries_worker import harness, wait_for  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TASK = "registry.tasks.build_case_series_export"


def export_state(export_id: int) -> tuple[str, int, str]:
    return ExportLog.objects.filter(pk=export_id).values_list("status", "progress", "file").get()


def test_export_task_killed_mid_build_is_redelivered_and_completes_once(
    harness,  # noqa: F811
    rome,
    erlangen,
    rome_clinician,
    erlangen_clinician,
    staff_admin,
    coordinator,
    tmp_path,
):
    registry = small_registry(rome, erlangen, rome_clinician, erlangen_clinician, staff_admin)
    request = ExportRequest(series=registry.series, fmt="csv", policy=services.policy_for("internal"))
    log = ExportLog.objects.create(
        user=coordinator,
        case_series=registry.series,
        mode="internal",
        format="csv",
        tables=list(TABLES),
        status=ExportStatus.PENDING,
        progress=0,
        filters={"options": request.options()},
    )
    media = tmp_path / "media"
    media.mkdir()
    marker = harness.tmp / "paused"
    harness.db.publish()
    first = harness.start_worker(
        "doomed",
        include="tests.reliability.export_worker_fault",
        SUMMARIES_TEST_PAUSE_MARKER=str(marker),
        MEDIA_ROOT=str(media),
    )
    harness.send(TASK, log.pk)
    wait_for("the export to stop mid-build", marker.exists, workers=harness.workers)
    first.kill()  # SIGKILL: no acknowledgement, no warm shutdown that would requeue the message
    harness.db.collect()
    status, progress, file = export_state(log.pk)
    assert (status, file) == (ExportStatus.RUNNING, "") and 0 < progress < 100
    assert list(media.rglob("*.*")) == []

    harness.start_worker("rescuer", SUMMARIES_TEST_VISIBILITY_TIMEOUT="2", MEDIA_ROOT=str(media))

    def done() -> bool:
        harness.db.collect()
        return export_state(log.pk)[0] == ExportStatus.DONE

    wait_for("the redelivered task to build the export", done, workers=harness.workers)
    time.sleep(1)  # a duplicate run, if any, would show up now
    harness.workers[-1].stop()
    harness.db.collect()

    log.refresh_from_db()
    assert (log.status, log.progress, log.error) == (ExportStatus.DONE, 100, "")
    files = [p for p in media.rglob("*") if p.is_file()]
    assert [p.relative_to(media).as_posix() for p in files] == [log.file.name]
    direct = builder.build(request, centre_ids=None)
    assert log.row_counts == direct.row_counts and log.row_counts["baseline_patients"] == 4
    rescuer_log = harness.workers[-1].log()
    assert rescuer_log.count(f"Task {TASK}[") and rescuer_log.count("succeeded") == 1
    assert ExportLog.objects.count() == 1
