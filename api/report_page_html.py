"""The monthly report page as HTML: a MonthlyReport (api/report_page.py) through the Jinja2
template api/templates/monthly_report.html, with the charts of api/svg_charts.py.

Pure: the same report gives the same bytes (the API's page and `report monthly --html` are
compared byte for byte). Autoescape is on for every value; strings also lose the characters
HTML cannot carry (U+FFFD instead), so hostile zone names show as text. No JavaScript; print CSS
for A4.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from api.lighting import LightingNights
from api.report_page import MonthlyReport
from api.scores import PARTS
from api.svg_charts import BarGroup, CurvePoint, bar_chart, rate_curve, xml_text
from streetwatch.alerts.model import CITY_ZONE, rfc3339_ms

TEMPLATE = "monthly_report.html"
NO_DATA = "\u2014"
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December")
ALERT_SERIES = ("raised", "due", "resolved on time", "overdue")
# The page holds no script and loads nothing: a browser refuses both even if escaping failed.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; " \
                          "form-action 'none'"


def render_monthly_page(report: MonthlyReport) -> str:
    """The page's HTML text."""
    return _environment().get_template(TEMPLATE).render(page=page_values(report))


def page_values(report: MonthlyReport) -> dict[str, Any]:
    """What the template shows, beyond the report's own figures: names, times, charts."""
    tz = ZoneInfo(report.timezone)
    return {
        "report": report,
        "csp": CONTENT_SECURITY_POLICY,
        "no_data": NO_DATA,
        "month_name": month_name(report.month),
        "as_of_utc": rfc3339_ms(report.as_of_ms),
        "as_of_local": datetime.fromtimestamp(report.as_of_ms / 1000, UTC).astimezone(tz)
                               .strftime("%Y-%m-%d %H:%M"),
        "scope": "every zone" if report.zones is None else ", ".join(sorted(report.zones)),
        "month_names": [month_name(m, short=True) for m in report.quarter_months],
        "parts": PARTS,
        "weights": [(part.replace("_", " "), f"{report.weights.get(part, 0.0):g}")
                    for part in PARTS],
        "score_chart": score_chart(report),
        "alert_chart": alert_chart(report),
        "curves": [(row.zone, lighting_curve(row.zone, report.nights.get(row.zone),
                                             report.month))
                   for row in report.lighting],
    }


# Charts ----------------------------------------------------------------------------------------

def score_chart(report: MonthlyReport) -> Markup:
    """The month's scores, best first (zones without a score last)."""
    ordered = sorted(report.scores, key=lambda s: (s.score is None, -(s.score or 0.0), s.zone))
    return bar_chart([BarGroup(s.zone, (s.score,)) for s in ordered], ["score"],
                     "Score out of 100", lambda v: f"{v:.2f}", max_value=100.0)


def alert_chart(report: MonthlyReport) -> Markup:
    """Per zone: alerts raised in the month, due in it, resolved by their deadline, overdue."""
    groups = [BarGroup(s.zone, (float(s.alerts_raised), float(s.alerts_due), float(s.resolved_on_time),
                                float(s.overdue)))
              for s in report.scores]
    return bar_chart(groups, ALERT_SERIES, "Alerts", lambda v: f"{v:.0f}")


def lighting_curve(zone: str, nights: LightingNights | None, month: str) -> Markup | None:
    """The zone's nightly time-weighted rate over the month against its target (None: the zone
    has no night with a rate)."""
    if nights is None:
        return None
    days = calendar.monthrange(int(month[:4]), int(month[5:7]))[1]
    title = f"{zone_name(zone)}: rate per night"
    points = [CurvePoint(int(n.night[8:10]), n.mean_rate,
                         f"{n.night}: {percent(n.mean_rate)}")
              for n in nights.nights if n.night[:7] == month]
    return rate_curve(points, days, nights.target, title)


# Values as text --------------------------------------------------------------------------------

def percent(value: float | None, digits: int = 2) -> str:
    """0.945 -> "94.50 %"; None -> a dash."""
    return NO_DATA if value is None else f"{value * 100:.{digits}f} %"


def number(value: float | None, digits: int = 2) -> str:
    return NO_DATA if value is None else f"{value:.{digits}f}"


def hours(value: float | None) -> str:
    return NO_DATA if value is None else f"{value:.1f} h"


def zone_name(zone: str) -> str:
    return "Town (all zones)" if zone == CITY_ZONE else zone


def month_name(month: str, short: bool = False) -> str:
    """"2026-11" -> "November 2026" (or "Nov 2026"), in English whatever the locale."""
    name = MONTH_NAMES[int(month[5:7]) - 1]
    return f"{name[:3] if short else name} {month[:4]}"


# Jinja -----------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _environment() -> Environment:
    """Built on first use (no import-time work): autoescape on, undefined names an error."""
    env = Environment(loader=PackageLoader("api", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True, finalize=_printable)
    env.filters.update(percent=percent, number=number, hours=hours, zone_name=zone_name)
    return env


def _printable(value: Any) -> Any:
    """Every string shown loses what HTML cannot carry; markup (the charts) is already clean."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return xml_text(value)
    return value
