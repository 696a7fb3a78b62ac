"""Tuned reads behind the follow-up summaries.

``centre_digest`` (daily, one centre; the weekly/monthly ``registry_summary`` is in
:mod:`registry.summaries.figures`) runs a fixed number of queries whatever the number of patients per centre:
it reuses the many-patient selectors of the apps (:func:`outcomes.selectors.schedule_statuses`,
:func:`outcomes.selectors.course_summaries`, :func:`adverse_events.selectors.safety_summaries`) and adds a few
aggregate queries of its own (pinned in ``tests/registry/test_summaries.py``). It returns a plain dict
ready for JSON (dates as ISO strings): the stored ``FollowUpSummary.content``.

Definitions the issue leaves open (documented choices):

* **Who is followed**: due/overdue visits, incomplete visits, silent patients, open episodes, late cytopenias
  and B-cell reconstitutions concern *active* patients (not voided; completed, lost, withdrawn and deceased
  children have no visits due). New grade ≥ 3 events are listed for every patient of the centre — a fatal
  event must reach the coordinator even though the child is no longer active.
* **Due / overdue** are the statuses of :mod:`outcomes.schedule` on the digest date: *due* = the window opens
  within 14 days or is open now; *overdue* = the window closed less than max(window width, 14 days) ago.
* **Incomplete visits**: visits of the last ``REGISTRY_DIGEST_INCOMPLETE_VISIT_DAYS`` (default 90) days
  missing an instrument, laboratory group or toxicity assessment that their timepoint expects for the
  patient's diagnosis (rules in :mod:`registry.summaries.completeness`).
* **New** events are those *created* in the digest's window: from the end of the previous digest's window (the
  moment it was generated) to now, or to the end of the digest date for a past date. The first digest of a
  centre looks back ``FIRST_DIGEST_LOOKBACK_DAYS`` days. B-cell reconstitutions (from the derived course) are
  new when the previous digest did not list the patient as reconstituted (first digest: sample in its window).
* **Late cytopenias**: late ICAHT ≥ 1 (EHA/EBMT 2023) for patients within ``LATE_CYTOPENIA_UNTIL_DAY`` of
  day 0 (afterwards the grade is history, not a to-do).
* **Silent patients**: active infused patients whose last data of any kind (visit, laboratory value, CRS or
  ICANS assessment; day 0 itself at the least) is older than the schedule allows: the first follow-up
  timepoint whose window opens after the last data has closed its window before the digest date.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django.conf import settings
from django.db.models import Max
from django.urls import NoReverseMatch, reverse

from adverse_events.models import AdverseEvent, CrsAssessment, IcansAssessment, Infection
from adverse_events.selectors import safety_summaries
from outcomes.models import LabResult, ScheduleTimepoint, Visit
from outcomes.selectors import course_summaries, follow_up_timepoints, schedule_statuses
from patients.models import Patient, PatientStatus
from registry.models import Centre, FollowUpSummary, Membership, Role, SummaryKind
from registry.summaries.completeness import (
    CollectedData,
    earliest_lab_date,
    item_label,
    visit_items,
    visits_with_items,
)

CONTENT_VERSION = 1
FIRST_DIGEST_LOOKBACK_DAYS = 7
LATE_CYTOPENIA_UNTIL_DAY = 365
SEVERE_GRADE = 3


def incomplete_visit_days() -> int:
    return int(getattr(settings, "REGISTRY_DIGEST_INCOMPLETE_VISIT_DAYS", 90))


def patient_url(patient_id: int) -> str:
    """The patient page (``patients:detail``), or the plain path while the patient pages are not installed."""
    try:
        return reverse("patients:detail", args=[patient_id])
    except NoReverseMatch:
        return f"/patients/{patient_id}/"


def iso(value: dt.date | dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _line(patient: Patient, **fields: Any) -> dict[str, Any]:
    return {"patient_id": patient.pk, "code": patient.code, "url": patient_url(patient.pk), **fields}


# --- the daily centre digest -----------------------------------------------------------------------------


def previous_summary(*, centre: Centre | None, kind: str, before: dt.date) -> FollowUpSummary | None:
    """The latest summary of the same scope and kind for an earlier period (one query)."""
    return (
        FollowUpSummary.objects.filter(centre=centre, kind=kind, period_start__lt=before)
        .order_by("-period_start")
        .only("pk", "period_start", "period_end", "generated_at", "content")
        .first()
    )


def digest_window(
    centre: Centre, on: dt.date, *, now: dt.datetime, previous: FollowUpSummary | None
) -> tuple[dt.datetime, dt.datetime]:
    """The creation-time window of the "new" items of the digest of ``on`` (see the module docstring)."""
    tz = zoneinfo.ZoneInfo(centre.time_zone)
    end = min(now, dt.datetime.combine(on + dt.timedelta(days=1), dt.time(0), tzinfo=tz))
    start = None
    if previous is not None:
        stored = (previous.content or {}).get("window", {}).get("end")
        start = dt.datetime.fromisoformat(stored) if stored else previous.generated_at
    if start is None:
        start = dt.datetime.combine(on - dt.timedelta(days=FIRST_DIGEST_LOOKBACK_DAYS), dt.time(0), tzinfo=tz)
    return min(start, end), end


def local_date(moment: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.date:
    return moment.astimezone(tz).date()


def _schedule_sections(
    patients: list[Patient], on: dt.date, timepoints: list[ScheduleTimepoint]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    due: list[dict[str, Any]] = []
    overdue: list[dict[str, Any]] = []
    statuses = schedule_statuses(patients, on, timepoints)
    for p in patients:
        for s in statuses.get(p.pk, []):
            if s.status not in ("due", "in_window", "overdue"):
                continue
            line = _line(
                p,
                timepoint=s.code,
                label=s.label,
                status=s.status,
                window_start=iso(s.window_start),
                window_end=iso(s.window_end),
            )
            if s.status == "overdue":
                line["days_overdue"] = (on - s.window_end).days
                overdue.append(line)
            else:
                line["days_to_open"] = (s.window_start - on).days
                line["days_to_close"] = (s.window_end - on).days
                due.append(line)
    due.sort(key=lambda x: (x["window_start"], x["code"]))
    overdue.sort(key=lambda x: (x["window_end"], x["code"]))
    return due, overdue


def _incomplete_visits(
    centre: Centre, active: dict[int, Patient], on: dt.date
) -> tuple[list[dict[str, Any]], CollectedData]:
    """Recent visits missing expected items. Queries: visits with instruments, labs, CRS, ICANS — 4."""
    tz = zoneinfo.ZoneInfo(centre.time_zone)
    since = on - dt.timedelta(days=incomplete_visit_days())
    visits = [
        v
        for v in visits_with_items(
            Visit.objects.filter(
                patient__centre=centre,
                patient__status=PatientStatus.ACTIVE,
                patient__voided_at__isnull=True,
                voided_at__isnull=True,
                timepoint__isnull=False,
                visit_date__gte=since,
                visit_date__lte=on,
            ).order_by("visit_date", "pk")
        )
        if v.patient_id in active
    ]
    earliest = min(earliest_lab_date(visits, active), since)
    data = CollectedData()
    for pid, analyte, sampled_on in LabResult.objects.filter(
        patient__centre=centre, voided_at__isnull=True, sampled_on__gte=earliest
    ).values_list("patient_id", "analyte", "sampled_on"):
        data.add_lab(pid, analyte, sampled_on)
    since_moment = dt.datetime.combine(earliest, dt.time(0), tzinfo=tz)
    for model, kind in ((CrsAssessment, "crs"), (IcansAssessment, "icans")):
        for pid, moment in model.objects.filter(
            patient__centre=centre, voided_at__isnull=True, assessed_at__gte=since_moment
        ).values_list("patient_id", "assessed_at"):
            data.add_assessment(pid, kind, local_date(moment, tz))
    data.sort()
    lines = []
    for visit in visits:
        p = active[visit.patient_id]
        expected, missing = visit_items(visit, p, data)
        if missing:
            lines.append(
                _line(
                    p,
                    visit_id=visit.pk,
                    timepoint=visit.timepoint.code,
                    label=visit.timepoint.label,
                    visit_date=iso(visit.visit_date),
                    expected=expected,
                    missing=missing,
                    missing_labels=[item_label(m) for m in missing],
                )
            )
    return lines, data


def _last_data_dates(centre: Centre, courses: dict[int, Any]) -> dict[int, dt.date]:
    """Per patient, the date of the latest data of any kind. Queries: labs, CRS, ICANS maxima — 3."""
    tz = zoneinfo.ZoneInfo(centre.time_zone)
    last: dict[int, dt.date] = {}

    def bump(pid: int, on: dt.date | None) -> None:
        if on is not None and (pid not in last or on > last[pid]):
            last[pid] = on

    for pid, course in courses.items():
        bump(pid, course.last_visit_date)
    for row in (
        LabResult.objects.filter(patient__centre=centre, voided_at__isnull=True)
        .values("patient_id")
        .annotate(last=Max("sampled_on"))
        .order_by()
    ):
        bump(row["patient_id"], row["last"])
    for model in (CrsAssessment, IcansAssessment):
        for row in (
            model.objects.filter(patient__centre=centre, voided_at__isnull=True)
            .values("patient_id")
            .annotate(last=Max("assessed_at"))
            .order_by()
        ):
            bump(row["patient_id"], local_date(row["last"], tz))
    return last


def _silent_patients(
    infused: list[Patient], on: dt.date, timepoints: list[ScheduleTimepoint], last: dict[int, dt.date]
) -> list[dict[str, Any]]:
    lines = []
    ordered = sorted(timepoints, key=lambda tp: tp.window())
    for p in infused:
        last_on = max(p.day0, last.get(p.pk, p.day0))
        last_day = (last_on - p.day0).days
        today_day = (on - p.day0).days
        nxt = next((tp for tp in ordered if tp.window()[0] > last_day), None)
        if nxt is None:
            continue
        window_end = nxt.window()[1]
        if today_day > window_end:
            lines.append(
                _line(
                    p,
                    last_data=iso(last_on),
                    days_without_data=(on - last_on).days,
                    timepoint=nxt.code,
                    label=nxt.label,
                    window_end=iso(p.day0 + dt.timedelta(days=window_end)),
                )
            )
    lines.sort(key=lambda x: (-x["days_without_data"], x["code"]))
    return lines


def _new_severe_events(
    centre: Centre, start: dt.datetime, end: dt.datetime, patients: dict[int, Patient]
) -> list[dict[str, Any]]:
    """Grade ≥ 3 assessments, infections and adverse events created in the window. Queries: 4."""
    tz = zoneinfo.ZoneInfo(centre.time_zone)
    window = {
        "patient__centre": centre,
        "patient__voided_at__isnull": True,
        "voided_at__isnull": True,
        "grade__gte": SEVERE_GRADE,
        "created_at__gte": start,
        "created_at__lt": end,
    }
    lines = []
    for model, kind in ((CrsAssessment, "CRS"), (IcansAssessment, "ICANS")):
        for pid, moment, grade in model.objects.filter(**window).values_list(
            "patient_id", "assessed_at", "grade"
        ):
            on = local_date(moment, tz)
            lines.append(_line(patients[pid], kind=kind, description=kind, grade=grade, on=iso(on)))
    for pid, site, organism, grade, onset in Infection.objects.filter(**window).values_list(
        "patient_id", "site", "organism", "grade", "onset_on"
    ):
        what = ", ".join(x for x in (site, organism) if x)
        lines.append(_line(patients[pid], kind="infection", description=what, grade=grade, on=iso(onset)))
    for pid, term, grade, serious, started in AdverseEvent.objects.filter(**window).values_list(
        "patient_id", "term", "grade", "serious", "started_on"
    ):
        lines.append(
            _line(
                patients[pid],
                kind="adverse_event",
                description=term,
                grade=grade,
                serious=serious,
                on=iso(started),
            )
        )
    lines.sort(key=lambda x: (x["on"], x["code"], x["kind"]))
    return lines


def centre_digest(
    centre: Centre, on: dt.date, *, now: dt.datetime, previous: FollowUpSummary | None
) -> dict[str, Any]:
    """The daily digest of ``centre`` for its local date ``on``.

    Queries (constant in the number of patients): patients; follow-up timepoints; schedule (visits);
    incomplete visits (visits with instruments, labs, CRS, ICANS); safety summaries (6); course summaries (3);
    last data (labs, CRS, ICANS maxima); new grade ≥ 3 events (CRS, ICANS, infections, AEs).
    """
    tz = zoneinfo.ZoneInfo(centre.time_zone)
    window_start, window_end = digest_window(centre, on, now=now, previous=previous)
    everyone = {
        p.pk: p
        for p in Patient.objects.filter(centre=centre, voided_at__isnull=True)
        .select_related("centre")
        .order_by("sequence")
    }
    active = {pk: p for pk, p in everyone.items() if p.status == PatientStatus.ACTIVE}
    infused = [p for p in active.values() if p.day0 is not None and p.day0 <= on]
    timepoints = follow_up_timepoints()

    due, overdue = _schedule_sections(infused, on, timepoints)
    incomplete, _data = _incomplete_visits(centre, active, on)

    safety = safety_summaries(infused)
    open_episodes = []
    late_cytopenias = []
    for p in infused:
        s = safety.get(p.pk)
        if s is None:
            continue
        for kind, episodes in (("CRS", s.crs_episodes), ("ICANS", s.icans_episodes)):
            for e in episodes:
                if e.resolution_day is None:
                    open_episodes.append(
                        _line(
                            p,
                            kind=kind,
                            onset_day=e.onset_day,
                            onset=iso(p.day0 + dt.timedelta(days=e.onset_day)),
                            max_grade=e.max_grade,
                            assessments=e.assessments,
                        )
                    )
        today_day = (on - p.day0).days
        if s.icaht_late is not None and s.icaht_late >= 1 and today_day <= LATE_CYTOPENIA_UNTIL_DAY:
            late_cytopenias.append(
                _line(
                    p,
                    grade=s.icaht_late,
                    nadir_anc=s.icaht.get("late_nadir_anc") if s.icaht else None,
                    recovery_day=s.neutrophil_recovery_day,
                )
            )

    courses = course_summaries(infused, today=on)
    reconstituted = sorted(pid for pid, c in courses.items() if c.b_cell_reconstitution_day is not None)
    previous_state = ((previous.content or {}).get("state") or {}) if previous is not None else {}
    previously = previous_state.get("b_cell_reconstituted")
    new_reconstitutions = []
    for pid in reconstituted:
        p = active[pid]
        day = courses[pid].b_cell_reconstitution_day
        on_date = p.day0 + dt.timedelta(days=day)
        is_new = pid not in previously if previously is not None else on_date >= window_start.date()
        if is_new:
            new_reconstitutions.append(
                _line(
                    p,
                    day=day,
                    on=iso(on_date),
                    aplasia_days=None
                    if courses[pid].b_cell_aplasia_day is None
                    else day - courses[pid].b_cell_aplasia_day,
                )
            )

    silent = _silent_patients(infused, on, timepoints, _last_data_dates(centre, courses))
    severe = _new_severe_events(centre, window_start, window_end, everyone)

    sections = {
        "overdue": overdue,
        "due": due,
        "incomplete_visits": incomplete,
        "open_episodes": open_episodes,
        "new_severe_events": severe,
        "late_cytopenias": late_cytopenias,
        "new_b_cell_reconstitutions": new_reconstitutions,
        "silent_patients": silent,
    }
    return {
        "version": CONTENT_VERSION,
        "kind": SummaryKind.DAILY.value,
        "centre": {"id": centre.pk, "code": centre.code, "name": centre.name, "time_zone": centre.time_zone},
        "date": iso(on),
        "window": {
            "start": iso(window_start),
            "end": iso(window_end),
            "start_local": f"{window_start.astimezone(tz):%Y-%m-%d %H:%M}",
            "end_local": f"{window_end.astimezone(tz):%Y-%m-%d %H:%M %Z}",
        },
        "patients": {"active": len(active), "infused": len(infused)},
        "sections": sections,
        "counts": {name: len(lines) for name, lines in sections.items()},
        "state": {"b_cell_reconstituted": reconstituted},
        "settings": {
            "incomplete_visit_days": incomplete_visit_days(),
            "late_cytopenia_until_day": LATE_CYTOPENIA_UNTIL_DAY,
        },
    }


# --- recipients and lists ----------------------------------------------------------------------------------


def summary_recipients(centre: Centre | None) -> list[str]:
    """E-mail addresses of the coordinators of ``centre`` (registry-wide coordinators for ``None``)."""
    rows = (
        Membership.objects.filter(centre=centre, role=Role.COORDINATOR, user__is_active=True)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
        .order_by("user__email")
    )
    return list(dict.fromkeys(rows))
