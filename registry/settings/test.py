"""Settings for pytest: the base configuration with a fixed key and fast hashing."""

from __future__ import annotations

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-" + "x" * 40)

from registry.settings.base import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; production uses Argon2
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
REGISTRY_DEMO_ALLOWED = True
# Axes needs the request in authenticate(); tests that exercise throttling enable it explicitly.
AXES_ENABLED = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
