"""The patient's course at a glance: header figures, a timeline and server-rendered plots.

Built from what the patient page's sections already loaded (dosing, toxicity, follow-up) plus one query for
the CAR T, CD19+ B-cell and neutrophil series (:func:`outcomes.selectors.lab_series`, only with day 0), so the
page keeps a constant number of queries. The SVG itself is drawn by the pure :mod:`patients.plots`.

Plots (x axis in study days):

* disease activity of the diagnosis: SLE — SLEDAI-2K and clinical SLEDAI-2K with the LLDAS limit (≤ 4);
  JDM — CMAS (0–52) and MMT8 (0–80); SSc — mRSS (0–51), and the revised EUSTAR activity index with its
  activity threshold (2.5);
* CAR T cells and CD19+ B cells (cells/µL, log scale; values of 0 on the "0" band);
* ANC (cells/µL, log scale) with the ICAHT thresholds 100, 500 and 1500 and the early window (D0–D+30),
  drawn from D−30 at most to D+100 at most (later counts are in the table);
* the worst CRS and ICANS grade of each day, D0–D+28 (ASTCT 2019);
* the daily prednisone-equivalent dose of the recorded glucocorticoids (a step: each dose holds from its
  start to its stop date), with the DORIS limit (5 mg/day) for SLE.

The longitudinal plots share an x axis from the first visit or sample (D−90 at most) to today.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from outcomes.selectors import LabPoint, lab_series
from patients import plots
from patients.models import Patient
from patients.templatetags.registry_format import study_day

PLOT_ANALYTES = ("car_t", "cd19", "anc")
LONGITUDINAL_FIRST_DAY = -90
ANC_FIRST_DAY, ANC_LAST_DAY, EARLY_ICAHT_LAST_DAY = -30, 100, 30
ICAHT_THRESHOLDS = (1500, 500, 100)  # cells/µL
LLDAS_SLEDAI_MAX = 4
EUSTAR_ACTIVE_FROM = 2.5


@dataclass
class Cell:
    text: str
    url: str = ""


@dataclass
class Plot:
    plot_id: str
    title: str
    svg: SafeString
    columns: list[str] = field(default_factory=list)
    rows: list[list[Cell]] = field(default_factory=list)
    note: str = ""


@dataclass
class TimelineEvent:
    kind: str  # apheresis | lymphodepletion | infusion | crs | icans | visit | next
    label: str
    on: dt.date | None
    day: int | None
    detail: str = ""
    url: str = ""
    flag: bool = False


@dataclass
class Glance:
    today_day: int | None
    timeline: list[TimelineEvent]
    plots: list[Plot]
    immunomodulator_free_since: dt.date | None = None
    notes: list[str] = field(default_factory=list)


def _day_on(patient: Patient, day: int | None) -> dt.date | None:
    if patient.day0 is None or day is None:
        return None
    return patient.day0 + dt.timedelta(days=day)


def _svg(markup: str) -> SafeString:
    """SVG from :mod:`patients.plots`, which escapes every text and attribute it writes."""
    return mark_safe(markup)  # noqa: S308


def _fmt(value: Any) -> str:
    return plots.number(float(value))


# --- timeline -------------------------------------------------------------------------------------------


def _score_summary(patient: Patient, row: Any) -> str:
    if row is None:
        return ""
    if patient.diagnosis == "sle":
        return _("SLEDAI-2K %(s)s, PGA %(p)s") % {"s": row.sledai_2k, "p": row.physician_global}
    if patient.diagnosis == "jdm":
        parts = [
            f"CMAS {row.cmas}" if row.cmas is not None else "",
            f"MMT8 {row.mmt8}" if row.mmt8 is not None else "",
        ]
        return ", ".join(p for p in parts if p) or _("PGA %(p)s") % {"p": row.physician_global}
    return _("mRSS %(s)s") % {"s": row.mrss}


def build_timeline(
    patient: Patient, *, dosing: Any, follow: Any, toxicity: Any, can_add: bool
) -> list[TimelineEvent]:
    """Apheresis → lymphodepletion → infusion → toxicity episodes → visits → the next visit due."""
    events: list[TimelineEvent] = []
    for apheresis in dosing.aphereses:
        events.append(TimelineEvent("apheresis", _("Apheresis"), apheresis.performed_on, apheresis.study_day))
    if dosing.lymphodepletion:
        doses = dosing.lymphodepletion
        agents: dict[str, int] = {}
        for dose in doses:
            agents[dose.get_agent_display()] = agents.get(dose.get_agent_display(), 0) + 1
        first, last = doses[0], doses[-1]
        span = study_day(first.study_day)
        if last.given_on != first.given_on:
            span = f"{span} – {study_day(last.study_day)}"
        events.append(
            TimelineEvent(
                "lymphodepletion",
                _("Lymphodepletion"),
                first.given_on,
                first.study_day,
                ", ".join(f"{name} ×{n}" for name, n in agents.items()) + f" ({span})",
            )
        )
    for infusion in dosing.infusions:
        events.append(
            TimelineEvent(
                "infusion",
                _("Re-infusion") if infusion.is_reinfusion else _("Infusion (day 0)"),
                infusion.infused_on,
                infusion.study_day,
                _("%(dose)s CAR+ T cells/kg") % {"dose": _fmt(infusion.dose_per_kg)},
            )
        )
    summary = getattr(toxicity, "summary", None)
    if summary is not None:
        for kind, label, episodes in (
            ("crs", "CRS", summary.crs_episodes),
            ("icans", "ICANS", summary.icans_episodes),
        ):
            for episode in episodes:
                if episode.resolution_day is None:
                    detail = _("grade %(g)s, from %(d)s, ongoing") % {
                        "g": episode.max_grade,
                        "d": study_day(episode.onset_day),
                    }
                else:
                    detail = _("grade %(g)s, %(a)s – %(b)s") % {
                        "g": episode.max_grade,
                        "a": study_day(episode.onset_day),
                        "b": study_day(episode.resolution_day),
                    }
                events.append(
                    TimelineEvent(
                        kind,
                        _("%(what)s episode") % {"what": label},
                        _day_on(patient, episode.onset_day),
                        episode.onset_day,
                        detail,
                        url="#toxicity",
                        flag=episode.resolution_day is None,
                    )
                )
    for visit in follow.visits:
        events.append(
            TimelineEvent(
                "visit",
                str(visit.timepoint) if visit.timepoint_id else _("Unscheduled visit"),
                visit.visit_date,
                visit.study_day,
                _score_summary(patient, visit.instrument),
                url=reverse("outcomes:visit_detail", args=[patient.pk, visit.pk]),
            )
        )
    order = {"apheresis": 0, "lymphodepletion": 1, "infusion": 2, "crs": 3, "icans": 4, "visit": 5}
    events.sort(key=lambda e: (e.on or dt.date.max, order.get(e.kind, 9)))
    due = follow.next_due
    if due is not None:
        status = due.status
        events.append(
            TimelineEvent(
                "next",
                _("Next: %(tp)s") % {"tp": status.label},
                status.window_start,
                status.window_start_day,
                _("%(status)s · window %(a)s – %(b)s")
                % {
                    "status": due.label,
                    "a": status.window_start.isoformat(),
                    "b": status.window_end.isoformat(),
                },
                url=(reverse("outcomes:visit_add", args=[patient.pk]) + f"?timepoint={status.code}")
                if can_add
                else "",
                flag=status.status == "overdue",
            )
        )
    return events


# --- plots ----------------------------------------------------------------------------------------------


def _longitudinal_domain(days: Sequence[int], today_day: int) -> tuple[int, int]:
    low = max(LONGITUDINAL_FIRST_DAY, min([*days, 0]))
    high = max([*days, today_day, 28])
    return low, high


def _table_row(on: dt.date | None, day: int | None, *cells: Cell) -> list[Cell]:
    return [Cell(on.isoformat() if on else "—"), Cell(study_day(day)), *cells]


def _history_url(app: str, model: str, pk: int, field_name: str) -> str:
    return reverse("record_history", args=[app, model, pk]) + f"?field={field_name}"


ACTIVITY: dict[str, list[tuple[str, str, str, str, float | None]]] = {
    # diagnosis → [(instrument attribute, series label, history model, field, y maximum)]
    "sle": [
        ("sledai_2k", "SLEDAI-2K", "sledaiassessment", "sledai_2k", None),
        ("clinical_sledai_2k", "clinical SLEDAI-2K", "sledaiassessment", "clinical_sledai_2k", None),
    ],
    "jdm": [
        ("cmas", "CMAS (0–52)", "jdmassessment", "cmas", 80),
        ("mmt8", "MMT8 (0–80)", "jdmassessment", "mmt8", 80),
    ],
    "ssc": [("mrss", "mRSS (0–51)", "sscassessment", "mrss", 51)],
}


def _activity_plots(patient: Patient, visits: list[Any], domain: tuple[int, int]) -> list[Plot]:
    specs = ACTIVITY.get(patient.diagnosis, [])
    scored = [
        v
        for v in visits
        if v.instrument is not None and v.instrument.voided_at is None and v.study_day is not None
    ]
    result = []
    groups = [(specs, "plot-activity")]
    if patient.diagnosis == "ssc":
        groups.append(
            (
                [("eustar_activity_index", "EUSTAR-AI", "sscassessment", "eustar_activity_index", 10)],
                "plot-eustar",
            )
        )
    for group, plot_id in groups:
        series, rows = [], []
        for attribute, label, _model, _field, _top in group:
            points, titles = [], []
            for visit in scored:
                value = getattr(visit.instrument, attribute)
                if value is None or not (domain[0] <= visit.study_day <= domain[1]):
                    continue
                points.append((visit.study_day, float(value)))
                tp = str(visit.timepoint) if visit.timepoint_id else _("unscheduled")
                when = f"{visit.visit_date.isoformat()} ({study_day(visit.study_day)})"
                titles.append(f"{tp} · {when}: {label} {_fmt(value)}")
            series.append(plots.Series(label, points, titles))
        for visit in scored:
            cells = []
            for attribute, _label, model, field_name, _top in group:
                value = getattr(visit.instrument, attribute)
                cells.append(
                    Cell(
                        "—" if value is None else _fmt(value),
                        _history_url("outcomes", model, visit.instrument.pk, field_name)
                        if value is not None
                        else "",
                    )
                )
            tp = str(visit.timepoint) if visit.timepoint_id else _("unscheduled")
            rows.append(
                _table_row(
                    visit.visit_date,
                    visit.study_day,
                    Cell(tp, reverse("outcomes:visit_detail", args=[patient.pk, visit.pk])),
                    *cells,
                )
            )
        labels = [label for _a, label, _m, _f, _t in group]
        top = group[0][4]
        thresholds: list[plots.Threshold] = []
        if patient.diagnosis == "sle":
            thresholds.append(plots.Threshold(LLDAS_SLEDAI_MAX, _("LLDAS: SLEDAI-2K ≤ 4")))
        if plot_id == "plot-eustar":
            thresholds.append(plots.Threshold(EUSTAR_ACTIVE_FROM, _("active ≥ 2.5")))
        if plot_id == "plot-eustar":
            title = _("Revised EUSTAR activity index over time")
        else:
            title = _("Disease activity over time: %(scores)s") % {"scores": ", ".join(labels)}
        count = len(series[0].points) if series else 0
        if count:
            last_visit = [v for v in scored if getattr(v.instrument, group[0][0]) is not None][-1]
            description = _("%(n)s visits with %(score)s from %(a)s to %(b)s; latest %(v)s at %(d)s.") % {
                "n": count,
                "score": labels[0],
                "a": study_day(series[0].points[0][0]),
                "b": study_day(series[0].points[-1][0]),
                "v": _fmt(getattr(last_visit.instrument, group[0][0])),
                "d": study_day(last_visit.study_day),
            }
        else:
            description = _("No visit with %(score)s recorded yet.") % {"score": labels[0]}
        svg = plots.line_plot(
            plot_id=plot_id,
            title=title,
            description=description,
            x_label=_("Study day (day 0 = infusion)"),
            y_label=_("Score"),
            series=series,
            x_domain=domain,
            y_domain=(0, top) if top else None,
            thresholds=thresholds,
            x_format=study_day,
            mark_x=[(0, _("infusion"))],
        )
        result.append(Plot(plot_id, title, _svg(svg), [_("Date"), _("Day"), _("Timepoint"), *labels], rows))
    return result


def _lab_points(points: list[LabPoint], domain: tuple[int, int], label: str, unit: str) -> plots.Series:
    shown = [p for p in points if domain[0] <= p.day <= domain[1]]
    return plots.Series(
        label,
        [(p.day, p.value) for p in shown],
        [f"{p.sampled_on.isoformat()} ({study_day(p.day)}): {label} {_fmt(p.value)} {unit}" for p in shown],
    )


def _lab_rows(points: list[LabPoint]) -> list[list[Cell]]:
    return [
        _table_row(
            p.sampled_on, p.day, Cell(_fmt(p.value), _history_url("outcomes", "labresult", p.pk, "value"))
        )
        for p in points
    ]


def _car_t_plot(labs: dict[str, list[LabPoint]], course: Any, domain: tuple[int, int]) -> Plot:
    unit = _("cells/µL")
    car_t = _lab_points(labs["car_t"], domain, _("CAR T cells"), unit)
    cd19 = _lab_points(labs["cd19"], domain, _("CD19+ B cells"), unit)
    facts = []
    if course is not None and course.car_t_peak_per_ul is not None:
        facts.append(
            _("CAR T peak %(v)s cells/µL at %(d)s.")
            % {"v": _fmt(course.car_t_peak_per_ul), "d": study_day(course.car_t_peak_day)}
        )
    if course is not None and course.b_cell_aplasia_day is not None:
        facts.append(_("B-cell aplasia from %(d)s.") % {"d": study_day(course.b_cell_aplasia_day)})
        if course.b_cell_reconstitution_day is not None:
            facts.append(
                _("B-cell reconstitution at %(d)s.") % {"d": study_day(course.b_cell_reconstitution_day)}
            )
    description = _(
        "%(n)s CAR T and %(m)s CD19+ B-cell counts on a log scale; values of 0 are on the 0 band."
    ) % {"n": len(car_t.points), "m": len(cd19.points)} + (" " + " ".join(facts) if facts else "")
    title = _("CAR T cells and CD19+ B cells (cells/µL, log scale)")
    svg = plots.line_plot(
        plot_id="plot-car-t",
        title=title,
        description=description,
        x_label=_("Study day (day 0 = infusion)"),
        y_label=_("cells/µL (log)"),
        series=[car_t, cd19],
        x_domain=domain,
        log_y=True,
        x_format=study_day,
        mark_x=[(0, _("infusion"))],
    )
    rows = [r + [Cell(_("CAR T cells"))] for r in _lab_rows(labs["car_t"])]
    rows += [r + [Cell(_("CD19+ B cells"))] for r in _lab_rows(labs["cd19"])]
    rows.sort(key=lambda r: (r[0].text, r[3].text))
    return Plot("plot-car-t", title, _svg(svg), [_("Date"), _("Day"), unit, _("Analyte")], rows)


def _anc_plot(points: list[LabPoint], summary: Any) -> Plot:
    days = [p.day for p in points]
    low = max(ANC_FIRST_DAY, min([*days, -7]))
    high = min(ANC_LAST_DAY, max([*days, EARLY_ICAHT_LAST_DAY]))
    unit = _("cells/µL")
    series = _lab_points(points, (low, high), "ANC", unit)
    hidden = len(points) - len(series.points)
    grades = ""
    if summary is not None and summary.icaht is not None:
        grades = " " + _("Early ICAHT grade %(e)s, late grade %(l)s (EHA/EBMT 2023).") % {
            "e": "—" if summary.icaht_early is None else summary.icaht_early,
            "l": "—" if summary.icaht_late is None else summary.icaht_late,
        }
    description = (
        _(
            "%(n)s neutrophil counts from %(a)s to %(b)s on a log scale, "
            "with lines at 1500, 500 and 100 cells/µL."
        )
        % {"n": len(series.points), "a": study_day(low), "b": study_day(high)}
        + grades
    )
    title = _("Absolute neutrophil count with the ICAHT thresholds (cells/µL, log scale)")
    svg = plots.line_plot(
        plot_id="plot-anc",
        title=title,
        description=description,
        x_label=_("Study day (day 0 = infusion)"),
        y_label=_("ANC, cells/µL (log)"),
        series=[series],
        x_domain=(low, high),
        log_y=True,
        thresholds=[plots.Threshold(v, f"{v}/µL") for v in ICAHT_THRESHOLDS],
        spans=[plots.Span(0, EARLY_ICAHT_LAST_DAY, _("early ICAHT window"))],
        x_format=study_day,
    )
    note = (
        ngettext(
            "%(n)s count outside %(a)s – %(b)s is listed in the table only.",
            "%(n)s counts outside %(a)s – %(b)s are listed in the table only.",
            hidden,
        )
        % {"n": hidden, "a": study_day(low), "b": study_day(high)}
        if hidden
        else ""
    )
    return Plot(
        "plot-anc",
        title,
        _svg(svg),
        [_("Date"), _("Day"), "ANC, " + unit],
        _lab_rows(points),
        note,
    )


def _toxicity_plot(toxicity: Any) -> Plot:
    crs_days, icans_days = toxicity.crs_days, toxicity.icans_days
    categories = [cell.day for cell in crs_days]

    def bars(label: str, cells: list[Any]) -> plots.BarSeries:
        return plots.BarSeries(
            label,
            [cell.grade for cell in cells],
            [
                f"{study_day(c.day)}: {label} {_('grade')} {c.grade} — {c.title}"
                if c.grade is not None
                else ""
                for c in cells
            ],
        )

    future = next((cell.day for cell in crs_days if cell.future), None)
    worst = max([c.grade or 0 for c in (*crs_days, *icans_days)] or [0])
    assessed = sum(1 for c in crs_days if c.grade is not None)
    title = _("Daily CRS and ICANS grades, days 0–28 (ASTCT 2019)")
    description = _(
        "The worst grade of each day: CRS assessed on %(n)s of 29 days, worst grade %(w)s over both; "
        "days without an assessment have no bar."
    ) % {"n": assessed, "w": worst}
    svg = plots.bar_plot(
        plot_id="plot-crs-icans",
        title=title,
        description=description,
        x_label=_("Study day"),
        y_label=_("Grade"),
        categories=categories,
        series=[bars("CRS", crs_days), bars("ICANS", icans_days)],
        y_max=max(4, worst),
        future_from=future,
        future_label=_("not reached yet"),
        x_format=study_day,
    )
    rows = [
        [
            Cell(study_day(c.day)),
            Cell("·" if c.grade is None else str(c.grade)),
            Cell("·" if i.grade is None else str(i.grade)),
        ]
        for c, i in zip(crs_days, icans_days, strict=True)
        if c.grade is not None or i.grade is not None
    ]
    return Plot("plot-crs-icans", title, _svg(svg), [_("Day"), "CRS", "ICANS"], rows)


def prednisone_steps(medications: Sequence[Any], domain: tuple[int, int]) -> list[tuple[int, float]]:
    """(day, total prednisone-equivalent mg/day from that day) at the domain start and every change in it."""
    doses = [
        (m.start_day, m.stop_day, float(m.prednisone_equivalent_mg_per_day))
        for m in medications
        if m.prednisone_equivalent_mg_per_day is not None and m.start_day is not None
    ]

    def total(day: int) -> float:
        return round(sum(d for start, stop, d in doses if start <= day and (stop is None or day <= stop)), 2)

    changes = sorted(
        {start for start, _s, _d in doses} | {stop + 1 for _s, stop, _d in doses if stop is not None}
    )
    steps = [(domain[0], total(domain[0]))]
    for day in changes:
        if domain[0] < day <= domain[1] and total(day) != steps[-1][1]:
            steps.append((day, total(day)))
    steps.append((domain[1], steps[-1][1]))
    return steps


def _prednisone_plot(medications: list[Any], domain: tuple[int, int], *, diagnosis: str) -> Plot:
    glucocorticoids = [m for m in medications if m.prednisone_equivalent_mg_per_day is not None]
    steps = prednisone_steps(glucocorticoids, domain)
    label = _("prednisone-equivalent")
    titles = [_("from %(d)s: %(v)s mg/day") % {"d": study_day(day), "v": _fmt(value)} for day, value in steps]
    title = _("Prednisone-equivalent dose (mg/day)")
    description = _(
        "Total daily prednisone-equivalent of %(n)s recorded glucocorticoid(s) from %(a)s to %(b)s; "
        "%(v)s mg/day at %(b)s."
    ) % {
        "n": len(glucocorticoids),
        "a": study_day(domain[0]),
        "b": study_day(domain[1]),
        "v": _fmt(steps[-1][1]),
    }
    svg = plots.line_plot(
        plot_id="plot-prednisone",
        title=title,
        description=description,
        x_label=_("Study day (day 0 = infusion)"),
        y_label=_("mg/day"),
        series=[plots.Series(label, steps, titles, style="step")],
        x_domain=domain,
        # DORIS remission (SLE) allows at most 5 mg/day.
        thresholds=[plots.Threshold(5, _("DORIS ≤ 5"))] if glucocorticoids and diagnosis == "sle" else [],
        x_format=study_day,
        mark_x=[(0, _("infusion"))],
    )
    rows = [
        [
            Cell(m.drug, _history_url("outcomes", "medication", m.pk, "prednisone_equivalent_mg_per_day")),
            Cell(f"{m.started_on.isoformat()} ({study_day(m.start_day)})"),
            Cell(f"{m.stopped_on.isoformat()} ({study_day(m.stop_day)})" if m.stopped_on else _("ongoing")),
            Cell(_fmt(m.prednisone_equivalent_mg_per_day)),
        ]
        for m in glucocorticoids
    ]
    return Plot(
        "plot-prednisone",
        title,
        _svg(svg),
        [_("Drug"), _("Start"), _("Stop"), _("mg/day")],
        rows,
        "" if glucocorticoids else _("No glucocorticoid recorded."),
    )


def course_glance(
    patient: Patient,
    *,
    dosing: Any,
    follow: Any,
    toxicity: Any,
    can_add: bool,
    labs: Callable[[Patient, Sequence[str]], dict[str, list[LabPoint]]] = lab_series,
) -> Glance:
    """Timeline and plots for the patient page: one query (the lab series), none without day 0."""
    glance = Glance(
        today_day=follow.today_day,
        timeline=build_timeline(patient, dosing=dosing, follow=follow, toxicity=toxicity, can_add=can_add),
        plots=[],
    )
    course = follow.course
    if course is not None and course.immunomodulator_free:
        glance.immunomodulator_free_since = _day_on(patient, course.immunomodulator_free_since_day)
    if patient.day0 is None:
        glance.notes.append(_("The plots start at day 0 (the infusion), which is not recorded yet."))
        return glance
    series = labs(patient, PLOT_ANALYTES)
    days = [v.study_day for v in follow.visits if v.study_day is not None]
    days += [p.day for code in ("car_t", "cd19") for p in series[code]]
    domain = _longitudinal_domain(days, follow.today_day)
    glance.plots = [
        *_activity_plots(patient, follow.visits, domain),
        _car_t_plot(series, course, domain),
        _anc_plot(series["anc"], getattr(toxicity, "summary", None)),
        _toxicity_plot(toxicity),
        _prednisone_plot(follow.medications, domain, diagnosis=patient.diagnosis),
    ]
    return glance
