"""Wet or dry, per zone: the weather a drain is judged in (issue 15, docs/alerts.md).

A zone is wet while the rain of the last `window` on any of its gauges reaches `threshold_mm`, and
for `drain_out` after: sewers keep carrying storm water for hours after the rain stops. Pure and
incremental: each gauge keeps the readings of its window and their sum; a reading moves the
zone's wet period, and `is_wet` is two comparisons.

A rain reading is the rain since that gauge's previous reading (the wire contract's `rain_mm`), so
a reading at `ts` counts for the windows (t - window, t] that contain it: until `ts + window`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streetwatch.settings import Settings


@dataclass(frozen=True)
class WeatherConfig:
    window_ms: int = 6 * 3_600_000
    threshold_mm: float = 2.0
    drain_out_ms: int = 6 * 3_600_000

    @classmethod
    def from_settings(cls, settings: Settings) -> WeatherConfig:
        return cls(settings.wet_window_s * 1000, settings.wet_threshold_mm,
                   settings.wet_drain_out_s * 1000)


@dataclass
class _Gauge:
    zone: str
    readings: deque[tuple[int, float]] = field(default_factory=deque)
    total_mm: float = 0.0
    last_ts: int = -1


@dataclass
class WetPeriod:
    """[since, until): the zone's current or last wet period (until moves while it rains)."""

    since: int
    until: int


class ZoneWeather:
    """Rain gauges by zone; `rain(gauge, ts, mm)` in, `is_wet(zone, t)` out."""

    def __init__(self, gauge_zones: Mapping[str, str], config: WeatherConfig) -> None:
        self.config = config
        self._gauges = {gauge: _Gauge(zone) for gauge, zone in gauge_zones.items()}
        self._wet: dict[str, list[WetPeriod]] = {}  # each zone's wet periods, in time order

    def rain(self, gauge: str, ts_ms: int, rain_mm: float) -> None:
        """One reading of `gauge`; readings not newer than its latest are ignored (redelivery)."""
        state = self._gauges.get(gauge)
        if state is None or ts_ms <= state.last_ts:
            return
        state.last_ts = ts_ms
        window = self.config.window_ms
        while state.readings and state.readings[0][0] + window <= ts_ms:
            state.total_mm -= state.readings.popleft()[1]
        if rain_mm > 0:
            state.readings.append((ts_ms, rain_mm))
            state.total_mm += rain_mm
        if state.total_mm >= self.config.threshold_mm:
            self._extend(state.zone, ts_ms, self._dries_at(state))

    def is_wet(self, zone: str, ts_ms: int) -> bool:
        """Wet at `ts_ms` (not before the zone's latest reading: the core's clock only moves on)."""
        periods = self._wet.get(zone)
        return bool(periods) and periods[-1].since <= ts_ms < periods[-1].until

    def last_period(self, zone: str) -> WetPeriod | None:
        """The zone's current or latest wet period (None: never wet since the core started)."""
        periods = self._wet.get(zone)
        return periods[-1] if periods else None

    def wet_periods(self, zone: str) -> list[WetPeriod]:
        """The zone's wet periods since the core started, oldest first (dry days are the rest)."""
        return list(self._wet.get(zone, ()))

    def _dries_at(self, state: _Gauge) -> int:
        """When this gauge's window sum falls below the threshold if no more rain comes, plus the
        drain-out period: the instant its rain stops keeping the zone wet."""
        remaining = state.total_mm
        for ts, mm in state.readings:
            remaining -= mm
            if remaining < self.config.threshold_mm:
                return ts + self.config.window_ms + self.config.drain_out_ms
        return state.readings[-1][0] + self.config.window_ms + self.config.drain_out_ms

    def _extend(self, zone: str, now_ms: int, until_ms: int) -> None:
        periods = self._wet.setdefault(zone, [])
        if not periods or now_ms >= periods[-1].until:  # dry until now: a new wet period
            periods.append(WetPeriod(now_ms, until_ms))
        else:
            periods[-1].until = max(periods[-1].until, until_ms)
