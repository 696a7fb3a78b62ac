"""What the API's fast paths must not change (issue 10, DESIGN §7): the patient rows built without the
serializer are exactly the serializer's, every patient has its pseudonym and place for every client whatever
path created it, the keyed order is the stored one, the last use is written at most once a minute, and the
request log's relaxed commit applies to its own transaction only."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from registry import api_clients, synthetic
from registry.api import compiled
from registry.api.pseudonyms import order_key
from registry.api.urls import RESOURCES
from registry.deidentify import patient_pseudonym
from registry.models import ApiClient, ApiClientPatient, ApiRequestLog
from tests.registry.api_data import seed_patient, token_for
from tests.registry.test_api import OVERHEAD, OWN_QUERIES


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    cache.clear()
    yield
    cache.clear()


def call(client, path, token, **params):
    return client.get(path, params, HTTP_AUTHORIZATION=f"Token {token}")


@pytest.fixture
def patients(rome, erlangen, rome_clinician, erlangen_clinician):
    return [
        seed_patient(rome, rome_clinician, diagnosis="sle"),
        seed_patient(erlangen, erlangen_clinician, diagnosis="ssc"),
        seed_patient(rome, rome_clinician, diagnosis="jdm", infused=False),
    ]


# --- rows without the serializer ----------------------------------------------------------------------------

FAST = [viewset for viewset in RESOURCES if viewset.prepared_is_representation]


def test_the_patient_list_takes_the_fast_path():
    assert [viewset.resource for viewset in FAST] == ["patients"]


@pytest.mark.parametrize("viewset", FAST, ids=lambda v: v.resource)
def test_rows_built_without_the_serializer_are_exactly_what_it_renders(
    client, patients, coordinator, viewset
):
    _, token = token_for(coordinator, name="Shape", all_centres=True)
    rows = call(client, f"/api/v1/{viewset.resource}/", token).json()["results"]
    assert len(rows) == len(patients)
    assert any(row["baseline"]["organ_involvement"] and row["age_at_infusion_years"] for row in rows)
    for row in rows:
        rendered = viewset.serializer_class(row).data
        assert json.dumps(rendered) == json.dumps(row)  # same keys, same order, same JSON types


# --- stored pseudonyms and order ----------------------------------------------------------------------------


def _stored(api_client) -> dict[int, tuple[int, str]]:
    return {
        row.patient_id: (row.sort_key, row.pseudonym)
        for row in ApiClientPatient.objects.filter(client=api_client)
    }


def test_patients_enrolled_before_and_after_a_client_get_its_pseudonym_and_place(
    client, patients, rome, rome_clinician, coordinator
):
    api_client, token = token_for(coordinator, name="Early", all_centres=True)
    revoked, _ = token_for(coordinator, name="Gone", all_centres=True)
    api_clients.api_client_revoke(client=revoked, recorded_by=coordinator, reason="study closed")
    later = seed_patient(rome, rome_clinician, diagnosis="sle")
    everyone = [s.patient for s in patients] + [later.patient]
    key = api_client.pseudonym_key
    assert _stored(api_client) == {
        p.pk: (order_key(key, p.pk), patient_pseudonym(key, p.pk)) for p in everyone
    }
    assert later.patient.pk not in _stored(revoked)  # a revoked client never calls again
    rows = call(client, "/api/v1/patients/", token, page_size=2).json()
    listed = [row["id"] for row in rows["results"]]
    while rows["next"]:
        rows = client.get(rows["next"], HTTP_AUTHORIZATION=f"Token {token}").json()
        listed += [row["id"] for row in rows["results"]]
    by_place = sorted(everyone, key=lambda p: order_key(key, p.pk))
    assert listed == [patient_pseudonym(key, p.pk) for p in by_place]


def test_synthetic_patients_get_pseudonyms_for_the_clients_that_exist(db, coordinator):
    api_client, _ = token_for(coordinator, name="Before the generator", all_centres=True)
    result = synthetic.generate(patients=3, centres=2, seed=5, today=dt.date(2026, 3, 1))
    generated = list(result.series.patients.values_list("pk", flat=True))
    assert len(generated) == 3
    key = api_client.pseudonym_key
    assert _stored(api_client) == {pk: (order_key(key, pk), patient_pseudonym(key, pk)) for pk in generated}


def test_a_pseudonym_of_another_client_finds_nobody(client, patients, coordinator):
    first, first_token = token_for(coordinator, name="First", all_centres=True)
    _, second_token = token_for(coordinator, name="Second", all_centres=True)
    theirs = patient_pseudonym(first.pseudonym_key, patients[0].patient.pk)
    assert call(client, f"/api/v1/patients/{theirs}/", first_token).status_code == 200
    assert call(client, f"/api/v1/patients/{theirs}/", second_token).status_code == 404
    assert call(client, "/api/v1/patients/", second_token, patient=theirs).json()["results"] == []


# --- the request log and the last use -----------------------------------------------------------------------


def _count(client, token) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as ctx:
        assert call(client, "/api/v1/patients/", token).status_code == 200
    return len(ctx), [q["sql"] for q in ctx.captured_queries]


def test_last_use_is_written_at_most_once_a_minute(client, patients, coordinator, rome):
    api_client, token = token_for(coordinator, name="Busy", centres=[rome])
    first, first_sql = _count(client, token)
    api_client.refresh_from_db()
    assert timezone.now() - api_client.last_used_at < dt.timedelta(minutes=1)
    second, second_sql = _count(client, token)
    # On PostgreSQL the UPDATE rides in the log's INSERT (a data-modifying WITH); on SQLite it is one more.
    own_statement = connection.vendor == "postgresql"
    assert first == OVERHEAD + OWN_QUERIES["patients"] + (0 if own_statement else 1)
    assert second == OVERHEAD + OWN_QUERIES["patients"]
    assert sum('UPDATE "registry_apiclient"' in sql for sql in first_sql) == 1
    assert not any("UPDATE" in sql for sql in second_sql)
    an_hour_ago = timezone.now() - dt.timedelta(hours=1)
    ApiClient.objects.filter(pk=api_client.pk).update(last_used_at=an_hour_ago)
    assert _count(client, token)[0] == first
    api_client.refresh_from_db()
    assert timezone.now() - api_client.last_used_at < dt.timedelta(minutes=1)
    assert ApiRequestLog.objects.filter(client=api_client).count() == 3  # every request is logged


def test_a_registry_wide_client_reads_the_centres_for_its_labels_instead(client, patients, coordinator):
    _, token = token_for(coordinator, name="Everyone", all_centres=True)
    call(client, "/api/v1/dictionary/", token)
    # Every centre's code (for the labels) comes with the client: the same count as a client of one centre.
    assert _count(client, token)[0] == OVERHEAD + OWN_QUERIES["patients"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_only_the_log_transaction_skips_waiting_for_the_disk(client, coordinator, rome, rome_clinician):
    seed_patient(rome, rome_clinician)
    api_client, token = token_for(coordinator, name="Durable", centres=[rome])
    _, sql = _count(client, token)
    # One statement: the last use, the log row and the relaxed commit of that statement's own transaction.
    logged = [q for q in sql if "registry_apirequestlog" in q]
    assert len(logged) == 1
    assert "set_config('synchronous_commit', 'off', true)" in logged[0]
    assert 'UPDATE "registry_apiclient"' in logged[0]
    entry = ApiRequestLog.objects.get(client=api_client)
    assert (entry.endpoint, entry.rows, entry.status_code, entry.filters) == ("/api/v1/patients/", 1, 200, {})
    api_client.refresh_from_db()
    assert api_client.last_used_at is not None
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"  # the connection's other transactions are untouched


# --- the compiled page query --------------------------------------------------------------------------------


def _pages(client, token, **params) -> list[tuple[list[dict], bool]]:
    """Every page of the patient list: its rows and whether it has a next link (cursors are fresh each time)."""
    body = call(client, "/api/v1/patients/", token, **params).json()
    pages = [(body["results"], body["next"] is not None)]
    while body["next"]:
        body = client.get(body["next"], HTTP_AUTHORIZATION=f"Token {token}").json()
        pages.append((body["results"], body["next"] is not None))
    return pages


def test_a_compiled_page_query_returns_exactly_what_the_orm_returns(
    client, patients, coordinator, rome, erlangen, monkeypatch
):
    tokens = [
        token_for(coordinator, name="Rome", centres=[rome])[1],
        token_for(coordinator, name="Both", centres=[rome, erlangen])[1],
        token_for(coordinator, name="All", all_centres=True, may_see_centres=True)[1],
    ]
    compiled._shapes.clear()
    fast = [_pages(client, token, page_size=size) for token in tokens for size in (1, 2, 100)]
    used = [shape for shape, page in compiled._shapes.items() if page is not None]
    assert {(shape[2], shape[3]) for shape in used} >= {(1, True), (1, False), (2, True), (None, False)}
    monkeypatch.setattr("registry.api.base.compiled_page", lambda *args: None)  # the ORM for every page
    slow = [_pages(client, token, page_size=size) for token in tokens for size in (1, 2, 100)]
    assert fast == slow
    assert [len(sum((rows for rows, _ in pages), [])) for pages in fast[::3]] == [2, 3, 3]


def _page_sql(client, token) -> tuple[list[dict], str]:
    with CaptureQueriesContext(connection) as ctx:
        rows = call(client, "/api/v1/patients/", token, page_size=2).json()["results"]
    return rows, next(
        q["sql"] for q in ctx.captured_queries if "registry_page_" in q["sql"] or "sort_key" in q["sql"]
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_pages_are_prepared_statements_again_after_a_reconnection(
    client, patients, coordinator, settings
):
    _, token = token_for(coordinator, name="Prepared", all_centres=True)
    rows, sql = _page_sql(client, token)
    assert sql.startswith("EXECUTE registry_page_")
    connection.close()  # a new database session: the statement is prepared on it again
    again, sql_again = _page_sql(client, token)
    assert (again, sql_again) == (rows, sql)
    settings.REGISTRY_PREPARED_PAGES = False  # behind a transaction-mode pooler
    plain, plain_sql = _page_sql(client, token)
    assert plain == rows and plain_sql.startswith("SELECT")
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone()[0] == "force_generic_plan"  # set outside a transaction: kept by the session
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'registry_page_%%'")
        assert cursor.fetchone()[0] == 1


def test_filtered_lists_are_not_compiled(client, patients, coordinator):
    _, token = token_for(coordinator, name="Filters", all_centres=True)
    compiled._shapes.clear()
    rows = call(client, "/api/v1/patients/", token, diagnosis="ssc").json()["results"]
    assert [row["diagnosis"] for row in rows] == ["ssc"]
    assert compiled._shapes == {}


def test_scope_changes_and_revocations_apply_to_the_very_next_page(
    client, patients, coordinator, rome, erlangen
):
    api_client, token = token_for(coordinator, name="Moving", centres=[rome], may_see_centres=True)
    first = call(client, "/api/v1/patients/", token, page_size=1).json()
    assert {row["centre"] for row in first["results"]} == {rome.code}
    api_client.centres.set([erlangen])
    moved = client.get(first["next"], HTTP_AUTHORIZATION=f"Token {token}").json()  # same shape, new centre
    assert moved["results"] == [] or {row["centre"] for row in moved["results"]} == {erlangen.code}
    assert {row["centre"] for row in call(client, "/api/v1/patients/", token).json()["results"]} == {
        erlangen.code
    }
    api_clients.api_client_revoke(client=api_client, recorded_by=coordinator, reason="moved")
    assert client.get(first["next"], HTTP_AUTHORIZATION=f"Token {token}").status_code == 401
