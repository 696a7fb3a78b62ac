"""Login, navigation, 404, CSRF and the no-centre notice."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse


def test_login_page_is_served_with_the_registry_look(client, db):
    response = client.get(reverse("login"))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'name="username"' in body and 'name="password"' in body
    assert "/static/vendor/pico/pico.min.css" in body  # our own static files, no CDN
    assert "https://" not in body.split("<body>")[0]


def test_wrong_password_and_unknown_user_give_the_same_message(client, rome_clinician):
    wrong = client.post(reverse("login"), {"username": "rome.clinician", "password": "not-the-password"})
    unknown = client.post(reverse("login"), {"username": "ghost", "password": "not-the-password"})
    assert wrong.status_code == unknown.status_code == 200

    def error(resp):
        return [str(e) for e in resp.context["form"].non_field_errors()]

    assert error(wrong) == error(unknown)
    assert error(wrong)


def test_demo_style_login_reaches_home_with_role_and_centre(client, rome_clinician):
    response = client.post(
        reverse("login"), {"username": "rome.clinician", "password": "correct-horse-battery"}, follow=True
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Clinician · ROM" in body


def test_user_without_membership_sees_no_centre_page(client, nobody):
    client.force_login(nobody)
    response = client.get(reverse("home"), follow=True)
    assert response.status_code == 200
    assert "No centre assigned" in response.content.decode()


def test_home_requires_login(client, db):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_unknown_route_is_a_404_page(client, rome_clinician):
    client.force_login(rome_clinician)
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_forms_are_csrf_protected(rome_clinician):
    csrf_client = Client(enforce_csrf_checks=True)
    response = csrf_client.post(
        reverse("login"), {"username": "rome.clinician", "password": "correct-horse-battery"}
    )
    assert response.status_code == 403


def test_logout_is_a_post(client, rome_clinician):
    client.force_login(rome_clinician)
    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 302


def test_password_change_page(client, rome_clinician):
    client.force_login(rome_clinician)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": "correct-horse-battery",
            "new_password1": "a-much-longer-passphrase-2026",
            "new_password2": "a-much-longer-passphrase-2026",
        },
    )
    assert response.status_code == 302
    rome_clinician.refresh_from_db()
    assert rome_clinician.check_password("a-much-longer-passphrase-2026")


def test_security_headers(client, db):
    response = client.get(reverse("login"))
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_failed_logins_are_throttled(client, rome_clinician, settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        client.post(reverse("login"), {"username": "rome.clinician", "password": "wrong-wrong"})
    locked = client.post(
        reverse("login"), {"username": "rome.clinician", "password": "correct-horse-battery"}
    )
    assert locked.status_code == 429
    assert "Too many failed log-in attempts" in locked.content.decode()


def test_navigation_offers_what_the_role_allows(client, rome_clinician, rome_coordinator, rome_monitor):
    def nav(user):
        client.force_login(user)
        body = client.get(reverse("patients:list")).content.decode()
        return {label for label in ("Case series", "Summaries", "API clients") if f">{label}</a>" in body}

    assert nav(rome_coordinator) == {"Case series", "Summaries", "API clients"}
    assert nav(rome_clinician) == {"Case series"}  # identified exports of the own centre only
    assert nav(rome_monitor) == set()
