"""The labelled-scenario file format (docs/scenarios.md): TOML in, a validated `Scenario` out.

Pure: reads one file, checks every key, and reports a problem as `ScenarioError("FILE: key:
what is wrong")`, so a typo in a scenario fails loudly instead of silently testing less.

Times in a scenario are clock times of the scenario's own day ("19:10", "19:25:00.001"): offset 0
is `start`, and a time means its first occurrence at or after `start` (scenarios last less than a
day). Anchoring the scenario at an epoch-ms instant maps `start` to that instant; see
streetwatch/scenarios/timeline.py for how the town's zone schedules follow.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from streetwatch.alerts.model import LAMP_ALERT_KINDS, SEVERITIES
from streetwatch.errors import ConfigError
from streetwatch.schemas import ID_PATTERN
from streetwatch.settings import Settings
from streetwatch.town import LampSite

MIN_MS = 60_000
DAY_MS = 1440 * MIN_MS
# The Settings a scenario may set in [town]: everything the rule core reads, nothing else.
TOWN_KEYS = (
    "town_timezone", "lights_on_grace_s", "zone_schedules", "lighting_target", "zone_targets",
    "stale_after_s", "lamp_out_after_s", "day_burner_after_s", "cycling_changes",
    "cycling_window_s", "lamp_silent_after_s", "cabinet_down_fraction",
    "zone_below_target_after_s", "zone_below_target_clear_s", "deadline_red_s",
    "deadline_yellow_s", "deadline_blue_s", "alert_severity_overrides",
    "alert_deadline_overrides_s", "rules_every_s",
)
LAMP_FAULT_KINDS = ("dark", "silent", "stuck_on", "cycling")
FAULT_KINDS = (*LAMP_FAULT_KINDS, "cabinet_trip", "gateway_offline", "gateway_silent")
ALERT_EVENTS = ("raised", "resolved", "overdue", "escalated")
# Faults that leave a lamp dark (rules.lamps.DARK_FAULTS; a unit test keeps the two equal).
DARK_FAULTS = ("driver_failure", "lamp_failure", "power_supply")
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9])(?:\.([0-9]{3}))?)?")


class ScenarioError(ConfigError):
    """A scenario file is unreadable or inconsistent; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault injected in [from_ms, until_ms) (offsets; until None: to the end)."""

    kind: str
    from_ms: int
    until_ms: int | None
    lamps: tuple[str, ...] = ()
    cabinet: str | None = None
    gateway: str | None = None
    fault: str | None = None  # what a dark lamp reports (None: just "off")

    def active(self, offset_ms: int) -> bool:
        return self.from_ms <= offset_ms and (self.until_ms is None or offset_ms < self.until_ms)


@dataclass(frozen=True, slots=True)
class AlertLabel:
    """An alert event the replay must print: event, kind, subject at offset `at_ms`."""

    event: str
    kind: str
    subject: str
    at_ms: int
    severity: str | None = None
    within_ms: int = 0  # tolerance (gateway statuses are stamped by the ingester on receipt)


@dataclass(frozen=True, slots=True)
class RateLabel:
    """Every `lighting_rate` sample of `zone` in [from_ms, until_ms) has these values (None: any);
    there must be at least one sample."""

    zone: str
    from_ms: int
    until_ms: int
    rate: float | None = None
    lit: int | None = None
    expected: int | None = None
    stale: int | None = None


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: devices, faults, the town settings it runs with, and its labels."""

    path: Path
    name: str
    description: str
    start_ms_of_day: int  # the scenario clock at offset 0, ms after midnight
    duration_ms: int
    interval_ms: int
    town: Settings  # defaults + the scenario's [town] values (never the operator's environment)
    sites: tuple[LampSite, ...]
    faults: tuple[Fault, ...]
    alerts: tuple[AlertLabel, ...]
    rates: tuple[RateLabel, ...]
    no_other_alerts: bool
    forbidden_kinds: tuple[str, ...]

    @property
    def gateways(self) -> list[str]:
        return sorted({site.gateway for site in self.sites})

    def clock(self, offset_ms: int) -> str:
        """The scenario clock at `offset_ms` ("19:10", or "19:10:00.001" off the minute)."""
        ms = (self.start_ms_of_day + offset_ms) % DAY_MS
        text = f"{ms // 3_600_000:02d}:{ms // MIN_MS % 60:02d}"
        if ms % MIN_MS:
            text += f":{ms // 1000 % 60:02d}" + (f".{ms % 1000:03d}" if ms % 1000 else "")
        return text


def load_scenario(path: Path | str) -> Scenario:
    """Read and validate a scenario file (ScenarioError names the file and the key)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read the scenario: {exc}") from None
    return _Reader(path).scenario(data)


class _Reader:
    """Validation with the file name and key path in every message."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.start_ms = 0
        self.duration_ms = DAY_MS

    def fail(self, key: str, message: str) -> ScenarioError:
        return ScenarioError(f"{self.path}: {key}: {message}")

    # The whole file ---------------------------------------------------------------------------
    def scenario(self, data: dict[str, Any]) -> Scenario:
        self.keys("(top level)", data, {"name", "description", "start", "duration_min",
                                         "reading_interval_min", "town", "roads", "lamps",
                                         "faults", "expect"}, {"name", "start", "duration_min"})
        self.start_ms = self.clock_ms("start", data["start"])
        if self.start_ms % MIN_MS:
            raise self.fail("start", "must be on the minute (HH:MM)")
        duration_min = self.integer("duration_min", data["duration_min"], 1, 1439)
        self.duration_ms = duration_min * MIN_MS
        interval_min = self.integer("reading_interval_min", data.get("reading_interval_min", 5),
                                    1, duration_min)
        sites = self.sites(data)
        town = self.town(self.table("town", data.get("town", {})), sites)
        expect = self.table("expect", data.get("expect", {}))
        self.keys("expect", expect, {"no_other_alerts", "forbidden_kinds", "alerts", "rates"})
        no_others, forbidden = self.forbidding(expect)
        return Scenario(
            path=self.path, name=self.text("name", data["name"]),
            description=self.text("description", data.get("description", ""), empty=True),
            start_ms_of_day=self.start_ms, duration_ms=self.duration_ms,
            interval_ms=interval_min * MIN_MS, town=town, sites=sites,
            faults=self.faults(data.get("faults", []), sites),
            alerts=tuple(self.alert(key, row) for key, row in self.indexed(expect, "alerts")),
            rates=tuple(self.rate(key, row) for key, row in self.indexed(expect, "rates")),
            no_other_alerts=no_others, forbidden_kinds=forbidden,
        )

    # Devices ----------------------------------------------------------------------------------
    def sites(self, data: dict[str, Any]) -> tuple[LampSite, ...]:
        sites = [site for i, row in enumerate(self.rows("roads", data.get("roads", [])))
                 for site in self.road(f"roads[{i}]", row)]
        sites += [self.lamp(f"lamps[{i}]", row)
                  for i, row in enumerate(self.rows("lamps", data.get("lamps", [])))]
        if not sites:
            raise self.fail("roads", "a scenario needs at least one lamp ([[roads]] or [[lamps]])")
        seen: set[str] = set()
        for site in sites:
            if site.id in seen:
                raise self.fail("lamps", f"lamp id {site.id!r} is declared twice")
            seen.add(site.id)
        return tuple(sites)

    def road(self, key: str, row: dict[str, Any]) -> list[LampSite]:
        """`lamps` lamps at positions 1..n; ids `id_prefix` + number; cabinets of `cabinet_size`."""
        self.keys(key, row, {"road", "zone", "gateway", "lamps", "cabinet_size", "id_prefix",
                             "cabinet_prefix"}, {"road", "zone", "gateway", "lamps"})
        road, zone, gateway = (self.ident(f"{key}.{k}", row[k])
                               for k in ("road", "zone", "gateway"))
        count = self.integer(f"{key}.lamps", row["lamps"], 1, 100_000)
        size = self.integer(f"{key}.cabinet_size", row.get("cabinet_size", 0), 0, count)
        prefix = self.text(f"{key}.id_prefix", row.get("id_prefix", "L"))
        cabinet_prefix = self.text(f"{key}.cabinet_prefix", row.get("cabinet_prefix", f"{road}-C"))
        width = max(3, len(str(count)))
        return [LampSite(self.ident(f"{key}.id_prefix", f"{prefix}{p:0{width}d}"), gateway,
                             zone, road, p,
                             f"{cabinet_prefix}{(p - 1) // size + 1}" if size else None)
                for p in range(1, count + 1)]

    def lamp(self, key: str, row: dict[str, Any]) -> LampSite:
        self.keys(key, row, {"id", "gateway", "zone", "road", "position", "cabinet", "lat", "lon"},
                  {"id", "gateway", "zone"})
        position = row.get("position")
        return LampSite(
            self.ident(f"{key}.id", row["id"]), self.ident(f"{key}.gateway", row["gateway"]),
            self.ident(f"{key}.zone", row["zone"]),
            None if row.get("road") is None else self.ident(f"{key}.road", row["road"]),
            None if position is None else self.integer(f"{key}.position", position, 0, 10**9),
            None if row.get("cabinet") is None else self.ident(f"{key}.cabinet", row["cabinet"]),
            self.number(f"{key}.lat", row.get("lat")), self.number(f"{key}.lon", row.get("lon")))

    # Town settings ----------------------------------------------------------------------------
    def town(self, table: dict[str, Any], sites: tuple[LampSite, ...]) -> Settings:
        """Settings defaults + these keys, validated by Settings itself (no environment read)."""
        self.keys("town", table, set(TOWN_KEYS))
        town = Settings.model_construct()
        for name in TOWN_KEYS:
            if name in table:
                try:
                    Settings.__pydantic_validator__.validate_assignment(town, name, table[name])
                except ValidationError as exc:
                    raise self.fail(f"town.{name}", exc.errors()[0]["msg"]) from None
        if town.town_timezone != "UTC":
            raise self.fail("town.town_timezone", "scenario clocks are UTC (no DST in a "
                            f"scenario's day); got {town.town_timezone!r}")
        unscheduled = sorted({s.zone for s in sites} - set(town.zone_schedules))
        if unscheduled:
            raise self.fail("town.zone_schedules", f"zone(s) {', '.join(unscheduled)} need a "
                            "fixed schedule (sunset tables would tie the scenario to a date)")
        return town

    # Faults -----------------------------------------------------------------------------------
    def faults(self, rows: object, sites: tuple[LampSite, ...]) -> tuple[Fault, ...]:
        lamps = {s.id for s in sites}
        cabinets = {s.cabinet for s in sites} - {None}
        gateways = {s.gateway for s in sites}
        return tuple(self.fault(f"faults[{i}]", row, lamps, cabinets, gateways)
                     for i, row in enumerate(self.rows("faults", rows)))

    def fault(self, key: str, row: dict[str, Any], lamps: set[str], cabinets: set[str | None],
              gateways: set[str]) -> Fault:
        self.keys(key, row, {"kind", "lamps", "cabinet", "gateway", "from", "until", "fault"},
                  {"kind"})
        kind = self.choice(f"{key}.kind", row["kind"], FAULT_KINDS)
        target = ("lamps" if kind in LAMP_FAULT_KINDS else
                  "cabinet" if kind == "cabinet_trip" else "gateway")
        if target not in row:
            raise self.fail(f"{key}.{target}", f"a {kind} fault needs `{target}`")
        for other in {"lamps", "cabinet", "gateway"} - {target}:
            if other in row:
                raise self.fail(f"{key}.{other}", f"a {kind} fault takes `{target}`, not `{other}`")
        if "fault" in row and kind not in ("dark", "cabinet_trip"):
            raise self.fail(f"{key}.fault", "only dark and cabinet_trip lamps report a fault")
        from_ms = self.offset(f"{key}.from", row.get("from"), 0)
        until_ms = None if "until" not in row else self.offset(f"{key}.until", row["until"], 0)
        if until_ms is not None and until_ms <= from_ms:
            raise self.fail(f"{key}.until", "must be after `from`")
        named = row[target] if target == "lamps" else [row[target]]
        if target == "lamps" and (not isinstance(named, list) or not named):
            raise self.fail(f"{key}.lamps", "must be a non-empty list of lamp ids")
        known = {"lamps": lamps, "cabinet": cabinets, "gateway": gateways}[target]
        unknown = [x for x in named if x not in known]
        if unknown:
            raise self.fail(f"{key}.{target}", f"unknown {target}: {', '.join(map(str, unknown))}")
        return Fault(kind, from_ms, until_ms, tuple(named) if target == "lamps" else (),
                     row.get("cabinet"), row.get("gateway"),
                     None if "fault" not in row else self.choice(
                         f"{key}.fault", row["fault"], DARK_FAULTS))

    # Labels -----------------------------------------------------------------------------------
    def forbidding(self, expect: dict[str, Any]) -> tuple[bool, tuple[str, ...]]:
        no_others = expect.get("no_other_alerts", False)
        if not isinstance(no_others, bool):
            raise self.fail("expect.no_other_alerts", "must be true or false")
        kinds = expect.get("forbidden_kinds", [])
        if not isinstance(kinds, list):
            raise self.fail("expect.forbidden_kinds", "must be a list of alert kinds")
        kinds = [self.choice("expect.forbidden_kinds", k, LAMP_ALERT_KINDS) for k in kinds]
        if not no_others and not kinds:
            raise self.fail("expect", "say which alerts must not appear: no_other_alerts = true, "
                            "or forbidden_kinds = [...]")
        return no_others, tuple(kinds)

    def alert(self, key: str, row: dict[str, Any]) -> AlertLabel:
        self.keys(key, row, {"event", "kind", "subject", "at", "severity", "within_s"},
                  {"event", "kind", "subject", "at"})
        subject = self.text(f"{key}.subject", row["subject"])
        if not re.fullmatch(r"(lamp|cabinet|gateway|zone|road):.+", subject):
            raise self.fail(f"{key}.subject", f"{subject!r} is not lamp:<id>, cabinet:<id>, "
                            "gateway:<id>, zone:<id> or road:<road>:<position>")
        severity = row.get("severity")
        return AlertLabel(
            self.choice(f"{key}.event", row["event"], ALERT_EVENTS),
            self.choice(f"{key}.kind", row["kind"], LAMP_ALERT_KINDS), subject,
            self.offset(f"{key}.at", row["at"], None),
            None if severity is None else self.choice(f"{key}.severity", severity, SEVERITIES),
            self.integer(f"{key}.within_s", row.get("within_s", 0), 0, 3600) * 1000)

    def rate(self, key: str, row: dict[str, Any]) -> RateLabel:
        self.keys(key, row, {"zone", "at", "from", "until", "rate", "lit", "expected", "stale"},
                  {"zone"})
        if ("at" in row) == ("from" in row) or ("until" in row and "from" not in row):
            raise self.fail(key, "give either `at`, or `from` (and optionally `until`)")
        if "at" in row:
            from_ms = self.offset(f"{key}.at", row["at"], None)
            until_ms = from_ms + 1
        else:
            from_ms = self.offset(f"{key}.from", row["from"], None)
            until_ms = self.offset(f"{key}.until", row.get("until"), self.duration_ms)
            if until_ms <= from_ms:
                raise self.fail(f"{key}.until", "must be after `from`")
        values = {k: row.get(k) for k in ("rate", "lit", "expected", "stale")}
        if all(v is None for v in values.values()):
            raise self.fail(key, "give at least one of rate, lit, expected, stale")
        rate = None if values["rate"] is None else self.number(f"{key}.rate", values["rate"])
        counts = {k: None if values[k] is None else self.integer(f"{key}.{k}", values[k], 0, 10**9)
                  for k in ("lit", "expected", "stale")}
        return RateLabel(self.ident(f"{key}.zone", row["zone"]), from_ms, until_ms, rate, **counts)

    # Values -----------------------------------------------------------------------------------
    def keys(self, key: str, table: Mapping[str, Any], allowed: Collection[str],
             required: Collection[str] = ()) -> None:
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise self.fail(key, f"unknown key(s) {', '.join(unknown)} (allowed: "
                            f"{', '.join(sorted(allowed))})")
        missing = sorted(set(required) - set(table))
        if missing:
            raise self.fail(key, f"missing key(s) {', '.join(missing)}")

    def indexed(self, expect: dict[str, Any], name: str) -> list[tuple[str, dict[str, Any]]]:
        """The rows of `[[expect.<name>]]` with their keys (`expect.alerts[2]`)."""
        rows = self.rows(f"expect.{name}", expect.get(name, []))
        return [(f"expect.{name}[{i}]", row) for i, row in enumerate(rows)]

    def table(self, key: str, value: object) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table")
        return value

    def rows(self, key: str, value: object) -> list[dict[str, Any]]:
        if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
            raise self.fail(key, f"must be an array of tables ([[{key}]])")
        return value

    def text(self, key: str, value: object, empty: bool = False) -> str:
        if not isinstance(value, str) or not (empty or value.strip()):
            raise self.fail(key, "must be a non-empty string")
        return value

    def ident(self, key: str, value: object) -> str:
        if not isinstance(value, str) or not re.fullmatch(ID_PATTERN, value):
            raise self.fail(key, f"{value!r} is not an id ({ID_PATTERN})")
        return value

    def integer(self, key: str, value: object, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(key, f"must be a whole number from {low} to {high}, got {value!r}")
        return value

    def number(self, key: str, value: object) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"must be a number, got {value!r}")
        return float(value)

    def choice(self, key: str, value: object, allowed: tuple[str, ...]) -> str:
        if value not in allowed:
            raise self.fail(key, f"{value!r} is not one of {', '.join(allowed)}")
        return value  # type: ignore[return-value]

    def clock_ms(self, key: str, value: object) -> int:
        """"HH:MM[:SS[.mmm]]" -> ms after midnight."""
        found = _CLOCK.fullmatch(value) if isinstance(value, str) else None
        if found is None:
            raise self.fail(key, f"{value!r} is not a clock time HH:MM[:SS[.mmm]]")
        h, m, s, ms = (int(part or 0) for part in found.groups())
        return ((h * 60 + m) * 60 + s) * 1000 + ms

    def offset(self, key: str, value: object, default: int | None) -> int:
        """A clock time as an offset from `start`, inside the scenario ([0, duration])."""
        if value is None and default is not None:
            return default
        offset_ms = (self.clock_ms(key, value) - self.start_ms) % DAY_MS
        if offset_ms > self.duration_ms:
            raise self.fail(key, f"{value} is outside the scenario (it runs "
                            f"{self.duration_ms // MIN_MS} min from its start)")
        return offset_ms
