"""The lighting-rate-now answer as bytes, built once and shared while it cannot change.

`GET /api/v1/lighting-rate` is asked for far more often than its answer changes: the points
change at most every LastPoints.REFRESH_MS, a zone's phase a few times a day, a point's
freshness once. So the answer is serialized once per set of zones a key sees and kept until one
of those happens (api.lighting.unchanged_until_ms); requests in between only put their own
`at` into it. The bytes are exactly what pydantic writes for `rates_from`'s LightingNow (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

from api.keys import Principal
from api.lighting import rates_from, unchanged_until_ms
from streetwatch.alerts.model import rfc3339_ms
from streetwatch.lighting_samples import LightingPoint
from streetwatch.settings import Settings

_HEAD = b'{"at":"'  # LightingNow's first field is `at`


@dataclass(frozen=True, slots=True)
class _Built:
    """An answer's bytes around its `at`, valid for `points` at [from_ms, until_ms)."""

    points: dict[str, LightingPoint]
    from_ms: int
    until_ms: int
    tail: bytes  # everything after the `at` text, its closing quote first


class NowAnswers:
    """Built answers by the zones a key sees (None: every zone and the town)."""

    def __init__(self) -> None:
        self._built: dict[frozenset[str] | None, _Built] = {}

    def body(self, points: dict[str, LightingPoint], now_ms: int,
             zones: frozenset[str] | None) -> bytes | None:
        """The answer at `now_ms` from a kept one, or None when none holds for these points
        then (call `build`). No I/O, a dict lookup: fit for the event loop."""
        built = self._built.get(zones)
        if built is None or built.points is not points \
                or not built.from_ms <= now_ms < built.until_ms:
            return None
        return _HEAD + rfc3339_ms(now_ms).encode() + built.tail

    def build(self, settings: Settings, points: dict[str, LightingPoint], now_ms: int,
              principal: Principal) -> bytes:
        """The answer at `now_ms`, computed and kept (answers for older points are dropped)."""
        body = rates_from(settings, points, now_ms, principal).model_dump_json().encode()
        at = _HEAD + rfc3339_ms(now_ms).encode()
        if not body.startswith(at):
            raise AssertionError("LightingNow no longer starts with `at`")
        built = _Built(points, now_ms, unchanged_until_ms(settings, points, now_ms, principal),
                       body[len(at):])
        self._built = {**{zones: kept for zones, kept in self._built.items()
                          if kept.points is points}, principal.zones: built}
        return body
