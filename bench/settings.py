"""Settings of the benchmarks: the project's settings, DEBUG off, on a database of their own.

The benchmark database is ``BENCH_DATABASE_NAME`` when set, else the configured database's name + ``_bench``
on PostgreSQL (``registry`` → ``registry_bench``) or ``registry_bench.sqlite3`` in the temporary directory
on SQLite. ``python -m bench`` creates, migrates and fills it; it never writes to the configured database
itself.
"""

from __future__ import annotations

import os
import tempfile
import warnings

os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-" + "x" * 40)
# The API benchmark measures the API, not its per-client rate limit.
os.environ["REGISTRY_API_RATE"] = os.environ.get("BENCH_API_RATE", "100000000/minute")

from registry.settings.base import *  # noqa: E402, F403
from registry.settings.base import DATABASES  # noqa: E402

warnings.filterwarnings(
    "ignore", message="No directory at", category=UserWarning
)  # whitenoise, no collectstatic
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "bench.urls"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # bench users only
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
AXES_ENABLED = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

SOURCE_DATABASE_NAME = str(DATABASES["default"]["NAME"])
if os.environ.get("BENCH_DATABASE_NAME"):
    DATABASES["default"]["NAME"] = os.environ["BENCH_DATABASE_NAME"]
elif DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["NAME"] = os.path.join(tempfile.gettempdir(), "registry_bench.sqlite3")
else:
    DATABASES["default"]["NAME"] = f"{SOURCE_DATABASE_NAME}_bench"
