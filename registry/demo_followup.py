"""Demo follow-up of the illustrative series (issue 5, item 7): medications, visits, instruments and labs.

**Every per-patient value in this module is invented.** The seed publication (``reference/SEED.md``) gives
only aggregates for the follow-up of its eight children: median follow-up 16.5 months (range 9–24); every
child improved and disease-activity scores fell, with signs of organ-damage reversal; immunomodulators were
stopped in all, and stayed stopped after B-cell reconstitution. The related Erlangen series (Mackensen 2022,
Müller 2024) give the shape used here: DORIS remission around month 3, B cells back after about 110 days.
This module reproduces those aggregates:

- **Follow-up**: the last visit of each series child is on day 0 + round(months × 30.4375) days, so that the
  follow-up in months (last visit − day 0, DESIGN §4) is exactly 9, 12, 14, 16, 17, 19, 21 and 24 (median
  16.5). A final visit that is not a scheduled timepoint is recorded as an unscheduled visit.
- **Medications**: the immunomodulators and glucocorticoids running before CAR T are exactly the
  prior-therapy lines of :mod:`registry.demo_series` still running at screening, with their start and stop
  (washout) dates, stopped "for CAR T" before apheresis. Nothing is restarted: every child is
  immunomodulator-free after day 0 through the last visit, also after B-cell reconstitution.
- **Visits**: a screening visit (the baseline, with active disease under treatment), then the scheduled
  follow-up timepoints up to the child's follow-up (day 21 without instrument: its labs come from the
  toxicity loader). The instrument of the diagnosis is entered as raw items; every score (SLEDAI-2K, clinical
  SLEDAI, DORIS, LLDAS, CMAS, MMT8, total improvement score, PRINTO, mRSS, EUSTAR-AI, eGFR,
  prednisone-equivalent) is computed by :mod:`outcomes.services`. SLE: 4 of 4 in DORIS remission by month
  2–6; JDM: 3 of 3 PRINTO inactive by month 6; SSc: skin score and EUSTAR-AI fall, the child improves but
  stays at the activity cut-off (residual skin > 18 and DLCO < 70 %), so 7 of 8 reach remission/inactive
  disease.
- **Labs** (shared laboratory table, one batch per child, with LLN/ULN): at screening a full panel; at each
  follow-up visit from day 28 CD19+ B cells, IgG, CRP, creatinine and the disease labs (SLE: C3, C4,
  anti-dsDNA, UPCR; JDM: CK and aldolase). B cells come back (≥ 10 cells/µL) at month 3–6 in seven children
  and at month 9 in one; the disease stays quiet afterwards. The full blood count after day 0 and the B
  cells up to day 28 are the toxicity loader's (:mod:`registry.demo_toxicity`); a value is added here only
  for an analyte that has no result on that day yet (so nothing is duplicated). Erlangen reports creatinine
  in mg/dL and UPCR in mg/g (the service converts to the canonical unit).

The lab-backed SLEDAI-2K descriptors (low complement, anti-dsDNA, proteinuria, and cytopenias at screening)
are taken from the visit's labs with the form's own rule
(:func:`outcomes.instruments.suggest_sledai_descriptors`), as the clinician confirms them; post-infusion
cytopenias are attributed to the therapy, not to SLE. The two recent Rome children get their screening,
day-21 and day-28 visits and their medications; their month 2/3 visits are left open (due or overdue, as the
schedule says).

Dates are study days relative to the recorded day 0; nothing is after ``today`` (a visit on ``today`` has
its blood drawn the day before). Deterministic (no randomness). Idempotent: a child with any visit (voided or
not) is skipped as a whole. Every write goes through the services, attributed to the registry system user.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from outcomes import instruments
from outcomes import services as outcomes
from outcomes.models import (
    DoseUnit,
    Frequency,
    LabResult,
    LabSource,
    MedicationClass,
    ScheduleTimepoint,
    StopReasonMed,
    Visit,
)
from outcomes.services import LabInput
from patients.models import Patient, PatientIdentity
from registry.audit import acting_as
from registry.demo_series import CHILDREN, DAYS_PER_MONTH, SERIES_FOLLOW_UP_MONTHS
from registry.system import get_system_user

LAB_TIME = dt.time(8, 0)  # blood drawn at the start of the visit
ASSESSED_BY = "Demo clinician (illustrative)"
NOTE = "Illustrative demo visit: invented values."
LAST = "last"  # the unscheduled final visit of a series child whose follow-up is not a scheduled timepoint
KINDS = ("medications", "visits", "assessments", "lab_results")

GC, IM, IVIG = MedicationClass.GLUCOCORTICOID, MedicationClass.IMMUNOMODULATOR, MedicationClass.IVIG
MG, MG_KG, G_KG, MG_M2 = DoseUnit.MG, DoseUnit.MG_KG, DoseUnit.G_KG, DoseUnit.MG_M2
DAILY, BID, WEEKLY, MONTHLY = Frequency.DAILY, Frequency.BID, Frequency.WEEKLY, Frequency.MONTHLY


# --- the table ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Med:
    """A medication running at screening; its dates are those of the prior-therapy line ``prior``."""

    prior: str  # drug name of the line in registry.demo_series
    drug: str
    medication_class: str
    dose: str
    unit: str
    frequency: str
    route: str = "oral"


@dataclass(frozen=True)
class Sle:
    """An SLE visit: clinical SLEDAI-2K descriptors, PGA (0–3) and labs (g/L, IU/mL, g/g, µmol/L)."""

    tp: str
    clinical: tuple[str, ...]
    pga: str
    upcr: str
    c3: str
    c4: str
    dsdna: str
    creatinine: str
    cd19: int
    igg: str


@dataclass(frozen=True)
class Jdm:
    """A JDM visit: CMAS and MMT8 totals (entered as items), globals (0–10), CHAQ, CDASI, CK and aldolase."""

    tp: str
    cmas: int
    mmt8: int
    pga: str
    patient_global: str
    chaq: str
    cdasi: str
    extramuscular: str
    ck: int
    aldolase: str
    cd19: int
    igg: str


@dataclass(frozen=True)
class Ssc:
    """An SSc visit: mRSS total (entered as 17 sites), lung function (% predicted), CRP (mg/L)."""

    tp: str
    mrss: int
    skin_worsening: bool
    digital_ulcers: bool
    fvc: str
    dlco: str
    crp: str
    cd19: int
    igg: str


@dataclass(frozen=True)
class FollowUp:
    screening_day: int
    meds: tuple[Med, ...]
    visits: tuple[Sle | Jdm | Ssc, ...]
    cbc: tuple[int, int, int, int]  # ANC, ALC (cells/µL), platelets (10⁹/L), haemoglobin (g/L) at screening
    crp: tuple[str, str] = ("2", "1")  # mg/L at screening, after day 0 (SLE and JDM)
    creatinine: str = ""  # µmol/L, JDM and SSc (SLE: per visit)
    cdasi_damage: str = ""  # JDM


PRED, HCQ, MMF = "prednisone", "hydroxychloroquine", "mycophenolate mofetil"
MTX, IG = "methotrexate", "intravenous immunoglobulin"

# Columns:
#   Sle(timepoint, clinical descriptors, PGA 0–3, UPCR g/g, C3 g/L, C4 g/L, anti-dsDNA IU/mL,
#       creatinine µmol/L, CD19+ cells/µL, IgG g/L)
#   Jdm(timepoint, CMAS, MMT8, physician global, patient global, CHAQ, CDASI activity, extramuscular, CK U/L,
#       aldolase U/L, CD19+ cells/µL, IgG g/L)
#   Ssc(timepoint, mRSS, skin worsening, digital ulcers, FVC %, DLCO %, CRP mg/L, CD19+ cells/µL, IgG g/L)
# fmt: off
FOLLOW_UP: dict[str, FollowUp] = {
    # ---- SLE -------------------------------------------------------------------------------------------
    "DEMO-ROM-01": FollowUp(  # 24 months; DORIS at month 3, B cells back at month 6
        screening_day=-30,
        meds=(
            Med(PRED, PRED, GC, "10", MG, DAILY),
            Med(HCQ, HCQ, IM, "200", MG, DAILY),
            Med(MMF, MMF, IM, "1000", MG, BID),
            Med("belimumab", "belimumab", IM, "10", MG_KG, MONTHLY, "iv"),
        ),
        cbc=(3400, 1300, 180, 112),
        crp=("6", "1"),
        visits=(
            Sle("screening", ("urinary_casts", "hematuria", "rash", "alopecia"), "2.4",
                "3.2", "0.48", "0.05", "240", "94", 90, "8.9"),
            Sle("d28", ("hematuria",), "1.4", "1.6", "0.66", "0.08", "95", "84", 0, "6.8"),
            Sle("m2", (), "0.8", "0.62", "0.82", "0.11", "38", "77", 0, "5.9"),
            Sle("m3", (), "0.3", "0.34", "0.94", "0.13", "14", "71", 6, "5.4"),
            Sle("m6", (), "0.1", "0.18", "1.05", "0.16", "6", "69", 88, "6.3"),
            Sle("m9", (), "0.1", "0.15", "1.12", "0.18", "4", "68", 164, "7.2"),
            Sle("m12", (), "0", "0.12", "1.10", "0.19", "5", "70", 212, "7.9"),
            Sle("m15", (), "0", "0.11", "1.16", "0.20", "3", "68", 236, "8.3"),
            Sle("m18", (), "0", "0.10", "1.14", "0.21", "4", "69", 251, "8.6"),
            Sle("m24", (), "0", "0.09", "1.18", "0.20", "3", "68", 244, "8.8"),
        ),
    ),
    "DEMO-ROM-02": FollowUp(  # 19 months; LLDAS at month 2, DORIS at month 3, B cells back at month 6
        screening_day=-33,
        meds=(
            Med("methylprednisolone pulses, then prednisone", PRED, GC, "12.5", MG, DAILY),
            Med(HCQ, HCQ, IM, "200", MG, DAILY),
            Med(MMF, MMF, IM, "1000", MG, BID),
        ),
        cbc=(4100, 1500, 265, 121),
        crp=("4", "1"),
        visits=(
            Sle("screening", ("arthritis", "hematuria"), "2.0",
                "1.8", "0.61", "0.07", "160", "71", 150, "10.6"),
            Sle("d28", ("hematuria",), "1.2", "0.9", "0.71", "0.09", "60", "66", 0, "9.1"),
            Sle("m2", (), "0.6", "0.45", "0.84", "0.12", "22", "63", 0, "7.9"),
            Sle("m3", (), "0.2", "0.28", "0.93", "0.14", "9", "62", 0, "7.1"),
            Sle("m6", (), "0.1", "0.16", "1.02", "0.17", "6", "61", 22, "6.8"),
            Sle("m9", (), "0.1", "0.14", "1.08", "0.18", "5", "62", 96, "7.5"),
            Sle("m12", (), "0", "0.12", "1.10", "0.19", "4", "60", 158, "8.2"),
            Sle("m15", (), "0", "0.11", "1.13", "0.20", "4", "61", 190, "8.9"),
            Sle("m18", (), "0", "0.12", "1.12", "0.19", "3", "60", 205, "9.3"),
            Sle(LAST, (), "0", "0.10", "1.15", "0.21", "3", "61", 214, "9.6"),
        ),
    ),
    "DEMO-ROM-03": FollowUp(  # 14 months; class IV+V nephritis: DORIS only at month 6, with the B cells
        screening_day=-31,
        meds=(
            Med(PRED, PRED, GC, "10", MG, DAILY),
            Med(HCQ, HCQ, IM, "200", MG, DAILY),
            Med(MMF, MMF, IM, "1000", MG, BID),
            Med("tacrolimus", "tacrolimus", IM, "2", MG, BID),
            Med("belimumab", "belimumab", IM, "10", MG_KG, MONTHLY, "iv"),
        ),
        cbc=(5200, 1700, 240, 124),
        crp=("5", "2"),
        visits=(
            Sle("screening", ("urinary_casts", "arthritis", "pleurisy", "pericarditis"), "2.6",
                "4.1", "0.52", "0.06", "310", "102", 230, "10.8"),
            Sle("d28", ("urinary_casts",), "1.6", "2.3", "0.64", "0.08", "140", "92", 0, "7.9"),
            Sle("m2", (), "1.0", "1.2", "0.76", "0.10", "45", "86", 0, "6.4"),
            Sle("m3", (), "0.6", "0.7", "0.88", "0.12", "12", "82", 2, "5.6"),
            Sle("m6", (), "0.3", "0.38", "0.98", "0.15", "8", "78", 31, "5.9"),
            Sle("m9", (), "0.2", "0.26", "1.04", "0.17", "6", "76", 84, "6.8"),
            Sle("m12", (), "0.1", "0.21", "1.08", "0.18", "5", "75", 132, "7.6"),
            Sle(LAST, (), "0.1", "0.18", "1.10", "0.19", "4", "74", 150, "8.0"),
        ),
    ),
    "DEMO-ERL-02": FollowUp(  # 17 months; DORIS at month 2, B cells back at month 3
        screening_day=-30,
        meds=(
            Med("prednisolone", "prednisolone", GC, "10", MG, DAILY),
            Med(HCQ, HCQ, IM, "200", MG, DAILY),
            Med(MMF, MMF, IM, "1000", MG, BID),
            Med("belimumab", "belimumab", IM, "10", MG_KG, MONTHLY, "iv"),
        ),
        cbc=(4800, 1600, 250, 125),
        crp=("3", "1"),
        visits=(
            Sle("screening", ("arthritis", "rash", "hematuria"), "2.1",
                "2.2", "0.58", "0.06", "210", "74", 170, "9.6"),
            Sle("d28", ("rash",), "1.1", "1.1", "0.72", "0.09", "70", "70", 0, "7.2"),
            Sle("m2", (), "0.4", "0.42", "0.86", "0.11", "24", "68", 0, "6.0"),
            Sle("m3", (), "0.2", "0.30", "0.95", "0.13", "11", "67", 14, "5.5"),
            Sle("m6", (), "0.1", "0.20", "1.03", "0.16", "7", "66", 118, "6.4"),
            Sle("m9", (), "0", "0.16", "1.08", "0.18", "5", "66", 176, "7.3"),
            Sle("m12", (), "0", "0.14", "1.10", "0.19", "6", "65", 204, "8.1"),
            Sle("m15", (), "0", "0.13", "1.12", "0.20", "4", "66", 221, "8.4"),
            Sle(LAST, (), "0", "0.12", "1.15", "0.20", "4", "65", 230, "8.6"),
        ),
    ),
    # ---- JDM -------------------------------------------------------------------------------------------
    "DEMO-ROM-04": FollowUp(  # 12 months; 5 years old; PRINTO inactive at month 6, B cells back at month 3
        screening_day=-29,
        meds=(
            Med("methylprednisolone pulses, then prednisone", PRED, GC, "7.5", MG, DAILY),
            Med(MTX, MTX, IM, "15", MG_M2, WEEKLY, "subcutaneous"),
            Med(IG, "immunoglobulin (IVIG)", IVIG, "2", G_KG, MONTHLY, "iv"),
            Med("baricitinib", "baricitinib", IM, "2", MG, BID),
        ),
        cbc=(2900, 2600, 330, 116),
        crp=("12", "1"),
        creatinine="28",
        cdasi_damage="8",
        visits=(
            Jdm("screening", 18, 44, "7.5", "7.0", "2.25", "28", "6.5", 1850, "24", 400, "9.8"),
            Jdm("d28", 27, 56, "4.5", "4.5", "1.625", "16", "3.5", 420, "11", 0, "7.1"),
            Jdm("m2", 36, 66, "2.5", "3.0", "1.0", "9", "2.0", 160, "8.5", 0, "5.6"),
            Jdm("m3", 42, 72, "1.2", "1.5", "0.5", "5", "1.0", 110, "6.8", 24, "4.9"),
            Jdm("m6", 49, 78, "0.2", "0.5", "0.125", "2", "0.3", 95, "5.9", 310, "5.8"),
            Jdm("m9", 50, 79, "0.1", "0.2", "0", "1", "0.1", 88, "5.5", 520, "7.0"),
            Jdm("m12", 51, 80, "0", "0", "0", "1", "0", 92, "5.2", 610, "7.6"),
        ),
    ),
    "DEMO-ERL-01": FollowUp(  # the published boy; 21 months; inactive and B cells back at month 6
        screening_day=-32,
        meds=(
            Med("prednisolone", "prednisolone", GC, "7.5", MG, DAILY),
            Med(MTX, MTX, IM, "15", MG, WEEKLY, "subcutaneous"),
            Med(IG, "immunoglobulin (IVIG)", IVIG, "2", G_KG, MONTHLY, "iv"),
            Med("ruxolitinib", "ruxolitinib", IM, "10", MG, BID),
        ),
        cbc=(4400, 2100, 275, 131),
        crp=("6", "1"),
        creatinine="52",
        cdasi_damage="6",
        visits=(
            Jdm("screening", 22, 52, "6.8", "6.5", "1.875", "22", "5.5", 980, "19", 220, "8.4"),
            Jdm("d28", 30, 60, "4.0", "4.0", "1.25", "14", "3.0", 310, "10", 0, "6.2"),
            Jdm("m2", 38, 68, "2.4", "2.5", "0.75", "9", "1.8", 150, "7.4", 0, "5.1"),
            Jdm("m3", 43, 73, "1.1", "1.5", "0.5", "6", "1.0", 120, "6.2", 3, "4.8"),
            Jdm("m6", 48, 78, "0.2", "0.5", "0.125", "3", "0.2", 105, "5.4", 58, "5.6"),
            Jdm("m9", 50, 79, "0.1", "0.3", "0", "2", "0.1", 98, "5.1", 132, "6.9"),
            Jdm("m12", 51, 80, "0", "0.2", "0", "1", "0", 92, "4.9", 188, "7.8"),
            Jdm("m15", 52, 80, "0", "0", "0", "1", "0", 95, "5.0", 220, "8.4"),
            Jdm("m18", 52, 80, "0", "0", "0", "0", "0", 90, "4.8", 236, "8.9"),
            Jdm(LAST, 52, 80, "0", "0", "0", "0", "0", 94, "5.0", 241, "9.1"),
        ),
    ),
    "DEMO-ERL-03": FollowUp(  # 9 months; anti-MDA5; inactive at month 6, B cells back only at month 9
        screening_day=-34,
        meds=(
            Med("methylprednisolone pulses, then prednisolone", "prednisolone", GC, "5", MG, DAILY),
            Med(MTX, MTX, IM, "15", MG_M2, WEEKLY, "subcutaneous"),
            Med(IG, "immunoglobulin (IVIG)", IVIG, "2", G_KG, MONTHLY, "iv"),
        ),
        cbc=(3100, 2300, 310, 119),
        crp=("9", "1"),
        creatinine="38",
        cdasi_damage="3",
        visits=(
            Jdm("screening", 30, 60, "6.0", "5.5", "1.375", "26", "6.0", 420, "16", 330, "7.9"),
            Jdm("d28", 36, 65, "3.8", "3.5", "0.875", "15", "3.5", 210, "9.0", 0, "6.0"),
            Jdm("m2", 41, 70, "2.0", "2.0", "0.5", "9", "2.0", 140, "7.0", 0, "4.9"),
            Jdm("m3", 46, 75, "0.8", "1.0", "0.25", "5", "1.0", 110, "6.1", 0, "4.6"),
            Jdm("m6", 50, 79, "0.2", "0.3", "0", "2", "0.3", 96, "5.6", 6, "5.2"),
            Jdm("m9", 51, 80, "0.1", "0.2", "0", "1", "0.1", 90, "5.3", 38, "6.1"),
        ),
    ),
    # ---- SSc -------------------------------------------------------------------------------------------
    "DEMO-ROM-05": FollowUp(  # 16 months; improved (mRSS 32 → 20, FVC 68 → 82 %) but EUSTAR-AI stays ≥ 2.5
        screening_day=-30,
        meds=(
            Med("prednisone (low dose)", PRED, GC, "5", MG, DAILY),
            Med(MMF, MMF, IM, "750", MG, BID),
            Med("tocilizumab", "tocilizumab", IM, "8", MG_KG, MONTHLY, "iv"),
        ),
        cbc=(3600, 1900, 290, 122),
        creatinine="45",
        visits=(
            Ssc("screening", 32, True, True, "68", "58", "16", 120, "10.2"),
            Ssc("d28", 30, False, True, "69", "59", "9", 0, "7.6"),
            Ssc("m2", 28, False, False, "71", "60", "5", 0, "6.5"),
            Ssc("m3", 27, False, False, "72", "61", "3", 8, "6.0"),
            Ssc("m6", 24, False, False, "76", "63", "2", 45, "6.6"),
            Ssc("m9", 22, False, False, "78", "64", "2", 110, "7.4"),
            Ssc("m12", 21, False, False, "80", "65", "1", 160, "8.1"),
            Ssc("m15", 20, False, False, "81", "66", "1", 185, "8.5"),
            Ssc(LAST, 20, False, False, "82", "66", "1", 192, "8.7"),
        ),
    ),
    # ---- the two recent Rome children: early visits only; month 2/3 left open ----------------------------
    "DEMO-ROM-06": FollowUp(
        screening_day=-31,
        meds=(
            Med(PRED, PRED, GC, "15", MG, DAILY),
            Med(HCQ, HCQ, IM, "200", MG, DAILY),
            Med(MMF, MMF, IM, "1000", MG, BID),
        ),
        cbc=(3300, 1200, 150, 108),
        crp=("4", "1"),
        visits=(
            Sle("screening", ("urinary_casts", "hematuria"), "2.3",
                "2.6", "0.55", "0.06", "190", "79", 75, "10.5"),
            Sle("d28", ("hematuria",), "1.3", "1.3", "0.70", "0.09", "80", "72", 0, "8.0"),
        ),
    ),
    "DEMO-ROM-07": FollowUp(
        screening_day=-29,
        meds=(
            Med("methylprednisolone pulses, then prednisone", PRED, GC, "10", MG, DAILY),
            Med(MTX, MTX, IM, "15", MG, WEEKLY, "subcutaneous"),
            Med(IG, "immunoglobulin (IVIG)", IVIG, "2", G_KG, MONTHLY, "iv"),
            Med("baricitinib", "baricitinib", IM, "4", MG, DAILY),
        ),
        cbc=(3000, 2200, 300, 120),
        crp=("8", "1"),
        creatinine="42",
        cdasi_damage="4",
        visits=(
            Jdm("screening", 26, 56, "6.2", "6.0", "1.625", "20", "5.0", 1240, "18", 260, "9.4"),
            Jdm("d28", 33, 63, "3.8", "3.5", "1.0", "12", "3.0", 330, "9.5", 0, "7.6"),
        ),
    ),
}
# fmt: on

#: Timepoint without instrument recorded for every child (its labs are the toxicity loader's).
LAB_ONLY_TIMEPOINTS = ("d21",)


# --- instruments from totals --------------------------------------------------------------------------------

CMAS_MAXIMA = {
    "head_elevation": 5,
    "leg_raise": 2,
    "straight_leg_lift": 5,
    "supine_to_prone": 3,
    "sit_ups": 6,
    "supine_to_sit": 3,
    "arm_raise_straighten": 3,
    "arm_raise_duration": 4,
    "floor_sit": 3,
    "all_fours": 4,
    "floor_rise": 4,
    "chair_rise": 4,
    "stool_step": 3,
    "pick_up": 3,
}
#: Items that lose points first in proximal weakness.
CMAS_DEFICIT_ORDER = (
    "sit_ups",
    "head_elevation",
    "straight_leg_lift",
    "floor_rise",
    "arm_raise_duration",
    "chair_rise",
    "all_fours",
    "supine_to_sit",
    "floor_sit",
    "supine_to_prone",
    "stool_step",
    "leg_raise",
    "arm_raise_straighten",
    "pick_up",
)
#: Seconds held that give each score of the timed CMAS items (the service converts them back).
CMAS_SECONDS = {
    "head_elevation": (0, 6, 20, 45, 90, 125),
    "straight_leg_lift": (0, 6, 20, 45, 90, 125),
    "arm_raise_duration": (0, 6, 20, 45, 65),
}
MMT8_DEFICIT_ORDER = (
    "neck_flexors",
    "gluteus_medius",
    "gluteus_maximus",
    "deltoid_middle",
    "quadriceps",
    "biceps_brachii",
    "ankle_dorsiflexors",
    "wrist_extensors",
)
#: mRSS sites, most often and most severely involved first (distal before proximal).
MRSS_ORDER = (
    "fingers_right",
    "fingers_left",
    "hands_right",
    "hands_left",
    "forearms_right",
    "forearms_left",
    "face",
    "lower_legs_right",
    "lower_legs_left",
    "feet_right",
    "feet_left",
    "upper_arms_right",
    "upper_arms_left",
    "anterior_chest",
    "thighs_right",
    "thighs_left",
    "abdomen",
)
MRSS_REACH = (17, 13, 7)  # pass k raises the first MRSS_REACH[k] sites by one point


def _spread(
    total: int, order: tuple[str, ...], maximum: dict[str, int], reach: tuple[int, ...]
) -> dict[str, int]:
    """Distribute ``total`` points over ``order``: pass k adds one point to each of the first ``reach[k]``
    items still below its maximum, until the total is reached."""
    points = dict.fromkeys(order, 0)
    left = total
    for width in reach:
        for item in order[:width]:
            if left == 0:
                return points
            if points[item] < maximum[item]:
                points[item] += 1
                left -= 1
    if left:
        raise ValueError(f"total: {total} does not fit the items")
    return points


def cmas_entry(total: int) -> tuple[dict[str, int], dict[str, int]]:
    """CMAS items and timed seconds (as on the scoring sheet) that add up to ``total`` (0–52)."""
    deficit = _spread(52 - total, CMAS_DEFICIT_ORDER, CMAS_MAXIMA, (len(CMAS_MAXIMA),) * 6)
    scores = {item: CMAS_MAXIMA[item] - deficit[item] for item in CMAS_MAXIMA}
    items = {k: v for k, v in scores.items() if k not in CMAS_SECONDS}
    seconds = {k: CMAS_SECONDS[k][scores[k]] for k in CMAS_SECONDS}
    return items, seconds


def mmt8_entry(total: int) -> dict[str, int]:
    """MMT8 muscle groups (0–10 each) adding up to ``total`` (0–80), weakest proximally."""
    deficit = _spread(80 - total, MMT8_DEFICIT_ORDER, dict.fromkeys(MMT8_DEFICIT_ORDER, 10), (8,) * 10)
    return {group: 10 - deficit[group] for group in MMT8_DEFICIT_ORDER}


def mrss_entry(total: int) -> dict[str, int]:
    """mRSS sites (0–3 each) adding up to ``total``, distal skin most thickened."""
    return _spread(total, MRSS_ORDER, dict.fromkeys(MRSS_ORDER, 3), MRSS_REACH)


# --- laboratory ---------------------------------------------------------------------------------------------

CANONICAL_UNITS = {
    "wbc": "cells/µL",
    "anc": "cells/µL",
    "alc": "cells/µL",
    "platelets": "10^9/L",
    "haemoglobin": "g/L",
    "cd19": "cells/µL",
    "igg": "g/L",
    "crp": "mg/L",
    "creatinine": "µmol/L",
    "upcr": "g/g",
    "c3": "g/L",
    "c4": "g/L",
    "anti_dsdna": "IU/mL",
    "ck": "U/L",
    "aldolase": "U/L",
}
#: Units reported by the Erlangen laboratory where they differ (value in the canonical unit × factor).
REPORTED_UNITS = {"ERL": {"creatinine": ("mg/dL", 1 / 88.42, "0.01"), "upcr": ("mg/g", 1000.0, "1")}}
LAB_SOURCE = {"cd19": LabSource.FLOW}


def reference_limits(analyte: str, *, age_years: float, sex: str) -> tuple[str, str]:
    """Illustrative age-specific (LLN, ULN) of the demo laboratories, in the canonical unit."""
    band = 0 if age_years < 6 else 1 if age_years < 12 else 2
    male = sex == "male"
    table: dict[str, tuple[tuple[str, str], ...]] = {
        # the full blood count as in the toxicity loader
        "wbc": (("5000", "15500"), ("4500", "13500"), ("4000", "11000")),
        "anc": (("1500", "8500"), ("1500", "8000"), ("1500", "7500")),
        "alc": (("2000", "8000"), ("1500", "6500"), ("1000", "4800")),
        "platelets": (("150", "450"),) * 3,
        "haemoglobin": (("110", "140"), ("115", "155"), ("130", "170") if male else ("120", "160")),
        "cd19": (("200", "1300"), ("200", "900"), ("100", "500")),
        "igg": (("5.0", "13.0"), ("6.0", "15.0"), ("7.0", "16.0")),
        "crp": (("0", "5"),) * 3,
        "creatinine": (("20", "45"), ("30", "60"), ("45", "90") if male else ("40", "80")),
        "upcr": (("0", "0.2"),) * 3,
        "c3": (("0.9", "1.8"),) * 3,
        "c4": (("0.1", "0.4"),) * 3,
        "anti_dsdna": (("0", "10"),) * 3,
        "ck": (("30", "200"),) * 3,
        "aldolase": (("1.0", "8.0"),) * 3,
    }
    try:
        return table[analyte][band]
    except KeyError:
        raise ValueError(f"analyte: no demo reference range for {analyte!r}") from None


def _reported(centre: str, analyte: str, value: str) -> tuple[str, str, float]:
    """(value as reported, unit, factor from canonical) for ``centre``'s laboratory."""
    unit, factor, step = REPORTED_UNITS.get(centre, {}).get(analyte, (CANONICAL_UNITS[analyte], 1.0, ""))
    if factor == 1.0:
        return value, unit, factor
    converted = (Decimal(value) * Decimal(str(factor))).quantize(Decimal(step), ROUND_HALF_UP)
    return str(converted), unit, factor


def _limit(value: str, factor: float) -> str:
    if factor == 1.0:
        return value
    return str((Decimal(value) * Decimal(str(factor))).quantize(Decimal("0.01"), ROUND_HALF_UP).normalize())


def _wbc(anc: int, alc: int) -> int:
    # neutrophils + lymphocytes + monocytes and the rest (about a tenth), as the toxicity loader does
    return int(Decimal(str(((anc + alc) * 1.1 + 60) / 10)).to_integral_value(ROUND_HALF_UP)) * 10


def _visit_labs(spec: FollowUp, row: Sle | Jdm | Ssc, *, after_day0: bool) -> dict[str, str]:
    """The analytes drawn at a visit, canonical units (strings as the lab prints them)."""
    anc, alc, platelets, haemoglobin = spec.cbc
    if after_day0:  # only used where the toxicity loader has no count that day
        haemoglobin += 4
    labs = {
        "wbc": str(_wbc(anc, alc)),
        "anc": str(anc),
        "alc": str(alc),
        "platelets": str(platelets),
        "haemoglobin": str(haemoglobin),
        "cd19": str(row.cd19),
        "igg": row.igg,
    }
    if isinstance(row, Sle):
        labs |= {
            "crp": spec.crp[1 if after_day0 else 0],
            "creatinine": row.creatinine,
            "upcr": row.upcr,
            "c3": row.c3,
            "c4": row.c4,
            "anti_dsdna": row.dsdna,
        }
    elif isinstance(row, Jdm):
        labs |= {
            "crp": spec.crp[1 if after_day0 else 0],
            "creatinine": spec.creatinine,
            "ck": str(row.ck),
            "aldolase": row.aldolase,
        }
    else:
        labs |= {"crp": row.crp, "creatinine": spec.creatinine}
    return labs


# --- loading ------------------------------------------------------------------------------------------------


def month_day(months: int) -> int:
    """Study day of the last visit: months of 30.4375 days, half up (as the series anchors day 0)."""
    return int(Decimal(str(months * DAYS_PER_MONTH)).to_integral_value(ROUND_HALF_UP))


@dataclass
class _Child:
    number: str
    patient: Patient
    spec: FollowUp
    dob: dt.date
    centre: str
    tz: zoneinfo.ZoneInfo
    today: dt.date

    def on(self, day: int) -> dt.date:
        assert self.patient.day0 is not None
        return self.patient.day0 + dt.timedelta(days=day)

    def age(self, on: dt.date) -> float:
        return (on - self.dob).days / 365.25


def _plan(
    child: _Child, timepoints: dict[str, ScheduleTimepoint]
) -> list[tuple[int, str, Sle | Jdm | Ssc | None]]:
    """(study day, timepoint code or LAST, instrument row or None) of each visit, in date order."""
    months = SERIES_FOLLOW_UP_MONTHS.get(child.number)
    final = month_day(months) if months is not None else None
    rows = child.spec.visits
    plan: list[tuple[int, str, Sle | Jdm | Ssc | None]] = []
    for index, row in enumerate(rows):
        if row.tp == "screening":
            day = child.spec.screening_day
        elif row.tp == LAST or (final is not None and index == len(rows) - 1):
            if final is None:
                raise ValueError(f"{child.number}: only series children have a final visit")
            day = final
        else:
            day = timepoints[row.tp].nominal_day
        if row.tp not in ("screening", LAST):
            start, end = timepoints[row.tp].window()
            if not start <= day <= end:
                raise ValueError(f"{child.number}: day {day} is outside the {row.tp} window")
        plan.append((day, row.tp, row))
    for code in LAB_ONLY_TIMEPOINTS:
        plan.append((timepoints[code].nominal_day, code, None))
    plan.sort(key=lambda visit: visit[0])
    if final is not None and plan[-1][0] != final:
        raise ValueError(f"{child.number}: the last visit must be on day {final}")
    return [visit for visit in plan if child.on(visit[0]) <= child.today]


def _medications(child: _Child, *, user: Any) -> int:
    lines = {line.drug: line for line in next(c for c in CHILDREN if c.hospital_number == child.number).prior}
    for med in child.spec.meds:
        line = lines[med.prior]
        outcomes.medication_record(
            patient=child.patient,
            drug=med.drug,
            medication_class=med.medication_class,
            dose=Decimal(med.dose),
            dose_unit=med.unit,
            frequency=med.frequency,
            route=med.route,
            started_on=child.on(line.start),
            stopped_on=child.on(line.stop),
            stop_reason=StopReasonMed.CAR_T,
            recorded_by=user,
        )
    return len(child.spec.meds)


def _sample_date(child: _Child, visit_date: dt.date) -> dt.date:
    # A visit on ``today`` has its blood drawn the day before, so no sample time is in the future.
    return visit_date if visit_date < child.today else visit_date - dt.timedelta(days=1)


def _lab_inputs(child: _Child, plan: list) -> tuple[list[LabInput], dict[str, dict[str, tuple]]]:
    """The visits' lab values not already in the table, and each visit's own labs (for SLEDAI descriptors)."""
    existing = set(
        LabResult.objects.filter(patient=child.patient, voided_at__isnull=True).values_list(
            "sampled_on", "analyte"
        )
    )
    items, own = [], {}
    for day, code, row in plan:
        if row is None:
            continue
        sampled_on = _sample_date(child, child.on(day))
        sampled_at = dt.datetime.combine(sampled_on, LAB_TIME, tzinfo=child.tz)
        age = child.age(sampled_on)
        values = _visit_labs(child.spec, row, after_day0=day > 0)
        own[code] = {}
        for analyte, value in values.items():
            lln, uln = reference_limits(analyte, age_years=age, sex=child.patient.sex)
            own[code][analyte] = (float(value), float(lln), float(uln))
            if (sampled_on, analyte) in existing:
                continue
            reported, unit, factor = _reported(child.centre, analyte, value)
            items.append(
                LabInput(
                    analyte,
                    reported,
                    unit,
                    sampled_at,
                    lln=_limit(lln, factor),
                    uln=_limit(uln, factor),
                    source=LAB_SOURCE.get(analyte, LabSource.LOCAL),
                )
            )
            existing.add((sampled_on, analyte))
    return items, own


def _instrument(row: Sle | Jdm | Ssc, labs: dict[str, tuple], spec: FollowUp, *, after_day0: bool) -> dict:
    if isinstance(row, Sle):
        # The form's lab-backed suggestions, confirmed by the clinician; after day 0 the cytopenias are the
        # therapy's (SLEDAI-2K excludes drug causes), so only serology and proteinuria are offered.
        offered = {k: v for k, v in labs.items() if k in ("c3", "c4", "anti_dsdna", "upcr")}
        if not after_day0:
            offered |= {k: v for k, v in labs.items() if k in ("platelets", "wbc")}
        return {
            "descriptors": sorted({*row.clinical, *instruments.suggest_sledai_descriptors(offered)}),
            "physician_global": Decimal(row.pga),
            "upcr_g_g": Decimal(row.upcr),
        }
    if isinstance(row, Jdm):
        items, seconds = cmas_entry(row.cmas)
        return {
            "cmas_items": items,
            "cmas_timed_seconds": seconds,
            "mmt8_items": mmt8_entry(row.mmt8),
            "physician_global": Decimal(row.pga),
            "patient_global": Decimal(row.patient_global),
            "chaq": Decimal(row.chaq),
            "cdasi_activity": Decimal(row.cdasi),
            "cdasi_damage": Decimal(spec.cdasi_damage),
            "extramuscular": Decimal(row.extramuscular),
        }
    # CRP (mg/dL) for the EUSTAR-AI is taken by the service from the visit's CRP result.
    return {
        "mrss_sites": mrss_entry(row.mrss),
        "fvc_percent_predicted": Decimal(row.fvc),
        "dlco_percent_predicted": Decimal(row.dlco),
        "skin_worsening": row.skin_worsening,
        "digital_ulcers": row.digital_ulcers,
        "tendon_friction_rubs": False,
        "raynaud": True,
    }


def _load_child(child: _Child, timepoints: dict[str, ScheduleTimepoint], *, user: Any) -> dict[str, int]:
    counts = dict.fromkeys(KINDS, 0)
    counts["medications"] = _medications(child, user=user)
    plan = _plan(child, timepoints)
    items, own = _lab_inputs(child, plan)
    counts["lab_results"] = len(
        outcomes.lab_results_record_many(patient=child.patient, items=items, recorded_by=user)
    )
    for day, code, row in plan:
        instrument = None if row is None else _instrument(row, own[code], child.spec, after_day0=day > 0)
        outcomes.visit_record(
            patient=child.patient,
            visit_date=child.on(day),
            timepoint=None if code == LAST else timepoints[code],
            assessed_by=ASSESSED_BY,
            notes=NOTE,
            instrument=instrument,
            recorded_by=user,
        )
        counts["visits"] += 1
        counts["assessments"] += instrument is not None
    return counts


@transaction.atomic
def load_demo_followup(*, today: dt.date | None = None) -> dict[str, int]:
    """Enter the demo children's medications, visits with their instruments, and follow-up labs.

    Returns the rows created by kind. ``today`` (default: the local date) bounds the data: nothing is after
    it. Children that are missing (load :func:`registry.demo_series.load_demo_series` first), have no day 0,
    or already have a visit are skipped.
    """
    today = today or timezone.localdate()
    user = get_system_user()
    created = dict.fromkeys(KINDS, 0)
    timepoints = {tp.code: tp for tp in ScheduleTimepoint.objects.filter(protocol="default")}
    identities = {
        identity.hospital_number: identity
        for identity in PatientIdentity.objects.select_related("patient__centre").filter(
            hospital_number__in=list(FOLLOW_UP), patient__is_illustrative=True
        )
    }
    with acting_as(user):
        for number, spec in FOLLOW_UP.items():
            identity = identities.get(number)
            if identity is None or identity.patient.day0 is None:
                continue
            patient = identity.patient
            if Visit.objects.filter(patient=patient).exists():
                continue
            child = _Child(
                number=number,
                patient=patient,
                spec=spec,
                dob=identity.date_of_birth,
                centre=patient.centre.code,
                tz=zoneinfo.ZoneInfo(patient.centre.time_zone),
                today=today,
            )
            for kind, n in _load_child(child, timepoints, user=user).items():
                created[kind] += n
    return created
