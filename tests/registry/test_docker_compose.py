"""No Docker engine runs in CI, so the deployment file is checked by reading it."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _command(service: dict) -> str:
    cmd = service.get("command", "")
    return " ".join(cmd) if isinstance(cmd, list) else cmd


def test_services_are_the_deployment_set(compose):
    assert set(compose["services"]) == {"postgres", "redis", "web", "worker", "beat"}
    assert compose["services"]["postgres"]["image"].startswith("postgres:16")
    assert compose["services"]["redis"]["image"].startswith("redis:7")
    assert "pgdata" in compose["volumes"]


@pytest.mark.parametrize("name", ["web", "worker", "beat"])
def test_app_services_get_database_broker_settings_and_env_file(compose, name):
    service = compose["services"][name]
    env = service["environment"]
    assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
    assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379")
    importlib.import_module(env["DJANGO_SETTINGS_MODULE"].rsplit(".", 1)[0])
    assert (ROOT / env["DJANGO_SETTINGS_MODULE"].replace(".", "/")).with_suffix(".py").exists()
    assert service["env_file"] == ".env" and (ROOT / ".env.example").exists()
    assert set(service["depends_on"]) == {"postgres", "redis"}


def test_every_command_refers_to_modules_that_exist(compose):
    for name in ("web", "worker", "beat"):
        command = _command(compose["services"][name])
        for module in re.findall(r"gunicorn ([\w.]+):", command):
            importlib.import_module(module)
        for app in re.findall(r"celery -A (\w+)|celery\s+-A\s+(\w+)", command):
            importlib.import_module(next(a for a in app if a))
        if "--scheduler" in command:
            path = command.split("--scheduler")[1].split()[0]
            module, attr = path.split(":")
            assert hasattr(importlib.import_module(module), attr)
        if "manage.py" in command:
            assert (ROOT / "manage.py").exists()
    assert "celery" in _command(compose["services"]["worker"]) and "worker" in _command(
        compose["services"]["worker"]
    )
    assert "beat" in _command(compose["services"]["beat"])
    assert "migrate" in _command(compose["services"]["web"]) and "gunicorn" in _command(
        compose["services"]["web"]
    )


def test_every_service_has_a_healthcheck_or_is_beat(compose):
    for name, service in compose["services"].items():
        if name != "beat":
            assert "healthcheck" in service, name
    assert "/healthz" in " ".join(compose["services"]["web"]["healthcheck"]["test"])
