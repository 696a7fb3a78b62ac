"""Who may export what (DESIGN §5): coordinators internal/external for their centres, clinicians only
identified exports of their own centre with a purpose, monitors nothing; external exports de-identified."""

from __future__ import annotations

import csv
import io
import re
import zipfile

import openpyxl
import pytest
from django.urls import reverse

from registry import deidentify
from registry.exports import builder, modes, selectors, services
from registry.exports.builder import ExportRequest
from registry.models import ExportLog
from tests.registry.exports_factory import small_registry

ISO_DATE = re.compile(r"\b(19|20)\d\d-\d\d-\d\d\b")


@pytest.fixture
def registry(rome, erlangen, rome_clinician, erlangen_clinician, staff_admin):
    return small_registry(rome, erlangen, rome_clinician, erlangen_clinician, staff_admin)


def download(client, registry, **data):
    payload = {"mode": "internal", "fmt": "csv", "table": "all", "spread": "range", **data}
    return client.post(reverse("exports:download", args=[registry.series.pk]), payload)


def unzip_text(content: bytes) -> dict[str, str]:
    archive = zipfile.ZipFile(io.BytesIO(content))
    return {name: archive.read(name).decode("utf-8") for name in archive.namelist()}


def patient_dates(registry) -> set[str]:
    dates = set()
    for p in (registry.rom_sle, registry.rom_jdm, registry.erl_sle, registry.rom_not_infused):
        dates |= {d.isoformat() for d in (p.day0, p.diagnosis_date) if d}
        dates.add(p.identity.date_of_birth.isoformat())
    return dates


# --- external ------------------------------------------------------------------------------------------------


def external_files(registry, fmt="csv", recipient="EBMT registry", threshold=None):
    policy = services.policy_for("external", recipient=recipient, threshold=threshold)
    request = ExportRequest(series=registry.series, fmt=fmt, policy=policy, requested_by="coordinator")
    return policy, builder.build(request, centre_ids=None)


def test_external_export_shows_no_code_centre_identity_date_or_free_text(registry):
    _policy, result = external_files(registry)
    files = unzip_text(result.single().content)
    _policy, tidy_result = external_files(registry, fmt="tidy")
    files |= {f"tidy/{k}": v for k, v in unzip_text(tidy_result.single().content).items()}
    forbidden = [
        *(p.code for p in (registry.rom_sle, registry.rom_jdm, registry.erl_sle, registry.rom_not_infused)),
        "ROM", "ERL", "Bambino", "Erlangen", "Rome",  # centre codes and names
        "Anna", "Testa", "H-123",  # identity (and the free text that repeats the name)
        "Rituximab", "Mycophenolate", "urinary tract",  # free text: drug names, infection site
        registry.series.name,  # names of series often name the centres
    ]
    for name, text in files.items():
        for word in forbidden:
            assert word not in text, (name, word)
        if not name.endswith("about.csv"):
            assert not ISO_DATE.search(text), (name, ISO_DATE.search(text).group())
    about = files["about.csv"]
    for date in patient_dates(registry):
        assert date not in about


def test_external_pseudonyms_are_keyed_per_recipient_and_stable(registry):
    policy, result = external_files(registry)
    patients = list(csv.DictReader(io.StringIO(unzip_text(result.single().content)["baseline_patients.csv"])))
    expected = deidentify.patient_pseudonym(modes.recipient_key("EBMT registry"), registry.rom_sle.pk)
    assert expected in {r["patient"] for r in patients}
    assert {r["centre"] for r in patients} <= {"C1", "C2"}
    assert modes.recipient_key("  ebmt   REGISTRY ") == modes.recipient_key("EBMT registry")
    other, _ = external_files(registry, recipient="Another consortium")
    assert other.patient_label(registry.rom_sle.pk, "x") != policy.patient_label(registry.rom_sle.pk, "x")
    assert "prior_therapies" not in patients[0]  # free-text column dropped


def test_external_summary_suppresses_small_cells_of_the_same_tables(registry):
    _policy, result = external_files(registry)
    files = unzip_text(result.single().content)
    summary = {r["characteristic"]: r for r in csv.DictReader(io.StringIO(files["baseline_summary.csv"]))}
    assert summary["Patients"]["all"] == "<5"  # 4 patients
    assert summary["Sex: female"]["all"] == "<5"
    assert summary["Age at infusion, years"]["all"] == "n<5"
    safety = {r["characteristic"]: r for r in csv.DictReader(io.StringIO(files["safety_summary.csv"]))}
    assert safety["CRS: grade 1"]["all"] == "<5"
    assert safety["CRS: grade 3"]["all"] == "0 (0.0%)"  # zero is not suppressed
    internal = builder.build(
        ExportRequest(series=registry.series, fmt="csv", policy=services.policy_for("internal")), centre_ids=None
    )
    internal_safety = unzip_text(internal.single().content)["safety_summary.csv"]
    assert "CRS: grade 1,n (%),1 (33.3%)" in internal_safety


def test_external_threshold_is_configurable(registry, settings):
    _policy, result = external_files(registry, threshold=2)
    safety = {
        r["characteristic"]: r
        for r in csv.DictReader(io.StringIO(unzip_text(result.single().content)["safety_summary.csv"]))
    }
    assert safety["CRS: any grade"]["all"] == "2 (66.7%)"
    assert safety["CRS: grade 1"]["all"] == "<2"
    settings.REGISTRY_EXPORT_SUPPRESSION_THRESHOLD = 10
    assert services.policy_for("external", recipient="x").threshold == 10


def test_external_xlsx_about_sheet_states_the_de_identification(registry):
    _policy, result = external_files(registry, fmt="xlsx")
    book = openpyxl.load_workbook(io.BytesIO(result.single().content))
    about = {r[0]: r[1] for r in book["About"].iter_rows(min_row=2, values_only=True)}
    assert about["Export mode"] == "external" and about["Recipient"] == "EBMT registry"
    assert "suppressed" in about["De-identification"] and "free text dropped" in about["De-identification"]
    assert about["Case series"].startswith("case series CS-")
    assert result.single().name.startswith("case-series-cs-")


def test_external_web_export_needs_a_recipient(client, registry, coordinator):
    client.force_login(coordinator)
    response = download(client, registry, mode="external")
    assert response.status_code == 400 and "Name the recipient" in response.content.decode()
    response = download(client, registry, mode="external", recipient="EBMT", threshold="1")
    assert response.status_code == 400
    assert not ExportLog.objects.exists()
    response = download(client, registry, mode="external", recipient="EBMT")
    assert response.status_code == 200
    log = ExportLog.objects.get()
    assert (log.mode, log.recipient, log.filters["options"]["threshold"]) == ("external", "EBMT", 5)


# --- identified ---------------------------------------------------------------------------------------------


def test_identified_export_is_for_a_clinician_of_the_centre_with_a_purpose(client, registry, rome_clinician):
    client.force_login(rome_clinician)
    response = download(
        client, registry, mode="identified", table="baseline", part="patients", purpose="Recall for vaccination"
    )
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))
    assert {r["patient"] for r in rows} == {
        registry.rom_sle.code, registry.rom_jdm.code, registry.rom_not_infused.code
    }  # Rome only, voided left out
    assert {r["given_name"] for r in rows} == {"Anna"} and {r["hospital_number"] for r in rows} == {"H-123"}
    assert next(r for r in rows if r["patient"] == registry.rom_sle.code)["infusion_date"] == (
        registry.rom_sle.day0.isoformat()
    )
    log = ExportLog.objects.get()
    assert (log.user, log.mode, log.purpose) == (rome_clinician, "identified", "Recall for vaccination")


def test_identified_export_without_purpose_is_refused(client, registry, rome_clinician):
    client.force_login(rome_clinician)
    response = download(client, registry, mode="identified")
    assert response.status_code == 400
    assert "State the purpose" in response.content.decode()
    assert not ExportLog.objects.exists()


def test_identified_export_of_another_centre_is_404(client, registry, rome_clinician):
    client.force_login(rome_clinician)
    assert download(client, registry, mode="identified", centre="ERL", purpose="x").status_code == 404
    assert download(client, registry, mode="identified", centre="NOPE", purpose="x").status_code == 404


def test_erlangen_clinician_gets_only_erlangen_patients(client, registry, erlangen_clinician):
    client.force_login(erlangen_clinician)
    response = download(client, registry, mode="identified", table="safety", part="patients", purpose="Audit")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))
    assert [r["patient"] for r in rows] == [registry.erl_sle.code]


@pytest.mark.parametrize("persona", ["coordinator", "rome_coordinator"])
def test_coordinators_cannot_request_identified_exports(client, registry, persona, request):
    client.force_login(request.getfixturevalue(persona))
    assert download(client, registry, mode="identified", purpose="Curiosity").status_code == 404
    assert not ExportLog.objects.exists()


def test_clinicians_cannot_request_internal_or_external_exports(client, registry, rome_clinician):
    client.force_login(rome_clinician)
    assert download(client, registry, mode="internal").status_code == 404
    assert download(client, registry, mode="external", recipient="x").status_code == 404
    page = client.get(reverse("exports:series", args=[registry.series.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "export-table" not in html and "CRS: any grade" not in html  # no tables on screen for clinicians
    assert 'value="internal"' not in html and "Purpose (identified)" in html
    figure = client.get(reverse("exports:figure", args=[registry.series.pk, "swimmer", "svg"]))
    assert figure.status_code == 404


# --- coordinators and monitors ---------------------------------------------------------------------------------


def test_centre_coordinator_never_exports_other_centres(client, registry, rome_coordinator):
    client.force_login(rome_coordinator)
    response = download(client, registry, fmt="tidy")
    files = unzip_text(response.content)
    assert all(registry.erl_sle.code not in text for text in files.values())
    assert registry.rom_sle.code in files["labs.csv"]
    assert download(client, registry, centre="ERL").status_code == 404
    page = client.get(reverse("exports:series", args=[registry.series.pk]))
    assert registry.erl_sle.code not in page.content.decode()
    assert registry.rom_sle.code in page.content.decode()


def test_registry_wide_coordinator_exports_every_centre(client, registry, coordinator):
    client.force_login(coordinator)
    response = download(client, registry, table="baseline", part="patients")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))
    assert {r["centre"] for r in rows} == {"ROM", "ERL"}
    assert "given_name" not in rows[0] and "date_of_birth" not in rows[0]  # internal: no identity


@pytest.mark.parametrize("persona", ["monitor", "rome_monitor", "nobody", "staff_admin"])
def test_monitors_and_others_see_no_export_page_at_all(client, registry, persona, request):
    client.force_login(request.getfixturevalue(persona))
    series = registry.series.pk
    for url in (
        reverse("exports:index"),
        reverse("exports:series", args=[series]),
        reverse("exports:figure", args=[series, "swimmer", "svg"]),
        reverse("exports:mine"),
    ):
        assert client.get(url).status_code == 404, url
    assert download(client, registry).status_code == 404
    assert not ExportLog.objects.exists()


def test_someone_elses_export_is_404(client, registry, coordinator, rome_coordinator):
    log = ExportLog.objects.create(user=coordinator, case_series=registry.series, format="csv")
    client.force_login(rome_coordinator)
    for name in ("status", "progress", "file"):
        assert client.get(reverse(f"exports:{name}", args=[log.pk])).status_code == 404


def test_anonymous_users_are_sent_to_login(client, registry):
    response = client.get(reverse("exports:series", args=[registry.series.pk]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_export_scope_by_mode(registry, coordinator, rome_coordinator, rome_clinician, monitor):
    from django.http import Http404

    assert modes.export_centre_ids(coordinator, "internal") is None
    assert modes.export_centre_ids(rome_coordinator, "external") == frozenset({registry.rom_sle.centre_id})
    assert modes.export_centre_ids(rome_clinician, "identified") == frozenset({registry.rom_sle.centre_id})
    for user, mode in ((coordinator, "identified"), (rome_clinician, "internal"), (monitor, "internal")):
        with pytest.raises(Http404):
            modes.export_centre_ids(user, mode)
    data = selectors.series_data(registry.series, centre_ids=frozenset({registry.erl_sle.centre_id}))
    assert [p.code for p in data.patients] == [registry.erl_sle.code]
