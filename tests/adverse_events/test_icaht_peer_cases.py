"""ICAHT peer cases: 18 (early, late) grades from an independent implementation
(reference/ICAHT_PEER_CASES.json) that adverse_events.grading.icaht_grade must reproduce. No database, no
Django.

The cases are read from the copy kept in this repository (tests/adverse_events/data/icaht_peer_cases.json);
when it is missing, from the shared reference folder beside the checkout, or from $REGISTRY_SHARED_DIR.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from adverse_events.grading import icaht_assessment, icaht_grade

CASES_FILE_NAME = "ICAHT_PEER_CASES.json"
EXPECTED_CASE_COUNT = 18


def _candidate_paths() -> list[Path]:
    here = Path(__file__).resolve()
    candidates = [here.parent / "data" / "icaht_peer_cases.json"]
    if len(here.parents) > 3:
        candidates.append(here.parents[3] / "shared" / "reference" / CASES_FILE_NAME)
    shared_dir = os.environ.get("REGISTRY_SHARED_DIR")
    if shared_dir:
        base = Path(shared_dir)
        candidates += [base / "reference" / CASES_FILE_NAME, base / CASES_FILE_NAME]
    return candidates


def _cases_path() -> Path | None:
    return next((path for path in _candidate_paths() if path.is_file()), None)


CASES_PATH = _cases_path()
SKIP_REASON = (
    "ICAHT peer cases not found; looked in: "
    + ", ".join(str(path) for path in _candidate_paths())
    + " (set REGISTRY_SHARED_DIR to the folder holding reference/ICAHT_PEER_CASES.json)"
)


def _case_id(index: int, case: dict) -> str:
    notes = case.get("notes", "")
    match = re.search(r"\[patient (\d+), (\w+) variant\]", notes)
    if match:
        return f"case{index:02d}-patient{match.group(1)}-{match.group(2).lower()}"
    match = re.search(r"patient_id=(\d+)", case.get("source", ""))
    return f"case{index:02d}-patient{match.group(1) if match else 'unknown'}"


def _load_cases() -> list[dict]:
    if CASES_PATH is None:
        return []
    with CASES_PATH.open(encoding="utf-8") as handle:
        return json.load(handle)["cases"]


CASES = _load_cases()
CASE_PARAMS = [pytest.param(case, id=_case_id(index, case)) for index, case in enumerate(CASES)] or [
    pytest.param(None, id="no-peer-cases", marks=pytest.mark.skip(reason=SKIP_REASON))
]


@pytest.mark.skipif(CASES_PATH is None, reason=SKIP_REASON)
def test_peer_case_file_holds_all_18_cases():
    assert len(CASES) == EXPECTED_CASE_COUNT
    for case in CASES:
        assert {"anc", "early", "late"} <= set(case)


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_icaht_reproduces_the_peer_implementation(case):
    anc = [(day, value) for day, value in case["anc"]]
    assert icaht_grade(anc) == (case["early"], case["late"]), case.get("notes", "")


FIGURES = re.compile(
    r"longest d500=(?P<d500>\d+), longest d100=(?P<d100>\d+);.*anc_1=(?P<anc1>\d+|NA), anc_2=(?P<anc2>\d+|NA)"
)


def _figure(text: str) -> float | None:
    return None if text == "NA" else float(text)


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_icaht_figures_match_the_peer_implementation(case):
    # The notes quote the peer's longest episodes and its lowest and second-lowest late values.
    match = FIGURES.search(case.get("notes", ""))
    if match is None:
        pytest.skip("this case quotes no figures")
    result = icaht_assessment([(day, value) for day, value in case["anc"]])
    assert result["early_longest_days_le_500"] == int(match["d500"])
    assert result["early_longest_days_le_100"] == int(match["d100"])
    assert result["late_nadir_anc"] == _figure(match["anc1"])
    assert result["late_second_lowest_anc"] == _figure(match["anc2"])
