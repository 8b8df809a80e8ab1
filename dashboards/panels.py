"""Grafana JSON building blocks: InfluxQL targets, panels, template variables, a dashboard.

Plain dicts in the shape of Grafana's dashboard model (schemaVersion 39, Grafana 10.4 / 11). Panels
are written without ids and positions; `dashboard` numbers them 1..n and flows them left to
right on Grafana's 24-column grid, so the ids are unique and stable (the order of the list).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

Json = dict[str, Any]

DATASOURCE_UID = "streetwatch-influxdb"
DATASOURCE_NAME = "Streetwatch InfluxDB"
DATASOURCE: Json = {"type": "influxdb", "uid": DATASOURCE_UID}
SCHEMA_VERSION = 39
GRID_COLUMNS = 24
TAG = "streetwatch"


def target(ref: str, query: str, alias: str | None = None, table: bool = False) -> Json:
    """A raw InfluxQL query; `table` asks for one table (tags as columns, for joins and lists)."""
    found: Json = {"refId": ref, "datasource": DATASOURCE, "rawQuery": True, "query": query,
                   "resultFormat": "table" if table else "time_series"}
    if alias:
        found["alias"] = alias
    return found


def thresholds(*steps: tuple[str, float | None]) -> Json:
    """Absolute thresholds: the first step's value is None (from minus infinity)."""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


def value_colours(mapping: dict[str, tuple[str, str]], when_null: tuple[str, str] | None = None,
                  ) -> list[Json]:
    """Value mappings: value text -> (shown text, colour); `when_null` for a missing value."""
    found: list[Json] = [{"type": "value", "options": {
        value: {"text": text, "color": colour, "index": i}
        for i, (value, (text, colour)) in enumerate(mapping.items())}}]
    if when_null is not None:
        found.append({"type": "special", "options": {
            "match": "null", "result": {"text": when_null[0], "color": when_null[1],
                                        "index": len(mapping)}}})
    return found


def by_name(name: str, **properties: Any) -> Json:
    """A field override for the field (series) called `name`."""
    return {"matcher": {"id": "byName", "options": name},
            "properties": [{"id": key.replace("_", "."), "value": value}
                           for key, value in properties.items()]}


def panel(kind: str, title: str, description: str, targets: Sequence[Json], size: tuple[int, int],
          defaults: Json | None = None, options: Json | None = None,
          overrides: Iterable[Json] = (), transformations: Iterable[Json] = (), **extra: Any,
          ) -> Json:
    """Any panel; `size` is (width in grid columns, height in grid rows)."""
    width, height = size
    return {"type": kind, "title": title, "description": description, "datasource": DATASOURCE,
            "gridPos": {"h": height, "w": width, "x": 0, "y": 0},
            "fieldConfig": {"defaults": defaults or {}, "overrides": list(overrides)},
            "options": options or {}, "targets": list(targets),
            "transformations": list(transformations), **extra}


def timeseries(title: str, description: str, targets: Sequence[Json], size: tuple[int, int],
               unit: str, custom: Json | None = None, **field: Any) -> Json:
    """Lines over time, legend below, a shared tooltip; `custom` adds draw options."""
    draw = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 0, "showPoints": "never",
            "spanNulls": False, **(custom or {})}
    overrides = field.pop("overrides", ())
    defaults = {"unit": unit, "color": {"mode": "palette-classic"}, "custom": draw, **field}
    options = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
               "tooltip": {"mode": "multi", "sort": "desc"}}
    return panel("timeseries", title, description, targets, size, defaults, options, overrides)


def stat(title: str, description: str, targets: Sequence[Json], size: tuple[int, int],
         unit: str = "short", colour: str = "background", **field: Any) -> Json:
    """Big numbers, one per series, the last value each, coloured by threshold or mapping."""
    overrides = field.pop("overrides", ())
    defaults = {"unit": unit, "color": {"mode": "thresholds"}, **field}
    options = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
               "colorMode": colour, "graphMode": "none", "textMode": "value_and_name",
               "justifyMode": "auto", "orientation": "auto"}
    return panel("stat", title, description, targets, size, defaults, options, overrides)


def table(title: str, description: str, targets: Sequence[Json], size: tuple[int, int],
          transformations: Iterable[Json] = (), **field: Any) -> Json:
    """Rows as they come (tag columns included), sortable, with a header."""
    overrides = field.pop("overrides", ())
    defaults = {"custom": {"align": "auto", "cellOptions": {"type": "auto"}}, **field}
    options = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}}
    return panel("table", title, description, targets, size, defaults, options, overrides,
                 transformations)


def text(title: str, markdown: str, size: tuple[int, int]) -> Json:
    """A note (no query): what to configure to turn a panel on."""
    found = panel("text", title, "", [], size, options={"mode": "markdown", "content": markdown})
    del found["datasource"]
    return found


def query_variable(name: str, label: str, query: str) -> Json:
    """A multi-value variable from `SHOW TAG VALUES`, with All (`.*`) selected at first."""
    return {"name": name, "label": label, "type": "query", "datasource": DATASOURCE,
            "query": query, "definition": query, "refresh": 1, "regex": "", "sort": 1,
            "multi": True, "includeAll": True, "allValue": ".*", "hide": 0,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "options": []}


def influx_annotation(name: str, query: str, colour: str, text_column: str,
                      tags_column: str) -> Json:
    """Events from InfluxQL drawn on every time series of the board."""
    return {"name": name, "datasource": DATASOURCE, "enable": True, "hide": False,
            "iconColor": colour, "query": query, "textColumn": text_column,
            "tagsColumn": tags_column}


BUILT_IN_ANNOTATIONS: Json = {
    "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
    "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts",
    "type": "dashboard"}


def dashboard(uid: str, title: str, description: str, panels: Sequence[Json],
              variables: Sequence[Json], time_from: str, timezone: str,
              annotations: Sequence[Json] = (), refresh: str = "1m") -> Json:
    """A whole board: panels numbered and laid out, variables, the other boards as links."""
    return {"id": None, "uid": uid, "title": title, "description": description, "tags": [TAG],
            "timezone": timezone, "editable": True, "graphTooltip": 1, "liveNow": False,
            "schemaVersion": SCHEMA_VERSION, "version": 1, "refresh": refresh,
            "time": {"from": time_from, "to": "now"}, "timepicker": {}, "fiscalYearStartMonth": 0,
            "templating": {"list": list(variables)},
            "annotations": {"list": [BUILT_IN_ANNOTATIONS, *annotations]},
            "links": [{"type": "dashboards", "tags": [TAG], "asDropdown": True,
                       "title": "Streetwatch boards", "includeVars": True, "keepTime": True,
                       "icon": "external link", "targetBlank": False, "tooltip": "", "url": ""}],
            "panels": laid_out(panels)}


def laid_out(panels: Sequence[Json]) -> list[Json]:
    """Copies of `panels` with ids 1..n and grid positions, filled row by row."""
    found: list[Json] = []
    x = y = row_height = 0
    for number, original in enumerate(panels, start=1):
        width, height = original["gridPos"]["w"], original["gridPos"]["h"]
        if x + width > GRID_COLUMNS:
            x, y, row_height = 0, y + row_height, 0
        found.append({**original, "id": number, "gridPos": {"h": height, "w": width, "x": x,
                                                            "y": y}})
        x, row_height = x + width, max(row_height, height)
    return found
