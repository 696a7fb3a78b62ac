"""API clients: the services (hashed token shown once, rotation, revocation, who may create what), token
authentication (none, bad, expired, revoked → 401), the command, and the coordinator pages."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from registry import api_clients
from registry.models import ApiClient, ApiRequestLog
from tests.registry.api_data import seed_patient, token_for

TOKEN_RE = re.compile(r"\b[0-9a-f]{8}\.[A-Za-z0-9_-]{43}\b")


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    cache.clear()
    yield
    cache.clear()


def get(client, path, token=None, **extra):
    if token is not None:
        extra["HTTP_AUTHORIZATION"] = f"Token {token}"
    return client.get(path, **extra)


# --- services -----------------------------------------------------------------------------------------------


def test_token_is_shown_once_and_stored_only_as_its_hash(coordinator, rome):
    issued = api_clients.api_client_create(
        name="EBMT", purpose="pooled analysis", created_by=coordinator, centres=[rome]
    )
    client = ApiClient.objects.get(pk=issued.client.pk)
    assert TOKEN_RE.fullmatch(issued.token)
    assert client.token_prefix == issued.token.split(".")[0]
    assert client.token_hash == hashlib.sha256(issued.token.encode()).hexdigest()
    stored = " ".join(str(v) for v in ApiClient.objects.values().get(pk=client.pk).values())
    assert issued.token.split(".")[1] not in stored
    assert client.resource_groups == list(api_clients.RESOURCE_GROUPS)
    assert client.expires_at > timezone.now() + dt.timedelta(days=364)


def test_centre_coordinator_creates_clients_only_for_own_centres(rome_coordinator, rome, erlangen):
    issued = api_clients.api_client_create(
        name="Rome analysis", purpose="x", created_by=rome_coordinator, centres=[rome]
    )
    assert list(issued.client.centres.all()) == [rome]
    with pytest.raises(PermissionDenied):
        api_clients.api_client_create(name="E", purpose="x", created_by=rome_coordinator, centres=[erlangen])
    with pytest.raises(PermissionDenied):
        api_clients.api_client_create(name="A", purpose="x", created_by=rome_coordinator, all_centres=True)


def test_clinicians_and_monitors_cannot_create_clients(rome_clinician, rome_monitor, rome):
    for user in (rome_clinician, rome_monitor):
        with pytest.raises(PermissionDenied):
            api_clients.api_client_create(name=f"by {user}", purpose="x", created_by=user, centres=[rome])


def test_registry_wide_coordinator_may_create_an_all_centre_client(coordinator):
    issued = api_clients.api_client_create(name="All", purpose="x", created_by=coordinator, all_centres=True)
    assert issued.client.all_centres


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": ""}, "name"),
        ({"purpose": " "}, "purpose"),
        ({"centres": []}, "centres"),
        ({"expires_days": 0}, "expires_days"),
        ({"expires_days": 5000}, "expires_days"),
        ({"resource_groups": ["genomes"]}, "resource_groups"),
    ],
)
def test_invalid_client_is_rejected_naming_the_field(coordinator, rome, kwargs, field):
    args = {"name": "X", "purpose": "p", "created_by": coordinator, "centres": [rome], **kwargs}
    with pytest.raises(ValidationError) as err:
        api_clients.api_client_create(**args)
    assert field in err.value.message_dict


def test_rotation_replaces_the_token_and_keeps_the_pseudonym_key(coordinator, rome):
    issued = api_clients.api_client_create(name="R", purpose="p", created_by=coordinator, centres=[rome])
    key = issued.client.pseudonym_key
    rotated = api_clients.api_client_rotate(client=issued.client, recorded_by=coordinator)
    assert rotated.token != issued.token
    client = ApiClient.objects.get(pk=issued.client.pk)
    assert client.pseudonym_key == key
    with pytest.raises(api_clients.TokenProblem):
        api_clients.client_for_token(issued.token)
    assert api_clients.client_for_token(rotated.token).pk == client.pk
    assert client.history.latest().history_change_reason == "token rotated"


def test_a_revoked_client_cannot_be_revoked_again_or_rotated(coordinator, rome):
    issued = api_clients.api_client_create(name="R", purpose="p", created_by=coordinator, centres=[rome])
    api_clients.api_client_revoke(client=issued.client, recorded_by=coordinator, reason="analysis done")
    with pytest.raises(ValidationError):
        api_clients.api_client_revoke(client=issued.client, recorded_by=coordinator)
    with pytest.raises(ValidationError):
        api_clients.api_client_rotate(client=issued.client, recorded_by=coordinator)


def test_centre_coordinator_cannot_revoke_a_registry_wide_client(coordinator, rome_coordinator):
    issued = api_clients.api_client_create(name="All", purpose="p", created_by=coordinator, all_centres=True)
    with pytest.raises(PermissionDenied):
        api_clients.api_client_revoke(client=issued.client, recorded_by=rome_coordinator)


# --- authentication matrix ----------------------------------------------------------------------------------


@pytest.fixture
def issued(coordinator, rome, rome_clinician):
    seed_patient(rome, rome_clinician, full=False)
    return token_for(coordinator, name="Auth", centres=[rome])


def _assert_401(response, code):
    assert response.status_code == 401
    body = response.json()
    assert body["status"] == 401 and body["code"] == code
    assert response["WWW-Authenticate"].startswith("Token")
    assert "Traceback" not in response.content.decode()


def test_no_token_is_401(client, issued):
    _assert_401(get(client, "/api/v1/patients/"), "not_authenticated")


def test_another_scheme_is_401(client, issued):
    _, token = issued
    _assert_401(client.get("/api/v1/patients/", HTTP_AUTHORIZATION=f"Bearer {token}"), "not_authenticated")


@pytest.mark.parametrize(
    "bad",
    [
        "nonsense",
        "deadbeef.not-the-secret-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "a b",
        "ünïcode.token",
    ],
)
def test_malformed_or_unknown_token_is_401(client, issued, bad):
    _assert_401(client.get("/api/v1/patients/", HTTP_AUTHORIZATION=f"Token {bad}"), "authentication_failed")


def test_right_prefix_with_a_wrong_secret_is_401(client, issued):
    _, token = issued
    prefix = token.split(".")[0]
    _assert_401(get(client, "/api/v1/patients/", f"{prefix}.{'x' * 43}"), "authentication_failed")


def test_expired_token_is_401_and_says_so(client, issued):
    api_client, token = issued
    ApiClient.objects.filter(pk=api_client.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = get(client, "/api/v1/patients/", token)
    _assert_401(response, "authentication_failed")
    assert "expired" in response.json()["detail"]


def test_revoked_token_is_401_and_says_so(client, issued, coordinator):
    api_client, token = issued
    api_clients.api_client_revoke(client=api_client, recorded_by=coordinator, reason="done")
    response = get(client, "/api/v1/patients/", token)
    _assert_401(response, "authentication_failed")
    assert "revoked" in response.json()["detail"]


def test_valid_token_works_and_records_last_use(client, issued):
    api_client, token = issued
    assert api_client.last_used_at is None
    response = get(client, "/api/v1/patients/", token)
    assert response.status_code == 200
    api_client.refresh_from_db()
    assert timezone.now() - api_client.last_used_at < dt.timedelta(minutes=1)


def test_every_request_is_logged_with_client_endpoint_filters_and_rows(client, issued):
    api_client, token = issued
    get(client, "/api/v1/patients/?diagnosis=sle", token)
    get(client, "/api/v1/patients/")
    ok, anonymous = ApiRequestLog.objects.order_by("pk")
    assert (ok.client, ok.endpoint, ok.filters, ok.rows, ok.status_code) == (
        api_client,
        "/api/v1/patients/",
        {"diagnosis": "sle"},
        1,
        200,
    )
    assert (anonymous.client, anonymous.status_code, anonymous.rows) == (None, 401, 0)


# --- management command -------------------------------------------------------------------------------------


def test_command_prints_a_working_token(client, rome, erlangen, rome_clinician):
    seed_patient(rome, rome_clinician, full=False)
    out, err = StringIO(), StringIO()
    call_command(
        "create_api_client",
        "Pooled",
        "--centre",
        "ROM",
        "--centre",
        "erl",
        "--expires-days",
        "30",
        "--purpose",
        "EBMT pooled analysis",
        stdout=out,
        stderr=err,
    )
    token = out.getvalue().strip()
    assert TOKEN_RE.fullmatch(token)
    api_client = ApiClient.objects.get(name="Pooled")
    assert set(api_client.centres.values_list("code", flat=True)) == {"ROM", "ERL"}
    assert api_client.purpose == "EBMT pooled analysis"
    assert api_client.created_by.username == "registry-system"
    assert dt.timedelta(days=29) < api_client.expires_at - timezone.now() <= dt.timedelta(days=30)
    assert "shown only now" in err.getvalue()
    assert get(client, "/api/v1/patients/", token).status_code == 200


def test_command_with_all_centres_and_resource_groups(db):
    out = StringIO()
    call_command("create_api_client", "All", "--all-centres", "--resource-group", "patients", stdout=out)
    api_client = ApiClient.objects.get(name="All")
    assert api_client.all_centres and api_client.resource_groups == ["patients"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["X", "--centre", "NOPE"], "Unknown centre"),
        (["X"], "centres"),
        (["X", "--centre", "ROM", "--expires-days", "0"], "expires_days"),
    ],
)
def test_command_errors_are_clear(rome, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_api_client", *args, stdout=StringIO(), stderr=StringIO())


# --- coordinator pages --------------------------------------------------------------------------------------


def _no_inline_script(html: str) -> None:
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)


def test_coordinator_creates_a_client_and_sees_the_token_once(client, rome_coordinator, rome, erlangen):
    client.force_login(rome_coordinator)
    page = client.get("/api-clients/new/")
    assert page.status_code == 200
    html = page.content.decode()
    _no_inline_script(html)
    assert "ERL" not in html and "all_centres" not in html  # only own centres; no registry-wide choice
    response = client.post(
        "/api-clients/new/",
        {
            "name": "Rome pooled",
            "purpose": "EBMT",
            "centres": [rome.pk],
            "resource_groups": ["patients", "toxicity"],
            "expires_days": 90,
        },
    )
    assert response.status_code == 200
    token = TOKEN_RE.search(response.content.decode()).group(0)
    assert response["Cache-Control"].startswith("max-age=0") or "no-store" in response["Cache-Control"]
    api_client = ApiClient.objects.get(name="Rome pooled")
    assert api_client.resource_groups == ["patients", "toxicity"]
    detail = client.get(f"/api-clients/{api_client.pk}/").content.decode()
    assert token not in detail and token.split(".")[1] not in detail
    listing = client.get("/api-clients/").content.decode()
    assert "Rome pooled" in listing and token not in listing


def test_coordinator_cannot_create_for_another_centre(client, rome_coordinator, rome, erlangen):
    client.force_login(rome_coordinator)
    response = client.post(
        "/api-clients/new/",
        {
            "name": "Sneaky",
            "purpose": "x",
            "centres": [erlangen.pk],
            "resource_groups": ["patients"],
            "expires_days": 30,
        },
    )
    assert response.status_code == 200
    assert "centres" in response.context["form"].errors
    assert not ApiClient.objects.filter(name="Sneaky").exists()


def test_other_centres_clients_are_404_for_a_centre_coordinator(
    client, coordinator, rome_coordinator, erlangen
):
    other, _ = token_for(coordinator, name="Erlangen only", centres=[erlangen])
    client.force_login(rome_coordinator)
    assert "Erlangen only" not in client.get("/api-clients/").content.decode()
    for path in (
        f"/api-clients/{other.pk}/",
        f"/api-clients/{other.pk}/rotate/",
        f"/api-clients/{other.pk}/revoke/",
    ):
        assert client.get(path).status_code == 404


def test_clinicians_do_not_get_the_pages(client, rome_clinician):
    client.force_login(rome_clinician)
    assert client.get("/api-clients/").status_code == 404
    assert client.get("/api-clients/new/").status_code == 404


def test_rotate_and_revoke_pages(client, coordinator, rome):
    api_client, old = token_for(coordinator, name="Rotating", centres=[rome])
    client.force_login(coordinator)
    confirm = client.get(f"/api-clients/{api_client.pk}/rotate/")
    assert confirm.status_code == 200
    _no_inline_script(confirm.content.decode())
    response = client.post(f"/api-clients/{api_client.pk}/rotate/", {"expires_days": ""})
    new = TOKEN_RE.search(response.content.decode()).group(0)
    assert new != old
    response = client.post(f"/api-clients/{api_client.pk}/revoke/", {"reason": "analysis finished"})
    assert response.status_code == 302
    api_client.refresh_from_db()
    assert api_client.revoked_at is not None
    assert "revoked" in client.get(f"/api-clients/{api_client.pk}/").content.decode().lower()
    assert get(client, "/api/v1/patients/", new).status_code == 401
