"""Plain data about the town's devices that the rule core, replay and scenarios share: where a lamp,
drain or rain gauge stands (`LampSite`, `DrainSite`, `GaugeSite`) and what was observed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class LampSite:
    """A registered lamp: who reports it, where it stands, whether it should be lit at all."""

    id: str
    gateway: str
    zone: str
    road: str | None = None
    position: int | None = None
    cabinet: str | None = None
    lat: float | None = None
    lon: float | None = None
    in_service: bool = True
    works_from_ms: int | None = None  # planned works: out of service in [from, until)
    works_until_ms: int | None = None

    def in_service_at(self, ts_ms: int) -> bool:
        """In service and not inside its planned-works window at `ts_ms`."""
        if not self.in_service:
            return False
        after_start = self.works_from_ms is None or ts_ms >= self.works_from_ms
        before_end = self.works_until_ms is None or ts_ms < self.works_until_ms
        has_window = self.works_from_ms is not None or self.works_until_ms is not None
        return not (has_window and after_start and before_end)

    def service_changes_after(self, ts_ms: int) -> int | None:
        """The next works-window boundary after `ts_ms`, if any (expected counts change there)."""
        later = [t for t in (self.works_from_ms, self.works_until_ms) if t is not None and t > ts_ms]
        return min(later) if later else None


@dataclass(frozen=True, slots=True)
class LampObservation:
    """Lamp `lamp` reported `on` (and `fault`, None for none) at `ts_ms`."""

    ts_ms: int
    lamp: str
    on: bool
    fault: str | None = None


@dataclass(frozen=True, slots=True)
class StatusObservation:
    """Gateway `gateway` said `online` or `offline` at `ts_ms`."""

    ts_ms: int
    gateway: str
    online: bool


@dataclass(frozen=True, slots=True)
class DrainSite:
    """A registered drain-level sensor: its zone (whose weather it is judged in), geometry, the
    drain its water flows to, and an optional configured normal band (else one is learned)."""

    id: str
    gateway: str
    zone: str
    depth_cm: float | None = None
    overflow_cm: float | None = None  # None: the drain's depth
    downstream: str | None = None
    pipe_diameter_cm: float | None = None
    normal_low_cm: float | None = None
    normal_high_cm: float | None = None
    lat: float | None = None
    lon: float | None = None

    @property
    def overflow_level_cm(self) -> float | None:
        """The level it overflows at: `overflow_cm`, else its depth (None: neither is known)."""
        return self.overflow_cm if self.overflow_cm is not None else self.depth_cm


@dataclass(frozen=True, slots=True)
class GaugeSite:
    """A registered rain gauge: its zone's weather comes from it."""

    id: str
    gateway: str
    zone: str
    lat: float | None = None
    lon: float | None = None


class DrainObservation(NamedTuple):
    """Drain `drain` reported `level_cm` (and battery, cover switch when it has them) at `ts_ms`.

    (Drain and rain observations are named tuples: a month of a town's drains is millions of them,
    and a tuple is built in a third of a frozen dataclass's time.)"""

    ts_ms: int
    drain: str
    level_cm: float
    battery_v: float | None = None
    cover_open: bool | None = None


class RainObservation(NamedTuple):
    """Gauge `gauge` reported `rain_mm` since its previous report, at `ts_ms`."""

    ts_ms: int
    gauge: str
    rain_mm: float


Observation = LampObservation | StatusObservation | DrainObservation | RainObservation
# At one instant replay reads lamps, then rain (a drain is judged in the weather of its instant),
# then drains, then gateway statuses.
OBSERVATION_ORDER = {LampObservation: 0, RainObservation: 1, DrainObservation: 2,
                     StatusObservation: 3}
