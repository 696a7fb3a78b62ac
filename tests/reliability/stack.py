"""One throwaway PostgreSQL cluster per test session, with a migrated template database, for the fault and
backup tests (:mod:`tests.reliability.services` does the process management).

Migrating takes most of the setup time, so it happens once: ``registry_template`` is migrated on first use and
every test database is a ``CREATE DATABASE ... TEMPLATE`` copy of it (about a second). The cluster is stopped
and deleted when the pytest session ends (``config.add_cleanup``), whatever happens.
"""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import IN_CI
from tests.reliability.services import (
    ThrowawayPostgres,
    app_env,
    manage,
    missing_postgres_server,
    missing_redis_server,
)

TEMPLATE = "registry_template"
SETTINGS = "tests.reliability.fault_settings"
_state: dict[str, ThrowawayPostgres] = {}


def require(*services: str) -> None:
    """Skip (fail under ``CI=true``) when a throwaway service cannot be started on this machine."""
    reasons = [
        reason
        for reason in (
            missing_postgres_server() if "postgres" in services else None,
            missing_redis_server() if "redis" in services else None,
        )
        if reason
    ]
    if reasons:
        message = "; ".join(reasons)
        if IN_CI:
            pytest.fail(f"CI=true and a required service is missing: {message}", pytrace=False)
        pytest.skip(message)


def cluster(config: pytest.Config, tmp_factory: pytest.TempPathFactory) -> ThrowawayPostgres:
    """The session's throwaway cluster, started (and its template migrated) on first use."""
    require("postgres")
    if "pg" not in _state:
        pg = ThrowawayPostgres()
        config.add_cleanup(pg.close)
        _state["pg"] = pg
        pg.start()
        url = pg.createdb(TEMPLATE)
        media = tmp_factory.mktemp("template-media")
        manage(env_for(url, media), "migrate", "--noinput", "--skip-checks", timeout=300)
    pg = _state["pg"]
    if not pg.running():  # a fault test that failed half-way may have left it stopped
        pg.start()
    return pg


def fresh_database(pg: ThrowawayPostgres, prefix: str) -> tuple[str, str]:
    """A new database copied from the migrated template: (name, url)."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    return name, pg.createdb(name, template=TEMPLATE)


def env_for(database_url: str, media_root, *, broker_url: str = "", **extra: str) -> dict[str, str]:
    return app_env(
        database_url, broker_url=broker_url, media_root=media_root, settings_module=SETTINGS, **extra
    )
