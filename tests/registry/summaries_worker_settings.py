"""Settings of the Celery worker that ``test_summaries_worker.py`` starts as a separate process.

The test settings plus what the test passes in the environment: the database the test process created
(``DATABASE_URL``, read by the base settings), the local Redis on the test's own DB number with a key prefix
and queue of its own (concurrent test runs never share queues or unacknowledged messages), the broker
visibility timeout (short for the redelivery test) and a file e-mail backend in the test's temporary folder.
"""

from __future__ import annotations

import os

from registry.settings.test import *  # noqa: F403

CELERY_BROKER_URL = os.environ["SUMMARIES_TEST_BROKER_URL"]
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_DEFAULT_QUEUE = os.environ["SUMMARIES_TEST_QUEUE"]
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "global_keyprefix": os.environ["SUMMARIES_TEST_KEYPREFIX"],
    "visibility_timeout": int(os.environ.get("SUMMARIES_TEST_VISIBILITY_TIMEOUT", "3600")),
    # Look for abandoned (unacknowledged) messages every second instead of every 10 × 10 s.
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = os.environ["SUMMARIES_TEST_MAIL_DIR"]
