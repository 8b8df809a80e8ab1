"""The console's alert list and zone line, read for one crew: its zones' open alerts, most
urgent first, as cards; and each zone's lighting rate now against its target (the API's own
reading, api/lighting.py, sharing its cached last points)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from api.console.alert_cards import Card, card, local_time, most_urgent_first
from api.console.catalogue import Language, text
from api.keys import Principal
from api.lighting import LastPoints, ZoneRateNow, rates_now
from api.resources import Resources
from streetwatch.alerts.records import AlertFilter
from streetwatch.errors import InfluxError
from streetwatch.logs import log_event

# Open alerts on one page (a crew's zone holds a few dozen on a bad night); past it the newest
# are shown (the store pages by id), and the page says so.
MAX_SHOWN = 200
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Board:
    """What the alert list shows: the cards, whether more are open than shown, the zone lines."""

    cards: list[Card]
    more: bool
    rates: list[RateLine]
    updated: str


@dataclass(frozen=True, slots=True)
class RateLine:
    text: str
    below: bool


def board(res: Resources, principal: Principal, lang: Language) -> Board:
    now_ms = res.clock()
    settings = res.settings
    tz = ZoneInfo(settings.town_timezone)
    which = AlertFilter(state="open", zones=principal.zones, now_ms=now_ms)
    found = res.alerts.page(which, None, MAX_SHOWN + 1)
    cards = [card(alert, now_ms, tz, lang, settings.console_map_url)
             for alert in most_urgent_first(found[:MAX_SHOWN])]
    return Board(cards, len(found) > MAX_SHOWN, rate_lines(res, principal, lang),
                 text(lang, "alerts.updated", time=local_time(now_ms, tz)))


def rate_lines(res: Resources, principal: Principal, lang: Language) -> list[RateLine]:
    """Each zone the key sees: its rate now against its target, or why there is none. InfluxDB
    unreachable: one line saying so (the alerts still show)."""
    try:
        now = rates_now(res.settings, res.influx, res.clock(), principal,
                        res.memo("lighting.last_points", LastPoints))
    except InfluxError as exc:
        log_event(_log, "console.rates_unavailable", level=logging.WARNING,
                  error=type(exc).__name__)
        return [RateLine(text(lang, "rate.unavailable"), True)]
    town = [] if now.town is None else [(text(lang, "rate.town"), now.town)]
    return [_rate_line(name, zone, lang)
            for name, zone in [(zone.zone, zone) for zone in now.zones] + town]


def _rate_line(name: str, zone: ZoneRateNow, lang: Language) -> RateLine:
    if zone.rate is None or zone.target is None:
        return RateLine(text(lang, "rate.none", zone=name,
                             why=text(lang, f"rate.why.{zone.phase}")), False)
    line = text(lang, "rate.line", zone=name, rate=percent(zone.rate),
                target=percent(zone.target))
    if zone.meets_target:
        return RateLine(line, False)
    return RateLine(f"{line} ({text(lang, 'rate.below')})", True)


def percent(value: float) -> str:
    """0.9851 -> "98.51 %", 0.99 -> "99 %"."""
    shown = f"{value * 100:.2f}".rstrip("0").rstrip(".")
    return f"{shown} %"
