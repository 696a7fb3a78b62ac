"""Issue 7 acceptance: with the demo loaded, the INTERNAL summary tables of the demo case series state the
published aggregates of the seed series (``reference/SEED.md``), read back from the generated CSV and XLSX.

8 patients; 4 SLE / 3 JDM / 1 SSc; 5 Rome / 3 Erlangen; 7 female; age 5–17; dose 1 × 10⁶/kg; CRS grade 1 in 6
(75.0 %), none higher; ICANS grade 1 in 1 (12.5 %); late ICAHT grade 1 in 2; no severe infection; follow-up
median 16.5 months (range 9–24); immunomodulators stopped in 8/8.

The demo is loaded once for the module (``call_command("load_demo")``), the exports are written by the
``case_series`` command, and everything is rolled back afterwards. The figures that need the demo toxicity
or follow-up loaders are skipped while ``registry/demo_toxicity.py`` / ``registry/demo_followup.py`` do not
exist yet — or exist but ``load_demo`` does not load their data yet.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import re
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest
from django.core.management import call_command
from django.db import transaction

# Marked as a database test so pytest-django runs it before the transactional tests, whose flush at teardown
# empties the schedule timepoints that migrations load (and that the demo follow-up needs).
pytestmark = pytest.mark.django_db

HAS_TOXICITY_LOADER = importlib.util.find_spec("registry.demo_toxicity") is not None
HAS_FOLLOWUP_LOADER = importlib.util.find_spec("registry.demo_followup") is not None
needs_toxicity = pytest.mark.skipif(
    not HAS_TOXICITY_LOADER, reason="demo toxicity loader registry/demo_toxicity.py not written yet"
)
needs_followup = pytest.mark.skipif(
    not HAS_FOLLOWUP_LOADER, reason="demo follow-up loader registry/demo_followup.py not written yet"
)
SOURCES = ["csv", "xlsx"]
TABLE_SHEETS = {"baseline": "Baseline summary", "dosing": "Dosing summary", "safety": "Safety summary",
                "efficacy": "Efficacy summary"}
MEDIAN_RANGE = re.compile(r"^(-?[\d.]+) \((-?[\d.]+)–(-?[\d.]+)\)$")
COUNT_PERCENT = re.compile(r"^(\d+) \(([\d.]+)%\)$")


@dataclass
class Published:
    directory: Path
    summaries: dict[str, dict[str, dict[str, dict[str, str]]]]  # source → table → characteristic → row
    toxicity_loaded: bool
    followup_loaded: bool


def _csv_summaries(directory: Path) -> dict[str, dict[str, dict[str, str]]]:
    result = {}
    for table in TABLE_SHEETS:
        with open(directory / f"{table}_summary.csv", encoding="utf-8", newline="") as handle:
            result[table] = {row["characteristic"]: row for row in csv.DictReader(handle)}
    return result


def _xlsx_summaries(path: Path) -> dict[str, dict[str, dict[str, str]]]:
    book = openpyxl.load_workbook(path, read_only=True)
    keys = {"Section": "section", "Characteristic": "characteristic", "Statistic": "statistic",
            "All patients": "all", "SLE": "sle", "JDM": "jdm", "SSc": "ssc"}
    result = {}
    for table, sheet in TABLE_SHEETS.items():
        rows = list(book[sheet].iter_rows(values_only=True))
        header = [keys.get(h, h) for h in rows[0]]
        table_rows = {}
        for values in rows[1:]:
            if not values or values[1] is None:  # the notes under the table
                continue
            row = dict(zip(header, values, strict=False))
            table_rows[row["characteristic"]] = row
        result[table] = table_rows
    return result


@pytest.fixture(scope="module")
def published(django_db_setup, django_db_blocker, tmp_path_factory) -> Published:
    from adverse_events.models import CrsAssessment
    from outcomes.models import Visit

    out = tmp_path_factory.mktemp("published")
    with django_db_blocker.unblock(), transaction.atomic():
        call_command("load_demo", stdout=io.StringIO())
        call_command(
            "case_series", "--table", "all", "--format", "csv", "--output", str(out / "csv"), stdout=io.StringIO()
        )
        call_command(
            "case_series", "--table", "all", "--format", "xlsx", "--output", str(out / "series.xlsx"),
            stdout=io.StringIO(),
        )
        toxicity, followup = CrsAssessment.objects.exists(), Visit.objects.exists()
        transaction.set_rollback(True)  # leave the test database as it was
    return Published(
        directory=out,
        summaries={"csv": _csv_summaries(out / "csv"), "xlsx": _xlsx_summaries(out / "series.xlsx")},
        toxicity_loaded=toxicity,
        followup_loaded=followup,
    )


def table(published: Published, source: str, name: str) -> dict[str, dict[str, str]]:
    if name == "safety" and not published.toxicity_loaded:
        pytest.skip("registry/demo_toxicity.py exists but load_demo does not load the toxicity course yet")
    if name == "efficacy" and not published.followup_loaded:
        pytest.skip("registry/demo_followup.py exists but load_demo does not load the follow-up yet")
    return published.summaries[source][name]


def all_patients(rows: dict[str, dict[str, str]], characteristic: str) -> str:
    assert characteristic in rows, (characteristic, sorted(rows))
    return str(rows[characteristic]["all"])


def median_range(cell: str) -> tuple[float, float, float]:
    match = MEDIAN_RANGE.match(cell)
    assert match, cell
    return tuple(float(x) for x in match.groups())  # type: ignore[return-value]


def count_percent(cell: str) -> tuple[int, float]:
    match = COUNT_PERCENT.match(cell)
    assert match, cell
    return int(match.group(1)), float(match.group(2))


@pytest.mark.parametrize("source", SOURCES)
def test_eight_patients(published, source):
    baseline = table(published, source, "baseline")
    assert all_patients(baseline, "Patients") == "8"
    assert all_patients(table(published, source, "dosing"), "Infused (day 0 recorded)") == "8 (100.0%)"


@pytest.mark.parametrize("source", SOURCES)
def test_four_sle_three_jdm_one_ssc(published, source):
    baseline = table(published, source, "baseline")
    assert count_percent(all_patients(baseline, "Diagnosis: Systemic lupus erythematosus")) == (4, 50.0)
    assert count_percent(all_patients(baseline, "Diagnosis: Juvenile dermatomyositis")) == (3, 37.5)
    assert count_percent(all_patients(baseline, "Diagnosis: Systemic sclerosis")) == (1, 12.5)


@pytest.mark.parametrize("source", SOURCES)
def test_five_rome_three_erlangen(published, source):
    baseline = table(published, source, "baseline")
    centres = {k: v["all"] for k, v in baseline.items() if k.startswith("Centre: ")}
    assert len(centres) == 2
    rome = next(v for k, v in centres.items() if k.endswith("(ROM)"))
    erlangen = next(v for k, v in centres.items() if k.endswith("(ERL)"))
    assert count_percent(rome) == (5, 62.5)
    assert count_percent(erlangen) == (3, 37.5)


@pytest.mark.parametrize("source", SOURCES)
def test_seven_female(published, source):
    baseline = table(published, source, "baseline")
    assert count_percent(all_patients(baseline, "Sex: female")) == (7, 87.5)
    assert count_percent(all_patients(baseline, "Sex: male")) == (1, 12.5)


@pytest.mark.parametrize("source", SOURCES)
def test_age_at_infusion_5_to_17(published, source):
    _median, low, high = median_range(all_patients(table(published, source, "baseline"), "Age at infusion, years"))
    assert (low, high) == (5, 17)


@pytest.mark.parametrize("source", SOURCES)
def test_dose_one_million_car_t_cells_per_kg(published, source):
    dosing = table(published, source, "dosing")
    assert median_range(all_patients(dosing, "Dose, ×10⁶ CAR T cells/kg")) == (1.0, 1.0, 1.0)
    assert all_patients(dosing, "Manufacturing: successful") == "8 (100.0%)"
    assert median_range(all_patients(dosing, "Drug-product bags per run, n"))[1] >= 2  # several bags each
    assert all_patients(dosing, "Regimen: Flu/Cy") == "8 (100.0%)"


@needs_toxicity
@pytest.mark.parametrize("source", SOURCES)
def test_crs_grade_1_in_six_none_higher(published, source):
    safety = table(published, source, "safety")
    assert all_patients(safety, "CRS: grade 1") == "6 (75.0%)"
    assert all_patients(safety, "CRS: any grade") == "6 (75.0%)"
    for grade in (2, 3, 4, 5):
        assert all_patients(safety, f"CRS: grade {grade}") == "0 (0.0%)"


@needs_toxicity
@pytest.mark.parametrize("source", SOURCES)
def test_icans_grade_1_in_one(published, source):
    safety = table(published, source, "safety")
    assert all_patients(safety, "ICANS: grade 1") == "1 (12.5%)"
    assert all_patients(safety, "ICANS: any grade") == "1 (12.5%)"
    for grade in (2, 3, 4, 5):
        assert all_patients(safety, f"ICANS: grade {grade}") == "0 (0.0%)"


@needs_toxicity
@pytest.mark.parametrize("source", SOURCES)
def test_late_icaht_grade_1_in_two(published, source):
    safety = table(published, source, "safety")
    assert count_percent(all_patients(safety, "Late ICAHT: grade 1")) == (2, 25.0)
    for grade in (2, 3, 4):
        assert all_patients(safety, f"Late ICAHT: grade {grade}") == "0 (0.0%)"


@needs_toxicity
@pytest.mark.parametrize("source", SOURCES)
def test_no_severe_infections(published, source):
    assert all_patients(table(published, source, "safety"), "Severe infection (grade ≥ 3)") == "0 (0.0%)"


@needs_followup
@pytest.mark.parametrize("source", SOURCES)
def test_follow_up_median_16_5_months_range_9_to_24(published, source):
    assert median_range(all_patients(table(published, source, "efficacy"), "Follow-up, months")) == (16.5, 9, 24)


@needs_followup
@pytest.mark.parametrize("source", SOURCES)
def test_immunomodulators_stopped_in_all_eight(published, source):
    efficacy = table(published, source, "efficacy")
    assert all_patients(efficacy, "Patients with day 0") == "8"
    assert all_patients(efficacy, "Immunomodulator-free at last follow-up") == "8 (100.0%)"
    assert "Immunomodulator-free at last follow-up: not evaluable" not in efficacy


def test_csv_and_xlsx_state_the_same_figures(published):
    for name in TABLE_SHEETS:
        csv_rows, xlsx_rows = published.summaries["csv"][name], published.summaries["xlsx"][name]
        assert list(csv_rows) == list(xlsx_rows)
        for characteristic, row in csv_rows.items():
            assert str(xlsx_rows[characteristic]["all"]) == row["all"], characteristic
