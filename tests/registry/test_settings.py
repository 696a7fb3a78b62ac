"""Settings read from the environment and refuse to start when unsafe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    clean.update(env)
    clean.setdefault("DATABASE_URL", "sqlite:////tmp/registry-settings-check.sqlite3")
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def test_missing_secret_key_without_debug_refuses_to_start(tmp_path):
    # An empty .env-free environment: run from a copy-less invocation with DEBUG false and no key.
    result = _run(
        ["check"], DEBUG="false", SECRET_KEY="", DJANGO_SETTINGS_MODULE="registry.settings.production"
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_debug(tmp_path):
    result = _run(
        ["check"], DEBUG="true", SECRET_KEY="k" * 60, DJANGO_SETTINGS_MODULE="registry.settings.production"
    )
    assert result.returncode != 0
    assert "DEBUG must be false" in result.stderr


def test_production_check_deploy_is_clean():
    result = _run(
        ["check", "--deploy", "--fail-level", "WARNING"],
        DEBUG="false",
        SECRET_KEY="a-long-random-production-secret-" + "q7Zp" * 10,
        ALLOWED_HOSTS="registry.example.org",
        DJANGO_SETTINGS_MODULE="registry.settings.production",
    )
    assert result.returncode == 0, result.stderr + result.stdout


def test_argon2_is_the_password_hasher_outside_tests():
    from registry.settings import base

    assert base.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


def test_production_sessions_and_two_factor_come_from_the_environment():
    script = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, "
        "s.SESSION_EXPIRE_AT_BROWSER_CLOSE, s.REGISTRY_SESSION_IDLE_MINUTES, s.SESSION_COOKIE_AGE, "
        "s.REGISTRY_REQUIRE_STAFF_2FA, s.SECURE_HSTS_SECONDS >= 31536000, "
        "'registry.middleware.SessionExpiryMiddleware' in s.MIDDLEWARE, "
        "'registry.middleware.TwoFactorMiddleware' in s.MIDDLEWARE, "
        "s.AUTH_PASSWORD_VALIDATORS[1]['OPTIONS']['min_length'])"
    )
    result = _run(
        ["shell", "--no-imports", "-c", script],
        DEBUG="false",
        SECRET_KEY="a-long-random-production-secret-" + "q7Zp" * 10,
        ALLOWED_HOSTS="registry.example.org",
        DJANGO_SETTINGS_MODULE="registry.settings.production",
        REGISTRY_SESSION_IDLE_MINUTES="15",
        SESSION_COOKIE_AGE="14400",
        REGISTRY_REQUIRE_STAFF_2FA="true",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == ["True", "True", "True", "True", "15", "14400", "True", "True", "True", "True", "12"]


def test_production_check_deploy_is_clean_with_staff_two_factor_required():
    result = _run(
        ["check", "--deploy", "--fail-level", "WARNING"],
        DEBUG="false",
        SECRET_KEY="a-long-random-production-secret-" + "q7Zp" * 10,
        ALLOWED_HOSTS="registry.example.org",
        DJANGO_SETTINGS_MODULE="registry.settings.production",
        REGISTRY_REQUIRE_STAFF_2FA="true",
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout
