"""A zone's fixed lights-on schedule: "HH:MM-HH:MM" in town local time, e.g. "18:30-06:15".

It lives in the kernel because two parts read it: settings validates it when loaded, and
`rules.schedule` builds lights-on periods from it (dependencies point inward only, DESIGN s.2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HHMM = r"([01][0-9]|2[0-3]):([0-5][0-9])"
_SCHEDULE = re.compile(rf"{_HHMM}-{_HHMM}")
MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True, slots=True)
class FixedSchedule:
    """Lights on from `on_min` to `off_min`, minutes after local midnight; when `off_min` is
    smaller the period crosses midnight (on one local date, off on the next)."""

    on_min: int
    off_min: int

    @property
    def crosses_midnight(self) -> bool:
        return self.off_min < self.on_min


def parse_fixed_schedule(text: str) -> FixedSchedule:
    """Parse "HH:MM-HH:MM" (24-hour clock, both ends on the minute, not equal); ValueError
    saying the expected form otherwise."""
    found = _SCHEDULE.fullmatch(text.strip()) if isinstance(text, str) else None
    if found is None:
        raise ValueError(f"schedule {text!r} must be 'HH:MM-HH:MM' (24-hour local time, lights on "
                         "then lights off, e.g. '18:30-06:15')")
    on_h, on_m, off_h, off_m = (int(part) for part in found.groups())
    on_min, off_min = on_h * 60 + on_m, off_h * 60 + off_m
    if on_min == off_min:
        raise ValueError(f"schedule {text!r} switches on and off at the same minute")
    return FixedSchedule(on_min, off_min)


__all__ = ["MINUTES_PER_DAY", "FixedSchedule", "parse_fixed_schedule"]
