"""The authorisation matrix (OWASP ASVS L2 V4): every URL of the site and every API operation × every persona ×
read and write, against the declared rules of ``urlmap`` (DESIGN §5).

URLs come from the URL conf and the OpenAPI schema, so a new URL is in the matrix at once; one without a rule
or without a fixture to fill it fails with a message saying what to add. For every answer the test also checks
that nothing leaks — no registry code of a centre the persona may not read, no identity the persona may not
see, no pseudonym of another client's patients — and that a refused write changed no row anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.shortcuts import resolve_url
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from registry import deidentify
from tests.reliability import urlmap
from tests.reliability.authz_data import fingerprint, seeded  # noqa: F401  (module fixture)
from tests.reliability.urlmap import (
    API_PERSONAS,
    GRANTS,
    LOGIN,
    MEMBER,
    OWNER,
    PAGE_PERSONAS,
    PUBLIC,
    A,
    Endpoint,
    Rule,
)

ENDPOINTS = urlmap.endpoints()
PAGES = [e for e in ENDPOINTS if e.area == "page"]
API = [e for e in ENDPOINTS if e.area == "api"]
ADMIN = [e for e in ENDPOINTS if e.area == "admin"]
LOGIN_REDIRECT = "login-redirect"
ADMIN_REDIRECT = "admin-redirect"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    cache.clear()
    yield
    cache.clear()


@dataclass
class Outcome:
    persona: str
    method: str
    path: str
    status: int
    expected: object
    problem: str = ""


# --- requests -----------------------------------------------------------------------------------------------


def _client(seeded, persona: str) -> Client:  # noqa: F811
    client = Client()
    key = seeded.sessions.get("rome_clinician" if persona == "session" else persona)
    if key:
        client.cookies[settings.SESSION_COOKIE_NAME] = key
    return client


def _body(response) -> str:
    if getattr(response, "streaming", False):
        content = b"".join(response.streaming_content)
    else:
        content = response.content
    return content.decode("utf-8", errors="replace")


def send(seeded, persona: str, method: str, filled: urlmap.Filled, headers: dict | None = None):  # noqa: F811
    """One request, in a savepoint that is rolled back; returns (response, body, rows changed?)."""
    client = _client(seeded, persona)
    call = getattr(client, method.lower())
    with transaction.atomic():
        before = fingerprint() if method != "GET" else None
        if method == "GET":
            response = call(filled.path, filled.query, **(headers or {}))
        else:
            response = call(filled.path, filled.post, **(headers or {}))
        body = _body(response)
        changed = method != "GET" and fingerprint() != before
        transaction.set_rollback(True)
    return response, body, changed


PLACEHOLDER = re.compile(r'placeholder="[^"]*"')


def leaks(body: str, forbidden: dict[str, list[str]]) -> list[str]:
    body = PLACEHOLDER.sub("", body)  # input hints ("ROM-001" as an example of a code) are not data
    return [
        f"{what} {text!r}" for what, texts in forbidden.items() for text in texts if text and text in body
    ]


# --- pages --------------------------------------------------------------------------------------------------


def permitted(rule: Rule, persona: str) -> bool:
    if rule.needs == PUBLIC:
        return True
    if persona == "anonymous":
        return False
    if rule.needs == LOGIN:
        return True
    if rule.needs == MEMBER:
        return urlmap.member(persona)
    if rule.needs == OWNER:
        return persona == "rome_coordinator"
    if isinstance(rule.needs, tuple):
        return any(urlmap.anywhere(persona, action) for action in rule.needs)
    if rule.where == "anywhere":
        return urlmap.anywhere(persona, rule.needs)
    if rule.where == "everywhere":  # registry-wide
        return all(rule.needs in grants for grants in GRANTS[persona])
    return urlmap.at_rome(persona, rule.needs)


def expected_page(rule: Rule, persona: str, method: str) -> object:
    if persona == "anonymous" and rule.needs != PUBLIC:
        return LOGIN_REDIRECT
    allowed = permitted(rule, persona)
    if method not in rule.methods:
        # A refused method: 405, or for those who may not see the object the same 404 as for a missing one.
        return {405} if allowed else {404, 405}
    if not allowed:
        return {302} if rule.needs == MEMBER else {404}  # non-members are sent to the no-centre page
    if rule.ok_if_logged_in is not None and persona != "anonymous":
        return {rule.ok_if_logged_in}
    if rule.ok_if_member is not None and urlmap.member(persona):
        return {rule.ok_if_member}
    if method == "GET":
        return {rule.ok}
    return {rule.ok, 200, 302, 400}  # saved (redirect), or the form again with its errors


def page_forbidden(seeded, persona: str) -> dict[str, list[str]]:  # noqa: F811
    """What ``persona`` must never see on a page: codes of centres it may not read, identity it may not see."""
    rome, erlangen = GRANTS[persona]
    forbidden = {"code": [], "identity": []}
    for grants, patients in ((rome, seeded.rome_patients), (erlangen, seeded.erl_patients)):
        if A.READ not in grants:
            forbidden["code"] += seeded.codes_of(patients)
        if A.IDENTITY not in grants:
            forbidden["identity"] += seeded.identity_of(patients)
    return forbidden


def check(
    outcome: Outcome,
    response,
    body: str,
    changed: bool,
    forbidden: dict[str, list[str]],
    must_not_change: bool,
) -> Outcome:
    expected = outcome.expected
    if expected == LOGIN_REDIRECT:
        ok = response.status_code == 302 and response["Location"].startswith(resolve_url(settings.LOGIN_URL))
    elif expected == ADMIN_REDIRECT:
        ok = response.status_code == 302 and response["Location"].startswith("/admin/")
    else:
        ok = response.status_code in expected
    problems = [] if ok else [f"status {response.status_code}, expected {expected}"]
    if changed and (must_not_change or not ok):
        problems.append("a refused write changed rows")
    problems += [f"leaks {leak}" for leak in leaks(body, forbidden)]
    outcome.problem = "; ".join(problems)
    return outcome


def report(endpoint: Endpoint, outcomes: list[Outcome]) -> None:
    bad = [o for o in outcomes if o.problem]
    assert not bad, f"{endpoint} ({endpoint.route}):\n" + "\n".join(
        f"  {o.persona:20} {o.method:6} {o.path}: {o.problem}" for o in bad
    )


def test_every_url_of_the_site_has_a_rule_and_a_fixture(seeded, db):  # noqa: F811
    """A new URL must be declared (who may use it) and fillable (a real object for each argument)."""
    problems = []
    for endpoint in ENDPOINTS:
        if endpoint.area == "page" and endpoint.name not in urlmap.RULES:
            problems.append(
                f"{endpoint} ({endpoint.route}): no rule; add it to RULES in tests/reliability/urlmap.py"
            )
        if endpoint.area == "api" and not (
            endpoint.name in urlmap.API_GROUPS
            or endpoint.name in urlmap.API_PUBLIC
            or endpoint.name == urlmap.API_CATCH_ALL
        ):
            problems.append(
                f"{endpoint}: no resource group; add it to API_GROUPS in tests/reliability/urlmap.py"
            )
        if endpoint.area == "admin":
            found = urlmap.admin_model(endpoint)
            if found is None and endpoint.name not in urlmap.ADMIN_SITE:
                problems.append(f"{endpoint} ({endpoint.route}): no admin rule; add it to ADMIN_SITE")
            if found is not None and urlmap.admin_capability(*found) is None:
                problems.append(f"{found[0]._meta.label_lower}: no admin rule; add it to ADMIN_MODELS")
        try:
            urlmap.fill(endpoint, seeded, "rome_clinician")
        except urlmap.Unfilled as exc:
            problems.append(str(exc))
    declared = set(urlmap.RULES) | set(urlmap.API_GROUPS) | urlmap.API_PUBLIC | set(urlmap.ADMIN_SITE)
    routed = {e.name for e in ENDPOINTS}
    problems += [f"{name}: a rule for a URL that no longer exists" for name in sorted(declared - routed)]
    assert not problems, "\n".join(problems)


def test_the_matrix_covers_hundreds_of_cases():
    """Guards the enumeration itself: if the walk stopped descending into includes, this would notice."""
    assert len(PAGES) >= 60 and len(API) >= 15 and len(ADMIN) >= 150
    assert {"patients:detail", "exports:download", "api_clients:revoke", "record_history"} <= {
        e.name for e in PAGES
    }


@pytest.mark.parametrize("endpoint", PAGES, ids=str)
def test_page_answers_each_persona_as_declared(endpoint: Endpoint, seeded, db):  # noqa: F811
    rule = urlmap.RULES.get(endpoint.name)
    assert rule is not None, (
        f"{endpoint} ({endpoint.route}) has no rule: add it to RULES in tests/reliability/urlmap.py"
    )
    outcomes = []
    for persona in PAGE_PERSONAS:
        filled = urlmap.fill(endpoint, seeded, persona)
        forbidden = page_forbidden(seeded, persona)
        for method in ("GET", "POST"):
            response, body, changed = send(seeded, persona, method, filled)
            outcome = Outcome(
                persona, method, filled.path, response.status_code, expected_page(rule, persona, method)
            )
            refused = not permitted(rule, persona) or method not in rule.methods
            outcomes.append(check(outcome, response, body, changed, forbidden, must_not_change=refused))
    report(endpoint, outcomes)


def test_a_clinician_of_the_centre_may_actually_write_with_the_bodies_that_others_are_refused(seeded, db):  # noqa: F811
    """The write bodies of the matrix are real: let through, they change rows (so "nothing changed" for the
    refused personas means something)."""
    for name in urlmap.POST_DATA:
        endpoint = next(e for e in PAGES if e.name == name)
        persona = "coordinator" if name.startswith(("api_clients:", "exports:")) else "rome_clinician"
        response, _body_text, changed = send(seeded, persona, "POST", urlmap.fill(endpoint, seeded, persona))
        assert response.status_code in (200, 302), (name, response.status_code)
        assert changed, f"{name}: the write body of the matrix did not change anything when allowed"


# --- admin --------------------------------------------------------------------------------------------------


def expected_admin(endpoint: Endpoint, persona: str, method: str) -> object:
    if persona != "staff_admin":
        if endpoint.name == "admin:login":
            return {200}  # the log-in form (for a logged-in non-staff user: "not authorised, log in as …")
        return ADMIN_REDIRECT
    found = urlmap.admin_model(endpoint)
    if found is None:
        get, post = urlmap.ADMIN_SITE[endpoint.name]
        return {get} if method == "GET" else {post}
    model, view = found
    capable = urlmap.admin_capability(model, view)
    if view == "redirect":
        return {302}
    if view == "simple_history":  # a past version: shown, never reverted (SIMPLE_HISTORY_REVERT_DISABLED)
        return {200}
    if method == "GET":
        if view == "change":
            return {200}  # read-only models are shown read-only
        return {200} if capable else {403}
    return {200, 302} if capable else {403}


def admin_forbidden(seeded, persona: str) -> dict[str, list[str]]:  # noqa: F811
    everyone = seeded.rome_patients + seeded.erl_patients
    forbidden = {"identity": seeded.identity_of(everyone)}  # no identity in the admin, for anyone
    if persona != "staff_admin":
        forbidden["code"] = seeded.codes_of(everyone)
    return forbidden


@pytest.mark.parametrize("endpoint", ADMIN, ids=str)
def test_admin_answers_each_persona_as_declared(endpoint: Endpoint, seeded, db):  # noqa: F811
    filled = urlmap.fill(endpoint, seeded, "staff_admin")
    outcomes = []
    found = urlmap.admin_model(endpoint)
    for persona in urlmap.ADMIN_PERSONAS:
        # Staff's POSTs where the admin writes (and where it must refuse to); everywhere for the others.
        writes = found is None or found[1] in ("add", "change", "delete", "simple_history")
        for method in ("GET", "POST") if writes or persona != "staff_admin" else ("GET",):
            response, body, changed = send(seeded, persona, method, filled)
            outcome = Outcome(
                persona, method, filled.path, response.status_code, expected_admin(endpoint, persona, method)
            )
            may_write = (
                persona == "staff_admin"
                and found is not None
                and found[1] in ("add", "change", "delete")
                and urlmap.admin_capability(*found)
            )
            outcomes.append(
                check(
                    outcome,
                    response,
                    body,
                    changed,
                    admin_forbidden(seeded, persona),
                    must_not_change=not may_write,
                )
            )
    report(endpoint, outcomes)


# --- API ----------------------------------------------------------------------------------------------------


def schema_operations() -> dict[str, set[str]]:
    """URL name → methods, from the OpenAPI document that drf-spectacular generates."""
    from django.urls import resolve

    document = SchemaGenerator().get_schema(request=None, public=True)
    operations: dict[str, set[str]] = {}
    for path, item in document["paths"].items():
        concrete = path.replace("{id}", "P-AAAAAAAAAAAA")
        match = resolve(concrete)
        operations.setdefault(f"api:{match.url_name}", set()).update(m.upper() for m in item)
    return operations


def test_the_schema_and_the_url_conf_list_the_same_api_operations():
    operations = schema_operations()
    routed = {e.name for e in API if e.name in urlmap.API_GROUPS}
    assert set(operations) == routed, "the OpenAPI schema and the URL conf disagree on the API endpoints"
    unexpected = {name: methods - {"GET"} for name, methods in operations.items() if methods - {"GET"}}
    assert not unexpected, (
        f"The API now writes ({unexpected}): declare who may, in API_GROUPS / expected_api of the matrix"
    )


def api_methods(endpoint: Endpoint) -> tuple[str, ...]:
    return ("GET", *WRITE_METHODS) if endpoint.kwargs else ("GET", "POST")


def expected_api(endpoint: Endpoint, persona: str, method: str) -> set[int]:
    if endpoint.name == urlmap.API_CATCH_ALL:
        return {404}
    if endpoint.name in urlmap.API_PUBLIC:
        return {200} if method == "GET" else {405}
    group = urlmap.API_GROUPS[endpoint.name]
    if persona not in urlmap.VALID_TOKENS:
        return {401}
    if persona == "token_other_group" and group not in (None, "dosing"):
        return {403}
    if method != "GET":
        return {405}  # the API is read-only (the schema lists GET only)
    if persona == "token_other_centre" and endpoint.kwargs:
        return {404}  # another centre's child: the same 404 as a missing one
    return {200}


def api_forbidden(seeded, persona: str, status: int) -> dict[str, list[str]]:  # noqa: F811
    everyone = seeded.rome_patients + seeded.erl_patients
    forbidden = {"code": seeded.codes_of(everyone), "identity": seeded.identity_of(everyone)}
    own_key = seeded.tokens["token_in_scope"].client.pseudonym_key
    if persona == "token_other_centre":
        key = seeded.tokens[persona].client.pseudonym_key
        forbidden["pseudonym of a Rome child"] = [
            deidentify.patient_pseudonym(key, p.pk) for p in seeded.rome_patients
        ]
    elif status >= 400:
        forbidden["pseudonym"] = [deidentify.patient_pseudonym(own_key, p.pk) for p in seeded.rome_patients]
    return forbidden


@pytest.mark.parametrize("endpoint", API, ids=str)
def test_api_answers_each_persona_as_declared(endpoint: Endpoint, seeded, db):  # noqa: F811
    assert (
        endpoint.name in urlmap.API_GROUPS
        or endpoint.name in urlmap.API_PUBLIC
        or (endpoint.name == urlmap.API_CATCH_ALL)
    ), f"{endpoint}: no rule; add it to API_GROUPS in tests/reliability/urlmap.py"
    outcomes = []
    for persona in API_PERSONAS:
        filled = urlmap.fill(endpoint, seeded, persona)
        token = seeded.tokens.get(persona)
        headers = {"HTTP_AUTHORIZATION": f"Token {token.token}"} if token else {}
        for method in api_methods(endpoint):
            response, body, changed = send(seeded, persona, method, filled, headers)
            outcome = Outcome(
                persona, method, filled.path, response.status_code, expected_api(endpoint, persona, method)
            )
            forbidden = api_forbidden(seeded, persona, response.status_code)
            outcomes.append(check(outcome, response, body, changed, forbidden, must_not_change=True))
            if (
                response.status_code == 200
                and persona == "token_in_scope"
                and endpoint.name in urlmap.API_GROUPS
                and endpoint.name != "api:dictionary"
                and not endpoint.kwargs
                and not response.json()["results"]
            ):
                outcome.problem += (
                    "; the in-scope token got no rows (the seeded registry lacks this resource)"
                )
    report(endpoint, outcomes)
