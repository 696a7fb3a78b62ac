"""Fault injection for the kill-and-retry test, loaded only into its first worker (``celery worker -I``).

``SUMMARIES_TEST_PAUSE_AT`` chooses where the generation stops (writing the marker file
``SUMMARIES_TEST_PAUSE_MARKER``, then hanging until the test SIGKILLs the worker):

* ``in_transaction`` — the summary row is locked or inserted but not committed;
* ``before_email`` — the row is committed, the e-mail not sent, the task not acknowledged.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from registry.summaries import services

POINT = os.environ.get("SUMMARIES_TEST_PAUSE_AT", "")
MARKER = os.environ.get("SUMMARIES_TEST_PAUSE_MARKER", "")


def _hang(what: str) -> None:
    Path(MARKER).write_text(what)
    time.sleep(300)  # the test kills the worker long before this ends


if POINT == "before_email":
    _send = services.summary_email

    def summary_email(summary, **kwargs):
        _hang(f"before_email {summary.pk}")
        return _send(summary, **kwargs)

    services.summary_email = summary_email
elif POINT == "in_transaction":
    _find = services._find_locked

    def _find_locked(lookup):
        row = _find(lookup)
        _hang("in_transaction")
        return row

    services._find_locked = _find_locked
