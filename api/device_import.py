"""Devices from outside the registry (the registry CSV, GeoJSON, JSON bodies), checked by the
registry CSV's rules (streetwatch/registry/csv_import.py, docs/devices-csv.md), then imported all
or nothing.

JSON values become the CSV's cell text first (numbers as written, true/false, RFC 3339 or epoch
ms times), so one set of rules and messages serves the file, the bulk import and single edits.
A GeoJSON FeatureCollection holds Point features whose properties carry the CSV columns and whose
coordinates are [lon, lat]; its problems are reported by feature number (1 = the first).
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from sqlalchemy import Engine

from streetwatch.alerts.model import rfc3339_ms
from streetwatch.logs import log_event
from streetwatch.registry.csv_import import (
    SERVICE_CELLS,
    ParsedDevices,
    RowError,
    parse_device_records,
    parse_devices_csv,
    parse_service_cells,
)
from streetwatch.registry.store import UpsertCounts, upsert_devices

MAX_IMPORT_BYTES = 32 * 1024 * 1024  # ~250,000 CSV rows; a whole town's registry in one go
MAX_TIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last instant SQL keeps
_log = logging.getLogger(__name__)


def cell_text(value: object) -> str | None:
    """A JSON value as CSV cell text; None for a value no cell can hold (an object, a list)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)  # nan, inf: refused later
    if isinstance(value, str):
        return value
    return None


def time_cell(value: object) -> str | None:
    """A time given as RFC 3339 text or epoch ms, as the CSV's RFC 3339 cell text."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TIME_MS:
        return rfc3339_ms(value)
    return cell_text(value)


def device_cells(values: dict[str, object]) -> tuple[dict[str, str], list[str]]:
    """JSON values by CSV column name -> cell texts, and problems for values of a wrong type."""
    cells: dict[str, str] = {}
    problems: list[str] = []
    for name, value in values.items():
        text = time_cell(value) if name.startswith("out_of_service_") else cell_text(value)
        if text is None:
            problems.append(f"{name} must be text, a number, true/false or null")
        else:
            cells[name] = text
    return cells, problems


def check_device(cells: dict[str, str]) -> tuple[str | None, dict[str, Any], list[str]]:
    """One device's cells by the CSV's rules, the service columns for any kind (the API can take
    a drain or a gauge out of service; the file cannot): kind, model values, problems."""
    service = {name: cells.pop(name) for name in SERVICE_CELLS if name in cells}
    parsed = parse_device_records([(1, cells)])
    service_values, service_problems = parse_service_cells(service)
    problems = [error.message for error in parsed.errors] + service_problems
    for kind, rows in (("lamp", parsed.lamps), ("drain", parsed.drains), ("rain", parsed.gauges)):
        if rows and not problems:
            return kind, {**rows[0], **service_values}, []
    return None, {}, problems


# Bulk import -------------------------------------------------------------------------------------
def parse_csv_body(data: bytes) -> ParsedDevices:
    """A registry CSV upload (UTF-8, with or without BOM) by the file's rules."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return ParsedDevices(errors=[RowError(line, f"not UTF-8 text (byte {exc.start}); save "
                                                    f"the file as CSV UTF-8")])
    return parse_devices_csv(text)


def parse_geojson_body(data: bytes) -> ParsedDevices:
    """A FeatureCollection of Point features (properties: the CSV columns; [lon, lat]); errors
    carry feature numbers, 0 for the document as a whole."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return ParsedDevices(errors=[RowError(0, "the body is not JSON text")])
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection" \
            or not isinstance(document.get("features"), list):
        return ParsedDevices(errors=[RowError(0, 'expected a GeoJSON object with "type": '
                                                 '"FeatureCollection" and a "features" list')])
    records: list[tuple[int, dict[str, str]]] = []
    errors: list[RowError] = []
    for number, feature in enumerate(document["features"], start=1):
        cells, problems = feature_cells(feature)
        errors.extend(RowError(number, problem) for problem in problems)
        if not problems:
            records.append((number, cells))
    parsed = parse_device_records(records)
    parsed.errors.extend(errors)
    parsed.errors.sort(key=lambda error: error.line)
    return parsed


def feature_cells(feature: object) -> tuple[dict[str, str], list[str]]:
    """One GeoJSON feature as CSV cells (lat, lon from its Point), or its problems."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return {}, ['not a GeoJSON Feature (needs "type": "Feature")']
    geometry, properties = feature.get("geometry"), feature.get("properties")
    if not isinstance(properties, dict):
        return {}, ["properties must be an object holding the CSV columns"]
    coordinates = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if not isinstance(geometry, dict) or geometry.get("type") != "Point" \
            or not isinstance(coordinates, list) or len(coordinates) not in (2, 3) \
            or not all(isinstance(c, int | float) and not isinstance(c, bool)
                       for c in coordinates):
        return {}, ["geometry must be a Point with coordinates [lon, lat]"]
    named = {str(name).lower(): value for name, value in properties.items()}
    problems = [f"{name} comes from the geometry; leave it out of properties"
                for name in ("lat", "lon") if name in named]
    cells, wrong = device_cells(named)
    cells.update(lon=cell_text(coordinates[0]) or "", lat=cell_text(coordinates[1]) or "")
    return cells, problems + wrong


def import_devices(engine: Engine, parsed: ParsedDevices, actor: str) -> UpsertCounts:
    """Upsert every parsed device in one transaction (the caller has checked `parsed.ok`)."""
    counts = upsert_devices(engine, parsed.lamps, parsed.drains, parsed.gauges)
    log_event(_log, "api.devices_imported", actor=actor, lamps=counts.lamps,
              drains=counts.drains, gauges=counts.gauges, inserted=counts.inserted,
              updated=counts.updated)
    return counts
