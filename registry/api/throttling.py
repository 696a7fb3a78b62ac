"""Per-client throttling: a DRF rate throttle keyed by the API client, not by address.

The rate is ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["api_client"]`` (environment: ``REGISTRY_API_RATE``,
default ``600/minute``), read on every request so that settings overrides apply. Counts live in Django's
cache: per process with the default local-memory cache, shared between workers when ``CACHES`` points at
Redis.
"""

from __future__ import annotations

from typing import Any

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from registry.models import ApiClient


class ApiClientRateThrottle(SimpleRateThrottle):
    scope = "api_client"

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        client = request.auth
        if not isinstance(client, ApiClient):
            return None
        return self.cache_format % {"scope": self.scope, "ident": client.pk}
