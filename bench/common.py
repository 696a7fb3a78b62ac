"""What every benchmark shares: the benchmark database, the synthetic registry in it, timing and reporting.

Every benchmark measures a *figure* and a *baseline* in the same run (alternating, so that other load on the
machine hits both alike), prints both and their ratio, and — where DESIGN §7 sets one — the budget and whether
it is met. Times are medians of the repeats.
"""

from __future__ import annotations

import datetime as dt
import gc
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import connection

SMOKE_PATIENTS = 200
DEFAULT_PATIENTS = 10_000
SUBSET_NAME = "Synthetic subset: the first {n} patients (seed {seed})"


class Refused(Exception):
    """The benchmark database exists and holds real patients: never touched."""


@dataclass
class Result:
    benchmark: str
    name: str
    figure: float
    baseline: float | None
    unit: str
    ratio: float | None = None
    budget: str = ""
    met: bool | None = None
    note: str = ""

    def line(self) -> str:
        base = f"{_fmt(self.baseline, self.unit)}" if self.baseline is not None else "—"
        ratio = f"{self.ratio:.2f}×" if self.ratio is not None else "—"
        verdict = "" if self.met is None else (" MET" if self.met else " NOT MET")
        budget = f"  [budget {self.budget}{verdict}]" if self.budget else ""
        note = f"  ({self.note})" if self.note else ""
        figure = _fmt(self.figure, self.unit)
        return f"{self.name:<58} {figure:>14}  baseline {base:>14}  ratio {ratio:>7}{budget}{note}"


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "s":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "rows/s":
        return f"{value:,.0f} rows/s"
    if unit == "req/s":
        return f"{value:.1f} req/s"
    if unit == "MiB":
        return f"{value:.2f} MiB"
    if unit == "queries":
        return f"{value:.0f} queries"
    return f"{value:g} {unit}"


@dataclass
class Env:
    """The run's options and the fixtures the benchmarks share."""

    smoke: bool
    patients: int
    seed: int
    centres: int
    sizes: list[int]
    vendor: str = ""
    today: dt.date | None = None
    results: list[Result] = field(default_factory=list)
    _subsets: dict[int, Any] = field(default_factory=dict)

    @property
    def repeat(self) -> int:
        return 1 if self.smoke else 5

    def report(self, result: Result) -> Result:
        self.results.append(result)
        print("  " + result.line(), flush=True)
        return result

    def skip(self, benchmark: str, why: str) -> None:
        print(f"  {benchmark}: skipped — {why}", flush=True)

    def subset(self, size: int) -> Any:
        """A case series of the first ``size`` synthetic patients (all of them when ``size`` ≥ registry)."""
        from patients.models import Patient
        from registry.models import CaseSeries

        if size in self._subsets:
            return self._subsets[size]
        name = SUBSET_NAME.format(n=size, seed=self.seed)
        series, created = CaseSeries.objects.get_or_create(
            name=name, defaults={"description": "Benchmark subset (synthetic data)."}
        )
        if created or series.patients.count() != min(size, self.patients):
            ids = list(
                Patient.objects.filter(is_synthetic=True).order_by("pk").values_list("pk", flat=True)[:size]
            )
            series.patients.set(ids)
            # Fresh statistics for the planner: the subset's 10,000 new rows would otherwise be planned as
            # a handful until autovacuum comes by (seen: the tables baseline took 64 s instead of 1.5 s).
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(f"ANALYZE {series.patients.through._meta.db_table}")
        self._subsets[size] = series
        return series


def timed(fn: Callable[[], Any]) -> float:
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def alternate(
    candidate: Callable[[], Any], baseline: Callable[[], Any], repeat: int, *, warmup: int = 1
) -> tuple[float, float]:
    """Median seconds of ``candidate`` and ``baseline``, run one after the other ``repeat`` times."""
    for _ in range(warmup):
        candidate()
        baseline()
    times_c, times_b = [], []
    for _ in range(repeat):
        times_c.append(timed(candidate))
        times_b.append(timed(baseline))
    return statistics.median(times_c), statistics.median(times_b)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# --- the benchmark database ---------------------------------------------------------------------------------


def database_name() -> str:
    return str(settings.DATABASES["default"]["NAME"])


def _real_patients() -> int | None:
    """Non-synthetic patients in the (existing) benchmark database; None when it has no patient table."""
    with connection.cursor() as cursor:
        if "patients_patient" not in connection.introspection.table_names(cursor):
            return None
        cursor.execute("SELECT COUNT(*) FROM patients_patient WHERE NOT is_synthetic")
        return cursor.fetchone()[0]


def _exists() -> bool:
    if connection.vendor == "sqlite":
        import os

        return os.path.exists(database_name())
    with connection._nodb_cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database_name()])
        return cursor.fetchone() is not None


def drop_database() -> None:
    """Drop the benchmark database — only if it holds no real patient."""
    if not _exists():
        return
    real = _real_patients()
    if real:
        raise Refused(
            f"the benchmark database '{database_name()}' holds {real} real patient(s); it is left alone. "
            "Point BENCH_DATABASE_NAME at another database."
        )
    connection.close()
    if connection.vendor == "sqlite":
        import os

        os.remove(database_name())
        return
    with connection._nodb_cursor() as cursor:
        cursor.execute(f'DROP DATABASE "{database_name()}" WITH (FORCE)')


def create_database() -> None:
    if connection.vendor != "sqlite":
        with connection._nodb_cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{database_name()}"')
    call_command("migrate", verbosity=0, interactive=False)


def synthetic_count(seed: int) -> int | None:
    """Patients in the registry's synthetic series of ``seed``; None when the database is not a registry."""
    from registry import synthetic
    from registry.models import CaseSeries

    if not _exists() or _real_patients() is None:
        return None
    series = CaseSeries.objects.filter(name=synthetic.series_name(seed)).first()
    return series.patients.count() if series else 0


def prepare(env: Env, *, reuse: bool) -> None:
    """A fresh benchmark database of ``env.patients`` synthetic patients (``reuse``: the existing one)."""
    from patients.models import Patient
    from registry import synthetic

    env.vendor = connection.vendor
    print(f"benchmark database: {env.vendor} '{database_name()}'", flush=True)
    existing = synthetic_count(env.seed) if reuse else None
    if existing == env.patients and not Patient.objects.filter(is_synthetic=False).exists():
        call_command("migrate", verbosity=0, interactive=False)  # the schema follows the code (new indexes)
        print(f"  reusing its synthetic registry of {existing} patients", flush=True)
    else:
        drop_database()
        started = time.perf_counter()
        create_database()
        print(f"  created and migrated in {time.perf_counter() - started:.1f} s", flush=True)
        result = synthetic.generate(
            patients=env.patients,
            centres=env.centres,
            seed=env.seed,
            today=env.today,
            progress=_progress if not env.smoke else None,
        )
        print(
            f"  generated {result.patients} patients, {result.total_rows:,} rows in {result.seconds:.1f} s: "
            f"{result.patients_per_second:.1f} patients/s, {result.rows_per_second:,.0f} rows/s",
            flush=True,
        )
        env.results.append(
            Result(
                "generator",
                "generator: rows/s",
                result.rows_per_second,
                None,
                "rows/s",
                note=f"{result.patients_per_second:.1f} patients/s, {result.total_rows:,} rows",
            )
        )
    if env.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")  # as autovacuum would have by now: statistics, visibility map


def _progress(done: int, counts: dict[str, int], seconds: float) -> None:
    if done % 1000 == 0 or done < 1000:
        rows = sum(counts.values())
        print(f"    {done} patients, {rows:,} rows, {seconds:.0f} s", file=sys.stderr, flush=True)


def users() -> dict[str, Any]:
    """A registry-wide coordinator and a clinician of the largest synthetic centre (created once)."""
    from django.contrib.auth import get_user_model
    from django.db.models import Count

    from registry.models import Centre, Membership

    user_model = get_user_model()
    centre = Centre.objects.annotate(n=Count("patients")).order_by("-n", "code").first()
    found = {}
    for username, role, where in (
        ("bench.coordinator", "coordinator", None),
        ("bench.clinician", "clinician", centre),
    ):
        user = user_model.objects.filter(username=username).first()
        if user is None:
            user = user_model.objects.create_user(username=username, password="bench-only-password-1")
        Membership.objects.get_or_create(user=user, centre=where, defaults={"role": role})
        found[role] = user
    found["centre"] = centre
    return found
