"""The OpenAPI 3 schema (valid, described, with units), the interactive documentation served from our own static
files under a CSP relaxed for that page only, and a bounded schemathesis run against the schema in-process
(no 5xx, no response that the schema does not describe)."""

from __future__ import annotations

import json
import os
import re

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from registry.middleware import CONTENT_SECURITY_POLICY
from tests.registry.api_data import LIST_ENDPOINTS, seed_patient, token_for

# Per operation (15 operations); DESIGN §6 asks for a bounded run. SCHEMATHESIS_MAX_EXAMPLES raises it locally.
SCHEMATHESIS_EXAMPLES = min(int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25")), 200)


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    cache.clear()
    yield
    cache.clear()


def _schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def test_schema_endpoint_serves_a_valid_openapi_3_document_without_a_token(client):
    response = client.get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    validate_schema(document)  # drf-spectacular's OpenAPI 3 JSON-schema validation; raises when invalid
    paths = set(document["paths"])
    assert {f"/api/v1/{endpoint}/" for endpoint in LIST_ENDPOINTS} | {"/api/v1/dictionary/"} <= paths
    assert document["components"]["securitySchemes"]["ApiToken"]["name"] == "Authorization"


def _properties(schema: dict, path: str = ""):
    for name, prop in schema.get("properties", {}).items():
        yield f"{path}{name}", prop
        yield from _properties(prop, f"{path}{name}.")
        if prop.get("type") == "array":
            yield from _properties(prop.get("items", {}), f"{path}{name}[].")


def test_every_field_and_parameter_is_described_and_measured_fields_name_their_unit():
    document = _schema()
    undescribed = [
        f"{component}.{name}"
        for component, schema in document["components"]["schemas"].items()
        for name, prop in _properties(schema)
        if not prop.get("description")
    ]
    assert undescribed == []
    for path, item in document["paths"].items():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                assert parameter.get("description"), (path, parameter["name"])
    described = dict(_properties(document["components"]["schemas"]["Infusion"]))
    assert "Unit: CAR+ T cells/kg" in described["dose_per_kg"]["description"]
    assert "Unit: days" in described["vein_to_vein_days"]["description"]
    lab = dict(_properties(document["components"]["schemas"]["Lab"]))
    assert "canonical unit" in lab["value"]["description"]


def test_list_results_are_rows_or_removals():
    document = _schema()
    assert document["components"]["schemas"]["LabOrRemoval"] == {
        "oneOf": [{"$ref": "#/components/schemas/Lab"}, {"$ref": "#/components/schemas/Removal"}]
    }
    assert document["components"]["schemas"]["RemovedEnum"]["enum"] == [True]


def test_docs_are_served_from_our_static_files_with_a_csp_relaxed_only_there(client):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r'<script[^>]*src="([^"]+)"', html)
    assert sources and all(src.startswith("/static/") or src.startswith("/api/v1/docs/") for src in sources)
    assert "drf_spectacular_sidecar/swagger-ui-dist" in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)  # no inline script
    csp = response["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in csp and "script-src 'self';" in csp
    script = client.get("/api/v1/docs/", {"script": ""})
    assert script.status_code == 200 and b"SwaggerUIBundle" in script.content
    assert client.get("/healthz")["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert client.get("/api/v1/schema/")["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


# --- schemathesis ---------------------------------------------------------------------------------------------

# The schema is generated exactly as /api/v1/schema/ serves it (asserted above) and every case goes through the
# real WSGI application in-process. (schemathesis's lazy pytest fixture loader does not run on pytest 9, so the
# schema is loaded eagerly here; loading it over WSGI at import time would meet ALLOWED_HOSTS before the test
# environment is set up.)
WSGI_APPLICATION = get_wsgi_application()
schema = schemathesis.openapi.from_dict(_schema())
schema.app = WSGI_APPLICATION


def test_the_fuzzed_schema_is_the_served_schema(client):
    assert client.get("/api/v1/schema/", {"format": "json"}).json() == json.loads(json.dumps(_schema()))


@pytest.fixture
def wsgi_ready(db, settings):
    """The test database behind the real WSGI application: as Django's test client does, per-request
    connection recycling is switched off so the test transaction survives; no throttling while fuzzing."""
    settings.ALLOWED_HOSTS = ["*"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_client": None}}
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_token(wsgi_ready, rome, erlangen, rome_clinician, erlangen_clinician, coordinator):
    seed_patient(rome, rome_clinician, diagnosis="sle")
    seed_patient(erlangen, erlangen_clinician, diagnosis="jdm")
    seed_patient(rome, rome_clinician, infused=False)
    return token_for(coordinator, name="Fuzzer", all_centres=True)[1]


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@schema.parametrize()
@settings(
    max_examples=SCHEMATHESIS_EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
    database=None,
)
def test_schemathesis_finds_no_server_error_and_no_schema_violation(case, fuzz_token):
    # The token goes into the case itself, so that schemathesis knows the request is authenticated.
    case.headers = {**(case.headers or {}), "Authorization": f"Token {fuzz_token}"}
    case.call_and_validate(checks=CHECKS)
