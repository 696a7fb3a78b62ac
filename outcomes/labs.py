"""The analyte catalogue of the shared laboratory model (pure: no Django).

Each analyte has one canonical unit (DESIGN §3) and the units labs commonly report, with the factor that
converts a reported value into the canonical unit, and a plausibility range in the canonical unit that forms
and
services enforce (a value outside it is almost always a unit or typing error).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

LAB_CATALOGUE_VERSION = "1.0.0"

CELLS_PER_UL = "cells/µL"
_COUNT_UNITS = {
    "cells/µL": 1.0,
    "cells/uL": 1.0,
    "/µL": 1.0,
    "/mm3": 1.0,
    "10^9/L": 1000.0,
    "10^3/µL": 1000.0,
    "10^3/uL": 1000.0,
    "G/L": 1000.0,
}


@dataclass(frozen=True)
class Analyte:
    code: str
    label: str
    unit: str  # canonical
    units: Mapping[str, float] = field(default_factory=dict)  # reported unit → factor to canonical
    plausible: tuple[float, float] = (0.0, math.inf)
    group: str = "other"

    def to_canonical(self, value: float, unit: str) -> float:
        """Convert ``value`` in ``unit`` to the canonical unit; ``ValueError`` naming the allowed units."""
        if unit not in self.units:
            raise ValueError(
                f"unit: '{unit}' is not a unit for {self.label}; allowed: {', '.join(self.units)}"
            )
        if isinstance(value, bool) or not math.isfinite(float(value)):
            raise ValueError(f"value: must be a finite number, got {value!r}")
        return float(value) * self.units[unit]


def _a(
    code: str, label: str, unit: str, units: dict[str, float], plausible: tuple[float, float], group: str
) -> Analyte:
    return Analyte(code, label, unit, MappingProxyType({unit: 1.0, **units}), plausible, group)


ANALYTES: Mapping[str, Analyte] = MappingProxyType(
    {
        a.code: a
        for a in [
            _a("wbc", "White blood cells", CELLS_PER_UL, _COUNT_UNITS, (0, 500_000), "cbc"),
            _a("anc", "Absolute neutrophil count", CELLS_PER_UL, _COUNT_UNITS, (0, 100_000), "cbc"),
            _a("alc", "Absolute lymphocyte count", CELLS_PER_UL, _COUNT_UNITS, (0, 200_000), "cbc"),
            _a(
                "platelets",
                "Platelets",
                "10^9/L",
                {"10^3/µL": 1.0, "10^3/uL": 1.0, "G/L": 1.0, "cells/µL": 0.001},
                (0, 3000),
                "cbc",
            ),
            _a("haemoglobin", "Haemoglobin", "g/L", {"g/dL": 10.0}, (10, 250), "cbc"),
            _a("cd19", "CD19+ B cells", CELLS_PER_UL, _COUNT_UNITS, (0, 10_000), "lymphocyte_subsets"),
            _a("cd3", "CD3+ T cells", CELLS_PER_UL, _COUNT_UNITS, (0, 50_000), "lymphocyte_subsets"),
            _a("cd4", "CD4+ T cells", CELLS_PER_UL, _COUNT_UNITS, (0, 30_000), "lymphocyte_subsets"),
            _a("cd8", "CD8+ T cells", CELLS_PER_UL, _COUNT_UNITS, (0, 30_000), "lymphocyte_subsets"),
            _a("car_t", "CAR T cells (flow)", CELLS_PER_UL, _COUNT_UNITS, (0, 50_000), "car_t"),
            _a(
                "transgene",
                "CAR transgene (qPCR)",
                "copies/µg DNA",
                {"copies/ug DNA": 1.0},
                (0, 1e7),
                "car_t",
            ),
            _a("igg", "IgG", "g/L", {"mg/dL": 0.01}, (0, 60), "immunoglobulins"),
            _a("iga", "IgA", "g/L", {"mg/dL": 0.01}, (0, 20), "immunoglobulins"),
            _a("igm", "IgM", "g/L", {"mg/dL": 0.01}, (0, 20), "immunoglobulins"),
            _a("crp", "C-reactive protein", "mg/L", {"mg/dL": 10.0}, (0, 1000), "inflammation"),
            _a("ferritin", "Ferritin", "µg/L", {"ng/mL": 1.0, "ug/L": 1.0}, (0, 500_000), "inflammation"),
            _a("il6", "Interleukin-6", "pg/mL", {}, (0, 1_000_000), "inflammation"),
            _a("creatinine", "Creatinine", "µmol/L", {"mg/dL": 88.42, "umol/L": 1.0}, (5, 3000), "renal"),
            _a(
                "upcr",
                "Urine protein:creatinine ratio",
                "g/g",
                {"mg/mg": 1.0, "mg/mmol": 0.00884, "mg/g": 0.001},
                (0, 50),
                "renal",
            ),
            _a("c3", "Complement C3", "g/L", {"mg/dL": 0.01}, (0, 5), "serology"),
            _a("c4", "Complement C4", "g/L", {"mg/dL": 0.01}, (0, 2), "serology"),
            _a("anti_dsdna", "Anti-dsDNA antibodies", "IU/mL", {"U/mL": 1.0}, (0, 100_000), "serology"),
            _a("ck", "Creatine kinase", "U/L", {"IU/L": 1.0}, (0, 500_000), "muscle"),
            _a("aldolase", "Aldolase", "U/L", {"IU/L": 1.0}, (0, 10_000), "muscle"),
            _a("ldh", "Lactate dehydrogenase", "U/L", {"IU/L": 1.0}, (0, 50_000), "muscle"),
            _a("ast", "AST", "U/L", {"IU/L": 1.0}, (0, 50_000), "muscle"),
            _a("alt", "ALT", "U/L", {"IU/L": 1.0}, (0, 50_000), "muscle"),
        ]
    }
)

# Analytes graded per result with laboratory CTCAE (term, divisor from canonical unit to the grader's unit).
CTCAE_TERM_FOR_ANALYTE: Mapping[str, tuple[str, float]] = MappingProxyType(
    {
        "anc": ("neutrophil_count_decreased", 1000.0),  # cells/µL → 10^9/L
        "alc": ("lymphocyte_count_decreased", 1000.0),
        "wbc": ("white_blood_cell_decreased", 1000.0),
        "platelets": ("platelet_count_decreased", 1.0),
        "haemoglobin": ("anemia", 1.0),
    }
)


def analyte(code: str) -> Analyte:
    try:
        return ANALYTES[code]
    except KeyError:
        raise ValueError(f"analyte: unknown code '{code}'; allowed: {', '.join(ANALYTES)}") from None
