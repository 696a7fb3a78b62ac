"""``/api/v1/dictionary/``: every variable of every resource with its type, unit, description and code list,
generated from the same serializers that shape the responses (so it cannot drift from them), plus the
laboratory analytes with their canonical units and the resource groups."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from outcomes.labs import ANALYTES, LAB_CATALOGUE_VERSION
from registry.api.base import ERROR_RESPONSES, FORMAT, JSON, ApiView, without
from registry.api.fields import boolean, described, integer, text
from registry.api_clients import RESOURCE_GROUPS

TYPES = [
    (serializers.BooleanField, "boolean"),
    (serializers.IntegerField, "integer"),
    (serializers.FloatField, "number"),
    (serializers.ChoiceField, "code"),
    (serializers.ListField, "list"),
    (serializers.CharField, "string"),
]


def _type(field: serializers.Field) -> str:
    for cls, name in TYPES:
        if isinstance(field, cls):
            return name
    return "object"


def _codes(field: serializers.Field) -> list[dict[str, str]]:
    if isinstance(field, serializers.ListField):
        field = field.child
    if isinstance(field, serializers.ChoiceField):
        return [{"code": str(code), "label": str(label)} for code, label in field.choices.items()]
    return []


def variables(serializer: serializers.Serializer, prefix: str = "") -> list[dict[str, Any]]:
    """One entry per leaf field; nested objects with dots, lists of objects with ``[]``."""
    out: list[dict[str, Any]] = []
    for name, field in serializer.fields.items():
        if isinstance(field, serializers.ListSerializer):
            out.append(
                {
                    "name": f"{prefix}{name}",
                    "type": "list of objects",
                    "unit": None,
                    "description": str(field.help_text or ""),
                    "nullable": False,
                    "codes": [],
                }
            )
            out += variables(field.child, f"{prefix}{name}[].")
        elif isinstance(field, serializers.Serializer):
            out.append(
                {
                    "name": f"{prefix}{name}",
                    "type": "object",
                    "unit": None,
                    "description": str(field.help_text or ""),
                    "nullable": bool(field.allow_null),
                    "codes": [],
                }
            )
            out += variables(field, f"{prefix}{name}.")
        else:
            out.append(
                {
                    "name": f"{prefix}{name}",
                    "type": _type(field),
                    "unit": getattr(field, "unit", None),
                    "description": str(field.help_text or ""),
                    "nullable": bool(getattr(field, "allow_null", False)),
                    "codes": _codes(field),
                }
            )
    return out


class CodeSerializer(serializers.Serializer):
    code = text("The code as it appears in the data")
    label = text("Its meaning")


class VariableSerializer(serializers.Serializer):
    resource = text("Resource (endpoint) the variable belongs to")
    name = text("Variable name; nested objects with dots, lists of objects with []")
    type = text("boolean, integer, number, string, code, list, object or list of objects")
    unit = text("Unit (null if none)", nullable=True)
    description = text("What the variable means")
    nullable = boolean("Whether it can be null")
    codes = CodeSerializer(many=True, help_text="Code list of a coded variable (empty otherwise).")


class ResourceSerializer(serializers.Serializer):
    name = text("Resource name")
    path = text("Path of the endpoint")
    group = text("Resource group a token must be granted")
    description = text("What the resource holds")
    filters = described(
        serializers.ListField,
        "Query parameters besides cursor, page_size and format",
        child=serializers.CharField(),
    )
    variables = VariableSerializer(many=True, help_text="The resource's variables.")


class AnalyteSerializer(serializers.Serializer):
    code = text("Analyte code used in labs.analyte")
    label = text("Analyte")
    unit = text("Canonical unit of labs.value, lln and uln for this analyte")
    group = text("Laboratory group")


class GroupSerializer(serializers.Serializer):
    code = text("Resource group code")
    label = text("What it grants")


class DictionarySerializer(serializers.Serializer):
    version = text("Version of the registry")
    lab_catalogue_version = text("Version of the analyte catalogue")
    study_day = text("Definition of the study day used by every resource")
    resources = ResourceSerializer(many=True, help_text="Every resource with its variables.")
    analytes = AnalyteSerializer(many=True, help_text="Laboratory analytes.")
    resource_groups = GroupSerializer(many=True, help_text="Resource groups of tokens.")
    variable_count = integer("Number of variables listed", unit="variables")


STUDY_DAY = (
    "Days from the CAR T infusion (day 0); negative before it. Dates of a moment (assessments, samples) are "
    "taken in the centre's time zone. Patients without day 0 have no study-day rows."
)


class DictionaryView(ApiView):
    """The data dictionary (needs a valid token, no particular resource group). ``?format=csv`` gives one row
    per variable."""

    resource = "dictionary"
    resource_group = None

    def csv_columns(self) -> list[str]:
        return ["resource", "name", "type", "unit", "description", "nullable", "codes"]

    @extend_schema(
        summary="Data dictionary",
        description="Every variable of every resource with type, unit, description and code list; the "
        "laboratory analytes with their canonical units. `?format=csv` gives one row per variable.",
        parameters=[FORMAT],
        responses={
            (200, JSON): DictionarySerializer,
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="One row per variable."),
            **without(ERROR_RESPONSES, 403),
        },
        tags=["dictionary"],
    )
    def get(self, request, *args, **kwargs):
        from registry.api.urls import RESOURCES

        resources = []
        for viewset in RESOURCES:
            resources.append(
                {
                    "name": viewset.resource,
                    "path": f"/api/v1/{viewset.resource}/",
                    "group": viewset.resource_group,
                    "description": viewset.resource_description,
                    "filters": ["diagnosis", "centre", "patient", "updated_since", *viewset.extra_filters],
                    "variables": [
                        {"resource": viewset.resource, **v} for v in variables(viewset.serializer_class())
                    ],
                }
            )
        count = sum(len(r["variables"]) for r in resources)
        self.rows_returned = count
        if request.accepted_renderer.format == "csv":
            rows = [
                {**v, "codes": "; ".join(f"{c['code']}={c['label']}" for c in v["codes"])}
                for r in resources
                for v in r["variables"]
            ]
            return Response(rows)
        return Response(
            {
                "version": settings.REGISTRY_VERSION,
                "lab_catalogue_version": LAB_CATALOGUE_VERSION,
                "study_day": STUDY_DAY,
                "resources": resources,
                "analytes": [
                    {"code": a.code, "label": a.label, "unit": a.unit, "group": a.group}
                    for a in ANALYTES.values()
                ],
                "resource_groups": [{"code": k, "label": str(v)} for k, v in RESOURCE_GROUPS.items()],
                "variable_count": count,
            }
        )
