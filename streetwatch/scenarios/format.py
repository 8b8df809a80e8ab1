"""The labelled-scenario file format (docs/scenarios.md): TOML in, a validated `Scenario` out.

Pure: reads one file, checks every key, and reports a problem as `ScenarioError("FILE: key:
what is wrong")`, so a typo in a scenario fails loudly instead of silently testing less.

Times in a scenario are clock times of the scenario's own day ("19:10", "19:25:00.001"): offset 0
is `start`, and a time means its first occurrence at or after `start` (scenarios last less than a
day). Anchoring the scenario at an epoch-ms instant maps `start` to that instant; see
streetwatch/scenarios/timeline.py for how the town's zone schedules follow, and for the drain
flow model the `[[drains]]` parameters (`DrainFlow`) feed.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, get_args

from pydantic import ValidationError

from streetwatch.alerts.model import ALERT_KINDS, SEVERITIES, NoticeKind
from streetwatch.errors import ConfigError
from streetwatch.schemas import ID_PATTERN
from streetwatch.settings import Settings
from streetwatch.town import DrainSite, GaugeSite, LampSite

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
    # drains (issue 15)
    "wet_window_s", "wet_threshold_mm", "wet_drain_out_s", "baseline_window_days",
    "baseline_band_k", "baseline_min_halfwidth_cm", "baseline_min_samples", "blockage_hold_s",
    "blockage_rise_cm_per_h", "overflow_margin_fraction", "overflow_horizon_s",
    "drain_silent_after_s", "stuck_after_s", "stuck_tolerance_cm", "neighbour_move_cm",
    "max_rise_cm_per_min", "low_battery_v", "surge_fraction",
)
LAMP_FAULT_KINDS = ("dark", "silent", "stuck_on", "cycling")
DRAIN_FAULT_KINDS = ("blockage", "fast_rise", "stuck", "cover_open", "low_battery",
                     "drain_silent", "spike")
FAULT_KINDS = (*LAMP_FAULT_KINDS, "cabinet_trip", "gateway_offline", "gateway_silent",
               *DRAIN_FAULT_KINDS)
# The keys a fault of each kind takes besides `kind`, its target and `from`/`until`.
FAULT_PARAMS: dict[str, tuple[str, ...]] = {
    "dark": ("fault",), "cabinet_trip": ("fault",),
    "blockage": ("rise_cm_per_h", "max_cm", "starves_downstream"),
    "fast_rise": ("rise_cm_per_min",), "low_battery": ("battery_v",), "spike": ("at", "level_cm"),
}
FAULT_TARGETS = ("lamps", "drains", "cabinet", "gateway")
ALERT_EVENTS = ("raised", "resolved", "overdue", "escalated")
NOTICE_KINDS: tuple[str, ...] = get_args(NoticeKind)
HISTORY_MAX_DAYS = 30  # the ingester refuses readings older than 30 days
# Faults that leave a lamp dark (rules.lamps.DARK_FAULTS; a unit test keeps the two equal).
DARK_FAULTS = ("driver_failure", "lamp_failure", "power_supply")
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9])(?:\.([0-9]{3}))?)?")


class ScenarioError(ConfigError):
    """A scenario file is unreadable or inconsistent; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault injected in [from_ms, until_ms) (offsets; until None: to the end). A `spike` holds
    for the one instant `at` ([at, at + 1 ms)). The drain parameters (with their defaults) mean
    something only to their kinds (docs/scenarios.md)."""

    kind: str
    from_ms: int
    until_ms: int | None
    lamps: tuple[str, ...] = ()
    cabinet: str | None = None
    gateway: str | None = None
    fault: str | None = None  # what a dark lamp reports (None: just "off")
    drains: tuple[str, ...] = ()
    rise_cm_per_h: float = 10.0  # blockage: the level it adds grows this fast ...
    max_cm: float | None = None  # ... up to this much (None: no cap but the drain's depth)
    starves_downstream: bool = False  # blockage: the downstream drain gets no storm water
    rise_cm_per_min: float = 3.0  # fast_rise
    battery_v: float = 3.1  # low_battery
    level_cm: float | None = None  # spike: the one reading's level

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
    message: str | None = None  # a substring the alert's message must contain (which reason fired)


@dataclass(frozen=True, slots=True)
class NoticeLabel:
    """A notice the replay must print: `kind` for `zone` at offset `at_ms` (within `within_ms`),
    naming exactly `drains` (any order) when they are given."""

    kind: str
    zone: str
    at_ms: int
    within_ms: int = 0
    drains: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class DrainFlow:
    """How a scenario drain's water moves (streetwatch/scenarios/timeline.py): `base_cm` at the
    quietest hour, `amplitude_cm` more at the morning peak, uniform noise of +- `noise_cm`, and up
    to `storm_cm` more in a storm on its zone."""

    base_cm: float = 20.0
    amplitude_cm: float = 10.0
    noise_cm: float = 0.5
    storm_cm: float = 40.0


@dataclass(frozen=True, slots=True)
class RainSpell:
    """Rain of `mm_per_h` on `gauges` in [from_ms, until_ms) (offsets)."""

    gauges: tuple[str, ...]
    from_ms: int
    until_ms: int
    mm_per_h: float


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
    sites: tuple[LampSite, ...]  # the lamps
    faults: tuple[Fault, ...]
    alerts: tuple[AlertLabel, ...]
    rates: tuple[RateLabel, ...]
    no_other_alerts: bool
    forbidden_kinds: tuple[str, ...]
    drains: tuple[DrainSite, ...] = ()
    flows: Mapping[str, DrainFlow] = field(default_factory=lambda: MappingProxyType({}))
    gauges: tuple[GaugeSite, ...] = ()
    rain: tuple[RainSpell, ...] = ()
    history_days: int = 0  # dry-weather drain (and 0 mm rain) readings this long before `start`
    notices: tuple[NoticeLabel, ...] = ()

    @property
    def gateways(self) -> list[str]:
        """Every gateway with a lamp, a drain or a rain gauge behind it."""
        return sorted({site.gateway for site in (*self.sites, *self.drains, *self.gauges)})

    @property
    def history_from_ms(self) -> int:
        """The offset of the first reading (negative with history, else 0): readings fall every
        `interval_ms` from `start`, back as far as `history_days` allows."""
        return -(self.history_days * DAY_MS // self.interval_ms) * self.interval_ms

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
        self.interval_ms = MIN_MS
        self.devices: dict[str, Any] = {}  # known ids by fault target (and gauges)

    def fail(self, key: str, message: str) -> ScenarioError:
        return ScenarioError(f"{self.path}: {key}: {message}")

    # The whole file ---------------------------------------------------------------------------
    def scenario(self, data: dict[str, Any]) -> Scenario:
        self.keys("(top level)", data, {"name", "description", "start", "duration_min",
                                         "reading_interval_min", "history_days", "town", "roads",
                                         "lamps", "drains", "gauges", "rain", "faults", "expect"},
                  {"name", "start", "duration_min"})
        self.start_ms = self.clock_ms("start", data["start"])
        if self.start_ms % MIN_MS:
            raise self.fail("start", "must be on the minute (HH:MM)")
        duration_min = self.integer("duration_min", data["duration_min"], 1, 1439)
        self.duration_ms = duration_min * MIN_MS
        interval_min = self.integer("reading_interval_min", data.get("reading_interval_min", 5),
                                    1, duration_min)
        self.interval_ms = interval_min * MIN_MS
        sites = self.sites(data)
        drains, flows = self.drains(data.get("drains", []))
        if not sites and not drains:
            raise self.fail("(top level)", "a scenario needs at least one lamp ([[roads]] or "
                            "[[lamps]]) or drain ([[drains]])")
        gauges = self.gauges(data.get("gauges", []))
        self.devices = {"lamps": {s.id for s in sites}, "drains": {d.id: d for d in drains},
                        "cabinet": {s.cabinet for s in sites} - {None},
                        "gateway": {x.gateway for x in (*sites, *drains, *gauges)},
                        "gauges": {g.id for g in gauges}}
        town = self.town(self.table("town", data.get("town", {})), sites)
        expect = self.table("expect", data.get("expect", {}))
        self.keys("expect", expect, {"no_other_alerts", "forbidden_kinds", "alerts", "rates",
                                     "notices"})
        no_others, forbidden = self.forbidding(expect)
        return Scenario(
            path=self.path, name=self.text("name", data["name"]),
            description=self.text("description", data.get("description", ""), empty=True),
            start_ms_of_day=self.start_ms, duration_ms=self.duration_ms,
            interval_ms=self.interval_ms, town=town, sites=sites,
            faults=tuple(self.fault(f"faults[{i}]", row)
                         for i, row in enumerate(self.rows("faults", data.get("faults", [])))),
            alerts=tuple(self.alert(key, row) for key, row in self.indexed(expect, "alerts")),
            rates=tuple(self.rate(key, row) for key, row in self.indexed(expect, "rates")),
            no_other_alerts=no_others, forbidden_kinds=forbidden,
            drains=drains, flows=MappingProxyType(flows), gauges=gauges,
            rain=tuple(self.rain(f"rain[{i}]", row)
                       for i, row in enumerate(self.rows("rain", data.get("rain", [])))),
            history_days=self.integer("history_days", data.get("history_days", 0), 0,
                                      HISTORY_MAX_DAYS),
            notices=tuple(self.notice(key, row) for key, row in self.indexed(expect, "notices")),
        )

    # Devices ----------------------------------------------------------------------------------
    def sites(self, data: dict[str, Any]) -> tuple[LampSite, ...]:
        sites = [site for i, row in enumerate(self.rows("roads", data.get("roads", [])))
                 for site in self.road(f"roads[{i}]", row)]
        sites += [self.lamp(f"lamps[{i}]", row)
                  for i, row in enumerate(self.rows("lamps", data.get("lamps", [])))]
        self.unique("lamps", "lamp", [site.id for site in sites])
        return tuple(sites)

    def unique(self, key: str, what: str, ids: list[str]) -> None:
        seen: set[str] = set()
        for device in ids:
            if device in seen:
                raise self.fail(key, f"{what} id {device!r} is declared twice")
            seen.add(device)

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

    def drains(self, rows: object) -> tuple[tuple[DrainSite, ...], dict[str, DrainFlow]]:
        """The drains and their flow parameters; then the downstream links, which must name
        declared drains and never loop."""
        read = [self.drain(f"drains[{i}]", row) for i, row in enumerate(self.rows("drains", rows))]
        drains = tuple(site for site, _ in read)
        self.unique("drains", "drain", [d.id for d in drains])
        known = {d.id: d for d in drains}
        for i, drain in enumerate(drains):
            key = f"drains[{i}].downstream"
            if drain.downstream is None:
                continue
            if drain.downstream not in known:
                raise self.fail(key, f"unknown drain {drain.downstream!r} (declare it in "
                                "[[drains]])")
            seen, at = {drain.id}, drain.downstream
            while at is not None:
                if at in seen:
                    raise self.fail(key, f"the downstream chain from {drain.id} loops back "
                                    f"to {at}")
                seen.add(at)
                at = known[at].downstream
        return drains, {site.id: flow for site, flow in read}

    def drain(self, key: str, row: dict[str, Any]) -> tuple[DrainSite, DrainFlow]:
        flow_keys = ("base_cm", "amplitude_cm", "noise_cm", "storm_cm")
        self.keys(key, row, {"id", "zone", "gateway", "depth_cm", "overflow_cm", "downstream",
                             "pipe_diameter_cm", "normal_low_cm", "normal_high_cm", "lat", "lon",
                             *flow_keys}, {"id", "zone", "gateway", "depth_cm"})
        depth = self.measure(f"{key}.depth_cm", row["depth_cm"], positive=True)
        overflow = self.optional_measure(f"{key}.overflow_cm", row.get("overflow_cm"),
                                         positive=True)
        if overflow is not None and overflow > depth:
            raise self.fail(f"{key}.overflow_cm", f"must not exceed depth_cm ({depth:g})")
        if ("normal_low_cm" in row) != ("normal_high_cm" in row):
            raise self.fail(f"{key}.normal_low_cm", "give both normal_low_cm and normal_high_cm, "
                            "or neither (the rules then learn a band)")
        low = self.number(f"{key}.normal_low_cm", row.get("normal_low_cm"))
        high = self.number(f"{key}.normal_high_cm", row.get("normal_high_cm"))
        if low is not None and high is not None and not low < high:
            raise self.fail(f"{key}.normal_high_cm", f"must be above normal_low_cm ({low:g})")
        defaults = DrainFlow()
        flow = DrainFlow(*(self.measure(f"{key}.{name}", row.get(name, getattr(defaults, name)))
                           for name in flow_keys))
        if flow.base_cm + flow.amplitude_cm > depth:
            raise self.fail(f"{key}.amplitude_cm", f"base_cm + amplitude_cm "
                            f"({flow.base_cm + flow.amplitude_cm:g}) must fit in depth_cm "
                            f"({depth:g}): dry weather never fills a drain")
        downstream = row.get("downstream")
        drain_id = self.ident(f"{key}.id", row["id"])
        if downstream is not None and self.ident(f"{key}.downstream", downstream) == drain_id:
            raise self.fail(f"{key}.downstream", "a drain cannot flow into itself")
        site = DrainSite(
            drain_id, self.ident(f"{key}.gateway", row["gateway"]),
            self.ident(f"{key}.zone", row["zone"]), depth, overflow, downstream,
            self.optional_measure(f"{key}.pipe_diameter_cm", row.get("pipe_diameter_cm"),
                                  positive=True),
            low, high, self.number(f"{key}.lat", row.get("lat")),
            self.number(f"{key}.lon", row.get("lon")))
        return site, flow

    def gauges(self, rows: object) -> tuple[GaugeSite, ...]:
        gauges = []
        for i, row in enumerate(self.rows("gauges", rows)):
            key = f"gauges[{i}]"
            self.keys(key, row, {"id", "zone", "gateway", "lat", "lon"}, {"id", "zone", "gateway"})
            gauges.append(GaugeSite(
                self.ident(f"{key}.id", row["id"]), self.ident(f"{key}.gateway", row["gateway"]),
                self.ident(f"{key}.zone", row["zone"]), self.number(f"{key}.lat", row.get("lat")),
                self.number(f"{key}.lon", row.get("lon"))))
        self.unique("gauges", "gauge", [g.id for g in gauges])
        return tuple(gauges)

    def rain(self, key: str, row: dict[str, Any]) -> RainSpell:
        self.keys(key, row, {"gauges", "from", "until", "mm_per_h"}, {"gauges", "mm_per_h"})
        gauges = row["gauges"]
        if not isinstance(gauges, list) or not gauges:
            raise self.fail(f"{key}.gauges", "must be a non-empty list of gauge ids")
        unknown = [g for g in gauges if g not in self.devices["gauges"]]
        if unknown:
            raise self.fail(f"{key}.gauges", f"unknown gauges: {', '.join(map(str, unknown))}")
        from_ms, until_ms = self.span(key, row)
        rate = self.measure(f"{key}.mm_per_h", row["mm_per_h"], positive=True)
        if rate > 500:
            raise self.fail(f"{key}.mm_per_h", f"must be at most 500, got {rate:g}")
        return RainSpell(tuple(gauges), from_ms, self.duration_ms if until_ms is None else until_ms,
                         rate)

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
    def fault(self, key: str, row: dict[str, Any]) -> Fault:
        params = {name for names in FAULT_PARAMS.values() for name in names}
        self.keys(key, row, {"kind", "from", "until", *FAULT_TARGETS, *params}, {"kind"})
        kind = self.choice(f"{key}.kind", row["kind"], FAULT_KINDS)
        target = ("lamps" if kind in LAMP_FAULT_KINDS else "drains" if kind in DRAIN_FAULT_KINDS
                  else "cabinet" if kind == "cabinet_trip" else "gateway")
        if target not in row:
            raise self.fail(f"{key}.{target}", f"a {kind} fault needs `{target}`")
        for other in FAULT_TARGETS:
            if other != target and other in row:
                raise self.fail(f"{key}.{other}", f"a {kind} fault takes `{target}`, not `{other}`")
        for name in sorted(params - set(FAULT_PARAMS.get(kind, ())) & set(row)):
            takers = [k for k, names in FAULT_PARAMS.items() if name in names]
            raise self.fail(f"{key}.{name}", f"only {' and '.join(takers)} faults take `{name}`")
        named = row[target] if target in ("lamps", "drains") else [row[target]]
        if target in ("lamps", "drains") and (not isinstance(named, list) or not named):
            raise self.fail(f"{key}.{target}", f"must be a non-empty list of {target[:-1]} ids")
        unknown = [x for x in named if x not in self.devices[target]]
        if unknown:
            raise self.fail(f"{key}.{target}", f"unknown {target}: {', '.join(map(str, unknown))}")
        if kind == "spike":
            from_ms = self.spike_at(key, row)
            until_ms: int | None = from_ms + 1
        else:
            from_ms, until_ms = self.span(key, row)
        fault = Fault(kind, from_ms, until_ms, tuple(named) if target == "lamps" else (),
                      row.get("cabinet"), row.get("gateway"),
                      None if "fault" not in row else self.choice(
                          f"{key}.fault", row["fault"], DARK_FAULTS),
                      tuple(named) if target == "drains" else ())
        return self.drain_parameters(key, row, fault)

    def drain_parameters(self, key: str, row: dict[str, Any], fault: Fault) -> Fault:
        """The fault with the drain parameters its row gives (the rest keep their defaults)."""
        given: dict[str, Any] = {}
        for name in ("rise_cm_per_h", "rise_cm_per_min", "max_cm"):
            if name in row:
                given[name] = self.measure(f"{key}.{name}", row[name], positive=True)
        if "battery_v" in row:
            given["battery_v"] = self.measure(f"{key}.battery_v", row["battery_v"])
        if fault.kind == "spike":
            if "level_cm" not in row:
                raise self.fail(f"{key}.level_cm", "a spike needs `level_cm` (the reading)")
            given["level_cm"] = self.number(f"{key}.level_cm", row["level_cm"])
        if "starves_downstream" in row:
            starves = row["starves_downstream"]
            if not isinstance(starves, bool):
                raise self.fail(f"{key}.starves_downstream", "must be true or false")
            lonely = [d for d in fault.drains if self.devices["drains"][d].downstream is None]
            if starves and lonely:
                raise self.fail(f"{key}.starves_downstream", f"{', '.join(lonely)} ha"
                                f"{'s' if len(lonely) == 1 else 've'} no downstream drain")
            given["starves_downstream"] = starves
        return replace(fault, **given)

    def span(self, key: str, row: dict[str, Any]) -> tuple[int, int | None]:
        """`from` (default: the start) and `until` (None when left out) as offsets."""
        from_ms = self.offset(f"{key}.from", row.get("from"), 0)
        until_ms = None if "until" not in row else self.offset(f"{key}.until", row["until"], 0)
        if until_ms is not None and until_ms <= from_ms:
            raise self.fail(f"{key}.until", "must be after `from`")
        return from_ms, until_ms

    def spike_at(self, key: str, row: dict[str, Any]) -> int:
        """A spike replaces one reading: `at` must be a reading instant of the window."""
        for other in ("from", "until"):
            if other in row:
                raise self.fail(f"{key}.{other}", "a spike takes `at` (one reading), not "
                                f"`{other}`")
        if "at" not in row:
            raise self.fail(f"{key}.at", "a spike needs `at` (the reading it replaces)")
        at_ms = self.offset(f"{key}.at", row["at"], None)
        if at_ms >= self.duration_ms or at_ms % self.interval_ms:
            raise self.fail(f"{key}.at", f"{row['at']} is not a reading instant of the window "
                            f"(every {self.interval_ms // MIN_MS} min from the start, before "
                            "the end)")
        return at_ms

    # Labels -----------------------------------------------------------------------------------
    def forbidding(self, expect: dict[str, Any]) -> tuple[bool, tuple[str, ...]]:
        no_others = expect.get("no_other_alerts", False)
        if not isinstance(no_others, bool):
            raise self.fail("expect.no_other_alerts", "must be true or false")
        kinds = expect.get("forbidden_kinds", [])
        if not isinstance(kinds, list):
            raise self.fail("expect.forbidden_kinds", "must be a list of alert kinds")
        kinds = [self.choice("expect.forbidden_kinds", k, ALERT_KINDS + NOTICE_KINDS)
                 for k in kinds]
        if not no_others and not kinds:
            raise self.fail("expect", "say which alerts must not appear: no_other_alerts = true, "
                            "or forbidden_kinds = [...]")
        return no_others, tuple(kinds)

    def alert(self, key: str, row: dict[str, Any]) -> AlertLabel:
        self.keys(key, row, {"event", "kind", "subject", "at", "severity", "within_s", "message"},
                  {"event", "kind", "subject", "at"})
        subject = self.text(f"{key}.subject", row["subject"])
        if not re.fullmatch(r"(lamp|drain|cabinet|gateway|zone|road):.+", subject):
            raise self.fail(f"{key}.subject", f"{subject!r} is not lamp:<id>, drain:<id>, "
                            "cabinet:<id>, gateway:<id>, zone:<id> or road:<road>:<position>")
        if subject.startswith("drain:") and subject[6:] not in self.devices["drains"]:
            raise self.fail(f"{key}.subject", f"unknown drain {subject[6:]!r}")
        severity = row.get("severity")
        message = row.get("message")
        return AlertLabel(
            self.choice(f"{key}.event", row["event"], ALERT_EVENTS),
            self.choice(f"{key}.kind", row["kind"], ALERT_KINDS), subject,
            self.offset(f"{key}.at", row["at"], None),
            None if severity is None else self.choice(f"{key}.severity", severity, SEVERITIES),
            self.integer(f"{key}.within_s", row.get("within_s", 0), 0, 3600) * 1000,
            None if message is None else self.text(f"{key}.message", message))

    def notice(self, key: str, row: dict[str, Any]) -> NoticeLabel:
        """A notice for a zone with drains; `drains`, when given, are drains of that zone."""
        self.keys(key, row, {"kind", "zone", "at", "within_s", "drains"}, {"kind", "zone", "at"})
        kind = self.choice(f"{key}.kind", row["kind"], NOTICE_KINDS)
        zone = self.ident(f"{key}.zone", row["zone"])
        drains = self.devices["drains"]
        if zone not in {d.zone for d in drains.values()}:
            raise self.fail(f"{key}.zone", f"no drain of the scenario is in zone {zone!r}")
        named = row.get("drains")
        if named is not None:
            if not isinstance(named, list) or not named:
                raise self.fail(f"{key}.drains", "must be a non-empty list of drain ids")
            strangers = [d for d in named if d not in drains or drains[d].zone != zone]
            if strangers:
                raise self.fail(f"{key}.drains", f"not drains of zone {zone}: "
                                f"{', '.join(map(str, strangers))}")
        return NoticeLabel(kind, zone, self.offset(f"{key}.at", row["at"], None),
                           self.integer(f"{key}.within_s", row.get("within_s", 0), 0, 3600) * 1000,
                           None if named is None else tuple(named))

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

    def measure(self, key: str, value: object, positive: bool = False) -> float:
        """A number >= 0 (> 0 when `positive`)."""
        number = self.number(key, value)
        if number is None or number < 0 or (positive and number == 0):
            raise self.fail(key, f"must be a number {'above' if positive else 'at least'} 0, "
                            f"got {value!r}")
        return number

    def optional_measure(self, key: str, value: object, positive: bool = False) -> float | None:
        return None if value is None else self.measure(key, value, positive)

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
