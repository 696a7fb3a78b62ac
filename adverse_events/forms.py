"""Browser forms for toxicity: CRS and ICANS assessments, blood counts, supportive care, infections and other
adverse events.

The forms only shape and range-check raw observations; there is no input for a CRS, ICANS or laboratory grade
(DESIGN §3, computed vs entered) — the services compute them, and the previews show what they will store.
The infection grade and the grade of other adverse events are the clinician's judgement and are entered.
Times are typed in the centre's time zone (``datetime-local``), whatever the server's zone.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from adverse_events import grading, services
from adverse_events.models import (
    SERIOUS_CRITERIA,
    AdverseEvent,
    CrsAssessment,
    IcansAssessment,
    Infection,
    SupportiveCare,
)
from outcomes.labs import ANALYTES
from outcomes.services import LabInput, local_date
from patients.forms import DecimalCommaField, RangeValidator, RecordForm, model_field, reason_field
from patients.models import Patient

# --- times in the centre's time zone ----------------------------------------------------------------------


class LocalDateTimeField(forms.DateTimeField):
    """A ``datetime-local`` input read and shown in the centre's time zone (not the server's)."""

    def __init__(self, *args: Any, time_zone: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault(
            "widget", forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
        )
        super().__init__(*args, **kwargs)
        self.time_zone = time_zone or settings.TIME_ZONE

    def to_python(self, value: Any) -> dt.datetime | None:
        with timezone.override(zoneinfo.ZoneInfo(self.time_zone)):
            return super().to_python(value)

    def prepare_value(self, value: Any) -> Any:
        with timezone.override(zoneinfo.ZoneInfo(self.time_zone)):
            return super().prepare_value(value)


def _now_in(time_zone: str) -> dt.datetime:
    return timezone.localtime(timezone.now(), zoneinfo.ZoneInfo(time_zone)).replace(second=0, microsecond=0)


def _decimal(label: Any, low: float, high: float, **kwargs: Any) -> forms.Field:
    field = DecimalCommaField(label=label, required=False, **kwargs)
    field.validators.append(RangeValidator(label, Decimal(str(low)), Decimal(str(high))))
    return field


def _int_field(label: Any, maximum: int, help_text: Any = "") -> forms.IntegerField:
    field = forms.IntegerField(
        label=label,
        required=False,
        help_text=help_text,
        widget=forms.NumberInput(attrs={"min": 0, "max": maximum, "step": 1, "inputmode": "numeric"}),
    )
    field.validators.append(RangeValidator(label, 0, maximum))
    return field


# --- CRS --------------------------------------------------------------------------------------------------

VASOPRESSOR_LABELS = {
    "norepinephrine": _("Norepinephrine (noradrenaline)"),
    "epinephrine": _("Epinephrine (adrenaline)"),
    "dopamine": _("Dopamine"),
    "phenylephrine": _("Phenylephrine"),
    "vasopressin": _("Vasopressin"),
}
VASOPRESSOR_MAX_DOSE = 10  # µg/kg/min, as the service checks
# The dose is stored in µg/kg/min (``dose_mcg_kg_min``); vasopressin is dosed in units/kg/min, so the form
# records only that it was given (the grade needs no dose).
VASOPRESSORS_DOSED_PER_MCG = tuple(a for a in grading.VASOPRESSORS if a != "vasopressin")

CRS_SIMPLE_FIELDS = tuple(name for name in services.CRS_FIELDS if name != "vasopressors")
CRS_FORM_FIELDS = (
    "assessed_at",
    *CRS_SIMPLE_FIELDS,
    *(f"vaso_{agent}" for agent in grading.VASOPRESSORS),
)
CRS_FLAGS = frozenset(
    name for name in CRS_SIMPLE_FIELDS if isinstance(CrsAssessment._meta.get_field(name), models.BooleanField)
)


def crs_observations(data: dict[str, Any]) -> dict[str, Any]:
    """The service's keyword arguments from the cleaned form data (vasopressors as agent/dose entries)."""
    observations = {
        name: bool(data.get(name)) if name in CRS_FLAGS else data.get(name) for name in CRS_SIMPLE_FIELDS
    }
    observations["oxygen_device"] = data.get("oxygen_device") or "none"
    observations["vasopressors"] = [
        {
            "agent": agent,
            "dose_mcg_kg_min": (
                None if data.get(f"vaso_{agent}_dose") is None else float(data[f"vaso_{agent}_dose"])
            ),
        }
        for agent in grading.VASOPRESSORS
        if data.get(f"vaso_{agent}")
    ]
    return observations


def crs_initial(row: CrsAssessment) -> dict[str, Any]:
    initial: dict[str, Any] = {name: getattr(row, name) for name in CRS_SIMPLE_FIELDS}
    initial["assessed_at"] = row.assessed_at
    for entry in row.vasopressors:
        initial[f"vaso_{entry['agent']}"] = True
        if entry.get("dose_mcg_kg_min") is not None:
            initial[f"vaso_{entry['agent']}_dose"] = Decimal(str(entry["dose_mcg_kg_min"]))
    return initial


class CrsForm(RecordForm):
    """Raw CRS observations; the ASTCT 2019 grade is computed (there is no grade input)."""

    assessed_at = LocalDateTimeField(label=_("Assessed at"), help_text=_("Local time at the centre."))
    max_temperature_c = model_field(CrsAssessment, "max_temperature_c")
    antipyretic_given = model_field(CrsAssessment, "antipyretic_given")
    fever_other_cause = model_field(CrsAssessment, "fever_other_cause")
    hypotension = model_field(CrsAssessment, "hypotension")
    fluid_bolus_ml_per_kg = model_field(CrsAssessment, "fluid_bolus_ml_per_kg")
    oxygen_device = model_field(CrsAssessment, "oxygen_device")
    oxygen_flow_l_min = model_field(CrsAssessment, "oxygen_flow_l_min")
    tocilizumab_mg_per_kg = model_field(CrsAssessment, "tocilizumab_mg_per_kg")
    corticosteroid_given = model_field(CrsAssessment, "corticosteroid_given")
    anakinra_given = model_field(CrsAssessment, "anakinra_given")
    died_of_crs = model_field(CrsAssessment, "died_of_crs")

    fieldsets = [
        (None, ["assessed_at"]),
        (_("Fever"), ["max_temperature_c", "antipyretic_given", "fever_other_cause"]),
        (_("Hypotension"), ["hypotension", "fluid_bolus_ml_per_kg"]),
        (
            _("Vasopressors (any vasopressor means hypotension)"),
            [name for agent in grading.VASOPRESSORS for name in (f"vaso_{agent}", f"vaso_{agent}_dose")],
        ),
        (_("Hypoxia"), ["oxygen_device", "oxygen_flow_l_min"]),
        (_("Treatment of CRS"), ["tocilizumab_mg_per_kg", "corticosteroid_given", "anakinra_given"]),
        (None, ["died_of_crs", "reason"]),
    ]

    def __init__(self, *args: Any, time_zone: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assessed_at"].time_zone = time_zone
        if not self.is_bound and not self.initial.get("assessed_at"):
            self.initial["assessed_at"] = _now_in(time_zone)
        self.fields["oxygen_flow_l_min"].help_text = _(
            "Nasal cannula: ≤ 6 L/min is low-flow (grade 2), above 6 high-flow (grade 3)."
        )
        for agent in grading.VASOPRESSORS:
            label = VASOPRESSOR_LABELS[agent]
            self.fields[f"vaso_{agent}"] = forms.BooleanField(label=label, required=False)
            if agent in VASOPRESSORS_DOSED_PER_MCG:
                self.fields[f"vaso_{agent}_dose"] = _decimal(
                    _("%(agent)s dose (µg/kg/min)") % {"agent": label}, 0, VASOPRESSOR_MAX_DOSE
                )
        self.fields["vaso_vasopressin"].help_text = _(
            "Dosed in units, not µg/kg/min: only whether it was given is recorded (enough for the grade)."
        )
        if self.preview:
            self.make_optional()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for agent in grading.VASOPRESSORS:
            if cleaned.get(f"vaso_{agent}_dose") is not None and not cleaned.get(f"vaso_{agent}"):
                self.add_error(
                    f"vaso_{agent}_dose",
                    _("A dose was given for %(agent)s: tick it as given, or clear the dose.")
                    % {"agent": VASOPRESSOR_LABELS[agent]},
                )
        return cleaned


class CrsEditForm(CrsForm):
    reason = reason_field()


# --- ICANS ------------------------------------------------------------------------------------------------

ICE_LABELS = {
    "orientation": (_("Orientation (0–4)"), _("Year, month, city, hospital: 1 point each.")),
    "naming": (_("Naming (0–3)"), _("Names 3 objects (e.g. watch, pen, button): 1 point each.")),
    "following_commands": (_("Following commands (0–1)"), _("e.g. “show me 2 fingers”.")),
    "writing": (_("Writing (0–1)"), _("Writes a standard sentence.")),
    "attention": (_("Attention (0–1)"), _("Counts backwards from 100 by 10.")),
}
# Short labels, not the instrument's text (CAPD is copyright Cornell University; GRADING.md §2.4).
CAPD_LABELS = {
    1: _("1. Eye contact with the caregiver"),
    2: _("2. Purposeful actions"),
    3: _("3. Aware of the surroundings"),
    4: _("4. Communicates needs and wants"),
    5: _("5. Restless"),
    6: _("6. Inconsolable"),
    7: _("7. Underactive (very little movement while awake)"),
    8: _("8. Slow to respond to interactions"),
}
CAPD_ANSWER_LABELS = {
    "never": _("Never"),
    "rarely": _("Rarely"),
    "sometimes": _("Sometimes"),
    "often": _("Often"),
    "always": _("Always"),
}
ICANS_DOMAIN_FIELDS = (
    "consciousness",
    "seizure",
    "motor",
    "cerebral_edema",
    "findings_other_cause",
    "died_of_icans",
)


def capd_field_name(item: int) -> str:
    return f"capd_{item}"


class IcansForm(RecordForm):
    """ICE (≥ 12 years) or CAPD (< 12 or developmental delay), chosen from the age at the assessment time.

    The date of birth stays in the service (``services.age_at``); the form shows only the tool and the age.
    On a bound form the tool follows the posted time and developmental delay, so changing the time and
    pressing Preview re-renders the other tool's items.
    """

    def __init__(self, *args: Any, patient: Patient, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.patient = patient
        time_zone = patient.centre.time_zone
        self.tool_error: ValidationError | None = None
        fields = self.fields
        fields["assessed_at"] = LocalDateTimeField(
            label=_("Assessed at"),
            time_zone=time_zone,
            help_text=_("Local time at the centre. The age at this time chooses ICE or CAPD."),
        )
        if not self.is_bound and not self.initial.get("assessed_at"):
            self.initial["assessed_at"] = _now_in(time_zone)
        fields["developmental_delay"] = model_field(IcansAssessment, "developmental_delay")
        fields["developmental_delay"].help_text = _(
            "With a baseline developmental delay CAPD is used at any age."
        )
        fields["tool_shown"] = forms.CharField(required=False, widget=forms.HiddenInput)
        self.tool, self.age_years = self._decide_tool()
        if self.tool_error is not None:  # no date of birth: say so before the user fills anything in
            fields["assessed_at"].help_text = " ".join(self.tool_error.messages)
        self.initial["tool_shown"] = self.tool or ""
        if self.tool == "ice":
            for name, (label, help_text) in ICE_LABELS.items():
                fields[name] = _int_field(label, grading.ICE_ITEM_MAXIMA[name], help_text)
        elif self.tool == "capd":
            for item in grading.CAPD_ITEMS:
                label = CAPD_LABELS[item]
                fields[capd_field_name(item)] = forms.ChoiceField(
                    label=label,
                    required=False,
                    choices=list(CAPD_ANSWER_LABELS.items()),
                    widget=forms.RadioSelect(attrs={"class": "capd-answers"}),
                    error_messages={
                        "invalid_choice": _(
                            "%(item)s: “%%(value)s” is not an answer; choose never, rarely, sometimes, often "
                            "or always."
                        )
                        % {"item": label}
                    },
                )
        fields["unable_to_perform"] = model_field(IcansAssessment, "unable_to_perform")
        fields["unable_to_perform"].help_text = _("Leave the items empty; grade 4 (ICE 0 and unarousable).")
        if self.tool == "ice":
            fields["awake_with_global_aphasia"] = model_field(IcansAssessment, "awake_with_global_aphasia")
            fields["awake_with_global_aphasia"].help_text = _(
                "With 'unable to perform': ICE 0 while awake with global aphasia is grade 3, not 4."
            )
        fields["score_not_obtained"] = forms.BooleanField(
            label=_("Score not obtained for another reason"),
            required=False,
            help_text=_(
                "e.g. sedation for a procedure: the score is left out of the grade; say why under 'findings "
                "attributed to another cause'."
            ),
        )
        for name in ICANS_DOMAIN_FIELDS:
            fields[name] = model_field(IcansAssessment, name)
        if self.preview:
            self.make_optional()

    @property
    def item_names(self) -> list[str]:
        return icans_item_names(self.tool)

    @property
    def fieldsets(self) -> list[tuple[Any, list[str]]]:  # type: ignore[override]
        if self.tool == "ice":
            score_legend = _("ICE score (age %(age)s years)") % {"age": self.age_years}
        elif self.tool == "capd":
            score_legend = _(
                "CAPD (age %(age)s years): items 1–4 are scored in reverse (never = 4), items 5–8 directly "
                "(always = 4)"
            ) % {"age": self.age_years}
        else:
            score_legend = _("Encephalopathy score")
        return [
            (None, ["assessed_at", "developmental_delay", "tool_shown"]),
            (
                score_legend,
                [*self.item_names, "unable_to_perform", "awake_with_global_aphasia", "score_not_obtained"],
            ),
            (_("Other domains"), ["consciousness", "seizure", "motor", "cerebral_edema"]),
            (None, ["findings_other_cause", "died_of_icans", "reason"]),
        ]

    def _decide_tool(self) -> tuple[str | None, Decimal | None]:
        moment = None
        if self.is_bound:
            try:
                moment = self.fields["assessed_at"].clean(self["assessed_at"].data)
            except ValidationError:
                moment = None
            delay = bool(self["developmental_delay"].data)
        else:
            delay = bool(self.initial.get("developmental_delay"))
        if moment is None:
            moment = self.initial.get("assessed_at") or _now_in(self.patient.centre.time_zone)
        try:
            age = services.age_at(self.patient, local_date(moment, self.patient.centre.time_zone))
        except ValidationError as exc:
            self.tool_error = exc
            return None, None
        return grading.icans_tool(age_years=float(age), developmental_delay=delay), age

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        cleaned["tool"] = self.tool
        if self.tool_error is not None:
            self.add_error("assessed_at", self.tool_error.messages)
            return cleaned
        shown = self.data.get("tool_shown") or ""
        # Render the tool now in use, so that the next Save is checked against what the user saw.
        self.data = self.data.copy()
        self.data["tool_shown"] = self.tool or ""
        if shown and shown != self.tool:
            self.add_error(
                None,
                _(
                    "At this time and with this developmental status the %(tool)s applies: fill in its "
                    "items below."
                )
                % {"tool": self.tool.upper()},
            )
            return cleaned
        names = self.item_names
        filled = [n for n in names if cleaned.get(n) not in (None, "")]
        missing = [n for n in names if n in self.fields and n not in filled and n not in self.errors]
        unable = cleaned.get("unable_to_perform")
        not_obtained = cleaned.get("score_not_obtained")
        if unable and not_obtained:
            self.add_error("score_not_obtained", _("Choose either 'unable to perform' or 'not obtained'."))
        if not_obtained and filled:
            self.add_error("score_not_obtained", _("Items were filled in: clear them or untick this box."))
        if not_obtained and not (cleaned.get("findings_other_cause") or "").strip():
            self.add_error("findings_other_cause", _("Say why the score was not obtained."))
        if self.preview or unable or not_obtained:
            return cleaned
        if filled and missing:
            for name in missing:
                self.add_error(name, _("Needed for the score (or clear every item)."))
        elif not filled and not any(n in self.errors for n in names):
            self.add_error(
                names[0] if names else None,
                _(
                    "Fill in the %(tool)s items, or tick 'unable to perform the assessment' or 'score not "
                    "obtained'."
                )
                % {"tool": (self.tool or "").upper()},
            )
        return cleaned


def icans_item_names(tool: str | None) -> list[str]:
    """The form fields of the tool's items, in order."""
    if tool == "ice":
        return list(grading.ICE_ITEM_MAXIMA)
    if tool == "capd":
        return [capd_field_name(item) for item in grading.CAPD_ITEMS]
    return []


ICANS_BASE_FIELDS = ("assessed_at", "developmental_delay", "unable_to_perform", *ICANS_DOMAIN_FIELDS)


def icans_observations(data: dict[str, Any]) -> dict[str, Any]:
    """The service's keyword arguments from the cleaned data (``tool`` is put there by the form).

    A score is passed only when every item of the tool is filled in.
    """
    observations: dict[str, Any] = {
        "developmental_delay": bool(data.get("developmental_delay")),
        "unable_to_perform": bool(data.get("unable_to_perform")),
        "awake_with_global_aphasia": bool(data.get("awake_with_global_aphasia")),
        "ice_items": None,
        "capd_answers": None,
    }
    for name in ICANS_DOMAIN_FIELDS:
        value = data.get(name)
        observations[name] = (
            value if value not in (None, "") else IcansAssessment._meta.get_field(name).default
        )
    observations["findings_other_cause"] = (data.get("findings_other_cause") or "").strip()
    observations["died_of_icans"] = bool(data.get("died_of_icans"))
    tool = data.get("tool")
    values = {name: data.get(name) for name in icans_item_names(tool)}
    if values and all(v not in (None, "") for v in values.values()):
        if tool == "ice":
            observations["ice_items"] = values
        else:
            observations["capd_answers"] = {
                str(item): values[capd_field_name(item)] for item in grading.CAPD_ITEMS
            }
    return observations


class IcansEditForm(IcansForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"] = reason_field()
        if self.preview:
            self.make_optional()


def icans_initial(row: IcansAssessment) -> dict[str, Any]:
    initial: dict[str, Any] = {
        name: getattr(row, name)
        for name in (
            "assessed_at",
            "developmental_delay",
            "unable_to_perform",
            "awake_with_global_aphasia",
            *ICANS_DOMAIN_FIELDS,
        )
    }
    initial.update(row.ice_items or {})
    for item, answer in (row.capd_answers or {}).items():
        initial[capd_field_name(int(item))] = answer
    if not row.unable_to_perform and not row.ice_items and not row.capd_answers:
        initial["score_not_obtained"] = True
    return initial


# --- blood counts for haematotoxicity ---------------------------------------------------------------------

CBC_ANALYTES = ("anc", "wbc", "alc", "platelets", "haemoglobin")
CBC_SHORT = {"anc": "ANC", "wbc": "WBC", "alc": "ALC", "platelets": _("Platelets"), "haemoglobin": "Hb"}
CBC_DEFAULT_UNITS = {
    "anc": "10^9/L",
    "wbc": "10^9/L",
    "alc": "10^9/L",
    "platelets": "10^9/L",
    "haemoglobin": "g/L",
}
CBC_DEFAULT_ROWS = 5
CBC_MAX_ROWS = 40
_ROW_KEY = re.compile(r"^row_(\d+)_")  # posted sub-widget names: row_3_at, row_3_anc ...
_ROW_NUMBER = re.compile(r"^row_(\d+)$")  # cleaned field names


class LabRowWidget(forms.MultiWidget):
    """One sample: its time and the five counts side by side (a row of the grid)."""

    def __init__(self, *, header: bool = False) -> None:
        widgets = {"at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")}
        for code in CBC_ANALYTES:
            widgets[code] = forms.TextInput(
                attrs={"inputmode": "decimal", "autocomplete": "off", "aria-label": CBC_SHORT[code]}
            )
        super().__init__(widgets)
        self.header = header

    def decompress(self, value: Any) -> list[Any]:
        return value if value else [None] * (1 + len(CBC_ANALYTES))

    def render(self, name: str, value: Any, attrs: Any = None, renderer: Any = None) -> str:
        cells = super().render(name, value, attrs, renderer)
        head = ""
        if self.header:
            labels = [_("Sample time"), *(CBC_SHORT[c] for c in CBC_ANALYTES)]
            head = format_html(
                '<div class="lab-row lab-head" aria-hidden="true">{}</div>',
                format_html_join("", "<span>{}</span>", ((label,) for label in labels)),
            )
        return format_html('{}<div class="lab-row">{}</div>', head, cells)


class LabRowField(forms.MultiValueField):
    def __init__(self, *, time_zone: str, header: bool = False, **kwargs: Any) -> None:
        fields = (
            LocalDateTimeField(required=False, time_zone=time_zone),
            *(forms.CharField(required=False, max_length=30) for _code in CBC_ANALYTES),
        )
        super().__init__(
            fields,
            require_all_fields=False,
            required=False,
            widget=LabRowWidget(header=header),
            **kwargs,
        )

    def compress(self, data_list: list[Any]) -> dict[str, Any] | None:
        if not data_list:
            return None
        at, *values = data_list
        counts = {code: v.strip() for code, v in zip(CBC_ANALYTES, values, strict=True) if v and v.strip()}
        if at is None and not counts:
            return None
        if at is None:
            raise ValidationError(_("Give the sample time of this row."), code="no_time")
        if not counts:
            raise ValidationError(_("Enter at least one count, or clear the time."), code="no_values")
        return {"sampled_at": at, "counts": counts}


class UnitLlnWidget(forms.MultiWidget):
    def __init__(self, units: list[str]) -> None:
        super().__init__(
            {
                "unit": forms.Select(choices=[(u, u) for u in units]),
                "lln": forms.TextInput(
                    attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": _("LLN")}
                ),
            }
        )

    def decompress(self, value: Any) -> list[Any]:
        return list(value) if value else [None, None]

    def render(self, name: str, value: Any, attrs: Any = None, renderer: Any = None) -> str:
        return format_html('<div class="unit-lln">{}</div>', super().render(name, value, attrs, renderer))


class UnitLlnField(forms.MultiValueField):
    """The unit of a column and the lab's lower limit of normal for this child, in that unit."""

    def __init__(self, code: str, **kwargs: Any) -> None:
        units = list(ANALYTES[code].units)
        super().__init__(
            (
                forms.ChoiceField(choices=[(u, u) for u in units]),
                forms.CharField(required=False, max_length=30),
            ),
            require_all_fields=False,
            # Not required as a whole: "required" would also mark the optional LLN input for the browser.
            required=False,
            widget=UnitLlnWidget(units),
            **kwargs,
        )
        self.default_unit = CBC_DEFAULT_UNITS[code]

    def compress(self, data_list: list[Any]) -> tuple[str, str | None]:
        if not data_list:
            return (self.default_unit, None)
        unit, lln = data_list
        return unit or self.default_unit, (lln.strip() or None) if lln else None


class BloodCountForm(RecordForm):
    """A small grid: one row per sample, the five counts of the haematotoxicity grades in columns.

    Each column has its unit as reported and the lab's age-specific lower limit of normal (stored with every
    value; laboratory CTCAE grade 1 needs it).
    """

    def __init__(self, *args: Any, time_zone: str, rows: int = CBC_DEFAULT_ROWS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.is_bound:
            posted = [int(m.group(1)) for key in self.data if (m := _ROW_KEY.match(key))]
            rows = max([rows, *posted])
        self.rows = max(1, min(rows, CBC_MAX_ROWS))
        for code in CBC_ANALYTES:
            spec = ANALYTES[code]
            self.fields[f"{code}_unit"] = UnitLlnField(
                code,
                label=_("%(analyte)s: unit and LLN") % {"analyte": spec.label},
                initial=(CBC_DEFAULT_UNITS[code], None),
            )
        for index in range(1, self.rows + 1):
            self.fields[f"row_{index}"] = LabRowField(
                time_zone=time_zone, header=index == 1, label=_("Sample %(n)s") % {"n": index}
            )
        if self.preview:
            self.make_optional()

    @property
    def fieldsets(self) -> list[tuple[Any, list[str]]]:  # type: ignore[override]
        return [
            (
                _("Units and lower limits of normal, as on the report"),
                [f"{code}_unit" for code in CBC_ANALYTES],
            ),
            (_("Samples"), [f"row_{i}" for i in range(1, self.rows + 1)]),
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if (
            not self.preview
            and not self.errors
            and not any(cleaned.get(f"row_{i}") for i in range(1, self.rows + 1))
        ):
            self.add_error("row_1", _("Enter at least one sample."))
        return cleaned


def blood_count_items(data: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(form field, analyte, LabInput) for every filled cell, in grid order."""
    rows = max([0, *(int(m.group(1)) for key in data if (m := _ROW_NUMBER.match(key)))])
    items = []
    for index in range(1, rows + 1):
        row = data.get(f"row_{index}")
        if not row:
            continue
        for code, value in row["counts"].items():
            unit, lln = data.get(f"{code}_unit") or (CBC_DEFAULT_UNITS[code], None)
            items.append((f"row_{index}", code, LabInput(code, value, unit, row["sampled_at"], lln=lln)))
    return items


# --- supportive care, infections, other adverse events ----------------------------------------------------


class SupportiveCareForm(RecordForm):
    kind = model_field(SupportiveCare, "kind")
    started_on = model_field(SupportiveCare, "started_on")
    ended_on = model_field(SupportiveCare, "ended_on")
    units = model_field(SupportiveCare, "units")


GRADE_CHOICES = [
    ("", _("— choose —")),
    (1, _("1 · mild")),
    (2, _("2 · moderate")),
    (3, _("3 · severe or medically significant")),
    (4, _("4 · life-threatening")),
    (5, _("5 · death")),
]


def grade_field(label: Any, help_text: Any = "") -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label=label, choices=GRADE_CHOICES, coerce=int, empty_value=None, help_text=help_text
    )


class InfectionForm(RecordForm):
    """Facts of the infection; the registry proposes a CTCAE grade, the clinician confirms one."""

    onset_on = model_field(Infection, "onset_on")
    site = model_field(Infection, "site")
    organism_type = model_field(Infection, "organism_type")
    organism = model_field(Infection, "organism")
    treatment_route = model_field(Infection, "treatment_route")
    invasive_intervention = model_field(Infection, "invasive_intervention")
    hospitalised = model_field(Infection, "hospitalised")
    icu = model_field(Infection, "icu")
    life_threatening = model_field(Infection, "life_threatening")
    outcome = model_field(Infection, "outcome")
    resolved_on = model_field(Infection, "resolved_on")
    grade = grade_field(
        _("CTCAE grade (your confirmation)"),
        _("Preview proposes a grade from the facts above; confirm it or choose another."),
    )

    fieldsets = [
        (None, ["onset_on", "site", "organism_type", "organism"]),
        (
            _("Severity"),
            ["treatment_route", "invasive_intervention", "hospitalised", "icu", "life_threatening"],
        ),
        (None, ["outcome", "resolved_on"]),
        (_("Grade"), ["grade"]),
    ]

    proposed_grade: int | None = None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        self.proposed_grade = None
        if cleaned.get("treatment_route") and "outcome" in cleaned:
            facts = {name: cleaned.get(name) for name in services.INFECTION_FIELDS}
            try:
                self.proposed_grade = services.infection_proposal(Infection(**facts))
            except ValidationError:
                self.proposed_grade = None
        if cleaned.get("grade") is None and self.proposed_grade is not None:
            # Prefill the proposal; saving still needs the clinician to press Save on a chosen grade.
            self.data = self.data.copy()
            self.data["grade"] = str(self.proposed_grade)
            if not self.preview:
                self.errors.pop("grade", None)  # one message, with the proposal, instead of "required"
                self.add_error(
                    "grade",
                    _("Confirm the grade: the registry proposes %(g)s (prefilled); press Save to confirm.")
                    % {"g": self.proposed_grade},
                )
        return cleaned


class AdverseEventForm(RecordForm):
    term = model_field(AdverseEvent, "term")
    grade = grade_field(_("CTCAE grade"), _("CTCAE v5.0 grade for this term (your judgement)."))
    serious = model_field(AdverseEvent, "serious")
    serious_criteria = forms.MultipleChoiceField(
        label=_("Seriousness criteria"),
        required=False,
        choices=list(SERIOUS_CRITERIA.items()),
        widget=forms.CheckboxSelectMultiple,
    )
    attribution = model_field(AdverseEvent, "attribution")
    started_on = model_field(AdverseEvent, "started_on")
    ended_on = model_field(AdverseEvent, "ended_on")
    outcome = model_field(AdverseEvent, "outcome")
    action_taken = model_field(AdverseEvent, "action_taken")

    fieldsets = [
        (None, ["term", "grade", "attribution"]),
        (_("Seriousness"), ["serious", "serious_criteria"]),
        (None, ["started_on", "ended_on", "outcome", "action_taken"]),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["term"].help_text = _("The CTCAE v5.0 term, e.g. 'Hypogammaglobulinemia'.")
