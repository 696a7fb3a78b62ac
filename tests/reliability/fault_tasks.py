"""Run a Celery job's body in a plain process, as beat's worker would, for the fault tests.

    python -m tests.reliability.fault_tasks dispatch_digests 2026-03-02T07:00:00+01:00

Prints one JSON line: the job's result and what it logged (the test checks what an operator would read).
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings.test")
django.setup()

from registry.summaries.tasks import dispatch_daily_digests  # noqa: E402


def main(argv: list[str]) -> dict:
    job, *args = argv
    if job != "dispatch_digests":
        raise SystemExit(f"unknown job {job!r}; known: dispatch_digests")
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    queued = dispatch_daily_digests(now=args[0] if args else None)
    return {"queued": queued, "log": captured.getvalue()}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
