"""Patrol against telemetry (pure): does what the patroller saw contradict what the lamp says?

Telemetry calls a lamp lit exactly as the lighting rate does (docs/alerts.md): its latest
reading is fresh (at most `stale_after_s` old), says `on: true` and carries no fault that leaves
it dark. A lamp marked dark that telemetry calls lit is a `patrol_mismatch`: its controller
reports what the lamp does not do, or the registry sends its readings to the wrong lamp.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from rules.lamps import DARK_FAULTS

Mark = Literal["lit", "dark", "damaged"]
MARKS: tuple[Mark, ...] = ("lit", "dark", "damaged")


def telemetry_lit(reading: Mapping[str, Any] | None, now_ms: int, stale_after_ms: int) -> bool:
    """Whether the latest reading (api.readings.latest_reading: `time` in ms, `on`, `fault`)
    calls the lamp lit at `now_ms`; no reading is not lit."""
    if reading is None or reading.get("time") is None:
        return False
    fresh = now_ms - int(reading["time"]) <= stale_after_ms
    return fresh and reading.get("on") is True and (reading.get("fault") or "") not in DARK_FAULTS


def is_mismatch(mark: Mark, lit_by_telemetry: bool) -> bool:
    return mark == "dark" and lit_by_telemetry
