"""Serializer building blocks shared by every resource: fields that carry a description and a unit (for the
OpenAPI schema and the data dictionary), the removal row, and the error shape."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


class _UnitMixin:
    """Keeps the unit on the field; as a constructor argument it survives the copies serializers make."""

    def __init__(self, *args: Any, unit: str | None = None, **kwargs: Any) -> None:
        self.unit = unit
        super().__init__(*args, **kwargs)


_WITH_UNIT: dict[type, type] = {}


def described(
    field_class: type[serializers.Field], description: str, *, unit: str | None = None, **kwargs: Any
):
    """A serializer field whose help text is its description plus its unit; the unit is kept on the field."""
    text = description.rstrip(".") + "."
    if unit:
        text += f" Unit: {unit}."
    cls = _WITH_UNIT.get(field_class)
    if cls is None:
        cls = _WITH_UNIT[field_class] = type(field_class.__name__, (_UnitMixin, field_class), {})
    return cls(help_text=text, unit=unit, **kwargs)


def integer(description: str, *, unit: str | None = None, nullable: bool = False) -> serializers.IntegerField:
    return described(serializers.IntegerField, description, unit=unit, allow_null=nullable)


def number(description: str, *, unit: str | None = None, nullable: bool = False) -> serializers.FloatField:
    return described(serializers.FloatField, description, unit=unit, allow_null=nullable)


def boolean(description: str, *, nullable: bool = False) -> serializers.BooleanField:
    return described(serializers.BooleanField, description, allow_null=nullable)


def text(description: str, *, nullable: bool = False) -> serializers.CharField:
    return described(serializers.CharField, description, allow_null=nullable)


def code(description: str, choices: Iterable[Any], *, nullable: bool = False) -> serializers.ChoiceField:
    """A coded value; ``choices`` are (code, label) pairs or bare codes (the code list of the dictionary)."""
    return described(serializers.ChoiceField, description, choices=list(choices), allow_null=nullable)


def codes(description: str, choices: Iterable[Any]) -> serializers.ListField:
    """A list of coded values."""
    return described(serializers.ListField, description, child=serializers.ChoiceField(choices=list(choices)))


def study_day_field(description: str, *, nullable: bool = True) -> serializers.IntegerField:
    return integer(
        f"{description} Study day: days from the infusion (day 0); negative before it",
        unit="days",
        nullable=nullable,
    )


PATIENT_DESCRIPTION = (
    "The patient's pseudonym for this API client: stable for this client, different for every other client, "
    "revealing neither centre nor order of enrolment"
)
ROW_ID_DESCRIPTION = (
    "Stable identifier of this row for this API client (a keyed hash; use it to update or remove your copy)"
)


@extend_schema_field({"type": "boolean", "enum": [True], "description": "Always true for a removal."})
class RemovedField(serializers.BooleanField):
    pass


def not_removed() -> serializers.BooleanField:
    return described(
        serializers.BooleanField,
        "False for a current row. With updated_since, rows that were voided (entered in error), whose "
        "patient was voided, or that no longer have a study day come back as removals: "
        "{id, removed: true}",
    )


class RemovalSerializer(serializers.Serializer):
    """A row to delete from the client's copy (only in incremental pulls with ``updated_since``)."""

    id = text("Identifier of the row that is no longer part of the data set")
    removed = described(RemovedField, "Always true: delete the row with this id from your copy")


class ErrorSerializer(serializers.Serializer):
    status = integer("HTTP status code")
    code = text(
        "Machine-readable error code, e.g. not_authenticated, authentication_failed, out_of_scope, "
        "not_found, unknown_parameter, invalid_parameter, throttled, server_error"
    )
    detail = text("Human-readable explanation")
    parameter = described(serializers.CharField, "The query parameter at fault (400 only)", required=False)
