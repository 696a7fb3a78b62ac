"""Identity never leaves (DESIGN §5; HIPAA Safe Harbor identifiers: names, dates of birth, record numbers,
contact details).

Patients are seeded with distinctive names, dates of birth, hospital numbers and contact text; none of them — and
no date of birth as ISO, dd/mm/yyyy or dd.mm.yyyy — may appear in any API response (JSON, CSV, detail,
dictionary, schema), de-identified export (internal and external; CSV, XLSX cell values, HTML, tidy datasets,
long format), follow-up summary or its e-mail, log record, error page, the audit pages of people who may not see
identity, or the admin. The identified export and the clinician's own patient page are the only places where
identity shows, and the tests check that it does there (so they can fail).
"""

from __future__ import annotations

import io
import json
import logging
import re
import zipfile

import openpyxl
import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from registry import deidentify
from registry.exports import builder, services
from registry.exports.builder import ExportRequest
from registry.exports.definitions import TABLES
from tests.reliability import urlmap
from tests.reliability.authz_data import identity_strings, seeded  # noqa: F401  (module fixture)
from tests.reliability.test_authorization_matrix import API, send

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    cache.clear()
    yield
    cache.clear()


def everyone(data) -> list:
    return data.rome_patients + data.erl_patients


def identity_in(text: str, patients) -> list[str]:
    return [value for p in patients for value in identity_strings(p) if value in text]


def assert_no_identity(where: str, text: str, data) -> None:
    found = identity_in(text, everyone(data))
    assert not found, f"identity in {where}: {found}"


def test_seeded_identities_are_distinctive_and_complete(seeded):  # noqa: F811
    """The strings searched for are long enough that finding one is a leak, not a coincidence."""
    for patient in everyone(seeded):
        values = identity_strings(patient)
        assert all(len(v) >= 8 for v in values), values
        assert patient.identity.contact and patient.identity.hospital_number


# --- API ----------------------------------------------------------------------------------------------------


def api_get(data, path: str, **params):
    token = data.tokens["token_all_centres"]
    return Client().get(path, params, HTTP_AUTHORIZATION=f"Token {token.token}")


def test_no_api_response_holds_identity_or_registry_codes(seeded):  # noqa: F811
    key = seeded.tokens["token_all_centres"].client.pseudonym_key
    checked = 0
    for endpoint in API:
        if endpoint.name == urlmap.API_CATCH_ALL:
            continue
        if endpoint.kwargs:  # every patient's detail, under this client's pseudonym
            paths = [
                reverse(endpoint.name, kwargs={"id": deidentify.patient_pseudonym(key, p.pk)})
                for p in everyone(seeded)
            ]
        else:
            paths = [reverse(endpoint.name)]
        for path in paths:
            formats = [{}, {"format": "csv"}] if endpoint.name in urlmap.API_GROUPS else [{}]
            if endpoint.name == "api:schema":
                formats = [{}, {"format": "json"}]
            for params in formats:
                response = api_get(seeded, path, **params)
                assert response.status_code in (200, 404), (path, params, response.status_code)
                body = response.content.decode()
                assert_no_identity(f"{path} {params}", body, seeded)
                for code in seeded.codes_of(everyone(seeded)):
                    assert code not in body, (path, params, code)
                checked += 1
    assert checked >= 40


def test_the_api_still_carries_the_data_so_the_search_above_means_something(seeded):  # noqa: F811
    body = api_get(seeded, "/api/v1/patients/").json()
    assert len(body["results"]) == 4  # the three Rome children and the Erlangen one, pseudonymised
    assert all(row["id"].startswith("P-") for row in body["results"])


# --- exports ------------------------------------------------------------------------------------------------


def export_texts(result) -> dict[str, str]:
    """Every text a recipient can read: each file of a ZIP, each XLSX cell value, CSV and HTML as text."""
    texts: dict[str, str] = {}
    for file in result.files:
        if file.name.endswith(".xlsx"):
            book = openpyxl.load_workbook(io.BytesIO(file.content))
            cells = [
                str(value)
                for sheet in book.worksheets
                for row in sheet.iter_rows(values_only=True)
                for value in row
                if value is not None
            ]
            texts[file.name] = "\n".join(cells)
        elif file.name.endswith(".zip"):
            archive = zipfile.ZipFile(io.BytesIO(file.content))
            texts |= {f"{file.name}/{n}": archive.read(n).decode("utf-8") for n in archive.namelist()}
        else:
            texts[file.name] = file.content.decode("utf-8")
    return texts


@pytest.mark.parametrize("mode", ["internal", "external"])
@pytest.mark.parametrize("fmt", builder.FORMATS)
def test_de_identified_exports_hold_no_identity(seeded, mode, fmt):  # noqa: F811
    policy = services.policy_for(mode, recipient="EBMT registry" if mode == "external" else "")
    request = ExportRequest(series=seeded.series, fmt=fmt, policy=policy, tables=TABLES)
    texts = export_texts(builder.build(request, centre_ids=None))
    assert texts
    everything = "\n".join(texts.values())
    assert_no_identity(f"{mode} {fmt} export", everything, seeded)
    if mode == "external":
        for code in seeded.codes_of(everyone(seeded)):
            assert code not in everything, (fmt, code)
    else:  # internal: registry codes, so the export is about these children
        assert seeded.rome_patient.code in everything


def test_long_format_export_holds_no_identity(seeded):  # noqa: F811
    response, body, _changed = send(
        seeded, "coordinator", "GET", urlmap.Filled(reverse("exports:long", args=[seeded.series.pk]))
    )
    assert response.status_code == 200
    assert seeded.rome_patient.code in body
    assert_no_identity("long format", body, seeded)


def test_identified_export_shows_the_centres_identity_and_only_it(seeded):  # noqa: F811
    policy = services.policy_for("identified", purpose="recall for vaccination")
    for fmt in ("csv", "xlsx"):
        request = ExportRequest(series=seeded.series, fmt=fmt, policy=policy, tables=("baseline",))
        everything = "\n".join(
            export_texts(builder.build(request, centre_ids=frozenset({seeded.rome.pk}))).values()
        )
        identity = seeded.rome_patient.identity
        for value in (identity.given_name, identity.family_name, identity.hospital_number):
            assert value in everything, (fmt, value)
        assert identity.date_of_birth.isoformat() in everything or fmt == "xlsx"
        assert not identity_in(everything, seeded.erl_patients), fmt


# --- summaries and their e-mails ----------------------------------------------------------------------------


def test_follow_up_summaries_and_their_emails_hold_no_identity(seeded):  # noqa: F811
    from registry.summaries.services import summary_email, summary_generate

    today = timezone.localdate()
    monthly = summary_generate(centre=None, kind="monthly", period_start=today.replace(day=1), email=True)
    sent = sum(summary_email(s, resend=True) for s in seeded.summaries.values())
    assert sent >= 1 and mail.outbox
    for summary in [*seeded.summaries.values(), monthly]:
        summary.refresh_from_db()
        assert_no_identity(f"summary {summary.pk} html", summary.html, seeded)
        assert_no_identity(f"summary {summary.pk} text", summary.text, seeded)
        assert_no_identity(f"summary {summary.pk} content", json.dumps(summary.content, default=str), seeded)
    rome_digest = seeded.summaries["rome_daily"].html + json.dumps(seeded.summaries["rome_daily"].content)
    assert seeded.rome_patient.code in rome_digest  # the digest is about these children
    for message in mail.outbox:
        parts = [
            message.subject,
            message.body,
            *(content for content, _type in getattr(message, "alternatives", [])),
        ]
        assert_no_identity(f"e-mail to {message.to}", "\n".join(parts), seeded)
    for persona in ("rome_coordinator", "coordinator"):
        for name in ("summaries:list", "summaries:detail"):
            kwargs = {"summary_id": seeded.summaries["rome_daily"].pk} if name.endswith("detail") else {}
            response, body, _ = send(seeded, persona, "GET", urlmap.Filled(reverse(name, kwargs=kwargs)))
            assert response.status_code == 200
            assert_no_identity(f"{name} for {persona}", body, seeded)


# --- audit pages and the admin ------------------------------------------------------------------------------


@pytest.fixture
def identity_changed(seeded):  # noqa: F811
    """A change of identity, so that the history holds old and new values of every kind."""
    from patients.services import identity_update

    identity = seeded.rome_patient.identity
    old = identity_strings(seeded.rome_patient)
    saved = {name: getattr(identity, name) for name in ("contact", "hospital_number", "updated_at")}
    identity_update(
        patient=seeded.rome_patient,
        changes={
            "contact": f"{identity.contact} (new number)",
            "hospital_number": f"{identity.hospital_number}B",
        },
        recorded_by=seeded.users["rome_clinician"],
        reason="moved house",
    )
    identity.refresh_from_db()
    yield old + identity_strings(seeded.rome_patient)
    for name, value in saved.items():  # the database change is rolled back with the test; the object too
        setattr(identity, name, value)


def test_audit_history_masks_identity_for_everyone_but_the_centres_clinicians(seeded, identity_changed):  # noqa: F811
    values = identity_changed
    url = reverse("record_history", args=["patients", "patientidentity", seeded.rome_patient.identity.pk])
    for persona in ("rome_monitor", "monitor", "rome_coordinator", "coordinator"):
        response, body, _ = send(seeded, persona, "GET", urlmap.Filled(url))
        assert response.status_code == 200, persona
        assert "moved house" in body  # the history is shown …
        assert not [v for v in values if v in body], persona  # … with its values masked
    response, body, _ = send(seeded, "erlangen_clinician", "GET", urlmap.Filled(url))
    assert response.status_code == 404 and not [v for v in values if v in body]
    response, body, _ = send(seeded, "rome_clinician", "GET", urlmap.Filled(url))
    assert response.status_code == 200
    assert seeded.rome_patient.identity.hospital_number in body  # the centre's clinician sees old → new


def test_admin_pages_of_patients_show_staff_no_identity(seeded, identity_changed):  # noqa: F811
    patient = seeded.rome_patient
    version = patient.history.order_by("history_id").first()
    urls = [
        reverse("admin:index"),
        reverse("admin:patients_patient_changelist"),
        reverse("admin:patients_patient_change", args=[patient.pk]),
        reverse("admin:patients_patient_history", args=[patient.pk]),
        reverse("admin:patients_patient_simple_history", args=[patient.pk, version.history_id]),
        reverse("admin:patients_patient_changelist") + f"?q={patient.code}",
    ]
    for url in urls:
        response, body, _ = send(seeded, "staff_admin", "GET", urlmap.Filled(url))
        assert response.status_code == 200, url
        assert patient.code in body or url == reverse("admin:index")
        assert not [v for v in identity_changed if v in body], url
        assert_no_identity(url, body, seeded)


def test_the_centres_clinician_sees_identity_on_the_patient_page_and_nobody_else_does(seeded):  # noqa: F811
    url = reverse("patients:detail", args=[seeded.rome_patient.pk])
    identity = seeded.rome_patient.identity
    response, body, _ = send(seeded, "rome_clinician", "GET", urlmap.Filled(url))
    assert response.status_code == 200
    assert identity.given_name in body and identity.family_name in body and identity.hospital_number in body
    for persona in ("rome_coordinator", "coordinator", "rome_monitor", "monitor", "erlangen_clinician"):
        response, body, _ = send(seeded, persona, "GET", urlmap.Filled(url))
        assert response.status_code in (200, 404), persona
        assert_no_identity(f"patient page for {persona}", body, seeded)


# --- error pages --------------------------------------------------------------------------------------------


def test_error_pages_hold_no_identity(seeded, monkeypatch, settings):  # noqa: F811
    settings.DEBUG = False
    patient = seeded.rome_patient
    identity = patient.identity
    # 404: another centre's child, and a missing one
    for path in (reverse("patients:detail", args=[patient.pk]), "/patients/999999/", "/no/such/page/"):
        response, body, _ = send(seeded, "erlangen_clinician", "GET", urlmap.Filled(path))
        assert response.status_code == 404
        assert_no_identity(f"404 {path}", body, seeded)
    # 403: a form posted without its CSRF token by the centre's own clinician
    client = Client(enforce_csrf_checks=True)
    client.cookies[django_settings_session_cookie()] = seeded.sessions["rome_clinician"]
    response = client.post(
        reverse("patients:identity", args=[patient.pk]), {"given_name": identity.given_name}
    )
    assert response.status_code == 403
    assert_no_identity("403 CSRF", response.content.decode(), seeded)
    # 403: staff asking the admin to delete a clinical record
    response, body, _ = send(
        seeded,
        "staff_admin",
        "POST",
        urlmap.Filled(reverse("admin:patients_patient_delete", args=[patient.pk]), post={"post": "yes"}),
    )
    assert response.status_code == 403
    assert_no_identity("403 admin", body, seeded)

    # 500: a failure whose message carries identity (as a careless exception might) — the page says nothing of it
    def broken(*args, **kwargs):
        raise RuntimeError(
            f"cannot render {identity.given_name} {identity.family_name} born {identity.date_of_birth}"
        )

    from patients import views as patient_views

    monkeypatch.setattr(patient_views.selectors, "patient_page", broken)
    client = Client(raise_request_exception=False)
    client.cookies[django_settings_session_cookie()] = seeded.sessions["rome_clinician"]
    logging.disable(logging.CRITICAL)  # the traceback goes to the server log by design; not under test here
    try:
        response = client.get(reverse("patients:detail", args=[patient.pk]))
    finally:
        logging.disable(logging.NOTSET)
    assert response.status_code == 500
    assert_no_identity("500 page", response.content.decode(), seeded)

    from patients.api import PatientViewSet

    monkeypatch.setattr(PatientViewSet, "prepare", broken)
    logging.disable(logging.CRITICAL)
    try:
        response = api_get(seeded, "/api/v1/patients/")
    finally:
        logging.disable(logging.NOTSET)
    assert response.status_code == 500 and response.json()["code"] == "server_error"
    assert_no_identity("API 500", response.content.decode(), seeded)


def django_settings_session_cookie() -> str:
    from django.conf import settings

    return settings.SESSION_COOKIE_NAME


# --- logs ---------------------------------------------------------------------------------------------------


def test_a_full_run_logs_no_identity(seeded, caplog, settings):  # noqa: F811
    """Everything a day brings — pages of every role (the clinician's identity page and an identity change
    included), API pulls, exports of every mode, summaries with e-mail, refused requests — with logging at
    DEBUG: no log record carries identity."""
    settings.DEBUG = False
    caplog.set_level(logging.DEBUG)
    patient = seeded.rome_patient
    identity = patient.identity
    for persona in urlmap.PAGE_PERSONAS:
        for name in (
            "home",
            "patients:detail",
            "patients:identity",
            "outcomes:visit_detail",
            "record_history",
        ):
            send(
                seeded,
                persona,
                "GET",
                urlmap.fill(next(e for e in urlmap.endpoints() if e.name == name), seeded, persona),
            )
    response, _body, _ = send(
        seeded,
        "rome_clinician",
        "POST",
        urlmap.Filled(
            reverse("patients:identity", args=[patient.pk]),
            post={
                "given_name": identity.given_name,
                "family_name": identity.family_name,
                "date_of_birth": identity.date_of_birth.isoformat(),
                "hospital_number": identity.hospital_number,
                "contact": f"{identity.contact} (mobile)",
                "reason": "new mobile number",
            },
        ),
    )
    assert response.status_code == 302  # saved (and rolled back with the request's savepoint)
    for endpoint in API:
        if endpoint.name in urlmap.API_GROUPS and not endpoint.kwargs:
            assert api_get(seeded, reverse(endpoint.name)).status_code == 200
    for mode in ("internal", "external", "identified"):
        policy = services.policy_for(mode, recipient="EBMT", purpose="recall")
        builder.build(ExportRequest(series=seeded.series, fmt="xlsx", policy=policy), centre_ids=None)
    send(
        seeded,
        "rome_clinician",
        "POST",
        urlmap.Filled(
            reverse("exports:download", args=[seeded.series.pk]),
            post={
                "mode": "identified",
                "fmt": "csv",
                "table": "baseline",
                "part": "patients",
                "spread": "range",
                "purpose": "recall for vaccination",
            },
        ),
    )
    from registry.summaries.services import summary_email

    for summary in seeded.summaries.values():
        summary_email(summary, resend=True)
    for persona in ("erlangen_clinician", "anonymous"):
        send(seeded, persona, "GET", urlmap.Filled(reverse("patients:identity", args=[patient.pk])))
    assert caplog.records  # the run did log (requests, summaries, exports)
    text = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''} {json.dumps(getattr(r, '__dict__', {}), default=str)}"
        for r in caplog.records
    )
    assert_no_identity("the logs", text, seeded)
    assert not re.search(re.escape(identity.given_name), caplog.text)
