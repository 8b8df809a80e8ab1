"""Load the device registry from one operator CSV file (format: docs/devices-csv.md).

Parsing is pure and never raises on bad input: every problem becomes a `RowError` with its line
number. Import is all or nothing: one bad row and nothing is written, so the operator fixes the
file and runs the import again instead of untangling a half-imported registry.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from streetwatch.errors import ConfigError
from streetwatch.logs import log_event
from streetwatch.registry.models import DEVICE_ID_PATTERN, ID_LENGTH
from streetwatch.registry.store import UpsertCounts, upsert_devices
from streetwatch.registry.timestamps import datetime_from_ms
from streetwatch.schemas import parse_timestamp_ms

COLUMNS = (
    "kind", "id", "gateway", "zone", "road", "position", "cabinet",
    "lat", "lon", "depth_cm", "overflow_cm", "downstream",
    "in_service", "out_of_service_from", "out_of_service_until",
    "pipe_diameter_cm", "normal_low_cm", "normal_high_cm",
)  # fmt: skip
REQUIRED_COLUMNS = ("kind", "id", "gateway", "zone")
# Optional columns each kind may fill; a value in any other optional column is a mistake.
KIND_COLUMNS: dict[str, frozenset[str]] = {
    "lamp": frozenset({"road", "position", "cabinet", "lat", "lon", "in_service",
                       "out_of_service_from", "out_of_service_until"}),
    "drain": frozenset({"depth_cm", "overflow_cm", "downstream", "lat", "lon",
                        "pipe_diameter_cm", "normal_low_cm", "normal_high_cm"}),
    "rain": frozenset({"lat", "lon"}),
}
SERVICE_CELLS = ("in_service", "out_of_service_from", "out_of_service_until")
_NUMBER = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,3})?")
_POSITION = re.compile(r"[0-9]{1,9}")
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_SHOWN_CHARS = 40

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RowError:
    """One problem in the file, at a 1-based line number (where the row starts)."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class ParsedDevices:
    """Rows ready for `upsert_devices` (column names of the models), and every problem found."""

    lamps: list[dict[str, Any]] = field(default_factory=list)
    drains: list[dict[str, Any]] = field(default_factory=list)
    gauges: list[dict[str, Any]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class ImportReport:
    """Outcome of one import: `counts` when written, None when errors stopped it."""

    path: Path
    counts: UpsertCounts | None
    errors: list[RowError]

    @property
    def ok(self) -> bool:
        return not self.errors


# Parsing ------------------------------------------------------------------------------------------
def parse_devices_csv(text: str) -> ParsedDevices:
    """Validate every row of a devices CSV; collect all errors instead of raising."""
    parsed = ParsedDevices()
    rows = _numbered_rows(text.removeprefix("\ufeff"), parsed.errors)
    first = next(rows, None)
    if first is None:
        parsed.errors.append(RowError(1, f"the file is empty; the first line must be the header "
                                         f"{','.join(COLUMNS)}"))
        return parsed
    header_line, header_cells = first
    header = _read_header(header_line, header_cells, parsed.errors)
    if header is None:
        return parsed
    first_line_of: dict[tuple[str, str], int] = {}
    for line, cells in rows:
        _parse_row(line, header, cells, parsed, first_line_of)
    return parsed


def _numbered_rows(text: str, errors: list[RowError]) -> Iterator[tuple[int, list[str]]]:
    """Non-blank CSV rows with the line each starts on; unreadable rows become errors."""
    reader = csv.reader(io.StringIO(text, newline=""))
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            errors.append(RowError(start, f"cannot read this row as CSV: {exc}"))
            continue
        if any(cell.strip() for cell in cells):
            yield start, cells


def _read_header(line: int, cells: list[str], errors: list[RowError]) -> list[str] | None:
    """Column names of the header row, or None (with errors) when it is not usable."""
    names = [cell.strip().lower() for cell in cells]
    problems = [f"unknown column {_show(name)}" for name in names if name not in COLUMNS]
    problems += [f"column {_show(name)} appears {count} times"
                 for name, count in Counter(names).items() if count > 1]
    problems += [f"missing required column {name!r}" for name in REQUIRED_COLUMNS
                 if name not in names]
    if len(names) == 1 and ";" in names[0]:
        problems = ["columns must be separated by commas, not semicolons"]
    errors.extend(RowError(line, problem) for problem in problems)
    if problems:
        errors.append(RowError(line, f"the header must use the columns {','.join(COLUMNS)}"))
        return None
    return names


def _parse_row(
    line: int,
    header: list[str],
    cells: list[str],
    parsed: ParsedDevices,
    first_line_of: dict[tuple[str, str], int],
) -> None:
    """Validate one row and append it to its kind's list, or its problems to `parsed.errors`."""
    if len(cells) != len(header):
        parsed.errors.append(
            RowError(line, f"row has {len(cells)} fields but the header has {len(header)}"))
        return
    _add_row(line, dict(zip(header, (cell.strip() for cell in cells), strict=True)), parsed,
             first_line_of)


def parse_device_records(records: Iterable[tuple[int, dict[str, str]]]) -> ParsedDevices:
    """Validate devices given as cells by CSV column name (GeoJSON features, API bodies), each
    numbered by the caller: the file's rules and messages, errors at the caller's numbers.

    Columns missing from a record are empty; a name outside COLUMNS is an error."""
    parsed = ParsedDevices()
    first_line_of: dict[tuple[str, str], int] = {}
    for number, cells in records:
        unknown = [name for name in cells if name not in COLUMNS]
        if unknown:
            parsed.errors.extend(RowError(number, f"unknown column {_show(name)}")
                                 for name in unknown)
            continue
        row = {name: cells.get(name, "").strip() for name in COLUMNS}
        _add_row(number, {name: value for name, value in row.items()
                          if value or name in REQUIRED_COLUMNS}, parsed, first_line_of)
    return parsed


def parse_service_cells(cells: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The service columns (`in_service`, `out_of_service_from`, `out_of_service_until`) by the
    file's rules, for any kind: model values and problems."""
    row = _RowCells({name: cells.get(name, "").strip() for name in SERVICE_CELLS})
    values = {"in_service": row.boolean("in_service", default=True), **row.service_window()}
    return values, row.problems


def _add_row(line: int, cells: dict[str, str], parsed: ParsedDevices,
             first_line_of: dict[tuple[str, str], int]) -> None:
    """Validate one row's cells (by column name) into its kind's list or `parsed.errors`."""
    row = _RowCells(cells)
    kind, values = row.device()
    if kind is not None and values.get("id") is not None:
        _check_unique(kind, values["id"], line, first_line_of, row.problems)
    if row.problems:
        parsed.errors.extend(RowError(line, problem) for problem in row.problems)
    elif kind == "lamp":
        parsed.lamps.append(values)
    elif kind == "drain":
        parsed.drains.append(values)
    else:
        parsed.gauges.append(values)


def _check_unique(
    kind: str, device_id: str, line: int, first_line_of: dict[tuple[str, str], int],
    problems: list[str],
) -> None:
    """Flag a (kind, id) seen earlier in the file; the registry keys devices by both."""
    first = first_line_of.setdefault((kind, device_id), line)
    if first != line:
        problems.append(f"duplicate {kind} id {_show(device_id)} (first on line {first})")


class _RowCells:
    """The cells of one row by column name; each reader method records what is wrong."""

    def __init__(self, cells: dict[str, str]) -> None:
        self.cells = cells
        self.problems: list[str] = []

    def device(self) -> tuple[str | None, dict[str, Any]]:
        """The row's kind and model columns (values are None where the row is invalid)."""
        kind = self.kind()
        common = {"id": self.identifier("id"), "gateway": self.identifier("gateway"),
                  "zone": self.identifier("zone")}
        if kind is None:
            return None, common
        self.reject_foreign_columns(kind)
        place = self.place()
        if kind == "lamp":
            return kind, {**common, **self.lamp_columns(), **place}
        if kind == "drain":
            return kind, {**common, **self.drain_columns(), **place}
        return kind, {**common, **place}

    def kind(self) -> str | None:
        kind = self.cells["kind"].lower()
        if kind in KIND_COLUMNS:
            return kind
        self.problems.append(f"kind must be lamp, drain or rain, not {_show(self.cells['kind'])}")
        return None

    def reject_foreign_columns(self, kind: str) -> None:
        """A value in a column of another kind usually means shifted columns: refuse it."""
        for name, value in self.cells.items():
            if value and name not in REQUIRED_COLUMNS and name not in KIND_COLUMNS[kind]:
                self.problems.append(f"{name} does not apply to a {kind}; leave it empty")

    def lamp_columns(self) -> dict[str, Any]:
        road = self.label("road")
        position = self.position()
        if position is not None and not self.cells.get("road"):
            self.problems.append("position needs a road")
        return {"road": road, "position_on_road": position,
                "cabinet": self.identifier("cabinet", required=False),
                "in_service": self.boolean("in_service", default=True),
                **self.service_window()}

    def service_window(self) -> dict[str, datetime | None]:
        """The planned-works window [from, until); either end may be open, not both reversed."""
        start = self.timestamp("out_of_service_from")
        end = self.timestamp("out_of_service_until")
        if start is not None and end is not None and end <= start:
            self.problems.append("out_of_service_until must be later than out_of_service_from")
        return {"out_of_service_from": start, "out_of_service_until": end}

    def drain_columns(self) -> dict[str, Any]:
        depth_cm = self.number("depth_cm", 0.0, math.inf)
        overflow_cm = self.number("overflow_cm", 0.0, math.inf)
        if depth_cm is not None and overflow_cm is not None and overflow_cm > depth_cm:
            self.problems.append(f"overflow_cm ({overflow_cm:g}) must not exceed "
                                 f"depth_cm ({depth_cm:g})")
        downstream = self.identifier("downstream", required=False)
        if downstream is not None and downstream == self.cells["id"]:
            self.problems.append("downstream must be another drain, not the drain itself")
        return {"depth_cm": depth_cm, "overflow_cm": overflow_cm, "downstream_id": downstream,
                "pipe_diameter_cm": self.number("pipe_diameter_cm", 0.0, math.inf),
                **self.normal_band(depth_cm)}

    def normal_band(self, depth_cm: float | None) -> dict[str, float | None]:
        """A configured normal level band: both ends or neither, low <= high <= depth."""
        low = self.number("normal_low_cm", 0.0, math.inf)
        high = self.number("normal_high_cm", 0.0, math.inf)
        given = [bool(self.cells.get(name)) for name in ("normal_low_cm", "normal_high_cm")]
        if given[0] != given[1]:
            self.problems.append("give normal_low_cm and normal_high_cm together (or neither)")
        elif low is not None and high is not None and low > high:
            self.problems.append(f"normal_low_cm ({low:g}) must not exceed normal_high_cm "
                                 f"({high:g})")
        elif high is not None and depth_cm is not None and high > depth_cm:
            self.problems.append(f"normal_high_cm ({high:g}) must not exceed depth_cm "
                                 f"({depth_cm:g})")
        return {"normal_low_cm": low, "normal_high_cm": high}

    def place(self) -> dict[str, float | None]:
        lat = self.number("lat", -90.0, 90.0)
        lon = self.number("lon", -180.0, 180.0)
        if bool(self.cells.get("lat")) != bool(self.cells.get("lon")):
            self.problems.append("lat and lon go together: give both or neither")
        return {"lat": lat, "lon": lon}

    def identifier(self, name: str, required: bool = True) -> str | None:
        """An id in the topic alphabet [A-Za-z0-9_.-], 1 to 64 characters."""
        value = self.cells.get(name, "")
        if not value:
            if required:
                self.problems.append(f"{name} is required")
            return None
        if DEVICE_ID_PATTERN.fullmatch(value):
            return value
        self.problems.append(f"{name} {_show(value)} must be 1-{ID_LENGTH} characters "
                             f"from A-Z a-z 0-9 _ . -")
        return None

    def label(self, name: str) -> str | None:
        """Free text such as a road name: printable, at most 64 characters."""
        value = self.cells.get(name, "")
        if not value:
            return None
        if len(value) <= ID_LENGTH and value.isprintable():
            return value
        self.problems.append(f"{name} {_show(value)} must be at most {ID_LENGTH} printable "
                             f"characters")
        return None

    def position(self) -> int | None:
        value = self.cells.get("position", "")
        if not value:
            return None
        if _POSITION.fullmatch(value):
            return int(value)
        self.problems.append(f"position {_show(value)} must be a whole number >= 0")
        return None

    def boolean(self, name: str, default: bool) -> bool:
        """true/false, 1/0 or yes/no (any case); empty means `default`."""
        value = self.cells.get(name, "")
        if not value:
            return default
        if value.lower() in _BOOLEANS:
            return _BOOLEANS[value.lower()]
        self.problems.append(f"{name} {_show(value)} must be true or false (or 1/0, yes/no)")
        return default

    def timestamp(self, name: str) -> datetime | None:
        """An RFC 3339 date-time with a zone (`2026-03-01T08:00:00+01:00`); empty means none."""
        value = self.cells.get(name, "")
        if not value:
            return None
        try:
            return datetime_from_ms(parse_timestamp_ms(value))
        except (ValueError, OverflowError):  # OverflowError: beyond year 1..9999 in UTC
            self.problems.append(f"{name} {_show(value)} must be an RFC 3339 date-time with a "
                                 f"zone, like 2026-03-01T08:00:00Z or 2026-03-01T09:00:00+01:00")
            return None

    def number(self, name: str, low: float, high: float) -> float | None:
        """A finite decimal number in [low, high]; empty means unknown (None)."""
        value = self.cells.get(name, "")
        if not value:
            return None
        number = float(value) if _NUMBER.fullmatch(value) else math.nan
        if not math.isfinite(number):
            self.problems.append(f"{name} {_show(value)} must be a number")
            return None
        if not low <= number <= high:
            self.problems.append(f"{name} {number:g} must be between {low:g} and {high:g}")
            return None
        return number


def _show(value: str) -> str:
    """A value quoted for a message: escaped (no control characters) and cut to 40 characters."""
    if len(value) > _SHOWN_CHARS:
        return repr(value[:_SHOWN_CHARS]) + f"... ({len(value)} characters)"
    return repr(value)


# Import -------------------------------------------------------------------------------------------
def read_devices_file(path: Path) -> str:
    """The file's text (UTF-8, with or without BOM); unreadable files raise ConfigError."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read devices file {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"devices file {path} is not UTF-8 text (line {line}, byte "
                          f"{exc.start}); save it as UTF-8 CSV") from None


def import_devices_csv(engine: Engine, path: Path | str) -> ImportReport:
    """Parse `path` and upsert its devices; write nothing if any row is bad."""
    path = Path(path)
    parsed = parse_devices_csv(read_devices_file(path))
    if not parsed.ok:
        log_event(_log, "registry.import_rejected", level=logging.WARNING, path=str(path),
                  errors=len(parsed.errors))
        return ImportReport(path, None, parsed.errors)
    counts = upsert_devices(engine, parsed.lamps, parsed.drains, parsed.gauges)
    log_event(_log, "registry.imported", path=str(path), lamps=counts.lamps,
              drains=counts.drains, gauges=counts.gauges)
    return ImportReport(path, counts, [])


__all__ = [
    "COLUMNS",
    "REQUIRED_COLUMNS",
    "ImportReport",
    "ParsedDevices",
    "SERVICE_CELLS",
    "RowError",
    "import_devices_csv",
    "parse_device_records",
    "parse_devices_csv",
    "parse_service_cells",
    "read_devices_file",
]
