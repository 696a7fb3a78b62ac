"""``python manage.py case_series``: the command-line twin of the case-series export page.

    python manage.py case_series --table all --format xlsx --output series.xlsx
    python manage.py case_series --table safety --format csv --output out/ --centre ROM
    python manage.py case_series --format tidy --output tidy.zip --mode external --recipient "EBMT registry"
    python manage.py case_series --format long --output long.csv --diagnosis sle

``--format long`` streams every visit and laboratory value in long format (one row per patient × study day
× variable, internal mode only) to the ``--output`` file and writes its data dictionary next to it
(``<name>-dictionary.csv``); see :mod:`registry.exports.stream`.

``--output`` is a file for ``xlsx`` and ``html``, and for ``csv`` of one table with ``--part``; otherwise (CSV
of several files, tidy datasets) a directory (created if needed) or a ``.zip`` archive. ``--series`` may be
left out when the registry has exactly one case series. Never identified: the command offers the internal and
external modes only. It acts as the registry system user, for every centre, and logs the export like the web
page does.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from patients.models import Diagnosis
from registry.exports import builder, longformat, services
from registry.exports.builder import ExportRequest
from registry.exports.definitions import FIGURES, TABLES
from registry.exports.figures import render
from registry.exports.selectors import ExportFilters
from registry.exports.stream import FORMAT as LONG_FORMAT
from registry.exports.stream import LongExport
from registry.management.base import RegistryCommand
from registry.models import CaseSeries, Centre, ExportMode


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"'{value}' is not a date (YYYY-MM-DD).") from None


class Command(RegistryCommand):
    help = "Export a case series' tables (CSV, XLSX, HTML) or tidy datasets; logged like the web export."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--table", choices=[*TABLES, "all"], default="all")
        parser.add_argument(
            "--format",
            dest="fmt",
            choices=[*builder.FORMATS, LONG_FORMAT],
            required=True,
            help="long: every visit and lab value, one row per patient × study day × variable (internal).",
        )
        parser.add_argument("--output", required=True, help="File, directory or .zip (see the module help).")
        parser.add_argument("--series", default="", help="Case series name (default: the only one).")
        parser.add_argument("--centre", default="", help="Centre code, e.g. ROM.")
        parser.add_argument("--diagnosis", default="", choices=["", *Diagnosis.values])
        parser.add_argument("--product", default="", help="Product code, e.g. mb-cart19-1.")
        parser.add_argument(
            "--infused-from", type=_date, default=None, help="Day 0 on or after (YYYY-MM-DD)."
        )
        parser.add_argument("--infused-to", type=_date, default=None, help="Day 0 on or before (YYYY-MM-DD).")
        parser.add_argument("--mode", choices=[ExportMode.INTERNAL, ExportMode.EXTERNAL], default="internal")
        parser.add_argument(
            "--recipient", default="", help="External mode: whom the pseudonyms are keyed for."
        )
        parser.add_argument(
            "--threshold", type=int, default=None, help="External mode: smallest count shown."
        )
        parser.add_argument("--spread", choices=["range", "iqr"], default="range")
        parser.add_argument("--part", choices=["summary", "patients"], default="", help="CSV of one table.")
        parser.add_argument(
            "--figures", default="", help="Also write the figures (SVG and PNG) to this directory."
        )

    def _series(self, name: str) -> CaseSeries:
        if name:
            series = CaseSeries.objects.filter(name=name).first()
            if series is None:
                raise CommandError(f"No case series named '{name}'. Known: {self._names()}")
            return series
        found = list(CaseSeries.objects.all()[:2])
        if len(found) != 1:
            raise CommandError(f"Name the case series with --series. Known: {self._names()}")
        return found[0]

    def _names(self) -> str:
        return "; ".join(CaseSeries.objects.values_list("name", flat=True)) or "(none)"

    def handle(self, *args: Any, **options: Any) -> None:
        series = self._series(options["series"])
        if options["centre"] and not Centre.objects.filter(code=options["centre"]).exists():
            raise CommandError(f"No centre with code '{options['centre']}'.")
        if options["fmt"] == LONG_FORMAT:
            self._long(series, options)
            return
        try:
            policy = services.policy_for(
                options["mode"], recipient=options["recipient"], threshold=options["threshold"]
            )
            request = ExportRequest(
                series=series,
                fmt=options["fmt"],
                policy=policy,
                tables=TABLES if options["table"] == "all" else (options["table"],),
                filters=ExportFilters(
                    centre=options["centre"],
                    diagnosis=options["diagnosis"],
                    product=options["product"],
                    infused_from=options["infused_from"],
                    infused_to=options["infused_to"],
                ),
                spread=options["spread"],
                part=options["part"],
                requested_by=self.system_user.get_username(),
            )
        except ValidationError as exc:
            raise CommandError(
                "; ".join(m for messages in exc.message_dict.values() for m in messages)
            ) from None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        result = builder.build(request, centre_ids=None)
        written = self._write(result, Path(options["output"]))
        services.export_log_record(user=self.system_user, request=request, result=result)
        if options["figures"]:
            written += self._figures(request, Path(options["figures"]))
        counts = ", ".join(f"{k} {v}" for k, v in result.row_counts.items())
        self.stdout.write(f"Case series '{series.name}' ({request.policy.mode}): {counts}.")
        for path in written:
            self.stdout.write(f"  wrote {path}")

    def _long(self, series: CaseSeries, options: dict[str, Any]) -> None:
        if options["mode"] != ExportMode.INTERNAL:
            raise CommandError("--format long is internal only; use --format tidy for an external export.")
        if options["part"] or options["figures"]:
            raise CommandError("--part and --figures do not apply to --format long.")
        output = Path(options["output"])
        if output.is_dir():
            raise CommandError(f"--output must be a file for --format long; '{output}' is a directory.")
        filters = ExportFilters(
            centre=options["centre"],
            diagnosis=options["diagnosis"],
            product=options["product"],
            infused_from=options["infused_from"],
            infused_to=options["infused_to"],
        )
        export = LongExport(user=self.system_user, series=series, centre_ids=None, filters=filters)
        rows = export.write(output)
        dictionary = output.with_name(f"{output.stem}-dictionary.csv")
        dictionary.write_bytes(longformat.dictionary_csv())
        self.stdout.write(f"Case series '{series.name}' (internal, long format): long_rows {rows}.")
        self.stdout.write(f"  wrote {output}")
        self.stdout.write(f"  wrote {dictionary}")

    def _write(self, result: builder.ExportResult, output: Path) -> list[Path]:
        if output.suffix.lower() == ".zip":
            output.parent.mkdir(parents=True, exist_ok=True)
            bundle = result.single() if len(result.files) > 1 else None
            content = (
                bundle.content
                if bundle
                else builder.formats.zip_bytes((f.name, f.content) for f in result.files)
            )
            output.write_bytes(content)
            return [output]
        if len(result.files) == 1 and not output.is_dir():
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_bytes(result.files[0].content)
            return [output]
        output.mkdir(parents=True, exist_ok=True)
        paths = []
        for file in result.files:
            path = output / file.name
            path.write_bytes(file.content)
            paths.append(path)
        return paths

    def _figures(self, request: ExportRequest, directory: Path) -> list[Path]:
        from registry.exports.builder import load

        longitudinal = ExportRequest(
            series=request.series, fmt="html", policy=request.policy, filters=request.filters
        )
        data = load(longitudinal, centre_ids=None)
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for name in FIGURES:
            for fmt in ("svg", "png"):
                path = directory / f"{name}.{fmt}"
                path.write_bytes(render(name, data, request.policy, fmt))
                paths.append(path)
        services.export_log_record(
            user=self.system_user,
            request=request,
            row_counts={"figure_patients": len(data.infused)},
            fmt="svg+png",
            tables=[f"figure:{name}" for name in FIGURES],
        )
        return paths
