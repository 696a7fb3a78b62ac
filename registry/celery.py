"""Celery application. With no ``CELERY_BROKER_URL`` tasks run eagerly in-process (embedded default)."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings.base")

app = Celery("registry")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Task modules of packages inside the registry app that autodiscovery (one tasks.py per app) does not see.
app.autodiscover_tasks(["registry.summaries"])
