"""Malformed inputs, each with the reject reason it must end in (shared by unit and e2e tests).

Every case is published by gateway gw1 (the broker ACL allows it only streetwatch/gw1/#);
payloads are built from `now_ms` so time-dependent cases stay right whenever they run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

SPOOF_LAMP = "L-owned-by-gw2"


@dataclass(frozen=True)
class Case:
    name: str
    topic: str
    payload: Callable[[int], bytes]
    reason: str


def _lamp(now_ms: int, **fields: object) -> bytes:
    return json.dumps({"ts": now_ms, "on": True, **fields}).encode()


def _raw(text: str | bytes) -> Callable[[int], bytes]:
    data = text.encode() if isinstance(text, str) else text
    return lambda now_ms: data


LAMP = "streetwatch/gw1/lamp/L1"
DRAIN = "streetwatch/gw1/drain/D1"
BATCH = "streetwatch/gw1/batch"

MALFORMED: list[Case] = [
    Case("truncated_json", LAMP, _raw('{"ts": 17'), "bad_json"),
    Case("not_json", LAMP, _raw("lamp is on"), "bad_json"),
    Case("empty_payload", LAMP, _raw(b""), "bad_json"),
    Case("not_utf8", LAMP, _raw(b"\xff\xfe{\x00}"), "bad_encoding"),
    Case("array_not_object", LAMP, _raw("[1, 2]"), "schema"),
    Case("json_null", LAMP, _raw("null"), "schema"),
    Case("missing_on", LAMP, lambda now: json.dumps({"ts": now}).encode(), "schema"),
    Case("on_as_string", LAMP, lambda now: _lamp(now, on="true"), "schema"),
    Case("on_as_number", LAMP, lambda now: _lamp(now, on=1), "schema"),
    Case("naive_timestamp", LAMP, _raw('{"ts": "2026-11-23T10:00:00", "on": true}'), "schema"),
    Case("float_timestamp", LAMP, lambda now: _lamp(now / 1.0 + 0.5), "schema"),
    Case("unknown_fault", LAMP, lambda now: _lamp(now, fault="exploded"), "schema"),
    Case("sql_in_fault", LAMP, lambda now: _lamp(now, fault="'; DROP TABLE lamp;--"), "schema"),
    Case("rtl_override_fault", LAMP, lambda now: _lamp(now, fault="\u202egnp.exe"), "schema"),
    Case("dim_fraction", LAMP, lambda now: _lamp(now, dim=50.5), "schema"),
    Case("dim_150", LAMP, lambda now: _lamp(now, dim=150), "out_of_range"),
    Case("negative_power", LAMP, lambda now: _lamp(now, power_w=-5), "out_of_range"),
    Case("absurd_level", DRAIN, lambda now: json.dumps({"ts": now, "level_cm": 1e9}).encode(),
         "out_of_range"),
    Case("nan_battery", DRAIN, lambda now: b'{"ts": %d, "level_cm": 3, "battery_v": NaN}' % now,
         "out_of_range"),
    Case("future_ts", LAMP, lambda now: _lamp(now + 3_600_000), "future_ts"),
    Case("epoch_zero", LAMP, lambda now: _lamp(0), "too_old"),
    Case("oversized_reading", LAMP, lambda now: _lamp(now, note="x" * 70_000), "too_large"),
    Case("oversized_batch", BATCH, lambda now: b"[" + b" " * (1024 * 1024) + b"]", "too_large"),
    Case("unknown_kind_topic", "streetwatch/gw1/heater/H1", lambda now: _lamp(now), "bad_topic"),
    Case("short_topic", "streetwatch/gw1/lamp", lambda now: _lamp(now), "bad_topic"),
    Case("deep_topic", "streetwatch/gw1/lamp/L1/extra", lambda now: _lamp(now), "bad_topic"),
    Case("hostile_device_id", "streetwatch/gw1/lamp/L1;rm -rf", lambda now: _lamp(now),
         "bad_topic"),
    Case("batch_not_array", BATCH, lambda now: json.dumps({"kind": "lamp"}).encode(), "schema"),
    Case("batch_empty", BATCH, _raw("[]"), "schema"),
    Case("batch_unknown_kind", BATCH,
         lambda now: json.dumps([{"kind": "heater", "id": "H1", "ts": now}]).encode(), "schema"),
    Case("batch_deeply_nested", BATCH, _raw("[" * 100_000), "bad_json"),
    Case("status_garbage", "streetwatch/gw1/status", _raw("maybe"), "schema"),
    Case("spoofed_lamp", f"streetwatch/gw1/lamp/{SPOOF_LAMP}", lambda now: _lamp(now), "spoofed"),
]
