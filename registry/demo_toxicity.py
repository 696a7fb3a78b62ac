"""Demo toxicity course of the illustrative series (issue 4, item 9): raw observations, never grades.

**Every per-patient value in this module is invented.** The seed publication (``reference/SEED.md``) gives
only the safety aggregates of the eight children: grade 1 cytokine release syndrome in 6, grade 1 ICANS in 1,
late haematotoxicity limited to grade 1 in 2, no severe infection. The one published detail used is the boy of
Nicolai et al. (Arthritis Rheumatol 2024, demo number ``DEMO-ERL-01``): fever as part of mild CRS, CAR T peak
32.69 cells/µL on day 7, peripheral B cells undetectable from day 5.

What is entered, for each demo child (the 8 of the series and the 2 recent Rome children), through the
services of ``adverse_events`` and ``outcomes`` (validated, audited, attributed to the registry system user):

- CRS: one assessment a day on days 0–14 of the infusion admission (maximum temperature of the day, taken at
  18:00 in the centre's time zone), plus extra time-stamped assessments on some febrile days. Febrile children
  are normotensive on room air; some got paracetamol for the fever. After an antipyretic the ASTCT rule no
  longer requires fever, so the first afebrile assessment without hypotension or hypoxia grades 0 and ends the
  episode. The ASTCT 2019 grade is computed by the service.
- ICANS: one assessment a day on days 0–14 (10:00). The service picks the tool from the age at the
  assessment (ICE from 12 years, CAPD below); the loader only enters the items of that tool.
- Laboratory results in the shared table (``lab_results_record_many``, one batch per child): full blood count
  (ANC, WBC, ALC, platelets, haemoglobin, with age-specific reference limits) daily on days −5…14, then days
  21, 28, 35, 45, 61 and 91, then monthly, and on the last day of follow-up; CD19+ B cells and CAR T cells
  (flow cytometry) on days −5 (B cells only), 0–7, 10, 14, 21 and 28. Early and late ICAHT and the laboratory
  CTCAE grades are computed from these.
- A few non-severe infections (grade 1–2, treated orally or not at all, never in hospital) and one G-CSF
  course.

Dates are study days relative to each child's recorded day 0; every date is before ``today`` (so nothing is
in the future whatever the time of day). Deterministic: no randomness. Idempotent: a child that already has a
CRS assessment (voided or not) is skipped as a whole.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from adverse_events import grading
from adverse_events import services as toxicity
from adverse_events.models import CrsAssessment, SupportiveCareKind
from outcomes.models import LabSource
from outcomes.services import LabInput, lab_results_record_many
from patients.models import Patient, PatientIdentity
from registry.audit import acting_as
from registry.demo_series import DAYS_PER_MONTH, SERIES_FOLLOW_UP_MONTHS
from registry.system import get_system_user

# --- schedule -----------------------------------------------------------------------------------------------

ASSESSMENT_DAYS = range(0, 15)  # days 0–14: the infusion admission window
CRS_DAILY_TIME = dt.time(18, 0)  # the day's maximum temperature, charted in the evening round
ICANS_TIME = dt.time(10, 0)
LAB_TIME = dt.time(7, 30)
DAILY_LAB_DAYS = range(-5, 15)
POST_DISCHARGE_LAB_DAYS = (21, 28, 35, 45, 61, 91)
FIRST_MONTHLY_LAB_MONTH = 4  # months 2 and 3 are days 61 and 91 above
CELL_LAB_DAYS = (0, 1, 2, 3, 4, 5, 6, 7, 10, 14, 21, 28)  # CD19+ B cells and CAR T cells, flow cytometry
CD19_BASELINE_DAY = -5

# fmt: off
ICE_NORMAL = {"orientation": 4, "naming": 3, "following_commands": 1, "writing": 1, "attention": 1}
#: CAPD 0: items 1–4 (reverse-scored) "always", items 5–8 "never".
CAPD_NORMAL = {
    1: "always", 2: "always", 3: "always", 4: "always", 5: "never", 6: "never", 7: "never", 8: "never"
}

LAB_UNITS = {
    "anc": "cells/µL", "alc": "cells/µL", "wbc": "cells/µL", "platelets": "10^9/L", "haemoglobin": "g/L"
}
KINDS = ("crs_assessments", "icans_assessments", "lab_results", "infections", "supportive_care")

#: Afebrile temperatures of the days without fever (°C), cycled by study day.
AFEBRILE_TEMPERATURES = ("36.8", "37.1", "36.6", "37.3", "36.9", "37.0", "36.7")

#: CAR T cells relative to the child's peak, by study day, for a peak on day 7 or on day 10.
CAR_T_SHAPE = {
    7: {
        0: 0, 1: 0.004, 2: 0.015, 3: 0.06, 4: 0.17, 5: 0.43, 6: 0.8, 7: 1, 10: 0.56, 14: 0.24, 21: 0.08,
        28: 0.035,
    },
    10: {
        0: 0, 1: 0.002, 2: 0.008, 3: 0.03, 4: 0.08, 5: 0.18, 6: 0.35, 7: 0.62, 10: 1, 14: 0.5, 21: 0.15,
        28: 0.06,
    },
}
#: CD19+ B cells relative to the pre-lymphodepletion value until they become undetectable (0).
CD19_SHAPE = {-5: 1, 0: 0.85, 1: 0.55, 2: 0.3, 3: 0.12, 4: 0.03, 5: 0.01}
#: Month-to-month variation of the follow-up counts around the child's plateau, cycled by month.
PLATEAU_CYCLE = (1.0, 1.07, 0.95, 1.04, 0.97, 1.1, 0.93, 1.02)
# fmt: on


# --- the table ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fever:
    """An extra CRS assessment (or the day's maximum when ``time`` is 18:00): temperature and paracetamol."""

    day: int
    temperature: str
    antipyretic: bool = False
    time: dt.time = CRS_DAILY_TIME


@dataclass(frozen=True)
class DemoInfection:
    day: int
    resolved_day: int
    site: str
    organism_type: str
    organism: str
    treatment_route: str  # "none" or "oral": never IV, never in hospital (grade 1–2)


@dataclass(frozen=True)
class Course:
    """One child's post-infusion course. Counts in cells/µL, platelets 10⁹/L, haemoglobin g/L."""

    fevers: tuple[Fever, ...] = ()
    capd_findings: dict[int, dict[int, str]] = field(default_factory=dict)  # day → CAPD answers
    anc: tuple[tuple[int, int], ...] = ()  # (study day, ANC) points days −5…28; days between interpolated
    anc_late: dict[int, int] = field(default_factory=dict)  # days 35, 45, 61, 91
    anc_plateau: int = 3000  # months 4 onwards
    alc_baseline: int = 1800
    platelets: tuple[int, int] = (250, 150)  # baseline, nadir (day 8)
    haemoglobin: tuple[int, int] = (120, 105)  # baseline, nadir (day 10)
    cd19_baseline: int = 200  # day −5
    cd19_undetectable_from: int = 5
    car_t_peak: tuple[int, str] = (7, "30.00")  # study day (7 or 10), cells/µL
    infections: tuple[DemoInfection, ...] = ()
    gcsf: tuple[int, int] | None = None  # first and last study day, one dose a day


URTI = "upper respiratory tract"

# fmt: off

COURSES: dict[str, Course] = {
    "DEMO-ROM-01": Course(
        fevers=(Fever(2, "38.4"), Fever(3, "38.9", antipyretic=True)),
        anc=(
            (-5, 3400), (-3, 3000), (-1, 2300), (0, 1900), (1, 1400), (2, 820), (3, 480), (4, 330),
            (5, 290), (6, 360), (7, 470), (8, 640), (10, 1050), (12, 1380), (14, 1620), (21, 1880),
            (28, 1720),
        ),
        # Late haematotoxicity grade 1: two values of 1000–1500 cells/µL in days 31–100.
        anc_late={35: 1590, 45: 1260, 61: 1410, 91: 1690},
        anc_plateau=2400,
        alc_baseline=1300,
        platelets=(180, 96),
        haemoglobin=(112, 98),
        cd19_baseline=95,
        cd19_undetectable_from=4,
        car_t_peak=(10, "41.80"),
    ),
    "DEMO-ROM-02": Course(
        fevers=(Fever(1, "38.2"),),
        anc=(
            (-5, 4100), (-1, 3000), (0, 2600), (2, 1400), (3, 820), (4, 520), (5, 430), (6, 410),
            (7, 480), (8, 690), (10, 1250), (14, 2100), (21, 2600), (28, 2900),
        ),
        anc_late={35: 3000, 45: 3100, 61: 3300, 91: 3500},
        anc_plateau=3600,
        alc_baseline=1500,
        platelets=(265, 160),
        haemoglobin=(121, 106),
        cd19_baseline=160,
        car_t_peak=(7, "27.35"),
        infections=(DemoInfection(48, 54, URTI, "viral", "rhinovirus", "none"),),
    ),
    "DEMO-ROM-03": Course(  # no CRS
        anc=(
            (-5, 5200), (-1, 4100), (0, 3500), (2, 1900), (4, 980), (5, 720), (6, 620), (7, 680),
            (8, 900), (10, 1600), (14, 2800), (21, 3400), (28, 3900),
        ),
        anc_late={35: 4100, 45: 4200, 61: 4000, 91: 4500},
        anc_plateau=4300,
        alc_baseline=1700,
        platelets=(240, 150),
        haemoglobin=(124, 110),
        cd19_baseline=240,
        cd19_undetectable_from=6,
        car_t_peak=(10, "18.60"),
    ),
    "DEMO-ROM-04": Course(
        fevers=(
            Fever(3, "38.6", antipyretic=True),
            Fever(4, "39.1", antipyretic=True),
            Fever(5, "38.3"),
        ),
        # Early ICAHT grade 2 (ANC ≤ 500 on days 3–10), G-CSF days 8–10.
        anc=(
            (-5, 2900), (-1, 2100), (0, 1700), (1, 1200), (2, 700), (3, 460), (4, 280), (5, 190),
            (6, 150), (7, 170), (8, 240), (9, 380), (10, 490), (11, 830), (12, 1400), (14, 1900),
            (21, 1750), (28, 1640),
        ),
        # Late haematotoxicity grade 1.
        anc_late={35: 1610, 45: 1180, 61: 1320, 91: 1580},
        anc_plateau=2100,
        alc_baseline=2600,
        platelets=(330, 142),
        haemoglobin=(116, 101),
        cd19_baseline=420,
        car_t_peak=(7, "63.20"),
        gcsf=(8, 10),
    ),
    "DEMO-ROM-05": Course(
        fevers=(Fever(5, "38.1"),),
        anc=(
            (-5, 3600), (-1, 2700), (0, 2200), (2, 1100), (3, 620), (4, 450), (5, 340), (6, 380),
            (7, 470), (8, 720), (10, 1300), (14, 2000), (21, 2400), (28, 2600),
        ),
        anc_late={35: 2650, 45: 2700, 61: 2900, 91: 3000},
        anc_plateau=3100,
        alc_baseline=1900,
        platelets=(290, 170),
        haemoglobin=(122, 108),
        cd19_baseline=130,
        car_t_peak=(10, "22.40"),
        infections=(DemoInfection(133, 141, "middle ear (acute otitis media)", "bacterial", "", "oral"),),
    ),
    "DEMO-ERL-01": Course(
        # Fever as part of mild CRS (published): febrile in the night of day 1 (paracetamol) and the morning
        # of day 2; afebrile by the evening of day 2, which ends the episode.
        fevers=(
            Fever(1, "37.6"),
            Fever(1, "38.7", antipyretic=True, time=dt.time(22, 0)),
            Fever(2, "38.4", time=dt.time(8, 0)),
            Fever(2, "37.4"),
        ),
        anc=(
            (-5, 4400), (-1, 3300), (0, 2800), (2, 1500), (4, 640), (5, 470), (6, 430), (7, 590),
            (8, 880), (10, 1500), (14, 2400), (21, 3000), (28, 3300),
        ),
        anc_late={35: 3400, 45: 3500, 61: 3600, 91: 3800},
        anc_plateau=3900,
        alc_baseline=2100,
        platelets=(275, 158),
        haemoglobin=(131, 114),
        cd19_baseline=210,
        cd19_undetectable_from=5,  # published: undetectable from day 5
        car_t_peak=(7, "32.69"),  # published: 32.69 cells/µL on day 7
        infections=(DemoInfection(96, 103, URTI, "viral", "respiratory syncytial virus", "none"),),
    ),
    "DEMO-ERL-02": Course(  # no CRS
        anc=(
            (-5, 4800), (-1, 3900), (0, 3300), (2, 2000), (4, 1100), (5, 860), (6, 740), (7, 790),
            (8, 1000), (10, 1700), (14, 2900), (21, 3600), (28, 4000),
        ),
        anc_late={35: 4000, 45: 4100, 61: 4300, 91: 4400},
        anc_plateau=4500,
        alc_baseline=1600,
        platelets=(250, 165),
        haemoglobin=(125, 111),
        cd19_baseline=180,
        car_t_peak=(10, "15.90"),
        infections=(
            DemoInfection(212, 219, "urinary tract (cystitis)", "bacterial", "Escherichia coli", "oral"),
        ),
    ),
    "DEMO-ERL-03": Course(
        fevers=(Fever(5, "38.5", antipyretic=True), Fever(6, "38.8", antipyretic=True)),
        # ICANS grade 1 (a 9-year-old: CAPD) on days 7–8, after the fever.
        capd_findings={
            7: {
                1: "often", 2: "sometimes", 3: "often", 4: "often",
                5: "rarely", 6: "never", 7: "never", 8: "never",
            },  # CAPD 6
            8: {
                1: "often", 2: "always", 3: "always", 4: "often",
                5: "rarely", 6: "never", 7: "never", 8: "never",
            },  # CAPD 3
        },
        anc=(
            (-5, 3100), (-1, 2400), (0, 1900), (2, 980), (3, 560), (4, 410), (5, 300), (6, 240),
            (7, 280), (8, 370), (9, 480), (10, 640), (12, 1100), (14, 1500), (21, 2100), (28, 2300),
        ),
        anc_late={35: 2400, 45: 2500, 61: 2600, 91: 2800},
        anc_plateau=2900,
        alc_baseline=2300,
        platelets=(310, 178),
        haemoglobin=(119, 104),
        cd19_baseline=350,
        car_t_peak=(7, "54.10"),
        infections=(
            DemoInfection(58, 61, "gastrointestinal (gastroenteritis)", "viral", "norovirus", "none"),
        ),
    ),
    # ---- the two recent Rome children (outside the series) ----
    "DEMO-ROM-06": Course(  # no CRS
        anc=(
            (-5, 3300), (-1, 2500), (0, 2100), (2, 1000), (3, 640), (4, 480), (5, 390), (6, 450),
            (7, 600), (8, 850), (10, 1400), (14, 2000), (21, 2300), (28, 2500),
        ),
        anc_late={35: 2550, 45: 2600, 61: 2750},
        alc_baseline=1200,
        platelets=(150, 88),
        haemoglobin=(108, 95),
        cd19_baseline=70,
        cd19_undetectable_from=4,
        car_t_peak=(10, "24.70"),
        infections=(DemoInfection(33, 39, URTI, "viral", "SARS-CoV-2", "none"),),
    ),
    "DEMO-ROM-07": Course(
        fevers=(Fever(2, "38.3", antipyretic=True),),
        anc=(
            (-5, 3000), (-1, 2200), (0, 1800), (2, 900), (3, 520), (4, 420), (5, 310), (6, 280),
            (7, 350), (8, 460), (9, 650), (10, 900), (14, 1700), (21, 2100), (28, 2300),
        ),
        anc_late={35: 2400},
        alc_baseline=2200,
        platelets=(300, 170),
        haemoglobin=(120, 105),
        cd19_baseline=280,
        car_t_peak=(7, "47.50"),
    ),
}

# fmt: on


# --- building the observations ------------------------------------------------------------------------------


def _interpolate(points: tuple[tuple[int, float], ...], day: int) -> float:
    """Piecewise-linear value at ``day`` through the (day, value) points; flat outside them."""
    if day <= points[0][0]:
        return points[0][1]
    for (d0, v0), (d1, v1) in zip(points, points[1:], strict=False):
        if d0 <= day <= d1:
            return v0 + (v1 - v0) * (day - d0) / (d1 - d0)
    return points[-1][1]


def _month_day(months: int) -> int:
    """Study day of a follow-up month (months of 30.4375 days, half up, as the series anchors day 0)."""
    return int(Decimal(str(months * DAYS_PER_MONTH)).to_integral_value(ROUND_HALF_UP))


def _round(value: float, step: int = 10) -> int:
    return int(Decimal(str(value / step)).to_integral_value(ROUND_HALF_UP)) * step


def _anc(course: Course, day: int, month: int | None) -> int:
    if day in course.anc_late:
        return course.anc_late[day]
    if month is not None:
        return _round(course.anc_plateau * PLATEAU_CYCLE[month % len(PLATEAU_CYCLE)])
    return _round(_interpolate(course.anc, day))


def _alc(course: Course, day: int, month: int | None) -> int:
    a0 = course.alc_baseline
    if month is not None:
        return _round(0.8 * a0 * PLATEAU_CYCLE[(month + 3) % len(PLATEAU_CYCLE)])
    # fmt: off
    points = (
        (-5, a0), (-3, 0.45 * a0), (-1, 0.15 * a0), (0, 0.12 * a0), (3, 0.08 * a0), (7, 0.25 * a0),
        (10, 0.3 * a0), (14, 0.35 * a0), (21, 0.45 * a0), (28, 0.55 * a0), (91, 0.7 * a0),
    )
    # fmt: on
    return _round(_interpolate(points, day))


def _platelets(course: Course, day: int, month: int | None) -> int:
    p0, pn = course.platelets
    if month is not None:
        return _round(p0 * PLATEAU_CYCLE[(month + 1) % len(PLATEAU_CYCLE)], 1)
    # fmt: off
    points = (
        (-5, p0), (0, 0.92 * p0), (4, (p0 + pn) / 2), (8, pn), (11, 1.1 * pn), (14, (p0 + pn) / 2),
        (21, 0.95 * p0), (28, p0),
    )
    # fmt: on
    return _round(_interpolate(points, day), 1)


def _haemoglobin(course: Course, day: int, month: int | None) -> int:
    h0, hn = course.haemoglobin
    if month is not None:
        return _round((h0 + 4) * (1 + (PLATEAU_CYCLE[(month + 5) % len(PLATEAU_CYCLE)] - 1) / 4), 1)
    points = ((-5, h0), (0, h0 - 4), (10, hn), (14, hn + 2), (21, (h0 + hn) / 2), (28, h0 - 2), (91, h0))
    return _round(_interpolate(points, day), 1)


def reference_limits(analyte: str, *, age_years: float, sex: str) -> tuple[str, str]:
    """Illustrative age-specific (LLN, ULN) of the demo laboratories, in the canonical unit."""
    band = 0 if age_years < 6 else 1 if age_years < 12 else 2
    if analyte == "anc":
        return "1500", ("8500", "8000", "7500")[band]
    if analyte == "wbc":
        return ("5000", "4500", "4000")[band], ("15500", "13500", "11000")[band]
    if analyte == "alc":
        return ("2000", "1500", "1000")[band], ("8000", "6500", "4800")[band]
    if analyte == "platelets":
        return "150", "450"
    if analyte == "haemoglobin":
        if band == 2:
            return ("130", "170") if sex == "male" else ("120", "160")
        return ("110", "140") if band == 0 else ("115", "155")
    raise ValueError(f"analyte: no demo reference range for {analyte!r}")


def _lab_days(follow_up_end: int) -> list[tuple[int, int | None]]:
    """(study day, follow-up month or None) of the full blood counts up to ``follow_up_end``."""
    days: list[tuple[int, int | None]] = [(d, None) for d in (*DAILY_LAB_DAYS, *POST_DISCHARGE_LAB_DAYS)]
    month = FIRST_MONTHLY_LAB_MONTH
    while (day := _month_day(month)) <= follow_up_end:
        days.append((day, month))
        month += 1
    seen: set[int] = set()
    result = []
    for day, month_ in days:
        if day <= follow_up_end and day not in seen:
            seen.add(day)
            result.append((day, month_))
    # The latest count, at the end of follow-up (the day before the load for the recent children).
    if follow_up_end > 28 and follow_up_end not in seen:
        late = follow_up_end > POST_DISCHARGE_LAB_DAYS[-1]
        result.append((follow_up_end, round(follow_up_end / DAYS_PER_MONTH) if late else None))
    return result


def _cd19(course: Course, day: int) -> int:
    if day >= course.cd19_undetectable_from:
        return 0
    # Still detectable before the day it becomes undetectable: at least 1 cell/µL.
    return max(1, _round(course.cd19_baseline * CD19_SHAPE[day], 1))


def _car_t(course: Course, day: int) -> str:
    peak_day, peak = course.car_t_peak
    if day == peak_day:
        return peak
    value = Decimal(peak) * Decimal(str(CAR_T_SHAPE[peak_day][day]))
    return str(value.quantize(Decimal("0.01"), ROUND_HALF_UP))


@dataclass
class _Child:
    patient: Patient
    course: Course
    dob: dt.date
    tz: zoneinfo.ZoneInfo
    follow_up_end: int  # last study day with data (before today)

    def at(self, day: int, time: dt.time) -> dt.datetime:
        assert self.patient.day0 is not None
        return dt.datetime.combine(self.patient.day0 + dt.timedelta(days=day), time, tzinfo=self.tz)

    def age(self, day: int) -> float:
        assert self.patient.day0 is not None
        return (self.patient.day0 + dt.timedelta(days=day) - self.dob).days / 365.25


def _lab_inputs(child: _Child) -> list[LabInput]:
    course, items = child.course, []
    for day, month in _lab_days(child.follow_up_end):
        sampled_at = child.at(day, LAB_TIME)
        anc = _anc(course, day, month)
        alc = _alc(course, day, month)
        values = {
            "anc": anc,
            "alc": alc,
            # WBC: neutrophils + lymphocytes + monocytes and the rest (about a tenth).
            "wbc": _round((anc + alc) * 1.1 + 60),
            "platelets": _platelets(course, day, month),
            "haemoglobin": _haemoglobin(course, day, month),
        }
        for code, value in values.items():
            lln, uln = reference_limits(code, age_years=child.age(day), sex=child.patient.sex)
            items.append(LabInput(code, str(value), LAB_UNITS[code], sampled_at, lln=lln, uln=uln))
    flow = LabSource.FLOW
    at = child.at(CD19_BASELINE_DAY, LAB_TIME)
    items.append(LabInput("cd19", str(_cd19(course, CD19_BASELINE_DAY)), "cells/µL", at, source=flow))
    for day in CELL_LAB_DAYS:
        if day > child.follow_up_end:
            continue
        at = child.at(day, LAB_TIME)
        items.append(LabInput("cd19", str(_cd19(course, day)), "cells/µL", at, source=flow))
        items.append(LabInput("car_t", _car_t(course, day), "cells/µL", at, source=flow))
    return items


def _crs_observations(child: _Child) -> list[tuple[dt.datetime, dict[str, Any]]]:
    extra = {(f.day, f.time): f for f in child.course.fevers}
    rows = []
    for day in ASSESSMENT_DAYS:
        if day > child.follow_up_end:
            break
        times = {t for d, t in extra if d == day} | {CRS_DAILY_TIME}
        for time in sorted(times):
            fever = extra.get((day, time))
            afebrile = AFEBRILE_TEMPERATURES[day % len(AFEBRILE_TEMPERATURES)]
            temperature = fever.temperature if fever else afebrile
            rows.append(
                (
                    child.at(day, time),
                    {
                        "max_temperature_c": Decimal(temperature),
                        "antipyretic_given": bool(fever and fever.antipyretic),
                        "hypotension": False,
                        "oxygen_device": "none",
                    },
                )
            )
    return rows


def _icans_observations(child: _Child) -> list[tuple[dt.datetime, dict[str, Any]]]:
    rows = []
    for day in ASSESSMENT_DAYS:
        if day > child.follow_up_end:
            break
        # The tool the service will choose: from the age at the assessment, computed as the service does.
        age = toxicity.age_at(child.patient, child.patient.day0 + dt.timedelta(days=day))
        tool = grading.icans_tool(age_years=float(age))
        answers = child.course.capd_findings.get(day)
        if answers is not None and tool != "capd":
            raise ValueError(f"capd_findings: day {day} at age {age} uses ICE, not CAPD")
        if tool == "capd":
            observations = {"capd_answers": dict(answers or CAPD_NORMAL)}
        else:
            observations = {"ice_items": dict(ICE_NORMAL)}
        rows.append((child.at(day, ICANS_TIME), {**observations, "consciousness": "alert"}))
    return rows


def _follow_up_end(hospital_number: str, patient: Patient, today: dt.date) -> int:
    """Last study day with data: the published follow-up length (series) or up to yesterday (recent)."""
    assert patient.day0 is not None
    before_today = (today - patient.day0).days - 1
    months = SERIES_FOLLOW_UP_MONTHS.get(hospital_number)
    if months is None:
        return before_today
    return min(_month_day(months), before_today)


def _load_child(child: _Child, *, user: Any) -> dict[str, int]:
    patient, course = child.patient, child.course
    counts = dict.fromkeys(KINDS, 0)
    for assessed_at, observations in _crs_observations(child):
        toxicity.crs_assessment_record(
            patient=patient, assessed_at=assessed_at, recorded_by=user, **observations
        )
        counts["crs_assessments"] += 1
    for assessed_at, observations in _icans_observations(child):
        toxicity.icans_assessment_record(
            patient=patient, assessed_at=assessed_at, recorded_by=user, **observations
        )
        counts["icans_assessments"] += 1
    rows = lab_results_record_many(patient=patient, items=_lab_inputs(child), recorded_by=user)
    counts["lab_results"] += len(rows)
    if course.gcsf is not None and course.gcsf[1] <= child.follow_up_end:
        first, last = course.gcsf
        toxicity.supportive_care_record(
            patient=patient,
            kind=SupportiveCareKind.GCSF,
            started_on=patient.day0 + dt.timedelta(days=first),
            ended_on=patient.day0 + dt.timedelta(days=last),
            units=last - first + 1,
            recorded_by=user,
        )
        counts["supportive_care"] += 1
    for infection in course.infections:
        if infection.resolved_day > child.follow_up_end:
            continue
        facts = {
            "site": infection.site,
            "organism_type": infection.organism_type,
            "organism": infection.organism,
            "treatment_route": infection.treatment_route,
            "hospitalised": False,
            "outcome": "resolved",
            "resolved_on": patient.day0 + dt.timedelta(days=infection.resolved_day),
        }
        # The clinician confirms the grade the registry proposes from the facts.
        proposed = grading.infection_proposed_grade(treatment_route=infection.treatment_route)
        toxicity.infection_record(
            patient=patient,
            onset_on=patient.day0 + dt.timedelta(days=infection.day),
            grade=proposed,
            recorded_by=user,
            **facts,
        )
        counts["infections"] += 1
    return counts


@transaction.atomic
def load_demo_toxicity(*, today: dt.date | None = None) -> dict[str, int]:
    """Enter the demo children's post-infusion toxicity course; return the rows created by kind.

    ``today`` (default: the local date) bounds the data: every date is before it. Children that are missing
    (load :func:`registry.demo_series.load_demo_series` first), have no day 0, or already have a CRS
    assessment are skipped.
    """
    today = today or timezone.localdate()
    user = get_system_user()
    created = dict.fromkeys(KINDS, 0)
    identities = {
        identity.hospital_number: identity
        for identity in PatientIdentity.objects.select_related("patient__centre").filter(
            hospital_number__in=list(COURSES), patient__is_illustrative=True
        )
    }
    with acting_as(user):
        for number, course in COURSES.items():
            identity = identities.get(number)
            if identity is None or identity.patient.day0 is None:
                continue
            patient = identity.patient
            if CrsAssessment.objects.filter(patient=patient).exists():
                continue
            child = _Child(
                patient=patient,
                course=course,
                dob=identity.date_of_birth,
                tz=zoneinfo.ZoneInfo(patient.centre.time_zone),
                follow_up_end=_follow_up_end(number, patient, today),
            )
            for kind, n in _load_child(child, user=user).items():
                created[kind] += n
    return created
