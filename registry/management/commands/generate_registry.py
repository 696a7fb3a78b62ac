"""Fill a database with a synthetic registry for benchmarks (bulk inserts, no audit; DESIGN §5 and §7).

    python manage.py generate_registry --patients 10000                  # 12 centres, seed 1
    python manage.py generate_registry --patients 1000 --centres 4 --seed 7 --today 2026-01-31

Refuses to run on a database that holds any real (non-synthetic) patient: create an empty one first
(``createdb registry_bench``, then ``DATABASE_URL=postgres://…/registry_bench python manage.py migrate``).
Every value is invented (see :mod:`registry.synthetic`). Prints the rows written per table and the speed
(patients/s, rows/s).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import CommandError, CommandParser

from registry import synthetic
from registry.management.base import RegistryCommand


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--today: '{value}' is not a date in YYYY-MM-DD form") from None


class Command(RegistryCommand):
    help = (
        "Generate a synthetic registry of N patients (benchmarks only; refuses databases with real patients)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--patients", type=int, required=True, help="Synthetic patients to add.")
        parser.add_argument(
            "--centres", type=int, default=synthetic.DEFAULT_CENTRES, help="Synthetic centres (default 12)."
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=synthetic.DEFAULT_SEED,
            help="Random seed (default 1): same seed, same data",
        )
        parser.add_argument("--today", type=_date, help="The registry's 'today' (default: today).")
        parser.add_argument(
            "--chunk", type=int, default=synthetic.DEFAULT_CHUNK, help="Patients per insert transaction."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["patients"] < 1:
            raise CommandError("--patients must be at least 1")
        if options["chunk"] < 1:
            raise CommandError("--chunk must be at least 1")
        verbosity = options["verbosity"]

        def progress(done: int, counts: dict[str, int], seconds: float) -> None:
            if verbosity >= 1:
                rows = sum(counts.values())
                self.stdout.write(
                    f"  {done:>7} patients, {rows:>10} rows, {seconds:7.1f} s "
                    f"({done / seconds:6.1f} patients/s, {rows / seconds:8.0f} rows/s)"
                )

        try:
            result = synthetic.generate(
                patients=options["patients"],
                centres=options["centres"],
                seed=options["seed"],
                today=options["today"],
                chunk=options["chunk"],
                progress=progress,
            )
        except synthetic.RealPatientsPresent as exc:
            raise CommandError(str(exc)) from None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        for label, count in sorted(result.rows.items()):
            self.stdout.write(f"{label:<36} {count:>10}")
        self.stdout.write(
            self.style.SUCCESS(
                f"{result.patients} synthetic patients, {result.total_rows} rows in {result.seconds:.1f} s: "
                f"{result.patients_per_second:.1f} patients/s, {result.rows_per_second:.0f} rows/s "
                f"(case series '{result.series.name if result.series else ''}')."
            )
        )
