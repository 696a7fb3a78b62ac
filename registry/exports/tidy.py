"""Tidy (long) datasets per domain, ready for pandas, R or Stata without reshaping.

One row per patient × study day × variable (``patient, centre, diagnosis, study_day, timepoint, variable,
value, unit``), study days from day 0, never dates; a data dictionary lists the columns and every variable.
Domains: baseline (static values, ``timepoint = baseline``), dosing (the day-0 product and the
lymphodepletion doses by day), toxicity (worst CRS and ICANS grade of each assessed day, infections, other
adverse events), visits (every instrument score and status at every visit), labs (every laboratory value in
its canonical unit), medications (start and stop). Patients without day 0 appear only in the baseline
domain. Free-text variables are dropped in external exports.

Pure pandas shaping of :class:`~registry.exports.selectors.SeriesData` (loaded with ``longitudinal=True``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from outcomes.labs import ANALYTES
from registry.exports.definitions import MEASURES, PATIENT_COLUMNS, TIDY_COLUMNS, TIDY_DOMAINS, C, Column
from registry.exports.modes import ExportPolicy
from registry.exports.selectors import SeriesData
from registry.exports.tables import LD_ABBREVIATIONS, _present, baseline_frame, dosing_frame

TIDY_VARIABLES: dict[str, list[Column]] = {
    "baseline": list(PATIENT_COLUMNS["baseline"]),
    "dosing": [
        *[c for c in PATIENT_COLUMNS["dosing"] if c.kind != "study_day"],
        *(
            C(f"{agent}_mg_m2", f"{agent.capitalize()} dose of the day", "number", "mg/m²")
            for agent in LD_ABBREVIATIONS
        ),
    ],
    "toxicity": [
        C("crs_grade", "CRS grade, worst of the day (ASTCT 2019)", "integer", "grade"),
        C("icans_grade", "ICANS grade, worst of the day (ASTCT 2019)", "integer", "grade"),
        C("infection_grade", "Infection, CTCAE grade at onset", "integer", "grade"),
        C("infection_organism_type", "Infection, organism type", "category"),
        C("infection_site", "Infection, site as entered", "text", free_text=True),
        C("adverse_event_grade", "Adverse event, CTCAE grade at onset", "integer", "grade"),
        C("adverse_event_serious", "Adverse event, serious", "boolean"),
        C("adverse_event_term", "Adverse event, CTCAE term as entered", "text", free_text=True),
    ],
    "visits": [
        *(C(m.code, m.label, "number", m.unit) for m in MEASURES),
        C("remission", "DORIS remission (SLE) / PRINTO inactive (JDM) / EUSTAR-AI < 2.5 (SSc)", "boolean"),
        C("lldas", "LLDAS (SLE)", "boolean"),
        C("jdm_response", "ACR/EULAR response (JDM)", "category"),
    ],
    "labs": [C(code, a.label, "number", a.unit) for code, a in ANALYTES.items()],
    "medications": [
        C("medication_started", "Medication started: its class", "category"),
        C("medication_stopped", "Medication stopped: its class", "category"),
        C("medication_drug", "Medication started: drug as entered", "text", free_text=True),
    ],
}


def _tidy_rows(
    data: SeriesData, policy: ExportPolicy, domain: str, frames: dict[str, pd.DataFrame]
) -> list[tuple]:
    rows: list[tuple] = []
    variables = {c.name: c for c in TIDY_VARIABLES[domain]}
    dropped = {n for n, c in variables.items() if c.free_text and policy.drops_free_text}

    def add(key: tuple, day: int | None, variable: str, value: Any) -> None:
        if variable in dropped or not _present(value):
            return
        timepoint = "baseline" if day is None and domain == "baseline" else data.timepoint_of(day)
        rows.append(
            (*key, day, timepoint, variable, value, variables[variable].unit if variable in variables else "")
        )

    keys = {
        p.pk: (
            policy.patient_label(p.pk, p.code),
            policy.centre_code(p.centre_id, p.centre.code),
            p.diagnosis,
        )
        for p in data.patients
    }
    if domain in ("baseline", "dosing"):
        frame = frames[domain]
        static = [c.name for c in TIDY_VARIABLES[domain] if c.name in frame.columns]
        by_label = {p.pk: keys[p.pk] for p in data.patients}
        for p, (_, record) in zip(data.patients, frame.iterrows(), strict=True):
            if domain == "dosing" and p.day0 is None:
                continue
            day = None if domain == "baseline" else 0
            for name in static:
                value = record[name]
                if isinstance(value, bool):
                    value = int(value)
                add(by_label[p.pk], day, name, value)
            if domain == "dosing":
                for dose in data.lymphodepletion.get(p.pk, []):
                    add(
                        by_label[p.pk],
                        p.study_day(dose["given_on"]),
                        f"{dose['agent']}_mg_m2",
                        float(dose["mg_per_m2"]),
                    )
        return rows
    for p in data.infused:
        key = keys[p.pk]
        if domain == "toxicity":
            for day, grade in sorted(data.crs_days.get(p.pk, {}).items()):
                add(key, day, "crs_grade", grade)
            for day, grade in sorted(data.icans_days.get(p.pk, {}).items()):
                add(key, day, "icans_grade", grade)
            for inf in data.infections.get(p.pk, []):
                add(key, inf["day"], "infection_grade", inf["grade"])
                add(key, inf["day"], "infection_organism_type", inf["organism_type"])
                add(key, inf["day"], "infection_site", inf["site"])
            for ae in data.adverse_events.get(p.pk, []):
                add(key, ae["day"], "adverse_event_grade", ae["grade"])
                add(key, ae["day"], "adverse_event_serious", int(ae["serious"]))
                add(key, ae["day"], "adverse_event_term", ae["term"])
        elif domain == "visits":
            for visit in data.visits.get(p.pk, []):
                for code, value in visit.values.items():
                    add(key, visit.day, code, value)
                if visit.remission is not None:
                    add(key, visit.day, "remission", int(visit.remission))
                if visit.lldas is not None:
                    add(key, visit.day, "lldas", int(visit.lldas))
                if visit.jdm_response:
                    add(key, visit.day, "jdm_response", visit.jdm_response)
        elif domain == "labs":
            for day, analyte, value in data.labs.get(p.pk, []):
                add(key, day, analyte, value)
        elif domain == "medications":
            for med in data.medications.get(p.pk, []):
                add(key, med["start_day"], "medication_started", med["medication_class"])
                add(key, med["start_day"], "medication_drug", med["drug"])
                if med["stop_day"] is not None:
                    add(key, med["stop_day"], "medication_stopped", med["medication_class"])
    return rows


def tidy_datasets(data: SeriesData, policy: ExportPolicy) -> dict[str, pd.DataFrame]:
    """Long datasets per domain: one row per patient × study day × variable (study days, never dates).

    Patients without day 0 appear only in the baseline domain. Needs ``series_data(..., longitudinal=True)``.
    """
    if not data.longitudinal:
        raise ValueError("data: tidy datasets need series_data(..., longitudinal=True)")
    frames = {"baseline": baseline_frame(data, policy), "dosing": dosing_frame(data, policy)}
    names = [c.name for c in TIDY_COLUMNS]
    result = {}
    for domain in TIDY_DOMAINS:
        frame = pd.DataFrame(_tidy_rows(data, policy, domain, frames), columns=names)
        frame["study_day"] = frame["study_day"].astype("Int64")
        result[domain] = frame
    return result


def tidy_dictionary(policy: ExportPolicy) -> pd.DataFrame:
    """The columns of the tidy datasets, then every variable of each domain."""
    rows = [["(all)", c.name, str(c.label), c.kind, c.unit, str(c.description)] for c in TIDY_COLUMNS]
    for domain in TIDY_DOMAINS:
        for c in TIDY_VARIABLES[domain]:
            if c.free_text and policy.drops_free_text:
                continue
            rows.append([domain, c.name, str(c.label), c.kind, c.unit, str(c.description)])
    return pd.DataFrame(rows, columns=["domain", "variable", "label", "type", "unit", "description"])
