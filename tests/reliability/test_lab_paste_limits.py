"""Pasted laboratory grids at scale: thousands of lines, the 5,000-line limit, absurd values, decimal commas,
unknown analytes and units. Every error names its line; one bad line saves nothing."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from outcomes import services
from outcomes.forms import LabPasteForm
from outcomes.models import LabResult
from tests.registry.exports_factory import DAY0, infused
from tests.reliability.absurd import FUZZ_SETTINGS, numbers_text

pytestmark = pytest.mark.django_db

LIMIT = services.MAX_GRID_ROWS


@pytest.fixture
def patient(rome, rome_clinician):
    return infused(rome, rome_clinician)


@pytest.fixture
def browser(client, rome_clinician):
    client.force_login(rome_clinician)
    return client


def _line(n: int, value: str = "1,5", analyte: str = "anc", unit: str = "10^9/L") -> str:
    moment = dt.datetime.combine(DAY0 + dt.timedelta(days=1 + n % 60), dt.time(8, n % 60))
    return f"{moment:%d.%m.%Y %H:%M}\t{analyte}\t{value}\t{unit}"


def _paste(browser, patient, lines: list[str]):
    url = reverse("outcomes:lab_paste", args=[patient.pk])
    return browser.post(url, {"lines": "\n".join(lines), "source": "local_lab"})


def _errors(response) -> list[str]:
    return [str(m) for m in response.context["form"].errors.get("lines", [])]


def test_the_limit_itself_is_accepted_and_one_line_more_is_refused_with_a_clear_message(browser, patient):
    lines = [_line(n) for n in range(LIMIT + 1)]
    response = _paste(browser, patient, lines)
    assert response.status_code == 200
    assert _errors(response) == [
        f"At most {LIMIT} lines can be pasted at once; split the paste (got {LIMIT + 1})."
    ]
    assert not LabResult.objects.filter(patient=patient).exists()
    # With a header line the same 5,000 values are within the limit, and the last one is checked like the first.
    header = "Date\tAnalyte\tValue\tUnit"
    response = _paste(browser, patient, [header, *lines[: LIMIT - 1], _line(LIMIT, value="12,3,4")])
    assert response.status_code == 200
    errors = _errors(response)
    assert len(errors) == 1 and errors[0].startswith(f"Line {LIMIT + 1}, value: ")
    assert not LabResult.objects.filter(patient=patient).exists()


def test_the_service_refuses_more_than_the_limit_whatever_calls_it(patient, rome_clinician):
    item = services.LabInput("anc", "1,5", "10^9/L", dt.datetime.combine(DAY0, dt.time(8), tzinfo=dt.UTC))
    with pytest.raises(ValidationError) as exc:
        services.lab_results_record_many(
            patient=patient, items=[item] * (LIMIT + 1), recorded_by=rome_clinician
        )
    assert f"At most {LIMIT} values" in exc.value.messages[0]
    assert not LabResult.objects.filter(patient=patient).exists()


def test_thousands_of_lines_with_one_absurd_value_save_nothing_and_name_the_line(browser, patient):
    lines = [_line(n) for n in range(3000)]
    lines[2718] = _line(2718, value="1e309")
    lines[999] = _line(999, value="-4")
    lines[1500] = _line(1500, unit="mg/dL")
    lines[42] = _line(42, analyte="unobtainium")
    response = _paste(browser, patient, lines)
    assert response.status_code == 200
    errors = _errors(response)
    # The analyte is checked while parsing; the values and units by the service once the lines parse.
    assert errors and errors[0].startswith("Line 43, analyte: 'unobtainium' is not a known analyte")
    lines[42] = _line(42)
    response = _paste(browser, patient, lines)
    errors = _errors(response)
    assert {e.split(":")[0] for e in errors} == {"Line 1000, value", "Line 1501, unit", "Line 2719, value"}
    assert any("cannot be negative" in e for e in errors)
    assert any("'mg/dL' is not a unit for Absolute neutrophil count" in e for e in errors)
    assert any("not a finite number" in e for e in errors)
    assert not LabResult.objects.filter(patient=patient).exists()


def test_two_thousand_mixed_decimal_comma_lines_are_saved_exactly(browser, patient):
    lines = [_line(n, value=f"{n % 9},{n % 10}" if n % 2 else f"{n % 9}.{n % 10}") for n in range(2000)]
    response = _paste(browser, patient, lines)
    assert response.status_code == 302
    saved = LabResult.objects.filter(patient=patient, analyte="anc").order_by("pk")
    assert saved.count() == 2000
    values = list(saved.values_list("value", flat=True))
    assert values[:4] == [0.0, 1100.0, 2200.0, 3300.0]  # 10^9/L → cells/µL, comma or point alike


_ANALYTE_UNITS = [("anc", "10^9/L"), ("platelets", "G/L"), ("haemoglobin", "g/dL"), ("crp", "mg/L")]


def _random_line() -> st.SearchStrategy[str]:
    good = st.tuples(st.integers(0, 500), st.sampled_from(_ANALYTE_UNITS), st.integers(1, 99)).map(
        lambda p: _line(p[0], value=f"{p[2] // 10},{p[2] % 10}", analyte=p[1][0], unit=p[1][1])
    )
    bad = st.one_of(
        st.tuples(st.integers(0, 500), numbers_text()).map(lambda p: _line(p[0], value=p[1])),
        st.tuples(st.integers(0, 500), st.text(max_size=12)).map(lambda p: _line(p[0], unit=p[1])),
        st.tuples(st.integers(0, 500), st.text(max_size=12)).map(lambda p: _line(p[0], analyte=p[1])),
        st.text(max_size=60),
        st.sampled_from(
            [
                "31.02.2025 08:00\tanc\t1,5\t10^9/L",
                "2025-01-01 25:00;anc;1;10^9/L",
                "0001-01-01 00:00\tanc\t1\t10^9/L",
                "9999-12-31 23:59\tanc\t1\t10^9/L",
                "2025-01-01\t08:00\tanc\t1,5\t10^9/L\t1\t2\t3",
                "\t\t\t",
            ]
        ),
    )
    return st.one_of(good, good, bad)


@FUZZ_SETTINGS
@given(lines=st.lists(_random_line(), min_size=1, max_size=40))
def test_random_grids_are_saved_whole_or_refused_line_by_line(patient, rome_clinician, lines):
    # The paste box's own steps (as the view runs them), without rendering the page for every example.
    with transaction.atomic():
        before = LabResult.objects.count(), LabResult.history.count()
        form = LabPasteForm({"lines": "\n".join(lines), "source": "local_lab"}, patient=patient)
        saved = None
        if form.is_valid():
            try:
                saved = services.lab_results_record_many(
                    patient=patient, items=form.items(), recorded_by=rome_clinician
                )
            except ValidationError as exc:
                form.service_errors_to_lines(exc)
        if saved is not None:
            filled = [raw for raw in lines if raw.strip()]
            assert len(saved) in (len(filled), len(filled) - 1)  # a first line without digits is a header
            assert LabResult.objects.count() - before[0] == len(saved)
        else:
            assert (LabResult.objects.count(), LabResult.history.count()) == before
            errors = [str(m) for m in form.errors.get("lines", [])]
            assert errors and set(form.errors) == {"lines"}
            for message in errors:
                assert re.match(
                    # Django refuses a NUL anywhere in the box before the lines are read.
                    r"^(Line \d+, [\w ]+: .+|Paste at least one line\.|This field is required\."
                    r"|Null characters are not allowed\.)$",
                    message,
                    re.S,
                ), message
        transaction.set_rollback(True)
