"""Thresholds and policies the rule core runs with: plain frozen data, made from Settings at the edge."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal, Protocol

from streetwatch.alerts.model import DEFAULT_SEVERITY, AlertKind, Severity

Phase = Literal["night", "day", "switching"]
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
        """Time to fix: the kind's override, else its severity's deadline."""
        return self.deadline_overrides_ms.get(kind, self.deadline_ms[severity])

    def target_for(self, zone: str) -> Fraction:
        """The zone's target as an exact fraction, so 99 of 100 lit meets 0.99 exactly."""
        return Fraction(str(self.zone_targets.get(zone, self.target)))

    @classmethod
    def from_settings(cls, settings: object) -> RuleConfig:
        """From the Settings object (STREETWATCH_*): seconds there, milliseconds here."""
        def ms(name: str, default_s: int) -> int:
            return int(getattr(settings, name, default_s) * _S)

        return cls(
            stale_after_ms=ms("stale_after_s", 900), lamp_out_after_ms=ms("lamp_out_after_s", 600),
            day_burner_after_ms=ms("day_burner_after_s", 1800),
            cycling_changes=int(getattr(settings, "cycling_changes", 4)),
            cycling_window_ms=ms("cycling_window_s", 1800),
            lamp_silent_after_ms=ms("lamp_silent_after_s", 1800),
            cabinet_down_fraction=float(getattr(settings, "cabinet_down_fraction", 0.5)),
            zone_below_target_after_ms=ms("zone_below_target_after_s", 900),
            zone_below_target_clear_ms=ms("zone_below_target_clear_s", 900),
            target=float(getattr(settings, "lighting_target", 0.99)),
            zone_targets=dict(getattr(settings, "zone_targets", {})),
            deadline_ms={"red": ms("deadline_red_s", 86_400),
                         "yellow": ms("deadline_yellow_s", 259_200),
                         "blue": ms("deadline_blue_s", 604_800)},
            severity_overrides=dict(getattr(settings, "alert_severity_overrides", {})),
            deadline_overrides_ms={kind: int(s * _S) for kind, s in
                                   dict(getattr(settings, "alert_deadline_overrides_s", {})).items()},
        )
