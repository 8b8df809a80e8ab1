"""Plain data about the town's lamps that the rule core, replay and scenarios share: where a lamp
stands (`LampSite`) and what was observed (`LampObservation`, `StatusObservation`)."""

from __future__ import annotations

from dataclasses import dataclass


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


Observation = LampObservation | StatusObservation
