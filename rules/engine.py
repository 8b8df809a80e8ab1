"""The rule core as one object: readings and gateway statuses in, alert events and lighting rates out.

Pure: no clock, no I/O. The live runner and replay both drive it with `lamp_reading`,
`gateway_status` and `tick(now)` (ticks at whole multiples of `every`), and read `take_events()`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rules.config import RuleConfig, Schedule
from rules.drains import DrainConfig, DrainNetwork, DrainRules
from rules.fleet import Fleet
from rules.lamps import LampRules
from rules.lifecycle import AlertBook, AlertSink, OpenAlert
from rules.lighting import BelowTargetRule, LightingRate, city_sample
from rules.schedule import LightsOnSchedule
from streetwatch.alerts.model import (
    CITY_ZONE,
    DRAIN_ALERT_KINDS,
    PEOPLE_ALERT_KINDS,
    AlertEvent,
    AlertKind,
    Notice,
)

if TYPE_CHECKING:
    from streetwatch.settings import Settings

NO_DRAINS = DrainNetwork()
DEFAULT_DRAIN_CONFIG = DrainConfig()


class RuleEngine:
    """Lamp rules + zone_below_target + drain rules + alert lifecycle over one town (its lamps,
    drains and gauges), one schedule, one sink."""

    def __init__(self, fleet: Fleet, config: RuleConfig, schedule: Schedule, sink: AlertSink,
                 start_ms: int, network: DrainNetwork = NO_DRAINS,
                 drain_config: DrainConfig = DEFAULT_DRAIN_CONFIG) -> None:
        self.fleet = fleet
        self.config = config
        self.lamps = LampRules(fleet, config, schedule, start_ms)
        self.drains = DrainRules(network, drain_config, start_ms)
        self._has_lamps = len(fleet) > 0  # a town of drains alone: no lamp wakes to check
        # remember_drain(drain_id, ts_ms, level_cm): a drain reading from before the start, to
        # learn its baseline from, not judged (DrainRules.remember itself: one call less each).
        self.remember_drain = self.drains.remember
        self.below = BelowTargetRule(config)
        self.book = AlertBook(config, sink)
        self.apply()

    @classmethod
    def from_settings(cls, fleet: Fleet, settings: Settings, sink: AlertSink, start_ms: int,
                      network: DrainNetwork = NO_DRAINS) -> RuleEngine:
        """The engine with the town's thresholds and lights-on schedule from Settings."""
        return cls(fleet, RuleConfig.from_settings(settings),
                   LightsOnSchedule.from_settings(settings), sink, start_ms, network,
                   DrainConfig.from_settings(settings))

    @property
    def now(self) -> int:
        return self.lamps.now

    def adopt(self, alert: OpenAlert) -> None:
        """An alert open in storage before the core started (live runner restart), or one people
        raised through the API while it runs (only the book holds those: no detector does)."""
        self.book.adopt(alert)
        condition = alert.condition
        if condition.kind in PEOPLE_ALERT_KINDS:
            return
        if condition.kind == "zone_below_target":
            self.below.assume(condition.zone)
        elif condition.kind in DRAIN_ALERT_KINDS:
            self.drains.assume(condition)
        else:
            self.lamps.assume(condition)

    def release(self, alert_id: int, subject: str, kind: AlertKind) -> None:
        """Let go of a people's alert that was resolved elsewhere (the API, the console): it is
        no longer the book's to mark overdue."""
        held = self.book.open.get((subject, kind))
        if kind in PEOPLE_ALERT_KINDS and held is not None and held.id == alert_id:
            del self.book.open[(subject, kind)]

    def lamp_service(self, lamp_id: str, in_service: bool, works_from_ms: int | None,
                     works_until_ms: int | None, now_ms: int) -> None:
        """A lamp's service state changed in the registry at `now_ms` (retired, back, planned
        works): judged at once, as at a works window's edge."""
        self.lamps.service_changed(self.fleet.index[lamp_id], in_service,
                                   (works_from_ms, works_until_ms), now_ms)
        self.apply()

    def lamp_reading(self, lamp_id: str, ts_ms: int, on: bool, fault: str | None) -> None:
        self.lamps.lamp_reading(lamp_id, ts_ms, on, fault)
        if self.lamps.transitions:
            self.apply()

    def drain_reading(self, drain_id: str, ts_ms: int, level_cm: float,
                      battery_v: float | None = None, cover_open: bool | None = None) -> None:
        if self._has_lamps and self.lamps.wants_advance(ts_ms):
            self.lamps.advance(ts_ms)
        drains = self.drains
        drains.reading(drain_id, ts_ms, level_cm, battery_v, cover_open)
        if drains.transitions or drains.notices or (self._has_lamps and self.lamps.transitions):
            self.apply()

    def drain_core(self) -> DrainRules | None:
        """The drain core, for a hot loop that feeds it drain readings itself (one call less per
        reading: replay) and calls `apply` whenever it holds transitions or notices after one --
        which is all `drain_reading` adds. None when the town has lamps: their timers come first."""
        return None if self._has_lamps else self.drains

    def rain_reading(self, gauge: str, ts_ms: int, rain_mm: float) -> None:
        if self._has_lamps and self.lamps.wants_advance(ts_ms):
            self.lamps.advance(ts_ms)
        self.drains.rain(gauge, ts_ms, rain_mm)
        if self.drains.transitions or (self._has_lamps and self.lamps.transitions):
            self.apply()

    def remember_rain(self, gauge: str, ts_ms: int, rain_mm: float) -> None:
        """Rain from before the start: which of the learning days were dry."""
        self.drains.rain(gauge, ts_ms, rain_mm)

    def gateway_status(self, gateway: str, online: bool, ts_ms: int) -> None:
        self.lamps.gateway_status(gateway, online, ts_ms)
        self.apply()

    def advance(self, now_ms: int) -> None:
        """Let time pass to `now_ms` (timers fire) without a tick's sampling."""
        self.lamps.advance(now_ms)
        self.drains.advance(now_ms)
        self.apply()

    def tick(self, now_ms: int) -> list[LightingRate]:
        """Fire timers due by `now_ms`, sample every zone in its lights-on period (and the town),
        judge zone_below_target, mark overdue alerts. Returns the samples."""
        self.advance(now_ms)
        samples = []
        for zone in self.fleet.zones:
            if self.lamps.phases.phase(zone, now_ms) != "night":
                self.below.not_night(zone)
                continue
            target = self.config.target_for(zone)
            sample = self.lamps.counts.sample(zone, now_ms, target)
            samples.append(sample)
            for transition in self.below.night_sample(sample, target):
                self.book.apply(transition)
        if samples:
            samples.append(city_sample(samples, now_ms, self.config.target_for(CITY_ZONE)))
        self.book.tick(now_ms)
        return samples

    def settle(self) -> None:
        """Judge what is still pending at the current instant (end of a replay, idle live loop)."""
        self.lamps.settle()
        self.apply()

    def take_events(self) -> list[AlertEvent | Notice]:
        return self.book.drain_events()

    def apply(self) -> None:
        """Take the cores' transitions and notices into the alert book (replay calls it after
        feeding the drain core itself: see `drain_core`)."""
        for transition in self.lamps.take_transitions():
            self.book.apply(transition)
        if self.drains.transitions:
            for transition in self.drains.take_transitions():
                self.book.apply(transition)
        if self.drains.notices:
            self.book.events.extend(self.drains.take_notices())
