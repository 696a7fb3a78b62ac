"""A synthetic registry for benchmarks: thousands of clinically plausible children, inserted in bulk.

**Every value here is invented; no row describes a real child.** The generator exists to measure the registry
at the scale of a multi-centre, multi-year programme (DESIGN §7: 10,000 patients, ≈40 visits, 300 laboratory
values and 20 toxicity assessments each). The per-object, audited path of the services would take hours, so
this is the one writer allowed to skip the audit trail (DESIGN §5), and it therefore **refuses to run on a
database that holds any real (non-synthetic) patient**. Every patient it creates has ``is_synthetic=True``.

**Bulk inserts, in chunks** of ``chunk`` patients (one transaction each): the parent tables whose keys other
rows need (patients, growth, apheresis, manufacturing runs, bags, infusions) go through ``bulk_create`` in
batches; the high-volume leaf tables (visits, instruments, laboratory results, CRS/ICANS assessments,
medications, …) are written from plain values with PostgreSQL ``COPY … FROM STDIN`` (``executemany`` on
SQLite), because Django's per-value SQL compilation in ``bulk_create`` costs ≈10 µs a value — minutes for
10,000 patients. Visit keys are reserved from the table's sequence before the copy.

**Deterministic**: the same ``seed`` (and ``today``) on an empty database gives the same registry, row for
row: each patient draws from its own random stream ``Random(f"{seed}:{index}")``. Only ``created_at`` of rows
entered in the last two days depends on the clock (entry times are capped at "now").

**Consistent**: every computed field is computed by the registry's own pure modules on the stored inputs, as
the services would — CRS grades by :func:`adverse_events.services.crs_sequence` (ASTCT 2019 with the episode's
"already treated" rule), ICANS tool and grade, ICE and CAPD scores, laboratory canonical values and CTCAE
grades (:mod:`outcomes.labs`, :func:`adverse_events.grading.ctcae_grade`), body-surface area, lymphodepletion
plan and deviation, infusion dose, % of target and dose window (:mod:`dosing.calculations`), SLEDAI-2K, DORIS,
LLDAS, eGFR, CMAS, MMT8, total improvement score, PRINTO, mRSS, EUSTAR-AI (:mod:`outcomes.instruments`),
prednisone equivalents, release-test results and proposed infection grades. One documented difference: the JDM
total improvement score is computed against the *screening* visit (the clinical baseline), whereas
``outcomes.services._baseline_visit`` takes the last visit on or before day 0, which here is the
instrument-less day-0 visit.

What a child gets (distributions chosen to resemble the published paediatric and adult CD19 CAR T series in
autoimmune disease; approximate):

* **Enrolment**: diagnosis SLE 55%, JDM 25%, SSc 20%; sex by diagnosis; age at infusion 5–17 years; centre
  drawn with unequal sizes; infusions spread over the last eight years; status active, lost to follow-up
  (3%), consent withdrawn (1%), deceased (0.5%); 2% enrolled recently and not yet infused (no day 0); 0.2%
  voided enrolments.
* **Baseline**: organ involvement by diagnosis, prior therapy lines (earlier ones stopped for inefficacy, the
  running ones stopped for CAR T before apheresis), growth at screening, before lymphodepletion and during
  follow-up (height and weight grow with age).
* **Product**: apheresis, a point-of-care manufacturing run (2% fail and are repeated) with 1–2 bags and six
  release tests, fludarabine 25 mg/m² × 3 (D−5…D−3) and cyclophosphamide 1000 mg/m² (D−3) on the measured BSA,
  infusion at 1 × 10⁶ CAR T cells/kg (± 10%; 2% below the window, justified), the infusion admission.
* **Toxicity**: CRS and ICANS assessed daily from day 0 to discharge (day 6–14): CRS in ≈60% (grade ≥ 3 in
  ≈3%), ICANS in ≈13% (grade ≥ 3 in ≈2%), with tocilizumab, corticosteroids and ICU stays; infections and
  other adverse events; G-CSF and transfusions where the counts call for them.
* **Laboratory** (≈300 values): daily blood counts D−5…D14 with the neutrophil nadir and recovery (and a late
  dip in 15%), CRP, ferritin, IL-6 with CRS, CAR T expansion (peak day 7–14) and contraction, B-cell aplasia
  and reconstitution (median ≈ day 110), immunoglobulins falling, disease labs normalising (complement,
  anti-dsDNA and proteinuria in SLE, CK and aldolase in JDM). Some centres report in other units (10⁹/L, g/dL,
  mg/dL, mg/g); 0.3% of values have a voided mistyped twin.
* **Follow-up**: the scheduled visits of the default protocol up to today (D21, D28, M2 … M24, then yearly;
  4% missed), weekly checks to D49 and monthly unscheduled visits in the first year; the diagnosis' instrument
  at screening and at every scheduled follow-up visit from D28; glucocorticoids tapered to none by month 2–6
  and immunomodulators stopped, restarted only at a flare (≈7%).

Use :func:`generate` (or ``manage.py generate_registry``).
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import math
import random
import time
import zoneinfo
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Max
from django.utils import timezone

from adverse_events import grading
from adverse_events.models import AdverseEvent, CrsAssessment, IcansAssessment, Infection, SupportiveCare
from adverse_events.services import crs_sequence
from dosing import calculations
from dosing.models import (
    Admission,
    Apheresis,
    Infusion,
    InfusionBag,
    LymphodepletionDose,
    ManufacturingRun,
    Product,
    ProductBag,
    ReleaseTest,
)
from dosing.services import release_test_passed
from outcomes import instruments, scores
from outcomes.labs import ANALYTES, CTCAE_TERM_FOR_ANALYTE
from outcomes.models import (
    DOSES_PER_DAY,
    JdmAssessment,
    LabResult,
    Medication,
    ScheduleTimepoint,
    SledaiAssessment,
    SscAssessment,
    Visit,
)
from patients.baseline import summarise
from patients.models import (
    CRITERIA_FOR_DIAGNOSIS,
    BaselineSummary,
    GrowthMeasurement,
    OrganInvolvement,
    Patient,
    PatientIdentity,
    PriorTherapy,
)
from registry.api_clients import api_client_patients_add
from registry.models import CaseSeries, Centre

DEFAULT_CENTRES = 12
DEFAULT_SEED = 1
#: Patients generated and inserted together (one transaction).
DEFAULT_CHUNK = 200
BULK_BATCH = 1000
#: Infusions are spread over the last this many years (the programme's age).
PROGRAMME_YEARS = 8
MONTH = 30.4375
VOID_REASON = "Entered in error (synthetic)"
ASSESSOR = "Synthetic clinician"

PRODUCT = {
    "name": "Synthetic CD19 CAR T (benchmark product)",
    "code": "synthetic-cd19",
    "target_antigen": "CD19",
    "costimulatory_domain": "4-1BB",
    "vector": "lentiviral",
    "target_cells_per_kg": 1e6,
    "min_cells_per_kg": 0.8e6,
    "max_cells_per_kg": 1.2e6,
}

#: (city, country, time zone) of the synthetic centres, cycled.
SITES = (
    ("Rome", "IT", "Europe/Rome"),
    ("Erlangen", "DE", "Europe/Berlin"),
    ("Paris", "FR", "Europe/Paris"),
    ("Madrid", "ES", "Europe/Madrid"),
    ("London", "GB", "Europe/London"),
    ("Amsterdam", "NL", "Europe/Amsterdam"),
    ("Vienna", "AT", "Europe/Vienna"),
    ("Zurich", "CH", "Europe/Zurich"),
    ("Stockholm", "SE", "Europe/Stockholm"),
    ("Warsaw", "PL", "Europe/Warsaw"),
    ("Lisbon", "PT", "Europe/Lisbon"),
    ("Athens", "GR", "Europe/Athens"),
    ("Helsinki", "FI", "Europe/Helsinki"),
    ("Dublin", "IE", "Europe/Dublin"),
    ("Prague", "CZ", "Europe/Prague"),
    ("Boston", "US", "America/New_York"),
)
#: Centres in these countries report counts in 10⁹/L, haemoglobin in g/dL, creatinine in mg/dL, UPCR in mg/g.
ALTERNATE_UNIT_COUNTRIES = frozenset({"DE", "AT", "CH", "US"})

#: Parent tables, written with ``bulk_create`` (their keys are needed by other rows), in dependency order.
ORM_MODELS = (Patient, GrowthMeasurement, Apheresis, ManufacturingRun, ProductBag, Infusion)
#: Leaf tables, written from plain values with COPY / executemany; Visit first (instruments reference it).
COPY_MODELS = (
    Visit,
    PatientIdentity,
    OrganInvolvement,
    PriorTherapy,
    BaselineSummary,
    ReleaseTest,
    LymphodepletionDose,
    InfusionBag,
    Admission,
    SledaiAssessment,
    JdmAssessment,
    SscAssessment,
    LabResult,
    Medication,
    CrsAssessment,
    IcansAssessment,
    SupportiveCare,
    Infection,
    AdverseEvent,
)


class RealPatientsPresent(Exception):
    """The database holds real patients: the generator refuses to write to it."""


def refuse_if_real_patients() -> None:
    """Raise :class:`RealPatientsPresent` when any non-synthetic patient (voided or not) exists."""
    real = Patient.objects.filter(is_synthetic=False).count()
    if real:
        raise RealPatientsPresent(
            f"Refusing to generate a synthetic registry: this database holds {real} real (non-synthetic) "
            "patient(s). The generator bulk-inserts without an audit trail, which DESIGN §5 allows only on a "
            "database of synthetic patients. Use an empty database instead, e.g. `createdb registry_bench` "
            "and DATABASE_URL=postgres://…/registry_bench, then `manage.py migrate`."
        )


@dataclass
class GenerationResult:
    patients: int
    rows: dict[str, int]
    seconds: float
    series: CaseSeries | None = None

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def patients_per_second(self) -> float:
        return self.patients / self.seconds if self.seconds else 0.0

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.seconds if self.seconds else 0.0


def series_name(seed: int) -> str:
    """The case series holding every synthetic patient generated with ``seed``."""
    return f"Synthetic registry (seed {seed})"


# --- small helpers ----------------------------------------------------------------------------------------


def _q(value: float, places: str) -> Decimal:
    return Decimal(str(value)).quantize(Decimal(places), rounding=ROUND_HALF_UP)


def _clamp(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value


class _Curve:
    """Piecewise-linear interpolation through (day, value) points (in log space for cell counts)."""

    __slots__ = ("days", "values", "log")

    def __init__(self, points: list[tuple[int, float]], *, log: bool = False) -> None:
        points = sorted(points, key=lambda p: p[0])
        self.days = [d for d, _ in points]
        self.log = log
        self.values = [math.log(max(v, 1e-3)) if log else v for _, v in points]

    def __call__(self, day: float) -> float:
        days, values = self.days, self.values
        if day <= days[0]:
            v = values[0]
        elif day >= days[-1]:
            v = values[-1]
        else:
            i = bisect.bisect_right(days, day)
            d0, d1 = days[i - 1], days[i]
            v = values[i - 1] + (values[i] - values[i - 1]) * (day - d0) / (d1 - d0)
        return math.exp(v) if self.log else v


def _weighted(rng: random.Random, options: dict[Any, float]) -> Any:
    return rng.choices(list(options), weights=list(options.values()))[0]


# --- reference data ---------------------------------------------------------------------------------------

#: Canonical reference ranges (LLN, ULN) by age band (< 6, 6–11, ≥ 12 years); None: not reported.
RANGES: dict[str, tuple[tuple[float | None, float | None], ...]] = {
    "wbc": ((5000, 15500), (4500, 13500), (4000, 11000)),
    "anc": ((1500, 8500), (1500, 8000), (1500, 7500)),
    "alc": ((2000, 8000), (1500, 6500), (1000, 4800)),
    "platelets": ((150, 450),) * 3,
    "haemoglobin": ((110, 140), (115, 155), (120, 160)),
    "cd19": ((200, 1300), (200, 900), (100, 500)),
    "cd3": ((900, 4500), (800, 3500), (700, 2100)),
    "cd4": ((500, 2400), (400, 2100), (300, 1400)),
    "cd8": ((300, 1600), (200, 1200), (200, 900)),
    "car_t": ((None, None),) * 3,
    "transgene": ((None, None),) * 3,
    "igg": ((5.0, 13.0), (6.0, 15.0), (7.0, 16.0)),
    "iga": ((0.3, 2.0), (0.5, 2.5), (0.7, 3.0)),
    "igm": ((0.4, 1.8), (0.4, 2.0), (0.4, 2.3)),
    "crp": ((0, 5),) * 3,
    "ferritin": ((10, 150),) * 3,
    "il6": ((None, 7),) * 3,
    "creatinine": ((20, 45), (30, 60), (40, 85)),
    "upcr": ((0, 0.2),) * 3,
    "c3": ((0.9, 1.8),) * 3,
    "c4": ((0.1, 0.4),) * 3,
    "anti_dsdna": ((0, 10),) * 3,
    "ck": ((30, 200),) * 3,
    "aldolase": ((1.0, 8.0),) * 3,
    "ldh": ((120, 300),) * 3,
    "ast": ((10, 40),) * 3,
    "alt": ((7, 35),) * 3,
}
#: Decimals of the value as reported in the canonical unit (−1: to the nearest ten).
DECIMALS = {
    "wbc": -1,
    "anc": -1,
    "alc": -1,
    "platelets": 0,
    "haemoglobin": 0,
    "cd19": 0,
    "cd3": 0,
    "cd4": 0,
    "cd8": 0,
    "car_t": 2,
    "transgene": 0,
    "igg": 1,
    "iga": 2,
    "igm": 2,
    "crp": 1,
    "ferritin": 0,
    "il6": 1,
    "creatinine": 0,
    "upcr": 2,
    "c3": 2,
    "c4": 2,
    "anti_dsdna": 0,
    "ck": 0,
    "aldolase": 1,
    "ldh": 0,
    "ast": 0,
    "alt": 0,
}
#: Units of the "alternate" laboratories: (unit, factor to the canonical unit, decimals).
ALTERNATE_UNITS = {
    "wbc": ("10^9/L", 1000.0, 2),
    "anc": ("10^9/L", 1000.0, 2),
    "alc": ("10^9/L", 1000.0, 2),
    "haemoglobin": ("g/dL", 10.0, 1),
    "creatinine": ("mg/dL", 88.42, 2),
    "upcr": ("mg/g", 0.001, 0),
}
LAB_SOURCE = {
    "cd19": "flow_cytometry",
    "cd3": "flow_cytometry",
    "cd4": "flow_cytometry",
    "cd8": "flow_cytometry",
    "car_t": "flow_cytometry",
    "transgene": "qpcr",
}
CBC = ("wbc", "anc", "alc", "platelets", "haemoglobin")

ORGANS = {
    "sle": {
        "lupus_nephritis": 0.6,
        "haematological": 0.5,
        "skin": 0.55,
        "arthritis": 0.4,
        "serositis": 0.2,
        "cns_lupus": 0.08,
    },
    "jdm": {
        "muscle": 1.0,
        "skin": 1.0,
        "calcinosis": 0.2,
        "interstitial_lung_disease": 0.1,
        "dysphagia": 0.1,
    },
    "ssc": {
        "skin": 1.0,
        "raynaud": 1.0,
        "interstitial_lung_disease": 0.5,
        "digital_ulcers": 0.3,
        "gastrointestinal": 0.2,
    },
}
#: (drug, therapy class, B-cell-targeted, probability, medication while running: class, dose, unit, frequency)
PRIOR_LINES = {
    "sle": [
        ("hydroxychloroquine", "antimalarial", False, 1.0, ("immunomodulator", "200", "mg", "daily")),
        (
            "mycophenolate mofetil",
            "conventional_immunosuppressant",
            False,
            0.9,
            ("immunomodulator", "600", "mg", "bid"),
        ),
        ("cyclophosphamide", "conventional_immunosuppressant", False, 0.3, None),
        ("rituximab", "b_cell_targeted", True, 0.4, None),
        ("belimumab", "b_cell_targeted", True, 0.25, ("immunomodulator", "10", "mg/kg", "monthly")),
        ("tacrolimus", "conventional_immunosuppressant", False, 0.15, ("immunomodulator", "2", "mg", "bid")),
    ],
    "jdm": [
        (
            "methotrexate",
            "conventional_immunosuppressant",
            False,
            1.0,
            ("immunomodulator", "15", "mg", "weekly"),
        ),
        ("intravenous immunoglobulin", "ivig", False, 0.7, ("ivig", "2", "g/kg", "monthly")),
        ("baricitinib", "jak_inhibitor", False, 0.4, ("immunomodulator", "4", "mg", "daily")),
        ("rituximab", "b_cell_targeted", True, 0.3, None),
        ("cyclosporine", "conventional_immunosuppressant", False, 0.2, None),
        ("mycophenolate mofetil", "conventional_immunosuppressant", False, 0.25, None),
    ],
    "ssc": [
        (
            "mycophenolate mofetil",
            "conventional_immunosuppressant",
            False,
            1.0,
            ("immunomodulator", "1000", "mg", "bid"),
        ),
        ("methotrexate", "conventional_immunosuppressant", False, 0.5, None),
        ("tocilizumab", "biologic", False, 0.3, ("immunomodulator", "162", "mg", "weekly")),
        ("rituximab", "b_cell_targeted", True, 0.3, None),
        ("nintedanib", "other", False, 0.15, ("other", "100", "mg", "bid")),
    ],
}
#: SLE clinical descriptors: (organ that must be involved or None, probability at full activity).
SLE_CLINICAL = {
    "rash": ("skin", 0.8),
    "alopecia": (None, 0.25),
    "mucosal_ulcers": (None, 0.3),
    "arthritis": ("arthritis", 0.9),
    "pleurisy": ("serositis", 0.6),
    "pericarditis": ("serositis", 0.3),
    "hematuria": ("lupus_nephritis", 0.6),
    "urinary_casts": ("lupus_nephritis", 0.3),
    "pyuria": ("lupus_nephritis", 0.2),
    "lupus_headache": ("cns_lupus", 0.5),
    "fever": (None, 0.15),
}
CMAS_MAXIMA = dict(scores.CMAS_ITEM_MAXIMA)
MMT8_MAXIMA = dict.fromkeys(scores.MMT8_ITEMS, 10)
MRSS_MAXIMA = dict.fromkeys(scores.MRSS_SITES, 3)
CAPD_POINTS = ("never", "rarely", "sometimes", "often", "always")
GIVEN_NAMES = (
    "Alex",
    "Sam",
    "Robin",
    "Charlie",
    "Jamie",
    "Noa",
    "Luca",
    "Mia",
    "Leo",
    "Emma",
    "Elia",
    "Lena",
)
INSTRUMENT_TIMEPOINTS = frozenset({"screening", "d28", "m2", "m3", "m6", "m9", "m12", "m15", "m18", "m24"})
JDM_VALUES = ("cmas", "mmt8", "physician_global", "patient_global", "chaq", "extramuscular")


def _spread(total: int, maxima: dict[str, int]) -> dict[str, int]:
    """Item scores adding up to ``total``: the deficit from the maxima is taken a point at a time, in turn."""
    items = dict(maxima)
    keys = list(items)
    deficit = sum(maxima.values()) - total
    i = 0
    while deficit > 0:
        key = keys[i % len(keys)]
        if items[key] > 0:
            items[key] -= 1
            deficit -= 1
        i += 1
    return items


def _capd_answers(score: int) -> dict[str, str]:
    """CAPD answers adding up to ``score`` (items 1–4 reverse-scored: never = 4; items 5–8 direct)."""
    points = _spread(score, {str(i): 4 for i in range(1, 9)})
    return {k: CAPD_POINTS[4 - p] if int(k) <= 4 else CAPD_POINTS[p] for k, p in points.items()}


class _CrsObservation:
    """The inputs of one CRS assessment, as :func:`adverse_events.services.crs_sequence` reads them."""

    def __init__(self, **values: Any) -> None:
        self.max_temperature_c = values.get("max_temperature_c")
        self.fever_other_cause = values.get("fever_other_cause", False)
        self.antipyretic_given = values.get("antipyretic_given", False)
        self.hypotension = values.get("hypotension", False)
        self.vasopressors = values.get("vasopressors", [])
        self.oxygen_device = values.get("oxygen_device", "none")
        self.oxygen_flow_l_min = values.get("oxygen_flow_l_min")
        self.tocilizumab_mg_per_kg = values.get("tocilizumab_mg_per_kg")
        self.corticosteroid_given = values.get("corticosteroid_given", False)
        self.anakinra_given = values.get("anakinra_given", False)
        self.died_of_crs = False

    anticytokine_or_antipyretic_given = CrsAssessment.anticytokine_or_antipyretic_given


# --- the bulk writer --------------------------------------------------------------------------------------


class _Ref:
    """A primary key known only when the chunk is written (visits, referenced by their instruments)."""

    __slots__ = ("pk",)

    def __init__(self) -> None:
        self.pk: int | None = None


_MISSING = object()


def _sqlite_datetime(value: dt.datetime) -> str:
    return str(value.astimezone(dt.UTC).replace(tzinfo=None))  # as Django stores it: naive UTC


def _converter(kind: str, vendor: str, *, relation: bool) -> Callable[[Any], Any] | None:
    """How a Python value of a field of ``kind`` is handed to the driver (None: as it is)."""
    if relation:
        return lambda v: v if isinstance(v, int) else v.pk
    if kind == "JSONField":
        return json.dumps
    if vendor == "sqlite":
        return {
            "DateTimeField": _sqlite_datetime,
            "DateField": str,
            "DecimalField": str,
            "BooleanField": int,
        }.get(kind)
    return None


class _Table:
    """Value dicts → rows of one model's table, for COPY (PostgreSQL) or executemany (SQLite)."""

    def __init__(self, model: type[models.Model], vendor: str) -> None:
        self.model = model
        self.vendor = vendor
        self.table = model._meta.db_table
        self.columns: list[str] = []
        self.plan: list[tuple[str, Any, bool, Callable[[Any], Any] | None]] = []
        for f in model._meta.concrete_fields:
            if f.primary_key and not f.is_relation and model is not Visit:
                continue  # the database numbers the rows; visits carry keys reserved in advance
            factory = callable(f.default) and f.has_default()
            converter = _converter(f.get_internal_type(), vendor, relation=f.is_relation or f.primary_key)
            self.columns.append(f.column)
            key = f.name if f.is_relation else f.attname
            self.plan.append((key, f.default if factory else f.get_default(), factory, converter))

    def convert(self, row: dict[str, Any]) -> tuple:
        values = []
        get = row.get
        for key, default, factory, converter in self.plan:
            v = get(key, _MISSING)
            if v is _MISSING:
                v = default() if factory else default
            values.append(v if converter is None or v is None else converter(v))
        return tuple(values)

    def write(self, rows: list[dict[str, Any]]) -> None:
        names = ", ".join(connection.ops.quote_name(c) for c in self.columns)
        table = connection.ops.quote_name(self.table)
        with connection.cursor() as cursor:
            if self.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(self.convert(row))
            else:
                marks = ", ".join(["%s"] * len(self.columns))
                insert = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608 - model metadata
                cursor.executemany(insert, [self.convert(r) for r in rows])

    def reserve(self, count: int) -> list[int]:
        """``count`` new primary keys (from the sequence on PostgreSQL, after the maximum on SQLite)."""
        with connection.cursor() as cursor:
            if self.vendor == "postgresql":
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                    [self.table, count],
                )
                return [r[0] for r in cursor.fetchall()]
            table = connection.ops.quote_name(self.table)
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608 - the model's table
            first = cursor.fetchone()[0] + 1
            return list(range(first, first + count))


@dataclass
class _Rows:
    """Rows of a chunk of patients: model objects for ``bulk_create``, value dicts for the copy."""

    objects: dict[type[models.Model], list[models.Model]] = field(
        default_factory=lambda: {m: [] for m in ORM_MODELS}
    )
    values: dict[type[models.Model], list[dict[str, Any]]] = field(
        default_factory=lambda: {m: [] for m in COPY_MODELS}
    )

    def write(self, tables: dict[type[models.Model], _Table], counts: dict[str, int]) -> None:
        for model in ORM_MODELS:
            objs = self.objects[model]
            if objs:
                model.objects.bulk_create(objs, batch_size=BULK_BATCH)
                counts[model._meta.label] = counts.get(model._meta.label, 0) + len(objs)
        visits = self.values[Visit]
        for ref, pk in zip(
            (v["id"] for v in visits), tables[Visit].reserve(len(visits)) if visits else [], strict=True
        ):
            ref.pk = pk
        for model in COPY_MODELS:
            rows = self.values[model]
            if rows:
                tables[model].write(rows)
                counts[model._meta.label] = counts.get(model._meta.label, 0) + len(rows)


@contextmanager
def explicit_timestamps() -> Iterator[None]:
    """Let ``bulk_create`` keep the ``created_at``/``updated_at`` that the generator sets (entry time)."""
    saved = []
    for model in ORM_MODELS:
        for name in ("created_at", "updated_at"):
            f = model._meta.get_field(name)
            saved.append((f, f.auto_now, f.auto_now_add))
            f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, auto_now, auto_now_add in saved:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


# --- the registry-level context ---------------------------------------------------------------------------


@dataclass
class _Context:
    seed: int
    today: dt.date
    now: dt.datetime
    product: Product
    timepoints: dict[str, ScheduleTimepoint]
    zones: dict[int, zoneinfo.ZoneInfo]
    alternate_units: dict[int, bool]
    next_sequence: dict[int, int]


def _centres(count: int) -> list[Centre]:
    centres = []
    for k in range(count):
        code = "S" + chr(65 + (k // 26) % 26) + chr(65 + k % 26)
        city, country, zone = SITES[k % len(SITES)]
        centre = Centre.objects.filter(code=code).first()
        if centre is None:
            centre = Centre.objects.create(
                code=code, name=f"Synthetic centre {k + 1:02d} ({city})", country=country, time_zone=zone
            )
        centres.append(centre)
    return centres


def _product() -> Product:
    product = Product.objects.filter(code=PRODUCT["code"]).first()
    return product or Product.objects.create(**PRODUCT)


# --- one child --------------------------------------------------------------------------------------------


class _Child:
    """Builds every row of one synthetic child from its own random stream."""

    def __init__(self, ctx: _Context, index: int, centre: Centre, rows: _Rows) -> None:
        self.ctx = ctx
        self.rng = random.Random(f"{ctx.seed}:{index}")
        self.index = index
        self.centre = centre
        self.zone = ctx.zones[centre.pk]
        self.alternate_units = ctx.alternate_units[centre.pk]
        self.rows = rows
        self.today = ctx.today
        self.labs: list[tuple[dt.date, str, float, float | None, float | None]] = []  # for the instruments
        self.baseline_jdm: tuple[dt.date, dict[str, Any]] | None = None
        self.meds: list[dict[str, Any]] = []
        self.growth: list[GrowthMeasurement] = []
        self.organs: list[str] = []

    # --- time and row helpers ------------------------------------------------------------------------------

    def at(self, on: dt.date, hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime(on.year, on.month, on.day, hour, minute, tzinfo=self.zone)

    def day(self, d: int) -> dt.date:
        return self.day0 + dt.timedelta(days=d)

    def entered(self, moment: dt.datetime) -> dt.datetime:
        """When the row was typed in: half an hour to two days after the event, never in the future."""
        return min(moment + dt.timedelta(minutes=self.rng.randint(30, 2880)), self.ctx.now)

    def obj(self, obj: models.Model, moment: dt.datetime) -> Any:
        obj.created_at = obj.updated_at = self.entered(moment)
        self.rows.objects[type(obj)].append(obj)
        return obj

    def put(self, model: type[models.Model], moment: dt.datetime | None, **values: Any) -> dict[str, Any]:
        if moment is not None:
            values["created_at"] = values["updated_at"] = self.entered(moment)
        self.rows.values[model].append(values)
        return values

    # --- the whole child -----------------------------------------------------------------------------------

    def build(self) -> None:
        rng = self.rng
        self.diagnosis = _weighted(rng, {"sle": 0.55, "jdm": 0.25, "ssc": 0.20})
        self.sex = (
            "female" if rng.random() < {"sle": 0.85, "jdm": 0.6, "ssc": 0.75}[self.diagnosis] else "male"
        )
        self.age0 = rng.uniform({"sle": 8.0, "jdm": 5.0, "ssc": 7.0}[self.diagnosis], 17.95)
        self.infused = rng.random() >= 0.02
        days_back = rng.randint(15, PROGRAMME_YEARS * 365) if self.infused else -rng.randint(10, 50)
        self.day0 = self.today - dt.timedelta(days=days_back)  # the planned day 0 when not yet infused
        self.dob = self.day0 - dt.timedelta(days=round(self.age0 * 365.25))
        self.band = 0 if self.age0 < 6 else 1 if self.age0 < 12 else 2
        years_ill = rng.uniform(1.0, max(1.2, min(self.age0 - 3.5, 8.0)))
        self.diagnosis_date = self.day0 - dt.timedelta(days=round(years_ill * 365.25))
        self.screening = self.day(-rng.randint(31, 45))
        self.apheresis_on = self.day(-rng.randint(22, 30))
        self.consent = self.screening - dt.timedelta(days=rng.randint(3, 20))
        self.voided = rng.random() < 0.002
        self.courses()
        self.patient_rows()
        if self.voided:
            return
        self.baseline_rows()
        self.growth_rows()
        self.medication_rows()  # before the visits: the SLE instrument needs the day's prednisone dose
        if not self.infused:
            self.pre_infusion_rows()
            return
        self.product_rows()
        self.toxicity_rows()
        self.visit_rows()
        self.event_rows()

    # --- the hidden course that the rows are drawn from ----------------------------------------------------

    def courses(self) -> None:
        rng = self.rng
        dx = self.diagnosis
        end = (self.today - self.day0).days
        self.status, self.status_date, self.death = "active", None, None
        roll = rng.random()
        if self.infused and end > 120:
            if roll < 0.005:
                self.death = end = rng.randint(30, end)
                self.status, self.status_date = "deceased", self.day(end)
            elif roll < 0.035:
                end = rng.randint(90, end)
                self.status, self.status_date = "lost_to_follow_up", min(self.day(end + 180), self.today)
            elif roll < 0.045:
                end = rng.randint(60, end)
                self.status, self.status_date = "consent_withdrawn", min(self.day(end + 30), self.today)
        self.end = end  # the last study day with data
        # blood counts
        anc = rng.lognormvariate(math.log(2800 if dx == "sle" else 4000), 0.3)
        alc = rng.lognormvariate(math.log(1200 if dx == "sle" else 2200), 0.3)
        kind = _weighted(rng, {"deep": 0.12, "moderate": 0.43, "mild": 0.30, "shallow": 0.15})
        self.anc_nadir = {
            "deep": rng.uniform(40, 100),
            "moderate": rng.uniform(110, 500),
            "mild": rng.uniform(520, 1000),
            "shallow": rng.uniform(1000, 1500),
        }[kind]
        self.nadir_day = rng.randint(4, 9)
        self.recovery_day = self.nadir_day + (
            rng.randint(1, 4) if kind in ("mild", "shallow") else rng.randint(3, 12)
        )
        self.late_dip = None
        if rng.random() < 0.15:
            start = rng.randint(32, 60)
            self.late_dip = (start, start + rng.randint(7, 21), rng.uniform(350, 1400))
        middle = self.nadir_day + max(1, (self.recovery_day - self.nadir_day) // 2)
        self.anc = _Curve(
            [
                (-40, anc),
                (-5, anc),
                (0, anc * 0.6),
                (self.nadir_day, self.anc_nadir),
                (middle, self.anc_nadir * 1.1),
                (max(middle + 1, self.recovery_day), 1600.0),
                (self.recovery_day + 10, anc * 0.85),
                (3000, anc),
            ],
            log=True,
        )
        self.alc = _Curve(
            [(-40, alc), (-5, alc), (0, 150.0), (14, 250.0), (60, alc * 0.6), (365, alc)], log=True
        )
        plt = rng.uniform(180, 380)
        self.plt_nadir = plt * rng.uniform(0.15, 0.7)
        self.plt = _Curve(
            [(-40, plt), (0, plt * 0.9), (self.nadir_day + 2, self.plt_nadir), (28, plt * 0.9), (3000, plt)]
        )
        hb = rng.uniform(105, 135)
        self.hb_nadir = hb - rng.uniform(5, 30)
        self.hb = _Curve([(-40, hb), (0, hb - 3), (12, self.hb_nadir), (60, hb)])
        # CAR T expansion, B cells, immunoglobulins
        peak_day, self.car_t_gone_day = rng.randint(7, 14), rng.randint(45, 120)
        self.car_t = _Curve(
            [(1, 0.2), (peak_day, rng.lognormvariate(math.log(30), 0.9)), (self.car_t_gone_day, 0.05)],
            log=True,
        )
        self.cd19_base = rng.uniform(60, 450)
        self.aplasia_day = rng.randint(1, 5)
        self.reconstitution_day = (
            None if rng.random() < 0.05 else int(_clamp(rng.lognormvariate(math.log(110), 0.35), 45, 400))
        )
        igg = rng.uniform(10, 18) if dx == "sle" else rng.uniform(7, 13)
        self.igg_floor_fraction = rng.uniform(0.45, 0.8)
        self.igg_floor = igg * self.igg_floor_fraction
        self.ig = {
            code: _Curve(
                [(0, base), (180, base * self.igg_floor_fraction), (3000, base * self.igg_floor_fraction)]
            )
            for code, base in (("igg", igg), ("iga", igg * 0.12), ("igm", igg * 0.09))
        }
        # disease
        self.responder = rng.random() < 0.93
        self.remission_day = rng.randint(45, 200) if self.responder else None
        self.flare_day = rng.randint(180, 900) if self.responder and rng.random() < 0.07 else None
        if self.flare_day is not None and self.flare_day > end:
            self.flare_day = None
        self.crp_base = rng.uniform(0.5, 12 if dx == "ssc" else 6)
        self.ck_base = rng.lognormvariate(math.log(900), 0.9) if dx == "jdm" else rng.uniform(50, 150)
        self.developmental_delay = rng.random() < 0.02
        # toxicity
        self.crs_target = _weighted(rng, {0: 0.35, 1: 0.50, 2: 0.11, 3: 0.03, 4: 0.01})
        self.crs_onset = rng.choice((0, 1, 1, 1, 2, 2, 2, 3, 3, 4, 5, 6))
        self.crs_length = rng.randint(1, 4) if self.crs_target <= 1 else rng.randint(3, 6)
        self.icans_target = _weighted(rng, {0: 0.86, 1: 0.08, 2: 0.04, 3: 0.015, 4: 0.005})
        self.icans_onset = rng.randint(3, 8)
        self.icans_length = rng.randint(1, 3) if self.icans_target <= 1 else rng.randint(2, 5)
        toxic_end = max(
            self.crs_onset + self.crs_length if self.crs_target else 0,
            self.icans_onset + self.icans_length if self.icans_target else 0,
        )
        self.discharge_day = min(14, max(rng.randint(6, 10), toxic_end + rng.randint(1, 2)))

    def in_crs(self, day: int) -> bool:
        return self.crs_target > 0 and self.crs_onset <= day < self.crs_onset + self.crs_length

    def activity(self, day: int) -> float:
        """Disease activity: 1 before CAR T, falling to 0 at remission; up again at a flare."""
        if day <= 0:
            return 1.0
        if self.flare_day is not None and day >= self.flare_day:
            return 0.6 if day < self.flare_day + 120 else 0.3
        if not self.responder:
            return _clamp(1.0 - 0.5 * day / 180, 0.5, 1.0)
        return _clamp(1.0 - day / self.remission_day, 0.0, 1.0)

    def value(self, analyte: str, day: int) -> float:
        """The analyte's true value on a study day, in its canonical unit (with biological noise)."""
        rng = self.rng
        noise = rng.lognormvariate(0, 0.08)
        if analyte == "anc":
            v = self.anc(day)
            if self.late_dip and self.late_dip[0] <= day <= self.late_dip[1]:
                v = min(v, self.late_dip[2])
            return v * noise
        if analyte == "alc":
            return self.alc(day) * noise
        if analyte == "wbc":
            return self.value("anc", day) + self.value("alc", day) + rng.uniform(200, 700)
        if analyte == "platelets":
            return self.plt(day) * noise
        if analyte == "haemoglobin":
            return self.hb(day) * rng.lognormvariate(0, 0.03)
        if analyte in ("crp", "ferritin", "il6"):
            base = {"crp": self.crp_base, "ferritin": 60.0, "il6": 3.0}[analyte] * (1 + self.activity(day))
            if self.crs_target and self.crs_onset <= day <= self.crs_onset + self.crs_length + 1:
                base += (
                    {"crp": 30.0, "ferritin": 400.0, "il6": 60.0}[analyte]
                    * (1 + self.crs_target)
                    * (rng.uniform(0.5, 1.5))
                )
            return base * noise
        if analyte == "car_t":
            return 0.0 if day <= 0 or day >= self.car_t_gone_day else self.car_t(day) * noise
        if analyte == "transgene":
            return 0.0 if day <= 0 else self.value("car_t", day) * rng.uniform(800, 1500)
        if analyte == "cd19":
            if day < 0:
                return self.cd19_base * noise
            if day < self.aplasia_day:
                return self.cd19_base * 0.1 * noise
            if self.reconstitution_day is None or day < self.reconstitution_day:
                return 0.0
            return (
                min(self.cd19_base * 1.5, 12 * math.exp(min((day - self.reconstitution_day) / 45, 10)))
                * noise
            )
        if analyte in ("cd3", "cd4", "cd8"):
            return self.alc(day) * {"cd3": 0.7, "cd4": 0.4, "cd8": 0.25}[analyte] * noise
        if analyte in self.ig:
            return self.ig[analyte](day) * rng.lognormvariate(0, 0.05)
        a = self.activity(day)
        jdm = self.diagnosis == "jdm"
        if analyte == "c3":
            return (1.2 - 0.65 * a) * rng.lognormvariate(0, 0.06)
        if analyte == "c4":
            return (0.22 - 0.16 * a) * rng.lognormvariate(0, 0.06)
        if analyte == "anti_dsdna":
            return (4 + 240 * a * a) * noise
        if analyte == "upcr":
            return (0.08 + (2.2 if "lupus_nephritis" in self.organs else 0.1) * a) * noise
        if analyte == "creatinine":
            nephritis = "lupus_nephritis" in self.organs
            return (32, 45, 62)[self.band] * (1 + 0.15 * a * nephritis) * noise
        if analyte == "ck":
            return (60 + (self.ck_base - 60) * a) * noise
        if analyte == "aldolase":
            return (4 + 14 * a * jdm) * noise
        if analyte == "ldh":
            return (200 + 250 * a * jdm) * noise
        if analyte in ("ast", "alt"):
            return (25 + 60 * a * jdm) * noise
        raise ValueError(f"analyte: no synthetic course for {analyte!r}")

    def lab(self, analyte: str, on: dt.date, moment: dt.datetime, created: dt.datetime) -> None:
        """One laboratory value as the lab reports it, with its canonical value and CTCAE grade."""
        spec = ANALYTES[analyte]
        canonical = max(self.value(analyte, (on - self.day0).days), 0.0)
        lln, uln = RANGES[analyte][self.band]
        if analyte == "haemoglobin" and self.band == 2 and self.sex == "male":
            lln, uln = 130, 170
        unit, factor, places = spec.unit, 1.0, DECIMALS[analyte]
        if self.alternate_units and analyte in ALTERNATE_UNITS:
            unit, factor, places = ALTERNATE_UNITS[analyte]
        fmt = f"{{:.{max(places, 0)}f}}"
        to_canonical = spec.units[unit]
        reported = fmt.format(round(canonical / factor, places))
        value = float(reported) * to_canonical
        low, high = spec.plausible
        if not low <= value <= high:
            reported = fmt.format(round(_clamp(value, low, high) / factor, places))
            value = float(reported) * to_canonical
        lln_c = None if lln is None else float(fmt.format(round(lln / factor, places))) * to_canonical
        uln_c = None if uln is None else float(fmt.format(round(uln / factor, places))) * to_canonical
        row = self.put(
            LabResult,
            None,
            created_at=created,
            updated_at=created,
            patient=self.patient,
            sampled_at=moment,
            sampled_on=on,
            analyte=analyte,
            value_reported=reported,
            unit_reported=unit,
            value=value,
            lln=lln_c,
            uln=uln_c,
            source=LAB_SOURCE.get(analyte, "local_lab"),
        )
        term = CTCAE_TERM_FOR_ANALYTE.get(analyte)
        if term:
            name, divisor = term
            row["ctcae_term"], row["ctcae_version"] = name, grading.CTCAE_VERSION
            row["ctcae_grade"] = grading.ctcae_grade(
                name, value / divisor, lln=None if lln_c is None else lln_c / divisor
            )
        self.labs.append((on, analyte, value, lln_c, uln_c))
        if self.rng.random() < 0.003:  # a mistyped twin, voided as entered in error
            twin = dict(
                row,
                value_reported=reported + "0",
                value=min(value * 10, high),
                voided_at=self.entered(moment),
                void_reason=VOID_REASON,
            )
            twin.pop("ctcae_grade", None)
            twin.pop("ctcae_term", None)
            twin.pop("ctcae_version", None)
            self.rows.values[LabResult].append(twin)

    def labs_on(
        self, on: dt.date, before: int, after: int
    ) -> dict[str, tuple[float, float | None, float | None]]:
        """As :func:`outcomes.services.labs_on`: the latest value of each analyte sampled in the window."""
        low, high = on - dt.timedelta(days=before), on + dt.timedelta(days=after)
        return {
            code: (value, lln, uln) for sampled, code, value, lln, uln in self.labs if low <= sampled <= high
        }

    # --- enrolment and baseline ----------------------------------------------------------------------------

    def patient_rows(self) -> None:
        ctx, rng = self.ctx, self.rng
        seq = ctx.next_sequence[self.centre.pk]
        ctx.next_sequence[self.centre.pk] = seq + 1
        enrolled = self.at(self.consent, 10)
        majority = self.dob + dt.timedelta(days=round(18 * 365.25))
        pathway = _weighted(
            rng, {"hospital_exemption": 0.6, "clinical_trial": 0.35, "compassionate_use": 0.05}
        )
        self.patient = self.obj(
            Patient(
                centre=self.centre,
                sequence=seq,
                code=f"{self.centre.code}-{seq:03d}",
                sex=self.sex,
                diagnosis=self.diagnosis,
                classification_criteria=CRITERIA_FOR_DIAGNOSIS[self.diagnosis],
                diagnosis_date=self.diagnosis_date,
                treatment_pathway=pathway,
                approval_reference=f"SYN-{ctx.seed}-{self.index:06d}",
                guardian_consent_date=self.consent,
                child_assent_date=self.consent if self.age0 >= 7 else None,
                reconsent_at_majority_date=majority
                if majority <= self.today and rng.random() < 0.8
                else None,
                status=self.status,
                status_date=self.status_date,
                death_date=self.status_date if self.status == "deceased" else None,
                death_cause=rng.choice(("Sepsis", "Disease flare", "Accident")) if self.death else "",
                death_related_to_car_t=rng.choice(("related", "not_related", "unknown"))
                if self.death
                else "",
                day0=self.day0 if self.infused and not self.voided else None,
                is_synthetic=True,
                voided_at=self.entered(enrolled) if self.voided else None,
                void_reason=VOID_REASON if self.voided else "",
            ),
            enrolled,
        )
        self.put(
            PatientIdentity,
            enrolled,
            patient=self.patient,
            given_name=GIVEN_NAMES[self.index % len(GIVEN_NAMES)],
            family_name=f"Synthetic {self.index:06d}",
            date_of_birth=self.dob,
            hospital_number=f"SYN{self.index:08d}",
            contact="Synthetic guardian, no real contact",
        )

    def baseline_rows(self) -> None:
        rng = self.rng
        moment = self.at(self.screening, 11)
        self.organs = [o for o, p in ORGANS[self.diagnosis].items() if rng.random() < p] or ["skin"]
        organs: list[tuple[str, str]] = []
        for organ in self.organs:
            nephritis = rng.choice(("III", "IV", "V", "IV+V")) if organ == "lupus_nephritis" else ""
            self.put(OrganInvolvement, moment, patient=self.patient, organ=organ, nephritis_class=nephritis)
            organs.append((organ, nephritis))
        therapies: list[tuple[str, bool]] = []
        lines = [line for line in PRIOR_LINES[self.diagnosis] if rng.random() < line[3]]
        span = max((self.screening - self.diagnosis_date).days, 60)
        first = self.diagnosis_date + dt.timedelta(days=rng.randint(0, 30))
        self.washout = self.apheresis_on - dt.timedelta(days=rng.randint(7, 21))
        self.running: list[tuple[str, dt.date, tuple[str, str, str, str]]] = []
        for i, (drug, klass, b_cell, _p, med) in enumerate(lines):
            start = min(
                first + dt.timedelta(days=round(i * span / (len(lines) + 1))),
                self.washout - dt.timedelta(days=30),
            )
            if med is not None and (i >= len(lines) - 2 or rng.random() < 0.4):
                stop, reason = self.washout, "car_t"
                self.running.append((drug, start, med))
            else:
                stop = min(start + dt.timedelta(days=rng.randint(60, 400)), self.washout)
                reason = "inefficacy" if rng.random() < 0.8 else "intolerance"
            self.put(
                PriorTherapy,
                moment,
                patient=self.patient,
                drug=drug,
                therapy_class=klass,
                b_cell_targeted=b_cell,
                start_date=start,
                stop_date=stop,
                reason_stopped=reason,
            )
            therapies.append((klass, b_cell))
        self.prednisone = 0.0
        if self.diagnosis != "ssc" or rng.random() < 0.6:
            self.prednisone = rng.choice((5.0, 7.5, 10.0, 12.5, 15.0, 20.0))
            self.prednisone_start = self.diagnosis_date + dt.timedelta(days=rng.randint(0, 30))
            self.put(
                PriorTherapy,
                moment,
                patient=self.patient,
                drug="prednisone",
                therapy_class="glucocorticoid",
                start_date=self.prednisone_start,
            )
            therapies.append(("glucocorticoid", False))
        self.put(BaselineSummary, None, patient=self.patient, **summarise(organs, therapies))

    def height_weight(self, on: dt.date) -> tuple[Decimal, Decimal]:
        age = (on - self.dob).days / 365.25
        if not hasattr(self, "_height_offset"):
            self._height_offset, self._bmi = self.rng.gauss(0, 6), self.rng.uniform(15.5, 21.5)
        stop = 14.5 if self.sex == "female" else 16.5
        grown = min(age, stop)
        height = 78 + 6.2 * grown + (4 if self.sex == "male" and grown > 13 else 0) + self._height_offset
        weight = self._bmi * (height / 100) ** 2 * (1 + 0.01 * max(age - stop, 0))
        return _q(_clamp(height, 95, 195), "0.1"), _q(_clamp(weight, 14, 110), "0.01")

    def growth_rows(self) -> None:
        days = [(self.screening - self.day0).days, -6, *(d for d in (91, 183, 365) if d <= self.end)]
        days += [y * 365 for y in range(2, 16) if y * 365 <= self.end]
        for d in days:
            on = self.day(d)
            if on > self.today:
                continue
            height, weight = self.height_weight(on)
            bsa = _q(calculations.body_surface_area(float(height), float(weight)), "0.001")
            row = GrowthMeasurement(
                patient=self.patient,
                measured_on=on,
                weight_kg=weight,
                height_cm=height,
                bsa_m2=bsa,
                bsa_formula="mosteller",
            )
            self.growth.append(self.obj(row, self.at(on, 9)))

    def growth_on(self, on: dt.date) -> GrowthMeasurement:
        best = self.growth[0]
        for g in self.growth:
            if g.measured_on <= on:
                best = g
        return best

    # --- medications ---------------------------------------------------------------------------------------

    def med(
        self,
        drug: str,
        klass: str,
        dose: str,
        unit: str,
        frequency: str,
        start: int | dt.date,
        stop: int | dt.date | None,
        reason: str = "",
        *,
        restarted: bool = False,
        route: str = "oral",
    ) -> None:
        started = start if isinstance(start, dt.date) else self.day(start)
        stopped = stop if isinstance(stop, dt.date) or stop is None else self.day(stop)
        cutoff = self.today if self.status == "active" else self.day(self.end)
        if started > cutoff:
            return
        if stopped is not None and stopped > cutoff:
            stopped, reason = (None, "") if self.status == "active" else (cutoff, "other")
        elif stopped is None and self.status != "active":
            stopped, reason = cutoff, "other"
        pred = None
        if klass == "glucocorticoid":
            dose_mg = float(dose) * (float(self.growth_on(started).weight_kg) if unit == "mg/kg" else 1.0)
            pred = Decimal(
                str(round(scores.prednisone_equivalent_mg(drug, dose_mg) * DOSES_PER_DAY[frequency], 2))
            )
        self.meds.append(
            self.put(
                Medication,
                self.at(max(started, self.screening), 12),
                patient=self.patient,
                drug=drug,
                medication_class=klass,
                dose=Decimal(dose),
                dose_unit=unit,
                route=route,
                frequency=frequency,
                started_on=started,
                stopped_on=stopped,
                stop_reason=reason,
                restarted_for_disease_activity=restarted,
                prednisone_equivalent_mg_per_day=pred,
            )
        )

    def medication_rows(self) -> None:
        """Running immunomodulators stopped for CAR T, the glucocorticoid taper, prophylaxis, IVIG, flares."""
        rng = self.rng
        for drug, start, (klass, dose, unit, freq) in self.running:
            self.med(drug, klass, dose, unit, freq, start, self.washout, "car_t")
        if self.prednisone:
            p = self.prednisone
            taper_end = rng.choice((60, 75, 90, 120, 150, 180)) if self.responder else 400
            half = max(2.5, round(p / 2 / 2.5) * 2.5)
            self.med(
                "prednisone", "glucocorticoid", f"{p:g}", "mg", "daily", self.prednisone_start, 14, "other"
            )
            self.med("prednisone", "glucocorticoid", f"{half:g}", "mg", "daily", 15, 42, "other")
            self.med("prednisone", "glucocorticoid", "2.5", "mg", "daily", 43, taper_end, "taper_completed")
        if not self.infused:
            return
        self.med("aciclovir", "other", "200", "mg", "bid", -5, 365, "not_needed")
        self.med("co-trimoxazole", "other", "480", "mg", "alternate_days", 0, 183, "not_needed")
        if self.igg_floor < 5.5 and rng.random() < 0.6:
            self.med("intravenous immunoglobulin", "ivig", "0.4", "g/kg", "monthly", 120, None, route="iv")
        if self.icans_target >= 2:
            self.med(
                "dexamethasone",
                "glucocorticoid",
                "10",
                "mg",
                "bid",
                self.icans_onset,
                self.icans_onset + 3,
                "taper_completed",
            )
        if self.crs_target >= 3:
            peak = self.crs_onset + self.crs_length // 2
            self.med(
                "methylprednisolone",
                "glucocorticoid",
                "2",
                "mg/kg",
                "daily",
                peak,
                peak + 3,
                "taper_completed",
            )
        if self.flare_day is not None:
            drug, dose, unit, freq = {
                "sle": ("hydroxychloroquine", "200", "mg", "daily"),
                "jdm": ("methotrexate", "15", "mg", "weekly"),
                "ssc": ("mycophenolate mofetil", "500", "mg", "bid"),
            }[self.diagnosis]
            self.med(drug, "immunomodulator", dose, unit, freq, self.flare_day, None, restarted=True)
            self.med(
                "prednisone",
                "glucocorticoid",
                "10",
                "mg",
                "daily",
                self.flare_day,
                self.flare_day + 45,
                "taper_completed",
            )

    def prednisone_on(self, on: dt.date) -> float:
        """As :func:`outcomes.services.prednisone_mg_per_day_on`: glucocorticoids running on ``on``."""
        total = 0.0
        for m in self.meds:
            if (
                m["medication_class"] == "glucocorticoid"
                and m["started_on"] <= on
                and not (m["stopped_on"] is not None and m["stopped_on"] < on)
            ):
                total += float(m["prednisone_equivalent_mg_per_day"] or 0)
        return round(total, 2)

    # --- from apheresis to day 0 ---------------------------------------------------------------------------

    def pre_infusion_rows(self) -> None:
        """A child enrolled recently: screening and, once it has taken place, apheresis."""
        if self.screening <= self.today:
            self.visit("screening", (self.screening - self.day0).days)
        if self.apheresis_on <= self.today:
            self.obj(
                Apheresis(
                    patient=self.patient,
                    performed_on=self.apheresis_on,
                    cd3_cells_collected=self.rng.uniform(0.8e9, 4e9),
                    volume_processed_ml=self.rng.uniform(1500, 5000),
                ),
                self.at(self.apheresis_on, 12),
            )
            self.visit("apheresis", (self.apheresis_on - self.day0).days)

    def product_rows(self) -> None:
        rng, product = self.rng, self.ctx.product
        site = f"{self.centre.name} GMP unit"
        if rng.random() < 0.02:  # a failed first run, then a second apheresis
            on = self.apheresis_on - dt.timedelta(days=14)
            first = self.obj(
                Apheresis(
                    patient=self.patient,
                    performed_on=on,
                    cd3_cells_collected=rng.uniform(0.5e9, 1.5e9),
                    volume_processed_ml=rng.uniform(1500, 4000),
                ),
                self.at(on, 12),
            )
            self.obj(
                ManufacturingRun(
                    patient=self.patient,
                    apheresis=first,
                    product=product,
                    site=site,
                    started_on=on,
                    finished_on=on + dt.timedelta(days=10),
                    product_state="fresh",
                    outcome="failed",
                ),
                self.at(on + dt.timedelta(days=10), 16),
            )
        apheresis = self.obj(
            Apheresis(
                patient=self.patient,
                performed_on=self.apheresis_on,
                cd3_cells_collected=rng.uniform(0.8e9, 4e9),
                volume_processed_ml=rng.uniform(1500, 5000),
            ),
            self.at(self.apheresis_on, 12),
        )
        started = self.apheresis_on + dt.timedelta(days=rng.randint(0, 1))
        finished = min(started + dt.timedelta(days=rng.randint(10, 13)), self.day(-1))
        self.ld_growth = self.growth_on(self.day(-6))
        weight = float(self.ld_growth.weight_kg)
        required = calculations.car_t_cells_required(weight, product.target_cells_per_kg)
        n_bags = 1 if rng.random() < 0.8 else 2
        total = required * rng.uniform(1.3, 2.6)
        run = self.obj(
            ManufacturingRun(
                patient=self.patient,
                apheresis=apheresis,
                product=product,
                site=site,
                started_on=started,
                finished_on=finished,
                product_state="cryopreserved" if rng.random() < 0.6 else "fresh",
                transduction_efficiency_pct=_q(rng.uniform(15, 60), "0.01"),
                viability_pct=_q(rng.uniform(85, 98), "0.01"),
                cd4_cd8_ratio=_q(rng.uniform(0.4, 3.5), "0.01"),
                vector_copy_number=_q(rng.uniform(1.0, 4.5), "0.01"),
                total_viable_car_t_cells=total,
            ),
            self.at(finished, 17),
        )
        bags = [
            self.obj(
                ProductBag(
                    run=run,
                    identifier=f"{self.patient.code}-B{b + 1}",
                    car_t_cells=total / n_bags,
                    volume_ml=_q(rng.uniform(10, 50), "0.1"),
                ),
                self.at(finished, 17),
            )
            for b in range(n_bags)
        ]
        specs = {
            "sterility": (None, None, "negative", None, "negative"),
            "endotoxin": (None, 0.5, "", round(rng.uniform(0.05, 0.3), 3), ""),
            "mycoplasma": (None, None, "negative", None, "negative"),
            "vcn": (None, 5.0, "", float(run.vector_copy_number), ""),
            "viability": (70.0, None, "", float(run.viability_pct), ""),
            "identity": (10.0, None, "", float(run.transduction_efficiency_pct), ""),
        }
        for kind, (low, high, expected, value, text) in specs.items():
            passed = release_test_passed(
                kind=kind,
                spec_min=low,
                spec_max=high,
                spec_expected=expected,
                result_value=value,
                result_text=text,
            )
            self.put(
                ReleaseTest,
                self.at(finished, 18),
                run=run,
                kind=kind,
                spec_min=low,
                spec_max=high,
                spec_expected=expected,
                result_value=value,
                result_text=text,
                passed=passed,
            )
        # lymphodepletion on the BSA of the pre-lymphodepletion measurement
        bsa = float(self.ld_growth.bsa_m2)
        for agent, mg_m2, days in (("fludarabine", 25, (-5, -4, -3)), ("cyclophosphamide", 1000, (-3,))):
            for d in days:
                planned = calculations.lymphodepletion_dose_mg(mg_m2, bsa)
                given = _q(planned * rng.gauss(1.0, 0.015), "0.01")
                deviation = calculations.dose_deviation_percent(planned, float(given))
                self.put(
                    LymphodepletionDose,
                    self.at(self.day(d), 10),
                    patient=self.patient,
                    agent=agent,
                    given_on=self.day(d),
                    mg_per_m2=_q(mg_m2, "0.01"),
                    growth=self.ld_growth,
                    bsa_m2=self.ld_growth.bsa_m2,
                    bsa_formula=self.ld_growth.bsa_formula,
                    planned_mg=_q(planned, "0.01"),
                    given_mg=given,
                    deviation_pct=_q(deviation, "0.1"),
                )
        # the infusion at 1 × 10⁶ CAR T cells/kg
        infused = required * (rng.uniform(0.9, 1.1) if rng.random() >= 0.02 else rng.uniform(0.6, 0.78))
        per_ml = bags[0].car_t_cells / float(bags[0].volume_ml)
        if infused <= bags[0].car_t_cells:
            volume, used = calculations.infusion_volume_ml(infused, per_ml), bags[:1]
        else:
            second = bags[1].car_t_cells / float(bags[1].volume_ml)
            volume = float(bags[0].volume_ml) + calculations.infusion_volume_ml(
                infused - bags[0].car_t_cells, second
            )
            used = bags
        dose = calculations.dose_per_kg(infused, weight)
        window = calculations.dose_within_window(
            dose_per_kg=dose,
            weight_kg=weight,
            min_per_kg=product.min_cells_per_kg,
            max_per_kg=product.max_cells_per_kg,
            min_total=product.min_cells_total,
            max_total=product.max_cells_total,
            weight_cutoff_kg=product.weight_cutoff_kg,
        )
        infusion = self.obj(
            Infusion(
                patient=self.patient,
                run=run,
                infused_on=self.day0,
                growth=self.ld_growth,
                weight_kg=self.ld_growth.weight_kg,
                target_cells_per_kg=product.target_cells_per_kg,
                cells_required=required,
                car_t_cells_infused=infused,
                volume_infused_ml=_q(max(volume, 0.1), "0.1"),
                dose_per_kg=dose,
                percent_of_target=calculations.percent_of_target(dose, product.target_cells_per_kg),
                dose_window=window,
                premedication="paracetamol, antihistamine",
                out_of_window_justification=""
                if window == "within"
                else "Low manufacturing yield; all cells given.",
            ),
            self.at(self.day0, 11),
        )
        for bag in used:
            self.put(InfusionBag, None, infusion=infusion, bag=bag)

    # --- toxicity ------------------------------------------------------------------------------------------

    def toxicity_rows(self) -> None:
        rng = self.rng
        last = min(self.discharge_day, (self.today - self.day0).days, self.end)
        weight = float(self.ld_growth.weight_kg)
        tocilizumab = Decimal("12.0") if weight < 30 else Decimal("8.0")
        peak = self.crs_onset + self.crs_length // 2
        crs: list[tuple[dt.datetime, dict[str, Any]]] = []
        for d in range(0, last + 1):
            obs: dict[str, Any] = {"max_temperature_c": _q(rng.uniform(36.4, 37.6), "0.1")}
            g = self.crs_target
            if self.in_crs(d):
                if d < self.crs_onset + max(1, self.crs_length - 1) or rng.random() < 0.4:
                    obs["max_temperature_c"] = _q(rng.uniform(38.0, 40.2), "0.1")
                    obs["antipyretic_given"] = rng.random() < 0.85
                if g >= 2 and abs(d - peak) <= (g - 1) // 2:
                    if g == 2 and rng.random() < 0.5:
                        obs["hypotension"], obs["fluid_bolus_ml_per_kg"] = (
                            True,
                            _q(rng.uniform(10, 20), "0.1"),
                        )
                    elif g == 2:
                        obs["oxygen_device"], obs["oxygen_flow_l_min"] = (
                            "nasal_cannula",
                            _q(rng.uniform(0.5, 4), "0.1"),
                        )
                    else:
                        obs["hypotension"], obs["fluid_bolus_ml_per_kg"] = (
                            True,
                            _q(rng.uniform(20, 60), "0.1"),
                        )
                        obs["vasopressors"] = [
                            {"agent": "norepinephrine", "dose_mcg_kg_min": round(rng.uniform(0.05, 0.3), 2)}
                        ]
                        if g >= 4:
                            obs["vasopressors"].append(
                                {"agent": "epinephrine", "dose_mcg_kg_min": round(rng.uniform(0.05, 0.2), 2)}
                            )
                            obs["oxygen_device"] = "cpap"
                            obs["anakinra_given"] = rng.random() < 0.5
                        obs["corticosteroid_given"] = True
                    if d == peak - (g - 1) // 2:
                        obs["tocilizumab_mg_per_kg"] = tocilizumab
                elif g == 1 and d == self.crs_onset + 2 and rng.random() < 0.3:
                    obs["tocilizumab_mg_per_kg"] = tocilizumab
            elif rng.random() < 0.02:  # a fever put down to something else
                obs["max_temperature_c"], obs["fever_other_cause"] = _q(rng.uniform(38.0, 38.8), "0.1"), True
            crs.append((self.at(self.day(d), 18), obs))
        graded = crs_sequence([_CrsObservation(**obs) for _moment, obs in crs])
        self.crs_grades = [grade for grade, _masked in graded]
        for (moment, obs), (grade, masked) in zip(crs, graded, strict=True):
            self.put(
                CrsAssessment,
                moment,
                patient=self.patient,
                assessed_at=moment,
                grade=grade,
                after_anticytokine_or_antipyretic=masked,
                **obs,
            )
        icans_worst = 0
        for d in range(0, last + 1):
            on = self.day(d)
            moment = self.at(on, 10)
            age = _q((on - self.dob).days / 365.25, "0.01")
            tool = grading.icans_tool(age_years=float(age), developmental_delay=self.developmental_delay)
            g = self.icans_target if self.icans_onset <= d < self.icans_onset + self.icans_length else 0
            consciousness, seizure, unable = "alert", "none", False
            score = grading.ICE_MAX if tool == "ice" else 0
            if g == 1:
                score = rng.randint(7, 9) if tool == "ice" else rng.randint(1, 8)
            elif g == 2 and tool == "ice":
                score = rng.randint(3, 6)
            elif g == 2:
                score, consciousness = rng.randint(1, 8), "awakens_to_voice"
            elif g == 3:
                seizure = "resolved_rapidly" if rng.random() < 0.2 else "none"
                score = rng.randint(0, 2) if tool == "ice" else rng.randint(9, 20)
            elif g == 4:
                unable, consciousness = True, "unarousable"
            ice_items = capd_answers = ice = capd = None
            if not unable and tool == "ice":
                ice_items = _spread(score, dict(grading.ICE_ITEM_MAXIMA))
                ice = grading.ice_score(**ice_items)
            elif not unable:
                capd_answers = _capd_answers(score)
                capd = grading.capd_score({int(k): v for k, v in capd_answers.items()})
            grade = grading.icans_grade(
                age_years=float(age),
                ice_score=ice,
                capd_score=capd,
                unable_to_perform=unable,
                developmental_delay=self.developmental_delay,
                consciousness=consciousness,
                seizure=seizure,
            )
            icans_worst = max(icans_worst, grade)
            self.put(
                IcansAssessment,
                moment,
                patient=self.patient,
                assessed_at=moment,
                age_years=age,
                developmental_delay=self.developmental_delay,
                tool=tool,
                ice_items=ice_items,
                capd_answers=capd_answers,
                ice_score=ice,
                capd_score=capd,
                unable_to_perform=unable,
                consciousness=consciousness,
                seizure=seizure,
                grade=grade,
            )
        discharged = self.day(self.discharge_day)
        self.put(
            Admission,
            self.at(self.day(-1), 9),
            patient=self.patient,
            admitted_on=self.day(-1),
            discharged_on=discharged if discharged <= self.today else None,
            ward="ward",
            reason="infusion",
        )
        if max(max(self.crs_grades, default=0), icans_worst) >= 3:
            start = self.day(self.icans_onset if icans_worst >= 3 else peak)
            end = start + dt.timedelta(days=rng.randint(2, 4))
            self.put(
                Admission,
                self.at(start, 20),
                patient=self.patient,
                admitted_on=start,
                discharged_on=end if end <= self.today else None,
                ward="icu",
                reason="toxicity",
            )
        # supportive care where the counts call for it
        low_days = self.recovery_day - self.nadir_day
        start = self.day(self.nadir_day + 1)
        if (self.anc_nadir <= 100 or (self.anc_nadir <= 500 and low_days >= 7)) and start <= self.today:
            self.put(
                SupportiveCare,
                self.at(start, 12),
                patient=self.patient,
                kind="gcsf",
                started_on=start,
                ended_on=min(self.day(self.recovery_day), self.today),
                units=max(1, min(low_days, 14)),
            )
        if self.plt_nadir < 25 and self.day(self.nadir_day + 2) <= self.today:
            on = self.day(self.nadir_day + 2)
            self.put(
                SupportiveCare,
                self.at(on, 12),
                patient=self.patient,
                kind="platelet_transfusion",
                started_on=on,
                units=rng.randint(1, 2),
            )
        if self.hb_nadir < 80 and self.day(12) <= self.today:
            self.put(
                SupportiveCare,
                self.at(self.day(12), 12),
                patient=self.patient,
                kind="rbc_transfusion",
                started_on=self.day(12),
                units=1,
            )

    # --- visits, laboratory values and instruments ---------------------------------------------------------

    def visit_plan(self) -> list[tuple[str | None, int]]:
        """(timepoint code, or None when unscheduled; study day) of every visit to the end of follow-up."""
        rng = self.rng
        plan: list[tuple[str | None, int]] = [
            ("screening", (self.screening - self.day0).days),
            ("apheresis", (self.apheresis_on - self.day0).days),
            ("lymphodepletion", -4),
            ("d0", 0),
            *((f"d{d}", d) for d in range(1, 15)),
        ]
        for code, tp in self.ctx.timepoints.items():
            if tp.kind == "follow_up" and rng.random() >= 0.04:  # 4 % missed
                jitter = min(tp.window_before_days, tp.window_after_days, 10)
                plan.append((code, tp.nominal_day + rng.randint(-jitter, jitter)))
        plan += [(None, d + rng.randint(-1, 1)) for d in (17, 24, 35, 42, 49)]
        plan += [(None, round(m * MONTH) + rng.randint(-5, 5)) for m in (4, 5, 7, 8, 10, 11)]
        plan = sorted(
            ((c, d) for c, d in plan if d <= self.end and self.day(d) <= self.today), key=lambda x: x[1]
        )
        if self.status == "active" and plan and plan[-1][0] is not None and rng.random() < 0.1:
            plan.pop()  # the latest timepoint is not done yet: due or overdue
        return plan

    def visit_labs(self, code: str | None, d: int) -> list[str]:
        dx = self.diagnosis
        if code == "screening":
            extra = {
                "sle": ["c3", "c4", "anti_dsdna", "upcr"],
                "jdm": ["ck", "aldolase", "ldh", "ast", "alt"],
                "ssc": [],
            }[dx]
            return [
                *CBC,
                "crp",
                "ferritin",
                "creatinine",
                "igg",
                "iga",
                "igm",
                "cd19",
                "cd3",
                "cd4",
                "cd8",
                *extra,
            ]
        if code == "apheresis":
            return ["cd3"]
        if -5 <= d <= 14:
            labs = list(CBC)
            if d >= 0:
                labs.append("crp")
            if d in (0, 7):
                labs.append("ferritin")
            if d in (-5, 0, 7, 14):
                labs.append("creatinine")
            if d in (1, 3, 5) and self.in_crs(d):
                labs.append("il6")
            if d in (0, 3, 5, 7, 10, 14):
                labs += ["car_t", "cd19"]
            if d in (7, 14):
                labs.append("transgene")
            return labs
        if code is None:  # weekly checks to D49 (neutrophils, platelets), then a monthly blood count
            return ["wbc", "anc", "platelets"] if d <= 49 else list(CBC)
        labs = [*CBC, "cd19", "igg", "crp"]
        if d <= 200:
            labs.append("car_t")
        if code in ("d28", "m3", "m6"):
            labs.append("transgene")
        if code == "d21":
            return labs
        disease = {
            "sle": ["c3", "c4", "anti_dsdna", "upcr", "creatinine"],
            "jdm": ["ck", "aldolase"],
            "ssc": ["creatinine"],
        }[dx]
        return labs + disease

    def visit(self, code: str | None, d: int) -> None:
        on = self.day(d)
        ref = _Ref()
        self.put(
            Visit,
            self.at(on, 9),
            id=ref,
            patient=self.patient,
            timepoint=self.ctx.timepoints.get(code) if code else None,
            visit_date=on,
            assessed_by=ASSESSOR,
        )
        sampled = self.at(on, 8)
        created = self.entered(sampled)  # a sample's results are entered together
        for analyte in self.visit_labs(code, d):
            self.lab(analyte, on, sampled, created)
        if code in INSTRUMENT_TIMEPOINTS or (code or "").startswith("y"):
            {"sle": self.sledai, "jdm": self.jdm, "ssc": self.ssc}[self.diagnosis](ref, on, d)

    def visit_rows(self) -> None:
        for code, d in self.visit_plan():
            if code == "lymphodepletion":
                for extra in (-5, -3, -1):  # blood counts around lymphodepletion
                    on = self.day(extra)
                    sampled = self.at(on, 7, 30)
                    created = self.entered(sampled)
                    for analyte in self.visit_labs("daily", extra):
                        self.lab(analyte, on, sampled, created)
            self.visit(code, d)

    def sledai(self, visit: _Ref, on: dt.date, d: int) -> None:
        rng = self.rng
        a = self.activity(d)
        labs = self.labs_on(on, 10, 0)
        descriptors = set()
        if d <= 0 or a > 0.05:
            for code, (organ, p) in SLE_CLINICAL.items():
                if (organ is None or organ in self.organs) and rng.random() < p * (0.4 + 0.6 * a):
                    descriptors.add(code)
        for code in instruments.suggest_sledai_descriptors(labs):
            if d <= 0 or code not in (
                "thrombocytopenia",
                "leukopenia",
            ):  # cytopenias after CAR T: the therapy's
                descriptors.add(code)
        descriptors = sorted(descriptors)
        pga = _q(_clamp(2.4 * a + rng.uniform(0, 0.3), 0, 3), "0.1")
        prednisone = self.prednisone_on(on)
        new_activity = self.flare_day is not None and self.flare_day <= d < self.flare_day + 60
        result = instruments.score_sledai(
            descriptors=descriptors,
            physician_global=float(pga),
            prednisone_mg_per_day=prednisone,
            new_activity=new_activity,
        )
        creatinine = self.labs_on(on, 3, 1).get("creatinine")
        height = float(self.growth_on(on).height_cm)
        egfr = (
            _q(round(scores.pediatric_egfr(height_cm=height, creatinine_umol_l=creatinine[0]), 1), "0.1")
            if creatinine and creatinine[0] > 0
            else None
        )
        upcr = labs.get("upcr")
        self.put(
            SledaiAssessment,
            self.at(on, 10),
            visit=visit,
            descriptors=descriptors,
            physician_global=pga,
            new_activity=new_activity,
            prednisone_mg_per_day=Decimal(str(prednisone)),
            upcr_g_g=_q(upcr[0], "0.01") if upcr else None,
            egfr=egfr,
            sledai_2k=result.sledai_2k,
            clinical_sledai_2k=result.clinical_sledai_2k,
            doris_remission=result.doris_remission,
            lldas=result.lldas,
            scores_version=scores.SCORES_VERSION,
        )

    def jdm(self, visit: _Ref, on: dt.date, d: int) -> None:
        rng = self.rng
        a = self.activity(d)
        if not hasattr(self, "_jdm_base"):
            self._jdm_base = (rng.randint(18, 40), rng.randint(48, 70), rng.uniform(5, 8))
        cmas_base, mmt8_base, pga_base = self._jdm_base
        cmas_items = _spread(round(cmas_base + (rng.randint(48, 52) - cmas_base) * (1 - a)), CMAS_MAXIMA)
        mmt8_items = _spread(round(mmt8_base + (rng.randint(76, 80) - mmt8_base) * (1 - a)), MMT8_MAXIMA)
        values = {
            "cmas": scores.cmas(cmas_items),
            "mmt8": scores.mmt8(mmt8_items),
            "physician_global": _q(_clamp(pga_base * a + rng.uniform(0, 0.2), 0, 10), "0.1"),
            "patient_global": _q(_clamp(6 * a + rng.uniform(0, 0.8), 0, 10), "0.1"),
            "chaq": _q(_clamp(1.6 * a + rng.uniform(0, 0.2), 0, 3), "0.001"),
            "extramuscular": _q(_clamp(5 * a + rng.uniform(0, 0.3), 0, 10), "0.1"),
        }
        current = dict(values)
        current_labs = self.labs_on(on, 7, 1)
        baseline = None
        if self.baseline_jdm is not None and self.baseline_jdm[0] < on:
            base_on, base_values = self.baseline_jdm
            baseline = dict(base_values)
            base_labs = self.labs_on(base_on, 14, 3)
            ranked = sorted(
                (v[0] / v[2], code)
                for code, v in base_labs.items()
                if code in ("ck", "aldolase", "ldh", "ast", "alt") and v[2] and code in current_labs
            )
            if ranked:
                code = ranked[-1][1]
                baseline["enzyme"], current["enzyme"] = base_labs[code][0], current_labs[code][0]
        ck = current_labs.get("ck")
        result = instruments.score_jdm(
            current={k: (float(v) if v is not None else None) for k, v in current.items()},
            baseline={k: (float(v) if v is not None else None) for k, v in baseline.items()}
            if baseline
            else None,
            ck_u_l=ck[0] if ck else None,
        )
        if d <= 0:
            self.baseline_jdm = (on, values)
        tis = result.total_improvement_score
        self.put(
            JdmAssessment,
            self.at(on, 10),
            visit=visit,
            cmas_items=cmas_items,
            mmt8_items=mmt8_items,
            cdasi_activity=_q(_clamp(25 * a + rng.uniform(0, 3), 0, 100), "0.1"),
            cdasi_damage=_q(rng.uniform(1, 6), "0.1"),
            **values,
            total_improvement_score=_q(round(tis, 1), "0.1") if tis is not None else None,
            response=result.response,
            printo_inactive=result.printo_inactive,
            scores_version=scores.SCORES_VERSION,
        )

    def ssc(self, visit: _Ref, on: dt.date, d: int) -> None:
        rng = self.rng
        a = self.activity(d)
        if not hasattr(self, "_ssc_base"):
            self._ssc_base = (
                rng.randint(14, 32),
                rng.uniform(45, 80),
                rng.uniform(65, 95),
                rng.random() < 0.3,
            )
        mrss_base, dlco_base, fvc_base, ulcers = self._ssc_base
        mrss_total = round(mrss_base - (mrss_base - rng.randint(4, 12)) * (1 - a) * min(1.0, max(d, 0) / 365))
        sites = _spread(mrss_total, MRSS_MAXIMA)
        crp = self.labs_on(on, 7, 1).get("crp")  # as the service does when CRP is not entered
        crp_mg_dl = _q(round(crp[0] / 10, 2), "0.01") if crp else None
        dlco = _q(_clamp(dlco_base + 15 * (1 - a), 10, 200), "0.1")
        flags = {
            "skin_worsening": a > 0.7 and rng.random() < 0.5,
            "digital_ulcers": ulcers and a > 0.5,
            "tendon_friction_rubs": a > 0.8 and rng.random() < 0.15,
        }
        result = instruments.score_ssc(
            sites=sites,
            crp_mg_dl=None if crp_mg_dl is None else float(crp_mg_dl),
            dlco_percent_predicted=float(dlco),
            **flags,
        )
        index = result.eustar_activity_index
        self.put(
            SscAssessment,
            self.at(on, 10),
            visit=visit,
            mrss_sites=sites,
            fvc_percent_predicted=_q(_clamp(fvc_base + 10 * (1 - a), 10, 200), "0.1"),
            dlco_percent_predicted=dlco,
            raynaud=rng.random() < 0.9,
            crp_mg_dl=crp_mg_dl,
            mrss=result.mrss,
            eustar_activity_index=_q(round(index, 2), "0.01") if index is not None else None,
            eustar_active=result.eustar_active,
            scores_version=scores.SCORES_VERSION,
            **flags,
        )

    # --- infections and other adverse events ---------------------------------------------------------------

    def event_rows(self) -> None:
        rng = self.rng
        for _ in range(_weighted(rng, {0: 0.70, 1: 0.22, 2: 0.08})):
            d = rng.randint(3, 30) if rng.random() < 0.3 else rng.randint(31, max(31, min(self.end, 730)))
            if d > self.end or self.day(d) > self.today:
                continue
            kind = _weighted(
                rng, {"urti": 0.5, "uti": 0.2, "cmv": 0.1, "otitis": 0.12, "pneumonia": 0.07, "sepsis": 0.01}
            )
            site, organism_type, organism, route, hospitalised, icu = {
                "urti": ("upper respiratory tract", "viral", "", "none", False, False),
                "uti": ("urinary tract", "bacterial", "Escherichia coli", "oral", False, False),
                "cmv": ("blood (reactivation)", "viral", "cytomegalovirus", "oral", False, False),
                "otitis": ("middle ear", "bacterial", "", "oral", False, False),
                "pneumonia": ("lung", "bacterial", "", "iv", True, False),
                "sepsis": ("blood", "bacterial", "Klebsiella pneumoniae", "iv", True, True),
            }[kind]
            proposed = grading.infection_proposed_grade(
                treatment_route=route, hospitalised=hospitalised, icu=icu, life_threatening=icu
            )
            onset = self.day(d)
            resolved = onset + dt.timedelta(days=rng.randint(3, 14))
            done = resolved <= self.today
            self.put(
                Infection,
                self.at(onset, 15),
                patient=self.patient,
                onset_on=onset,
                site=site,
                organism_type=organism_type,
                organism=organism,
                treatment_route=route,
                hospitalised=hospitalised,
                icu=icu,
                life_threatening=icu,
                outcome="resolved" if done else "ongoing",
                resolved_on=resolved if done else None,
                proposed_grade=proposed,
                grade=proposed,
            )
            if hospitalised and d > self.discharge_day:
                self.put(
                    Admission,
                    self.at(onset, 16),
                    patient=self.patient,
                    admitted_on=onset,
                    discharged_on=resolved if done else None,
                    ward="icu" if icu else "ward",
                    reason="infection",
                )
        for _ in range(_weighted(rng, {0: 0.75, 1: 0.18, 2: 0.07})):
            term, grade, attribution, serious = _weighted(
                rng,
                {
                    ("Hypogammaglobulinemia", 2, "car_t", False): 0.25,
                    ("Rash maculo-papular", 1, "other", False): 0.15,
                    ("Nausea", 1, "lymphodepletion", False): 0.2,
                    ("Fatigue", 1, "car_t", False): 0.15,
                    ("Headache", 1, "other", False): 0.1,
                    ("Alopecia", 1, "lymphodepletion", False): 0.08,
                    ("Febrile neutropenia", 3, "car_t", True): 0.05,
                    ("Hypokalemia", 2, "other", False): 0.02,
                },
            )
            d = rng.randint(0, 60)
            if d > self.end or self.day(d) > self.today:
                continue
            started = self.day(d)
            ended = started + dt.timedelta(days=rng.randint(2, 30))
            done = ended <= self.today
            self.put(
                AdverseEvent,
                self.at(started, 14),
                patient=self.patient,
                term=term,
                grade=grade,
                serious=serious,
                serious_criteria=["hospitalisation"] if serious else [],
                attribution=attribution,
                started_on=started,
                ended_on=ended if done else None,
                outcome="resolved" if done else "ongoing",
            )


# --- the generator ----------------------------------------------------------------------------------------


def generate(
    *,
    patients: int,
    centres: int = DEFAULT_CENTRES,
    seed: int = DEFAULT_SEED,
    today: dt.date | None = None,
    chunk: int = DEFAULT_CHUNK,
    progress: Callable[[int, dict[str, int], float], None] | None = None,
) -> GenerationResult:
    """Add ``patients`` synthetic children at ``centres`` synthetic centres (see the module docstring).

    Refuses (:class:`RealPatientsPresent`) when the database holds any real patient. Every synthetic patient
    generated with ``seed`` is put in the case series :func:`series_name`. ``progress(done, counts, seconds)``
    is called after every chunk.
    """
    if patients < 1:
        raise ValueError("patients: must be at least 1")
    if not 1 <= centres <= 676:
        raise ValueError("centres: must be between 1 and 676")
    if connection.vendor not in ("postgresql", "sqlite"):
        raise ValueError(f"database: the generator writes to PostgreSQL or SQLite, not {connection.vendor}")
    refuse_if_real_patients()
    started = time.perf_counter()
    today = today or timezone.localdate()
    now = timezone.now()
    if today < now.date():
        now = dt.datetime.combine(today, dt.time(23, 0), tzinfo=dt.UTC)
    centre_rows = _centres(centres)
    ctx = _Context(
        seed=seed,
        today=today,
        now=now,
        product=_product(),
        timepoints={tp.code: tp for tp in ScheduleTimepoint.objects.filter(protocol="default")},
        zones={c.pk: zoneinfo.ZoneInfo(c.time_zone) for c in centre_rows},
        alternate_units={c.pk: c.country in ALTERNATE_UNIT_COUNTRIES for c in centre_rows},
        next_sequence={
            c.pk: (Patient.objects.filter(centre=c).aggregate(m=Max("sequence"))["m"] or 0) + 1
            for c in centre_rows
        },
    )
    offset = Patient.objects.filter(is_synthetic=True).count()
    weights = [1 / math.sqrt(k + 1) for k in range(len(centre_rows))]
    assignment = random.Random(f"{seed}:centres").choices(centre_rows, weights=weights, k=patients)
    series, _ = CaseSeries.objects.get_or_create(
        name=series_name(seed),
        defaults={"description": "Every synthetic patient generated for the benchmarks (invented data)."},
    )
    tables = {model: _Table(model, connection.vendor) for model in COPY_MODELS}
    through = CaseSeries.patients.through
    counts: dict[str, int] = {}
    with explicit_timestamps():
        for first in range(0, patients, chunk):
            rows = _Rows()
            for i in range(first, min(first + chunk, patients)):
                _Child(ctx, offset + i, assignment[i], rows).build()
            with transaction.atomic():
                rows.write(tables, counts)
                links = [through(caseseries_id=series.pk, patient_id=p.pk) for p in rows.objects[Patient]]
                through.objects.bulk_create(links, batch_size=BULK_BATCH)
                # As patient_enrol does: existing API clients get the new patients' pseudonyms and order.
                api_client_patients_add(patient_ids=[p.pk for p in rows.objects[Patient]])
            counts["registry.CaseSeries_patients"] = counts.get("registry.CaseSeries_patients", 0) + len(
                links
            )
            if progress is not None:
                progress(min(first + chunk, patients), counts, time.perf_counter() - started)
    return GenerationResult(patients, counts, time.perf_counter() - started, series)
