"""The page query of a list without filters, compiled by the ORM once per process and shape.

A bulk pull asks for the same query again and again with other values: the client, its centres, the cursor.
Building that queryset and compiling it cost more CPU than running it (≈ 2 ms against ≈ 0.6 ms for a page of
100 patients). So the view builds it once per *shape* — resource, database connection, number of centres,
first or later page, page size — through the very same code (:meth:`ResourceViewSet.scoped` and
:meth:`ResourceViewSet.ordered`: the scoping rule stays in one place), with stand-in values, and keeps the SQL
and where each value goes. Later pages of that shape run the SQL with the request's values.

On PostgreSQL each compiled query also runs as a server-side prepared statement (``PREPARE`` once per
database session, then ``EXECUTE`` with the values) with a generic plan: the page's plan is the same whatever
the values — an index range of the client's stored order, then one index lookup per row of each joined table —
and planning it cost as much as running it (≈ 0.5 ms for a page of 100 patients). ``REGISTRY_PREPARED_PAGES``
turns this off (behind a connection pooler in transaction mode a session's statements are not kept).

Safety of the substitution: the query is compiled twice with two different sets of stand-ins; it is kept only
if both give the same SQL and every parameter of both is one of the stand-ins at the same place. A constant
parameter, a value the ORM folds into the SQL text or a shape the ORM refuses (an empty ``IN``) makes the
shape uncacheable and the view uses the ORM as before. Only ``.values()`` querysets qualify (their rows are
plain dicts of the converted column values, built here as the ORM's ``ValuesIterable`` builds them).
"""

from __future__ import annotations

import hashlib
import re
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import QuerySet
from django.db.models.query import ValuesIterable

#: Compiled shapes kept per process; beyond it the cache starts over (page sizes alone allow 1,000 shapes).
MAX_SHAPES = 256
#: Two sets of stand-ins, far from each other and inside the range of a 32-bit integer column (Django turns a
#: comparison with an out-of-range integer into a constant).
STAND_INS = (1_000_003_000, 2_000_003_000)


@dataclass(frozen=True)
class CompiledPage:
    sql: str
    slots: tuple[int, ...]  # for each SQL parameter, the index of its value
    names: tuple[str, ...]
    compiler: Any
    converters: dict
    positional: str | None = None  # the SQL with $1, $2 … (PostgreSQL), to run as a prepared statement

    def rows(self, values: Sequence[Any]) -> list[dict[str, Any]]:
        connection = self.compiler.connection
        with connection.cursor() as cursor:
            sql = self.sql
            if self.positional is not None and settings.REGISTRY_PREPARED_PAGES:
                sql = _prepared(connection, self.positional, len(self.slots))
            cursor.execute(sql, [values[slot] for slot in self.slots])
            rows = cursor.fetchall()
        if self.converters:
            rows = self.compiler.apply_converters(rows, self.converters)
        names = self.names
        return [dict(zip(names, row, strict=True)) for row in rows]


_shapes: dict[tuple, CompiledPage | None] = {}
_lock = threading.Lock()


def compiled_page(shape: tuple, count: int, build: Callable[[list[int]], QuerySet]) -> CompiledPage | None:
    """The compiled query of ``shape`` (``None`` if it cannot be compiled safely). ``build`` makes the page's
    queryset from ``count`` values (the stand-ins)."""
    try:
        return _shapes[shape]
    except KeyError:
        pass
    compiled = _compile(count, build)
    with _lock:
        if len(_shapes) >= MAX_SHAPES:
            _shapes.clear()
        _shapes[shape] = compiled
    return compiled


def _compile(count: int, build: Callable[[list[int]], QuerySet]) -> CompiledPage | None:
    attempts = []
    for base in STAND_INS:
        values = [base + i for i in range(count)]
        queryset = build(values)
        if queryset._iterable_class is not ValuesIterable:
            return None
        compiler = queryset.query.get_compiler(using=queryset.db)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:
            return None
        place = {value: i for i, value in enumerate(values)}
        slots = tuple(place.get(p, -1) if isinstance(p, int) else -1 for p in params)
        attempts.append((sql, slots, compiler, queryset))
    (first_sql, first_slots, *_), (sql, slots, compiler, queryset) = attempts
    if first_sql != sql or first_slots != slots or -1 in slots:
        return None
    query = queryset.query
    names = (*query.extra_select, *query.values_select, *query.annotation_select)
    converters = compiler.get_converters([column[0] for column in compiler.select[: compiler.col_count]])
    if len(names) != compiler.col_count:
        return None
    positional = None
    if compiler.connection.vendor == "postgresql" and "%%" not in sql and sql.count("%s") == len(slots):
        numbers = iter(range(1, len(slots) + 1))
        positional = re.sub("%s", lambda _: f"${next(numbers)}", sql)
        if "%" in positional:
            positional = None
    return CompiledPage(sql, slots, names, compiler, converters, positional)


@dataclass
class _Session:
    """What this process has set up on one database session (a psycopg connection)."""

    names: set[str] = field(default_factory=set)  # statements prepared (a rolled-back transaction keeps them)
    generic: bool = False  # plan_cache_mode set outside a transaction (one inside ends with it)


_sessions: weakref.WeakKeyDictionary[Any, _Session] = weakref.WeakKeyDictionary()


def _prepared(connection: Any, positional: str, count: int) -> str:
    """``EXECUTE <name>(%s, …)`` of ``positional``, prepared on the connection's current session first if
    needed. Statements live as long as the session (a reconnection is a new psycopg connection, so the
    statement is prepared again). The ``PREPARE`` and the session's ``plan_cache_mode`` go straight to
    psycopg: they are session set-up, not queries of the request. Only these statements are prepared in the
    registry (Django's own prepared statements are off), so the generic plan mode applies to them alone."""
    name = "registry_page_" + hashlib.blake2b(positional.encode(), digest_size=8).hexdigest()
    session = connection.connection
    state = _sessions.get(session)
    if state is None:
        state = _sessions[session] = _Session()
    if not state.generic:
        session.execute("SET plan_cache_mode = force_generic_plan")
        state.generic = not connection.in_atomic_block  # API requests run outside transactions
    if name not in state.names:
        session.execute(f"PREPARE {name} AS {positional}")
        state.names.add(name)
    return f"EXECUTE {name}({', '.join(['%s'] * count)})"


def connection_shape(using: str) -> tuple:
    """The part of a shape that names the database connection (its wrapper is per thread)."""
    return (using, id(connections[using]))
