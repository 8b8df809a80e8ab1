"""Publish a labelled scenario for real: its lamps, drains and rain gauges into the registry, its
readings over MQTT as its gateways (QoS 1), anchored in the recent past so the ingester accepts
every one.

The anchor: by default the scenario's duration plus a margin before now, on a whole minute (and a
rule tick), so every reading is older than now (the ingester refuses readings more than 5 min
ahead) and far younger than its 30-day bound, and the gateways' own `online` status on connect
lands after the scenario's window. A gateway status carries no timestamp (the ingester stamps it
on receipt), so a scenario with a `gateway_offline` fault is anchored so that its first status
falls a few seconds from now, and each status is published live when the clock reaches it.

Drain and rain history (`history_days`) goes out first, in time order, before the window's
readings: it is all in the past, as old as `history_days` before the anchor (the ingester keeps
readings up to 30 days old).
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from simulators.publisher import GatewayPool, PublishOptions, connect_gateways, encode
from streetwatch.alerts.model import rfc3339_ms
from streetwatch.errors import ConfigError
from streetwatch.scenarios import (
    Scenario,
    anchor_step_ms,
    anchored_settings,
    load_scenario,
    scenario_events,
)
from streetwatch.topics import reading_topic, status_topic
from streetwatch.town import (
    DrainObservation,
    LampObservation,
    Observation,
    RainObservation,
    StatusObservation,
)

if TYPE_CHECKING:
    from streetwatch.settings import Settings

Clock = Callable[[], float]
PasswordsHook = Callable[["Settings", Sequence[str]], dict[str, str]]
MARGIN_MS = 120_000  # the window ends this long (at least) before the anchor is chosen
EARLY_MS = 240_000  # a reading may go out this far ahead of the clock (the ingester allows 5 min)
STATUS_LEAD_MS = 5_000  # time to publish the readings that come before the first status
LATE_MS = 5_000  # a status published later than this after its instant is stored late


@dataclass
class ScenarioSummary:
    """What a run published; `late_statuses` > 0 means a status label will likely be missed.
    `readings` counts readings of every kind; `drain_readings` and `rain_readings` are among
    them (history included)."""

    scenario: str
    anchor_ms: int
    readings: int = 0
    statuses: int = 0
    offline_statuses: int = 0
    late_statuses: int = 0
    drain_readings: int = 0
    rain_readings: int = 0

    def to_dict(self) -> dict[str, object]:
        return {"scenario": self.scenario, "anchor": rfc3339_ms(self.anchor_ms),
                "anchor_ms": self.anchor_ms, "readings": self.readings,
                "drain_readings": self.drain_readings, "rain_readings": self.rain_readings,
                "statuses": self.statuses, "offline_statuses": self.offline_statuses,
                "late_statuses": self.late_statuses}


def default_anchor_ms(scenario: Scenario, now_ms: int) -> int:
    """The scenario's whole window before `now_ms` minus a margin; with statuses, the anchor that
    puts the first one just ahead of `now_ms` (see the module docstring). On an anchor step."""
    step = anchor_step_ms(scenario)
    statuses = [e.ts_ms for e in scenario_events(scenario, 0) if isinstance(e, StatusObservation)]
    if not statuses:
        return (now_ms - scenario.duration_ms - MARGIN_MS) // step * step
    return -(-(now_ms + STATUS_LEAD_MS - statuses[0]) // step) * step


Rows = list[dict[str, object]]


def registry_rows(scenario: Scenario) -> tuple[Rows, Rows, Rows]:
    """The scenario's lamps, drains and rain gauges in the shape `registry.store.upsert_devices`
    takes (a drain left without `overflow_cm` is stored without one: the rules read its depth)."""
    lamps: Rows = [{"id": s.id, "gateway": s.gateway, "zone": s.zone, "road": s.road,
                    "position_on_road": s.position, "cabinet": s.cabinet, "lat": s.lat,
                    "lon": s.lon} for s in scenario.sites]
    drains: Rows = [{"id": d.id, "gateway": d.gateway, "zone": d.zone, "depth_cm": d.depth_cm,
                     "overflow_cm": d.overflow_cm, "downstream_id": d.downstream,
                     "pipe_diameter_cm": d.pipe_diameter_cm, "normal_low_cm": d.normal_low_cm,
                     "normal_high_cm": d.normal_high_cm, "lat": d.lat, "lon": d.lon}
                    for d in scenario.drains]
    gauges: Rows = [{"id": g.id, "gateway": g.gateway, "zone": g.zone, "lat": g.lat,
                     "lon": g.lon} for g in scenario.gauges]
    return lamps, drains, gauges


def register_scenario(settings: Settings, scenario: Scenario) -> None:
    """Upgrade the registry schema and upsert the scenario's lamps, drains and rain gauges (as
    `devices import` does)."""
    from sqlalchemy.exc import SQLAlchemyError

    from streetwatch.registry.migrate import upgrade
    from streetwatch.registry.store import make_engine, upsert_devices

    try:
        upgrade(settings.sql_url())
        engine = make_engine(settings.sql_url())
        try:
            upsert_devices(engine, *registry_rows(scenario))
        finally:
            engine.dispose()
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        raise ConfigError(f"cannot register scenario {scenario.name}'s devices "
                          f"({type(exc).__name__}: {cause})") from None


def run_scenario(settings: Settings, path: Path | str, anchor_ms: int | None,
                 passwords: PasswordsHook, clock: Clock = time.time,
                 stop: threading.Event | None = None) -> ScenarioSummary:
    """`streetwatch simulate --scenario`: load, register, anchor (default: recent past), publish."""
    scenario = load_scenario(path)
    register_scenario(settings, scenario)
    gateway_passwords = passwords(settings, scenario.gateways)
    if anchor_ms is None:
        anchor_ms = default_anchor_ms(scenario, int(clock() * 1000))
    anchored_settings(scenario, anchor_ms)  # refuses an anchor off the minute/tick grid
    endpoint = settings.mqtt_endpoint()
    return publish_scenario(scenario, anchor_ms, host=endpoint.host, port=endpoint.port,
                            passwords=gateway_passwords, options=PublishOptions(tls=endpoint.tls),
                            clock=clock, stop=stop)


def publish_scenario(scenario: Scenario, anchor_ms: int, *, host: str, port: int,
                     passwords: Mapping[str, str], options: PublishOptions | None = None,
                     clock: Clock = time.time, stop: threading.Event | None = None
                     ) -> ScenarioSummary:
    """Publish every reading and status in order and wait for the broker's acks. The links close
    with a plain DISCONNECT: no closing `offline` status (nor will) lands in the scenario's window."""
    stop = stop or threading.Event()
    seed = zlib.crc32(scenario.name.encode())
    pool = connect_gateways(scenario.gateways, host, port, passwords, seed,
                            options or PublishOptions(), stop)
    try:
        summary = _publish(pool, scenario, anchor_ms, clock)
        pool.await_acks()
    finally:
        pool.close(graceful=False)
    return summary


def _publish(pool: GatewayPool, scenario: Scenario, anchor_ms: int,
             clock: Clock) -> ScenarioSummary:
    summary = ScenarioSummary(scenario.name, anchor_ms)
    gateway_of = {("lamp", x.id): x.gateway for x in scenario.sites}
    gateway_of |= {("drain", x.id): x.gateway for x in scenario.drains}
    gateway_of |= {("rain", x.id): x.gateway for x in scenario.gauges}
    for event in scenario_events(scenario, anchor_ms):
        if isinstance(event, StatusObservation):
            pool.await_acks()  # the readings before a status reach the broker first
            if not _hold_until(pool, clock, event.ts_ms):
                break
            _publish_status(pool, event, summary, clock)
            continue
        if not _hold_until(pool, clock, event.ts_ms - EARLY_MS):
            break
        kind, device, payload = _reading(event)
        gateway = gateway_of[kind, device]
        pool.publish(gateway, reading_topic(gateway, kind, device), encode(payload))
        summary.readings += 1
        summary.drain_readings += kind == "drain"
        summary.rain_readings += kind == "rain"
    return summary


def _reading(event: Observation) -> tuple[str, str, dict[str, object]]:
    """(kind, device id, payload) of a reading, as the wire contract has it (schemas.py)."""
    if isinstance(event, DrainObservation):
        return "drain", event.drain, {"ts": event.ts_ms, "level_cm": event.level_cm,
                                      "battery_v": event.battery_v,
                                      "cover_open": event.cover_open}
    if isinstance(event, RainObservation):
        return "rain", event.gauge, {"ts": event.ts_ms, "rain_mm": event.rain_mm}
    if isinstance(event, LampObservation):
        return "lamp", event.lamp, _payload(event)
    raise TypeError(f"not a reading: {event!r}")


def _payload(reading: LampObservation) -> dict[str, object]:
    return {"ts": reading.ts_ms, "on": reading.on, "dim": 100 if reading.on else 0,
            "fault": reading.fault}


def _publish_status(pool: GatewayPool, status: StatusObservation, summary: ScenarioSummary,
                    clock: Clock) -> None:
    """A real, retained status message, as a gateway sends it (its will is the same `offline`)."""
    state = b"online" if status.online else b"offline"
    pool.links[status.gateway].publish(status_topic(status.gateway), state, retain=True)
    summary.statuses += 1
    if not status.online:
        summary.offline_statuses += 1
    if clock() * 1000 - status.ts_ms > LATE_MS:
        summary.late_statuses += 1


def _hold_until(pool: GatewayPool, clock: Clock, ts_ms: int) -> bool:
    """Keep the links serviced until the clock reaches `ts_ms`; False when told to stop."""
    while (ahead_s := ts_ms / 1000 - clock()) > 0:
        if pool.wait(min(ahead_s, 1.0)):
            return False
    return True
