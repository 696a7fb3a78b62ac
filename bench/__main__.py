"""Run the benchmarks of DESIGN §7 on a synthetic registry: ``python -m bench`` (``make bench``).

    python -m bench --smoke                      # every benchmark on 200 patients, quickly (CI)
    python -m bench --patients 10000             # the budgets; tables and export also at the first 1,000
    python -m bench --patients 10000 --reuse --only tables,export

The benchmarks run on a database of their own (:mod:`bench.settings`: ``<configured name>_bench`` on
PostgreSQL, a temporary SQLite file otherwise), created, migrated and filled by the synthetic-registry
generator (:mod:`registry.synthetic`); ``--reuse`` keeps an existing one with the same number of patients
and seed. A database holding real patients is never dropped or written to. With ``--smoke`` the database is
dropped at the end (unless ``--keep``) and the exit status is 0 when every benchmark ran, whatever the
figures; budgets are reported, never asserted. PostgreSQL-only parts (COPY) are skipped with a message on
SQLite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import traceback

BENCHMARKS = ("pages", "tables", "export", "api", "summaries")
#: Benchmarks that need a module that another issue adds (skipped with a message while it is missing).
REQUIRES = {
    "tables": "registry.exports",
    "export": None,
    "api": "registry.api",
    "summaries": "registry.summaries",
}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--smoke", action="store_true", help="every benchmark on a tiny registry (200 patients)"
    )
    parser.add_argument("--patients", type=int, help="synthetic patients (default 10,000; 200 with --smoke)")
    parser.add_argument("--only", default="", help=f"comma-separated benchmarks: {', '.join(BENCHMARKS)}")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument("--centres", type=int, default=12, help="synthetic centres (default 12)")
    parser.add_argument("--sizes", default="", help="case-series sizes for tables/export (default 1000,N)")
    parser.add_argument("--reuse", action="store_true", help="reuse the benchmark database if it matches")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database after --smoke")
    parser.add_argument("--database", default="", help="benchmark database name (default <configured>_bench)")
    parser.add_argument("--today", type=dt.date.fromisoformat, help="the registry's today (default: today)")
    args = parser.parse_args(argv)
    chosen = [b.strip() for b in args.only.split(",") if b.strip()] or list(BENCHMARKS)
    unknown = [b for b in chosen if b not in BENCHMARKS]
    if unknown:
        parser.error(
            f"--only: unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}"
        )
    args.chosen = chosen
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    if args.database:
        os.environ["BENCH_DATABASE_NAME"] = args.database
    import importlib.util

    import django

    django.setup()
    from bench import common

    patients = args.patients or (common.SMOKE_PATIENTS if args.smoke else common.DEFAULT_PATIENTS)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()] or (
        [min(100, patients), patients] if args.smoke else [min(1000, patients), patients]
    )
    env = common.Env(
        smoke=args.smoke,
        patients=patients,
        seed=args.seed,
        centres=args.centres,
        sizes=sorted(set(sizes)),
        today=args.today,
    )
    started = time.perf_counter()
    failures: list[str] = []
    try:
        common.prepare(env, reuse=args.reuse)
        for name in args.chosen:
            module = REQUIRES.get(name)
            if module and importlib.util.find_spec(module) is None:
                env.skip(name, f"{module} does not exist yet")
                continue
            print(f"\n[{name}]", flush=True)
            bench_started = time.perf_counter()
            try:
                __import__(f"bench.{name}", fromlist=["run"]).run(env)
            except Exception:  # one broken benchmark must not hide the others
                traceback.print_exc()
                failures.append(name)
            print(f"  ({time.perf_counter() - bench_started:.1f} s)", flush=True)
    except common.Refused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.smoke and not args.keep:
            try:
                common.drop_database()
            except common.Refused as exc:  # pragma: no cover - checked before anything was written
                print(f"refused: {exc}", file=sys.stderr)
    summary(env, time.perf_counter() - started)
    if failures:
        print(f"\nFAILED: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


def summary(env, seconds: float) -> None:
    gated = [r for r in env.results if r.met is not None]
    print(f"\n{len(env.results)} figures on {env.patients:,} patients ({env.vendor}) in {seconds:.0f} s")
    for r in gated:
        print(
            f"  {'MET    ' if r.met else 'NOT MET'}  {r.name}: ratio {r.ratio:.2f}×"
            if r.ratio is not None
            else f"  {'MET    ' if r.met else 'NOT MET'}  {r.name}: {r.note}"
        )
    if env.smoke:
        print("(smoke run: tiny registry, figures not meaningful; budgets are judged at 10,000 patients)")


if __name__ == "__main__":
    sys.exit(main())
