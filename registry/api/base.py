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
import copy
import datetime as dt
import hashlib
import hmac
import logging
import re
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, partial
from typing import Any

from django.db import DatabaseError
from django.db.models import F, Q, QuerySet
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

from patients.models import Diagnosis
from registry import api_clients, deidentify
from registry.api.authentication import ApiTokenAuthentication, client_of
from registry.api.compiled import compiled_page, connection_shape
from registry.api.exceptions import BadParameter, api_exception_handler
from registry.api.fields import ErrorSerializer, RemovalSerializer
from registry.api.pagination import (
    MAX_PAGE_SIZE,
    KeysetPagination,
    cut,
    decode_cursor,
    default_page_size,
    encode_cursor,
    page,
    page_queryset,
)
from registry.api.permissions import HasResourceGroup
from registry.api.renderers import CSVRenderer, flat_columns
from registry.api.throttling import ApiClientRateThrottle
from registry.models import ApiClient, ApiClientPatient, Centre

logger = logging.getLogger("registry.api")

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
        # {centre_id: code} of the centres the client reads (every centre for a registry-wide client), loaded
        # with the client by the authentication (registry.api_clients.client_for_token).
        codes = getattr(client, "centre_codes", None)
        if codes is None:
            centres = Centre.objects.all() if client.all_centres else client.centres.all()
            codes = dict(centres.order_by().values_list("pk", "code"))
        self._codes: dict[int, str] = codes
        self.centre_ids: frozenset[int] | None = None if client.all_centres else frozenset(codes)
        self._patients: dict[int, str] = {}

    def patient(self, patient_id: int) -> str:
        pseudonym = self._patients.get(patient_id)
        if pseudonym is None:
            pseudonym = self._patients[patient_id] = deidentify.patient_pseudonym(self.key, patient_id)
        return pseudonym

    def row_id(self, resource: str, pk: int) -> str:
        digest = hmac.new(self.key.encode(), f"row:{resource}:{pk}".encode(), hashlib.sha256).digest()
        return "R-" + base64.b32encode(digest).decode()[:16]

    @cached_property
    def centre_labels(self) -> dict[int, str]:
        """``{centre_id: label}``: the centre's code if the client may see centres, else C1, C2 …"""
        if self.client.may_see_centres:
            return dict(self._codes)
        return deidentify.centre_pseudonyms(self.key, self._codes)

    def remember(self, patient_id: int, pseudonym: str) -> None:
        """A pseudonym read with the page (:class:`registry.models.ApiClientPatient`): no HMAC to compute."""
        self._patients[patient_id] = pseudonym

    def ordered(self, patients: QuerySet) -> QuerySet:
        """Patients in this client's keyed order: joined to their stored place and pseudonym, so that a page
        is an index range of ``(client, sort_key)`` rather than a sort of every patient."""
        return patients.filter(api_pseudonyms__client_id=self.client.pk).annotate(
            sort_key=F("api_pseudonyms__sort_key"), pseudonym=F("api_pseudonyms__pseudonym")
        )

    def patient_pk(self, pseudonym: str) -> int | None:
        """The id behind one of this client's pseudonyms, ``None`` if it names nobody in scope. One query."""
        if not PSEUDONYM_PATTERN.match(pseudonym or ""):
            return None
        rows = ApiClientPatient.objects.filter(client_id=self.client.pk, pseudonym=pseudonym)
        if self.centre_ids is not None:
            rows = rows.filter(patient__centre_id__in=self.centre_ids)
        return rows.order_by("patient_id").values_list("patient_id", flat=True).first()


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
            api_clients.api_request_record(
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
    #: :meth:`prepare` returns every row exactly as the serializer renders it (same keys, same order, JSON
    #: types), so the serializer is skipped; it still documents the rows (schema, dictionary, CSV columns).
    #: Pinned per resource by a test that runs the prepared rows through the serializer.
    prepared_is_representation = False
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
        """The key a cursor carries (its length is part of the cursor's format)."""
        return ("sort_key", "pk") if self.patient_level else ("pk",)

    def sql_ordering(self) -> tuple[str, ...]:
        # The sort key is unique per client (a permutation; ApiClientPatient's constraint): ordering by it
        # alone is the same order, and the (client, sort_key) index delivers it without sorting every patient.
        return ("sort_key",) if self.patient_level else ("pk",)

    def ordered(self, queryset: QuerySet) -> QuerySet:
        return self.scope.ordered(queryset) if self.patient_level else queryset

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
        if self.patient_level:
            for row in rows:
                self.scope.remember(_get(row, "pk"), _get(row, "pseudonym"))
        removed = [self.is_removed(row) for row in rows]
        current = [row for row, gone in zip(rows, removed, strict=True) if not gone]
        prepared = self.prepare(current) if current else []
        if not self.prepared_is_representation:
            prepared = self.get_serializer(prepared, many=True).data
        shaped = iter(prepared)
        return [
            {"id": self.row_identifier(row), "removed": True} if gone else next(shaped)
            for row, gone in zip(rows, removed, strict=True)
        ]

    # --- actions -------------------------------------------------------------------------------------------

    def page_rows(self, params: Params) -> tuple[list[Any], tuple[int, ...] | None]:
        """One page of rows and the key to continue after (one query). A list without filters runs its shape's
        query compiled once per process (:mod:`registry.api.compiled`); anything else goes through the ORM."""
        compiled = None
        unfiltered = not (
            params.diagnosis or params.centre_id is not None or params.patient_ids is not None
        ) and (params.updated_since is None and not params.extra)
        if unfiltered:
            centres = sorted(self.scope.centre_ids) if self.scope.centre_ids is not None else None
            values = [self.scope.client.pk, *(centres or ()), *(params.after or ())]
            shape = (
                type(self),
                connection_shape(self.database()),
                None if centres is None else len(centres),
                params.after is None,
                params.page_size,
            )
            compiled = compiled_page(shape, len(values), partial(self._page_with, params, centres))
        if compiled is None:
            return page(
                self.ordered(self.scoped(self.base_queryset(), params)),
                keys=self.ordering_keys(),
                after=params.after,
                size=params.page_size,
                key_of=self.key_of,
                order_by=self.sql_ordering(),
            )
        return cut(compiled.rows(values), size=params.page_size, key_of=self.key_of)

    _databases: dict[type, str] = {}

    def database(self) -> str:
        """The database alias the resource reads (asked once per class: building the queryset costs CPU)."""
        alias = self._databases.get(type(self))
        if alias is None:
            alias = self._databases[type(self)] = self.base_queryset().db
        return alias

    def _page_with(self, params: Params, centres: list[int] | None, values: list[int]) -> QuerySet:
        """The page's queryset built by the usual path with ``values`` (stand-ins) for the client, its
        centres and the cursor, in that order."""
        real = self.scope
        stand_in = copy.copy(real)
        stand_in.client = ApiClient(pk=values[0], all_centres=centres is None)
        count = 0 if centres is None else len(centres)
        stand_in.centre_ids = None if centres is None else frozenset(values[1 : 1 + count])
        after = tuple(values[1 + count :]) or None
        self.scope = stand_in
        try:
            return page_queryset(
                self.ordered(self.scoped(self.base_queryset(), replace(params, after=after))),
                keys=self.ordering_keys(),
                after=after,
                size=params.page_size,
                order_by=self.sql_ordering(),
            )
        finally:
            self.scope = real

    def list(self, request, *args, **kwargs):
        params = self.params
        rows, next_key = self.page_rows(params)
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
