"""The long-format export of all visits and laboratory values as one SELECT (internal mode).

One row per patient × study day × variable, the columns of the tidy datasets (:mod:`registry.exports.tidy`):
``patient, centre, diagnosis, study_day, timepoint, variable, value, unit``. The rows are exactly those of the
tidy ``visits`` and ``labs`` datasets in internal mode — the same variable codes (instrument measures,
``remission``, ``lldas``, ``jdm_response``; analyte codes), units and timepoints — so their data dictionary
applies (:func:`dictionary_csv`). Registry codes and centre codes, study days, never dates, no identity.

Which rows: the patients that :func:`registry.exports.selectors.series_patients` selects (the case series,
not voided, at the centres the requester may export, the filters) **with day 0** (DESIGN §4: patients without
it have no study days yet); their visits and instruments that are not voided (an instrument counts only for
the patient's own diagnosis), their lab results that are not voided. ``timepoint`` is the scheduled timepoint
whose window holds the study day (closest nominal day wins), as in the tidy datasets. Rows are not sorted
(sorting millions of rows would delay the first byte); sort by patient, study day and variable when needed.

Every user value (series, centres, filters, timepoint codes, variable codes and units) is a bound parameter
(``%s``); only table and column names from the models are written into the SQL. :func:`query` gives the
statement for PostgreSQL's ``COPY`` (``value`` as text, formatted by the server) or for a cursor (``number``
and ``text`` apart, formatted by :func:`float_text` exactly as PostgreSQL does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.db import connection

from outcomes.models import LabResult, ScheduleTimepoint, Visit
from patients.models import Patient
from registry.exports import formats, modes, selectors, tidy
from registry.exports.definitions import MEASURES
from registry.models import CaseSeries, Centre, ExportMode

COLUMNS = ("patient", "centre", "diagnosis", "study_day", "timepoint", "variable", "value", "unit")
#: The tidy domains whose rows (and dictionary entries) the long format holds.
DOMAINS = ("visits", "labs")

#: Visit instruments (related names on ``Visit``) and the diagnosis they belong to.
INSTRUMENT_DIAGNOSIS = {m.instrument: m.diagnosis for m in MEASURES}
#: Status variables of each instrument: (variable, boolean field, inverted). EUSTAR-AI *active* is stored, so
#: SSc remission is its negation (as in the tidy datasets).
STATUS_VARIABLES = {
    "sledai": (("remission", "doris_remission", False), ("lldas", "lldas", False)),
    "jdm": (("remission", "printo_inactive", False),),
    "ssc": (("remission", "eustar_active", True),),
}
#: Text variables of each instrument: (variable, field); an empty string is no value.
TEXT_VARIABLES = {"jdm": (("jdm_response", "response"),)}


@dataclass(frozen=True)
class Query:
    """A statement with ``%s`` placeholders and its parameters, in order."""

    sql: str
    params: tuple[Any, ...]


def _units() -> dict[str, str]:
    return {c.name: c.unit for domain in DOMAINS for c in tidy.TIDY_VARIABLES[domain]}


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _column(model: Any, field: str) -> str:
    return _q(model._meta.get_field(field).column)


def _study_day(column: str, vendor: str) -> str:
    """``column − day 0`` in days, as an integer."""
    if vendor == "postgresql":
        return f"({column} - p.{_column(Patient, 'day0')})"
    if vendor == "sqlite":
        return f"CAST(julianday({column}) - julianday(p.{_column(Patient, 'day0')}) AS INTEGER)"
    raise ValueError(f"vendor: the long-format export supports postgresql and sqlite, not '{vendor}'")


def timepoint_segments() -> list[tuple[int, int, str]]:
    """Consecutive study-day ranges ``(first, last, code)`` of the default schedule's timepoints, by the rule
    of :meth:`registry.exports.selectors.SeriesData.timepoint_of` (closest nominal day wins). One query."""
    timepoints = [
        (tp.code, tp.nominal_day, *tp.window()) for tp in ScheduleTimepoint.objects.filter(protocol="default")
    ]
    if not timepoints:
        return []
    # A SeriesData without patients: only its timepoints, so the rule is literally the tidy datasets' one.
    lookup = selectors.SeriesData(series=None, filters=selectors.ExportFilters(), patients=[])  # type: ignore[arg-type]
    lookup.timepoints = timepoints
    segments: list[list[Any]] = []
    for day in range(min(t[2] for t in timepoints), max(t[3] for t in timepoints) + 1):
        code = lookup.timepoint_of(day)
        if segments and segments[-1][2] == code and segments[-1][1] == day - 1:
            segments[-1][1] = day
        elif code:
            segments.append([day, day, code])
    return [(first, last, code) for first, last, code in segments]


def _keys() -> str:
    return (
        f"p.{_column(Patient, 'code')} AS patient, c.{_column(Centre, 'code')} AS centre, "
        f"p.{_column(Patient, 'diagnosis')} AS diagnosis"
    )


def _timepoint_case(segments: list[tuple[int, int, str]]) -> tuple[str, list[Any]]:
    """``r.study_day`` → timepoint code as nested ``CASE`` halving the sorted segments: about log₂(n) + 3
    comparisons a row instead of up to n (the schedule has some 50 segments; this runs for every row)."""
    if not segments:
        return "CAST(NULL AS TEXT)", []
    if len(segments) <= 3:
        sql = " ".join("WHEN r.study_day BETWEEN %s AND %s THEN CAST(%s AS TEXT)" for _ in segments)
        return f"CASE {sql} END", [value for segment in segments for value in segment]
    middle = len(segments) // 2
    lower, lower_params = _timepoint_case(segments[:middle])
    upper, upper_params = _timepoint_case(segments[middle:])
    return (
        f"CASE WHEN r.study_day < %s THEN {lower} ELSE {upper} END",
        [segments[middle][0], *lower_params, *upper_params],
    )


def _from_patients() -> str:
    return (
        f"FROM {_q(Patient._meta.db_table)} p JOIN {_q(Centre._meta.db_table)} c "
        f"ON c.{_q(Centre._meta.pk.column)} = p.{_column(Patient, 'centre')} "
    )


def _where(scope: Query) -> tuple[str, list[Any]]:
    return (
        f"p.{_column(Patient, 'voided_at')} IS NULL AND p.{_column(Patient, 'day0')} IS NOT NULL "
        f"AND p.{_q(Patient._meta.pk.column)} IN ({scope.sql})",
        list(scope.params),
    )


def _instrument_branch(name: str, scope: Query, vendor: str, units: dict[str, str]) -> tuple[str, list[Any]]:
    """Every value of one visit instrument: the visits ⋈ instrument read once, unpivoted by a cross join with
    a constant table of its variables (portable: no ``LATERAL``)."""
    model = Visit._meta.get_field(name).related_model
    numbers: list[tuple[str, str]] = []  # (variable, SQL expression)
    for m in MEASURES:
        if m.instrument == name:
            numbers.append((m.code, f"CAST(i.{_column(model, m.field)} AS DOUBLE PRECISION)"))
    for variable, field, inverted in STATUS_VARIABLES[name]:
        col = f"i.{_column(model, field)}"
        yes, no = ("0", "1") if inverted else ("1", "0")
        numbers.append(
            (variable, f"CAST(CASE WHEN {col} THEN {yes} WHEN NOT {col} THEN {no} END AS DOUBLE PRECISION)")
        )
    texts = [
        (variable, f"NULLIF(i.{_column(model, field)}, '')")
        for variable, field in TEXT_VARIABLES.get(name, ())
    ]
    variables = [v for v, _ in numbers] + [v for v, _ in texts]
    constants = " UNION ALL ".join(
        f"SELECT {k} AS k, CAST(%s AS TEXT) AS variable, CAST(%s AS TEXT) AS unit"
        for k in range(len(variables))
    )
    constant_params: list[Any] = []
    for variable in variables:
        constant_params += [variable, units.get(variable, "")]
    number = "CASE n.k " + " ".join(f"WHEN {k} THEN {expr}" for k, (_, expr) in enumerate(numbers)) + " END"
    text = (
        "CASE n.k "
        + " ".join(f"WHEN {len(numbers) + k} THEN {expr}" for k, (_, expr) in enumerate(texts))
        + " END"
        if texts
        else "CAST(NULL AS TEXT)"
    )
    v, where = Visit._meta, _where(scope)
    sql = (
        f"SELECT {_keys()}, "
        f"{_study_day('v.' + _column(Visit, 'visit_date'), vendor)} AS study_day, n.variable AS variable, "
        f"{number} AS number, {text} AS text, n.unit AS unit "
        f"{_from_patients()}"
        f"JOIN {_q(v.db_table)} v ON v.{_column(Visit, 'patient')} = p.{_q(Patient._meta.pk.column)} "
        f"JOIN {_q(model._meta.db_table)} i ON i.{_column(model, 'visit')} = v.{_q(v.pk.column)} "
        f"CROSS JOIN ({constants}) n "
        f"WHERE {where[0]} AND p.{_column(Patient, 'diagnosis')} = %s "
        f"AND v.{_column(Visit, 'voided_at')} IS NULL AND i.{_column(model, 'voided_at')} IS NULL"
    )
    return sql, [*constant_params, *where[1], INSTRUMENT_DIAGNOSIS[name]]


def _lab_branch(scope: Query, vendor: str, units: dict[str, str]) -> tuple[str, list[Any]]:
    from outcomes.labs import ANALYTES

    lab, where = LabResult._meta, _where(scope)
    catalogue = " UNION ALL ".join(
        "SELECT CAST(%s AS TEXT) AS analyte, CAST(%s AS TEXT) AS unit" for _ in ANALYTES
    )
    catalogue_params: list[Any] = []
    for code in ANALYTES:
        catalogue_params += [code, units.get(code, "")]
    day = _study_day("l." + _column(LabResult, "sampled_on"), vendor)
    sql = (
        f"SELECT {_keys()}, {day}, l.{_column(LabResult, 'analyte')}, "
        f"CAST(l.{_column(LabResult, 'value')} AS DOUBLE PRECISION), CAST(NULL AS TEXT), u.unit "
        f"{_from_patients()}"
        f"JOIN {_q(lab.db_table)} l ON l.{_column(LabResult, 'patient')} = p.{_q(Patient._meta.pk.column)} "
        f"LEFT JOIN ({catalogue}) u ON u.analyte = l.{_column(LabResult, 'analyte')} "
        f"WHERE {where[0]} AND l.{_column(LabResult, 'voided_at')} IS NULL"
    )
    return sql, [*catalogue_params, *where[1]]


def scope_query(
    series: CaseSeries, *, centre_ids: frozenset[int] | None, filters: selectors.ExportFilters
) -> Query:
    """The ids of the patients to export, exactly as the other exports select them (one subquery)."""
    patients = selectors.series_patients(series, centre_ids=centre_ids, filters=filters)
    sql, params = patients.order_by().values("pk").query.sql_with_params()
    return Query(sql, tuple(params))


def query(
    series: CaseSeries,
    *,
    centre_ids: frozenset[int] | None,
    filters: selectors.ExportFilters | None = None,
    for_copy: bool,
    vendor: str | None = None,
) -> Query:
    """The long-format SELECT (see the module docstring). One query (the schedule's timepoints).

    ``for_copy``: the eight :data:`COLUMNS`, ``value`` as text (PostgreSQL's ``COPY``); otherwise ``number``
    and ``text`` instead of ``value`` (nine columns) for :func:`csv_row`. ``centre_ids`` comes from
    :func:`registry.exports.modes.export_centre_ids` (``None``: every centre).
    """
    vendor = vendor or connection.vendor
    filters = filters or selectors.ExportFilters()
    scope = scope_query(series, centre_ids=centre_ids, filters=filters)
    units = _units()
    branches = [_instrument_branch(name, scope, vendor, units) for name in STATUS_VARIABLES]
    branches.append(_lab_branch(scope, vendor, units))
    timepoint, params = _timepoint_case(timepoint_segments())
    value = "COALESCE(CAST(r.number AS TEXT), r.text) AS value" if for_copy else "r.number, r.text"
    # Only model table/column names and fixed SQL are formatted in; every value is a parameter.
    sql = (
        f"SELECT r.patient, r.centre, r.diagnosis, r.study_day, {timepoint} AS timepoint, r.variable, "  # noqa: S608
        f"{value}, NULLIF(r.unit, '') AS unit FROM ("
        + " UNION ALL ".join(branch for branch, _ in branches)
        + ") r WHERE r.number IS NOT NULL OR r.text IS NOT NULL"
    )
    for _, branch_params in branches:
        params += branch_params
    return Query(sql, tuple(params))


def float_text(value: float) -> str:
    """``value`` as PostgreSQL writes a ``double precision`` (``extra_float_digits`` ≥ 1): the shortest text
    that reads back exactly, without a trailing ``.0``, in exponent form below 1e-4 and from 1e15."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    text = repr(value)
    mantissa, _, exponent = text.partition("e")
    if mantissa.endswith(".0"):
        mantissa = mantissa[:-2]
    if exponent:
        return f"{mantissa}e{exponent}"
    if abs(value) < 1e15:
        return mantissa
    # Python writes 1e15 ≤ |x| < 1e16 in full; PostgreSQL switches to the exponent form from 1e15.
    sign, digits = ("-", mantissa[1:]) if mantissa.startswith("-") else ("", mantissa)
    significant = digits.rstrip("0")
    fraction = f".{significant[1:]}" if len(significant) > 1 else ""
    return f"{sign}{significant[0]}{fraction}e+{len(digits) - 1:02d}"


def csv_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row of the cursor statement (``for_copy=False``) as the eight :data:`COLUMNS`, ``value`` written as
    PostgreSQL's ``COPY`` writes it."""
    patient, centre, diagnosis, day, timepoint, variable, number, text, unit = row
    return (
        patient,
        centre,
        diagnosis,
        day,
        timepoint,
        variable,
        text if number is None else float_text(number),
        unit,
    )


def dictionary_csv() -> bytes:
    """The data dictionary of the long format: the tidy columns, then the visit and lab variables."""
    frame = tidy.tidy_dictionary(modes.make_policy(ExportMode.INTERNAL))
    return formats.csv_bytes(frame[frame["domain"].isin(["(all)", *DOMAINS])])
