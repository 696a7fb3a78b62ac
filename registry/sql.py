"""Helpers for the few hand-written PostgreSQL statements of the hot read paths (exports of thousands of
patients): ordered and filtered aggregates that return one row per patient with arrays, which the ORM cannot
express. Each such statement has an ORM twin for SQLite giving the same values; both run in CI."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.db.models import QuerySet


def on_postgresql() -> bool:
    return connection.vendor == "postgresql"


def id_subquery(ids: QuerySet | Iterable[int]) -> tuple[str, list[Any]]:
    """SQL selecting the patient ids ``ids`` (a ``.values("pk")`` queryset, compiled as a subquery, or ids),
    with its parameters (``%s`` placeholders, in order)."""
    if isinstance(ids, QuerySet):
        sql, params = ids.query.sql_with_params()
        return sql, list(params)
    return "SELECT UNNEST(%s::bigint[])", [list(ids)]


def fetch(sql: str, params: list[Any]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
