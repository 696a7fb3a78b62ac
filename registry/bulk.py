"""Building large in-memory results (an export of thousands of patients) without the cyclic garbage
collector's full passes.

Loading a case series creates millions of small objects (rows, dicts, lists) that all stay alive until the
export is written. CPython's cyclic collector runs a full pass each time the tracked objects grow by a
quarter, walking every live object each time: for 10,000 patients that was ≈ 1.2 s of a 6 s export
(``bench/RESULTS.md``), all of it wasted, since these objects hold no reference cycles. Reference counting
still frees everything as usual; only the cycle search waits until the block ends. The pause is per process
(gunicorn's and Celery's workers run one request or task at a time) and nests.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (or, as ``@collector_paused()``, the function);
    restore it afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
