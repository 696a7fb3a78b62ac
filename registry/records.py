"""Shared steps of the write services: field-level validation, audited edits and voiding.

Every app's ``services.py`` keeps one function per state change; these helpers only do the parts that are
identical for every clinical row (apply allowed changes with a reason, void with a reason).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _

from registry.audit import require_reason, save_audited


def field_error(field: str, message: str, **params: Any) -> ValidationError:
    """A ValidationError attached to ``field`` (forms show it next to that field)."""
    return ValidationError({field: ValidationError(message % params if params else message)})


def check_not_future(field: str, value: dt.date | None, *, today: dt.date | None = None) -> None:
    today = today or timezone.localdate()
    if value is not None and value > today:
        raise field_error(
            field,
            _("%(date)s is in the future; enter the date it happened (today is %(today)s)."),
            date=value.isoformat(),
            today=today.isoformat(),
        )


def check_accepts_new_data(patient: Any) -> None:
    if patient.voided_at is not None:
        raise ValidationError(
            _("Patient %(code)s was voided (entered in error); no data can be added.")
            % {"code": patient.code}
        )
    if patient.status == "consent_withdrawn":
        raise ValidationError(
            _("Consent was withdrawn for %(code)s: no new data may be recorded.") % {"code": patient.code}
        )


def full_clean(instance: models.Model, *, exclude: Iterable[str] = ()) -> None:
    """Field validators and choices; constraints are checked by the services and the database.

    An empty string in a nullable non-text field (a number or date left empty) means "not given", as in a
    ModelForm: Django's model validation skips blank values, so "" would otherwise reach the arithmetic.
    """
    nul: dict[str, list[str]] = {}
    for field in instance._meta.concrete_fields:
        value = getattr(instance, field.attname, None)
        if field.null and not isinstance(field, models.CharField | models.TextField) and value == "":
            setattr(instance, field.attname, None)
        elif isinstance(value, str) and "\x00" in value and field.name not in exclude:
            # As Django's forms do: PostgreSQL cannot store it, and no clinical text needs it.
            nul[field.name] = [str(_("Null characters are not allowed."))]
    if nul:
        raise ValidationError(nul)
    instance.full_clean(exclude=list(exclude), validate_constraints=False)


def apply_changes(instance: models.Model, changes: dict[str, Any], *, allowed: Iterable[str]) -> list[str]:
    """Set the allowed ``changes`` on ``instance``; return the names of fields whose value really changed."""
    allowed = set(allowed)
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ValidationError(
            _("These fields cannot be changed here: %(fields)s. Changeable: %(allowed)s.")
            % {"fields": ", ".join(unknown), "allowed": ", ".join(sorted(allowed))}
        )
    changed = []
    for name, value in changes.items():
        try:
            differs = getattr(instance, name) != value
        except (TypeError, ArithmeticError):  # e.g. Decimal("sNaN"): the field validation refuses it next
            differs = True
        if differs:
            setattr(instance, name, value)
            changed.append(name)
    return changed


def save_changes(instance: models.Model, changed: list[str], *, recorded_by: Any, reason: str) -> None:
    """Save the changed fields of an existing clinical row with its reason (audited)."""
    if not changed:
        return
    fields = [*changed]
    if any(f.name == "updated_at" for f in instance._meta.concrete_fields):
        fields.append("updated_at")
    save_audited(instance, user=recorded_by, reason=reason, update_fields=fields)


def void_record(instance: models.Model, *, recorded_by: Any, reason: str) -> None:
    """Mark a clinical row entered in error: kept, audited, and left out of exports and grades."""
    reason = require_reason(reason)
    if instance.voided_at is not None:  # type: ignore[attr-defined]
        raise ValidationError(_("This record is already voided."))
    instance.voided_at = timezone.now()  # type: ignore[attr-defined]
    instance.void_reason = reason  # type: ignore[attr-defined]
    save_audited(
        instance, user=recorded_by, reason=reason, update_fields=["voided_at", "void_reason", "updated_at"]
    )
