"""The de-identified REST API: scope, leaks, pseudonyms, strict parameters, cursors, throttling, incremental
pulls with removals, CSV, the data dictionary and pinned query counts."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from urllib.parse import unquote

import pytest
from django.core.cache import cache

from outcomes.models import LabResult
from outcomes.services import lab_result_void
from patients.models import Patient
from patients.services import patient_void
from registry.deidentify import centre_pseudonyms, patient_pseudonym
from registry.models import ApiRequestLog
from tests.registry.api_data import LIST_ENDPOINTS, seed_patient, token_for

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def registry(rome, erlangen, rome_clinician, erlangen_clinician):
    """Two fully documented patients per centre, one Rome patient without day 0."""
    rome_patients = [seed_patient(rome, rome_clinician, diagnosis=d) for d in ("sle", "jdm")]
    erl_patients = [seed_patient(erlangen, erlangen_clinician, diagnosis=d) for d in ("sle", "ssc")]
    waiting = seed_patient(rome, rome_clinician, infused=False)
    return {"rome": rome_patients, "erl": erl_patients, "waiting": waiting}


@pytest.fixture
def rome_token(coordinator, rome):
    return token_for(coordinator, name="Rome only", centres=[rome])


@pytest.fixture
def all_token(coordinator):
    return token_for(coordinator, name="Everyone", all_centres=True)


def call(client, path, token, **params):
    return client.get(path, params, HTTP_AUTHORIZATION=f"Token {token}")


def pull(client, endpoint, token, **params):
    """Every row of a list endpoint, following the next links."""
    rows, url = [], f"/api/v1/{endpoint}/"
    first = call(client, url, token, **params)
    assert first.status_code == 200, first.content
    body = first.json()
    rows += body["results"]
    while body["next"]:
        response = client.get(body["next"], HTTP_AUTHORIZATION=f"Token {token}")
        assert response.status_code == 200, response.content
        body = response.json()
        rows += body["results"]
    return rows


def pseudonyms(api_client, patients) -> set[str]:
    return {patient_pseudonym(api_client.pseudonym_key, s.patient.pk) for s in patients}


# --- scope --------------------------------------------------------------------------------------------------


def test_a_rome_token_never_sees_erlangen_rows_in_any_resource(client, registry, rome_token):
    api_client, token = rome_token
    rome_ids = pseudonyms(api_client, registry["rome"] + [registry["waiting"]])
    for endpoint in LIST_ENDPOINTS:
        rows = pull(client, endpoint, token, page_size=1)
        assert rows, endpoint
        patients = {
            row["id"] if endpoint in ("patients", "toxicity-summaries", "courses") else row["patient"]
            for row in rows
        }
        assert patients <= rome_ids, endpoint


def test_paging_with_cursors_stays_in_scope_and_sees_every_row_once(client, registry, rome_token, all_token):
    _, rome = rome_token
    _, everyone = all_token
    for endpoint in ("patients", "labs", "crs-assessments"):
        paged = [row["id"] for row in pull(client, endpoint, rome, page_size=2)]
        whole = [
            row["id"] for row in call(client, f"/api/v1/{endpoint}/", rome, page_size=1000).json()["results"]
        ]
        assert paged == whole and len(set(paged)) == len(paged)
        assert len(pull(client, endpoint, everyone, page_size=3)) > len(paged)


def test_filters_cannot_reach_another_centre(client, registry, rome_token, all_token):
    api_client, token = rome_token
    erl_patient = registry["erl"][0].patient
    response = call(
        client, "/api/v1/labs/", token, patient=patient_pseudonym(api_client.pseudonym_key, erl_patient.pk)
    )
    assert response.status_code == 200 and response.json()["results"] == []
    labels = centre_pseudonyms(api_client.pseudonym_key, [erl_patient.centre_id])
    other_label = "C2" if labels[erl_patient.centre_id] == "C1" else "C1"
    response = call(client, "/api/v1/patients/", token, centre=other_label)
    assert response.status_code == 400 and response.json()["parameter"] == "centre"
    assert call(client, "/api/v1/patients/", token, centre="ERL").status_code == 400


def test_other_centres_patient_is_404_exactly_like_a_missing_one(client, registry, rome_token):
    api_client, token = rome_token
    erl = patient_pseudonym(api_client.pseudonym_key, registry["erl"][0].patient.pk)
    for endpoint in ("patients", "courses", "toxicity-summaries"):
        theirs = call(client, f"/api/v1/{endpoint}/{erl}/", token)
        missing = call(client, f"/api/v1/{endpoint}/P-AAAAAAAAAAAA/", token)
        assert theirs.status_code == missing.status_code == 404
        assert theirs.json() == missing.json() == {"status": 404, "code": "not_found", "detail": "Not found."}
    own = patient_pseudonym(api_client.pseudonym_key, registry["rome"][0].patient.pk)
    response = call(client, f"/api/v1/patients/{own}/", token)
    assert response.status_code == 200 and response.json()["id"] == own


def test_a_cursor_of_another_client_or_resource_is_rejected(client, registry, rome_token, all_token):
    _, rome = rome_token
    _, everyone = all_token
    next_url = call(client, "/api/v1/labs/", everyone, page_size=1).json()["next"]
    cursor = re.search(r"cursor=([^&]+)", next_url).group(1)
    for token, endpoint in ((rome, "labs"), (everyone, "medications")):
        response = call(client, f"/api/v1/{endpoint}/", token, cursor=unquote(cursor))
        assert response.status_code == 400
        assert response.json()["parameter"] == "cursor"


def test_cursors_reveal_no_row_ids_and_are_fresh_each_time(client, registry, all_token):
    _, token = all_token
    cursors = [
        unquote(
            re.search(r"cursor=([^&]+)", call(client, "/api/v1/labs/", token, page_size=1).json()["next"])[1]
        )
        for _ in range(2)
    ]
    assert cursors[0] != cursors[1]
    ids = set(LabResult.objects.values_list("pk", flat=True)) | set(
        Patient.objects.values_list("pk", flat=True)
    )
    for cursor in cursors:
        payload = json.loads(base64.urlsafe_b64decode(cursor.split(":")[0] + "=="))
        assert payload[:2] == ["labs", all_token[0].pk]
        assert not set(payload[3:]) & ids
    page_two = [
        call(client, "/api/v1/labs/", token, page_size=1, cursor=c).json()["results"] for c in cursors
    ]
    assert page_two[0] == page_two[1]


def test_out_of_scope_resource_group_is_403(client, registry, coordinator, rome):
    _, token = token_for(coordinator, name="Patients only", centres=[rome], resource_groups=["patients"])
    assert call(client, "/api/v1/patients/", token).status_code == 200
    response = call(client, "/api/v1/labs/", token)
    assert response.status_code == 403
    assert response.json()["code"] == "out_of_scope"
    assert call(client, "/api/v1/dictionary/", token).status_code == 200


def test_patients_without_day0_have_no_study_day_rows(client, registry, all_token):
    api_client, token = all_token
    waiting = patient_pseudonym(api_client.pseudonym_key, registry["waiting"].patient.pk)
    patients = {row["id"]: row for row in pull(client, "patients", token)}
    assert patients[waiting]["infused"] is False and patients[waiting]["age_at_infusion_years"] is None
    for endpoint in LIST_ENDPOINTS[1:]:
        rows = pull(client, endpoint, token)
        assert waiting not in {row.get("patient") for row in rows}, endpoint
    assert call(client, f"/api/v1/courses/{waiting}/", token).status_code == 404


# --- de-identification ----------------------------------------------------------------------------------------


def _every_response(client, token, api_client, registry):
    for endpoint in [*LIST_ENDPOINTS, "dictionary"]:
        for fmt in ("json", "csv"):
            params = {"format": fmt} if endpoint == "dictionary" else {"format": fmt, "page_size": 1000}
            response = call(client, f"/api/v1/{endpoint}/", token, **params)
            assert response.status_code == 200, (endpoint, fmt)
            yield endpoint, response.content.decode()
    for seeded in registry["rome"] + registry["erl"]:
        pseudonym = patient_pseudonym(api_client.pseudonym_key, seeded.patient.pk)
        for endpoint in ("patients", "courses", "toxicity-summaries"):
            for fmt in ("json", "csv"):
                response = call(client, f"/api/v1/{endpoint}/{pseudonym}/", token, format=fmt)
                assert response.status_code == 200
                yield endpoint, response.content.decode()


@pytest.mark.parametrize("may_see_centres", [False, True])
def test_no_identity_code_free_text_or_calendar_date_leaves_through_any_endpoint(
    client, registry, coordinator, may_see_centres
):
    api_client, token = token_for(
        coordinator, name="Leak check", all_centres=True, may_see_centres=may_see_centres
    )
    secrets = [
        s for seeded in registry["rome"] + registry["erl"] + [registry["waiting"]] for s in seeded.secrets
    ]
    assert any(s.startswith("ROM-0") for s in secrets) and any(s.startswith("ERL-0") for s in secrets)
    checked = 0
    for endpoint, body in _every_response(client, token, api_client, registry):
        for secret in secrets:
            assert secret not in body, (endpoint, secret)
        assert not ISO_DATE.search(body), (endpoint, ISO_DATE.search(body).group(0))
        checked += 1
    assert checked == 2 * (len(LIST_ENDPOINTS) + 1) + 2 * 3 * 4


def test_centres_are_pseudonyms_unless_the_client_may_see_them(client, registry, coordinator, rome, erlangen):
    hidden_client, hidden = token_for(coordinator, name="Hidden", all_centres=True)
    _, shown = token_for(coordinator, name="Shown", all_centres=True, may_see_centres=True)
    labels = {row["centre"] for row in pull(client, "patients", hidden)}
    assert labels == set(centre_pseudonyms(hidden_client.pseudonym_key, [rome.pk, erlangen.pk]).values())
    assert labels == {"C1", "C2"}
    assert {row["centre"] for row in pull(client, "patients", shown)} == {"ROM", "ERL"}
    rome_label = centre_pseudonyms(hidden_client.pseudonym_key, [rome.pk, erlangen.pk])[rome.pk]
    only_rome = pull(client, "patients", hidden, centre=rome_label)
    assert len(only_rome) == 3 and {row["centre"] for row in only_rome} == {rome_label}


def test_pseudonyms_are_stable_per_client_and_differ_between_clients(
    client, registry, coordinator, all_token
):
    first_client, first = all_token
    _, second = token_for(coordinator, name="Second", all_centres=True)
    ids_first = [row["id"] for row in pull(client, "patients", first)]
    again = [row["id"] for row in pull(client, "patients", first)]
    ids_second = [row["id"] for row in pull(client, "patients", second)]
    assert ids_first == again and len(ids_first) == 5
    assert not set(ids_first) & set(ids_second)
    labs_first = {row["id"] for row in pull(client, "labs", first)}
    labs_second = {row["id"] for row in pull(client, "labs", second)}
    assert len(labs_first) == len(labs_second) and not labs_first & labs_second
    assert all(re.fullmatch(r"P-[A-Z2-7]{12}", p) for p in ids_first)
    from registry import api_clients

    rotated = api_clients.api_client_rotate(client=first_client, recorded_by=coordinator).token
    assert sorted(row["id"] for row in pull(client, "patients", rotated)) == sorted(ids_first)


def test_patient_row_carries_ages_study_days_and_baseline(client, registry, all_token):
    api_client, token = all_token
    seeded = registry["rome"][0]
    row = call(
        client, f"/api/v1/patients/{patient_pseudonym(api_client.pseudonym_key, seeded.patient.pk)}/", token
    ).json()
    patient = Patient.objects.select_related("identity").get(pk=seeded.patient.pk)
    born, day0 = patient.identity.date_of_birth, patient.day0
    expected_age = day0.year - born.year - ((day0.month, day0.day) < (born.month, born.day))
    assert row["age_at_infusion_years"] == expected_age
    assert row["baseline"] == {
        "disease_duration_years": round((day0 - patient.diagnosis_date).days / 365.25, 1),
        "organ_involvement": ["lupus_nephritis"],
        "lupus_nephritis_class": "IV",
        "prior_therapy_lines": 1,
        "prior_therapy_classes": ["b_cell_targeted"],
        "prior_b_cell_targeted": True,
    }


def test_toxicity_rows_carry_inputs_grades_and_study_days(client, registry, rome_token):
    _, token = rome_token
    crs = pull(client, "crs-assessments", token)
    assert {(r["study_day"], r["grade"], r["max_temperature_c"]) for r in crs} == {(1, 1, 38.6), (3, 0, 36.8)}
    icans = pull(client, "icans-assessments", token)[0]
    assert (icans["tool"], icans["ice_score"], icans["grade"], icans["study_day"]) == ("ice", 9, 1, 2)
    assert icans["findings_attributed_to_other_cause"] is True
    summary = pull(client, "toxicity-summaries", token)[0]
    assert (summary["crs_max_grade"], summary["crs_onset_day"], summary["icaht_nadir_anc"]) == (1, 1, 250.0)
    infusion = pull(client, "infusions", token)[0]
    assert (infusion["vein_to_vein_days"], infusion["dose_per_kg"], infusion["bag_count"]) == (34, 1e6, 1)
    ae = pull(client, "adverse-events", token)[0]
    assert (ae["term"], ae["grade"], ae["ctcae_version"], ae["start_study_day"]) == (
        "Rash maculo-papular",
        1,
        "5.0",
        10,
    )


# --- parameters and errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("/api/v1/patients/", {"colour": "red"}, "colour"),
        ("/api/v1/labs/", {"ordering": "-id"}, "ordering"),
        ("/api/v1/labs/", {"cursor": "not-a-cursor"}, "cursor"),
        ("/api/v1/labs/", {"cursor": ""}, "cursor"),
        ("/api/v1/labs/", {"page_size": "0"}, "page_size"),
        ("/api/v1/labs/", {"page_size": "lots"}, "page_size"),
        ("/api/v1/labs/", {"page_size": "\t2"}, "page_size"),
        ("/api/v1/labs/", {"page_size": "+5"}, "page_size"),
        ("/api/v1/labs/", {"analyte": "unobtainium"}, "analyte"),
        ("/api/v1/visits/", {"analyte": "anc"}, "analyte"),
        ("/api/v1/patients/", {"diagnosis": "flu"}, "diagnosis"),
        ("/api/v1/patients/", {"patient": "ROM-001"}, "patient"),
        ("/api/v1/patients/", {"updated_since": "yesterday"}, "updated_since"),
        ("/api/v1/patients/", {"updated_since": "2026-13-45"}, "updated_since"),
        ("/api/v1/patients/", {"updated_since": "20260101"}, "updated_since"),
        ("/api/v1/patients/", {"updated_since": " 2026-01-01"}, "updated_since"),
        ("/api/v1/patients/", {"format": "xml"}, "format"),
        ("/api/v1/patients/", {"format": ""}, "format"),
        ("/api/v1/dictionary/", {"diagnosis": "sle"}, "diagnosis"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(client, registry, all_token, path, params, parameter):
    _, token = all_token
    response = call(client, path, token, **params)
    assert response.status_code == 400, response.content
    body = response.json()
    assert (body["status"], body["parameter"]) == (400, parameter)
    assert parameter in body["detail"]
    assert response["Content-Type"] == "application/json"


def test_odd_but_valid_input_found_by_fuzzing_is_handled(client, registry, all_token):
    _, token = all_token
    # ISO 8601 allows offsets PostgreSQL refuses: converted to UTC before querying.
    response = call(client, "/api/v1/labs/", token, updated_since="2000-06-02T20:40:56+17:03")
    assert response.status_code == 200
    # A NUL or a lone surrogate in a query string: a 400, and still logged.
    response = client.get("/api/v1/labs/?colour=%00%ED%A0%80x", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 400
    logged = ApiRequestLog.objects.latest("pk")
    assert logged.status_code == 400 and "\\x00" in next(iter(logged.filters.values()))


def test_a_repeated_parameter_is_400(client, registry, all_token):
    _, token = all_token
    response = client.get(
        "/api/v1/patients/?diagnosis=sle&diagnosis=jdm", HTTP_AUTHORIZATION=f"Token {token}"
    )
    assert response.status_code == 400 and response.json()["parameter"] == "diagnosis"


def test_unknown_parameters_are_checked_only_after_authentication(client, registry):
    assert client.get("/api/v1/patients/?colour=red").status_code == 401


def test_unknown_endpoint_and_method_give_json_errors(client, registry, all_token):
    _, token = all_token
    response = client.get("/api/v1/genomes/", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    response = client.post("/api/v1/patients/", {}, HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 405 and response.json()["code"] == "method_not_allowed"


def test_server_errors_are_json_without_a_stack_trace(client, registry, all_token, monkeypatch):
    from patients.api import PatientViewSet

    def boom(self, rows):
        raise RuntimeError("secret internals ROM-001")

    monkeypatch.setattr(PatientViewSet, "prepare", boom)
    _, token = all_token
    client.raise_request_exception = False
    response = call(client, "/api/v1/patients/", token)
    assert response.status_code == 500
    assert response.json()["code"] == "server_error"
    assert "Traceback" not in response.content.decode() and "ROM-001" not in response.content.decode()


def test_throttling_is_per_client_and_answers_429(client, registry, coordinator, rome, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_client": "3/minute"},
    }
    _, first = token_for(coordinator, name="Busy", centres=[rome])
    _, second = token_for(coordinator, name="Quiet", centres=[rome])
    statuses = [call(client, "/api/v1/patients/", first).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = call(client, "/api/v1/patients/", first)
    assert response.json()["code"] == "throttled" and int(response["Retry-After"]) > 0
    assert call(client, "/api/v1/patients/", second).status_code == 200
    assert ApiRequestLog.objects.filter(status_code=429).count() == 2


# --- incremental pulls --------------------------------------------------------------------------------------


def test_updated_since_reports_changes_and_voided_records_as_removals(
    client, registry, all_token, rome_clinician
):
    _, token = all_token
    first = call(client, "/api/v1/labs/", token, page_size=1000)
    as_of = first["X-Registry-As-Of"]
    labs_before = {row["id"] for row in first.json()["results"]}
    assert call(client, "/api/v1/labs/", token, updated_since=as_of).json()["results"] == []

    seeded = registry["rome"][0]
    lab = LabResult.objects.filter(patient=seeded.patient, voided_at__isnull=True).order_by("pk").first()
    lab_result_void(result=lab, recorded_by=rome_clinician, reason="wrong patient")
    changed = pull(client, "labs", token, updated_since=as_of)
    assert len(changed) == 1 and changed[0]["removed"] is True and changed[0]["id"] in labs_before
    assert set(changed[0]) == {"id", "removed"}
    full = {row["id"] for row in pull(client, "labs", token)}
    assert full == labs_before - {changed[0]["id"]}

    second_as_of = call(client, "/api/v1/patients/", token)["X-Registry-As-Of"]
    patient_void(patient=registry["erl"][0].patient, recorded_by=registry_user(registry), reason="duplicate")
    patients = pull(client, "patients", token, updated_since=second_as_of)
    assert [row["removed"] for row in patients] == [True]
    labs = pull(client, "labs", token, updated_since=second_as_of)
    assert labs and all(row == {"id": row["id"], "removed": True} for row in labs)
    courses = pull(client, "courses", token, updated_since=second_as_of)
    assert courses == [{"id": patients[0]["id"], "removed": True}]


def registry_user(registry):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="erlangen.clinician")


def test_updated_since_accepts_dates_and_naive_times(client, registry, all_token):
    _, token = all_token
    for value in ("2000-01-01", "2000-01-01T00:00:00", "2000-01-01T00:00:00+02:00"):
        rows = pull(client, "patients", token, updated_since=value)
        assert len(rows) == 5 and not any(row["removed"] for row in rows)


# --- formats --------------------------------------------------------------------------------------------------


def test_csv_has_the_full_header_rows_and_a_link_to_the_next_page(client, registry, all_token):
    _, token = all_token
    response = call(client, "/api/v1/visits/", token, format="csv", page_size=2)
    assert response["Content-Type"].startswith("text/csv")
    assert 'rel="next"' in response["Link"]
    table = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(table) == 2
    assert {"id", "patient", "study_day", "sle.sledai_2k", "jdm.cmas", "ssc.mrss"} <= set(table[0])
    assert (
        call(client, "/api/v1/labs/", token, format="csv", patient="P-AAAAAAAAAAAA")
        .content.decode()
        .startswith("id,removed,patient,study_day,analyte")
    )


def test_errors_are_json_even_when_csv_was_asked_for(client, registry, all_token):
    _, token = all_token
    response = call(client, "/api/v1/labs/", token, format="csv", colour="x")
    assert response.status_code == 400 and response["Content-Type"] == "application/json"


def test_dictionary_lists_every_variable_with_description_unit_and_codes(client, registry, all_token):
    _, token = all_token
    body = call(client, "/api/v1/dictionary/", token).json()
    assert [r["name"] for r in body["resources"]] == LIST_ENDPOINTS
    variables = [v for r in body["resources"] for v in r["variables"]]
    assert body["variable_count"] == len(variables) > 200
    assert all(v["description"] for v in variables)
    by_name = {(v["resource"], v["name"]): v for v in variables}
    assert by_name[("infusions", "dose_per_kg")]["unit"] == "CAR+ T cells/kg"
    assert by_name[("patients", "age_at_infusion_years")]["unit"] == "years"
    assert {c["code"] for c in by_name[("patients", "diagnosis")]["codes"]} == {"sle", "jdm", "ssc"}
    assert by_name[("crs-assessments", "vasopressors[].dose_mcg_kg_min")]["unit"] == "µg/kg/min"
    assert {a["code"]: a["unit"] for a in body["analytes"]}["anc"] == "cells/µL"
    table = list(
        csv.DictReader(io.StringIO(call(client, "/api/v1/dictionary/", token, format="csv").content.decode()))
    )
    assert len(table) == len(variables) and "sle=Systemic lupus erythematosus" in by_name_csv(table)


def by_name_csv(table):
    return next(row["codes"] for row in table if row["resource"] == "patients" and row["name"] == "diagnosis")


# --- query counts -------------------------------------------------------------------------------------------

# Per request, besides the resource's own queries: the client by token prefix with the codes of its centres
# (every centre for a registry-wide client, for the labels) in one query, and the request-log insert in its
# savepoint (SAVEPOINT, INSERT, RELEASE under the test transaction; one INSERT in production): 4. The first
# request of a client in a minute also updates its last use (in the INSERT's statement on PostgreSQL, one more
# on SQLite; pinned in test_api_fast_paths.py). The resource's queries are listed in each app's api.py.
OVERHEAD = 4
OWN_QUERIES = {
    "patients": 1,  # patients (+ date of birth, pseudonym, place and stored baseline summary)
    "infusions": 2,  # infusions (+ run, product, apheresis, bag count), lymphodepletion doses
    "crs-assessments": 1,
    "icans-assessments": 1,
    "toxicity-summaries": 7,  # patients, then safety_summaries: CRS, ICANS, labs, supportive care, infections, AEs
    "infections": 1,
    "adverse-events": 1,
    "visits": 1,  # visits joined with timepoint and the three instruments
    "labs": 1,
    "medications": 1,
    "courses": 4,  # patients, then course_summaries: labs, visits (+ instruments), medications
}


def test_list_endpoints_run_a_constant_pinned_number_of_queries(
    client, rome, rome_clinician, coordinator, django_assert_num_queries
):
    _, token = token_for(coordinator, name="Counter", centres=[rome])
    assert call(client, "/api/v1/dictionary/", token).status_code == 200  # last use recorded: no UPDATE below
    sizes = {}
    for diagnoses in (("sle", "jdm"), ("sle", "jdm", "ssc", "sle")):  # 2 patients, then 6
        for d in diagnoses:
            seed_patient(rome, rome_clinician, diagnosis=d)
        for endpoint in LIST_ENDPOINTS:
            with django_assert_num_queries(OVERHEAD + OWN_QUERIES[endpoint]):
                response = call(client, f"/api/v1/{endpoint}/", token, page_size=1000)
            assert response.status_code == 200
            sizes.setdefault(endpoint, []).append(len(response.json()["results"]))
    assert all(small < large for small, large in sizes.values()), sizes
