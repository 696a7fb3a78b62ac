"""The adapter every API resource shares: token scope, strict query parameters, pseudonyms, keyset pages,
incremental pulls with removals, CSV, the request log.

A resource (in its app's ``api.py``) says which model it reads, how to load a page of rows
(:meth:`ResourceViewSet.base_queryset`) and how to shape them (:meth:`ResourceViewSet.prepare`, which may run
a fixed number of further queries for the whole page). Everything else is here, written once:

* **Scope**: rows of the client's centres only, never of a voided patient, never a voided row, and for
  study-day resources only patients with day 0 (DESIGN §4). The patient's internal code never leaves: the
  client sees its own pseudonym (:func:`registry.deidentify.patient_pseudonym`) and centres as ``C1``, ``C2``
  … unless it may see centres.
* **Filters**: ``diagnosis``, ``centre`` (the client's centre label), ``patient`` (the client's pseudonym),
  ``updated_since`` and the resource's own; anything else, a repeated or a malformed parameter is a 400 that
  names it.
* **Incremental pulls**: with ``updated_since`` the list holds every row changed since then — its own record
  or its patient's — and rows that left the data set (voided, patient voided, day 0 withdrawn) come back as
  ``{"id": …, "removed": true}``. Use the ``X-Registry-As-Of`` header of the first page as the next
  ``updated_since``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import re
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import BigIntegerField, ExpressionWrapper, F, Q, QuerySet, Value
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import viewsets
from rest_framework.exceptions import NotAcceptable
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from patients.models import Diagnosis, Patient
from registry import deidentify
from registry.api.authentication import ApiTokenAuthentication, client_of
from registry.api.exceptions import BadParameter, api_exception_handler
from registry.api.fields import ErrorSerializer, RemovalSerializer
from registry.api.pagination import (
    MAX_PAGE_SIZE,
    KeysetPagination,
    decode_cursor,
    default_page_size,
    encode_cursor,
    page,
)
from registry.api.permissions import HasResourceGroup
from registry.api.renderers import CSVRenderer, flat_columns
from registry.api.throttling import ApiClientRateThrottle
from registry.models import ApiClient, ApiRequestLog, Centre

logger = logging.getLogger("registry.api")

# A prime above any primary key: (id × a + b) mod p is then a permutation of the ids (keyed per client).
PERMUTATION_MODULUS = 2**31 - 1
PSEUDONYM_PATTERN = re.compile(r"^P-[A-Z2-7]{12}$")
# ISO 8601 extended: a date, or a date-time to minutes or (fractions of) seconds, with Z, an offset or naive.
MOMENT_PATTERN = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?$"
)
AS_OF_HEADER = "X-Registry-As-Of"
FORMATS = ("json", "csv")
LOGGED_PARAMETERS = 20


class Scope:
    """What one client may see and how it sees it (pseudonyms keyed with the client's own key)."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.key = client.pseudonym_key
        ids = getattr(client, "scope_centre_ids", None)
        self.centre_ids: frozenset[int] | None = None if client.all_centres else frozenset(ids or ())
        self._patients: dict[int, str] = {}

    def patient(self, patient_id: int) -> str:
        pseudonym = self._patients.get(patient_id)
        if pseudonym is None:
            pseudonym = self._patients[patient_id] = deidentify.patient_pseudonym(self.key, patient_id)
        return pseudonym

    def row_id(self, resource: str, pk: int) -> str:
        digest = hmac.new(self.key.encode(), f"row:{resource}:{pk}".encode(), hashlib.sha256).digest()
        return "R-" + base64.b32encode(digest).decode()[:16]

    def centres(self, queryset: QuerySet) -> QuerySet:
        return queryset if self.centre_ids is None else queryset.filter(pk__in=self.centre_ids)

    @cached_property
    def centre_labels(self) -> dict[int, str]:
        """``{centre_id: label}``: the centre's code if the client may see centres, else C1, C2 …

        One query."""
        rows = list(self.centres(Centre.objects.all()).values_list("pk", "code"))
        if self.client.may_see_centres:
            return dict(rows)
        return deidentify.centre_pseudonyms(self.key, [pk for pk, _code in rows])

    @cached_property
    def permutation(self) -> tuple[int, int]:
        digest = hmac.new(self.key.encode(), b"order", hashlib.sha256).digest()
        a = int.from_bytes(digest[:8], "big") % (PERMUTATION_MODULUS - 1) + 1
        b = int.from_bytes(digest[8:16], "big") % PERMUTATION_MODULUS
        return a, b

    def sort_key(self, pk_path: str = "pk") -> ExpressionWrapper:
        a, b = self.permutation
        return ExpressionWrapper(
            (F(pk_path) * Value(a) + Value(b)) % Value(PERMUTATION_MODULUS), output_field=BigIntegerField()
        )

    def patient_ids(self) -> list[int]:
        """Ids of every patient at the client's centres (voided and without day 0 included). One query."""
        patients = Patient.objects.all()
        if self.centre_ids is not None:
            patients = patients.filter(centre_id__in=self.centre_ids)
        return list(patients.values_list("pk", flat=True))

    def patient_pk(self, pseudonym: str) -> int | None:
        """The id behind one of this client's pseudonyms, ``None`` if it names nobody in scope."""
        if not PSEUDONYM_PATTERN.match(pseudonym or ""):
            return None
        for pk in self.patient_ids():
            if hmac.compare_digest(self.patient(pk), pseudonym):
                return pk
        return None


class ApiBehaviour:
    """Authentication, scope, strict parameters, JSON errors and the request log for every API view."""

    authentication_classes = [ApiTokenAuthentication]
    permission_classes = [HasResourceGroup]
    throttle_classes = [ApiClientRateThrottle]
    renderer_classes = [JSONRenderer, CSVRenderer]
    metadata_class = None  # no OPTIONS introspection: the schema documents the API
    resource = ""
    resource_group: str | None = None
    rows_returned = 0
    _bad_format = False

    def get_exception_handler(self):
        return api_exception_handler

    def allowed_parameters(self) -> set[str]:
        return {"format"}

    def perform_content_negotiation(self, request, force=False):
        try:
            return super().perform_content_negotiation(request, force)
        except (Http404, NotAcceptable):
            # An unknown ?format= is reported as a 400 naming it once the client is authenticated; an Accept
            # header we cannot honour falls back to JSON.
            self._bad_format = "format" in request.query_params
            renderer = self.renderer_classes[0]()
            return renderer, renderer.media_type

    def initial(self, request, *args, **kwargs):
        self.as_of = timezone.now()
        super().initial(request, *args, **kwargs)
        self.scope = Scope(request.auth)
        self.check_parameters(request)

    def check_parameters(self, request) -> None:
        allowed = self.allowed_parameters()
        unknown = sorted(name for name in request.query_params if name not in allowed)
        if unknown:
            raise BadParameter(
                unknown[0],
                _("Unknown query parameter(s): %(names)s. Allowed here: %(allowed)s.")
                % {"names": ", ".join(unknown), "allowed": ", ".join(sorted(allowed))},
                code="unknown_parameter",
            )
        for name, values in request.query_params.lists():
            if len(values) > 1:
                raise BadParameter(name, _("Give '%(name)s' only once.") % {"name": name})
        if self._bad_format or request.query_params.get("format", "json") not in FORMATS:
            raise BadParameter("format", _("Unknown format; use 'json' or 'csv'."))

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response) and response.status_code >= 400:
            request.accepted_renderer = JSONRenderer()  # errors are always JSON, also after ?format=csv
            request.accepted_media_type = JSONRenderer.media_type
        response = super().finalize_response(request, response, *args, **kwargs)
        response.setdefault("Cache-Control", "no-store")
        self.log_request(request, response)
        return response

    def log_request(self, request, response) -> None:
        filters = {}
        for name in list(request.query_params)[:LOGGED_PARAMETERS]:
            filters[loggable(name, 50)] = loggable(request.query_params.get(name, ""), 200)
        try:
            # A savepoint: a failed log insert never poisons the caller's transaction.
            with transaction.atomic():
                ApiRequestLog.objects.create(
                    client=client_of(request),
                    endpoint=loggable(request.path, 200),
                    filters=filters,
                    rows=self.rows_returned if response.status_code < 400 else 0,
                    status_code=response.status_code,
                )
        except DatabaseError:  # the answer still goes out; the failure is in the server log
            logger.exception("could not log an API request to %r", request.path[:200])

    def csv_columns(self) -> list[str]:
        serializer_class = getattr(self, "serializer_class", None)
        return flat_columns(serializer_class()) if serializer_class else []


def loggable(value: Any, limit: int) -> str:
    """Text that any database stores: no NUL, no lone surrogates (both come in query strings)."""
    text = str(value)[:limit].replace("\x00", "\\x00")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class ApiView(ApiBehaviour, APIView):
    pass


@dataclass
class Params:
    page_size: int = field(default_factory=default_page_size)
    after: tuple[int, ...] | None = None
    diagnosis: str | None = None
    centre_id: int | None = None
    patient_ids: list[int] | None = None
    updated_since: dt.datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


COMMON_FILTERS = ("diagnosis", "centre", "patient", "updated_since")


class ResourceViewSet(ApiBehaviour, viewsets.GenericViewSet):
    """A read-only, patient-scoped resource. Subclasses set the class attributes and implement
    :meth:`base_queryset` and :meth:`prepare`."""

    pagination_class = KeysetPagination
    lookup_field = "id"
    lookup_value_regex = "[^/]+"
    #: Path from a row to its patient ("" when the rows are patients).
    patient_path = "patient"
    #: Rows exist only for patients with day 0 (every date is a study day).
    study_days = True
    #: One row per patient (ordered by the client's keyed permutation, retrievable by pseudonym).
    patient_level = False
    #: Plural name for the documentation (default: the resource with spaces).
    title = ""
    #: Filters beyond the common ones: name → (OpenAPI parameter, parser taking the raw value).
    extra_filters: dict[str, Any] = {}
    resource_description = ""

    # --- parameters -----------------------------------------------------------------------------------------

    def allowed_parameters(self) -> set[str]:
        if self.action == "retrieve":
            return {"format"}
        return {"format", "cursor", "page_size", *COMMON_FILTERS, *self.extra_filters}

    def check_parameters(self, request) -> None:
        super().check_parameters(request)
        self.params = self.parse_parameters(request.query_params) if self.action == "list" else Params()

    def parse_parameters(self, query: Any) -> Params:
        params = Params()
        if "page_size" in query:
            raw = query["page_size"]
            params.page_size = int(raw) if re.fullmatch(r"[0-9]{1,4}", raw) else 0  # no sign, space or "²"
            if not 1 <= params.page_size <= MAX_PAGE_SIZE:
                raise BadParameter(
                    "page_size", _("page_size must be an integer from 1 to %(max)s.") % {"max": MAX_PAGE_SIZE}
                )
        if "cursor" in query:
            params.after = decode_cursor(
                query["cursor"],
                resource=self.resource,
                client_id=self.scope.client.pk,
                key_length=len(self.ordering_keys()),
            )
        if "diagnosis" in query:
            if query["diagnosis"] not in Diagnosis.values:
                raise BadParameter(
                    "diagnosis",
                    _("Unknown diagnosis; use one of %(codes)s.") % {"codes": ", ".join(Diagnosis.values)},
                )
            params.diagnosis = query["diagnosis"]
        if "centre" in query:
            by_label = {label: pk for pk, label in self.scope.centre_labels.items()}
            if query["centre"] not in by_label:
                raise BadParameter(
                    "centre",
                    _("Unknown centre; your token's centres are %(labels)s.")
                    % {"labels": ", ".join(sorted(by_label)) or "-"},
                )
            params.centre_id = by_label[query["centre"]]
        if "patient" in query:
            if not PSEUDONYM_PATTERN.match(query["patient"]):
                raise BadParameter("patient", _("A patient pseudonym looks like P-ABCDEFGHIJKL."))
            pk = self.scope.patient_pk(query["patient"])
            params.patient_ids = [] if pk is None else [pk]
        if "updated_since" in query:
            params.updated_since = parse_moment(query["updated_since"])
        for name, (_parameter, parse) in self.extra_filters.items():
            if name in query:
                params.extra[name] = parse(query[name])
        return params

    # --- queries -------------------------------------------------------------------------------------------

    def base_queryset(self) -> QuerySet:
        raise NotImplementedError

    @property
    def prefix(self) -> str:
        return f"{self.patient_path}__" if self.patient_path else ""

    def changed_since(self, since: dt.datetime) -> Q:
        """Rows to report in an incremental pull: their own record or their patient's changed."""
        q = Q(updated_at__gte=since)
        if self.patient_path:
            q |= Q(**{f"{self.prefix}updated_at__gte": since})
        return q

    def apply_extra_filters(self, queryset: QuerySet, extra: dict[str, Any]) -> QuerySet:
        return queryset

    def scoped(self, queryset: QuerySet, params: Params) -> QuerySet:
        p = self.prefix
        if self.scope.centre_ids is not None:
            queryset = queryset.filter(**{f"{p}centre_id__in": self.scope.centre_ids})
        if params.updated_since is None:
            queryset = queryset.filter(**{f"{p}voided_at__isnull": True})
            if p:
                queryset = queryset.filter(voided_at__isnull=True)
            if self.study_days:
                queryset = queryset.filter(**{f"{p}day0__isnull": False})
        else:
            queryset = queryset.filter(self.changed_since(params.updated_since))
        if params.diagnosis:
            queryset = queryset.filter(**{f"{p}diagnosis": params.diagnosis})
        if params.centre_id is not None:
            queryset = queryset.filter(**{f"{p}centre_id": params.centre_id})
        if params.patient_ids is not None:
            queryset = queryset.filter(**{f"{p}pk__in": params.patient_ids})
        return self.apply_extra_filters(queryset, params.extra)

    def ordering_keys(self) -> tuple[str, ...]:
        return ("sort_key", "pk") if self.patient_level else ("pk",)

    def ordered(self, queryset: QuerySet) -> QuerySet:
        if self.patient_level:
            queryset = queryset.annotate(sort_key=self.scope.sort_key())
        return queryset

    def key_of(self, row: Any) -> tuple[int, ...]:
        return tuple(_get(row, key) for key in self.ordering_keys())

    # --- shaping -------------------------------------------------------------------------------------------

    def patient_of(self, row: Any) -> Any:
        return row if self.patient_level else getattr(row, self.patient_path)

    def row_identifier(self, row: Any) -> str:
        return (
            self.scope.patient(_get(row, "pk"))
            if self.patient_level
            else self.scope.row_id(self.resource, _get(row, "pk"))
        )

    def is_removed(self, row: Any) -> bool:
        if self.params.updated_since is None:
            return False
        patient = self.patient_of(row)
        if patient.voided_at is not None:
            return True
        if not self.patient_level and row.voided_at is not None:
            return True
        return self.study_days and patient.day0 is None

    def prepare(self, rows: list[Any]) -> list[dict[str, Any]]:
        """The page's current rows as dicts for the serializer (same order; may query once per table)."""
        raise NotImplementedError

    def represent(self, rows: Sequence[Any]) -> list[dict[str, Any]]:
        removed = [self.is_removed(row) for row in rows]
        current = [row for row, gone in zip(rows, removed, strict=True) if not gone]
        shaped = iter(self.get_serializer(self.prepare(current), many=True).data if current else [])
        return [
            {"id": self.row_identifier(row), "removed": True} if gone else next(shaped)
            for row, gone in zip(rows, removed, strict=True)
        ]

    # --- actions -------------------------------------------------------------------------------------------

    def list(self, request, *args, **kwargs):
        params = self.params
        queryset = self.ordered(self.scoped(self.base_queryset(), params))
        rows, next_key = page(
            queryset, keys=self.ordering_keys(), after=params.after, size=params.page_size, key_of=self.key_of
        )
        results = self.represent(rows)
        self.rows_returned = len(results)
        next_url = None
        if next_key is not None:
            cursor = encode_cursor(self.resource, self.scope.client.pk, next_key)
            next_url = replace_query_param(request.build_absolute_uri(), "cursor", cursor)
        response = Response({"next": next_url, "results": results})
        if next_url:
            response["Link"] = f'<{next_url}>; rel="next"'
        response[AS_OF_HEADER] = self.as_of.isoformat()
        return response

    def get_object_row(self, pseudonym: str) -> Any:
        pk = self.scope.patient_pk(pseudonym)
        if pk is None:
            raise Http404
        row = self.ordered(self.scoped(self.base_queryset(), self.params)).filter(pk=pk).first()
        if row is None:
            raise Http404
        return row


class PatientLevelRetrieveMixin:
    """``GET …/{id}/`` by the client's patient pseudonym; 404 for anything else, in scope or not."""

    def retrieve(self, request, *args, **kwargs):
        row = self.get_object_row(kwargs.get(self.lookup_field, ""))
        self.rows_returned = 1
        return Response(self.represent([row])[0])


_ZONES: dict[str, zoneinfo.ZoneInfo] = {}


def local_study_day(moment: dt.datetime, time_zone: str, day0: dt.date) -> int:
    """Study day of a moment: its date in the centre's time zone minus day 0."""
    zone = _ZONES.get(time_zone)
    if zone is None:
        zone = _ZONES[time_zone] = zoneinfo.ZoneInfo(time_zone)
    return (timezone.localtime(moment, zone).date() - day0).days


def days_between(on: dt.date | None, day0: dt.date | None) -> int | None:
    """Study day of a date (``None`` when either is missing)."""
    return None if on is None or day0 is None else (on - day0).days


def _get(row: Any, name: str) -> Any:
    return row[name] if isinstance(row, dict) else getattr(row, name)


def parse_moment(raw: str) -> dt.datetime:
    """ISO 8601 date or date-time; a date means its midnight UTC, a naive time is UTC."""
    bad = BadParameter(
        "updated_since", _("updated_since must be an ISO 8601 date or date-time, e.g. 2026-01-31T12:00:00Z.")
    )
    if not MOMENT_PATTERN.match(raw):
        raise bad
    try:
        moment = parse_datetime(raw)
        if moment is None:
            day = parse_date(raw)
            if day is None:
                raise bad
            moment = dt.datetime.combine(day, dt.time.min)
        if timezone.is_naive(moment):
            moment = moment.replace(tzinfo=dt.UTC)
        # In UTC: PostgreSQL refuses offsets beyond ±15:59 that ISO 8601 (and Python) allow.
        moment = moment.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise bad from None
    return moment


# --- OpenAPI ----------------------------------------------------------------------------------------------

JSON = "application/json"
ERROR_RESPONSES = {
    (400, JSON): OpenApiResponse(
        ErrorSerializer, description="Unknown, repeated or malformed query parameter."
    ),
    (401, JSON): OpenApiResponse(
        ErrorSerializer, description="No token, or a malformed, unknown, expired or revoked token."
    ),
    (403, JSON): OpenApiResponse(
        ErrorSerializer, description="The token is not granted this resource group."
    ),
    (429, JSON): OpenApiResponse(
        ErrorSerializer, description="Too many requests for this client; see Retry-After."
    ),
}
NOT_FOUND = OpenApiResponse(
    ErrorSerializer, description="No such patient for this token (other centres' patients look the same)."
)
CSV_RESPONSE = OpenApiResponse(
    OpenApiTypes.STR, description="The same rows as CSV (one header line, one row each)."
)
FORMAT = OpenApiParameter(
    "format",
    OpenApiTypes.STR,
    enum=list(FORMATS),
    description="Response format: json (default) or csv. Errors are always JSON.",
)


def without(responses: dict, *codes: int) -> dict:
    return {key: value for key, value in responses.items() if key[0] not in codes}


INCREMENTAL = (
    "\n\nIncremental pulls: with `updated_since` the list holds every row whose record or patient changed "
    'since then, and rows that left the data set come back as `{"id": …, "removed": true}`; take the '
    "`X-Registry-As-Of` header of the first page as your next `updated_since`. CSV: `?format=csv`."
)


def common_parameters(extra: Iterable[OpenApiParameter] = ()) -> list[OpenApiParameter]:
    return [
        OpenApiParameter(
            "diagnosis",
            OpenApiTypes.STR,
            enum=Diagnosis.values,
            description="Only patients with this diagnosis.",
        ),
        OpenApiParameter(
            "centre",
            OpenApiTypes.STR,
            description="Only this centre: its label as this token sees it (C1, C2 …, or the centre code).",
        ),
        OpenApiParameter(
            "patient",
            OpenApiTypes.STR,
            pattern=PSEUDONYM_PATTERN.pattern,
            description="Only this patient (the token's pseudonym, e.g. P-ABCDEFGHIJKL).",
        ),
        OpenApiParameter(
            "updated_since",
            OpenApiTypes.STR,
            pattern=MOMENT_PATTERN.pattern,
            description="Incremental pull: rows changed at or after this moment, with removals. ISO 8601 "
            "date or date-time (naive = UTC; in a URL write + as %2B).",
        ),
        FORMAT,
        *extra,
    ]


def api_resource(cls: type[ResourceViewSet]) -> type[ResourceViewSet]:
    """Document a resource: paginated rows or removals, filters, errors, and the retrieve by pseudonym."""
    row = cls.serializer_class
    name = row.__name__.removesuffix("Serializer")
    items = PolymorphicProxySerializer(
        component_name=f"{name}OrRemoval",
        serializers=[row, RemovalSerializer],
        resource_type_field_name=None,
        many=True,
    )
    headers = [
        OpenApiParameter(
            AS_OF_HEADER,
            OpenApiTypes.DATETIME,
            OpenApiParameter.HEADER,
            response=[200],
            description="Server time when the request started: the next updated_since.",
        ),
    ]
    title = cls.title or cls.resource.replace("-", " ")
    views = {
        "list": extend_schema(
            summary=f"List {title}",
            description=cls.resource_description + INCREMENTAL,
            parameters=common_parameters(p for p, _parse in cls.extra_filters.values()) + headers,
            responses={
                (200, JSON): OpenApiResponse(items, description="One page of rows (and removals)."),
                (200, "text/csv"): CSV_RESPONSE,
                **ERROR_RESPONSES,
            },
            tags=[cls.resource_group or "dictionary"],
        )
    }
    if issubclass(cls, PatientLevelRetrieveMixin):
        views["retrieve"] = extend_schema(
            summary=f"{title[0].upper()}{title[1:]}: one patient, by pseudonym",
            description=cls.resource_description,
            parameters=[
                OpenApiParameter(
                    "id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The patient's pseudonym."
                ),
                FORMAT,
            ],
            responses={
                (200, JSON): OpenApiResponse(row, description="The patient's row."),
                (200, "text/csv"): CSV_RESPONSE,
                **ERROR_RESPONSES,
                (404, JSON): NOT_FOUND,
            },
            tags=[cls.resource_group or "dictionary"],
        )
    return extend_schema_view(**views)(cls)
