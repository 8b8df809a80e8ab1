"""The five Streetwatch boards (docs/dashboards.md says what each shows and why).

Pure: `BoardSettings` in, dashboard dicts out. Uids are fixed, so an export, a provisioned file and
a push all name the same board, and links to a board survive every re-export.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from dashboards import queries as q
from dashboards.panels import (
    Json,
    by_name,
    dashboard,
    influx_annotation,
    panel,
    query_variable,
    stat,
    table,
    target,
    text,
    thresholds,
    timeseries,
    value_colours,
)
from streetwatch.alerts.model import CITY_ZONE, SEVERITIES
from streetwatch.settings import Settings

TOWN_UID = "streetwatch-town"
LAMP_MAP_UID = "streetwatch-lamp-map"
DRAINS_UID = "streetwatch-drains"
ALERTS_UID = "streetwatch-alerts"
OPERATIONS_UID = "streetwatch-operations"
SEVERITY_COLOURS = {"red": "red", "yellow": "yellow", "blue": "blue"}
SILENT_GREY = "#8e8e8e"


@dataclass(frozen=True)
class BoardSettings:
    """What the boards take from the settings: targets, windows, the town's place and clock."""

    lighting_target: float
    stale_after_s: int
    rules_every_s: int
    campaign_target_date: date | None
    town_timezone: str
    town_latitude: float
    town_longitude: float

    @classmethod
    def from_settings(cls, s: Settings) -> BoardSettings:
        return cls(s.lighting_target, s.stale_after_s, s.rules_every_s, s.campaign_target_date,
                   s.town_timezone, s.town_latitude, s.town_longitude)

    def campaign_target_ms(self) -> int | None:
        """The target date's first instant in town time, epoch ms."""
        if self.campaign_target_date is None:
            return None
        start = datetime.combine(self.campaign_target_date, time(), ZoneInfo(self.town_timezone))
        return int(start.timestamp() * 1000)


def all_boards(s: BoardSettings) -> list[Json]:
    """Every board, in the order the docs describe them."""
    return [town_overview(s), lamp_map(s), drains_board(s), alerts_board(s), operations_board(s)]


# Variables --------------------------------------------------------------------------------
def zone_variable() -> Json:
    return query_variable("zone", "Zone", q.ZONES)


def gateway_variable() -> Json:
    return query_variable("gateway", "Gateway", q.GATEWAYS)


# Shared panels ----------------------------------------------------------------------------
def rate_thresholds(s: BoardSettings) -> Json:
    return thresholds(("red", None), ("green", s.lighting_target))


def open_alerts_panel(size: tuple[int, int]) -> Json:
    return stat("Open alerts by severity",
                "Alerts raised and not resolved, by their current severity (escalation "
                "included), from alert_event.",
                [target(chr(ord("A") + i), q.open_alerts(sev)) for i, sev in enumerate(SEVERITIES)],
                size, colour="value", noValue="0",
                overrides=[by_name(sev, color={"mode": "fixed", "fixedColor": colour})
                           for sev, colour in SEVERITY_COLOURS.items()])


def overdue_panel(size: tuple[int, int]) -> Json:
    return stat("Overdue alerts",
                "Open alerts past their deadline at red (yellow and blue ones are escalated "
                "one step at their deadline instead).",
                [target("A", q.OVERDUE_ALERTS)], size, noValue="0",
                thresholds=thresholds(("green", None), ("red", 1)))


# Town overview ----------------------------------------------------------------------------
def town_overview(s: BoardSettings) -> Json:
    window = s.stale_after_s
    panels = [
        stat("Lighting rate now", f"Each zone's latest rate (at most {window} s old) against the "
             f"target {s.lighting_target:.0%}; no value by day (no lights-on period).",
             [target("A", q.rate_now(window), "$tag_zone")], (8, 5), unit="percentunit",
             decimals=1, thresholds=rate_thresholds(s),
             overrides=[by_name(CITY_ZONE, displayName="Town")]),
        stat("Lamps not lit now", "Lamps that should be lit and are not, silent ones (no fresh "
             "reading) included and also counted on their own.",
             [target("A", q.not_lit_now(window))], (5, 5), noValue="0",
             thresholds=thresholds(("green", None), ("orange", 1))),
        open_alerts_panel((6, 5)),
        overdue_panel((5, 5)),
        timeseries("Lighting rate per zone", f"Mean rate per interval, per zone and for the town, "
                   f"against the {s.lighting_target:.0%} line (below it: red).",
                   [target("A", q.RATE_PER_ZONE, "$tag_zone"), target("B", q.TOWN_RATE)], (24, 9),
                   "percentunit", {"thresholdsStyle": {"mode": "line+area"}, "axisSoftMin": 0.9,
                                   "axisSoftMax": 1}, decimals=1, thresholds=rate_thresholds(s),
                   overrides=[by_name("town", custom_lineWidth=3)]),
        *campaign_panels(s),
    ]
    return dashboard(TOWN_UID, "Streetwatch: town overview",
                     "Lighting rate per zone against the target, lamps dark, open and overdue "
                     "alerts, campaign progress.", panels, [zone_variable()], "now-24h",
                     s.town_timezone)


def campaign_panels(s: BoardSettings) -> list[Json]:
    target_ms = s.campaign_target_ms()
    trend = timeseries("Campaign: daily lighting rate", "Time-weighted enough for a trend: the "
                       "mean of the night's samples per local day, the town and each zone, over "
                       "the last 30 days.", [target("A", q.daily_rate(s.town_timezone),
                                                    "$tag_zone")], (18, 8), "percentunit",
                       {"thresholdsStyle": {"mode": "dashed"}, "showPoints": "always"},
                       decimals=1, thresholds=rate_thresholds(s),
                       overrides=[by_name(CITY_ZONE, displayName="Town", custom_lineWidth=3)])
    trend["timeFrom"] = "30d"
    if target_ms is None:
        return [text("Campaign: days left", "No campaign target date is configured: set "
                     "`STREETWATCH_CAMPAIGN_TARGET_DATE` (YYYY-MM-DD) and export or push the "
                     "boards again.", (6, 8)), trend]
    left = stat("Campaign: days left", f"Days until {s.campaign_target_date} (town time), "
                "counted from the end of the shown range.", [target("A", q.days_left(target_ms))],
                (6, 8), decimals=0, thresholds=thresholds(("red", None), ("orange", 7),
                                                           ("green", 30)))
    return [left, trend]


# Lamp map ---------------------------------------------------------------------------------
def lamp_map(s: BoardSettings) -> Json:
    window = s.stale_after_s
    reporting = [("lit", '"on" = true', "green"), ("dark", '"on" = false', "red"),
                 ("with a fault", "\"fault\" != ''", "orange")]
    counts = stat("Lamps by latest reading", f"Lamps whose latest reading (at most {window} s old)"
                  " says lit, dark, or carries a fault code.",
                  [target(chr(ord("A") + i), q.lamps_reporting(window, alias, condition))
                   for i, (alias, condition, _) in enumerate(reporting)], (24, 4),
                  colour="value", noValue="0",
                  overrides=[by_name(alias, color={"mode": "fixed", "fixedColor": colour})
                             for alias, _, colour in reporting])
    panels = [counts, geomap_panel(s)]
    return dashboard(LAMP_MAP_UID, "Streetwatch: lamp map",
                     "Every registered lamp with a position, coloured by its latest reading.",
                     panels, [zone_variable(), gateway_variable()], "now-1h", s.town_timezone)


def geomap_panel(s: BoardSettings) -> Json:
    """Positions (`lamp_site`, written by the rule runner from the registry) joined by lamp with
    the latest readings (`state` is the reading's `on`); a lamp without a fresh reading has no
    state: silent (grey)."""
    state_colours = value_colours({"true": ("lit", "green"), "false": ("dark", "red")},
                                  when_null=("silent", SILENT_GREY))
    layer = {"type": "markers", "name": "Lamps", "tooltip": True,
             "location": {"mode": "coords", "latitude": "lat", "longitude": "lon"},
             "config": {"showLegend": True, "style": {
                 "color": {"field": "state", "fixed": SILENT_GREY}, "opacity": 0.9,
                 "size": {"fixed": 6, "min": 2, "max": 15},
                 "symbol": {"mode": "fixed", "fixed": "img/icons/marker/circle.svg"}}}}
    options = {"view": {"id": "coords", "lat": s.town_latitude, "lon": s.town_longitude,
                        "zoom": 14, "allLayers": True},
               "controls": {"showZoom": True, "mouseWheelZoom": True, "showAttribution": True},
               "basemap": {"type": "default", "name": "Basemap", "config": {}},
               "layers": [layer], "tooltip": {"mode": "details"}}
    joins = [{"id": "joinByField", "options": {"byField": "lamp", "mode": "outer"}}]
    return panel("geomap", "Lamps by state", f"Registered positions (lamp_site) with each lamp's "
                 f"latest reading of the last {s.stale_after_s} s: lit, dark, or silent (none).",
                 [target("A", q.LAMP_POSITIONS, table=True),
                  target("B", q.lamp_states(s.stale_after_s), table=True)], (24, 18),
                 {"color": {"mode": "thresholds"}}, options,
                 [by_name("state", mappings=state_colours)], joins)


# Drains -----------------------------------------------------------------------------------
def drains_board(s: BoardSettings) -> Json:
    drain = query_variable("drain", "Drain", q.DRAINS)
    panels = [
        timeseries("Drain levels", "Water depth above each drain's invert, mean per interval. "
                   "Blue marks: high-water notices (storm surge, not a blockage).",
                   [target("A", q.LEVELS, "$tag_sensor")], (16, 9), "suffix: cm"),
        overflow_table((8, 9)),
        timeseries("Rain", "Rain per gauge and interval.", [target("A", q.RAIN, "$tag_gauge")],
                   (16, 7), "lengthmm", {"drawStyle": "bars", "fillOpacity": 60}, min=0,
                   interval="10m"),
        table("High-water notices", "One per wet period when most of a zone's drains stand above "
              "their bands: a storm surge, never a blockage.", [target("A", q.HIGH_WATER,
                                                                      table=True)], (8, 7)),
        table("Blockage and overflow alerts", "Blockage and overflow_imminent events, newest "
              "first.", [target("A", q.DRAIN_ALERTS, table=True)], (24, 8)),
    ]
    notices = influx_annotation("High-water notices", q.HIGH_WATER_ANNOTATION, "blue", "message",
                                "zone")
    return dashboard(DRAINS_UID, "Streetwatch: drains",
                     "Drain levels against their overflow levels, rain, blockage alerts and "
                     "high-water notices.", panels, [zone_variable(), gateway_variable(), drain],
                     "now-24h", s.town_timezone, [notices])


def overflow_table(size: tuple[int, int]) -> Json:
    """Latest level per drain joined with its overflow level (`drain_site`, from the registry:
    the overflow level, else the depth), and the share of it the water fills."""
    share = "of overflow"
    steps = [
        {"id": "joinByField", "options": {"byField": "sensor", "mode": "inner"}},
        {"id": "calculateField", "options": {
            "mode": "binary", "alias": share, "replaceFields": False,
            "binary": {"left": "level_cm", "operator": "/", "right": "overflow_cm"}}},
        {"id": "organize", "options": {"excludeByName": {"Time": True, "Time 1": True,
                                                         "Time 2": True},
                                       "renameByName": {"sensor": "drain"}}},
        {"id": "sortBy", "options": {"sort": [{"field": share, "desc": True}]}},
    ]
    colours = thresholds(("green", None), ("yellow", 0.7), ("red", 0.9))
    return table("Levels against overflow", "Latest level in the range and the drain's overflow "
                 "level; red from 90 % of it.", [target("A", q.LAST_LEVELS, table=True),
                                                target("B", q.OVERFLOW_LEVELS, table=True)],
                 size, steps, overrides=[by_name(share, unit="percentunit", decimals=0,
                                                 thresholds=colours,
                                                 custom_cellOptions={"type": "color-background"})])


# Alerts -----------------------------------------------------------------------------------
def alerts_board(s: BoardSettings) -> Json:
    severity_cells = value_colours({sev: (sev, colour) for sev, colour in SEVERITY_COLOURS.items()})
    panels = [
        open_alerts_panel((12, 5)),
        overdue_panel((12, 5)),
        table("Open alerts", "Every open alert with its latest event (state, severity, message).",
              [target("A", q.OPEN_ALERT_LIST, table=True)], (24, 10),
              overrides=[by_name("severity", mappings=severity_cells,
                                 custom_cellOptions={"type": "color-text"})]),
        timeseries("Alerts raised per hour", "New alerts by kind.",
                   [target("A", q.RAISED_BY_KIND, "$tag_kind")], (24, 8), "short",
                   {"drawStyle": "bars", "fillOpacity": 80, "stacking": {"mode": "normal"}},
                   min=0, interval="1h"),
        table("Alert events", "Every alert event in the range, newest first (at most 500).",
              [target("A", q.RECENT_EVENTS, table=True)], (24, 10),
              overrides=[by_name("severity", mappings=severity_cells,
                                 custom_cellOptions={"type": "color-text"})]),
    ]
    return dashboard(ALERTS_UID, "Streetwatch: alerts", "Open and overdue alerts and every alert "
                     "event, from alert_event.", panels, [zone_variable()], "now-7d",
                     s.town_timezone)


# Operations -------------------------------------------------------------------------------
def operations_board(s: BoardSettings) -> Json:
    lag = thresholds(("green", None), ("yellow", 5), ("red", s.rules_every_s))
    tick_window = 3 * s.rules_every_s
    online = value_colours({"true": ("online", "green"), "false": ("offline", "red")})
    panels = [
        timeseries("Readings stored per second", "Lamp, drain and rain readings in InfluxDB, "
                   "by their own timestamps.",
                   [target(chr(ord("A") + i), q.stored_per_second(m, f))
                    for i, (m, f) in enumerate(q.READINGS)], (12, 8), "cps", min=0),
        timeseries("Rejects by reason", "Messages the ingester refused (docs/wire-contract.md "
                   "lists the reasons).", [target("A", q.REJECTS_BY_REASON, "$tag_reason")],
                   (12, 8), "short", {"drawStyle": "bars", "fillOpacity": 80,
                                      "stacking": {"mode": "normal"}}, min=0, interval="1m"),
        timeseries("Rule-runner lag", "Seconds between a tick's instant and when the live rule "
                   "runner ran it (rules_tick).", [target("A", q.RULE_LAG, "$tag_runner")],
                   (12, 8), "s", {"thresholdsStyle": {"mode": "line"}}, min=0, thresholds=lag),
        stat("Last tick", f"The latest tick's lag per runner; 'no tick' when none in the last "
             f"{tick_window} s (the runner is down or stuck).",
             [target("A", q.last_tick_lag(tick_window), "$tag_runner")], (6, 8), unit="s",
             decimals=1, noValue="no tick", thresholds=lag),
        stat("Gateways", "Each gateway's latest live status message (its will says offline).",
             [target("A", q.GATEWAY_STATUS, "$tag_gateway")], (6, 8), mappings=online,
             thresholds=thresholds(("text", None))),
        table("Rejects by reason and gateway", "Counts over the shown range.",
              [target("A", q.REJECT_TOTALS, table=True)], (12, 8)),
        table("Latest rejects", "The newest 100 (topic and reason detail, no payload).",
              [target("A", q.RECENT_REJECTS, table=True)], (12, 8)),
    ]
    return dashboard(OPERATIONS_UID, "Streetwatch: operations", "Ingest rate, rejects by reason, "
                     "rule-runner lag, gateway status.", panels,
                     [zone_variable(), gateway_variable()], "now-6h", s.town_timezone)
