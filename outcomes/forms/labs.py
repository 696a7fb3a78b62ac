"""Laboratory values: the grid (one sample, many analytes) and the paste box (a series)."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _

from outcomes.labs import ANALYTES, Analyte
from outcomes.models import (
    LabResult,
    LabSource,
)
from outcomes.services import MAX_GRID_ROWS, LabInput
from patients.forms import (
    DateField,
    RecordForm,
    model_field,
)

# --- labs: the grid ---------------------------------------------------------------------------------------

LAB_GROUP_LABELS: dict[str, Any] = {
    "cbc": _("Blood count"),
    "lymphocyte_subsets": _("Lymphocyte subsets (flow)"),
    "car_t": _("CAR T cells"),
    "immunoglobulins": _("Immunoglobulins"),
    "inflammation": _("Inflammation"),
    "renal": _("Kidney"),
    "serology": _("Serology"),
    "muscle": _("Muscle enzymes"),
    "other": _("Other"),
}


def unit_error(spec: Analyte) -> str:
    return _t("%(value)s is not a unit for {label}; allowed: {units}.").format(
        label=spec.label, units=", ".join(spec.units)
    )


def sample_time_field() -> forms.TimeField:
    return forms.TimeField(
        label=_("Sample time (centre's local time)"),
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )


def aware(on: dt.date, at: dt.time, tz_name: str) -> dt.datetime:
    return dt.datetime.combine(on, at, tzinfo=zoneinfo.ZoneInfo(tz_name))


class LabGridForm(RecordForm):
    """Many analytes for one sample time: one row per analyte (value, unit, LLN, ULN); empty rows skipped."""

    sampled_on = DateField(label=_("Sample date"))
    sampled_time = sample_time_field()
    source = model_field(LabResult, "source")

    def __init__(
        self,
        *args: Any,
        patient: Any,
        reference_ranges: dict[str, tuple[float | None, float | None]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.patient = patient
        ranges = reference_ranges or {}
        self.codes_in_order: list[str] = []
        for code, spec in ANALYTES.items():
            self.codes_in_order.append(code)
            self.fields[f"{code}-value"] = forms.CharField(
                label=_("%(a)s: value") % {"a": spec.label},
                required=False,
                max_length=30,
                widget=forms.TextInput(
                    attrs={"inputmode": "decimal", "autocomplete": "off", "class": "value"}
                ),
            )
            self.fields[f"{code}-unit"] = forms.ChoiceField(
                label=_("%(a)s: unit") % {"a": spec.label},
                choices=[(u, u) for u in spec.units],
                initial=spec.unit,
                required=False,  # an empty row needs no unit; a filled row without one takes the canonical
                error_messages={"invalid_choice": unit_error(spec)},
            )
            lln, uln = ranges.get(code, (None, None))
            for bound, value in (("lln", lln), ("uln", uln)):
                self.fields[f"{code}-{bound}"] = forms.CharField(
                    label=_("%(a)s: %(b)s") % {"a": spec.label, "b": bound.upper()},
                    required=False,
                    max_length=30,
                    initial=None if value is None else f"{value:g}",
                    widget=forms.TextInput(
                        attrs={"inputmode": "decimal", "autocomplete": "off", "class": "limit"}
                    ),
                )
        if self.preview:
            self.make_optional()
        self._row_codes: list[str] = []

    def groups_of_rows(self) -> list[dict[str, Any]]:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for code, spec in ANALYTES.items():
            grouped.setdefault(spec.group, []).append(
                {
                    "code": code,
                    "label": spec.label,
                    "canonical": spec.unit,
                    "value": self[f"{code}-value"],
                    "unit": self[f"{code}-unit"],
                    "lln": self[f"{code}-lln"],
                    "uln": self[f"{code}-uln"],
                }
            )
        return [{"label": LAB_GROUP_LABELS.get(g, g), "rows": rows} for g, rows in grouped.items()]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not self.preview and not self.items():
            raise ValidationError(_("Enter at least one value."))
        return cleaned

    def sampled_at(self) -> dt.datetime | None:
        on, at = self.cleaned_data.get("sampled_on"), self.cleaned_data.get("sampled_time")
        if on is None or at is None:
            return None
        return aware(on, at, self.patient.centre.time_zone)

    def items(self) -> list[LabInput]:
        """The filled rows, in grid order; :meth:`row_field` maps the service's "row N" back to them."""
        when = self.sampled_at()
        items, self._row_codes = [], []
        for code in self.codes_in_order:
            value = (self.cleaned_data.get(f"{code}-value") or "").strip()
            if not value:
                continue
            self._row_codes.append(code)
            items.append(
                LabInput(
                    analyte=code,
                    value=value,
                    unit=self.cleaned_data.get(f"{code}-unit") or ANALYTES[code].unit,
                    sampled_at=when,  # type: ignore[arg-type]
                    lln=(self.cleaned_data.get(f"{code}-lln") or "").strip() or None,
                    uln=(self.cleaned_data.get(f"{code}-uln") or "").strip() or None,
                    source=self.cleaned_data.get("source") or LabSource.LOCAL,
                )
            )
        return items

    def row_field(self, key: str) -> str | None:
        match = re.fullmatch(r"row (\d+) (\w+)", key)
        if not match:
            return None
        index, field = int(match.group(1)), match.group(2)
        if not 1 <= index <= len(self._row_codes):
            return None
        if field == "sampled_at":
            return "sampled_time"
        name = f"{self._row_codes[index - 1]}-{field}"
        return name if name in self.fields else None


# --- labs: the paste box --------------------------------------------------------------------------------

_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y")
_TIME_FORMATS = ("%H:%M", "%H:%M:%S", "%H.%M")
_TIME = re.compile(r"^\d{1,2}[:.]\d{2}([:.]\d{2})?$")

# Names found on lab reports and spreadsheets, besides each analyte's code and label.
ANALYTE_ALIASES = {
    "leukocytes": "wbc",
    "leucocytes": "wbc",
    "neutrophils": "anc",
    "lymphocytes": "alc",
    "plt": "platelets",
    "hb": "haemoglobin",
    "hgb": "haemoglobin",
    "hemoglobin": "haemoglobin",
    "cd19+": "cd19",
    "b cells": "cd19",
    "cd3+": "cd3",
    "cd4+": "cd4",
    "cd8+": "cd8",
    "car-t": "car_t",
    "car t": "car_t",
    "il-6": "il6",
    "anti-dsdna": "anti_dsdna",
    "dsdna": "anti_dsdna",
    "upcr": "upcr",
    "cpk": "ck",
}


def resolve_analyte(name: str) -> str | None:
    key = " ".join(name.strip().lower().split())
    if key in ANALYTES:
        return key
    for code, spec in ANALYTES.items():
        if spec.label.lower() == key:
            return code
    return ANALYTE_ALIASES.get(key)


def resolve_unit(code: str, unit: str) -> str:
    """The analyte's own spelling of ``unit`` (``mg/dl`` → ``mg/dL``) when the case-blind match is unique.

    An analyte never has two units that differ only in case (G/L is a count unit, g/L a mass one, never
    both for one analyte), so the match cannot change what a value means; anything else is left as typed
    for the service to refuse with the allowed units.
    """
    unit = unit.strip().replace("μ", "µ")  # Greek mu → micro sign
    units = ANALYTES[code].units
    if unit in units:
        return unit
    folded = [u for u in units if u.lower() == unit.lower()]
    return folded[0] if len(folded) == 1 else unit


def parse_when(text: str, tz_name: str) -> dt.datetime:
    text = " ".join(text.replace("T", " ").split())
    parts = text.split(" ")
    if len(parts) != 2:
        raise ValueError(_t("give the date and the time, e.g. 2025-03-14 08:30 or 14.03.2025 08:30"))
    on = at = None
    for fmt in _DATE_FORMATS:
        try:
            on = dt.datetime.strptime(parts[0], fmt).date()
            break
        except ValueError:
            continue
    for fmt in _TIME_FORMATS:
        try:
            at = dt.datetime.strptime(parts[1], fmt).time()
            break
        except ValueError:
            continue
    if on is None or at is None:
        raise ValueError(
            _t("'%(v)s' is not a date and time (2025-03-14 08:30, 14.03.2025 08:30 or 14/03/2025 08:30)")
            % {"v": text}
        )
    return aware(on, at, tz_name)


@dataclass(frozen=True)
class PastedLine:
    line: int
    item: LabInput


class LabPasteForm(RecordForm):
    """A series pasted from a spreadsheet; every line is checked before anything is saved."""

    lines = forms.CharField(
        label=_("Lines to paste"),
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false", "class": "paste"}),
        help_text=_(
            "One value per line, columns separated by tabs (as copied from a spreadsheet) or semicolons: "
            "date and time; analyte; value; unit; optionally LLN; ULN (in the unit of the line). "
            "Decimal commas are fine. At most %(n)s lines at once; a first line without any digit is "
            "taken as a header."
        )
        % {"n": MAX_GRID_ROWS},
    )
    source = model_field(LabResult, "source")

    COLUMNS = ("sampled_at", "analyte", "value", "unit", "lln", "uln")
    COLUMN_LABELS = {
        "sampled_at": _("date and time"),
        "analyte": _("analyte"),
        "value": _("value"),
        "unit": _("unit"),
        "lln": _("LLN"),
        "uln": _("ULN"),
        "source": _("source"),
    }

    def __init__(self, *args: Any, patient: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.patient = patient
        self.parsed: list[PastedLine] = []
        self.line_errors: list[str] = []

    def line_error(self, line: int, column: str, message: str) -> str:
        label = self.COLUMN_LABELS.get(column, column)
        return _t("Line %(n)s, %(col)s: %(msg)s") % {"n": line, "col": label, "msg": message}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        text = cleaned.get("lines") or ""
        numbered = [(n, raw) for n, raw in enumerate(text.splitlines(), start=1) if raw.strip()]
        if numbered and not re.search(r"\d", numbered[0][1]):
            numbered = numbered[1:]  # a header line (no digit anywhere: no date, no value)
        if len(numbered) > MAX_GRID_ROWS:
            self.add_error(
                "lines",
                _("At most %(n)s lines can be pasted at once; split the paste (got %(m)s).")
                % {"n": MAX_GRID_ROWS, "m": len(numbered)},
            )
            return cleaned
        if not numbered and not self.preview:
            self.add_error("lines", _("Paste at least one line."))
            return cleaned
        source = cleaned.get("source") or LabSource.LOCAL
        errors: list[str] = []
        for n, raw in numbered:
            cells = _cells(raw)
            if len(cells) < 4:
                errors.append(
                    self.line_error(
                        n,
                        "line",
                        _t(
                            "expected at least 4 columns (date and time; analyte; value; unit) separated by "
                            "tabs or semicolons, found %(k)s"
                        )
                        % {"k": len(cells)},
                    )
                )
                continue
            if len(cells) >= 5 and _TIME.match(cells[1]) and not _TIME.match(cells[0]):
                cells = [f"{cells[0]} {cells[1]}", *cells[2:]]  # date and time in separate columns
            if len(cells) > 6:
                errors.append(
                    self.line_error(n, "line", _t("at most 6 columns, found %(k)s") % {"k": len(cells)})
                )
                continue
            try:
                when = parse_when(cells[0], self.patient.centre.time_zone)
            except ValueError as exc:
                errors.append(self.line_error(n, "sampled_at", str(exc)))
                continue
            code = resolve_analyte(cells[1])
            if code is None:
                errors.append(
                    self.line_error(
                        n,
                        "analyte",
                        _t("'%(v)s' is not a known analyte; use a code such as %(codes)s")
                        % {"v": cells[1], "codes": ", ".join(ANALYTES)},
                    )
                )
                continue
            padded = [*cells, "", ""][:6]
            self.parsed.append(
                PastedLine(
                    n,
                    LabInput(
                        analyte=code,
                        value=padded[2],
                        unit=resolve_unit(code, padded[3]),
                        sampled_at=when,
                        lln=padded[4] or None,
                        uln=padded[5] or None,
                        source=source,
                    ),
                )
            )
        if errors:
            self.line_errors = errors
            self.add_error("lines", errors)
        return cleaned

    def items(self) -> list[LabInput]:
        return [p.item for p in self.parsed]

    def service_errors_to_lines(self, exc: ValidationError) -> None:
        """ "row N field" from the service → "Line L, field" of the paste."""
        if not hasattr(exc, "error_dict"):
            self.add_error("lines", exc.messages)
            return
        messages = []
        for key, errors in exc.error_dict.items():
            match = re.fullmatch(r"row (\d+) (\w+)", key)
            for message in (m for e in errors for m in e.messages):
                if match and 1 <= int(match.group(1)) <= len(self.parsed):
                    line = self.parsed[int(match.group(1)) - 1].line
                    messages.append(self.line_error(line, match.group(2), message))
                else:
                    messages.append(message)
        self.line_errors = messages
        self.add_error("lines", messages)


def _cells(raw: str) -> list[str]:
    separator = "\t" if "\t" in raw else ";"
    cells = [c.strip() for c in raw.split(separator)]
    while cells and not cells[-1]:
        cells.pop()
    return cells
