"""Per-patient rows of the case-series tables (one row per child; the columns of
:mod:`registry.exports.definitions`), built from :class:`~registry.exports.selectors.SeriesData`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from patients.models import Diagnosis, TherapyClass
from patients.selectors import completed_years
from registry.exports.definitions import (
    ACTIVITY_MEASURE,
    EFFICACY_TIMEPOINTS,
    IDENTITY_COLUMNS,
    KEY_COLUMNS,
    MEASURES,
    PATIENT_COLUMNS,
    SCHEDULED_EFFICACY_TIMEPOINTS,
    Column,
)
from registry.exports.modes import ExportPolicy
from registry.exports.selectors import SeriesData, VisitRow
from registry.exports.tables.summary import percent_change

LD_ABBREVIATIONS = {"fludarabine": "Flu", "cyclophosphamide": "Cy", "bendamustine": "Benda"}
REMISSION_LABEL = {
    "sle": "DORIS remission",
    "jdm": "PRINTO inactive disease",
    "ssc": "EUSTAR-AI < 2.5",
}


_GLUCOCORTICOID = TherapyClass.GLUCOCORTICOID.value
_B_CELL = TherapyClass.B_CELL.value
_SLE, _JDM = Diagnosis.SLE.value, Diagnosis.JDM.value
_MEASURES_OF = {d: tuple(m for m in MEASURES if m.diagnosis == d) for d in ("sle", "jdm", "ssc")}
_TIMEPOINT_CODES = tuple(tp for tp, _label in EFFICACY_TIMEPOINTS)
_NONE = (None, None)


# --- per-patient rows ---------------------------------------------------------------------------------------


class _Keys:
    """The key columns of each patient's row under ``policy``; the centre labels computed once per centre
    (a series has thousands of patients and a handful of centres)."""

    def __init__(self, data: SeriesData, policy: ExportPolicy) -> None:
        self.data, self.policy = data, policy
        self.centres: dict[int, tuple[str, str]] = {}

    def __call__(self, patient: Any) -> dict[str, Any]:
        policy = self.policy
        centre = self.centres.get(patient.centre_id)
        if centre is None:
            c = patient.centre
            centre = self.centres[patient.centre_id] = (
                policy.centre_code(patient.centre_id, c.code),
                policy.centre_label(patient.centre_id, c.name, c.code),
            )
        pid = patient.pk
        row = {
            "patient": policy.patient_label(pid, patient.code),
            "centre": centre[0],
            "diagnosis": patient.diagnosis,
            "_centre_label": centre[1],
        }
        if policy.shows_identity:
            identity = self.data.identity.get(pid, {})
            born = self.data.date_of_birth.get(pid)
            row |= {
                "given_name": identity.get("given_name"),
                "family_name": identity.get("family_name"),
                "date_of_birth": born.isoformat() if born else None,
                "hospital_number": identity.get("hospital_number"),
                "infusion_date": patient.day0.isoformat() if patient.day0 else None,
            }
        return row


def _baseline_values(visits: list[VisitRow]) -> dict[str, float]:
    """Each measure's last value on or before day 0 (a visit's values hold only the measures it has)."""
    values: dict[str, float] = {}
    for visit in visits:
        if visit.day <= 0:
            values.update(visit.values)
    return values


def _timepoint_windows(data: SeriesData) -> dict[str, tuple[int, int, int]]:
    """(nominal day, first day, last day) of each scheduled efficacy timepoint (the first schedule entry of
    its code)."""
    windows: dict[str, tuple[int, int, int]] = {}
    for code, nominal, start, end in data.timepoints:
        if code in SCHEDULED_EFFICACY_TIMEPOINTS and code not in windows:
            windows[code] = (nominal, start, end)
    return windows


def _values_at(
    visits: list[VisitRow], windows: dict[str, tuple[int, int, int]]
) -> dict[tuple[str, str], tuple[float | None, int | None]]:
    """(measure code, timepoint) → (value, study day) of one patient, in one pass over the visits:
    baseline (last value on or before day 0; no day), a scheduled month (its visit, else the unscheduled visit
    in its window closest to the nominal day, the earlier on a tie) and the last follow-up after day 0."""
    found: dict[tuple[str, str], tuple[float | None, int | None]] = {}
    closest: dict[tuple[str, str], tuple[int, float, int]] = {}  # (distance, value, day)
    for visit in visits:
        day, values = visit.day, visit.values
        if not values:
            continue
        for code, value in values.items():
            if day <= 0:
                found[code, "baseline"] = (value, None)
            else:
                found[code, "last"] = (value, day)
        timepoint = visit.timepoint
        if timepoint:
            if timepoint in SCHEDULED_EFFICACY_TIMEPOINTS:
                for code, value in values.items():
                    found.setdefault((code, timepoint), (value, day))
            continue
        for tp, (nominal, start, end) in windows.items():
            if start <= day <= end:
                distance = abs(day - nominal)
                for code, value in values.items():
                    best = closest.get((code, tp))
                    if best is None or distance < best[0]:
                        closest[code, tp] = (distance, value, day)
    for key, (_distance, value, day) in closest.items():
        found.setdefault(key, (value, day))
    return found


def baseline_frame(data: SeriesData, policy: ExportPolicy) -> pd.DataFrame:
    rows = []
    key = _Keys(data, policy)
    for p in data.patients:
        pid = p.pk
        prior = data.prior.get(pid, [])
        lines = [t for t in prior if t["therapy_class"] != _GLUCOCORTICOID]
        organs = data.organs.get(pid, [])
        visits = data.visits.get(pid, [])
        duration = (
            round((p.day0 - p.diagnosis_date).days / 365.25, 1) if p.day0 and p.diagnosis_date else None
        )
        baseline = _baseline_values(visits)
        row = key(p) | {
            "sex": p.sex,
            "age_at_infusion_years": completed_years(data.date_of_birth.get(pid), p.day0),
            "disease_duration_years": duration,
            "treatment_pathway": p.treatment_pathway,
            "organ_involvement": "; ".join(organs),
            "organs_involved": len(organs),
            "prior_lines": len(lines),
            "b_cell_targeted_prior": any(
                t["b_cell_targeted"] or t["therapy_class"] == _B_CELL for t in prior
            ),
            "prior_therapies": "; ".join(t["drug"] for t in lines),
            "_organs": set(organs),
        }
        for m in MEASURES:
            row[f"baseline_{m.code}"] = baseline.get(m.code) if m.diagnosis == p.diagnosis else None
        rows.append(row)
    return pd.DataFrame(rows, columns=_frame_columns("baseline", policy) + ["_centre_label", "_organs"])


def _regimen(doses: list[dict[str, Any]]) -> str:
    agents = {d["agent"] for d in doses}
    return "/".join(LD_ABBREVIATIONS[a] for a in LD_ABBREVIATIONS if a in agents)


def dosing_frame(data: SeriesData, policy: ExportPolicy) -> pd.DataFrame:
    rows = []
    key = _Keys(data, policy)
    for p in data.patients:
        pid = p.pk
        runs = data.runs.get(pid, [])
        infusion = data.infusion.get(pid)
        run = None
        if infusion is not None:
            run = next((r for r in runs if r["pk"] == infusion["run_id"]), None)
        if run is None and runs:
            run = runs[-1]
        doses = data.lymphodepletion.get(pid, [])
        reinfusions = data.reinfusions.get(pid, 0)
        totals = dict.fromkeys(LD_ABBREVIATIONS)
        for d in doses:
            totals[d["agent"]] = (totals[d["agent"]] or 0.0) + float(d["mg_per_m2"])
        apheresis = run["apheresis__performed_on"] if run else None
        row = key(p) | {
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
            "reinfusions": reinfusions,
            "lymphodepletion_regimen": _regimen(doses) or None,
            "lymphodepletion_start_day": p.study_day(min(d["given_on"] for d in doses)) if doses else None,
            "fludarabine_mg_m2": totals["fludarabine"],
            "cyclophosphamide_mg_m2": totals["cyclophosphamide"],
            "bendamustine_mg_m2": totals["bendamustine"],
            "_infused": infusion is not None,
            "_reinfused": reinfusions > 0,
        }
        rows.append(row)
    extra = ["_centre_label", "_infused", "_reinfused"]
    return pd.DataFrame(rows, columns=_frame_columns("dosing", policy) + extra)


def _float(value: Any) -> float | None:
    """A measured value as a float; ``None`` (no value, or no run or infusion: ``run and …`` gives ``None``)
    stays missing. Zero is a value (``value in (None, False)`` would have dropped ``Decimal("0")``)."""
    return None if value is None else float(value)


def _rounded(value: Any) -> float | None:
    """Cell counts and doses per kg to the whole cell (floating-point noise such as 999999.9999 dropped)."""
    return None if value is None else float(round(float(value)))


def safety_frame(data: SeriesData, policy: ExportPolicy) -> pd.DataFrame:
    rows = []
    key = _Keys(data, policy)
    for p in data.infused:
        s = data.safety[p.pk]
        rows.append(
            key(p)
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


def _last_flags(visits: list[VisitRow]) -> tuple[Any, Any, Any]:
    """The last remission flag, LLDAS flag and JDM response recorded after day 0."""
    remission = lldas = response = None
    for visit in visits:
        if visit.day > 0:
            if visit.remission is not None:
                remission = visit.remission
            if visit.lldas is not None:
                lldas = visit.lldas
            if visit.jdm_response:
                response = visit.jdm_response
    return remission, lldas, response


#: The hidden per-measure columns of the efficacy frame (the efficacy summary reads them): for each measure
#: and timepoint, (timepoint, value column, % change column or None at baseline).
_MEASURE_COLUMNS = {
    m.code: tuple(
        (tp, f"_m:{m.code}:{tp}", None if tp == "baseline" else f"_c:{m.code}:{tp}")
        for tp in _TIMEPOINT_CODES
    )
    for m in MEASURES
}
#: (measure code, timepoint) → (value column, % change column or None).
_COLUMNS_AT = {
    (code, tp): (value_column, change_column)
    for code, columns in _MEASURE_COLUMNS.items()
    for tp, value_column, change_column in columns
}
#: The visible columns of each measure as a patient's main activity measure: (timepoint, value column,
#: hidden % change column or None, visible % change column or None).
_ACTIVITY_COLUMNS = {
    code: tuple(
        (tp, f"activity_{tp}", change_column, None if change_column is None else f"activity_change_{tp}_pct")
        for tp, _value_column, change_column in columns
    )
    for code, columns in _MEASURE_COLUMNS.items()
}
_HIDDEN_COLUMNS = [
    name for columns in _MEASURE_COLUMNS.values() for _tp, *names in columns for name in names if name
]


def efficacy_frame(data: SeriesData, policy: ExportPolicy) -> pd.DataFrame:
    rows = []
    infused = data.infused
    # The hidden measure columns column-wise (each patient fills only its diagnosis's measures).
    hidden: dict[str, list[Any]] = {name: [None] * len(infused) for name in _HIDDEN_COLUMNS}
    key = _Keys(data, policy)
    windows = _timepoint_windows(data)
    for i, p in enumerate(infused):
        course = data.courses[p.pk]
        visits = data.visits.get(p.pk, [])
        followed = course.last_follow_up_day is not None and course.last_follow_up_day > 0
        main = ACTIVITY_MEASURE[p.diagnosis]
        row = key(p) | {"activity_measure": main}
        found = _values_at(visits, windows)
        # Only the values found (the hidden columns start empty), then the main measure's visible columns.
        for (code, tp), (value, _day) in found.items():
            columns = _COLUMNS_AT.get((code, tp))
            if columns is None:
                continue
            value_column, change_column = columns
            hidden[value_column][i] = value
            if change_column is not None:
                hidden[change_column][i] = percent_change(value, found.get((code, "baseline"), _NONE)[0])
        for tp, activity, change_column, activity_change in _ACTIVITY_COLUMNS[main]:
            value, day = found.get((main, tp), _NONE)
            row[activity] = value
            if tp == "last":
                row["activity_last_day"] = day
            if change_column is not None:
                row[activity_change] = hidden[change_column][i]
        remission, lldas, response = _last_flags(visits)
        row |= {
            "remission_reached": course.remission_reached,
            "first_remission_day": course.first_remission_day,
            "remission_at_last": remission,
            "lldas_at_last": lldas if p.diagnosis == _SLE else None,
            "jdm_response_at_last": response if p.diagnosis == _JDM else None,
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
        }
        rows.append(row)
    frame = pd.DataFrame(
        rows,
        columns=_frame_columns("efficacy", policy)
        + ["_centre_label", "_b_cell_aplasia", "_reconstituted", "_free_after_reconstitution", "_flare"],
    )
    return pd.concat([frame, pd.DataFrame(hidden, index=frame.index)], axis=1)


def _frame_columns(table: str, policy: ExportPolicy) -> list[str]:
    return [c.name for c in visible_columns(table, policy)]


def visible_columns(table: str, policy: ExportPolicy) -> list[Column]:
    """The per-patient columns of ``table`` under ``policy``: identity only when identified, no free text
    in external exports."""
    columns = [KEY_COLUMNS[0], *(IDENTITY_COLUMNS if policy.shows_identity else ()), *KEY_COLUMNS[1:]]
    columns += list(PATIENT_COLUMNS[table])
    return [c for c in columns if not (c.free_text and policy.drops_free_text)]
