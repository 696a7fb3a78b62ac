"""Formatting for clinical numbers: cell counts as 3.20 × 10⁷, study days as D−5 / D0 / D+14."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from django import template

register = template.Library()

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def sci(value: Any, digits: int = 3) -> str:
    """``32500000.0`` → ``3.25 × 10⁷`` (``digits`` significant figures); small numbers stay plain."""
    if value in (None, ""):
        return "—"
    number = float(value)
    if not math.isfinite(number):
        return str(value)
    if number == 0 or 1e-3 <= abs(number) < 1e4:
        return f"{number:.{digits}g}"
    exponent = math.floor(math.log10(abs(number)))
    mantissa = number / 10**exponent
    if round(mantissa, digits - 1) >= 10:  # 9.999e6 rounds to 10.0 × 10⁶
        mantissa, exponent = mantissa / 10, exponent + 1
    return f"{mantissa:.{digits - 1}f} × 10{str(exponent).translate(_SUPERSCRIPT)}"


def study_day(value: Any) -> str:
    """A study day as the clinic writes it: D−5, D0, D+14; an em dash before day 0 is known."""
    if value in (None, ""):
        return "—"
    day = int(value)
    if day == 0:
        return "D0"
    return f"D+{day}" if day > 0 else f"D\u2212{-day}"


def signed(value: Any, places: int = 1) -> str:
    """``-2.5`` → ``−2.5``, ``3`` → ``+3.0`` (deviations)."""
    if value in (None, ""):
        return "—"
    number = Decimal(str(value))
    text = f"{abs(number):.{places}f}"
    return f"+{text}" if number > 0 else (f"\u2212{text}" if number < 0 else text)


register.filter("sci", sci)
register.filter("study_day", study_day)
register.filter("signed", signed)
