"""Absurd input posted to every browser form: never a server error, a field-specific message, nothing saved.

The forms are enumerated from the forms modules of the four clinical apps; each concrete form must be reached
by at least one view below (a new form without one fails :func:`test_every_browser_form_is_fuzzed`). The POST
data are derived from the fields of the form the view itself renders (its querysets, choices and initial
values), mixing the real initial value of each field with absurd text, so new fields are fuzzed without
changes here. Each hypothesis example runs in a savepoint that is rolled back.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from typing import Any

import pytest
from django import forms
from django.db import transaction
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from tests.reliability.absurd import (
    FUZZ_SETTINGS,
    date_texts,
    numbers_text,
    texts,
)
from tests.reliability.fuzz_world import DAY0, DOB_TEEN, row_counts, world

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
FIXTURES = (world,)  # the module-scoped clinic of fuzz_world, requested by name below

FORM_MODULES = (
    "patients.forms",
    "dosing.forms",
    "outcomes.forms",
    "outcomes.forms.labs",
    "outcomes.forms.visits",
    "outcomes.forms.medications",
    "adverse_events.forms",
)
APP_PREFIXES = ("patients.", "dosing.", "outcomes.", "adverse_events.")


def browser_forms() -> set[type]:
    """Every Form class defined in the clinical apps' forms modules (bases included)."""
    found = set()
    for name in FORM_MODULES:
        for obj in vars(importlib.import_module(name)).values():
            if (
                inspect.isclass(obj)
                and issubclass(obj, forms.BaseForm)
                and obj.__module__.startswith(APP_PREFIXES)
            ):
                found.add(obj)
    return found


def _f(module: str, name: str) -> type:
    return getattr(importlib.import_module(module), name)


# Base classes that no view renders by themselves.
ABSTRACT = {("patients.forms", "RecordForm"), ("outcomes.forms.visits", "VisitForm")}

Url = Callable[[dict[str, int]], str]


def _u(name: str, *keys: str) -> Url:
    return lambda pks: reverse(name, args=[pks[k] for k in keys])


# (case id, form class, method, url of the view that renders and saves it)
CASES: list[tuple[str, tuple[str, str], str, Url]] = [
    ("enrol", ("patients.forms", "EnrolForm"), "post", lambda pks: reverse("patients:enrol")),
    ("patient_edit", ("patients.forms", "PatientEditForm"), "post", _u("patients:edit", "sle")),
    ("identity", ("patients.forms", "IdentityForm"), "post", _u("patients:identity", "sle")),
    ("status", ("patients.forms", "StatusForm"), "post", _u("patients:status", "sle")),
    ("patient_void", ("patients.forms", "VoidForm"), "post", _u("patients:void", "pre")),
    (
        "record_void",
        ("patients.forms", "VoidForm"),
        "post",
        lambda pks: reverse(
            "patients:record_void", args=[pks["sle"], "patients", "priortherapy", pks["therapy"]]
        ),
    ),
    ("organ", ("patients.forms", "OrganInvolvementForm"), "post", _u("patients:organ_add", "sle")),
    ("therapy", ("patients.forms", "PriorTherapyForm"), "post", _u("patients:therapy_add", "sle")),
    ("growth", ("patients.forms", "GrowthForm"), "post", _u("patients:growth_add", "sle")),
    ("patient_list", ("patients.forms", "PatientFilterForm"), "get", lambda pks: reverse("patients:list")),
    ("apheresis", ("dosing.forms", "ApheresisForm"), "post", _u("dosing:apheresis_add", "pre")),
    ("admission", ("dosing.forms", "AdmissionForm"), "post", _u("dosing:admission_add", "sle")),
    (
        "discharge",
        ("dosing.forms", "DischargeForm"),
        "post",
        _u("dosing:admission_discharge", "sle", "admission"),
    ),
    ("run", ("dosing.forms", "ManufacturingRunForm"), "post", _u("dosing:run_add", "pre")),
    ("bag", ("dosing.forms", "ProductBagForm"), "post", _u("dosing:bag_add", "pre", "pre_run")),
    (
        "release_test",
        ("dosing.forms", "ReleaseTestForm"),
        "post",
        _u("dosing:release_test_add", "pre", "pre_run"),
    ),
    (
        "lymphodepletion",
        ("dosing.forms", "LymphodepletionForm"),
        "post",
        _u("dosing:lymphodepletion_add", "pre"),
    ),
    ("infusion", ("dosing.forms", "InfusionForm"), "post", _u("dosing:infusion_add", "pre")),
    ("visit_sle", ("outcomes.forms.visits", "SleVisitForm"), "post", _u("outcomes:visit_add", "sle")),
    ("visit_jdm", ("outcomes.forms.visits", "JdmVisitForm"), "post", _u("outcomes:visit_add", "jdm")),
    ("visit_ssc", ("outcomes.forms.visits", "SscVisitForm"), "post", _u("outcomes:visit_add", "ssc")),
    (
        "visit_sle_edit",
        ("outcomes.forms.visits", "SleVisitForm"),
        "post",
        _u("outcomes:visit_edit", "sle", "visit_sle"),
    ),
    (
        "visit_jdm_edit",
        ("outcomes.forms.visits", "JdmVisitForm"),
        "post",
        _u("outcomes:visit_edit", "jdm", "visit_jdm"),
    ),
    (
        "visit_ssc_edit",
        ("outcomes.forms.visits", "SscVisitForm"),
        "post",
        _u("outcomes:visit_edit", "ssc", "visit_ssc"),
    ),
    ("lab_grid", ("outcomes.forms.labs", "LabGridForm"), "post", _u("outcomes:lab_grid", "sle")),
    ("lab_paste", ("outcomes.forms.labs", "LabPasteForm"), "post", _u("outcomes:lab_paste", "sle")),
    (
        "medication",
        ("outcomes.forms.medications", "MedicationForm"),
        "post",
        _u("outcomes:medication_add", "sle"),
    ),
    (
        "medication_stop",
        ("outcomes.forms.medications", "MedicationStopForm"),
        "post",
        _u("outcomes:medication_stop", "sle", "medication"),
    ),
    ("crs", ("adverse_events.forms", "CrsForm"), "post", _u("adverse_events:crs_add", "sle")),
    (
        "crs_edit",
        ("adverse_events.forms", "CrsEditForm"),
        "post",
        _u("adverse_events:crs_edit", "sle", "crs"),
    ),
    ("icans_ice", ("adverse_events.forms", "IcansForm"), "post", _u("adverse_events:icans_add", "sle")),
    ("icans_capd", ("adverse_events.forms", "IcansForm"), "post", _u("adverse_events:icans_add", "jdm")),
    (
        "icans_edit",
        ("adverse_events.forms", "IcansEditForm"),
        "post",
        _u("adverse_events:icans_edit", "sle", "icans"),
    ),
    (
        "blood_counts",
        ("adverse_events.forms", "BloodCountForm"),
        "post",
        _u("adverse_events:blood_counts_add", "sle"),
    ),
    (
        "supportive_care",
        ("adverse_events.forms", "SupportiveCareForm"),
        "post",
        _u("adverse_events:supportive_care_add", "sle"),
    ),
    (
        "infection",
        ("adverse_events.forms", "InfectionForm"),
        "post",
        _u("adverse_events:infection_add", "sle"),
    ),
    (
        "adverse_event",
        ("adverse_events.forms", "AdverseEventForm"),
        "post",
        _u("adverse_events:adverse_event_add", "sle"),
    ),
    (
        "toxicity_void",
        ("patients.forms", "VoidForm"),
        "post",
        lambda pks: reverse("adverse_events:void", args=[pks["sle"], "infection", pks["infection"]]),
    ),
]

# Form-wide messages that concern the whole record (anything else must be on a field or name one).
FORM_WIDE = (
    r"^[A-Z][\w /+-]*: ",  # "Label: message", a service error re-labelled by add_service_errors
    r"Enter at least one value",
    r"was voided \(entered in error\)",
    r"Consent was withdrawn",
    r"changed by someone else",
    r"already voided",
    r"Paste at least one line",
)


# --- POST data from the rendered form's own fields -------------------------------------------------------------


def _initial(form: forms.BaseForm, name: str) -> Any:
    value = form[name].value()
    return "" if value is None else value


def _times() -> st.SearchStrategy[str]:
    return st.one_of(
        st.times().map(lambda t: t.strftime("%H:%M")),
        st.sampled_from(["", "24:00", "23:61", "8.30", "noon", "-1:00", "99:99:99"]),
    )


def _datetimes() -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(date_texts(DOB_TEEN, DAY0), _times()).map(lambda p: f"{p[0]}T{p[1]}"),
        st.tuples(date_texts(DOB_TEEN, DAY0), _times()).map(lambda p: f"{p[0]} {p[1]}"),
        texts(),
    )


def _pk_values(field: forms.ModelChoiceField) -> list[str]:
    return [str(pk) for pk in field.queryset.values_list("pk", flat=True)[:20]]


def value_strategy(field: forms.Field, initial: Any) -> st.SearchStrategy[Any]:
    """Absurd text for one form field, mixed with its real initial value (to reach the service)."""
    keep = st.just(initial)
    if isinstance(field, forms.ModelMultipleChoiceField):
        pks = _pk_values(field)
        return st.one_of(
            st.lists(st.sampled_from(pks or ["1"]), max_size=3, unique=True),
            st.lists(st.sampled_from(["", "0", "-1", "999999", "abc", "1.5"]), max_size=2),
        )
    if isinstance(field, forms.ModelChoiceField):
        return st.one_of(
            keep, st.sampled_from(_pk_values(field) or [""]), st.sampled_from(["", "0", "999999", "x"])
        )
    if isinstance(field, forms.MultipleChoiceField):
        values = [str(v) for v, _label in field.choices if v != ""]
        return st.lists(st.one_of(st.sampled_from(values), st.sampled_from(["", "bogus"])), max_size=4)
    if isinstance(field, forms.ChoiceField):
        values = [str(v) for v, _label in field.choices if not isinstance(_label, list | tuple)]
        return st.one_of(keep, st.sampled_from(values or [""]), st.sampled_from(["", "bogus", "x" * 300]))
    if isinstance(field, forms.BooleanField):
        return st.sampled_from(["on", "", "false", "0", "True"])
    if isinstance(field, forms.DateTimeField):
        return st.one_of(keep, _datetimes())
    if isinstance(field, forms.DateField):
        return st.one_of(keep, date_texts(DOB_TEEN, DAY0))
    if isinstance(field, forms.TimeField):
        return st.one_of(keep, _times())
    if isinstance(field, forms.IntegerField | forms.DecimalField | forms.FloatField):
        return st.one_of(keep, numbers_text())
    if isinstance(field, forms.CharField):
        return st.one_of(keep, texts(), numbers_text())
    raise AssertionError(f"no fuzz strategy for {type(field).__name__}: add one to value_strategy")


def data_strategy(form: forms.BaseForm) -> st.SearchStrategy[dict[str, Any]]:
    """POST data for every field of ``form``; each field may also be left out."""
    parts: dict[str, st.SearchStrategy] = {}
    for name, field in form.fields.items():
        bound = form[name]
        if isinstance(field, forms.MultiValueField):
            initial = (
                field.widget.decompress(bound.value())
                if not isinstance(bound.value(), list)
                else bound.value()
            )
            for index, (suffix, sub) in enumerate(zip(field.widget.widgets_names, field.fields, strict=True)):
                sub_initial = initial[index] if initial and index < len(initial) else ""
                parts[f"{bound.html_name}{suffix}"] = value_strategy(
                    sub, "" if sub_initial is None else sub_initial
                )
            continue
        parts[bound.html_name] = value_strategy(field, _initial(form, name))
    required = {k: v for k, v in parts.items() if k in ("row_version",)}
    optional = {k: v for k, v in parts.items() if k not in required}
    return st.fixed_dictionaries(required, optional=optional)


# --- the checks ------------------------------------------------------------------------------------------------


def assert_rejection_names_fields(form: forms.BaseForm) -> None:
    assert form.errors, "the form was re-shown without any error message"
    for key, messages in form.errors.items():
        assert all(str(m).strip() for m in messages), key
        if key == "__all__":
            for message in messages:
                assert any(re.search(p, str(message)) for p in FORM_WIDE), (
                    f"form-wide error names no field: {message!r}"
                )
        else:
            assert key in form.fields, f"error on {key!r}, which is not a field of the form"


def test_every_browser_form_is_fuzzed():
    fuzzed = {_f(*form) for _case, form, _method, _url in CASES}
    abstract = {_f(*form) for form in ABSTRACT}
    missing = sorted(cls.__qualname__ for cls in browser_forms() - fuzzed - abstract)
    assert missing == [], f"browser forms without a fuzz case: {missing}"


@pytest.mark.parametrize(("case", "form_class", "method", "url"), CASES, ids=[c[0] for c in CASES])
def test_absurd_posts_never_fail_and_rejections_name_a_field_and_save_nothing(
    case, form_class, method, url, world, client
):
    client.force_login(world.user)
    target = url(world.pks)
    page = client.get(target)
    assert page.status_code == 200
    form = page.context["filters" if method == "get" else "form"]
    assert type(form) is _f(*form_class)
    strategy = data_strategy(form)
    seen = {"saved": 0, "rejected": 0}

    @FUZZ_SETTINGS
    @given(data=strategy)
    def run(data: dict[str, Any]) -> None:
        with transaction.atomic():
            before = row_counts()
            if method == "get":
                response = client.get(target, data)
                assert response.status_code == 200
            else:
                response = client.post(target, data)
                assert response.status_code in (200, 302), response.status_code
                if response.status_code == 200:
                    seen["rejected"] += 1
                    assert row_counts() == before, "a rejected form left rows behind"
                    assert_rejection_names_fields(response.context["form"])
                else:
                    seen["saved"] += 1
            transaction.set_rollback(True)

    run()
    if method == "post":
        assert seen["rejected"] > 0
