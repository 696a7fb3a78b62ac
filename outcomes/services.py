"""Writes of follow-up data. Laboratory results: one value at a time, or a whole grid in one transaction."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from adverse_events import grading
from outcomes.labs import CTCAE_TERM_FOR_ANALYTE, analyte
from outcomes.models import LabResult, LabSource
from patients.models import Patient
from registry.audit import require_reason, save_audited
from registry.records import check_accepts_new_data, field_error

MAX_GRID_ROWS = 5000  # a pasted grid larger than this is refused with a clear message


def parse_number(field: str, raw: Any) -> Decimal:
    """A reported number: decimal point or comma, scientific notation allowed; finite and not negative."""
    text = str(raw).strip().replace(",", ".") if raw is not None else ""
    if not text:
        raise field_error(field, _("A value is required."))
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise field_error(
            field, _("'%(v)s' is not a number (use digits with a decimal point or comma)."), v=raw
        ) from None
    if not value.is_finite():
        raise field_error(field, _("'%(v)s' is not a finite number."), v=raw)
    if value < 0:
        raise field_error(field, _("A laboratory value cannot be negative (got %(v)s)."), v=raw)
    return value


def local_date(moment: dt.datetime, tz_name: str) -> dt.date:
    return timezone.localtime(moment, zoneinfo.ZoneInfo(tz_name)).date()


@dataclass(frozen=True)
class LabInput:
    analyte: str
    value: Any
    unit: str
    sampled_at: dt.datetime
    lln: Any = None
    uln: Any = None
    source: str = LabSource.LOCAL


def _build(patient: Patient, item: LabInput, *, prefix: str = "") -> LabResult:
    try:
        spec = analyte(item.analyte)
    except ValueError as exc:
        raise field_error(f"{prefix}analyte", str(exc)) from exc
    reported = parse_number(f"{prefix}value", item.value)
    try:
        canonical = spec.to_canonical(float(reported), item.unit)
    except ValueError as exc:
        raise field_error(f"{prefix}unit", str(exc)) from exc
    low, high = spec.plausible
    if not low <= canonical <= high:
        raise field_error(
            f"{prefix}value",
            _(
                "%(v)s %(u)s is outside the plausible range for %(a)s "
                "(%(lo)s–%(hi)s %(cu)s); check the value and unit."
            ),
            v=item.value,
            u=item.unit,
            a=spec.label,
            lo=f"{low:g}",
            hi=f"{high:g}",
            cu=spec.unit,
        )
    if timezone.is_naive(item.sampled_at):
        raise field_error(f"{prefix}sampled_at", _("The sample time needs a time zone."))
    if item.sampled_at > timezone.now() + dt.timedelta(minutes=5):
        raise field_error(f"{prefix}sampled_at", _("The sample time is in the future."))
    lln = (
        float(parse_number(f"{prefix}lln", item.lln)) * spec.units[item.unit]
        if item.lln not in (None, "")
        else None
    )
    uln = (
        float(parse_number(f"{prefix}uln", item.uln)) * spec.units[item.unit]
        if item.uln not in (None, "")
        else None
    )
    if lln is not None and uln is not None and uln < lln:
        raise field_error(f"{prefix}uln", _("The upper limit of normal is below the lower limit."))
    if item.source not in LabSource.values:
        raise field_error(
            f"{prefix}source", _("Unknown source; choose one of: %(a)s."), a=", ".join(LabSource.values)
        )
    row = LabResult(
        patient=patient,
        sampled_at=item.sampled_at,
        sampled_on=local_date(item.sampled_at, patient.centre.time_zone),
        analyte=spec.code,
        value_reported=str(item.value).strip(),
        unit_reported=item.unit,
        value=canonical,
        lln=lln,
        uln=uln,
        source=item.source,
    )
    term = CTCAE_TERM_FOR_ANALYTE.get(spec.code)
    if term:
        name, divisor = term
        row.ctcae_term = name
        row.ctcae_grade = grading.ctcae_grade(
            name, canonical / divisor, lln=None if lln is None else lln / divisor
        )
        row.ctcae_version = grading.CTCAE_VERSION
    return row


@transaction.atomic
def lab_result_record(*, patient: Patient, item: LabInput, recorded_by: Any) -> LabResult:
    """Record one laboratory value (converted to the canonical unit; CTCAE graded where defined)."""
    check_accepts_new_data(patient)
    row = _build(patient, item)
    save_audited(row, user=recorded_by)
    return row


@transaction.atomic
def lab_results_record_many(*, patient: Patient, items: list[LabInput], recorded_by: Any) -> list[LabResult]:
    """Record a grid of values atomically: one invalid cell rejects the whole grid, naming row and field."""
    check_accepts_new_data(patient)
    if len(items) > MAX_GRID_ROWS:
        raise ValidationError(
            _("At most %(n)s values can be entered at once; split the paste (got %(m)s).")
            % {"n": MAX_GRID_ROWS, "m": len(items)}
        )
    rows = []
    errors: dict[str, list] = {}
    for index, item in enumerate(items, start=1):
        try:
            rows.append(_build(patient, item, prefix=f"row {index} "))
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    for row in rows:
        save_audited(row, user=recorded_by)
    return rows


@transaction.atomic
def lab_result_void(*, result: LabResult, recorded_by: Any, reason: str) -> LabResult:
    from registry.records import void_record

    void_record(result, recorded_by=recorded_by, reason=require_reason(reason))
    return result
