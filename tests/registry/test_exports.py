"""Case-series exports from a small factory-built registry: table values, formats, figures, the command, the
background task, query counts. Access and de-identification: ``test_exports_access.py``; the published
figures of the demo series: ``test_exports_published.py``."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile

import openpyxl
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from patients import services as patient_services
from registry.exports import builder, figures, selectors, services, tables, tidy
from registry.exports.builder import ExportRequest
from registry.exports.definitions import FIGURES, TABLES
from registry.exports.modes import ExportPolicy
from registry.exports.selectors import ExportFilters
from registry.models import ExportLog, ExportStatus
from registry.system import get_system_user
from tests.registry.exports_factory import DAY0, add_patients, small_registry

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def registry(rome, erlangen, rome_clinician, erlangen_clinician, staff_admin):
    return small_registry(rome, erlangen, rome_clinician, erlangen_clinician, staff_admin)


def internal():
    return services.policy_for("internal")


def build(registry, *, centre_ids=None, policy=None, filters=None, spread="range", longitudinal=False):
    data = selectors.series_data(
        registry.series, centre_ids=centre_ids, filters=filters or ExportFilters(), longitudinal=longitudinal
    )
    return data, tables.build_tables(data, policy or internal(), spread=spread)


def row(summary, characteristic: str) -> dict:
    found = summary[summary["characteristic"] == characteristic]
    assert len(found) == 1, (characteristic, list(summary["characteristic"]))
    return found.iloc[0].to_dict()


def completed_years(born: dt.date, on: dt.date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


# --- table values ----------------------------------------------------------------------------------------------


def test_baseline_counts_every_patient_of_the_series_except_the_voided_one(registry):
    _data, built = build(registry)
    summary = built["baseline"].summary
    assert row(summary, "Patients")["all"] == "4"
    assert row(summary, "Sex: female")["all"] == "3 (75.0%)"
    assert row(summary, "Sex: male")["all"] == "1 (25.0%)"
    assert row(summary, "Diagnosis: Systemic lupus erythematosus")["all"] == "3 (75.0%)"
    assert row(summary, "Diagnosis: Juvenile dermatomyositis")["all"] == "1 (25.0%)"
    assert row(summary, "Centre: Ospedale Pediatrico Bambino Gesù, Rome (ROM)")["all"] == "3 (75.0%)"
    assert row(summary, "Centre: Universitätsklinikum Erlangen (ERL)")["all"] == "1 (25.0%)"
    assert row(summary, "Lupus nephritis")["all"] == "1 (25.0%)"
    assert row(summary, "B-cell-targeted prior therapy")["all"] == "1 (25.0%)"
    codes = list(built["baseline"].patients["patient"])
    assert registry.rom_voided.code not in codes and registry.rom_not_infused.code in codes


def test_baseline_per_patient_row_states_age_in_completed_years_and_lines_without_glucocorticoids(registry):
    _data, built = build(registry)
    frame = built["baseline"].patients.set_index("patient")
    rom = frame.loc[registry.rom_sle.code]
    assert rom["age_at_infusion_years"] == completed_years(dt.date(2010, 1, 15), DAY0)
    assert rom["prior_lines"] == 1  # rituximab; prednisone is not a line
    assert rom["b_cell_targeted_prior"] is True
    assert rom["organ_involvement"] == "arthritis; lupus_nephritis"
    assert rom["baseline_sledai_2k"] == 6  # arthritis 4 + rash 2 at screening
    not_infused = frame.loc[registry.rom_not_infused.code]
    assert not_infused["age_at_infusion_years"] is None  # no day 0, no age at infusion
    ages = sorted(
        completed_years(born, DAY0) for born in (dt.date(2010, 1, 15), dt.date(2012, 6, 1), dt.date(2009, 3, 10))
    )
    assert row(built["baseline"].summary, "Age at infusion, years")["all"] == (
        f"{ages[1]} ({ages[0]}–{ages[2]}), n = 3"
    )


def test_dosing_reports_dose_per_kg_vein_to_vein_bags_and_lymphodepletion(registry):
    _data, built = build(registry)
    summary = built["dosing"].summary
    assert row(summary, "Dose, ×10⁶ CAR T cells/kg")["all"] == "1.00 (1.00–1.00), n = 3"
    assert row(summary, "Vein-to-vein time, days")["all"] == "34 (34–34), n = 3"
    assert row(summary, "Regimen: Flu/Cy")["all"] == "3 (100.0%)"
    assert row(summary, "Regimen: none recorded")["all"] == "1"
    assert row(summary, "Fludarabine, total mg/m²")["all"] == "90 (90–90), n = 3"
    assert row(summary, "Infused (day 0 recorded)")["all"] == "3 (75.0%)"
    frame = built["dosing"].patients.set_index("patient")
    assert frame.loc[registry.erl_sle.code, "dose_per_kg"] == 1_000_000
    assert frame.loc[registry.erl_sle.code, "bags"] == 2
    assert frame.loc[registry.rom_sle.code, "lymphodepletion_start_day"] == -5



def test_a_measured_zero_is_shown_as_zero_not_as_missing(registry):
    """A run that transduced nothing (0 %, vector copy number 0 — the validators allow it) keeps its zeros in
    the dosing table; only a value that was never measured is empty."""
    from dosing.models import ManufacturingRun

    run = ManufacturingRun.objects.filter(patient=registry.erl_sle).latest("started_on")
    ManufacturingRun.objects.filter(pk=run.pk).update(transduction_efficiency_pct=0, vector_copy_number=0)
    _data, built = build(registry)
    frame = built["dosing"].patients.set_index("patient")
    assert frame.loc[registry.erl_sle.code, "transduction_pct"] == 0.0
    assert frame.loc[registry.erl_sle.code, "vector_copy_number"] == 0.0
    assert frame.loc[registry.rom_sle.code, "transduction_pct"] is not None

def test_safety_counts_grades_among_infused_patients_and_ignores_voided_assessments(registry):
    _data, built = build(registry)
    summary = built["safety"].summary
    assert row(summary, "Patients with day 0")["all"] == "3"
    assert row(summary, "CRS: any grade")["all"] == "2 (66.7%)"
    assert row(summary, "CRS: grade 1")["all"] == "1 (33.3%)"
    assert row(summary, "CRS: grade 2")["all"] == "1 (33.3%)"
    assert row(summary, "CRS: grade 4")["all"] == "0 (0.0%)"  # the voided grade-4 assessment drops out
    assert row(summary, "Any infection")["all"] == "1 (33.3%)"
    assert row(summary, "Severe infection (grade ≥ 3)")["all"] == "0 (0.0%)"
    frame = built["safety"].patients.set_index("patient")
    assert registry.rom_not_infused.code not in frame.index
    assert (frame.loc[registry.rom_sle.code, "crs_onset_day"], frame.loc[registry.rom_sle.code, "crs_duration_days"]) == (1, 2)
    assert frame.loc[registry.erl_sle.code, "crs_max_grade"] == 2


def test_efficacy_gives_scores_at_timepoints_with_percent_change_and_b_cells(registry):
    _data, built = build(registry)
    frame = built["efficacy"].patients.set_index("patient")
    rom = frame.loc[registry.rom_sle.code]
    assert (rom["activity_measure"], rom["activity_baseline"], rom["activity_m3"]) == ("sledai_2k", 6, 0)
    assert rom["activity_change_m3_pct"] == -100.0
    assert rom["activity_last_day"] == 91
    assert rom["b_cell_aplasia_day"] == 7 and rom["b_cell_reconstitution_day"] == 95
    assert rom["car_t_peak_per_ul"] == 32.69 and rom["car_t_peak_day"] == 7
    assert rom["immunomodulator_free"] is True
    assert rom["follow_up_months"] == round(91 / 30.4375, 1)
    assert frame.loc[registry.rom_jdm.code, "immunomodulator_free"] is None  # no follow-up visit yet
    summary = built["efficacy"].summary
    sledai = summary[summary["section"] == "SLEDAI-2K (SLE)"].set_index("characteristic")
    assert sledai.loc["Baseline", "sle"] == "6 (6–6), n = 1"
    assert sledai.loc["% change from baseline, Month 3", "sle"] == "-100.0 (-100.0–-100.0), n = 1"
    assert row(summary, "Immunomodulator-free at last follow-up")["all"] == "1 (100.0%)"
    assert row(summary, "Immunomodulator-free at last follow-up: not evaluable")["all"] == "2"


def test_filters_select_centre_diagnosis_product_and_infusion_period(registry):
    def patients(**filters):
        data = selectors.series_data(registry.series, centre_ids=None, filters=ExportFilters(**filters))
        return {p.code for p in data.patients}

    rom = {registry.rom_sle.code, registry.rom_jdm.code, registry.rom_not_infused.code}
    assert patients(centre="ROM") == rom
    assert patients(diagnosis="jdm") == {registry.rom_jdm.code}
    assert patients(product="mb-cart19-1") == {registry.rom_sle.code, registry.rom_jdm.code, registry.erl_sle.code}
    assert patients(product="other") == set()
    assert patients(infused_from=DAY0 + dt.timedelta(days=1)) == set()
    assert patients(infused_from=DAY0, infused_to=DAY0, centre="ERL") == {registry.erl_sle.code}


def test_iqr_spread_uses_quartiles(registry):
    _data, built = build(registry, spread="iqr")
    cell = row(built["dosing"].summary, "Vein-to-vein time, days")
    assert cell["statistic"] == "median (IQR)" and cell["all"] == "34 (34–34), n = 3"


def test_number_formatting_rounds_half_up_and_gives_a_median_of_whole_numbers_its_half():
    assert tables.format_number(12.5, 0, flexible=True) == "12.5"
    assert tables.format_number(2.25, 1) == "2.3"
    assert tables.format_number(-0.04, 1) == "0.0"
    assert tables.format_count_percent(1, 8, ExportPolicy()) == "1 (12.5%)"
    assert tables.format_count_percent(1, 3, ExportPolicy()) == "1 (33.3%)"
    assert tables.format_count_percent(1, 8, ExportPolicy(mode="external", threshold=3)) == "<3"


# --- query counts ----------------------------------------------------------------------------------------------


def test_table_assembly_query_count_does_not_grow_with_patients(
    rome, erlangen, rome_clinician, erlangen_clinician, staff_admin, django_assert_num_queries
):
    few = add_patients(rome, rome_clinician, 2)
    series = patient_services.case_series_create(name="Few", patients=few, recorded_by=staff_admin)
    many = few + add_patients(erlangen, erlangen_clinician, 4)
    series_many = patient_services.case_series_create(name="Many", patients=many, recorded_by=staff_admin)
    policy = internal()

    def assemble(s):
        data = selectors.series_data(s, centre_ids=None)
        return tables.build_tables(data, policy)

    # patients; their centres; identity; organs; prior therapies; runs with bag counts; infusions;
    # lymphodepletion; schedule timepoints; course (labs, visits with instruments — read once for the course
    # and the visit rows —, last visit dates, medications); safety (CRS, ICANS, labs, supportive care,
    # infections, adverse events)
    with django_assert_num_queries(19):
        two = assemble(series)
    with django_assert_num_queries(19):
        six = assemble(series_many)
    assert len(two["safety"].patients) == 2 and len(six["safety"].patients) == 6


def test_longitudinal_data_adds_a_fixed_number_of_queries(registry, django_assert_num_queries):
    # + CRS, ICANS, infections, adverse events, labs, medications
    with django_assert_num_queries(25):
        selectors.series_data(registry.series, centre_ids=None, longitudinal=True)


# --- formats -------------------------------------------------------------------------------------------------------


def request_for(registry, fmt, **kwargs):
    return ExportRequest(series=registry.series, fmt=fmt, policy=kwargs.pop("policy", internal()), **kwargs)


def test_xlsx_reads_back_with_about_tables_and_data_dictionary(registry):
    result = builder.build(request_for(registry, "xlsx", requested_by="tester"), centre_ids=None)
    book = openpyxl.load_workbook(io.BytesIO(result.single().content))
    assert book.sheetnames == [
        "About",
        "Baseline summary",
        "Baseline patients",
        "Dosing summary",
        "Dosing patients",
        "Safety summary",
        "Safety patients",
        "Efficacy summary",
        "Efficacy patients",
        "Data dictionary",
    ]
    about = {r[0]: r[1] for r in book["About"].iter_rows(min_row=2, values_only=True)}
    assert about["Case series"] == registry.series.name
    assert about["Export mode"] == "internal"
    assert about["Registry version"] == "0.1.0"
    assert about["Generated by"] == "tester"
    assert about["Filters"] == "(none)"
    assert "no suppression" in about["De-identification"]
    safety = list(book["Safety summary"].iter_rows(values_only=True))
    assert safety[0][:4] == ("Section", "Characteristic", "Statistic", "All patients")
    assert safety[4][:4] == ("CRS (ASTCT 2019)", "CRS: grade 2", "n (%)", "1 (33.3%)")
    patients = list(book["Baseline patients"].iter_rows(values_only=True))
    assert patients[0][:4] == ("patient", "centre", "diagnosis", "sex")
    assert {r[0] for r in patients[1:]} == {
        registry.rom_sle.code, registry.rom_jdm.code, registry.rom_not_infused.code, registry.erl_sle.code
    }
    dictionary = list(book["Data dictionary"].iter_rows(values_only=True))
    assert dictionary[0] == ("table", "column", "label", "type", "unit", "description")
    assert dictionary[
        [r[1] for r in dictionary].index("age_at_infusion_years")
    ][:5] == ("baseline_patients", "age_at_infusion_years", "Age at infusion", "integer", "years")


def test_csv_bundle_has_a_file_per_table_part_plus_dictionary_and_about(registry):
    result = builder.build(request_for(registry, "csv"), centre_ids=None)
    names = [f.name for f in result.files]
    assert names == [
        *(f"{t}_{part}.csv" for t in TABLES for part in ("summary", "patients")),
        "data_dictionary.csv",
        "about.csv",
    ]
    archive = zipfile.ZipFile(io.BytesIO(result.single().content))
    assert sorted(archive.namelist()) == sorted(names)
    safety = list(csv.DictReader(io.StringIO(archive.read("safety_summary.csv").decode("utf-8"))))
    assert next(r for r in safety if r["characteristic"] == "CRS: any grade")["all"] == "2 (66.7%)"
    assert result.row_counts["safety_patients"] == 3


def test_csv_of_one_table_part_is_a_single_file(registry):
    result = builder.build(request_for(registry, "csv", tables=("safety",), part="patients"), centre_ids=None)
    (file,) = result.files
    assert file.name.endswith("-safety_patients.csv") and result.single() is file
    rows = list(csv.DictReader(io.StringIO(file.content.decode("utf-8"))))
    assert len(rows) == 3 and rows[0]["crs_max_grade"] in {"0", "1", "2"}


def test_tidy_datasets_are_long_with_study_days_and_leave_out_patients_without_day0(registry):
    data = selectors.series_data(registry.series, centre_ids=None, longitudinal=True)
    datasets = tidy.tidy_datasets(data, internal())
    assert list(datasets) == ["baseline", "dosing", "toxicity", "visits", "labs", "medications"]
    for frame in datasets.values():
        assert list(frame.columns) == [
            "patient", "centre", "diagnosis", "study_day", "timepoint", "variable", "value", "unit"
        ]
    labs = datasets["labs"]
    peak = labs[(labs["patient"] == registry.rom_sle.code) & (labs["variable"] == "car_t") & (labs["study_day"] == 7)]
    assert list(peak["value"]) == [32.69] and list(peak["timepoint"]) == ["d7"]
    toxicity = datasets["toxicity"]
    crs = toxicity[(toxicity["patient"] == registry.erl_sle.code) & (toxicity["variable"] == "crs_grade")]
    assert dict(zip(crs["study_day"], crs["value"], strict=True)) == {1: 0, 2: 2, 4: 0}  # day 3 voided
    assert registry.rom_not_infused.code in set(datasets["baseline"]["patient"])
    for domain in ("dosing", "toxicity", "visits", "labs", "medications"):
        assert registry.rom_not_infused.code not in set(datasets[domain]["patient"])
    visits = datasets["visits"]
    sledai = visits[(visits["patient"] == registry.rom_sle.code) & (visits["variable"] == "sledai_2k")]
    assert dict(zip(sledai["timepoint"], sledai["value"], strict=True)) == {"screening": 6.0, "m3": 0.0}
    dictionary = tidy.tidy_dictionary(internal())
    assert {"crs_grade", "car_t", "sledai_2k", "medication_started"} <= set(dictionary["variable"])


def test_tidy_bundle_is_a_zip_of_domains_with_dictionary(registry):
    result = builder.build(request_for(registry, "tidy"), centre_ids=None)
    archive = zipfile.ZipFile(io.BytesIO(result.single().content))
    assert sorted(archive.namelist()) == sorted(
        [f"{d}.csv" for d in ("baseline", "dosing", "toxicity", "visits", "labs", "medications")]
        + ["data_dictionary.csv", "about.csv"]
    )
    assert result.row_counts["tidy_labs"] > 10


def test_html_document_has_tables_and_inline_svg_figures(registry):
    result = builder.build(request_for(registry, "html"), centre_ids=None)
    html = result.single().content.decode("utf-8")
    assert html.count("<svg") == len(FIGURES)
    assert "Baseline characteristics" in html and "CRS: grade 2" in html
    assert registry.series.name in html


# --- figures ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FIGURES)
def test_figures_render_as_svg_and_png(registry, name):
    data = selectors.series_data(registry.series, centre_ids=None, longitudinal=True)
    svg = figures.render(name, data, internal(), "svg")
    png = figures.render(name, data, internal(), "png")
    assert b"<svg" in svg[:500]
    assert png.startswith(PNG_MAGIC)
    assert figures.render(name, data, internal(), "svg") == svg  # reproducible: no timestamp


@pytest.mark.parametrize("name", FIGURES)
def test_figures_render_for_an_empty_selection(registry, name):
    data = selectors.series_data(
        registry.series, centre_ids=None, filters=ExportFilters(diagnosis="ssc"), longitudinal=True
    )
    assert figures.render(name, data, internal(), "png").startswith(PNG_MAGIC)


def test_figure_needs_longitudinal_data(registry):
    data = selectors.series_data(registry.series, centre_ids=None)
    with pytest.raises(ValueError, match="longitudinal"):
        figures.render("swimmer", data, internal(), "svg")


# --- the command --------------------------------------------------------------------------------------------


def test_command_writes_csv_files_and_logs_the_export_as_system_user(registry, tmp_path):
    out = io.StringIO()
    call_command("case_series", "--table", "all", "--format", "csv", "--output", str(tmp_path / "csv"), stdout=out)
    written = sorted(p.name for p in (tmp_path / "csv").iterdir())
    assert "safety_summary.csv" in written and "data_dictionary.csv" in written and "about.csv" in written
    log = ExportLog.objects.get()
    assert log.user == get_system_user()
    assert (log.mode, log.format, log.tables) == ("internal", "csv", list(TABLES))
    assert log.row_counts["baseline_patients"] == 4
    assert "baseline_patients 4" in out.getvalue()


def test_command_writes_one_xlsx_and_figures(registry, tmp_path):
    call_command(
        "case_series", "--table", "safety", "--format", "xlsx", "--output", str(tmp_path / "s.xlsx"),
        "--centre", "ROM", "--figures", str(tmp_path / "fig"), stdout=io.StringIO(),
    )
    book = openpyxl.load_workbook(tmp_path / "s.xlsx")
    assert book.sheetnames == ["About", "Safety summary", "Safety patients", "Data dictionary"]
    codes = [r[0] for r in book["Safety patients"].iter_rows(min_row=2, values_only=True)]
    assert sorted(codes) == sorted([registry.rom_sle.code, registry.rom_jdm.code])
    assert sorted(p.name for p in (tmp_path / "fig").iterdir()) == sorted(
        f"{n}.{ext}" for n in FIGURES for ext in ("svg", "png")
    )
    assert list(ExportLog.objects.order_by("pk").values_list("format", flat=True)) == ["xlsx", "svg+png"]
    assert ExportLog.objects.first().filters["centre"] == "ROM"


def test_command_tidy_zip_and_external_mode_needs_a_recipient(registry, tmp_path):
    with pytest.raises(CommandError, match="recipient"):
        call_command("case_series", "--format", "tidy", "--output", str(tmp_path / "t.zip"), "--mode", "external")
    call_command(
        "case_series", "--format", "tidy", "--output", str(tmp_path / "t.zip"), "--mode", "external",
        "--recipient", "EBMT", stdout=io.StringIO(),
    )
    assert "labs.csv" in zipfile.ZipFile(tmp_path / "t.zip").namelist()
    assert ExportLog.objects.get().recipient == "EBMT"


def test_command_needs_the_series_name_when_there_are_several(registry, staff_admin, tmp_path):
    patient_services.case_series_create(name="Another", recorded_by=staff_admin)
    with pytest.raises(CommandError, match="--series"):
        call_command("case_series", "--format", "csv", "--output", str(tmp_path / "x"))
    call_command(
        "case_series", "--format", "html", "--output", str(tmp_path / "x.html"), "--series", "Test series",
        stdout=io.StringIO(),
    )
    assert (tmp_path / "x.html").read_text().count("<svg") == len(FIGURES)


def test_command_rejects_an_unknown_centre(registry, tmp_path):
    with pytest.raises(CommandError, match="centre"):
        call_command("case_series", "--format", "csv", "--output", str(tmp_path / "x"), "--centre", "XYZ")


# --- web downloads and the background task -------------------------------------------------------------------


def test_small_export_streams_directly_and_is_logged(client, registry, coordinator):
    client.force_login(coordinator)
    response = client.post(
        reverse("exports:download", args=[registry.series.pk]),
        {"mode": "internal", "fmt": "xlsx", "table": "all", "spread": "range", "centre": "ROM"},
    )
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="test-series-internal-')
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert len(list(book["Baseline patients"].iter_rows(min_row=2))) == 3
    log = ExportLog.objects.get()
    assert (log.user, log.mode, log.format, log.status, log.progress) == (
        coordinator, "internal", "xlsx", ExportStatus.DONE, 100
    )
    assert log.filters == {"centre": "ROM", "options": {"spread": "range"}}
    assert log.row_counts["baseline_patients"] == 3 and not log.file


@pytest.fixture
def background(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.REGISTRY_EXPORT_BACKGROUND_MIN_PATIENTS = 0
    settings.REGISTRY_EXPORT_EXPIRY_HOURS = 24
    return tmp_path


def test_large_export_runs_as_task_writes_the_file_and_reaches_100(
    client, registry, coordinator, background, django_capture_on_commit_callbacks
):
    client.force_login(coordinator)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(
            reverse("exports:download", args=[registry.series.pk]),
            {"mode": "internal", "fmt": "csv", "table": "all", "spread": "range"},
        )
    assert len(callbacks) == 1
    log = ExportLog.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("exports:status", args=[log.pk])
    assert (log.status, log.progress) == (ExportStatus.DONE, 100)
    assert log.file and (background / log.file.name).exists()
    assert log.row_counts["safety_patients"] == 3
    assert dt.timedelta(hours=23) < log.expires_at - log.created_at < dt.timedelta(hours=25)
    fragment = client.get(reverse("exports:progress", args=[log.pk]))
    assert b'value="100"' in fragment.content and b"hx-trigger" not in fragment.content
    assert reverse("exports:file", args=[log.pk]).encode() in fragment.content
    download = client.get(reverse("exports:file", args=[log.pk]))
    assert download.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    assert "safety_summary.csv" in archive.namelist()
    page = client.get(reverse("exports:mine"))
    assert reverse("exports:file", args=[log.pk]).encode() in page.content


def test_pending_export_page_polls_its_progress_with_htmx(client, registry, coordinator, background):
    request = request_for(registry, "csv")
    log = ExportLog.objects.create(
        user=coordinator, case_series=registry.series, mode="internal", format="csv", tables=list(TABLES),
        status=ExportStatus.RUNNING, progress=40, filters={"options": request.options()},
    )
    client.force_login(coordinator)
    page = client.get(reverse("exports:status", args=[log.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'value="40"' in html and 'hx-trigger="every 2s"' in html
    assert f'hx-get="{reverse("exports:progress", args=[log.pk])}"' in html
    assert "<script>" not in html  # the CSP forbids inline scripts


def test_task_builds_as_the_requesting_user_and_fails_when_access_was_revoked(registry, rome_coordinator, background):
    request = request_for(registry, "csv")
    log = ExportLog.objects.create(
        user=rome_coordinator, case_series=registry.series, mode="internal", format="csv", tables=list(TABLES),
        status=ExportStatus.PENDING, progress=0, filters={"options": request.options()},
    )
    services.export_run(log.pk)
    log.refresh_from_db()
    assert log.status == ExportStatus.DONE and log.row_counts["baseline_patients"] == 3  # Rome only
    assert services.export_run(log.pk) is None  # a redelivered task does not build twice
    rome_coordinator.memberships.all().delete()
    second = ExportLog.objects.create(
        user=rome_coordinator, case_series=registry.series, mode="internal", format="csv", tables=list(TABLES),
        status=ExportStatus.PENDING, progress=0, filters={"options": request.options()},
    )
    services.export_run(second.pk)
    second.refresh_from_db()
    assert (second.status, second.error, bool(second.file)) == (ExportStatus.FAILED, "access revoked", False)


def test_expired_files_are_purged_and_no_longer_served(
    client, registry, coordinator, background, django_capture_on_commit_callbacks
):
    client.force_login(coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("exports:download", args=[registry.series.pk]),
            {"mode": "internal", "fmt": "xlsx", "table": "baseline", "spread": "range"},
        )
    log = ExportLog.objects.get()
    path = background / log.file.name
    assert path.exists()
    assert services.export_purge_expired() == 0  # not expired yet
    ExportLog.objects.filter(pk=log.pk).update(expires_at=log.created_at)
    call_command("purge_exports", stdout=io.StringIO())
    log.refresh_from_db()
    assert (log.status, log.file.name, path.exists()) == (ExportStatus.EXPIRED, "", False)
    assert client.get(reverse("exports:file", args=[log.pk])).status_code == 404


def test_figure_download_is_logged_but_viewing_it_on_the_page_is_not(client, registry, coordinator):
    client.force_login(coordinator)
    url = reverse("exports:figure", args=[registry.series.pk, "swimmer", "svg"])
    viewed = client.get(url)
    assert viewed.status_code == 200 and viewed["Content-Type"] == "image/svg+xml"
    assert not ExportLog.objects.exists()
    downloaded = client.get(url, {"download": "1", "centre": "ROM"})
    assert downloaded["Content-Disposition"].endswith('-swimmer.svg"')
    log = ExportLog.objects.get()
    assert (log.format, log.tables, log.filters["centre"]) == ("svg", ["figure:swimmer"], "ROM")
    png = client.get(reverse("exports:figure", args=[registry.series.pk, "kinetics", "png"]))
    assert png.content.startswith(PNG_MAGIC)


def test_series_page_lists_tables_with_filters_and_download_buttons(client, registry, coordinator):
    client.force_login(coordinator)
    response = client.get(reverse("exports:series", args=[registry.series.pk]), {"diagnosis": "sle"})
    assert response.status_code == 200
    html = response.content.decode()
    for title in ("Baseline characteristics", "Manufacturing and dosing", "Safety", "Efficacy"):
        assert title in html
    assert "3 patients selected, 2 with day 0" in html
    assert "figures/swimmer.svg?diagnosis=sle" in html
    assert reverse("exports:download", args=[registry.series.pk]) in html
    assert "<script>" not in html and "style=" not in html
    index = client.get(reverse("exports:index"))
    assert registry.series.name in index.content.decode()


def test_an_error_while_the_course_is_computed_reaches_the_caller_and_leaves_the_collector_on(
    registry, monkeypatch
):
    """The course and safety summaries are computed on a worker thread while the connection reads on: a
    failure there is the export's failure (no table built from half the data), and the garbage collector
    paused for the load is running again."""
    import gc

    def broken(*args, **kwargs):
        raise RuntimeError("course computation failed")

    monkeypatch.setattr(selectors, "course_summaries", broken)
    with pytest.raises(RuntimeError, match="course computation failed"):
        selectors.series_data(registry.series, centre_ids=None)
    assert gc.isenabled()


def test_a_case_series_name_with_a_null_character_is_a_field_error(staff_admin):
    """Found by the service fuzzer: PostgreSQL refused the name instead of the validation naming the field."""
    from django.core.exceptions import ValidationError

    from registry.models import CaseSeries

    with pytest.raises(ValidationError) as err:
        patient_services.case_series_create(name="Erlangen\x00 2026", recorded_by=staff_admin)
    assert err.value.message_dict["name"] == ["Null characters are not allowed."]
    assert not CaseSeries.objects.filter(name__startswith="Erlangen").exists()
