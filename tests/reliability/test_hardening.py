"""Hardening (OWASP ASVS L2 habits): security headers on every response, session expiry, log-in throttling,
the password policy and the optional TOTP second factor for staff."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from patients.models import Patient
from registry.access_events import SESSION_AUTHENTICATED_AT, SESSION_LAST_SEEN
from registry.models import AccessEvent, AccessEventKind
from registry.two_factor import SESSION_PENDING_KEY

PASSWORD = "correct-horse-battery"  # the personas' password (tests/conftest.py)


def _login(client: Client, username: str, password: str = PASSWORD, next_url: str = ""):
    data = {"username": username, "password": password}
    if next_url:
        data["next"] = next_url
    return client.post(reverse("login"), data)


def _code(device: TOTPDevice, *, offset_steps: int = 0) -> str:
    """The code an authenticator app would show now (or ``offset_steps`` steps away)."""
    t0 = device.t0 - offset_steps * device.step
    return f"{totp(device.bin_key, step=device.step, t0=t0, digits=device.digits):06d}"


# --- security headers ----------------------------------------------------------------------------------------

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=()",
}


def _assert_hardened(response) -> None:
    for header, expected in SECURITY_HEADERS.items():
        assert expected in response.headers.get(header, ""), f"{header} missing on {response.status_code}"
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";", 1)[0]


def test_login_page_error_pages_and_signed_in_pages_carry_the_security_headers(client, rome_clinician, rome_patient):
    _assert_hardened(client.get(reverse("login")))
    _assert_hardened(client.get("/no-such-page/"))
    _assert_hardened(client.get(reverse("admin:login")))
    client.force_login(rome_clinician)
    page = client.get(reverse("patients:detail", args=[rome_patient.pk]))
    assert page.status_code == 200
    _assert_hardened(page)
    assert page.headers["Cache-Control"] == "no-store"  # clinical pages are not kept by the browser
    other_centre = client.get(reverse("patients:detail", args=[rome_patient.pk + 1000]))
    assert other_centre.status_code == 404
    _assert_hardened(other_centre)


def test_static_files_served_by_whitenoise_carry_the_security_headers(db):
    with override_settings(WHITENOISE_USE_FINDERS=True, WHITENOISE_AUTOREFRESH=True):
        response = Client().get("/static/css/registry.css")
        assert response.status_code == 200
        _assert_hardened(response)


# --- sessions ---------------------------------------------------------------------------------------------


def _age_session(client: Client, **seconds_ago: float) -> None:
    session = client.session
    now = time.time()
    keys = {"last_seen": SESSION_LAST_SEEN, "authenticated": SESSION_AUTHENTICATED_AT}
    for name, ago in seconds_ago.items():
        session[keys[name]] = now - ago
    session.save()


def test_session_cookie_ends_with_the_browser_and_is_http_only(client, rome_clinician):
    response = _login(client, "rome.clinician")
    assert response.status_code == 302
    cookie = response.cookies["sessionid"]
    assert cookie["max-age"] == "" and cookie["expires"] == ""  # a browser-session cookie
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


def test_idle_session_is_logged_out_with_a_message(client, rome_clinician):
    client.force_login(rome_clinician)
    assert client.get(reverse("patients:list")).status_code == 200
    _age_session(client, last_seen=31 * 60)
    response = client.get(reverse("patients:list"), follow=True)
    assert response.redirect_chain[0][0].startswith(reverse("login") + "?next=")
    assert "after 30 minutes without activity" in response.content.decode()
    assert SESSION_KEY not in client.session
    logout = AccessEvent.objects.get(kind=AccessEventKind.LOGOUT)
    assert logout.user == rome_clinician and logout.details == {"reason": "idle_timeout"}


def test_a_session_used_within_the_idle_limit_stays_open(client, rome_clinician):
    client.force_login(rome_clinician)
    _age_session(client, last_seen=29 * 60)
    assert client.get(reverse("patients:list")).status_code == 200
    # The request counts as activity: the idle clock starts again.
    assert time.time() - client.session[SESSION_LAST_SEEN] < 60
    assert client.get(reverse("patients:list")).status_code == 200


@override_settings(REGISTRY_SESSION_IDLE_MINUTES=5)
def test_idle_limit_comes_from_the_settings(client, rome_clinician):
    client.force_login(rome_clinician)
    _age_session(client, last_seen=6 * 60)
    response = client.get(reverse("patients:list"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_form_sent_after_the_idle_limit_is_not_saved_and_says_so(client, rome, rome_clinician):
    client.force_login(rome_clinician)
    _age_session(client, last_seen=45 * 60)
    response = client.post(
        reverse("patients:enrol"),
        {"sex": "female", "diagnosis": "sle", "given_name": "Ada", "family_name": "Lovelace"},
        follow=True,
    )
    assert not Patient.objects.exists()
    html = response.content.decode()
    assert "was not saved" in html and 'name="password"' in html


def test_session_older_than_the_maximum_age_is_logged_out_even_when_active(client, rome_clinician, settings):
    client.force_login(rome_clinician)
    _age_session(client, authenticated=settings.SESSION_COOKIE_AGE + 60, last_seen=10)
    response = client.get(reverse("patients:list"), follow=True)
    assert "maximum length of 8 hours" in response.content.decode()
    assert AccessEvent.objects.get(kind=AccessEventKind.LOGOUT).details == {"reason": "max_age"}


# --- log-in throttling (django-axes) ---------------------------------------------------------------------


@pytest.fixture
def axes_on(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    return settings


def test_repeated_failed_logins_lock_the_username_with_a_clear_message(client, rome_clinician, axes_on):
    for _ in range(3):
        wrong = _login(client, "rome.clinician", "not-the-password")
        assert wrong.status_code in (200, 429)
    locked = _login(client, "rome.clinician")  # even the right password is refused now
    assert locked.status_code == 429
    html = locked.content.decode()
    assert "Too many failed log-in attempts" in html and "Try again in 15 minutes" in html
    assert SESSION_KEY not in client.session
    _assert_hardened(locked)
    failures = AccessEvent.objects.filter(kind=AccessEventKind.LOGIN_FAILED)
    assert failures.count() >= 3 and {e.username for e in failures} == {"rome.clinician"}
    assert failures.filter(details__locked_out=True).exists()


def test_lockout_is_per_username_and_a_success_resets_the_count(client, rome_clinician, monitor, axes_on):
    for _ in range(2):
        _login(client, "rome.clinician", "not-the-password")
    assert _login(client, "rome.clinician").status_code == 302  # below the limit: logged in, count reset
    client.logout()
    for _ in range(2):
        _login(client, "rome.clinician", "not-the-password")
    assert _login(client, "rome.clinician").status_code == 302
    client.logout()
    for _ in range(3):
        _login(client, "monitor", "not-the-password")
    assert _login(client, "monitor").status_code == 429
    assert _login(client, "rome.clinician").status_code == 302  # another username is not locked


# --- password policy ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Short-pw1", "at least 12 characters"),
        ("password1234", "too common"),
        ("839201746352", "entirely numeric"),
        ("rome.clinician.2026", "too similar"),
    ],
)
def test_weak_passwords_are_refused(rome_clinician, password, message):
    with pytest.raises(ValidationError) as error:
        validate_password(password, user=rome_clinician)
    assert any(message in text for text in error.value.messages)


def test_a_long_unusual_password_is_accepted(rome_clinician):
    validate_password("Ward 7 lamp, slow kettle & 3 herons", user=rome_clinician)


def test_password_change_page_refuses_a_weak_password_and_keeps_the_old_one(client, rome_clinician):
    client.force_login(rome_clinician)
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": "short1", "new_password2": "short1"},
    )
    assert response.status_code == 200
    assert "at least 12 characters" in response.content.decode()
    rome_clinician.refresh_from_db()
    assert rome_clinician.check_password(PASSWORD)


# --- two-factor authentication (TOTP) --------------------------------------------------------------------


@pytest.fixture
def staff_device(staff_admin):
    return TOTPDevice.objects.create(user=staff_admin, name="authenticator", confirmed=True)


def test_staff_with_a_device_must_enter_a_code_after_the_password(client, staff_admin, staff_device):
    response = _login(client, "admin", next_url="/admin/")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    gate = client.get("/admin/")
    assert gate.status_code == 302 and gate["Location"].startswith(reverse("otp_verify"))
    # Nothing but the code page: clinical pages and the admin stay closed.
    assert client.get(reverse("patients:list"))["Location"].startswith(reverse("otp_verify"))
    page = client.get(gate["Location"])
    assert "6-digit code" in page.content.decode()

    wrong = client.post(reverse("otp_verify"), {"token": "000000", "next": "/admin/"})
    assert wrong.status_code == 200 and "This code is wrong" in wrong.content.decode()
    assert client.get("/admin/").status_code == 302

    # A wrong code slows the device down: even the right code waits (django-otp doubles the wait each time).
    too_soon = client.post(reverse("otp_verify"), {"token": _code(staff_device), "next": "/admin/"})
    assert too_soon.status_code == 200 and "Too many wrong codes: wait" in too_soon.content.decode()
    TOTPDevice.objects.filter(pk=staff_device.pk).update(
        throttling_failure_timestamp=timezone.now() - dt.timedelta(seconds=10)
    )

    right = client.post(reverse("otp_verify"), {"token": _code(staff_device), "next": "/admin/"})
    assert right.status_code == 302 and right["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    kinds = list(AccessEvent.objects.order_by("at", "pk").values_list("kind", flat=True))
    assert kinds == ["login", "otp_failed", "otp_failed", "otp_verified"]


def test_a_code_cannot_be_used_twice(client, staff_admin, staff_device):
    code = _code(staff_device)
    _login(client, "admin")
    assert client.post(reverse("otp_verify"), {"token": code})["Location"] == reverse("home")
    client.post(reverse("logout"))
    _login(client, "admin")
    replay = client.post(reverse("otp_verify"), {"token": code})
    assert replay.status_code == 200 and "wrong or has expired" in replay.content.decode()


def test_a_code_that_is_not_six_digits_gets_a_field_message(client, staff_admin, staff_device):
    _login(client, "admin")
    response = client.post(reverse("otp_verify"), {"token": "12ab"})
    assert "Enter the 6 digits" in response.content.decode()


@override_settings(REGISTRY_REQUIRE_STAFF_2FA=True)
def test_clinicians_without_a_device_log_in_as_before_when_staff_2fa_is_required(client, rome_clinician):
    response = _login(client, "rome.clinician")
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert client.get(reverse("patients:list")).status_code == 200


def test_without_the_requirement_staff_without_a_device_reach_the_admin(client, staff_admin):
    _login(client, "admin")
    assert client.get("/admin/").status_code == 200


@override_settings(REGISTRY_REQUIRE_STAFF_2FA=True)
def test_required_staff_2fa_sends_staff_to_set_up_a_device_then_opens_the_admin(client, staff_admin):
    _login(client, "admin")
    gate = client.get("/admin/registry/centre/")
    assert gate.status_code == 302 and gate["Location"].startswith(reverse("otp_setup"))

    page = client.get(gate["Location"])
    html = page.content.decode()
    key = client.session[SESSION_PENDING_KEY]
    assert "otpauth://totp/" in html and "data:image/svg+xml" in html
    assert "needs two-factor authentication" in html
    assert client.get(reverse("otp_setup")).context["secret"] == page.context["secret"]  # stable on reload

    device = TOTPDevice(user=staff_admin, key=key)
    bad = client.post(reverse("otp_setup"), {"token": _code(device, offset_steps=10)})
    assert bad.status_code == 200 and "does not match the new secret" in bad.content.decode()
    assert not TOTPDevice.objects.exists()

    done = client.post(reverse("otp_setup"), {"token": _code(device), "next": "/admin/registry/centre/"})
    assert done.status_code == 302 and done["Location"] == "/admin/registry/centre/"
    assert client.get("/admin/registry/centre/").status_code == 200
    saved = TOTPDevice.objects.get(user=staff_admin)
    assert saved.confirmed and saved.key == key
    assert AccessEvent.objects.filter(kind=AccessEventKind.OTP_ENROLLED, user=staff_admin).exists()

    # From now on the code is asked after the password.
    client.post(reverse("logout"))
    _login(client, "admin")
    assert client.get("/admin/")["Location"].startswith(reverse("otp_verify"))


@override_settings(REGISTRY_REQUIRE_STAFF_2FA=True)
def test_staff_with_a_device_are_asked_for_the_code_not_a_new_device(client, staff_admin, staff_device):
    _login(client, "admin")
    assert client.get("/admin/")["Location"].startswith(reverse("otp_verify"))
    # Setting up a new device is not a way around the code.
    assert client.get(reverse("otp_setup"))["Location"].startswith(reverse("otp_verify"))


def test_setting_up_a_new_device_replaces_the_old_one(client, staff_admin, staff_device):
    _login(client, "admin")
    client.post(reverse("otp_verify"), {"token": _code(staff_device)})
    client.get(reverse("otp_setup"))
    new = TOTPDevice(user=staff_admin, key=client.session[SESSION_PENDING_KEY])
    assert client.post(reverse("otp_setup"), {"token": _code(new)}).status_code == 302
    assert list(TOTPDevice.objects.values_list("key", flat=True)) == [new.key]


def test_the_verify_page_sends_users_without_a_device_on(client, rome_clinician):
    _login(client, "rome.clinician")
    response = client.get(reverse("otp_verify") + "?next=/patients/")
    assert response.status_code == 302 and response["Location"] == "/patients/"
    external = client.get(reverse("otp_verify") + "?next=https://evil.example/")
    assert external["Location"] == reverse("home")
