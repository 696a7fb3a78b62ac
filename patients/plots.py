"""Server-rendered SVG plots for the patient page: pure functions from plain series to SVG markup.

No JavaScript and no plotting library: the page stays within the CSP (no inline scripts or style attributes;
colours are SVG presentation attributes, overridable from ``registry.css``) and prints well. Each plot is an
``<svg role="img">`` named by its ``<title>`` and described by a ``<desc>`` that states what it shows in
words; every data point carries its own ``<title>`` (a tooltip on hover) and ``data-x``/``data-y``
attributes. The page also offers the numbers as a table next to each plot.

This module imports nothing from Django and never touches the database: callers pass translated labels and
a formatter for the x axis (study days). Log scales put values of 0 (below detection) on a separate "0"
band under the lowest decade instead of dropping them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

WIDTH = 640
HEIGHT = 260
MARGIN_LEFT = 58
MARGIN_RIGHT = 18
MARGIN_TOP = 34
MARGIN_BOTTOM = 46
ZERO_BAND = 18  # px under a log axis for values of 0

# Okabe–Ito colours (distinguishable with the common colour-vision deficiencies), each with its own marker.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00")
MARKERS = ("circle", "square", "diamond", "triangle", "circle")
THRESHOLD_DASHES = ("6 3", "2 3", "8 3 2 3", "4 4")

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
X_STEPS = (1, 2, 5, 7, 14, 28, 30, 60, 90, 180, 365, 730, 1461)
MAX_X_TICKS = 9


@dataclass(frozen=True)
class Series:
    """One series: ``points`` are (x, y); ``titles`` (same length) label each point for hover and tables.

    ``style`` is ``"line"`` (points joined), ``"step"`` (a value holds until the next point) or ``"points"``.
    """

    label: str
    points: Sequence[tuple[float, float]]
    titles: Sequence[str] = ()
    style: str = "line"
    markers: bool = True


@dataclass(frozen=True)
class Threshold:
    value: float
    label: str


@dataclass(frozen=True)
class Span:
    """A shaded range of x (e.g. the early ICAHT window, days 0–30)."""

    start: float
    end: float
    label: str


@dataclass(frozen=True)
class BarSeries:
    """Grades per category (``None`` = not assessed); ``titles`` per category for hover."""

    label: str
    values: Sequence[int | None]
    titles: Sequence[str] = ()


@dataclass
class _Svg:
    plot_id: str
    title: str
    description: str
    width: int = WIDTH
    height: int = HEIGHT
    parts: list[str] = field(default_factory=list)

    def add(self, markup: str) -> None:
        self.parts.append(markup)

    def render(self) -> str:
        pid = escape(self.plot_id)
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" id="{pid}" '
            f'viewBox="0 0 {self.width} {self.height}" role="img" '
            f'aria-labelledby="{pid}-title {pid}-desc" font-size="12" font-family="sans-serif">'
            f'<title id="{pid}-title">{escape(self.title)}</title>'
            f'<desc id="{pid}-desc">{escape(self.description)}</desc>'
        )
        return head + "".join(self.parts) + "</svg>"


def _n(value: float) -> str:
    """A coordinate with one decimal, without trailing zeros."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def number(value: float) -> str:
    """A value as people write it: 0.05, 15.3, 1500, 1.2×10⁴, 10⁵ (3 significant figures at most)."""
    if value == 0:
        return "0"
    if abs(value) >= 10_000:
        exponent = math.floor(math.log10(abs(value)))
        mantissa = round(value / 10**exponent, 2)
        power = "10" + str(exponent).translate(_SUPERSCRIPT)
        return power if mantissa == 1 else f"{mantissa:g}×{power}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


# --- scales -------------------------------------------------------------------------------------------------


def nice_step(span: float, max_ticks: int = 6) -> float:
    """A 1-2-5 step giving at most ``max_ticks`` intervals over ``span``."""
    if span <= 0:
        return 1.0
    raw = span / max_ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def x_step(span: float) -> int:
    """A step in days that people count in (weeks, 4 weeks, months, quarters, years)."""
    for step in X_STEPS:
        if span / step <= MAX_X_TICKS - 1:
            return step
    return X_STEPS[-1]


def x_ticks(low: float, high: float) -> list[int]:
    step = x_step(high - low)
    first = math.ceil(low / step) * step
    ticks = []
    value = first
    while value <= high:
        ticks.append(int(value))
        value += step
    if 0 not in ticks and low <= 0 <= high:
        ticks.append(0)  # day 0 is always marked
        ticks.sort()
    return ticks


class _LinearY:
    def __init__(self, low: float, high: float, top: float, bottom: float) -> None:
        self.low, self.high, self.top, self.bottom = low, high, top, bottom

    def __call__(self, value: float) -> float:
        value = min(max(value, self.low), self.high)
        return self.bottom - (value - self.low) / (self.high - self.low) * (self.bottom - self.top)

    def ticks(self) -> list[tuple[float, str]]:
        step = nice_step(self.high - self.low, 5)
        ticks, value = [], self.low
        while value <= self.high + step / 1000:
            ticks.append((value, number(round(value, 6))))
            value += step
        return ticks


class _LogY:
    """log10 scale between two decades; values ≤ 0 go to a band under the axis labelled "0"."""

    def __init__(self, low: float, high: float, top: float, bottom: float, zero_band: bool) -> None:
        self.low_exp, self.high_exp = math.log10(low), math.log10(high)
        self.top = top
        self.zero_y = bottom
        self.bottom = bottom - ZERO_BAND if zero_band else bottom
        self.zero_band = zero_band

    def __call__(self, value: float) -> float:
        if value <= 0:
            return self.zero_y
        exp = min(max(math.log10(value), self.low_exp), self.high_exp)
        return self.bottom - (exp - self.low_exp) / (self.high_exp - self.low_exp) * (self.bottom - self.top)

    def ticks(self) -> list[tuple[float, str]]:
        ticks = [(10.0**e, number(10.0**e)) for e in range(round(self.low_exp), round(self.high_exp) + 1)]
        if self.zero_band:
            ticks.insert(0, (0.0, "0"))
        return ticks


def log_domain(
    values: Sequence[float], *, floor: float = 0.01, extra: Sequence[float] = ()
) -> tuple[float, float]:
    """Whole decades around the positive ``values`` (and ``extra``, e.g. thresholds), not below ``floor``."""
    positive = [v for v in (*values, *extra) if v > 0]
    if not positive:
        return floor, max(floor * 1000, 1.0)
    low = max(floor, 10 ** math.floor(math.log10(min(positive))))
    high = 10 ** math.ceil(math.log10(max(positive)))
    if high <= low:
        high = low * 10
    return low, high


# --- drawing ------------------------------------------------------------------------------------------------


def _marker(
    kind: str,
    x: float,
    y: float,
    colour: str,
    *,
    hollow: bool = False,
    attrs: str = "",
    title: str | None = None,
    css: str = "point",
) -> str:
    """A data marker (circle, square, diamond, triangle), with its own tooltip when ``title`` is given."""
    fill = "#fff" if hollow else colour
    common = f'class="{css}" fill="{fill}" stroke="{colour}" stroke-width="1.5"{attrs}'
    if kind == "square":
        tag, shape = "rect", f'x="{_n(x - 3.5)}" y="{_n(y - 3.5)}" width="7" height="7"'
    elif kind == "diamond":
        tag = "polygon"
        corners = ((x, y - 4.5), (x + 4.5, y), (x, y + 4.5), (x - 4.5, y))
        shape = 'points="' + " ".join(f"{_n(a)},{_n(b)}" for a, b in corners) + '"'
    elif kind == "triangle":
        tag = "polygon"
        shape = f'points="{_n(x)},{_n(y - 4.5)} {_n(x + 4.5)},{_n(y + 3.5)} {_n(x - 4.5)},{_n(y + 3.5)}"'
    else:
        tag, shape = "circle", f'cx="{_n(x)}" cy="{_n(y)}" r="3.8"'
    if title is None:
        return f"<{tag} {shape} {common}/>"
    return f"<{tag} {shape} {common}><title>{escape(title)}</title></{tag}>"


def _legend(svg: _Svg, labels: Sequence[str], *, bars: bool = False) -> None:
    x = MARGIN_LEFT
    items = []
    for index, label in enumerate(labels):
        colour = PALETTE[index % len(PALETTE)]
        if bars:
            items.append(f'<rect x="{x}" y="11" width="12" height="10" fill="{colour}"/>')
        else:
            items.append(
                f'<line x1="{x - 2}" y1="16" x2="{x + 16}" y2="16" stroke="{colour}" stroke-width="2"/>'
                + _marker(MARKERS[index % len(MARKERS)], x + 7, 16, colour, css="legend-marker")
            )
        items.append(f'<text x="{x + 22}" y="20">{escape(label)}</text>')
        x += 34 + 7 * len(label)
    svg.add('<g class="legend" aria-hidden="true">' + "".join(items) + "</g>")


def _frame(svg: _Svg, *, left: float, right: float, top: float, bottom: float) -> None:
    svg.add(
        f'<rect class="frame" x="{_n(left)}" y="{_n(top)}" width="{_n(right - left)}" '
        f'height="{_n(bottom - top)}" fill="none" stroke="#9ca3af" stroke-width="1"/>'
    )


def line_plot(
    *,
    plot_id: str,
    title: str,
    description: str,
    x_label: str,
    y_label: str,
    series: Sequence[Series],
    x_domain: tuple[float, float],
    y_domain: tuple[float, float] | None = None,
    log_y: bool = False,
    thresholds: Sequence[Threshold] = (),
    spans: Sequence[Span] = (),
    x_format: Callable[[float], str] = lambda x: f"{x:g}",
    mark_x: Sequence[tuple[float, str]] = (),
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """A line/step/point plot over a numeric x axis (study days), linear or log10 y."""
    svg = _Svg(plot_id, title, description, width, height)
    left, right = MARGIN_LEFT, width - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, height - MARGIN_BOTTOM
    x_low, x_high = x_domain
    if x_high <= x_low:
        x_high = x_low + 1

    def sx(value: float) -> float:
        value = min(max(value, x_low), x_high)
        return left + (value - x_low) / (x_high - x_low) * (right - left)

    values = [y for s in series for _x, y in s.points]
    if log_y:
        low, high = y_domain or log_domain(values, extra=[t.value for t in thresholds])
        sy: _LinearY | _LogY = _LogY(low, high, top, bottom, zero_band=any(v <= 0 for v in values))
    else:
        if y_domain is None:
            top_value = max([*values, *(t.value for t in thresholds), 1.0])
            step = nice_step(top_value, 5)
            y_domain = (0.0, math.ceil(top_value * 1.05 / step) * step)
        sy = _LinearY(y_domain[0], y_domain[1], top, bottom)

    # shaded spans, grid, frame
    for span in spans:
        x1, x2 = sx(span.start), sx(span.end)
        svg.add(
            f'<g class="span"><rect x="{_n(x1)}" y="{_n(top)}" width="{_n(max(x2 - x1, 0))}" '
            f'height="{_n(bottom - top)}" fill="#f3f4f6"/>'
            f'<text x="{_n(x1 + 4)}" y="{_n(top + 12)}" fill="#4b5563" font-size="10">'
            f"{escape(span.label)}</text></g>"
        )
    grid, labels = [], []
    for value, label in sy.ticks():
        y = sy(value)
        grid.append(f'<line x1="{left}" y1="{_n(y)}" x2="{right}" y2="{_n(y)}" stroke="#e5e7eb"/>')
        labels.append(f'<text x="{left - 6}" y="{_n(y + 4)}" text-anchor="end">{escape(label)}</text>')
    if isinstance(sy, _LogY) and sy.zero_band:
        grid.append(
            f'<line x1="{left}" y1="{_n(sy.bottom + ZERO_BAND / 2)}" x2="{right}" '
            f'y2="{_n(sy.bottom + ZERO_BAND / 2)}" stroke="#9ca3af" stroke-dasharray="1 3"/>'
        )
    x_tick_marks = []
    for day in x_ticks(x_low, x_high):
        x = sx(day)
        grid.append(f'<line x1="{_n(x)}" y1="{top}" x2="{_n(x)}" y2="{bottom}" stroke="#f0f1f3"/>')
        x_tick_marks.append(
            f'<line x1="{_n(x)}" y1="{bottom}" x2="{_n(x)}" y2="{bottom + 4}" stroke="#6b7280"/>'
            f'<text x="{_n(x)}" y="{bottom + 16}" text-anchor="middle">{escape(x_format(day))}</text>'
        )
    svg.add('<g class="grid" aria-hidden="true">' + "".join(grid) + "</g>")
    _frame(svg, left=left, right=right, top=top, bottom=bottom)
    for x_value, label in mark_x:
        if x_low <= x_value <= x_high:
            x = sx(x_value)
            svg.add(
                f'<g class="mark"><line x1="{_n(x)}" y1="{top}" x2="{_n(x)}" y2="{bottom}" stroke="#374151" '
                f'stroke-dasharray="3 3"/><text x="{_n(x + 3)}" y="{bottom - 4}" fill="#374151" '
                f'font-size="10">{escape(label)}</text></g>'
            )
    svg.add(
        '<g class="axis y-axis" aria-hidden="true">'
        + "".join(labels)
        + f'<text class="axis-label" transform="translate(14 {_n((top + bottom) / 2)}) rotate(-90)" '
        f'text-anchor="middle">{escape(y_label)}</text></g>'
    )
    svg.add(
        '<g class="axis x-axis" aria-hidden="true">'
        + "".join(x_tick_marks)
        + f'<text class="axis-label" x="{_n((left + right) / 2)}" y="{height - 6}" '
        f'text-anchor="middle">{escape(x_label)}</text></g>'
    )
    for index, threshold in enumerate(thresholds):
        y = sy(threshold.value)
        dash = THRESHOLD_DASHES[index % len(THRESHOLD_DASHES)]
        svg.add(
            f'<g class="threshold" data-value="{threshold.value:g}"><line x1="{left}" y1="{_n(y)}" '
            f'x2="{right}" y2="{_n(y)}" stroke="#7c2d12" stroke-width="1.2" stroke-dasharray="{dash}"/>'
            f'<text x="{right - 4}" y="{_n(y - 3)}" text-anchor="end" fill="#7c2d12" font-size="10">'
            f"{escape(threshold.label)}</text></g>"
        )
    for index, s in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        marker = MARKERS[index % len(MARKERS)]
        coords = [(sx(x), sy(y)) for x, y in s.points]
        parts = [f'<g class="series series-{index + 1}" data-label="{escape(s.label)}">']
        if len(coords) > 1 and s.style in ("line", "step"):
            if s.style == "step":
                path = [f"M{_n(coords[0][0])},{_n(coords[0][1])}"]
                for (_x0, _y0), (x1, y1) in zip(coords, coords[1:], strict=False):
                    path.append(f"H{_n(x1)}V{_n(y1)}")
                parts.append(f'<path d="{"".join(path)}" fill="none" stroke="{colour}" stroke-width="2"/>')
            else:
                pts = " ".join(f"{_n(x)},{_n(y)}" for x, y in coords)
                parts.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>')
        if s.markers:
            for i, ((x, y), (x_value, y_value)) in enumerate(zip(coords, s.points, strict=True)):
                tip = s.titles[i] if i < len(s.titles) else f"{x_format(x_value)}: {number(y_value)}"
                parts.append(
                    _marker(
                        marker,
                        x,
                        y,
                        colour,
                        hollow=log_y and y_value <= 0,
                        attrs=f' data-x="{x_value:g}" data-y="{y_value:g}"',
                        title=tip,
                    )
                )
        parts.append("</g>")
        svg.add("".join(parts))
    _legend(svg, [s.label for s in series])
    return svg.render()


def bar_plot(
    *,
    plot_id: str,
    title: str,
    description: str,
    x_label: str,
    y_label: str,
    categories: Sequence[int],
    series: Sequence[BarSeries],
    y_max: int,
    future_from: int | None = None,
    future_label: str = "",
    x_format: Callable[[float], str] = lambda x: f"{x:g}",
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """Grouped bars of integer grades per category (study day): 0 is a thin bar, "not assessed" none."""
    svg = _Svg(plot_id, title, description, width, height)
    left, right = MARGIN_LEFT, width - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, height - MARGIN_BOTTOM
    slot = (right - left) / max(len(categories), 1)
    bar = max(min(slot * 0.8 / max(len(series), 1), 10), 2)
    sy = _LinearY(0, y_max, top, bottom)
    grid, labels = [], []
    for grade in range(y_max + 1):
        y = sy(grade)
        grid.append(f'<line x1="{left}" y1="{_n(y)}" x2="{right}" y2="{_n(y)}" stroke="#e5e7eb"/>')
        labels.append(f'<text x="{left - 6}" y="{_n(y + 4)}" text-anchor="end">{grade}</text>')
    if future_from is not None and future_from <= categories[-1]:
        start = categories.index(future_from) if future_from in categories else 0
        x1 = left + start * slot
        grid.append(
            f'<rect class="future" x="{_n(x1)}" y="{top}" width="{_n(right - x1)}" height="{bottom - top}" '
            f'fill="#f3f4f6"/><text x="{_n(x1 + 4)}" y="{top + 12}" fill="#4b5563" font-size="10">'
            f"{escape(future_label)}</text>"
        )
    ticks = []
    step = 7 if len(categories) > 15 else 1
    for i, category in enumerate(categories):
        if category % step == 0:
            x = left + (i + 0.5) * slot
            ticks.append(
                f'<line x1="{_n(x)}" y1="{bottom}" x2="{_n(x)}" y2="{bottom + 4}" stroke="#6b7280"/>'
                f'<text x="{_n(x)}" y="{bottom + 16}" text-anchor="middle">'
                f"{escape(x_format(category))}</text>"
            )
    svg.add('<g class="grid" aria-hidden="true">' + "".join(grid) + "</g>")
    _frame(svg, left=left, right=right, top=top, bottom=bottom)
    svg.add(
        '<g class="axis y-axis" aria-hidden="true">'
        + "".join(labels)
        + f'<text class="axis-label" transform="translate(14 {_n((top + bottom) / 2)}) rotate(-90)" '
        f'text-anchor="middle">{escape(y_label)}</text></g>'
    )
    svg.add(
        '<g class="axis x-axis" aria-hidden="true">'
        + "".join(ticks)
        + f'<text class="axis-label" x="{_n((left + right) / 2)}" y="{height - 6}" '
        f'text-anchor="middle">{escape(x_label)}</text></g>'
    )
    for index, s in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        parts = [f'<g class="series series-{index + 1}" data-label="{escape(s.label)}">']
        for i, (category, value) in enumerate(zip(categories, s.values, strict=True)):
            if value is None:
                continue
            x = left + i * slot + (slot - bar * len(series)) / 2 + index * bar
            y = sy(value) if value > 0 else bottom - 2
            tip = s.titles[i] if i < len(s.titles) and s.titles[i] else f"{x_format(category)}: {value}"
            parts.append(
                f'<rect class="bar" x="{_n(x)}" y="{_n(y)}" width="{_n(bar - 1)}" height="{_n(bottom - y)}" '
                f'fill="{colour}" data-x="{category}" data-y="{value}"><title>{escape(tip)}</title></rect>'
            )
        parts.append("</g>")
        svg.add("".join(parts))
    _legend(svg, [s.label for s in series], bars=True)
    return svg.render()
