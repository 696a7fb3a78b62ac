"""Demo clinical data: the seed case series as an illustrative reconstruction (issue 3, item 10).

**Every per-patient value in this module is invented.** The seed publication (``reference/SEED.md``) gives
only aggregates: 8 children, 5 Rome / 3 Erlangen, 4 SLE / 3 JDM / 1 SSc, 7 girls / 1 boy, aged 5–17 at
infusion, manufacturing successful in all with several drug-product bags, Flu/Cy lymphodepletion, a single
infusion of 1 × 10⁶ CAR T cells/kg, median follow-up 16.5 months (range 9–24). The children below reproduce
those aggregates exactly; names, dates, weights, organ involvement, prior therapies and manufacturing figures
are clinically plausible inventions. The one published detail used is the boy of Nicolai et al. (Arthritis
Rheumatol 2024): juvenile dermatomyositis, 12 years old, Erlangen, fresh product on the CliniMACS Prodigy.
Every patient is flagged ``is_illustrative`` (the UI shows a banner) and the series too.

Besides the series, two more recently infused Rome children (not series members, still illustrative demo
patients) give a new user real work: their early follow-up and month-3 visits are due.

Dates are anchored when the data are first loaded: each child's day 0 is placed so that today − day 0 is its
final follow-up length (:data:`SERIES_FOLLOW_UP_MONTHS`), or its days since infusion for the two recent
children (:data:`RECENT_DAYS_SINCE_DAY0`); every other date is a study day relative to day 0. Nothing is in
the future. Loading is idempotent: a child whose demo hospital number already exists is skipped.

Every write goes through the services of ``patients`` and ``dosing`` (validated, audited), attributed to the
registry system user.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from dosing import services as dosing
from dosing.models import AdmissionReason, Product, ProductState, ReleaseTestKind, RunOutcome
from patients import services as patients
from patients.models import (
    CRITERIA_FOR_DIAGNOSIS,
    Diagnosis,
    Organ,
    PatientIdentity,
    Sex,
    StopReason,
    TherapyClass,
    TreatmentPathway,
)
from registry.audit import acting_as, save_audited
from registry.models import CaseSeries, Centre
from registry.system import get_system_user

DAYS_PER_MONTH = 30.4375  # DESIGN §4: follow-up in months of 30.4375 days

# The product of the seed series. The dose window (0.8–1.2 × 10⁶ CAR+ T cells/kg around the 1 × 10⁶/kg
# target) is an ILLUSTRATIVE DEMO SETTING, not a published specification of MB-CART19.1.
PRODUCT = {
    "name": "zorpocabtagene autoleucel (MB-CART19.1)",
    "code": "mb-cart19-1",
    "target_antigen": "CD19",
    "costimulatory_domain": "4-1BB",
    "vector": "lentiviral",
    "target_cells_per_kg": 1e6,
    "min_cells_per_kg": 0.8e6,
    "max_cells_per_kg": 1.2e6,
}

SERIES_NAME = "Paediatric CD19 CAR T in autoimmune disease, Rome–Erlangen (illustrative reconstruction)"
SERIES_DESCRIPTION = (
    "Illustrative reconstruction of the published case series of eight children with refractory SLE, "
    "juvenile dermatomyositis or systemic sclerosis treated with zorpocabtagene autoleucel (MB-CART19.1) "
    "under hospital exemption in Rome and Erlangen. Published aggregates are reproduced; every per-patient "
    "value is invented."
)

SITES = {
    "ROM": "Ospedale Pediatrico Bambino Gesù, Rome (point-of-care cell factory)",
    "ERL": "Universitätsklinikum Erlangen (point-of-care GMP unit)",
}
PREMEDICATION = "paracetamol, cetirizine (no steroids)"


# --- the table ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Involvement:
    organ: str
    detail: str = ""
    nephritis_class: str = ""


@dataclass(frozen=True)
class Line:
    """A prior therapy; ``start`` and ``stop`` are study days (negative: before day 0)."""

    drug: str
    therapy_class: str
    start: int
    stop: int
    reason: str = StopReason.CAR_T


# (agent, study day, mg/m² that day)
FLU_CY_STANDARD = (
    ("fludarabine", -5, "25"),
    ("fludarabine", -4, "25"),
    ("fludarabine", -3, "25"),
    ("cyclophosphamide", -3, "1000"),
)
# The split schedule of the published child: cyclophosphamide 1000 mg/m² over 2 days, fludarabine 90 mg/m²
# over 3 days.
FLU_CY_SPLIT = (
    ("fludarabine", -5, "30"),
    ("fludarabine", -4, "30"),
    ("fludarabine", -3, "30"),
    ("cyclophosphamide", -5, "500"),
    ("cyclophosphamide", -4, "500"),
)


@dataclass(frozen=True)
class DemoChild:
    """One invented child. Dates are study days; day 0 is anchored to the first load (see module doc)."""

    hospital_number: str  # "DEMO-…": the idempotency key
    centre: str
    given_name: str
    sex: str
    diagnosis: str
    age_at_infusion_years: float  # decimal years of 365.25 days; floors to the published whole years
    disease_years: float  # diagnosis → day 0
    organs: tuple[Involvement, ...]
    prior: tuple[Line, ...]
    growth: tuple[tuple[int, str, str], ...]  # (study day, weight kg, height cm); the last one doses
    cd3_collected: float
    apheresis_volume_ml: int
    manufacturing_days: int  # apheresis = manufacturing start; fresh product released on day 0
    transduction_pct: str
    viability_pct: str
    cd4_cd8: str
    vcn: str
    bag_multiples: tuple[float, ...]  # CAR+ cells per bag, in multiples of the child's dose
    bag_volume_ml: str
    inpatient_days: int  # infusion admission from D−1 to D+inpatient_days
    follow_up_months: int | None = None  # series members: today − day 0 at first load
    days_since_day0: int | None = None  # the two recent children
    lymphodepletion: tuple[tuple[str, int, str], ...] = FLU_CY_STANDARD
    family_name: str = "Demo"
    apheresis_note: str = "none"

    @property
    def in_series(self) -> bool:
        return self.follow_up_months is not None

    def day0(self, today: dt.date) -> dt.date:
        if self.follow_up_months is not None:
            # round half up: 24 months = 730.5 days → 730.5 rounds to 731
            days = int(Decimal(str(self.follow_up_months * DAYS_PER_MONTH)).to_integral_value(ROUND_HALF_UP))
        else:
            days = self.days_since_day0 or 0
        return today - dt.timedelta(days=days)


GC, CONV, AM = TherapyClass.GLUCOCORTICOID, TherapyClass.CONVENTIONAL, TherapyClass.ANTIMALARIAL
BCELL, BIO, JAK, IVIG = TherapyClass.B_CELL, TherapyClass.BIOLOGIC, TherapyClass.JAK, TherapyClass.IVIG
INEFF, INTOL = StopReason.INEFFICACY, StopReason.INTOLERANCE

CHILDREN: tuple[DemoChild, ...] = (
    # ---- the series: Rome (5) ----
    DemoChild(
        hospital_number="DEMO-ROM-01",
        centre="ROM",
        given_name="Ada",
        sex=Sex.FEMALE,
        diagnosis=Diagnosis.SLE,
        age_at_infusion_years=15.4,
        disease_years=4.2,
        organs=(
            Involvement(Organ.LUPUS_NEPHRITIS, "biopsy-proven, nephrotic-range proteinuria", "IV"),
            Involvement(Organ.HAEMATOLOGICAL, "autoimmune haemolytic anaemia, thrombocytopenia"),
            Involvement(Organ.SKIN, "malar rash, photosensitivity"),
        ),
        prior=(
            Line("prednisone", GC, -1530, -20),
            Line("hydroxychloroquine", AM, -1530, -20),
            Line("cyclophosphamide IV (Euro-Lupus)", CONV, -1480, -1390, INEFF),
            Line("mycophenolate mofetil", CONV, -1380, -28),
            Line("rituximab", BCELL, -900, -700, INEFF),
            Line("belimumab", BCELL, -560, -35),
        ),
        growth=((-42, "54.60", "160.5"), (-6, "54.30", "160.5")),
        cd3_collected=3.1e9,
        apheresis_volume_ml=9500,
        manufacturing_days=12,
        transduction_pct="38.5",
        viability_pct="93.1",
        cd4_cd8="1.45",
        vcn="2.6",
        bag_multiples=(1.4, 1.3, 1.1),
        bag_volume_ml="20.0",
        inpatient_days=12,
        follow_up_months=24,
    ),
    DemoChild(
        hospital_number="DEMO-ROM-02",
        centre="ROM",
        given_name="Bianca",
        sex=Sex.FEMALE,
        diagnosis=Diagnosis.SLE,
        age_at_infusion_years=13.6,
        disease_years=2.5,
        organs=(
            Involvement(Organ.CNS_LUPUS, "seizures and acute confusional state"),
            Involvement(Organ.LUPUS_NEPHRITIS, "biopsy-proven", "III"),
            Involvement(Organ.ARTHRITIS, "polyarthritis of hands and knees"),
        ),
        prior=(
            Line("methylprednisolone pulses, then prednisone", GC, -910, -21),
            Line("hydroxychloroquine", AM, -910, -21),
            Line("cyclophosphamide IV (NIH)", CONV, -900, -720, INEFF),
            Line("mycophenolate mofetil", CONV, -700, -28),
            Line("rituximab", BCELL, -420, -240, INEFF),
        ),
        growth=((-40, "47.20", "155.0"), (-6, "46.90", "155.0")),
        cd3_collected=2.6e9,
        apheresis_volume_ml=8200,
        manufacturing_days=11,
        transduction_pct="44.0",
        viability_pct="91.7",
        cd4_cd8="1.10",
        vcn="3.1",
        bag_multiples=(1.5, 1.2),
        bag_volume_ml="20.0",
        inpatient_days=14,
        follow_up_months=19,
    ),
    DemoChild(
        hospital_number="DEMO-ROM-03",
        centre="ROM",
        given_name="Chiara",
        sex=Sex.FEMALE,
        diagnosis=Diagnosis.SLE,
        age_at_infusion_years=17.3,
        disease_years=5.1,
        organs=(
            Involvement(Organ.LUPUS_NEPHRITIS, "biopsy-proven, relapsing", "IV+V"),
            Involvement(Organ.SEROSITIS, "pericarditis and pleuritis"),
            Involvement(Organ.ARTHRITIS, "non-erosive polyarthritis"),
        ),
        prior=(
            Line("prednisone", GC, -1860, -20),
            Line("hydroxychloroquine", AM, -1860, -20),
            Line("azathioprine", CONV, -1800, -1500, INTOL),
            Line("mycophenolate mofetil", CONV, -1490, -28),
            Line("tacrolimus", CONV, -800, -28),
            Line("belimumab", BCELL, -620, -35),
        ),
        growth=((-45, "57.80", "164.0"), (-6, "57.40", "164.0")),
        cd3_collected=3.4e9,
        apheresis_volume_ml=10000,
        manufacturing_days=13,
        transduction_pct="29.8",
        viability_pct="94.5",
        cd4_cd8="1.80",
        vcn="1.9",
        bag_multiples=(1.3, 1.2, 1.2, 0.9),
        bag_volume_ml="25.0",
        inpatient_days=11,
        follow_up_months=14,
    ),
    DemoChild(
        hospital_number="DEMO-ROM-04",
        centre="ROM",
        given_name="Dalia",
        sex=Sex.FEMALE,
        diagnosis=Diagnosis.JDM,
        age_at_infusion_years=5.4,
        disease_years=1.6,
        organs=(
            Involvement(Organ.MUSCLE, "severe proximal weakness, raised CK and aldolase"),
            Involvement(Organ.SKIN, "heliotrope rash, Gottron papules, skin ulceration"),
            Involvement(Organ.CALCINOSIS, "calcinosis of elbows and knees"),
        ),
        prior=(
            Line("methylprednisolone pulses, then prednisone", GC, -580, -20),
            Line("methotrexate", CONV, -575, -28),
            Line("intravenous immunoglobulin", IVIG, -500, -35),
            Line("ciclosporin", CONV, -420, -250, INTOL),
            Line("baricitinib", JAK, -240, -21),
        ),
        growth=((-40, "18.70", "109.5"), (-6, "18.50", "109.5")),
        cd3_collected=1.2e9,
        apheresis_volume_ml=3400,
        manufacturing_days=12,
        transduction_pct="52.3",
        viability_pct="95.2",
        cd4_cd8="0.90",
        vcn="3.4",
        bag_multiples=(2.0, 1.8, 1.5),
        bag_volume_ml="10.0",
        inpatient_days=13,
        apheresis_note="central venous catheter placed under sedation; no complications",
        follow_up_months=12,
    ),
    DemoChild(
        hospital_number="DEMO-ROM-05",
        centre="ROM",
        given_name="Elena",
        sex=Sex.FEMALE,
        diagnosis=Diagnosis.SSC,
        age_at_infusion_years=11.7,
        disease_years=2.8,
        organs=(
            Involvement(Organ.SKIN, "diffuse cutaneous involvement, rapidly progressive"),
            Involvement(Organ.ILD, "NSIP pattern on HRCT, FVC 68 % predicted"),
            Involvement(Organ.DIGITAL_ULCERS, "recurrent fingertip ulcers"),
            Involvement(Organ.RAYNAUD, "severe, with digital pitting"),
        ),
        prior=(
            Line("prednisone (low dose)", GC, -1000, -20),
            Line("methotrexate", CONV, -1000, -730, INEFF),
            Line("mycophenolate mofetil", CONV, -720, -28),
            Line("rituximab", BCELL, -480, -300, INEFF),
            Line("tocilizumab", BIO, -280, -42),
        ),
        growth=((-41, "33.10", "146.0"), (-6, "32.80", "146.0")),
        cd3_collected=2.2e9,
        apheresis_volume_ml=6500,
        manufacturing_days=12,
        transduction_pct="35.6",
        viability_pct="92.4",
        cd4_cd8="1.30",
        vcn="2.2",
        bag_multiples=(1.6, 1.4),
        bag_volume_ml="15.0",
        inpatient_days=10,
        follow_up_months=16,
    ),
    # ---- the series: Erlangen (3) ----
    DemoChild(
        # The published boy (Nicolai et al.): JDM, 12 years, fresh product on the CliniMACS Prodigy;
        # split Flu/Cy schedule.
        hospital_number="DEMO-ERL-01",
        centre="ERL",
        given_name="Felix",
        sex=Sex.MALE,
        diagnosis=Diagnosis.JDM,
        age_at_infusion_years=12.5,
        disease_years=3.4,
        organs=(
            Involvement(Organ.MUSCLE, "proximal weakness, wheelchair for long distances"),
            Involvement(Organ.SKIN, "heliotrope rash, Gottron papules"),
            Involvement(Organ.CALCINOSIS, "subcutaneous calcinosis of thighs"),
            Involvement(Organ.DYSPHAGIA, "intermittent dysphagia for solids"),
        ),
        prior=(
            Line("prednisolone", GC, -1240, -20),
            Line("methotrexate", CONV, -1235, -28),
            Line("intravenous immunoglobulin", IVIG, -1100, -35),
            Line("mycophenolate mofetil", CONV, -800, -500, INEFF),
            Line("ruxolitinib", JAK, -400, -21),
        ),
        growth=((-44, "40.50", "151.5"), (-6, "40.20", "151.5")),
        cd3_collected=2.9e9,
        apheresis_volume_ml=7800,
        manufacturing_days=12,
        transduction_pct="41.2",
        viability_pct="92.8",
        cd4_cd8="1.60",
        vcn="2.8",
        bag_multiples=(1.5, 1.4, 1.0),
        bag_volume_ml="20.0",
        inpatient_days=14,
        lymphodepletion=FLU_CY_SPLIT,
        follow_up_months=21,
    ),
    DemoChild(
        hospital_number="DEMO-ERL-02",
        centre="ERL",
        given_name="Greta",
        sex=Sex.FEMALE,
        diagnosis=Diagnosis.SLE,
        age_at_infusion_years=16.2,
        disease_years=3.0,
        organs=(
            Involvement(Organ.LUPUS_NEPHRITIS, "biopsy-proven, proteinuria 2.4 g/day", "IV"),
            Involvement(Organ.ARTHRITIS, "polyarthritis"),
            Involvement(Organ.SKIN, "subacute cutaneous lupus"),
        ),
        prior=(
            Line("prednisolone", GC, -1095, -20),
            Line("hydroxychloroquine", AM, -1095, -20),
            Line("azathioprine", CONV, -1050, -800, INEFF),
            Line("mycophenolate mofetil", CONV, -790, -28),
            Line("belimumab", BCELL, -500, -35),
        ),
        growth=((-43, "55.40", "165.0"), (-6, "55.10", "165.0")),
        cd3_collected=3.0e9,
        apheresis_volume_ml=9800,
        manufacturing_days=10,
        transduction_pct="24.7",
        viability_pct="90.6",
        cd4_cd8="2.10",
        vcn="1.6",
        bag_multiples=(1.2, 1.1),
        bag_volume_ml="25.0",
        inpatient_days=10,
        follow_up_months=17,
    ),
    DemoChild(
        hospital_number="DEMO-ERL-03",
        centre="ERL",
        given_name="Hanna",
        sex=Sex.FEMALE,
        diagnosis=Diagnosis.JDM,
        age_at_infusion_years=9.3,
        disease_years=2.1,
        organs=(
            Involvement(Organ.MUSCLE, "proximal weakness, raised CK"),
            Involvement(Organ.SKIN, "heliotrope rash, nailfold changes"),
            Involvement(Organ.ILD, "anti-MDA5 positive, mild ILD on HRCT"),
        ),
        prior=(
            Line("methylprednisolone pulses, then prednisolone", GC, -765, -20),
            Line("methotrexate", CONV, -760, -28),
            Line("intravenous immunoglobulin", IVIG, -700, -35),
            Line("rituximab", BCELL, -360, -180, INEFF),
        ),
        growth=((-40, "28.40", "133.0"), (-6, "28.10", "133.0")),
        cd3_collected=1.9e9,
        apheresis_volume_ml=5600,
        manufacturing_days=14,
        transduction_pct="57.9",
        viability_pct="94.0",
        cd4_cd8="0.80",
        vcn="3.6",
        bag_multiples=(1.7, 1.5, 1.2),
        bag_volume_ml="15.0",
        inpatient_days=12,
        follow_up_months=9,
    ),
    # ---- two recently infused Rome children, outside the series ----
    DemoChild(
        hospital_number="DEMO-ROM-06",
        centre="ROM",
        given_name="Irene",
        sex=Sex.FEMALE,
        diagnosis=Diagnosis.SLE,
        age_at_infusion_years=14.1,
        disease_years=2.2,
        organs=(
            Involvement(Organ.LUPUS_NEPHRITIS, "biopsy-proven, active despite induction", "IV"),
            Involvement(Organ.HAEMATOLOGICAL, "leukopenia, thrombocytopenia"),
        ),
        prior=(
            Line("prednisone", GC, -800, -20),
            Line("hydroxychloroquine", AM, -800, -20),
            Line("cyclophosphamide IV (Euro-Lupus)", CONV, -790, -700, INEFF),
            Line("mycophenolate mofetil", CONV, -690, -28),
            Line("rituximab", BCELL, -300, -150, INEFF),
        ),
        growth=((-40, "49.30", "158.0"), (-6, "49.00", "158.0")),
        cd3_collected=2.7e9,
        apheresis_volume_ml=8600,
        manufacturing_days=12,
        transduction_pct="33.4",
        viability_pct="92.0",
        cd4_cd8="1.25",
        vcn="2.4",
        bag_multiples=(1.4, 1.2),
        bag_volume_ml="20.0",
        inpatient_days=12,
        days_since_day0=70,
    ),
    DemoChild(
        hospital_number="DEMO-ROM-07",
        centre="ROM",
        given_name="Livia",
        sex=Sex.FEMALE,
        diagnosis=Diagnosis.JDM,
        age_at_infusion_years=10.5,
        disease_years=1.9,
        organs=(
            Involvement(Organ.MUSCLE, "proximal weakness, raised CK"),
            Involvement(Organ.SKIN, "heliotrope rash, Gottron papules"),
            Involvement(Organ.CALCINOSIS, "calcinosis of elbows"),
        ),
        prior=(
            Line("methylprednisolone pulses, then prednisone", GC, -690, -20),
            Line("methotrexate", CONV, -685, -28),
            Line("intravenous immunoglobulin", IVIG, -600, -35),
            Line("baricitinib", JAK, -300, -21),
        ),
        growth=((-40, "31.60", "141.0"), (-6, "31.40", "141.0")),
        cd3_collected=2.0e9,
        apheresis_volume_ml=6000,
        manufacturing_days=11,
        transduction_pct="47.5",
        viability_pct="93.6",
        cd4_cd8="1.05",
        vcn="2.9",
        bag_multiples=(1.6, 1.3, 1.1),
        bag_volume_ml="15.0",
        inpatient_days=13,
        days_since_day0=40,
    ),
)

SERIES_CHILDREN = tuple(c for c in CHILDREN if c.in_series)
RECENT_CHILDREN = tuple(c for c in CHILDREN if not c.in_series)

#: Final follow-up length (months of 30.4375 days) of each series child, by demo hospital number: the
#: follow-up issue creates visits up to it. Median 16.5, range 9–24, as published.
SERIES_FOLLOW_UP_MONTHS: dict[str, int] = {c.hospital_number: c.follow_up_months for c in SERIES_CHILDREN}
#: Days from day 0 to the first load for the two recent children (early follow-up still due).
RECENT_DAYS_SINCE_DAY0: dict[str, int] = {c.hospital_number: c.days_since_day0 for c in RECENT_CHILDREN}

GUARDIAN_CONSENT_DAY = -56  # study day of guardian consent (and assent from age 7)
ASSENT_MIN_AGE_YEARS = 7


# --- loading ------------------------------------------------------------------------------------------------


def _years_later(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _days(years: float) -> int:
    return round(years * 365.25)


def _load_child(child: DemoChild, *, product: Product, centres: dict[str, Centre], today: dt.date, user: Any):
    """Create one child's path from enrolment to day 0; return the patient and counts of rows created."""
    day0 = child.day0(today)

    def on(study_day: int) -> dt.date:
        return day0 + dt.timedelta(days=study_day)

    counts: dict[str, int] = {}

    def count(kind: str, n: int = 1) -> None:
        counts[kind] = counts.get(kind, 0) + n

    dob = day0 - dt.timedelta(days=_days(child.age_at_infusion_years))
    consent = on(GUARDIAN_CONSENT_DAY)
    majority = _years_later(dob, 18) + dt.timedelta(days=30)
    number = child.hospital_number.removeprefix("DEMO-")
    patient = patients.patient_enrol(
        centre=centres[child.centre],
        sex=child.sex,
        diagnosis=child.diagnosis,
        recorded_by=user,
        is_illustrative=True,
        identity={
            "given_name": child.given_name,
            "family_name": child.family_name,
            "date_of_birth": dob,
            "hospital_number": child.hospital_number,
            "contact": "Invented demo guardian; no real contact.",
        },
        classification_criteria=CRITERIA_FOR_DIAGNOSIS[child.diagnosis],
        diagnosis_date=day0 - dt.timedelta(days=_days(child.disease_years)),
        treatment_pathway=TreatmentPathway.HOSPITAL_EXEMPTION,
        approval_reference=f"HE-DEMO-{number} (illustrative)",
        guardian_consent_date=consent,
        child_assent_date=consent if child.age_at_infusion_years >= ASSENT_MIN_AGE_YEARS else None,
        # Re-consent a month after the 18th birthday, when that falls within the follow-up so far.
        reconsent_at_majority_date=majority if majority <= today else None,
    )
    count("patients")
    for item in child.organs:
        patients.organ_involvement_record(
            patient=patient,
            organ=item.organ,
            nephritis_class=item.nephritis_class,
            detail=item.detail,
            recorded_by=user,
        )
        count("organ_involvements")
    for line in child.prior:
        patients.prior_therapy_record(
            patient=patient,
            drug=line.drug,
            therapy_class=line.therapy_class,
            start_date=on(line.start),
            stop_date=on(line.stop),
            reason_stopped=line.reason,
            recorded_by=user,
        )
        count("prior_therapies")
    growth = None
    for study_day, weight, height in child.growth:
        growth = patients.growth_record(
            patient=patient,
            measured_on=on(study_day),
            weight_kg=Decimal(weight),
            height_cm=Decimal(height),
            recorded_by=user,
        )
        count("growth_measurements")
    assert growth is not None  # the table always has a pre-lymphodepletion measurement

    # Fresh product: apheresis and manufacturing start on the same day, release and infusion on day 0.
    apheresis = dosing.apheresis_record(
        patient=patient,
        performed_on=on(-child.manufacturing_days),
        cd3_cells_collected=child.cd3_collected,
        volume_processed_ml=child.apheresis_volume_ml,
        complications=child.apheresis_note,
        recorded_by=user,
    )
    count("aphereses")
    dose_cells = float(growth.weight_kg) * product.target_cells_per_kg
    bag_cells = [round(m * dose_cells, -4) for m in child.bag_multiples]
    run = dosing.manufacturing_run_record(
        apheresis=apheresis,
        product=product,
        started_on=apheresis.performed_on,
        finished_on=day0,
        product_state=ProductState.FRESH,
        platform="CliniMACS Prodigy",
        site=SITES[child.centre],
        transduction_efficiency_pct=Decimal(child.transduction_pct),
        viability_pct=Decimal(child.viability_pct),
        cd4_cd8_ratio=Decimal(child.cd4_cd8),
        vector_copy_number=Decimal(child.vcn),
        total_viable_car_t_cells=sum(bag_cells),
        outcome=RunOutcome.SUCCESS,
        recorded_by=user,
    )
    count("manufacturing_runs")
    for index, cells in enumerate(bag_cells, start=1):
        dosing.product_bag_record(
            run=run,
            identifier=f"MB19-{number}-{index}",
            car_t_cells=cells,
            volume_ml=Decimal(child.bag_volume_ml),
            recorded_by=user,
        )
        count("bags")
    # Release specifications are illustrative demo settings; every result passes.
    release = (
        {"kind": ReleaseTestKind.STERILITY, "spec_expected": "negative", "result_text": "negative"},
        {"kind": ReleaseTestKind.ENDOTOXIN, "spec_max": 0.5, "result_value": 0.1},
        {"kind": ReleaseTestKind.MYCOPLASMA, "spec_expected": "negative", "result_text": "negative"},
        {"kind": ReleaseTestKind.VCN, "spec_max": 5.0, "result_value": float(child.vcn)},
        {"kind": ReleaseTestKind.VIABILITY, "spec_min": 70.0, "result_value": float(child.viability_pct)},
        {"kind": ReleaseTestKind.IDENTITY, "spec_min": 10.0, "result_value": float(child.transduction_pct)},
    )
    for test in release:
        dosing.release_test_record(run=run, recorded_by=user, **test)
        count("release_tests")

    for agent, study_day, mg_per_m2 in child.lymphodepletion:
        plan = dosing.lymphodepletion_preview(
            patient=patient, given_on=on(study_day), mg_per_m2=Decimal(mg_per_m2), growth=growth
        )
        dosing.lymphodepletion_dose_record(
            patient=patient,
            agent=agent,
            given_on=on(study_day),
            mg_per_m2=Decimal(mg_per_m2),
            given_mg=plan.planned_mg.quantize(Decimal("1"), ROUND_HALF_UP),  # rounded to whole mg
            growth=growth,
            recorded_by=user,
        )
        count("lymphodepletion_doses")

    dosing.admission_record(
        patient=patient,
        admitted_on=on(-1),
        discharged_on=on(child.inpatient_days),
        reason=AdmissionReason.INFUSION,
        recorded_by=user,
    )
    count("admissions")
    # The infusion plan the clinician sees: 1 × 10⁶ CAR+ T cells/kg drawn from the first bag.
    plan = dosing.infusion_plan(run=run, growth=growth)
    dosing.infusion_record(
        patient=patient,
        run=run,
        infused_on=day0,
        growth=growth,
        car_t_cells_infused=plan.cells_required,
        volume_infused_ml=plan.total_volume_ml,
        bags=[bag_plan.bag for bag_plan in plan.bags],
        premedication=PREMEDICATION,
        recorded_by=user,
    )
    count("infusions")
    return patient, counts


def _product(user: Any) -> tuple[Product, int]:
    product = Product.objects.filter(code=PRODUCT["code"]).first()
    if product is not None:
        return product, 0
    # Products are reference data without a service of their own: validated and audited here.
    product = Product(**PRODUCT)
    product.full_clean()
    save_audited(product, user=user)
    return product, 1


@transaction.atomic
def load_demo_series(*, today: dt.date | None = None) -> dict[str, int]:
    """Load the illustrative series and the two recent Rome children; return the rows created by kind.

    ``today`` (default: the local date) anchors day 0 of each child; it must not be in the future.
    Children already present (by demo hospital number) are skipped; the series is created if absent.
    Needs the demo centres (:func:`registry.demo.load_base_demo`).
    """
    today = today or timezone.localdate()
    user = get_system_user()
    created: dict[str, int] = {"products": 0, "patients": 0, "case_series": 0}
    with acting_as(user):
        product, created["products"] = _product(user)
        centres = {c.code: c for c in Centre.objects.filter(code__in={c.centre for c in CHILDREN})}
        series_patients = []
        for child in CHILDREN:
            identity = (
                PatientIdentity.objects.select_related("patient")
                .filter(hospital_number=child.hospital_number, patient__is_illustrative=True)
                .first()
            )
            if identity is not None:
                patient = identity.patient
            else:
                patient, counts = _load_child(child, product=product, centres=centres, today=today, user=user)
                for kind, n in counts.items():
                    created[kind] = created.get(kind, 0) + n
            if child.in_series:
                series_patients.append(patient)
        if not CaseSeries.objects.filter(name=SERIES_NAME).exists():
            patients.case_series_create(
                name=SERIES_NAME,
                description=SERIES_DESCRIPTION,
                patients=series_patients,
                is_illustrative=True,
                recorded_by=user,
            )
            created["case_series"] = 1
    return created
