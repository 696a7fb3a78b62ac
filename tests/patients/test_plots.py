"""The SVG plots of the patient page (pure functions, no database): well-formed, named and described for
screen readers, every point with its value, log scales that keep values of 0, text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest

from patients import plots
from patients.glance import prednisone_steps

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(markup)


def points(root: ET.Element) -> list[ET.Element]:
    return [el for el in root.iter() if el.get("class") == "point"]


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (0.05, "0.05"), (15.34, "15.3"), (100, "100"), (1500, "1500"), (1e4, "10⁴"), (12000, "1.2×10⁴")],
)
def test_numbers_are_written_as_people_write_them(value, text):
    assert plots.number(value) == text


@pytest.mark.parametrize(
    ("values", "extra", "domain"),
    [
        ([0, 0.05, 24.7], (), (0.01, 100)),
        ([180, 2900], (100, 500, 1500), (100, 10_000)),
        ([], (), (0.01, 10)),
        ([5, 5], (), (1, 10)),
    ],
)
def test_log_domain_spans_whole_decades_above_the_floor(values, extra, domain):
    assert plots.log_domain(values, extra=extra) == pytest.approx(domain)


def test_x_ticks_count_in_days_people_use_and_always_mark_day_0():
    assert plots.x_ticks(-30, 70) == [-28, -14, 0, 14, 28, 42, 56, 70]
    ticks = plots.x_ticks(-30, 731)
    assert 0 in ticks and ticks[1] - ticks[0] in (90, 180) and len(ticks) <= plots.MAX_X_TICKS + 1


def test_line_plot_is_named_described_and_gives_every_point_its_value():
    markup = plots.line_plot(
        plot_id="plot-activity",
        title="Disease activity over time",
        description="2 visits with SLEDAI-2K.",
        x_label="Study day",
        y_label="Score",
        series=[plots.Series("SLEDAI-2K", [(-30, 16), (28, 6)], ["screening: 16", "day 28: 6"])],
        x_domain=(-30, 70),
        thresholds=[plots.Threshold(4, "LLDAS ≤ 4")],
    )
    root = parse(markup)
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "plot-activity-title plot-activity-desc"
    assert root.find(f"{SVG}title").get("id") == "plot-activity-title"
    assert root.find(f"{SVG}title").text == "Disease activity over time"
    assert root.find(f"{SVG}desc").text == "2 visits with SLEDAI-2K."
    found = points(root)
    assert [(p.get("data-x"), p.get("data-y")) for p in found] == [("-30", "16"), ("28", "6")]
    assert [p.find(f"{SVG}title").text for p in found] == ["screening: 16", "day 28: 6"]
    axis_labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "axis-label"]
    assert axis_labels == ["Score", "Study day"]
    assert "style=" not in markup  # the CSP forbids style attributes


def test_log_plot_puts_values_of_0_on_the_0_band_with_hollow_markers():
    markup = plots.line_plot(
        plot_id="p",
        title="t",
        description="d",
        x_label="x",
        y_label="y",
        series=[plots.Series("CD19", [(0, 60), (7, 0), (14, 0)])],
        x_domain=(0, 28),
        log_y=True,
    )
    found = points(parse(markup))
    assert len(found) == 3
    zero_y = {p.get("cy") for p in found if p.get("data-y") == "0"}
    assert zero_y == {str(plots.HEIGHT - plots.MARGIN_BOTTOM)}
    assert all(p.get("fill") == "#fff" for p in found if p.get("data-y") == "0")
    assert ">0</text>" in markup  # the band is labelled


def test_text_is_escaped():
    markup = plots.line_plot(
        plot_id="p",
        title="<script>alert(1)</script>",
        description="a & b",
        x_label="x",
        y_label="y",
        series=[plots.Series('"quoted"', [(1, 1)], ["<b>"])],
        x_domain=(0, 2),
    )
    parse(markup)  # still well-formed
    assert "<script>" not in markup and "&lt;script&gt;" in markup and "<b>" not in markup


def test_bar_plot_draws_grade_0_thin_and_leaves_unassessed_days_empty():
    markup = plots.bar_plot(
        plot_id="plot-crs-icans",
        title="t",
        description="d",
        x_label="Study day",
        y_label="Grade",
        categories=[0, 1, 2, 3],
        series=[plots.BarSeries("CRS", [None, 1, 2, 0]), plots.BarSeries("ICANS", [None, 0, None, None])],
        y_max=4,
        future_from=3,
        future_label="not reached yet",
    )
    bars = [el for el in parse(markup).iter() if el.get("class") == "bar"]
    assert [(b.get("data-x"), b.get("data-y")) for b in bars] == [("1", "1"), ("2", "2"), ("3", "0"), ("1", "0")]
    heights = {(b.get("data-x"), b.get("data-y")): float(b.get("height")) for b in bars}
    assert heights[("3", "0")] == 2 and heights[("2", "2")] > heights[("1", "1")] > 2


def test_prednisone_steps_hold_each_dose_from_start_to_stop():
    meds = [
        SimpleNamespace(start_day=-400, stop_day=-20, prednisone_equivalent_mg_per_day=15),
        SimpleNamespace(start_day=30, stop_day=None, prednisone_equivalent_mg_per_day=5),
        SimpleNamespace(start_day=40, stop_day=49, prednisone_equivalent_mg_per_day=2.5),
    ]
    assert prednisone_steps(meds, (-90, 70)) == [(-90, 15), (-19, 0), (30, 5), (40, 7.5), (50, 5), (70, 5)]
    assert prednisone_steps([], (-30, 70)) == [(-30, 0), (70, 0)]
