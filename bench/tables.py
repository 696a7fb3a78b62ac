"""Case-series tables (Table 1 baseline, dosing, safety, efficacy) vs the one SQL aggregate that feeds them.

Figure: :func:`registry.exports.selectors.series_data` + :func:`registry.exports.tables.build_tables`
(internal mode) for a case series of the first 1,000 and of all patients. Baseline: one SQL statement that
aggregates, per patient of the series, everything the tables summarise (baseline, prior lines, dose,
lymphodepletion, worst CRS and ICANS, ANC nadir, CAR T peak, IgG nadir, B cells, visits, instruments,
medications, infections, adverse events) — the database work no implementation can avoid. Budget (DESIGN
§7): ≤ 3× at 10,000 patients.
"""

from __future__ import annotations

import time

from django.db import connection

from bench.common import Env, Result, alternate

NAME = "tables"
BUDGET = 3.0

SERIES = "(SELECT sp.patient_id FROM registry_caseseries_patients sp WHERE sp.caseseries_id = %(series)s)"
AGGREGATE_SQL = """
SELECT p.id, p.code, c.code AS centre, p.diagnosis, p.sex, p.status, p.day0, p.diagnosis_date,
       i.date_of_birth, org.n_organs, pt.n_lines, pt.b_cell, inf.dose_per_kg, inf.percent_of_target,
       ld.n_doses, mr.n_runs,
       crs.worst, crs.n, crs.tocilizumab, icans.worst, icans.n, lab.anc_min, lab.anc_n, lab.car_t_peak,
       lab.igg_min, lab.cd19_zero, lab.last_sample, v.n_visits, v.last_visit, sle.worst, sle.remissions,
       jdm.best, jdm.inactive, ssc.best, med.n_meds, med.immuno, infx.worst, ae.worst
FROM patients_patient p
JOIN registry_centre c ON c.id = p.centre_id
LEFT JOIN patients_patientidentity i ON i.patient_id = p.id
LEFT JOIN (SELECT o.patient_id, COUNT(*) AS n_organs FROM patients_organinvolvement o
           WHERE o.patient_id IN {series} AND o.voided_at IS NULL GROUP BY o.patient_id) org
       ON org.patient_id = p.id
LEFT JOIN (SELECT t.patient_id,
                  SUM(CASE WHEN t.therapy_class <> 'glucocorticoid' THEN 1 ELSE 0 END) AS n_lines,
                  MAX(CASE WHEN t.b_cell_targeted THEN 1 ELSE 0 END) AS b_cell
           FROM patients_priortherapy t
           WHERE t.patient_id IN {series} AND t.voided_at IS NULL GROUP BY t.patient_id) pt
       ON pt.patient_id = p.id
LEFT JOIN (SELECT f.patient_id, MAX(f.dose_per_kg) AS dose_per_kg,
                  MAX(f.percent_of_target) AS percent_of_target
           FROM dosing_infusion f
           WHERE f.patient_id IN {series} AND f.voided_at IS NULL AND NOT f.is_reinfusion
           GROUP BY f.patient_id) inf
       ON inf.patient_id = p.id
LEFT JOIN (SELECT d.patient_id, COUNT(*) AS n_doses FROM dosing_lymphodepletiondose d
           WHERE d.patient_id IN {series} AND d.voided_at IS NULL GROUP BY d.patient_id) ld
       ON ld.patient_id = p.id
LEFT JOIN (SELECT r.patient_id, COUNT(*) AS n_runs FROM dosing_manufacturingrun r
           WHERE r.patient_id IN {series} AND r.voided_at IS NULL GROUP BY r.patient_id) mr
       ON mr.patient_id = p.id
LEFT JOIN (SELECT a.patient_id, MAX(a.grade) AS worst, COUNT(*) AS n,
                  SUM(CASE WHEN a.tocilizumab_mg_per_kg IS NOT NULL THEN 1 ELSE 0 END) AS tocilizumab
           FROM adverse_events_crsassessment a
           WHERE a.patient_id IN {series} AND a.voided_at IS NULL GROUP BY a.patient_id) crs
       ON crs.patient_id = p.id
LEFT JOIN (SELECT a.patient_id, MAX(a.grade) AS worst, COUNT(*) AS n FROM adverse_events_icansassessment a
           WHERE a.patient_id IN {series} AND a.voided_at IS NULL GROUP BY a.patient_id) icans
       ON icans.patient_id = p.id
LEFT JOIN (SELECT l.patient_id,
                  MIN(CASE WHEN l.analyte = 'anc' THEN l.value END) AS anc_min,
                  SUM(CASE WHEN l.analyte = 'anc' THEN 1 ELSE 0 END) AS anc_n,
                  MAX(CASE WHEN l.analyte = 'car_t' THEN l.value END) AS car_t_peak,
                  MIN(CASE WHEN l.analyte = 'igg' THEN l.value END) AS igg_min,
                  SUM(CASE WHEN l.analyte = 'cd19' AND l.value < 1 THEN 1 ELSE 0 END) AS cd19_zero,
                  MAX(l.sampled_on) AS last_sample
           FROM outcomes_labresult l
           WHERE l.patient_id IN {series} AND l.voided_at IS NULL GROUP BY l.patient_id) lab
       ON lab.patient_id = p.id
LEFT JOIN (SELECT v.patient_id, COUNT(*) AS n_visits, MAX(v.visit_date) AS last_visit FROM outcomes_visit v
           WHERE v.patient_id IN {series} AND v.voided_at IS NULL GROUP BY v.patient_id) v
       ON v.patient_id = p.id
LEFT JOIN (SELECT v.patient_id, MAX(s.sledai_2k) AS worst,
                  SUM(CASE WHEN s.doris_remission THEN 1 ELSE 0 END) AS remissions
           FROM outcomes_sledaiassessment s JOIN outcomes_visit v ON v.id = s.visit_id
           WHERE v.patient_id IN {series} AND s.voided_at IS NULL AND v.voided_at IS NULL
           GROUP BY v.patient_id) sle
       ON sle.patient_id = p.id
LEFT JOIN (SELECT v.patient_id, MAX(j.cmas) AS best,
                  SUM(CASE WHEN j.printo_inactive THEN 1 ELSE 0 END) AS inactive
           FROM outcomes_jdmassessment j JOIN outcomes_visit v ON v.id = j.visit_id
           WHERE v.patient_id IN {series} AND j.voided_at IS NULL AND v.voided_at IS NULL
           GROUP BY v.patient_id) jdm
       ON jdm.patient_id = p.id
LEFT JOIN (SELECT v.patient_id, MIN(s.mrss) AS best
           FROM outcomes_sscassessment s JOIN outcomes_visit v ON v.id = s.visit_id
           WHERE v.patient_id IN {series} AND s.voided_at IS NULL AND v.voided_at IS NULL
           GROUP BY v.patient_id) ssc
       ON ssc.patient_id = p.id
LEFT JOIN (SELECT m.patient_id, COUNT(*) AS n_meds,
                  SUM(CASE WHEN m.medication_class IN ('immunomodulator', 'glucocorticoid')
                           AND m.stopped_on IS NULL THEN 1 ELSE 0 END) AS immuno
           FROM outcomes_medication m
           WHERE m.patient_id IN {series} AND m.voided_at IS NULL GROUP BY m.patient_id) med
       ON med.patient_id = p.id
LEFT JOIN (SELECT x.patient_id, MAX(x.grade) AS worst FROM adverse_events_infection x
           WHERE x.patient_id IN {series} AND x.voided_at IS NULL GROUP BY x.patient_id) infx
       ON infx.patient_id = p.id
LEFT JOIN (SELECT x.patient_id, MAX(x.grade) AS worst FROM adverse_events_adverseevent x
           WHERE x.patient_id IN {series} AND x.voided_at IS NULL GROUP BY x.patient_id) ae
       ON ae.patient_id = p.id
WHERE p.voided_at IS NULL AND p.id IN {series}
ORDER BY c.code, p.sequence
""".replace("{series}", SERIES)


def aggregate(series_id: int) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(AGGREGATE_SQL, {"series": series_id})
        return cursor.fetchall()


def run(env: Env) -> None:
    from registry.exports import selectors, tables
    from registry.exports.modes import ExportPolicy

    policy = ExportPolicy()
    for size in env.sizes:
        series = env.subset(size)
        n = series.patients.count()
        parts: dict[str, list[float]] = {"load": [], "shape": []}

        def candidate(series=series, parts=parts) -> None:
            started = time.perf_counter()
            data = selectors.series_data(series, centre_ids=None)
            loaded = time.perf_counter()
            built = tables.build_tables(data, policy)
            parts["load"].append(loaded - started)
            parts["shape"].append(time.perf_counter() - loaded)
            assert len(built["baseline"].patients) == len(data.patients)

        repeat = 1 if env.smoke else (3 if n > 2000 else 5)
        figure, baseline = alternate(candidate, lambda series=series: aggregate(series.pk), repeat)
        at_scale = n >= 10_000
        load, shape = (
            sorted(parts["load"])[len(parts["load"]) // 2],
            sorted(parts["shape"])[len(parts["shape"]) // 2],
        )
        env.report(
            Result(
                NAME,
                f"tables: 4 case-series tables, {n:,} patients",
                figure,
                baseline,
                "s",
                ratio=figure / baseline,
                budget=f"≤ {BUDGET:g}× at 10,000" if at_scale else "",
                met=(figure / baseline <= BUDGET) if at_scale else None,
                note=f"series_data {load:.2f} s + pandas {shape:.2f} s; {figure / n * 1000:.2f} ms/patient",
            )
        )
