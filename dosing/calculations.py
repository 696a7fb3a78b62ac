"""Dosing arithmetic for the CAR T registry: body surface area, cell dose, infusion volume, lymphodepletion.

Pure functions: plain numbers in, plain numbers out; nothing from Django, no database, no clock. Services
store the inputs, the result, the formula name and ``CALCULATIONS_VERSION``.

The names and keyword arguments of ``body_surface_area``, ``car_t_cells_required``, ``infusion_volume_ml``,
``dose_per_kg`` and ``lymphodepletion_dose_mg`` are a public contract (DESIGN.md §3). Results are never
rounded: rounding and capping of BSA or of doses are institutional rules applied by the caller (GRADING.md
§8.2–8.3).

Validation: every measurement must be a real number (``int``, ``float``, ``Decimal`` or ``Fraction``; ``bool``
is refused), finite, and strictly positive where the docstring says so. Violations raise ``ValueError`` whose
message names the argument and what is allowed. Physiological plausibility (a 2 kg child) is checked by forms
and services, not here.
"""

from __future__ import annotations

import math
from decimal import Decimal
from numbers import Real

__all__ = [
    "BSA_FORMULAS",
    "CALCULATIONS_VERSION",
    "DOSE_WINDOW_RESULTS",
    "body_surface_area",
    "car_t_cells_required",
    "dose_deviation_percent",
    "dose_per_kg",
    "dose_within_window",
    "infusion_volume_ml",
    "lymphodepletion_dose_mg",
    "percent_of_target",
]

#: The registry's own algorithm version for this module; services store it next to each result.
CALCULATIONS_VERSION = "1.0.0"

#: BSA formulas accepted by :func:`body_surface_area` (exact lower-case codes).
BSA_FORMULAS = ("mosteller", "haycock", "dubois")

#: Possible results of :func:`dose_within_window`.
DOSE_WINDOW_RESULTS = ("below", "within", "above")

# Relative tolerance for comparing a dose with the edge of a product window: a total recomputed as
# dose_per_kg × weight_kg (2.5e8 / 70 × 70) may differ from the entered figure in the last binary digit, and a
# dose exactly on a labelled edge is inside the window.
_WINDOW_REL_TOL = 1e-9


def _number(name: str, value: object) -> float:
    """Return ``value`` as a finite float, or raise ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, Real | Decimal):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return result


def _positive(name: str, value: object) -> float:
    """Return ``value`` as a finite float > 0, or raise ValueError naming ``name``."""
    result = _number(name, value)
    if result <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return result


def _optional_positive(name: str, value: object) -> float | None:
    return None if value is None else _positive(name, value)


def body_surface_area(height_cm: float, weight_kg: float, formula: str = "mosteller") -> float:
    """Body surface area in m², unrounded.

    Formulas (GRADING.md §8.2):

    - ``"mosteller"`` (default): ``sqrt(height_cm × weight_kg / 3600)``
    - ``"haycock"``: ``0.024265 × height_cm^0.3964 × weight_kg^0.5378``
    - ``"dubois"``: ``0.007184 × height_cm^0.725 × weight_kg^0.425``

    ``height_cm`` and ``weight_kg`` must be finite and > 0; ``formula`` must be one of :data:`BSA_FORMULAS`
    exactly (lower case).
    """
    height = _positive("height_cm", height_cm)
    weight = _positive("weight_kg", weight_kg)
    if formula == "mosteller":
        return math.sqrt(height * weight / 3600.0)
    if formula == "haycock":
        return 0.024265 * height**0.3964 * weight**0.5378
    if formula == "dubois":
        return 0.007184 * height**0.725 * weight**0.425
    raise ValueError(f"formula must be one of {', '.join(BSA_FORMULAS)}; got {formula!r}")


def car_t_cells_required(weight_kg: float, target_cells_per_kg: float = 1e6) -> float:
    """Number of CAR-positive viable T cells needed for ``weight_kg`` at ``target_cells_per_kg``.

    Default target 1 × 10⁶ CAR T cells/kg (Mackensen 2022, SLE; GRADING.md §8.4). Both arguments must be
    finite and > 0.
    """
    weight = _positive("weight_kg", weight_kg)
    target = _positive("target_cells_per_kg", target_cells_per_kg)
    return weight * target


def infusion_volume_ml(cells_required: float, car_t_cells_per_ml: float) -> float:
    """Volume in mL of product holding ``cells_required`` CAR T cells at ``car_t_cells_per_ml``.

    Both arguments must be finite and > 0 (the concentration is a divisor).
    """
    cells = _positive("cells_required", cells_required)
    concentration = _positive("car_t_cells_per_ml", car_t_cells_per_ml)
    return cells / concentration


def dose_per_kg(car_t_cells_infused: float, weight_kg: float) -> float:
    """Dose actually given, in CAR-positive viable T cells per kg: ``car_t_cells_infused / weight_kg``.

    Which weight is used (at apheresis or before infusion) is a protocol decision; the caller stores it.
    Both arguments must be finite and > 0.
    """
    cells = _positive("car_t_cells_infused", car_t_cells_infused)
    weight = _positive("weight_kg", weight_kg)
    return cells / weight


def lymphodepletion_dose_mg(mg_per_m2: float, bsa_m2: float) -> float:
    """Daily lymphodepleting drug dose in mg: ``mg_per_m2 × bsa_m2`` (GRADING.md §8.3), unrounded.

    E.g. fludarabine 25 mg/m² at BSA 1.1667 m² → 29.17 mg/day. Both arguments must be finite and > 0.
    """
    dose = _positive("mg_per_m2", mg_per_m2)
    bsa = _positive("bsa_m2", bsa_m2)
    return dose * bsa


def percent_of_target(dose_per_kg: float, target_per_kg: float = 1e6) -> float:
    """Dose given as a percentage of the target: ``dose_per_kg / target_per_kg × 100`` (GRADING.md §8.4).

    E.g. 0.833 × 10⁶/kg against a 1 × 10⁶/kg target → 83.3 %. Both arguments must be finite and > 0; the
    default target is the same 1 × 10⁶ cells/kg as :func:`car_t_cells_required`.
    """
    dose = _positive("dose_per_kg", dose_per_kg)
    target = _positive("target_per_kg", target_per_kg)
    return dose / target * 100.0


def _compare(value: float, low: float | None, high: float | None) -> str:
    if low is not None and value < low and not math.isclose(value, low, rel_tol=_WINDOW_REL_TOL):
        return "below"
    if high is not None and value > high and not math.isclose(value, high, rel_tol=_WINDOW_REL_TOL):
        return "above"
    return "within"


def dose_within_window(
    *,
    dose_per_kg: float,
    weight_kg: float,
    min_per_kg: float | None = None,
    max_per_kg: float | None = None,
    min_total: float | None = None,
    max_total: float | None = None,
    weight_cutoff_kg: float | None = None,
) -> str:
    """Place a CAR T dose in a product's labelled dose window: ``"below"``, ``"within"`` or ``"above"``.

    Windows are product data (GRADING.md §8.4), e.g. tisagenlecleucel B-ALL: ≤ 50 kg → 0.2–5.0 × 10⁶ cells/kg;
    > 50 kg → 0.1–2.5 × 10⁸ cells in total. Rules:

    - ``weight_kg <= weight_cutoff_kg`` (the cut-off itself included) → the per-kg window
      (``min_per_kg``/``max_per_kg``) applies to ``dose_per_kg``.
    - ``weight_kg > weight_cutoff_kg`` and a total window (``min_total``/``max_total``) is given → the total
      window applies to ``dose_per_kg × weight_kg``; without a total window the per-kg window applies.
    - No ``weight_cutoff_kg``: the per-kg window when given, otherwise the total window; giving both windows
      then is invalid (which one applies would be a guess).

    A window may be open on one side (only a minimum or only a maximum). Edges are inclusive and compared with
    a relative tolerance of 1e-9, so a dose exactly on a labelled edge is ``"within"``. All numbers must be
    finite and > 0; a minimum above its maximum is invalid, and so is a window that is needed but missing.
    """
    dose = _positive("dose_per_kg", dose_per_kg)
    weight = _positive("weight_kg", weight_kg)
    low_kg = _optional_positive("min_per_kg", min_per_kg)
    high_kg = _optional_positive("max_per_kg", max_per_kg)
    low_total = _optional_positive("min_total", min_total)
    high_total = _optional_positive("max_total", max_total)
    cutoff = _optional_positive("weight_cutoff_kg", weight_cutoff_kg)
    if low_kg is not None and high_kg is not None and low_kg > high_kg:
        raise ValueError(f"min_per_kg ({low_kg!r}) must not exceed max_per_kg ({high_kg!r})")
    if low_total is not None and high_total is not None and low_total > high_total:
        raise ValueError(f"min_total ({low_total!r}) must not exceed max_total ({high_total!r})")

    has_per_kg = low_kg is not None or high_kg is not None
    has_total = low_total is not None or high_total is not None
    if cutoff is None:
        if has_per_kg and has_total:
            raise ValueError(
                "weight_cutoff_kg is required when both a per-kg window (min_per_kg/max_per_kg) and a total "
                "window (min_total/max_total) are given"
            )
        use_total = has_total
    else:
        use_total = weight > cutoff and has_total

    if use_total:
        return _compare(dose * weight, low_total, high_total)
    if not has_per_kg:
        raise ValueError(
            f"min_per_kg or max_per_kg is required: weight_kg {weight!r} is at or below weight_cutoff_kg "
            f"{cutoff!r}, where the per-kg window applies"
            if cutoff is not None
            else "a window is required: give min_per_kg/max_per_kg or min_total/max_total"
        )
    return _compare(dose, low_kg, high_kg)


def dose_deviation_percent(planned_mg: float, given_mg: float) -> float:
    """Signed deviation of a given dose from the planned dose, in percent of the plan.

    ``(given_mg − planned_mg) / planned_mg × 100``: positive when more was given than planned, negative when
    less (planned 29.17 mg, given 30 mg → +2.85 %). Both doses must be finite and > 0; a dose that was not
    given at all is recorded as omitted by the service, not passed here as 0 mg.
    """
    planned = _positive("planned_mg", planned_mg)
    given = _positive("given_mg", given_mg)
    return (given - planned) / planned * 100.0
