"""Fault injection for the export kill-and-redeliver test, loaded only into its first worker (``worker -I``).

The first progress report of a background export (after the data are loaded, the export marked running)
writes the marker file ``SUMMARIES_TEST_PAUSE_MARKER`` and hangs until the test SIGKILLs the worker.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from registry.exports import builder

MARKER = os.environ.get("SUMMARIES_TEST_PAUSE_MARKER", "")
_build = builder.build


def build(request, *, centre_ids, progress=None, now=None):
    def hang_on_first_report(percent: int) -> None:
        if progress is not None:
            progress(percent)
        Path(MARKER).write_text(f"export paused at {percent}%")
        time.sleep(300)  # the test kills the worker long before this ends

    return _build(request, centre_ids=centre_ids, progress=hang_on_first_report, now=now)


if MARKER:
    builder.build = build
