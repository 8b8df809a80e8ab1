"""api/svg_charts.py: the report page's charts are valid XML whatever the labels, labels are
escaped text, values land where the scale says, and empty data still draws a chart."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.svg_charts import BarGroup, CurvePoint, bar_chart, rate_curve, rate_scale, xml_text

NS = {"svg": "http://www.w3.org/2000/svg"}
HOSTILE = ["<script>alert(1)</script>", 'a"b\'c&d', "]]><!--", "\x00\x07\x1b", "\ud800",
           "\u202eevil", "漢字", "x" * 300]


def parsed(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def dots(root: ET.Element) -> list[ET.Element]:
    return root.findall("svg:circle", NS)


def curve(values: dict[int, float | None], target: float = 0.99, days: int = 30) -> ET.Element:
    points = [CurvePoint(day, value, f"day {day}") for day, value in values.items()]
    return parsed(rate_curve(points, days, target, "north"))


# Valid XML, escaped text -----------------------------------------------------------------------
@pytest.mark.parametrize("label", HOSTILE)
def test_hostile_labels_stay_text_in_valid_xml(label):
    line = rate_curve([CurvePoint(1, 0.95, label)], 30, 0.99, label)
    bars = bar_chart([BarGroup(label, (1.0, None))], [label, "b"], label, str)
    for svg in (line, bars):
        root = parsed(svg)
        assert "<script" not in svg
        assert not root.findall(".//svg:script", NS) and not root.findall(".//svg:foreignObject", NS)
        texts = [e.text for e in root.iter() if e.text]
        assert xml_text(label) in texts
    assert dots(parsed(line))[0].find("svg:title", NS).text == xml_text(label)


@given(st.text())
def test_any_text_makes_valid_xml(label):
    svg = rate_curve([CurvePoint(2, 0.97, label)], 28, 0.99, label)
    assert parsed(svg).find("svg:title", NS).text == xml_text(f"{label}, target 99 %")
    parsed(bar_chart([BarGroup(label, (3.0,))], [label], label, lambda v: label))


def test_xml_text_replaces_only_what_xml_cannot_hold():
    assert xml_text("a\tb\nc\u00e9\U0001f600") == "a\tb\nc\u00e9\U0001f600"
    assert xml_text("a\x00b\ud800c\ufffe") == "a\ufffdb\ufffdc\ufffd"
    assert xml_text("a\r\nb\rc") == "a\nb\nc"


def test_same_input_same_bytes():
    points = [CurvePoint(d, 0.9 + d / 1000, f"d{d}") for d in range(1, 31)]
    assert rate_curve(points, 30, 0.99, "n") == rate_curve(list(points), 30, 0.99, "n")


# Scales ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("values", "expected"), [
    ([0.99], (0.98, 0.01)),          # a value on a tick: the axis starts a step below
    ([0.945, 0.99], (0.94, 0.01)),
    ([0.951, 0.99], (0.95, 0.01)),
    ([0.93, 0.99], (0.92, 0.02)),    # 0.01 would need 8 steps
    ([0.5, 0.99], (0.4, 0.1)),
    ([0.0, 0.99], (0.0, 0.2)),
    ([1.0], (0.99, 0.01)),
    ([], (0.99, 0.01)),
])
def test_rate_scale(values, expected):
    assert rate_scale(values) == pytest.approx(expected)


@given(st.lists(st.floats(0, 1), min_size=1, max_size=40))
def test_rate_scale_holds_every_value_in_a_few_whole_steps(values):
    low, step = rate_scale(values)
    assert 0 <= low <= min(values)
    assert low < min(values) or low == 0
    assert round((1 - low) / step) <= 6
    assert abs(low / step - round(low / step)) < 1e-6


def test_values_land_where_the_scale_says():
    # [0.98 .. 1.0] over 180 - 22 - 24 = 134 px from y=22; days over 340 - 40 - 10 = 290 px.
    root = curve({1: 1.0, 15: 0.99, 30: 0.995})
    where = {c.find("svg:title", NS).text: (float(c.get("cx")), float(c.get("cy")))
             for c in dots(root)}
    assert where["day 1"] == pytest.approx((40 + 0.5 / 30 * 290, 22), abs=0.01)
    assert where["day 15"][1] == pytest.approx(22 + 0.5 * 134, abs=0.01)
    assert where["day 30"] == pytest.approx((40 + 29.5 / 30 * 290, 22 + 0.25 * 134), abs=0.01)
    target = [ln for ln in root.findall("svg:line", NS) if ln.get("stroke-dasharray")]
    assert len(target) == 1 and float(target[0].get("y1")) == pytest.approx(22 + 0.5 * 134)


def test_the_title_names_the_target_even_when_the_name_is_long():
    root = parsed(rate_curve([], 30, 0.985, "z" * 200 + ": rate per night"))
    heading = root.find("svg:text", NS).text
    assert heading.endswith("\u2026, target 98.5 %") and len(heading) <= 340 // 7
    assert root.find("svg:title", NS).text == "z" * 200 + ": rate per night, target 98.5 %"


def test_nights_below_target_are_marked_exactly():
    root = curve({1: 0.9899999999999999, 2: 0.9889, 3: 1.0})  # a weighted mean of 0.99s
    assert [c.get("class") for c in dots(root)] == ["met", "below", "met"]


def test_a_day_without_data_breaks_the_line():
    root = curve({1: 0.99, 2: 0.98, 3: None, 4: 0.97, 6: 0.96, 7: 0.99})
    lines = root.findall("svg:polyline", NS)
    assert [len(pl.get("points").split()) for pl in lines] == [2, 2]
    assert len(dots(root)) == 5


def test_bars_scale_to_the_maximum():
    root = parsed(bar_chart([BarGroup("a", (50.0,)), BarGroup("b", (100.0,)),
                             BarGroup("c", (150.0,)), BarGroup("d", (None,))],
                            ["score"], "Scores", lambda v: f"{v:.2f}", max_value=100.0))
    widths = [float(r.get("width")) for r in root.findall("svg:rect", NS)]
    assert widths[0] == pytest.approx(widths[1] / 2) and widths[1] == widths[2] > 0
    assert widths[3] == 0
    texts = [t.text for t in root.findall("svg:text", NS)]
    assert "50.00" in texts and "no data" in texts


def test_bars_without_a_maximum_scale_to_the_largest_value():
    root = parsed(bar_chart([BarGroup("a", (2.0, 1.0, 0.0))], ["due", "on time", "overdue"],
                            "Alerts", lambda v: f"{v:.0f}"))
    widths = [float(r.get("width")) for r in root.findall("svg:rect", NS) if r.get("width") != "10"]
    assert widths == pytest.approx([widths[0], widths[0] / 2, 0])
    assert [t.text for t in root.findall("svg:text", NS)][1:4] == ["due", "on time", "overdue"]


# Empty data ------------------------------------------------------------------------------------
@pytest.mark.parametrize("points", [[], [CurvePoint(1, None, "x"), CurvePoint(2, None, "y")]])
def test_a_curve_without_data_says_so(points):
    root = parsed(rate_curve(points, 31, 0.99, "north"))
    assert not dots(root) and not root.findall("svg:polyline", NS)
    assert "no lighting samples this month" in [t.text for t in root.findall("svg:text", NS)]


def test_bars_without_groups_say_so():
    root = parsed(bar_chart([], ["score"], "Scores", str))
    assert not root.findall("svg:rect", NS)
    assert "no zones" in [t.text for t in root.findall("svg:text", NS)]
