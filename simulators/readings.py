"""What each simulated device reports, and when: payloads per DESIGN section 3 and the report clock.

Pure: a value depends only on (seed, device, timestamp), drawn from a hash rather than a shared
RNG, so any reading can be recomputed on its own (by a test or a labelled scenario).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from hashlib import blake2b

from simulators.fleet import Device, Drain, Fleet, Lamp, RainGauge

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
FAILURE_FAULTS = ("lamp_failure", "driver_failure", "power_supply")
LAMP_RATINGS_W = (60.0, 90.0, 120.0, 150.0)
STORM_HOUR_SHARE = 0.04  # share of hours in which it rains (town-wide)


@dataclass(frozen=True)
class LampSchedule:
    """Lights on from `on_hour` to `off_hour` (local hours, may wrap midnight), dimmed late."""

    on_hour: float = 18.0
    off_hour: float = 6.0
    dim_from_hour: float = 0.0  # midnight dimming window [dim_from_hour, dim_until_hour)
    dim_until_hour: float = 5.0
    dimmed_percent: int = 60
    utc_offset_h: float = 0.0  # local time = UTC + offset; 0 means the schedule is in UTC

    def local_hour(self, ts_ms: int) -> float:
        return ((ts_ms / HOUR_MS) + self.utc_offset_h) % 24.0

    def is_night(self, ts_ms: int) -> bool:
        return _in_window(self.local_hour(ts_ms), self.on_hour, self.off_hour)

    def dim_percent(self, ts_ms: int) -> int:
        """Commanded dim level: 0 by day, full after dusk, `dimmed_percent` in the late night."""
        if not self.is_night(ts_ms):
            return 0
        late = _in_window(self.local_hour(ts_ms), self.dim_from_hour, self.dim_until_hour)
        return self.dimmed_percent if late else 100


def _in_window(hour: float, start: float, end: float) -> bool:
    return start <= hour < end if start <= end else hour >= start or hour < end


@dataclass(frozen=True)
class LampFailure:
    """A lamp that fails at `since_ms` and reports `fault` from then on (the fault is latched)."""

    fault: str
    since_ms: int


@dataclass(frozen=True)
class ReadingModel:
    """Everything a reading depends on besides (device, timestamp)."""

    seed: int
    interval_ms: int
    schedule: LampSchedule = LampSchedule()
    failures: Mapping[str, LampFailure] = field(default_factory=dict)


def plan_lamp_failures(
    lamps: Iterable[Lamp], seed: int, fail_share: float, start_ms: int, spread_ms: int
) -> dict[str, LampFailure]:
    """Pick round(fail_share * n) lamps, each failing at a seeded time in start_ms + [0, spread]."""
    if not 0.0 <= fail_share <= 1.0:
        raise ValueError("fail_share must be between 0 and 1")
    rng = random.Random(f"failures|{seed}")
    ids = [lamp.id for lamp in lamps]
    chosen = sorted(rng.sample(ids, round(fail_share * len(ids))))
    return {
        lamp_id: LampFailure(
            rng.choice(FAILURE_FAULTS), start_ms + rng.randint(0, max(0, spread_ms))
        )
        for lamp_id in chosen
    }


# Deterministic noise --------------------------------------------------------------------------
def unit_noise(seed: int, *key: object) -> float:
    """A uniform value in [0, 1) fixed by (seed, key): same inputs, same value, any process."""
    return reading_noise(seed, *key)[0]


def reading_noise(seed: int, *key: object) -> tuple[float, float, float, float]:
    """Four independent uniforms in [0, 1) from one hash of (seed, key): one hash per reading."""
    digest = blake2b("|".join((str(seed), *map(str, key))).encode(), digest_size=32).digest()
    return tuple(  # type: ignore[return-value]
        int.from_bytes(digest[i:i + 8], "big") / 2.0**64 for i in range(0, 32, 8)
    )


@lru_cache(maxsize=1 << 18)
def _trait(seed: int, device_id: str, name: str) -> float:
    """A per-device constant in [0, 1) (rated power, base level, signal strength ...)."""
    return unit_noise(seed, "trait", device_id, name)


def _spread(u: float, low: float, high: float) -> float:
    return low + (high - low) * u


# Payloads ---------------------------------------------------------------------------------------
def lamp_reading(model: ReadingModel, lamp: Lamp, ts_ms: int) -> dict:
    """`{"ts","on","dim","power_w","voltage_v","fault"}` for `lamp` at `ts_ms`."""
    u_volt, u_power, _, _ = reading_noise(model.seed, lamp.id, ts_ms)
    dim = model.schedule.dim_percent(ts_ms)
    failure = model.failures.get(lamp.id)
    fault = failure.fault if failure is not None and ts_ms >= failure.since_ms else None
    voltage_v = 0.0 if fault == "power_supply" else _spread(u_volt, 226.0, 234.0)
    if fault is not None:
        on, power_w = False, (1.5 if fault == "lamp_failure" and dim else 0.0)
    elif dim:
        rated_w = LAMP_RATINGS_W[int(_trait(model.seed, lamp.id, "rated") * len(LAMP_RATINGS_W))]
        on, power_w = True, rated_w * dim / 100 * _spread(u_power, 0.97, 1.03)
    else:
        on, power_w = False, _spread(u_power, 0.3, 0.6)  # the controller's standby draw
    return {
        "ts": ts_ms, "on": on, "dim": dim, "power_w": round(power_w, 2),
        "voltage_v": round(voltage_v, 2), "fault": fault,
    }


def daily_flow(hour: float) -> float:
    """Relative sewer flow over a day in [0, 1]: low at night, peaks around 07:30 and 19:30."""
    morning = math.exp(-(((hour - 7.5) / 1.5) ** 2))
    evening = 0.8 * math.exp(-(((hour - 19.5) / 2.0) ** 2))
    return min(1.0, 0.1 + morning + evening)


def rain_rate_mm_h(seed: int, ts_ms: int) -> float:
    """Town-wide rain intensity in the hour containing `ts_ms`: 0 in most hours."""
    hour = ts_ms // HOUR_MS
    if unit_noise(seed, "storm", hour) >= STORM_HOUR_SHARE:
        return 0.0
    return _spread(unit_noise(seed, "storm-mm", hour), 1.0, 25.0)


def drain_reading(model: ReadingModel, drain: Drain, ts_ms: int) -> dict:
    """`{"ts","level_cm","battery_v","rssi_dbm","cover_open"}`: daily flow + rain, < overflow."""
    seed, did = model.seed, drain.id
    u_level, u_battery, u_rssi, _ = reading_noise(seed, did, ts_ms)
    base = _spread(_trait(seed, did, "base"), 0.03, 0.08)
    swing = _spread(_trait(seed, did, "swing"), 0.08, 0.2)
    storm = min(0.35, rain_rate_mm_h(seed, ts_ms) / 60.0)
    flow = daily_flow(model.schedule.local_hour(ts_ms))
    level = drain.depth_cm * (base + swing * flow + storm) + _spread(u_level, -1.0, 1.0)
    level = min(max(level, 0.0), drain.overflow_cm - 1.0)
    battery_v = _spread(_trait(seed, did, "battery"), 3.45, 3.65) + 0.02 * u_battery
    rssi_dbm = round(_spread(_trait(seed, did, "rssi"), -105, -75) + _spread(u_rssi, -3, 3))
    return {
        "ts": ts_ms, "level_cm": round(max(level, 0.0), 2), "battery_v": round(battery_v, 2),
        "rssi_dbm": rssi_dbm, "cover_open": False,
    }


def rain_reading(model: ReadingModel, gauge: RainGauge, ts_ms: int) -> dict:
    """`{"ts","rain_mm"}`: rain since the gauge's previous reading (one interval)."""
    rate = rain_rate_mm_h(model.seed, ts_ms)
    if rate == 0.0:
        return {"ts": ts_ms, "rain_mm": 0.0}
    local = _spread(unit_noise(model.seed, gauge.id, ts_ms, "rain"), 0.7, 1.3)
    return {"ts": ts_ms, "rain_mm": round(rate * local * model.interval_ms / HOUR_MS, 2)}


_READERS: dict[str, Callable[[ReadingModel, Device, int], dict]] = {
    "lamp": lamp_reading, "drain": drain_reading, "rain": rain_reading,  # type: ignore[dict-item]
}


def reading_for(model: ReadingModel, device: Device, ts_ms: int) -> dict:
    """The payload `device` reports at `ts_ms`."""
    return _READERS[device.kind](model, device, ts_ms)


# The report clock ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Report:
    """One due reading: `device` reports at simulated time `ts_ms`."""

    device: Device
    ts_ms: int


def report_order(fleet: Fleet) -> list[Device]:
    """All devices, interleaved across gateways so every gateway's reports are spread evenly."""
    by_gateway: dict[str, list[Device]] = {gw: [] for gw in fleet.gateways}
    for device in fleet.devices:
        by_gateway[device.gateway].append(device)
    queues = list(by_gateway.values())
    order: list[Device] = []
    for i in range(max((len(q) for q in queues), default=0)):
        order += [q[i] for q in queues if i < len(q)]
    return order


def schedule_reports(
    fleet: Fleet, start_ms: int, interval_ms: int, rounds: int | None
) -> Iterator[Report]:
    """Round k: every device reports once at start + k*interval + its fixed offset (< interval).

    Timestamps never decrease, and (device, ts) is unique; `rounds=None` never ends.
    """
    if interval_ms < 1:
        raise ValueError("interval must be at least 1 ms")
    order = report_order(fleet)
    offsets = [i * interval_ms // max(1, len(order)) for i in range(len(order))]
    k = 0
    while rounds is None or k < rounds:
        round_ms = start_ms + k * interval_ms
        for device, offset in zip(order, offsets, strict=False):
            yield Report(device, round_ms + offset)
        k += 1
        if not order:
            return


def release_due(
    reports: Iterable[Report],
    clock_s: Callable[[], float],
    wait_s: Callable[[float], bool],
    deadline_s: float | None = None,
    before_wait: Callable[[], None] = lambda: None,
) -> Iterator[Report]:
    """Yield reports no earlier than the wall clock reaches their ts; stop at `deadline_s`.

    History is released at once (catch-up), later reports wait for their time, so nothing is
    ever published ahead of the clock. `wait_s(seconds)` returns True to stop (an Event's wait);
    `before_wait` runs before each wait (flush partial batches).
    """
    for report in reports:
        while True:
            now = clock_s()
            if deadline_s is not None and now >= deadline_s:
                return
            if report.ts_ms <= now * 1000.0:
                break
            ahead_s = report.ts_ms / 1000.0 - now
            if deadline_s is not None:
                ahead_s = min(ahead_s, deadline_s - now)
            before_wait()
            if wait_s(ahead_s):
                return
        yield report
