"""The monthly report page drawn from a hand-made MonthlyReport (api/report_page_html.py): every
value escaped, no script anywhere, tags balanced, print CSS for A4, the same bytes for the same
report, and empty sections that say so."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date
from html.parser import HTMLParser

import pytest

from api.lighting import LightingNights, NightValue
from api.report_page import MonthlyReport, quarter_of
from api.report_page_html import month_name, percent, render_monthly_page
from api.scores import RankedZone, Rectification, ZoneMonthScore
from rules.reports import ZoneMonth

HOSTILE = "<script>alert(1)</script>"
VOID = {"meta", "br", "img", "input", "link", "hr", "col", "area", "base", "wbr", "source",
        "embed", "track", "param"}
SVG_LEAVES = {"line", "circle", "rect", "polyline"}


def score(zone: str, value: float | None = 63.0) -> ZoneMonthScore:
    return ZoneMonthScore(zone, value, {"lighting": 0.5, "on_time": 0.5, "overdue": 0.8,
                                        "repair": 1.0, "citizen": None, "patrol": None}, 0.945,
                          0.99, 3, 2, 1, 0.5,
                          1, {"red": 1, "yellow": 0, "blue": 0}, 1, 6.0, 0, 0)


def nights(zone: str, rates: list[float | None]) -> LightingNights:
    return LightingNights(zone=zone, target=0.99, nights=[
        NightValue(night=f"2026-11-{day:02d}", start="s", end="e", covered_minutes=600.0,
                   mean_rate=rate, minutes_below_target=0.0)
        for day, rate in enumerate(rates, start=1)])


def report(names: tuple[str, ...] = ("north", HOSTILE), **changes) -> MonthlyReport:
    values = dict(
        month="2026-11", quarter="2026-Q4", quarter_months=("2026-10", "2026-11", "2026-12"),
        as_of_ms=1_796_097_600_000, timezone="Asia/Shanghai", zones=None,
        weights={"lighting": 40.0, "on_time": 30.0, "overdue": 10.0, "repair": 12.5,
                 "citizen": 10.0},
        card_months=2, card_severity="red", scores=[score(z) for z in names],
        ranking=[RankedZone(n, z, 63.0, (None, 63.0, 100.0), 0.5)
                 for n, z in enumerate(names, start=1)],
        lighting=[ZoneMonth(z, 2, 0.97, date(2026, 11, 2), 0.96, 12.5) for z in names],
        nights={z: nights(z, [0.98, 0.96, None]) for z in names},
        rectification=[Rectification(z, 1, {"red": 1, "yellow": 0, "blue": 0}, True, 2)
                       for z in names])
    values.update(changes)
    return MonthlyReport(**values)


class Balance(HTMLParser):
    """Tags opened and not closed (void and SVG leaf elements aside), and every attribute."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):  # noqa: ANN001, ANN201
        self.attributes += attrs
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):  # noqa: ANN001, ANN201
        self.attributes += attrs

    def handle_endtag(self, tag):  # noqa: ANN001, ANN201
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()


def test_markup_in_names_is_escaped_everywhere_and_nothing_runs():
    html = render_monthly_page(report())
    assert "<script" not in html.lower() and "javascript:" not in html.lower()
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 6  # every table names it
    checked = Balance()
    checked.feed(html)
    assert checked.errors == [] and checked.stack == []
    assert not [name for name, _ in checked.attributes if name.startswith("on")]


def test_every_chart_is_valid_svg():
    html = render_monthly_page(report())
    charts = re.findall(r"<svg .*?</svg>", html, flags=re.S)
    assert len(charts) == 2 + 2  # scores, alerts, and a curve per zone
    for chart in charts:
        ET.fromstring(chart)


def test_characters_html_cannot_carry_become_replacement_characters():
    html = render_monthly_page(report(names=("bad\x00zone\ud800",)))
    assert "bad\ufffdzone\ufffd" in html
    html.encode("utf-8")  # a lone surrogate would not encode


def test_print_css_for_a4_and_a_policy_that_forbids_scripts():
    html = render_monthly_page(report())
    assert "@page { size: A4 portrait" in html
    assert ('<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;; '
            "style-src &#39;unsafe-inline&#39;") in html


def test_the_same_report_gives_the_same_bytes():
    assert render_monthly_page(report()) == render_monthly_page(report())


def test_figures_are_written_as_the_api_gives_them():
    html = render_monthly_page(report(names=("north",)))
    assert '<td data-field="score">63.00</td>' in html
    assert '<td data-field="mean_rate">97.00 %</td>' in html
    assert '<td data-field="minutes_below_target">12.5</td>' in html
    assert '<td data-field="mean_time_to_repair">6.0 h</td>' in html
    assert '<td data-field="month_1">\u2014</td>' in html
    assert "repair 12.5" in html and "Oct 2026" in html and "November 2026" in html
    assert '<time id="as-of" datetime="2026-12-01T04:00:00.000Z">2026-12-01 12:00</time>' in html


def test_a_zone_bound_report_names_its_zones():
    html = render_monthly_page(report(names=("north",), zones=frozenset({"north", "east"})))
    assert '<span id="scope">east, north</span>' in html
    assert '<span id="scope">every zone</span>' in render_monthly_page(report())


def test_empty_sections_say_so():
    html = render_monthly_page(report(names=(), nights={}, lighting=[]))
    assert "No zone to score in 2026-11." in html
    assert "No lighting samples in 2026-11." in html
    assert 'id="rectification-none"' in html
    assert "<svg" not in html


def test_a_zone_without_a_rated_night_gets_a_note_not_a_curve():
    html = render_monthly_page(report(names=("north",), nights={}))
    assert "No night with a lighting rate this month." in html
    assert html.count("<svg") == 2


@pytest.mark.parametrize(("month", "quarter"), [("2026-01", "2026-Q1"), ("2026-03", "2026-Q1"),
                                                ("2026-04", "2026-Q2"), ("2026-12", "2026-Q4")])
def test_quarter_of(month, quarter):
    assert quarter_of(month) == quarter


def test_words_and_numbers():
    assert month_name("2026-02") == "February 2026"
    assert month_name("2026-09", short=True) == "Sep 2026"
    assert percent(0.945) == "94.50 %" and percent(None) == "\u2014"
