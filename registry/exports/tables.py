"""Case-series tables: pure pandas shaping of :class:`~registry.exports.selectors.SeriesData`.

The only module of the exports that imports pandas. No queries, no ``request``, no ``now()``: the same data
and policy always give the same tables.

Each table has a **per-patient** frame (one row per child, like a paper's supplementary table; the columns of
:mod:`registry.exports.definitions`) and a **summary** frame (section, characteristic, statistic, then one
column for all patients and one per diagnosis present). Summary conventions:

* ``n (%)``: the count and its percentage of the column's evaluable patients, one decimal; patients without a
  value are counted in a separate "not evaluable" row;
* ``median (range)`` or ``median (IQR)`` (quartiles by linear interpolation, pandas' default); the number of
  patients behind a statistic is appended (``n = 3``) when it is fewer than the column's patients;
* baseline and dosing summarise every patient of the selection; safety and efficacy the patients with day 0;
* age is in completed years at day 0; follow-up in months of 30.4375 days (DESIGN §4); study days from day 0;
* external exports (:class:`~registry.exports.modes.ExportPolicy`) show counts below the threshold as ``<5``
  and suppress statistics computed over fewer patients (``n<5``); there is no complementary suppression.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import pandas as pd

from patients.models import Diagnosis, Organ, TherapyClass
from patients.selectors import completed_years
from registry.exports.definitions import (
    ACTIVITY_MEASURE,
    DIAGNOSES,
    DIAGNOSIS_SHORT,
    EFFICACY_TIMEPOINTS,
    IDENTITY_COLUMNS,
    KEY_COLUMNS,
    MEASURES,
    PATIENT_COLUMNS,
    SUMMARY_COLUMNS,
    TABLE_TITLES,
    TABLES,
    Column,
)
from registry.exports.modes import ExportPolicy
from registry.exports.selectors import SeriesData, VisitRow

SPREADS = ("range", "iqr")
DASH = "—"
LD_ABBREVIATIONS = {"fludarabine": "Flu", "cyclophosphamide": "Cy", "bendamustine": "Benda"}
REMISSION_LABEL = {
    "sle": "DORIS remission",
    "jdm": "PRINTO inactive disease",
    "ssc": "EUSTAR-AI < 2.5",
}


@dataclass
class Table:
    """One case-series table: per-patient rows, the summary, the columns of the per-patient rows, notes."""

    key: str
    title: str
    patients: pd.DataFrame
    summary: pd.DataFrame
    columns: list[Column]
    notes: list[str] = field(default_factory=list)

    @property
    def row_counts(self) -> dict[str, int]:
        return {f"{self.key}_patients": len(self.patients), f"{self.key}_summary": len(self.summary)}


# --- small pure helpers -------------------------------------------------------------------------------------


def percent_change(value: float | None, baseline: float | None) -> float | None:
    """(value − baseline) / baseline × 100, one decimal; ``None`` without a (non-zero) baseline."""
    if value is None or baseline is None or baseline == 0:
        return None
    return round((value - baseline) / baseline * 100, 1)


def _present(value: Any) -> bool:
    if value is None:
        return False
    try:
        return not pd.isna(value)
    except (TypeError, ValueError):
        return True


def format_number(value: float, decimals: int, *, flexible: bool = False) -> str:
    """``value`` rounded half up to ``decimals`` places; ``flexible`` gives a median or quartile of whole
    numbers the one extra place it may need (12.5 years)."""
    places = decimals
    if flexible and decimals == 0 and abs(round(value) - value) > 1e-9:
        places = 1
    exponent = Decimal(1).scaleb(-places)
    text = str(Decimal(repr(float(value))).quantize(exponent, rounding=ROUND_HALF_UP))
    return text[1:] if text.startswith("-") and Decimal(text) == 0 else text


def format_count_percent(n: int, denominator: int, policy: ExportPolicy) -> str:
    """``6 (75.0%)``; ``<5`` when suppressed; ``—`` without a denominator."""
    if denominator == 0:
        return DASH
    shown = policy.count(n)
    if isinstance(shown, str):
        return shown
    return f"{n} ({n / denominator * 100:.1f}%)"


def format_continuous(
    values: Iterable[float], *, decimals: int, spread: str, policy: ExportPolicy, population: int
) -> str:
    """``median (min–max)`` or ``median (Q1–Q3)``, with ``, n = k`` when k < population."""
    array = np.array([float(v) for v in values if _present(v)], dtype="float64")
    n = len(array)
    if n == 0:
        return DASH
    if policy.small(n):
        return f"n<{policy.threshold}"
    median = float(np.median(array))
    if spread == "iqr":  # linear interpolation, as pandas' Series.quantile
        low, high = (float(q) for q in np.quantile(array, [0.25, 0.75]))
    else:
        low, high = float(array.min()), float(array.max())
    flexible = spread == "iqr"
    text = (
        f"{format_number(median, decimals, flexible=True)} "
        f"({format_number(low, decimals, flexible=flexible)}–"
        f"{format_number(high, decimals, flexible=flexible)})"
    )
    return f"{text}, n = {n}" if n < population else text


# --- summary builder ----------------------------------------------------------------------------------------


class Summary:
    """Accumulates summary rows over the column groups (all patients, then each diagnosis present)."""

    def __init__(self, frame: pd.DataFrame, policy: ExportPolicy, spread: str) -> None:
        self.policy, self.spread = policy, spread
        present = [d for d in DIAGNOSES if not frame.empty and (frame["diagnosis"] == d).any()]
        self.groups: list[tuple[str, pd.DataFrame]] = [("all", frame)] + [
            (d, frame[frame["diagnosis"] == d]) for d in present
        ]
        self.rows: list[dict[str, Any]] = []
        self._masks: dict[tuple[int, str], Any] = {}
        self.statistic_range = "median (IQR)" if spread == "iqr" else "median (range)"

    def _values(self, group: pd.DataFrame, column: str, only: str | None) -> pd.Series:
        """The column of a group, restricted to one diagnosis (``only``) for disease-specific rows."""
        values = group[column]
        if not only:
            return values
        key = (id(group), only)
        if key not in self._masks:
            self._masks[key] = (group["diagnosis"] == only).to_numpy()
        return values[self._masks[key]]

    def _add(self, section: str, label: str, statistic: str, cells: dict[str, str]) -> None:
        self.rows.append({"section": section, "characteristic": label, "statistic": statistic, **cells})

    def patients(self, section: str, label: str) -> None:
        cells = {}
        for key, group in self.groups:
            shown = self.policy.count(len(group))
            cells[key] = str(shown)
        self._add(section, label, "n", cells)

    def flag(
        self,
        section: str,
        label: str,
        column: str,
        *,
        only: str | None = None,
        not_evaluable: bool = True,
    ) -> None:
        """Patients for whom ``column`` is true, n (% of the evaluable); a not-evaluable row if any."""
        cells, missing, any_missing = {}, {}, False
        for key, group in self.groups:
            values = self._values(group, column, only)
            known = values[values.notna()]
            n = int(known.astype(bool).sum())
            cells[key] = format_count_percent(n, len(known), self.policy)
            k = len(values) - len(known)
            missing[key] = str(self.policy.count(k)) if len(values) else DASH
            any_missing |= k > 0
        self._add(section, label, "n (%)", cells)
        if not_evaluable and any_missing:
            self._add(section, f"{label}: not evaluable", "n", missing)

    def levels(
        self,
        section: str,
        label: str,
        column: str,
        levels: Iterable[tuple[Any, str]],
        *,
        only: str | None = None,
        any_level: str | None = None,
        any_from: Any = None,
        missing_label: str = "not evaluable",
    ) -> None:
        """One n (%) row per level of ``column`` (percentages of the evaluable); optional "any" row."""
        groups = [(key, self._values(g, column, only)) for key, g in self.groups]
        if any_level is not None:
            cells = {}
            for key, values in groups:
                known = values.dropna()
                cells[key] = format_count_percent(int((known >= any_from).sum()), len(known), self.policy)
            self._add(section, f"{label}: {any_level}", "n (%)", cells)
        for value, level_label in levels:
            cells = {}
            for key, values in groups:
                known = values.dropna()
                cells[key] = format_count_percent(int((known == value).sum()), len(known), self.policy)
            self._add(section, f"{label}: {level_label}", "n (%)", cells)
        missing = {}
        any_missing = False
        for key, values in groups:
            k = int(values.isna().sum())
            missing[key] = str(self.policy.count(k)) if len(values) else DASH
            any_missing |= k > 0
        if any_missing:
            self._add(section, f"{label}: {missing_label}", "n", missing)

    def continuous(
        self,
        section: str,
        label: str,
        column: str,
        *,
        decimals: int = 1,
        scale: float = 1.0,
        only: str | None = None,
        skip_empty: bool = False,
    ) -> None:
        cells = {}
        seen = 0
        for key, group in self.groups:
            column_values = self._values(group, column, only)
            values = [v * scale for v in column_values if _present(v)]
            seen += len(values)
            cells[key] = format_continuous(
                values,
                decimals=decimals,
                spread=self.spread,
                policy=self.policy,
                population=len(column_values),
            )
        if skip_empty and not seen:
            return
        self._add(section, label, self.statistic_range, cells)

    def count_sum(self, section: str, label: str, column: str) -> None:
        """The total of a count column (e.g. infection episodes), suppressed like any count."""
        cells = {}
        for key, group in self.groups:
            total = int(sum(int(v) for v in group[column] if _present(v)))
            cells[key] = str(self.policy.count(total)) if len(group) else DASH
        self._add(section, label, "n", cells)

    def frame(self) -> pd.DataFrame:
        names = ["section", "characteristic", "statistic"] + [key for key, _ in self.groups]
        return pd.DataFrame(self.rows, columns=names).fillna(DASH)


def summary_labels(summary: pd.DataFrame) -> dict[str, str]:
    """Column headers for readers (XLSX, HTML): the dictionary labels of the summary columns."""
    labels = {c.name: str(c.label) for c in SUMMARY_COLUMNS}
    return {name: labels.get(name, name) for name in summary.columns}


# --- per-patient rows ---------------------------------------------------------------------------------------


def _key(data: SeriesData, patient: Any, policy: ExportPolicy) -> dict[str, Any]:
    row = {
        "patient": policy.patient_label(patient.pk, patient.code),
        "centre": policy.centre_code(patient.centre_id, patient.centre.code),
        "diagnosis": patient.diagnosis,
        "_centre_label": policy.centre_label(patient.centre_id, patient.centre.name, patient.centre.code),
    }
    if policy.shows_identity:
        identity = data.identity.get(patient.pk, {})
        born = data.date_of_birth.get(patient.pk)
        row |= {
            "given_name": identity.get("given_name"),
            "family_name": identity.get("family_name"),
            "date_of_birth": born.isoformat() if born else None,
            "hospital_number": identity.get("hospital_number"),
            "infusion_date": patient.day0.isoformat() if patient.day0 else None,
        }
    return row


def _baseline_value(visits: list[VisitRow], code: str) -> float | None:
    value = None
    for visit in visits:
        if visit.day <= 0 and code in visit.values:
            value = visit.values[code]
    return value


def _value_at(
    data: SeriesData, visits: list[VisitRow], code: str, timepoint: str
) -> tuple[float | None, int | None]:
    """The measure at a timepoint: baseline, a scheduled month (its visit, else the unscheduled visit in its
    window closest to the nominal day) or the last follow-up after day 0. Returns (value, study day)."""
    if timepoint == "baseline":
        return _baseline_value(visits, code), None
    if timepoint == "last":
        after = [v for v in visits if v.day > 0 and code in v.values]
        return (after[-1].values[code], after[-1].day) if after else (None, None)
    for visit in visits:
        if visit.timepoint == timepoint and code in visit.values:
            return visit.values[code], visit.day
    window = next(
        ((nominal, start, end) for c, nominal, start, end in data.timepoints if c == timepoint), None
    )
    if window is None:
        return None, None
    nominal, start, end = window
    candidates = [v for v in visits if not v.timepoint and start <= v.day <= end and code in v.values]
    if not candidates:
        return None, None
    best = min(candidates, key=lambda v: (abs(v.day - nominal), v.day))
    return best.values[code], best.day


def baseline_frame(data: SeriesData, policy: ExportPolicy) -> pd.DataFrame:
    rows = []
    for p in data.patients:
        prior = data.prior.get(p.pk, [])
        lines = [t for t in prior if t["therapy_class"] != TherapyClass.GLUCOCORTICOID]
        organs = data.organs.get(p.pk, [])
        visits = data.visits.get(p.pk, [])
        duration = (
            round((p.day0 - p.diagnosis_date).days / 365.25, 1) if p.day0 and p.diagnosis_date else None
        )
        row = _key(data, p, policy) | {
            "sex": p.sex,
            "age_at_infusion_years": completed_years(data.date_of_birth.get(p.pk), p.day0),
            "disease_duration_years": duration,
            "treatment_pathway": p.treatment_pathway,
            "organ_involvement": "; ".join(organs),
            "organs_involved": len(organs),
            "prior_lines": len(lines),
            "b_cell_targeted_prior": any(
                t["b_cell_targeted"] or t["therapy_class"] == TherapyClass.B_CELL for t in prior
            ),
            "prior_therapies": "; ".join(t["drug"] for t in lines),
            "_organs": set(organs),
        }
        for m in MEASURES:
            row[f"baseline_{m.code}"] = (
                _baseline_value(visits, m.code) if m.diagnosis == p.diagnosis else None
            )
        rows.append(row)
    return pd.DataFrame(rows, columns=_frame_columns("baseline", policy) + ["_centre_label", "_organs"])


def _regimen(doses: list[dict[str, Any]]) -> str:
    agents = {d["agent"] for d in doses}
    return "/".join(LD_ABBREVIATIONS[a] for a in LD_ABBREVIATIONS if a in agents)


def dosing_frame(data: SeriesData, policy: ExportPolicy) -> pd.DataFrame:
    rows = []
    for p in data.patients:
        runs = data.runs.get(p.pk, [])
        infusion = data.infusion.get(p.pk)
        run = None
        if infusion is not None:
            run = next((r for r in runs if r["pk"] == infusion["run_id"]), None)
        if run is None and runs:
            run = runs[-1]
        doses = data.lymphodepletion.get(p.pk, [])
        totals = dict.fromkeys(LD_ABBREVIATIONS)
        for d in doses:
            totals[d["agent"]] = (totals[d["agent"]] or 0.0) + float(d["mg_per_m2"])
        apheresis = run["apheresis__performed_on"] if run else None
        row = _key(data, p, policy) | {
            "product": run["product__code"] if run else None,
            "manufacturing_outcome": run["outcome"] if run else None,
            "manufacturing_runs": len(runs),
            "product_state": run["product_state"] if run else None,
            "vein_to_vein_days": (infusion["infused_on"] - apheresis).days
            if infusion and apheresis
            else None,
            "apheresis_day": p.study_day(apheresis),
            "manufacturing_days": (run["finished_on"] - run["started_on"]).days if run else None,
            "transduction_pct": _float(run and run["transduction_efficiency_pct"]),
            "viability_pct": _float(run and run["viability_pct"]),
            "cd4_cd8_ratio": _float(run and run["cd4_cd8_ratio"]),
            "vector_copy_number": _float(run and run["vector_copy_number"]),
            "bags": run["bag_count"] if run else None,
            "weight_kg": _float(infusion and infusion["weight_kg"]),
            "car_t_cells_infused": _rounded(infusion and infusion["car_t_cells_infused"]),
            "dose_per_kg": _rounded(infusion and infusion["dose_per_kg"]),
            "percent_of_target": round(infusion["percent_of_target"], 1) if infusion else None,
            "dose_window": infusion["dose_window"] if infusion else None,
            "reinfusions": data.reinfusions.get(p.pk, 0),
            "lymphodepletion_regimen": _regimen(doses) or None,
            "lymphodepletion_start_day": p.study_day(min(d["given_on"] for d in doses)) if doses else None,
            "fludarabine_mg_m2": totals["fludarabine"],
            "cyclophosphamide_mg_m2": totals["cyclophosphamide"],
            "bendamustine_mg_m2": totals["bendamustine"],
            "_infused": infusion is not None,
            "_reinfused": data.reinfusions.get(p.pk, 0) > 0,
        }
        rows.append(row)
    extra = ["_centre_label", "_infused", "_reinfused"]
    return pd.DataFrame(rows, columns=_frame_columns("dosing", policy) + extra)


def _float(value: Any) -> float | None:
    return None if value in (None, False) else float(value)


def _rounded(value: Any) -> float | None:
    """Cell counts and doses per kg to the whole cell (floating-point noise such as 999999.9999 dropped)."""
    return None if value in (None, False) else float(round(float(value)))


def safety_frame(data: SeriesData, policy: ExportPolicy) -> pd.DataFrame:
    rows = []
    for p in data.infused:
        s = data.safety[p.pk]
        rows.append(
            _key(data, p, policy)
            | {
                "crs_max_grade": s.crs_max_grade,
                "crs_onset_day": s.crs_onset_day,
                "crs_duration_days": s.crs_duration_days,
                "tocilizumab_doses": s.tocilizumab_doses,
                "crs_corticosteroids": s.crs_corticosteroids,
                "icans_max_grade": s.icans_max_grade,
                "icans_onset_day": s.icans_onset_day,
                "icans_duration_days": s.icans_duration_days,
                "icaht_early_grade": s.icaht_early,
                "icaht_late_grade": s.icaht_late,
                "neutrophil_recovery_day": s.neutrophil_recovery_day,
                "transfusions": s.transfusions,
                "gcsf": s.gcsf,
                "infections": s.infections,
                "severe_infections": s.severe_infections,
                "max_infection_grade": s.max_infection_grade,
                "serious_adverse_events": s.serious_adverse_events,
                "max_ae_grade": s.max_ae_grade,
                "died": p.death_date is not None,
                "_tocilizumab": s.tocilizumab_doses > 0,
                "_any_infection": s.infections > 0,
                "_severe_infection": s.severe_infections > 0,
                "_sae": s.serious_adverse_events > 0,
                "_ae_grade3": s.max_ae_grade >= 3,
            }
        )
    extra = ["_centre_label", "_tocilizumab", "_any_infection", "_severe_infection", "_sae", "_ae_grade3"]
    return pd.DataFrame(rows, columns=_frame_columns("safety", policy) + extra)


def _last_flag(visits: list[VisitRow], attribute: str) -> Any:
    value = None
    for visit in visits:
        if visit.day > 0 and getattr(visit, attribute) not in (None, ""):
            value = getattr(visit, attribute)
    return value


def efficacy_frame(data: SeriesData, policy: ExportPolicy) -> pd.DataFrame:
    rows = []
    hidden: list[str] = []
    for m in MEASURES:
        for tp, _label in EFFICACY_TIMEPOINTS:
            hidden.append(f"_m:{m.code}:{tp}")
            if tp != "baseline":
                hidden.append(f"_c:{m.code}:{tp}")
    for p in data.infused:
        course = data.courses[p.pk]
        visits = data.visits.get(p.pk, [])
        followed = course.last_follow_up_day is not None and course.last_follow_up_day > 0
        main = ACTIVITY_MEASURE[p.diagnosis]
        row = _key(data, p, policy) | {"activity_measure": main}
        values: dict[str, Any] = {}
        for m in MEASURES:
            baseline = None
            for tp, _label in EFFICACY_TIMEPOINTS:
                value, day = (
                    _value_at(data, visits, m.code, tp) if m.diagnosis == p.diagnosis else (None, None)
                )
                values[f"_m:{m.code}:{tp}"] = value
                if tp == "baseline":
                    baseline = value
                else:
                    values[f"_c:{m.code}:{tp}"] = percent_change(value, baseline)
                if m.code == main:
                    row[f"activity_{tp}"] = value
                    if tp == "last":
                        row["activity_last_day"] = day
                    if tp != "baseline":
                        row[f"activity_change_{tp}_pct"] = percent_change(value, baseline)
        lldas = _last_flag(visits, "lldas")
        response = _last_flag(visits, "jdm_response")
        row |= {
            "remission_reached": course.remission_reached,
            "first_remission_day": course.first_remission_day,
            "remission_at_last": _last_flag(visits, "remission"),
            "lldas_at_last": lldas if p.diagnosis == Diagnosis.SLE else None,
            "jdm_response_at_last": response if p.diagnosis == Diagnosis.JDM else None,
            "latest_status": course.latest_status or None,
            "flares": len(course.flares),
            "immunomodulator_free": course.immunomodulator_free if followed else None,
            "immunomodulator_free_since_day": course.immunomodulator_free_since_day if followed else None,
            "b_cell_aplasia_day": course.b_cell_aplasia_day,
            "b_cell_reconstitution_day": course.b_cell_reconstitution_day,
            "car_t_peak_per_ul": course.car_t_peak_per_ul,
            "car_t_peak_day": course.car_t_peak_day,
            "igg_nadir_g_l": course.igg_nadir_g_l,
            "last_follow_up_day": course.last_follow_up_day,
            "follow_up_months": course.follow_up_months if followed else None,
            "_b_cell_aplasia": course.b_cell_aplasia_day is not None,
            "_reconstituted": (course.b_cell_reconstitution_day is not None)
            if course.b_cell_aplasia_day is not None
            else None,
            "_free_after_reconstitution": (course.immunomodulator_free if followed else None)
            if course.b_cell_reconstitution_day is not None
            else None,
            "_flare": len(course.flares) > 0 if followed else None,
            **values,
        }
        rows.append(row)
    return pd.DataFrame(
        rows,
        columns=_frame_columns("efficacy", policy)
        + ["_centre_label", "_b_cell_aplasia", "_reconstituted", "_free_after_reconstitution", "_flare"]
        + hidden,
    )


def _frame_columns(table: str, policy: ExportPolicy) -> list[str]:
    return [c.name for c in visible_columns(table, policy)]


def visible_columns(table: str, policy: ExportPolicy) -> list[Column]:
    """The per-patient columns of ``table`` under ``policy``: identity only when identified, no free text
    in external exports."""
    columns = [KEY_COLUMNS[0], *(IDENTITY_COLUMNS if policy.shows_identity else ()), *KEY_COLUMNS[1:]]
    columns += list(PATIENT_COLUMNS[table])
    return [c for c in columns if not (c.free_text and policy.drops_free_text)]


# --- summaries --------------------------------------------------------------------------------


def baseline_summary(frame: pd.DataFrame, policy: ExportPolicy, spread: str) -> pd.DataFrame:
    organs = sorted(
        {o for found in frame["_organs"] for o in found}, key=lambda o: list(Organ.values).index(o)
    )
    frame = frame.assign(
        **{f"_organ:{organ}": frame["_organs"].map(lambda found, o=organ: o in found) for organ in organs}
    )
    s = Summary(frame, policy, spread)
    s.patients("Patients", "Patients")
    centres = sorted(set(frame["_centre_label"]))
    s.levels("Patients", "Centre", "_centre_label", [(c, c) for c in centres])
    s.levels("Patients", "Diagnosis", "diagnosis", [(d, str(Diagnosis(d).label)) for d in DIAGNOSES])
    s.levels("Demographics", "Sex", "sex", [("female", "female"), ("male", "male")])
    s.continuous("Demographics", "Age at infusion, years", "age_at_infusion_years", decimals=0)
    s.continuous("Disease", "Disease duration at infusion, years", "disease_duration_years", decimals=1)
    for organ in organs:
        s.flag("Organ involvement", str(Organ(organ).label), f"_organ:{organ}", not_evaluable=False)
    s.continuous(
        "Prior therapy", "Prior lines of therapy (glucocorticoids not counted)", "prior_lines", decimals=0
    )
    s.flag("Prior therapy", "B-cell-targeted prior therapy", "b_cell_targeted_prior", not_evaluable=False)
    for m in MEASURES:
        s.continuous(
            "Disease activity at baseline",
            f"{m.label} ({DIAGNOSIS_SHORT[m.diagnosis]})",
            f"baseline_{m.code}",
            decimals=m.decimals,
            only=m.diagnosis,
            skip_empty=True,
        )
    return s.frame()


def dosing_summary(frame: pd.DataFrame, policy: ExportPolicy, spread: str) -> pd.DataFrame:
    s = Summary(frame, policy, spread)
    s.patients("Patients", "Patients")
    s.flag("Patients", "Infused (day 0 recorded)", "_infused", not_evaluable=False)
    products = sorted({p for p in frame["product"] if _present(p)})
    if products:
        s.levels("Product", "Product", "product", [(p, p) for p in products], missing_label="no run")
    s.levels(
        "Manufacturing",
        "Manufacturing",
        "manufacturing_outcome",
        [("success", "successful"), ("failed", "failed")],
        missing_label="no run recorded",
    )
    s.continuous("Manufacturing", "Vein-to-vein time, days", "vein_to_vein_days", decimals=0)
    s.continuous("Manufacturing", "Manufacturing duration, days", "manufacturing_days", decimals=0)
    s.continuous("Manufacturing", "Transduction efficiency, %", "transduction_pct", decimals=1)
    s.continuous("Manufacturing", "Viability, %", "viability_pct", decimals=1)
    s.continuous("Manufacturing", "Drug-product bags per run, n", "bags", decimals=0)
    s.levels(
        "Manufacturing",
        "Product",
        "product_state",
        [("fresh", "fresh"), ("cryopreserved", "cryopreserved")],
        missing_label="no run recorded",
    )
    s.continuous("Dosing", "Dose, ×10⁶ CAR T cells/kg", "dose_per_kg", decimals=2, scale=1e-6)
    s.continuous("Dosing", "Dose, % of target", "percent_of_target", decimals=1)
    s.levels(
        "Dosing",
        "Dose window",
        "dose_window",
        [("within", "within"), ("below", "below"), ("above", "above")],
        missing_label="not infused",
    )
    s.flag("Dosing", "More than one infusion", "_reinfused", not_evaluable=False)
    regimens = sorted({r for r in frame["lymphodepletion_regimen"] if _present(r)})
    s.levels(
        "Lymphodepletion",
        "Regimen",
        "lymphodepletion_regimen",
        [(r, r) for r in regimens],
        missing_label="none recorded",
    )
    s.continuous(
        "Lymphodepletion", "Fludarabine, total mg/m²", "fludarabine_mg_m2", decimals=0, skip_empty=True
    )
    s.continuous(
        "Lymphodepletion",
        "Cyclophosphamide, total mg/m²",
        "cyclophosphamide_mg_m2",
        decimals=0,
        skip_empty=True,
    )
    s.continuous(
        "Lymphodepletion", "Bendamustine, total mg/m²", "bendamustine_mg_m2", decimals=0, skip_empty=True
    )
    return s.frame()


GRADES = [(g, f"grade {g}") for g in range(1, 6)]
ICAHT_GRADES = [(g, f"grade {g}") for g in range(0, 5)]


def safety_summary(frame: pd.DataFrame, policy: ExportPolicy, spread: str) -> pd.DataFrame:
    s = Summary(frame, policy, spread)
    s.patients("Patients", "Patients with day 0")
    s.levels("CRS (ASTCT 2019)", "CRS", "crs_max_grade", GRADES, any_level="any grade", any_from=1)
    s.continuous("CRS (ASTCT 2019)", "CRS onset, study day", "crs_onset_day", decimals=0)
    s.continuous("CRS (ASTCT 2019)", "CRS duration, days", "crs_duration_days", decimals=0)
    s.flag("CRS (ASTCT 2019)", "Tocilizumab", "_tocilizumab", not_evaluable=False)
    s.flag("CRS (ASTCT 2019)", "Corticosteroids for CRS", "crs_corticosteroids", not_evaluable=False)
    s.levels("ICANS (ASTCT 2019)", "ICANS", "icans_max_grade", GRADES, any_level="any grade", any_from=1)
    s.continuous("ICANS (ASTCT 2019)", "ICANS onset, study day", "icans_onset_day", decimals=0)
    s.continuous("ICANS (ASTCT 2019)", "ICANS duration, days", "icans_duration_days", decimals=0)
    s.levels("ICAHT (EHA/EBMT 2023)", "Early ICAHT", "icaht_early_grade", ICAHT_GRADES)
    s.levels("ICAHT (EHA/EBMT 2023)", "Late ICAHT", "icaht_late_grade", ICAHT_GRADES)
    s.continuous(
        "ICAHT (EHA/EBMT 2023)", "Neutrophil recovery, study day", "neutrophil_recovery_day", decimals=0
    )
    s.flag("ICAHT (EHA/EBMT 2023)", "G-CSF", "gcsf", not_evaluable=False)
    s.flag("ICAHT (EHA/EBMT 2023)", "Transfusion", "transfusions", not_evaluable=False)
    s.flag("Infections", "Any infection", "_any_infection", not_evaluable=False)
    s.count_sum("Infections", "Infection episodes", "infections")
    s.flag("Infections", "Severe infection (grade ≥ 3)", "_severe_infection", not_evaluable=False)
    s.flag("Other adverse events", "Serious adverse event", "_sae", not_evaluable=False)
    s.flag("Other adverse events", "Adverse event grade ≥ 3", "_ae_grade3", not_evaluable=False)
    s.flag("Other adverse events", "Died", "died", not_evaluable=False)
    return s.frame()


def efficacy_summary(frame: pd.DataFrame, policy: ExportPolicy, spread: str) -> pd.DataFrame:
    s = Summary(frame, policy, spread)
    s.patients("Patients", "Patients with day 0")
    s.continuous("Follow-up", "Follow-up, months", "follow_up_months", decimals=1)
    for m in MEASURES:
        if not any(_present(v) for tp, _l in EFFICACY_TIMEPOINTS for v in frame[f"_m:{m.code}:{tp}"]):
            continue
        section = f"{m.label} ({DIAGNOSIS_SHORT[m.diagnosis]})"
        for tp, label in EFFICACY_TIMEPOINTS:
            s.continuous(section, str(label), f"_m:{m.code}:{tp}", decimals=m.decimals, only=m.diagnosis)
        for tp, label in EFFICACY_TIMEPOINTS[1:]:
            s.continuous(
                section,
                f"% change from baseline, {label}",
                f"_c:{m.code}:{tp}",
                decimals=1,
                only=m.diagnosis,
            )
    s.flag(
        "Response",
        "Remission / inactive disease reached (DORIS, PRINTO, EUSTAR-AI < 2.5)",
        "remission_reached",
        not_evaluable=False,
    )
    s.flag("Response", "Remission / inactive disease at last assessment", "remission_at_last")
    s.flag("Response", "LLDAS at last assessment (SLE)", "lldas_at_last", only=Diagnosis.SLE)
    responses = [("major", "major"), ("moderate", "moderate"), ("minimal", "minimal"), ("none", "none")]
    if (frame["diagnosis"] == Diagnosis.JDM).any():
        s.levels(
            "Response",
            "ACR/EULAR JDM response at last assessment (JDM)",
            "jdm_response_at_last",
            responses,
            only=Diagnosis.JDM,
        )
    s.flag("Response", "Flare after remission", "_flare")
    s.flag("Immunomodulators", "Immunomodulator-free at last follow-up", "immunomodulator_free")
    s.flag(
        "Immunomodulators",
        "Immunomodulator-free after B-cell reconstitution (of reconstituted)",
        "_free_after_reconstitution",
        not_evaluable=False,
    )
    s.flag("B cells and CAR T cells", "B-cell aplasia", "_b_cell_aplasia", not_evaluable=False)
    s.flag(
        "B cells and CAR T cells",
        "B-cell reconstitution (of aplastic)",
        "_reconstituted",
        not_evaluable=False,
    )
    s.continuous(
        "B cells and CAR T cells", "B-cell reconstitution, study day", "b_cell_reconstitution_day", decimals=0
    )
    s.continuous("B cells and CAR T cells", "CAR T-cell peak, cells/µL", "car_t_peak_per_ul", decimals=1)
    s.continuous("B cells and CAR T cells", "CAR T-cell peak, study day", "car_t_peak_day", decimals=0)
    s.continuous("B cells and CAR T cells", "IgG nadir, g/L", "igg_nadir_g_l", decimals=1, skip_empty=True)
    return s.frame()


FRAMES = {
    "baseline": baseline_frame,
    "dosing": dosing_frame,
    "safety": safety_frame,
    "efficacy": efficacy_frame,
}
SUMMARIES = {
    "baseline": baseline_summary,
    "dosing": dosing_summary,
    "safety": safety_summary,
    "efficacy": efficacy_summary,
}


def table_notes(key: str, policy: ExportPolicy, spread: str) -> list[str]:
    notes = [
        "n (%): percentage of the column's patients with data, one decimal; 'not evaluable' rows count "
        "the rest.",
        "median (IQR), quartiles by linear interpolation." if spread == "iqr" else "median (range).",
    ]
    if key in ("safety", "efficacy"):
        notes.append("Patients with day 0 (the infusion); study days count from day 0.")
    if key == "baseline":
        notes.append("Age in completed years at day 0; baseline scores: last assessment on or before day 0.")
    if key == "safety":
        notes.append(
            "CRS and ICANS grades computed from bedside observations (ASTCT 2019), ICAHT from the ANC series "
            "(EHA/EBMT 2023); severe infection: CTCAE grade ≥ 3."
        )
    if key == "efficacy":
        notes.append(
            "Follow-up: last visit − day 0 in months of 30.4375 days. Month 3/6/12: the scheduled visit, "
            "else the unscheduled visit in its window closest to the nominal day. "
            "% change: (value − baseline) / baseline."
        )
    if policy.suppresses:
        notes.append(
            f"External export: counts below {policy.threshold} shown as <{policy.threshold}, "
            "statistics over fewer "
            f"than {policy.threshold} patients suppressed (n<{policy.threshold})."
        )
    return notes


def build_table(data: SeriesData, key: str, policy: ExportPolicy, *, spread: str = "range") -> Table:
    if key not in TABLES:
        raise ValueError(f"table: unknown '{key}'; allowed: {', '.join(TABLES)}")
    if spread not in SPREADS:
        raise ValueError(f"spread: unknown '{spread}'; allowed: {', '.join(SPREADS)}")
    working = FRAMES[key](data, policy)
    summary = SUMMARIES[key](working, policy, spread)
    columns = visible_columns(key, policy)
    visible = working[[c.name for c in columns]].copy()
    for c in columns:
        if c.kind in ("integer", "study_day"):  # whole numbers stay whole despite missing values
            visible[c.name] = pd.to_numeric(visible[c.name], errors="coerce").round().astype("Int64")
    visible = visible.astype(object)
    patients = visible.where(visible.notna(), None)
    return Table(
        key=key,
        title=str(TABLE_TITLES[key]),
        patients=patients.reset_index(drop=True),
        summary=summary,
        columns=columns,
        notes=table_notes(key, policy, spread),
    )


def build_tables(
    data: SeriesData, policy: ExportPolicy, *, tables: Iterable[str] = TABLES, spread: str = "range"
) -> dict[str, Table]:
    return {key: build_table(data, key, policy, spread=spread) for key in tables}


# --- data dictionary --------------------------------------------------------------------------


DICTIONARY_HEADER = ["table", "column", "label", "type", "unit", "description"]


def data_dictionary(tables: Iterable[Table]) -> pd.DataFrame:
    """One row per column of each per-patient table and of the summaries."""
    rows = []
    for table in tables:
        for c in table.columns:
            rows.append([f"{table.key}_patients", c.name, str(c.label), c.kind, c.unit, str(c.description)])
        for c in SUMMARY_COLUMNS:
            if c.name in table.summary.columns:
                rows.append(
                    [f"{table.key}_summary", c.name, str(c.label), c.kind, c.unit, str(c.description)]
                )
    return pd.DataFrame(rows, columns=DICTIONARY_HEADER)
