"""Forward-only cursor (keyset) pagination with stable ordering and opaque, signed cursors.

Each resource orders its rows by a unique key — the primary key for rows, a per-client keyed permutation of
the patient id (plus the id; stored per client and patient, :class:`registry.models.ApiClientPatient`) for
patient-level resources, so the order reveals neither centre nor enrolment order. A cursor is the last key of
the page, masked with a one-time pad and signed together with the resource and the client: it reveals no row
id and cannot be forged, edited or used by another client or on another resource (400 naming ``cursor``).
Every page costs one query for its rows, whatever the page size and however deep the page.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.core import signing
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from rest_framework.pagination import BasePagination

from registry.api.exceptions import BadParameter

CURSOR_SALT = "registry.api.cursor.v2"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def default_page_size() -> int:
    return int(getattr(settings, "REGISTRY_API_PAGE_SIZE", DEFAULT_PAGE_SIZE))


def _masks(nonce: str, resource: str, client_id: int, count: int) -> list[int]:
    """One-time 64-bit masks for the key values of one cursor (HMAC of the server secret as a PRF)."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"cursor:{nonce}:{resource}:{client_id}".encode(), hashlib.sha256
    ).digest()
    return [int.from_bytes(digest[8 * i : 8 * i + 8], "big") for i in range(count)]


def encode_cursor(resource: str, client_id: int, key: Sequence[int]) -> str:
    """Signed, and with the key masked by a fresh nonce: a cursor tells the client nothing about row ids."""
    nonce = secrets.token_hex(6)
    masks = _masks(nonce, resource, client_id, len(key))
    masked = [value ^ mask for value, mask in zip(key, masks, strict=True)]
    return signing.dumps([resource, client_id, nonce, *masked], salt=CURSOR_SALT)


def decode_cursor(value: str, *, resource: str, client_id: int, key_length: int) -> tuple[int, ...]:
    bad = BadParameter(
        "cursor",
        _("Malformed cursor: pass the 'next' link of the previous page unchanged."),
        code="invalid_cursor",
    )
    try:
        data = signing.loads(value, salt=CURSOR_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        raise bad from None
    if (
        not isinstance(data, list)
        or len(data) != 3 + key_length
        or data[0] != resource
        or data[1] != client_id
        or not isinstance(data[2], str)
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in data[3:])
    ):
        raise bad
    masks = _masks(data[2], resource, client_id, key_length)
    return tuple(v ^ m for v, m in zip(data[3:], masks, strict=True))


def after_q(keys: Sequence[str], after: Sequence[int]) -> Q:
    """Rows strictly after ``after`` in the order of ``keys`` (lexicographic).

    With more than one key, the implied ``first key >= after[0]`` is stated too: the database can then start
    an index range there instead of filtering every row before the cursor (an OR hides that bound)."""
    q = Q()
    for i in range(len(keys)):
        step = Q(**{keys[j]: after[j] for j in range(i)}) & Q(**{f"{keys[i]}__gt": after[i]})
        q |= step
    if len(keys) > 1:
        q = Q(**{f"{keys[0]}__gte": after[0]}) & q
    return q


def page(
    queryset: QuerySet,
    *,
    keys: Sequence[str],
    after: Sequence[int] | None,
    size: int,
    key_of: Callable[[Any], tuple],
    order_by: Sequence[str] | None = None,
) -> tuple[list[Any], tuple[int, ...] | None]:
    """One page (one query) and the key to continue after, ``None`` on the last page.

    ``order_by`` (default ``keys``) may be a prefix of ``keys`` that is already unique: the same order, which
    an index can then deliver without a sort."""
    rows = list(page_queryset(queryset, keys=keys, after=after, size=size, order_by=order_by))
    return cut(rows, size=size, key_of=key_of)


def page_queryset(
    queryset: QuerySet, *, keys: Sequence[str], after: Sequence[int] | None, size: int, order_by=None
) -> QuerySet:
    """The query of one page: ordered, after the cursor, one row more than the page (is there a next?)."""
    queryset = queryset.order_by(*(order_by or keys))
    if after is not None:
        queryset = queryset.filter(after_q(keys, after))
    return queryset[: size + 1]


def cut(
    rows: list[Any], *, size: int, key_of: Callable[[Any], tuple]
) -> tuple[list[Any], tuple[int, ...] | None]:
    """The page's rows (at most ``size``) and the key to continue after, ``None`` on the last page."""
    if len(rows) <= size:
        return rows, None
    rows = rows[:size]
    return rows, key_of(rows[-1])


class KeysetPagination(BasePagination):
    """Documents the pagination for the OpenAPI schema; the views page with :func:`page` themselves."""

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": "cursor",
                "in": "query",
                "required": False,
                "description": "Opaque position, carried by the 'next' link of the previous page.",
                "schema": {"type": "string"},
            },
            {
                "name": "page_size",
                "in": "query",
                "required": False,
                "description": f"Rows per page, 1 to {MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
            },
        ]

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["next", "results"],
            "properties": {
                "next": {
                    "type": "string",
                    "format": "uri",
                    "nullable": True,
                    "description": "Link to the next page (null on the last page); also the Link header.",
                },
                "results": {
                    **schema,
                    "description": "Rows of this page, or removals in an incremental pull.",
                },
            },
        }
