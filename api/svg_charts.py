"""Charts drawn on the server as inline SVG (no JavaScript; they print): a zone's lighting-rate
curve over a month against its target, and grouped horizontal bars.

Pure: plain numbers in, SVG text out. Elements are built with ElementTree, so every label and
tooltip is escaped as XML; characters XML cannot hold (controls, lone surrogates) become U+FFFD.
Same input, same bytes: the page the API serves and the file `report monthly --html` writes must
be identical.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup

SVG_NS = "http://www.w3.org/2000/svg"
INK, GRID, MUTED = "#222222", "#d9d9d9", "#666666"
GOOD, BAD, TARGET = "#1f6fb2", "#c0392b", "#c0392b"
SERIES_COLOURS = ("#1f6fb2", "#2e8b57", "#c0392b", "#8e44ad", "#d68910")
FONT = "font-family:sans-serif;font-size:11px"
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_RATE_STEPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.25)
_MAX_TICKS = 6


def xml_text(text: str) -> str:
    """`text` as XML 1.0 holds it: characters it cannot hold replaced by U+FFFD, line ends as
    a parser reads them back (CR LF and CR become LF)."""
    return _NOT_XML.sub("\ufffd", text.replace("\r\n", "\n").replace("\r", "\n"))


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """One day of a curve: the day of the month (1-based), its value (None: no data) and the
    tooltip shown on its dot."""

    day: int
    value: float | None
    label: str


@dataclass(frozen=True, slots=True)
class BarGroup:
    """One category of a bar chart (a zone): one value per series (None: no data)."""

    label: str
    values: tuple[float | None, ...]


# Lighting-rate curve ---------------------------------------------------------------------------

def rate_curve(points: Sequence[CurvePoint], days: int, target: float, title: str,
               width: int = 340, height: int = 180) -> Markup:
    """The daily rates as a line over days 1..`days` (broken where a day has no data), a dot per
    day (red below `target`), and the target as a dashed red line (named in the title: "...,
    target 99 %"). Rates are fractions (0.99)."""
    left, right, top, bottom = 40, 10, 22, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [p.value for p in points if p.value is not None]
    low, step = rate_scale([*values, target])
    named = f"target {_percent(target)}"
    svg = _svg(width, height, f"{title}, {named}")
    _text(svg, 0, 14, f"{_shorten(title, width // 7 - len(named) - 2)}, {named}", weight="bold")

    def x_of(day: float) -> float:
        return left + (day - 0.5) / max(days, 1) * plot_w

    def y_of(value: float) -> float:
        clamped = min(max(value, low), 1.0)
        return top + (1.0 - clamped) / (1.0 - low) * plot_h

    for tick in _ticks(low, step):
        y = y_of(tick)
        _line(svg, left, y, left + plot_w, y, GRID)
        _text(svg, left - 4, y + 4, f"{tick * 100:.0f} %", anchor="end", fill=MUTED)
    for day in _day_ticks(days):
        _text(svg, x_of(day), top + plot_h + 14, str(day), anchor="middle", fill=MUTED)
    _line(svg, left, top + plot_h, left + plot_w, top + plot_h, INK)
    _line(svg, left, y_of(target), left + plot_w, y_of(target), TARGET, dash="5 3")
    if not values:
        _text(svg, left + plot_w / 2, top + plot_h / 2, "no lighting samples this month",
              anchor="middle", fill=MUTED)
        return _markup(svg)
    for run in _runs(points):
        if len(run) > 1:
            coords = " ".join(f"{_n(x_of(p.day))},{_n(y_of(p.value))}" for p in run)  # type: ignore[arg-type]
            ET.SubElement(svg, "polyline", {"points": coords, "fill": "none", "stroke": GOOD,
                                            "stroke-width": "1.5"})
    for p in points:
        if p.value is not None:
            below = p.value < target - 1e-9
            dot = ET.SubElement(svg, "circle", {"cx": _n(x_of(p.day)), "cy": _n(y_of(p.value)),
                                                "r": "2.5", "fill": BAD if below else GOOD,
                                                "class": "below" if below else "met"})
            ET.SubElement(dot, "title").text = xml_text(p.label)
    return _markup(svg)


def rate_scale(values: Sequence[float]) -> tuple[float, float]:
    """(lowest value on the axis, tick step) for rates up to 1.0: the axis starts one whole step
    below the lowest value, with at most _MAX_TICKS steps; never below 0."""
    lowest = max(0.0, min(values, default=1.0))
    for step in _RATE_STEPS:
        steps = round(lowest / step, 6)  # 0.99 / 0.01 is 98.99999999999999
        low = max(0.0, (math.ceil(steps) - 1) * step)
        if round((1.0 - low) / step) <= _MAX_TICKS:
            return round(low, 6), step
    return 0.0, 0.25


def _ticks(low: float, step: float) -> list[float]:
    count = round((1.0 - low) / step)
    return [round(low + i * step, 6) for i in range(count + 1)]


def _day_ticks(days: int) -> list[int]:
    return [1, *range(5, days + 1, 5)] if days >= 5 else list(range(1, days + 1))


def _runs(points: Sequence[CurvePoint]) -> list[list[CurvePoint]]:
    """Consecutive days with values, each run drawn as one line."""
    runs: list[list[CurvePoint]] = []
    for p in sorted(points, key=lambda p: p.day):
        if p.value is None:
            continue
        if runs and runs[-1][-1].day == p.day - 1:
            runs[-1].append(p)
        else:
            runs.append([p])
    return runs


# Bars ------------------------------------------------------------------------------------------

def bar_chart(groups: Sequence[BarGroup], series: Sequence[str], title: str,
              value_text: Callable[[float], str], max_value: float | None = None,
              width: int = 680) -> Markup:
    """Horizontal bars, one group per category and one bar per series in it, each bar labelled
    with `value_text(value)` ("no data" for None); the scale runs from 0 to `max_value` (default:
    the largest value, at least 1). A legend names the series when there are several."""
    label_w, bar_h, gap, top = 150, 14, 8, 24 + (16 if len(series) > 1 else 0)
    plot_w = width - label_w - 60
    group_h = bar_h * len(series) + gap
    height = top + max(len(groups), 1) * group_h + 6
    svg = _svg(width, height, title)
    _text(svg, 0, 14, title, weight="bold")
    if len(series) > 1:
        _legend(svg, series, label_w, 30)
    if not groups:
        _text(svg, label_w, top + 12, "no zones", fill=MUTED)
        return _markup(svg)
    known = [v for g in groups for v in g.values if v is not None]
    scale = max_value if max_value is not None else max([*known, 1.0])
    for row, group in enumerate(groups):
        y0 = top + row * group_h
        label = ET.SubElement(svg, "text", {"x": str(label_w - 6), "y": _n(y0 + group_h / 2 + 1),
                                            "text-anchor": "end", "style": FONT, "fill": INK})
        label.text = xml_text(_shorten(group.label, 22))
        ET.SubElement(label, "title").text = xml_text(group.label)
        for k, value in enumerate(group.values):
            y = y0 + k * bar_h
            length = 0.0 if value is None else max(0.0, min(value, scale)) / scale * plot_w
            bar = ET.SubElement(svg, "rect", {"x": str(label_w), "y": _n(y), "width": _n(length),
                                              "height": str(bar_h - 2),
                                              "fill": SERIES_COLOURS[k % len(SERIES_COLOURS)]})
            text = "no data" if value is None else value_text(value)
            ET.SubElement(bar, "title").text = xml_text(f"{group.label}: {series[k]} {text}")
            _text(svg, label_w + length + 4, y + bar_h - 4, text, fill=MUTED)
    _line(svg, label_w, top - 2, label_w, height - 6, INK)
    return _markup(svg)


def _legend(svg: ET.Element, series: Sequence[str], x: float, y: float) -> None:
    for k, name in enumerate(series):
        left = x + k * 130
        ET.SubElement(svg, "rect", {"x": _n(left), "y": _n(y - 9), "width": "10", "height": "10",
                                    "fill": SERIES_COLOURS[k % len(SERIES_COLOURS)]})
        _text(svg, left + 14, y, name)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


# SVG elements ----------------------------------------------------------------------------------

def _svg(width: int, height: int, title: str) -> ET.Element:
    svg = ET.Element("svg", {"xmlns": SVG_NS, "viewBox": f"0 0 {width} {height}",
                             "width": str(width), "height": str(height), "role": "img",
                             "aria-label": xml_text(title)})
    ET.SubElement(svg, "title").text = xml_text(title)
    return svg


def _text(svg: ET.Element, x: float, y: float, text: str, anchor: str = "start",
          fill: str = INK, weight: str = "normal") -> None:
    element = ET.SubElement(svg, "text", {"x": _n(x), "y": _n(y), "text-anchor": anchor,
                                          "style": f"{FONT};font-weight:{weight}", "fill": fill})
    element.text = xml_text(text)


def _line(svg: ET.Element, x1: float, y1: float, x2: float, y2: float, stroke: str,
          dash: str | None = None) -> None:
    attributes = {"x1": _n(x1), "y1": _n(y1), "x2": _n(x2), "y2": _n(y2), "stroke": stroke,
                  "stroke-width": "1"}
    if dash:
        attributes["stroke-dasharray"] = dash
    ET.SubElement(svg, "line", attributes)


def _n(value: float) -> str:
    """A coordinate with at most two decimals, no trailing zeros (stable text, small files)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _percent(rate: float) -> str:
    return f"{rate * 100:.{0 if round(rate * 100, 6).is_integer() else 1}f} %"


def _markup(svg: ET.Element) -> Markup:
    """The SVG as markup for the page: ElementTree escaped every text and attribute."""
    return Markup(ET.tostring(svg, encoding="unicode"))
