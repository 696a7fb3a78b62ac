"""The baseline at a glance (organ involvement and prior therapy), as the API lists it.

One pure function shared by the stored :class:`patients.models.BaselineSummary` (written by
``patients.services``), the synthetic generator and the migration that filled the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from patients.models import TherapyClass

GLUCOCORTICOID = TherapyClass.GLUCOCORTICOID.value  # recorded, not a line
B_CELL_TARGETED = TherapyClass.B_CELL.value
SEPARATOR = ","  # codes are snake_case choices: never a comma


def summarise(organs: Iterable[tuple[str, str]], therapies: Iterable[tuple[str, bool]]) -> dict[str, Any]:
    """The :class:`~patients.models.BaselineSummary` fields of a patient from its current ``(organ,
    nephritis_class)`` and ``(therapy_class, b_cell_targeted)`` rows.

    Organs are listed sorted; the ISN/RPS class is lupus nephritis's (the only organ that has one); the lines
    of therapy count every prior therapy but glucocorticoids; the classes are listed sorted, each once; a
    B-cell-targeted therapy is one flagged so or of the B-cell-targeted class.
    """
    organs = sorted(organs)
    therapies = list(therapies)
    return {
        "organs": SEPARATOR.join(organ for organ, _ in organs),
        "nephritis_class": next((cls for _, cls in reversed(organs) if cls), ""),
        "prior_therapy_lines": sum(klass != GLUCOCORTICOID for klass, _ in therapies),
        "prior_therapy_classes": SEPARATOR.join(sorted({klass for klass, _ in therapies})),
        "prior_b_cell_targeted": any(bool(flag) or klass == B_CELL_TARGETED for klass, flag in therapies),
    }


def codes(stored: str | None) -> list[str]:
    """The list of codes of a stored comma-separated field (empty for none or a patient without a row)."""
    return stored.split(SEPARATOR) if stored else []
