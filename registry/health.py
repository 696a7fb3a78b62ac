"""Reachability of the database and (when configured) the Celery broker, for /healthz."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from kombu import Connection


def check_database() -> str | None:
    """None when the database answers, else a short error description."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down"
        return f"{type(exc).__name__}"
    return None


def check_broker(url: str | None = None, *, timeout_s: float = 2.0) -> str | None:
    """None when the broker answers (or none is configured), else a short error description."""
    url = settings.CELERY_BROKER_URL if url is None else url
    if not url:
        return None
    try:
        with Connection(
            url,
            connect_timeout=timeout_s,
            transport_options={"socket_connect_timeout": timeout_s, "socket_timeout": timeout_s},
        ) as conn:
            conn.ensure_connection(max_retries=0, timeout=timeout_s)
    except Exception as exc:  # connection refused, DNS, auth: all "down"
        return f"{type(exc).__name__}"
    return None
