"""The login page in a real browser: the demo-style login lands on the home page with role and centre."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_clinician_logs_in_and_sees_role_and_centre(page, login, live_server, rome_clinician):
    login("rome.clinician")
    assert page.get_by_text("Clinician · ROM").first.is_visible()
    assert "/accounts/login/" not in page.url


def test_wrong_password_shows_a_message_and_stays_on_login(page, login, rome_clinician):
    login("rome.clinician", "wrong-password-123")
    assert "/accounts/login/" in page.url
    assert page.get_by_role("alert").first.is_visible()


def test_pages_load_without_csp_violations(page, login, rome_clinician):
    violations = []
    page.on(
        "console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None
    )
    login("rome.clinician")
    page.reload()
    assert violations == []
