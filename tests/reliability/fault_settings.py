"""Settings of the registry processes that the fault tests start (gunicorn, Celery worker, manage.py).

The test settings (``DEBUG`` false from the environment, so error pages are the production ones) with every
export of the small test registry running in the background, and no API rate limit in the way of the load.
"""

from __future__ import annotations

from registry.settings.test import *  # noqa: F403
from registry.settings.test import REST_FRAMEWORK

REGISTRY_EXPORT_BACKGROUND_MIN_PATIENTS = 0
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_client": "100000/minute"}}
