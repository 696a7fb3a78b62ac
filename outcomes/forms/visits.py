"""The visit form of each diagnosis and the vocabularies it shows (rules: :mod:`outcomes.forms`)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _

from outcomes import scores
from outcomes.models import (
    ScheduleTimepoint,
    SledaiAssessment,
    SscAssessment,
    Visit,
)
from patients.forms import (
    DecimalCommaField,
    RangeValidator,
    RecordForm,
    model_field,
    reason_field,
)

# --- instrument vocabularies (labels and short definitions for the forms) ---------------------------------

#: SLEDAI-2K descriptors: label and a short definition (GRADING.md §5.1, Gladman 2002).
SLEDAI_DESCRIPTORS: dict[str, tuple[Any, Any]] = {
    "seizure": (_("Seizure"), _("Recent onset; exclude metabolic, infectious or drug causes.")),
    "psychosis": (
        _("Psychosis"),
        _(
            "Severe disturbance in perception of reality (hallucinations, incoherence, catatonic behaviour); "
            "exclude uraemia and drugs."
        ),
    ),
    "organic_brain_syndrome": (
        _("Organic brain syndrome"),
        _(
            "Altered mental function, rapid onset and fluctuating (orientation, memory, attention); exclude "
            "metabolic, infectious or drug causes."
        ),
    ),
    "visual_disturbance": (
        _("Visual disturbance"),
        _(
            "Retinal changes of SLE (cytoid bodies, haemorrhages, exudates) or optic neuritis; exclude "
            "hypertension, infection, drugs."
        ),
    ),
    "cranial_nerve_disorder": (
        _("Cranial nerve disorder"),
        _("New sensory or motor neuropathy of cranial nerves."),
    ),
    "lupus_headache": (
        _("Lupus headache"),
        _("Severe persistent headache, not responding to narcotic analgesia."),
    ),
    "cva": (_("CVA"), _("New cerebrovascular accident; exclude arteriosclerosis.")),
    "vasculitis": (
        _("Vasculitis"),
        _(
            "Ulceration, gangrene, tender finger nodules, periungual infarction, splinter haemorrhages, or "
            "biopsy or angiogram proof."
        ),
    ),
    "arthritis": (
        _("Arthritis"),
        _("More than 2 joints with pain and signs of inflammation (tenderness, swelling or effusion)."),
    ),
    "myositis": (
        _("Myositis"),
        _("Proximal muscle aching or weakness with raised CK/aldolase, EMG changes or biopsy."),
    ),
    "urinary_casts": (_("Urinary casts"), _("Heme-granular or red blood cell casts.")),
    "hematuria": (
        _("Haematuria"),
        _("More than 5 red cells per high-power field; exclude stone, infection or other cause."),
    ),
    "proteinuria": (_("Proteinuria"), _("More than 0.5 g/24 h, or UPCR above 0.5 g/g (registry rule).")),
    "pyuria": (_("Pyuria"), _("More than 5 white cells per high-power field; exclude infection.")),
    "rash": (_("Rash"), _("Inflammatory rash, new or ongoing.")),
    "alopecia": (_("Alopecia"), _("Abnormal patchy or diffuse hair loss, new or ongoing.")),
    "mucosal_ulcers": (_("Mucosal ulcers"), _("Oral or nasal ulcers, new or ongoing.")),
    "pleurisy": (
        _("Pleurisy"),
        _("Pleuritic chest pain with pleural rub or effusion, or pleural thickening."),
    ),
    "pericarditis": (
        _("Pericarditis"),
        _("Pericardial pain with rub or effusion, or ECG or echocardiogram confirmation."),
    ),
    "low_complement": (
        _("Low complement"),
        _("CH50, C3 or C4 below the lower limit of normal of the testing laboratory."),
    ),
    "increased_dna_binding": (
        _("Increased DNA binding"),
        _("Anti-dsDNA above the normal range of the testing laboratory."),
    ),
    "fever": (_("Fever"), _("Above 38 °C; exclude infection.")),
    "thrombocytopenia": (_("Thrombocytopenia"), _("Platelets below 100 × 10⁹/L; exclude drugs.")),
    "leukopenia": (_("Leukopenia"), _("White cells below 3 × 10⁹/L; exclude drugs.")),
}
assert set(SLEDAI_DESCRIPTORS) == set(scores.SLEDAI_2K_WEIGHTS)

#: CMAS items (Lovell 1999) in sheet order; timed items are entered in seconds.
CMAS_LABELS: dict[str, Any] = {
    "head_elevation": _("Head elevation (neck flexion), supine"),
    "leg_raise": _("Leg raise / touch object"),
    "straight_leg_lift": _("Straight leg lift, duration"),
    "supine_to_prone": _("Supine to prone"),
    "sit_ups": _("Sit-ups (1 point for each of the 6 types)"),
    "supine_to_sit": _("Supine to sit"),
    "arm_raise_straighten": _("Arm raise / straighten"),
    "arm_raise_duration": _("Arm raise, duration (wrists above head)"),
    "floor_sit": _("Floor sit (standing to sitting on the floor)"),
    "all_fours": _("All-fours manoeuvre"),
    "floor_rise": _("Floor rise (kneeling to standing)"),
    "chair_rise": _("Chair rise"),
    "stool_step": _("Stool step"),
    "pick_up": _("Pick up an object from the floor"),
}
assert list(CMAS_LABELS) == list(scores.CMAS_ITEM_MAXIMA)

MMT8_LABELS: dict[str, Any] = {
    "neck_flexors": _("Neck flexors"),
    "deltoid_middle": _("Deltoid (middle)"),
    "biceps_brachii": _("Biceps brachii"),
    "wrist_extensors": _("Wrist extensors"),
    "gluteus_maximus": _("Gluteus maximus"),
    "gluteus_medius": _("Gluteus medius"),
    "quadriceps": _("Quadriceps"),
    "ankle_dorsiflexors": _("Ankle dorsiflexors"),
}
assert tuple(MMT8_LABELS) == scores.MMT8_ITEMS

#: mRSS areas top to bottom, as on a body map: (area, label, bilateral).
MRSS_AREAS: list[tuple[str, Any, bool]] = [
    ("face", _("Face"), False),
    ("upper_arms", _("Upper arms"), True),
    ("forearms", _("Forearms"), True),
    ("hands", _("Dorsum of hands"), True),
    ("fingers", _("Fingers"), True),
    ("anterior_chest", _("Anterior chest"), False),
    ("abdomen", _("Abdomen"), False),
    ("thighs", _("Thighs"), True),
    ("lower_legs", _("Lower legs"), True),
    ("feet", _("Dorsum of feet"), True),
]
MRSS_CHOICES = [("", "—"), (0, _("0 normal")), (1, _("1 mild")), (2, _("2 moderate")), (3, _("3 severe"))]
assert {f"{a}_{s}" if bi else a for a, _l, bi in MRSS_AREAS for s in ("right", "left")} == set(
    scores.MRSS_SITES
)

TIMED_BANDS: dict[str, Any] = {
    "head_elevation": _("0 s → 0 · 1–9 s → 1 · 10–29 s → 2 · 30–59 s → 3 · 60–119 s → 4 · ≥ 120 s → 5"),
    "straight_leg_lift": _("0 s → 0 · 1–9 s → 1 · 10–29 s → 2 · 30–59 s → 3 · 60–119 s → 4 · ≥ 120 s → 5"),
    "arm_raise_duration": _("0 s → 0 · 1–9 s → 1 · 10–29 s → 2 · 30–59 s → 3 · ≥ 60 s → 4"),
}
assert set(TIMED_BANDS) == set(scores.CMAS_TIMED_ITEMS)
MAX_TIMED_SECONDS = 600  # a timed CMAS item stops at 2 minutes; 10 minutes is a typing error

#: Core-set measures of the JDM response (``instruments.JDM_MEASURES``) as shown next to their % improvement.
JDM_MEASURE_LABELS: dict[str, Any] = {
    "physician_global": _("Physician global"),
    "patient_global": _("Patient/parent global"),
    "muscle_strength": _("Muscle strength (MMT8, else CMAS)"),
    "function": _("Function (CHAQ)"),
    "enzymes": _("Most abnormal muscle enzyme"),
    "extramuscular": _("Extramuscular activity"),
}

INSTRUMENT_LABELS = {"sledai": _("SLEDAI-2K"), "jdm": _("JDM assessment"), "ssc": _("SSc assessment")}


def _number_input(low: int, high: int) -> forms.NumberInput:
    return forms.NumberInput(attrs={"min": low, "max": high, "step": 1, "class": "item"})


def _item_field(label: Any, high: int) -> forms.IntegerField:
    """An item score 0–``high``: one message that names the range (whatever the browser lets through)."""
    return forms.IntegerField(
        label=label,
        required=False,
        widget=_number_input(0, high),
        validators=[RangeValidator(label, 0, high)],
        error_messages={"invalid": _("Enter a whole number from 0 to %(high)s.") % {"high": high}},
    )


def _ranged_decimal(
    label: Any, low: float, high: float | None, *, places: int, digits: int
) -> DecimalCommaField:
    return DecimalCommaField(
        label=label,
        required=False,
        max_digits=digits,
        decimal_places=places,
        validators=[RangeValidator(label, Decimal(str(low)), None if high is None else Decimal(str(high)))],
    )


def _json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


# --- the visit form -----------------------------------------------------------------------------------------


class TimepointChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: ScheduleTimepoint) -> str:
        low, high = obj.window_before_days, obj.window_after_days
        day = f"D{obj.nominal_day:+d}" if obj.nominal_day else "D0"
        if low == high and low:
            return f"{obj.label} ({day} ±{low})"
        if low or high:
            return f"{obj.label} ({day}, −{low}/+{high})"
        return f"{obj.label} ({day})"


def timepoint_queryset(protocol: str = "default") -> QuerySet[ScheduleTimepoint]:
    return ScheduleTimepoint.objects.filter(protocol=protocol).order_by("nominal_day")


class VisitForm(RecordForm):
    """The fields every visit has; subclasses add the instrument of one diagnosis."""

    instrument = ""
    VISIT_FIELDS = ("timepoint", "visit_date", "assessed_by", "notes")

    timepoint = TimepointChoiceField(
        queryset=ScheduleTimepoint.objects.none(),
        required=False,
        label=_("Timepoint"),
        empty_label=_("Unscheduled visit"),
        help_text=_("Windows are counted from day 0 (the infusion)."),
    )
    visit_date = model_field(Visit, "visit_date")
    assessed_by = model_field(Visit, "assessed_by")
    notes = model_field(Visit, "notes")

    def __init__(
        self,
        *args: Any,
        patient: Any,
        timepoints: QuerySet[ScheduleTimepoint] | None = None,
        editing: bool = False,
        suggestions: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.patient = patient
        self.editing = editing
        self.suggestions = suggestions or {}
        self.fields["timepoint"].queryset = timepoints if timepoints is not None else timepoint_queryset()
        self.add_instrument_fields()
        notes = self.fields.pop("notes")
        self.fields["notes"] = notes
        if editing:
            self.fields["reason"] = reason_field(required=True)
            self.fields["row_version"] = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
        if self.preview:
            self.make_optional()

    # subclasses
    def add_instrument_fields(self) -> None:
        raise NotImplementedError

    def instrument_field_names(self) -> list[str]:
        return [n for n in self.fields if n not in (*self.VISIT_FIELDS, "reason", "row_version")]

    def instrument_payload(self) -> dict[str, Any] | None:
        """The instrument for the service, or ``None`` when the block is left empty."""
        raise NotImplementedError

    @classmethod
    def initial_from(cls, row: Any) -> dict[str, Any]:
        raise NotImplementedError

    # shared rules
    def _filled(self, name: str) -> bool:
        value = self.cleaned_data.get(name)
        if isinstance(value, bool):
            return value
        return value not in (None, "", [], ())

    def instrument_filled(self) -> bool:
        return any(self._filled(n) for n in self.instrument_field_names())

    def expected_here(self) -> bool:
        tp = self.cleaned_data.get("timepoint") if hasattr(self, "cleaned_data") else None
        return bool(tp and self.instrument in tp.expected_for(self.patient.diagnosis))

    def _require(self, names: Iterable[str], message: Any) -> None:
        for name in names:
            if name not in self.errors and not self._filled(name):
                self.add_error(name, message)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if "assessed_by" in cleaned:
            cleaned["assessed_by"] = (cleaned["assessed_by"] or "").strip()
        if not self.preview:
            self.check_instrument()
        return cleaned

    def check_instrument(self) -> None:
        raise NotImplementedError

    def incomplete(self) -> list[str]:
        """What keeps a preview from computing everything (the same rules as saving)."""
        return []


class SleVisitForm(VisitForm):
    instrument = "sledai"
    FLAGS = ("new_activity", "non_standard_immunosuppression", "haemolytic_anaemia_or_gi_activity")

    def add_instrument_fields(self) -> None:
        f = self.fields
        f["descriptors"] = forms.MultipleChoiceField(
            label=_("SLEDAI-2K descriptors"),
            choices=[(code, label) for code, (label, _d) in SLEDAI_DESCRIPTORS.items()],
            required=False,
            widget=forms.CheckboxSelectMultiple,
        )
        f["physician_global"] = _ranged_decimal(
            _("Physician global assessment (0–3)"), 0, 3, places=1, digits=3
        )
        f["physician_global"].help_text = _("SELENA-SLEDAI PGA, 0 none to 3 severe; DORIS needs < 0.5.")
        f["upcr_g_g"] = model_field(SledaiAssessment, "upcr_g_g", required=False)
        f["upcr_g_g"].validators.append(RangeValidator(_("UPCR (g/g)"), Decimal(0), Decimal(50)))
        f["upcr_g_g"].help_text = _(
            "Urine protein:creatinine ratio in g/g (mg/mmol × 0.00884). Above 0.5 g/g counts as proteinuria."
        )
        labels = {
            "new_activity": (
                _("New lupus activity since the last assessment"),
                _("LLDAS: no new features of disease activity."),
            ),
            "non_standard_immunosuppression": (
                _("Non-standard immunosuppression"),
                _("LLDAS: investigational drugs, or doses above standard maintenance."),
            ),
            "haemolytic_anaemia_or_gi_activity": (
                _("Haemolytic anaemia or gastrointestinal activity"),
                _("LLDAS: not SLEDAI items, so asked separately."),
            ),
        }
        for name, (label, help_text) in labels.items():
            f[name] = forms.BooleanField(label=label, help_text=help_text, required=False)

    def check_instrument(self) -> None:
        if self.instrument_filled() or self.expected_here():
            self._require(
                ["physician_global"],
                _("Give the physician global assessment (0–3): DORIS and LLDAS need it."),
            )

    def incomplete(self) -> list[str]:
        if self.cleaned_data.get("physician_global") is None:
            return [_t("DORIS remission and LLDAS need the physician global assessment.")]
        return []

    def instrument_payload(self) -> dict[str, Any] | None:
        if not self.instrument_filled():
            return None
        data = self.cleaned_data
        return {
            "descriptors": sorted(set(data.get("descriptors") or [])),
            "physician_global": data.get("physician_global"),
            "upcr_g_g": data.get("upcr_g_g"),
            **{name: bool(data.get(name)) for name in self.FLAGS},
        }

    @classmethod
    def initial_from(cls, row: Any) -> dict[str, Any]:
        return {
            "descriptors": list(row.descriptors or []),
            "physician_global": row.physician_global,
            "upcr_g_g": row.upcr_g_g,
            **{name: getattr(row, name) for name in cls.FLAGS},
        }

    def descriptor_groups(self) -> list[dict[str, Any]]:
        """Descriptors grouped by weight (8, 4, 2, 1) for the checklist, with what is ticked and suggested."""
        if self.is_bound:
            ticked = set(self.data.getlist(self.add_prefix("descriptors")))
        else:
            ticked = set(self.initial.get("descriptors") or [])
        groups: dict[int, list[dict[str, Any]]] = {}
        for code, (label, definition) in SLEDAI_DESCRIPTORS.items():
            groups.setdefault(scores.SLEDAI_2K_WEIGHTS[code], []).append(
                {
                    "code": code,
                    "label": label,
                    "definition": definition,
                    "checked": code in ticked,
                    "suggested": self.suggestions.get(code, ""),
                    "serology": code in scores.SLEDAI_2K_SEROLOGY,
                }
            )
        return [{"weight": w, "items": items} for w, items in sorted(groups.items(), reverse=True)]


class JdmVisitForm(VisitForm):
    instrument = "jdm"
    SCALARS = (
        "physician_global",
        "patient_global",
        "extramuscular",
        "chaq",
        "cdasi_activity",
        "cdasi_damage",
    )

    def add_instrument_fields(self) -> None:
        f = self.fields
        for code, label in CMAS_LABELS.items():
            high = scores.CMAS_ITEM_MAXIMA[code]
            if code in scores.CMAS_TIMED_ITEMS:
                field = DecimalCommaField(
                    label=_("%(item)s, seconds held") % {"item": label},
                    required=False,
                    max_digits=6,
                    decimal_places=1,
                    validators=[RangeValidator(label, Decimal(0), Decimal(MAX_TIMED_SECONDS))],
                    help_text=TIMED_BANDS[code],
                )
                f[f"cmas_{code}_seconds"] = field
            else:
                f[f"cmas_{code}"] = _item_field(label, high)
        for code, label in MMT8_LABELS.items():
            f[f"mmt8_{code}"] = _item_field(label, 10)
        f["physician_global"] = _ranged_decimal(
            _("Physician global activity (0–10)"), 0, 10, places=1, digits=3
        )
        f["patient_global"] = _ranged_decimal(
            _("Patient/parent global activity (0–10)"), 0, 10, places=1, digits=3
        )
        f["extramuscular"] = _ranged_decimal(
            _("Extramuscular global activity (0–10)"), 0, 10, places=1, digits=3
        )
        f["chaq"] = _ranged_decimal(_("CHAQ disability index (0–3)"), 0, 3, places=3, digits=4)
        f["chaq"].help_text = _("From the CHAQ scoring sheet.")
        f["cdasi_activity"] = _ranged_decimal(_("CDASI activity (0–100)"), 0, 100, places=1, digits=5)
        f["cdasi_damage"] = _ranged_decimal(_("CDASI damage (0–32)"), 0, 32, places=1, digits=5)
        f["cdasi_activity"].help_text = f["cdasi_damage"].help_text = _("Subtotal from the CDASI sheet.")

    def cmas_names(self) -> list[str]:
        return [f"cmas_{c}_seconds" if c in scores.CMAS_TIMED_ITEMS else f"cmas_{c}" for c in CMAS_LABELS]

    def mmt8_names(self) -> list[str]:
        return [f"mmt8_{c}" for c in MMT8_LABELS]

    def _block_state(self, names: list[str]) -> tuple[bool, list[str]]:
        """(anything entered, names missing) for an all-or-nothing sub-scale."""
        given = [n for n in names if self._filled(n) or n in self.errors]
        return bool(given), [n for n in names if n not in given]

    def check_instrument(self) -> None:
        for names, scale, count in ((self.cmas_names(), "CMAS", 14), (self.mmt8_names(), "MMT8", 8)):
            any_given, missing = self._block_state(names)
            if any_given and missing:
                self._require(
                    missing,
                    _(
                        "Required when %(scale)s is recorded: all %(n)s items are needed for a total. "
                        "Leave every %(scale)s item empty if it was not assessed."
                    )
                    % {"scale": scale, "n": count},
                )
        if self.instrument_filled() or self.expected_here():
            self._require(
                ["physician_global"],
                _("Give the physician global activity (0–10): response and PRINTO need it."),
            )

    def _complete(self, names: list[str]) -> bool:
        return all(self.cleaned_data.get(n) is not None for n in names)

    def incomplete(self) -> list[str]:
        notes = []
        for names, scale in ((self.cmas_names(), "CMAS"), (self.mmt8_names(), "MMT8")):
            given = sum(1 for n in names if self.cleaned_data.get(n) is not None)
            if 0 < given < len(names):
                notes.append(
                    _t("%(scale)s: %(given)s of %(n)s items entered; the total needs all of them.")
                    % {"scale": scale, "given": given, "n": len(names)}
                )
        if self.cleaned_data.get("physician_global") is None:
            notes.append(_t("Response, total improvement score and PRINTO need the physician global."))
        return notes

    def instrument_payload(self) -> dict[str, Any] | None:
        if not self.instrument_filled():
            return None
        data = self.cleaned_data
        items: dict[str, int] = {}
        seconds: dict[str, int | float] = {}
        if self._complete(self.cmas_names()):
            for code in CMAS_LABELS:
                if code in scores.CMAS_TIMED_ITEMS:
                    seconds[code] = _json_number(data[f"cmas_{code}_seconds"])
                else:
                    items[code] = data[f"cmas_{code}"]
        mmt8 = {c: data[f"mmt8_{c}"] for c in MMT8_LABELS} if self._complete(self.mmt8_names()) else {}
        return {
            "cmas_items": items,
            "cmas_timed_seconds": seconds,
            "mmt8_items": mmt8,
            **{name: data.get(name) for name in self.SCALARS},
        }

    @classmethod
    def initial_from(cls, row: Any) -> dict[str, Any]:
        initial: dict[str, Any] = {name: getattr(row, name) for name in cls.SCALARS}
        items, seconds = row.cmas_items or {}, row.cmas_timed_seconds or {}
        for code in CMAS_LABELS:
            if code in scores.CMAS_TIMED_ITEMS:
                initial[f"cmas_{code}_seconds"] = seconds.get(code)
            else:
                initial[f"cmas_{code}"] = items.get(code)
        for code in MMT8_LABELS:
            initial[f"mmt8_{code}"] = (row.mmt8_items or {}).get(code)
        return initial

    def cmas_rows(self) -> list[dict[str, Any]]:
        rows = []
        for code, label in CMAS_LABELS.items():
            timed = code in scores.CMAS_TIMED_ITEMS
            rows.append(
                {
                    "code": code,
                    "label": label,
                    "maximum": scores.CMAS_ITEM_MAXIMA[code],
                    "timed": timed,
                    "bands": TIMED_BANDS.get(code, ""),
                    "field": self[f"cmas_{code}_seconds" if timed else f"cmas_{code}"],
                }
            )
        return rows

    def mmt8_rows(self) -> list[dict[str, Any]]:
        return [{"label": label, "field": self[f"mmt8_{code}"]} for code, label in MMT8_LABELS.items()]

    def scalar_fields(self) -> list[forms.BoundField]:
        return [self[n] for n in self.SCALARS]


class SscVisitForm(VisitForm):
    instrument = "ssc"
    SCALARS = ("fvc_percent_predicted", "dlco_percent_predicted", "crp_mg_dl")
    FLAGS = ("skin_worsening", "digital_ulcers", "tendon_friction_rubs", "raynaud")

    def add_instrument_fields(self) -> None:
        f = self.fields
        for area, area_label, bilateral in MRSS_AREAS:
            sides = (("right", _("right")), ("left", _("left"))) if bilateral else ((None, None),)
            for side, side_label in sides:
                label = f"{area_label}, {side_label}" if side else str(area_label)
                f[f"mrss_{area}_{side}" if side else f"mrss_{area}"] = forms.IntegerField(
                    label=label,
                    required=False,
                    widget=forms.Select(choices=MRSS_CHOICES, attrs={"class": "site", "aria-label": label}),
                    validators=[RangeValidator(label, 0, 3)],
                )
        for name in ("fvc_percent_predicted", "dlco_percent_predicted"):
            f[name] = model_field(SscAssessment, name, required=False)
            f[name].validators.append(
                RangeValidator(SscAssessment._meta.get_field(name).verbose_name, Decimal(10), Decimal(200))
            )
            f[name].help_text = _("As reported by the lung-function laboratory.")
        f["crp_mg_dl"] = model_field(SscAssessment, "crp_mg_dl", required=False)
        f["crp_mg_dl"].validators.append(RangeValidator(_("CRP (mg/dL)"), Decimal(0), Decimal(100)))
        f["crp_mg_dl"].help_text = _(
            "mg/dL (= mg/L ÷ 10). Left empty, the visit's laboratory CRP is used. EUSTAR-AI counts > 1 mg/dL."
        )
        for name in self.FLAGS:
            f[name] = model_field(SscAssessment, name, required=False)

    def site_names(self) -> list[str]:
        return [f"mrss_{s}" for s in scores.MRSS_SITES]

    def check_instrument(self) -> None:
        if self.instrument_filled() or self.expected_here():
            self._require(
                self.site_names(),
                _("Required: the mRSS needs all 17 sites (0 where the skin is normal)."),
            )

    def incomplete(self) -> list[str]:
        given = sum(1 for n in self.site_names() if self.cleaned_data.get(n) is not None)
        notes = []
        if given < 17:
            notes.append(_t("mRSS: %(given)s of 17 sites scored.") % {"given": given})
        if self.cleaned_data.get("dlco_percent_predicted") is None:
            notes.append(_t("EUSTAR-AI needs DLCO (% predicted) and a CRP."))
        return notes

    def sites_complete(self) -> bool:
        return all(self.cleaned_data.get(n) is not None for n in self.site_names())

    def instrument_payload(self) -> dict[str, Any] | None:
        if not self.instrument_filled() or not self.sites_complete():
            return None
        data = self.cleaned_data
        return {
            "mrss_sites": {s: data[f"mrss_{s}"] for s in scores.MRSS_SITES},
            **{name: data.get(name) for name in self.SCALARS},
            **{name: bool(data.get(name)) for name in self.FLAGS},
        }

    @classmethod
    def initial_from(cls, row: Any) -> dict[str, Any]:
        initial: dict[str, Any] = {f"mrss_{s}": (row.mrss_sites or {}).get(s) for s in scores.MRSS_SITES}
        initial.update({name: getattr(row, name) for name in (*cls.SCALARS, *cls.FLAGS)})
        return initial

    def body_map(self) -> list[dict[str, Any]]:
        rows = []
        for area, label, bilateral in MRSS_AREAS:
            if bilateral:
                rows.append(
                    {
                        "label": label,
                        "bilateral": True,
                        "right": self[f"mrss_{area}_right"],
                        "left": self[f"mrss_{area}_left"],
                    }
                )
            else:
                rows.append({"label": label, "bilateral": False, "centre": self[f"mrss_{area}"]})
        return rows

    def scalar_fields(self) -> list[forms.BoundField]:
        return [self[n] for n in self.SCALARS]

    def flag_fields(self) -> list[forms.BoundField]:
        return [self[n] for n in self.FLAGS]


VISIT_FORMS: dict[str, type[VisitForm]] = {"sle": SleVisitForm, "jdm": JdmVisitForm, "ssc": SscVisitForm}
