"""Thresholds and policies the rule core runs with: plain frozen data, made from Settings at the edge."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Literal, Protocol

from streetwatch.alerts.model import DEFAULT_DEADLINE_S, DEFAULT_SEVERITY, AlertKind, Severity

if TYPE_CHECKING:
    from streetwatch.settings import Settings

Phase = Literal["night", "day", "switching"]
# How far back the core starts before what it is asked about, so every lamp's state is known:
# the live runner covers the last night (26 h); replay, the holds before `--from` (6 h).
LIVE_WARM_UP_S = 26 * 3600
REPLAY_WARM_UP_S = 6 * 3600
_S = 1000


class Schedule(Protocol):
    """When lamps should be lit (rules.schedule.LightsOnSchedule is the real one)."""

    def phase(self, zone: str, ts_ms: int) -> Phase: ...
    def next_change_ms(self, zone: str, ts_ms: int) -> int: ...


@dataclass(frozen=True)
class RuleConfig:
    """Every threshold of the lamp rules, in milliseconds (docs/alerts.md has the catalogue)."""

    stale_after_ms: int = 900 * _S
    lamp_out_after_ms: int = 600 * _S
    day_burner_after_ms: int = 1800 * _S
    cycling_changes: int = 4
    cycling_window_ms: int = 1800 * _S
    lamp_silent_after_ms: int = 1800 * _S
    cabinet_down_fraction: float = 0.5
    zone_below_target_after_ms: int = 900 * _S
    zone_below_target_clear_ms: int = 900 * _S
    target: float = 0.99
    zone_targets: Mapping[str, float] = field(default_factory=dict)
    deadline_ms: Mapping[Severity, int] = field(default_factory=lambda: {
        "red": 86_400 * _S, "yellow": 259_200 * _S, "blue": 604_800 * _S})
    severity_overrides: Mapping[str, Severity] = field(default_factory=dict)
    deadline_overrides_ms: Mapping[str, int] = field(default_factory=dict)

    def severity(self, kind: AlertKind) -> Severity:
        return self.severity_overrides.get(kind, DEFAULT_SEVERITY[kind])

    def deadline_after_ms(self, kind: AlertKind, severity: Severity) -> int:
        """Time to fix: the kind's override, else the kind's own default (cover_open: 6 h), else
        its severity's deadline."""
        if kind in self.deadline_overrides_ms:
            return self.deadline_overrides_ms[kind]
        if kind in DEFAULT_DEADLINE_S:
            return DEFAULT_DEADLINE_S[kind] * _S
        return self.deadline_ms[severity]

    def target_for(self, zone: str) -> Fraction:
        """The zone's target as an exact fraction, so 99 of 100 lit meets 0.99 exactly."""
        return Fraction(str(self.zone_targets.get(zone, self.target)))

    @classmethod
    def from_settings(cls, s: Settings) -> RuleConfig:
        """From the Settings object (STREETWATCH_*, where the defaults live): seconds there,
        milliseconds here."""
        return cls(
            stale_after_ms=s.stale_after_s * _S, lamp_out_after_ms=s.lamp_out_after_s * _S,
            day_burner_after_ms=s.day_burner_after_s * _S, cycling_changes=s.cycling_changes,
            cycling_window_ms=s.cycling_window_s * _S,
            lamp_silent_after_ms=s.lamp_silent_after_s * _S,
            cabinet_down_fraction=float(s.cabinet_down_fraction),
            zone_below_target_after_ms=s.zone_below_target_after_s * _S,
            zone_below_target_clear_ms=s.zone_below_target_clear_s * _S,
            target=float(s.lighting_target), zone_targets=dict(s.zone_targets),
            deadline_ms={"red": s.deadline_red_s * _S, "yellow": s.deadline_yellow_s * _S,
                         "blue": s.deadline_blue_s * _S},
            severity_overrides=dict(s.alert_severity_overrides),  # type: ignore[arg-type]
            deadline_overrides_ms={kind: seconds * _S
                                   for kind, seconds in s.alert_deadline_overrides_s.items()},
        )
