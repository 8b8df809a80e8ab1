"""Pure message validation: (topic, payload, now, registry) -> lines to store and rejects with reasons.

Shared by the ingester and the rule runner, so it lives in the kernel (DESIGN s.2: no sideways
imports). No I/O here: the MQTT and InfluxDB edges live in `ingest.runner` and `ingest.writer`. Every input,
however hostile, ends as stored lines, reject records, or (alert topics) nothing to do; this module
never raises on input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import ValidationError

from streetwatch.lineproto import SeriesTags, gateway_status_line, reading_line
from streetwatch.schemas import BATCH_ITEM, READING_MODELS, Reading
from streetwatch.topics import (
    AlertTopic,
    BatchTopic,
    ReadingTopic,
    StatusTopic,
    TopicError,
    gateway_of,
    parse_topic,
)

# Reject reasons, for docs/wire-contract.md and the `reason` tag of `ingest_reject`.
REJECT_REASONS: dict[str, str] = {
    "bad_topic": "topic is not streetwatch/<gateway>/{lamp,drain,rain}/<id>, /batch or /status",
    "too_large": "payload over 64 KiB (a reading) or 1 MiB (a batch)",
    "bad_encoding": "payload is not UTF-8",
    "bad_json": "payload is not valid JSON",
    "schema": "missing field, wrong type, unknown enum value or wrong shape",
    "out_of_range": "a number outside its physical bounds (dim 0-100, power_w >= 0, ...)",
    "future_ts": "timestamp more than 5 minutes ahead of the ingester's clock",
    "too_old": "timestamp older than the accepted age (30 days by default)",
    "spoofed": "the device is registered to another gateway",
    "storage_rejected": "InfluxDB refused the point (e.g. a field type conflict)",
    "internal_error": "processing the message raised (an ingester bug): kept and acked, not retried",
    "overload_qos0": "a QoS 0 message arrived while the ingester's queue was at its byte bound",
}

_RANGE_ERRORS = frozenset(
    {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "finite_number"}
)


class KnownDevice(Protocol):
    """What the registry knows of a device (see streetwatch.registry.store.DeviceInfo)."""

    @property
    def gateway(self) -> str: ...
    @property
    def zone(self) -> str: ...
    @property
    def road(self) -> str | None: ...


DeviceIndex = Mapping[tuple[str, str], KnownDevice]


@dataclass(frozen=True, slots=True)
class Limits:
    max_payload_bytes: int = 64 * 1024
    max_batch_bytes: int = 1024 * 1024
    max_future_ms: int = 5 * 60 * 1000
    max_age_ms: int = 30 * 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class RejectRecord:
    """One rejected message (or batch item), kept whole for the dead-letter file."""

    reason: str
    detail: str
    topic: str
    gateway: str | None
    payload: bytes


@dataclass(frozen=True, slots=True)
class StatusChange:
    gateway: str
    online: bool


class StatusClock(Protocol):
    """Hands out the timestamp of a live status point (unique per gateway, see writer.SeriesClock)."""

    def next(self, key: tuple[str, str | None], now_ms: int) -> int: ...


@dataclass(slots=True)
class MessageOutcome:
    """What one MQTT message turned into."""

    lines: list[str] = field(default_factory=list)
    rejects: list[RejectRecord] = field(default_factory=list)
    unregistered: int = 0
    status: StatusChange | None = None
    readings: list[AcceptedReading] = field(default_factory=list)  # with keep_readings only


@dataclass(frozen=True, slots=True)
class AcceptedReading:
    """A valid reading as parsed (the rule runner judges these; the ingester only stores)."""

    kind: str
    device_id: str
    gateway: str
    reading: Reading


def process_message(
    topic: str,
    payload: bytes,
    now_ms: int,
    devices: DeviceIndex,
    limits: Limits = Limits(),
    retained: bool = False,
    status_clock: StatusClock | None = None,
    keep_readings: bool = False,
    encode: bool = True,
) -> MessageOutcome:
    """Validate one message and encode what is good; never raises on input.

    `status_clock` stamps live status points; without one they take `now_ms` (two in one
    millisecond would then be one point)."""
    outcome = MessageOutcome()
    try:
        parsed = parse_topic(topic)
    except TopicError as exc:
        outcome.rejects.append(RejectRecord("bad_topic", str(exc), topic, gateway_of(topic), payload))
        return outcome
    if isinstance(parsed, AlertTopic):
        return outcome
    context = _Context(topic, payload, now_ms, devices, limits, outcome, keep_readings, encode)
    if isinstance(parsed, ReadingTopic):
        context.single(parsed)
    elif isinstance(parsed, BatchTopic):
        context.batch(parsed.gateway)
    elif isinstance(parsed, StatusTopic):
        context.status(parsed.gateway, retained, status_clock)
    return outcome


def internal_error_outcome(topic: str, payload: bytes, exc: BaseException) -> MessageOutcome:
    """What a message becomes when processing it raised: one `internal_error` reject, so it is
    kept for inspection and acked instead of pinning a slot of the broker's in-flight window."""
    detail = f"processing raised {type(exc).__name__}: {_safe_text(exc)}"[:500]
    record = RejectRecord("internal_error", detail, topic, gateway_of(topic), payload)
    return MessageOutcome(rejects=[record])


@dataclass(slots=True)
class _Context:
    topic: str
    payload: bytes
    now_ms: int
    devices: DeviceIndex
    limits: Limits
    outcome: MessageOutcome
    keep_readings: bool = False
    encode: bool = True  # line protocol for storage (the rule runner judges, it does not store)

    def reject(self, reason: str, detail: str, gateway: str, payload: bytes | None = None) -> None:
        record = RejectRecord(reason, detail, self.topic, gateway, payload or self.payload)
        self.outcome.rejects.append(record)

    def single(self, topic: ReadingTopic) -> None:
        if len(self.payload) > self.limits.max_payload_bytes:
            size = f"{len(self.payload)} bytes > {self.limits.max_payload_bytes}"
            return self.reject("too_large", f"reading payload is {size}", topic.gateway)
        model = READING_MODELS[topic.kind]
        try:
            reading = model.model_validate_json(self.payload)
        except ValidationError as exc:
            if not _json_invalid(exc):
                return self.reject(*_classify(exc, self.payload), topic.gateway)
            # pydantic's parser refused the JSON; parse it as batches are parsed, so one document
            # gets one verdict either way (deeper nesting, lone surrogates, 5,000-digit integers).
            doc = _load_json(self.payload)
            if isinstance(doc, _JsonFailure):
                return self.reject(doc.reason, doc.detail, topic.gateway)
            try:
                reading = model.model_validate(doc)
            except ValidationError as exc:
                return self.reject(*_classify(exc, self.payload), topic.gateway)
        self.store(topic.gateway, topic.kind, topic.device_id, reading, None)

    def batch(self, gateway: str) -> None:
        if len(self.payload) > self.limits.max_batch_bytes:
            size = f"{len(self.payload)} bytes > {self.limits.max_batch_bytes}"
            return self.reject("too_large", f"batch payload is {size}", gateway)
        items = _load_json(self.payload)
        if isinstance(items, _JsonFailure):
            return self.reject(items.reason, items.detail, gateway)
        if not isinstance(items, list) or not items:
            return self.reject("schema", "a batch must be a non-empty JSON array", gateway)
        for index, item in enumerate(items):
            self.batch_item(gateway, index, item)

    def batch_item(self, gateway: str, index: int, item: object) -> None:
        try:
            reading = BATCH_ITEM.validate_python(item)
        except ValidationError as exc:
            raw = _item_bytes(item)
            reason, detail = _classify(exc, raw)
            return self.reject(reason, f"item {index}: {detail}", gateway, raw)
        self.store(gateway, reading.kind, reading.id, reading, item)

    def store(
        self, gateway: str, kind: str, device_id: str, reading: Reading, item: object = None
    ) -> None:
        """Encode a valid reading, or reject it on time or ownership (`item`: its batch entry)."""
        known = self.devices.get((kind, device_id))
        problem = self.time_or_owner_problem(gateway, kind, device_id, reading.ts, known)
        if problem is not None:
            raw = None if item is None else _item_bytes(item)
            return self.reject(*problem, gateway, raw)
        if known is None:
            tags = SeriesTags(gateway)
            self.outcome.unregistered += 1
        else:
            tags = SeriesTags(gateway, known.zone, known.road)
        if self.encode:
            self.outcome.lines.append(reading_line(device_id, tags, reading))
        if self.keep_readings:
            self.outcome.readings.append(AcceptedReading(kind, device_id, gateway, reading))

    def time_or_owner_problem(
        self, gateway: str, kind: str, device_id: str, ts: int, known: KnownDevice | None
    ) -> tuple[str, str] | None:
        """(reason, detail) when the timestamp is out of bounds or another gateway owns the device."""
        # Integer arithmetic only: `ts` is bounded by the schema, but a detail must never overflow.
        if ts > self.now_ms + self.limits.max_future_ms:
            return "future_ts", f"ts is {(ts - self.now_ms) // 1000} s in the future"
        if ts < self.now_ms - self.limits.max_age_ms:
            return "too_old", f"ts is {(self.now_ms - ts) // 1000} s old"
        if known is not None and known.gateway != gateway:
            return "spoofed", f"{kind} {device_id} is registered to gateway {known.gateway}"
        return None

    def status(self, gateway: str, retained: bool, clock: StatusClock | None) -> None:
        state = self.payload.strip()
        if state not in (b"online", b"offline"):
            return self.reject("schema", "status payload must be 'online' or 'offline'", gateway)
        online = state == b"online"
        self.outcome.status = StatusChange(gateway, online)
        if not retained:  # a retained status is a replay of a state already stored
            ts = self.now_ms if clock is None else clock.next(("gateway_status", gateway), self.now_ms)
            self.outcome.lines.append(gateway_status_line(gateway, online, ts))


@dataclass(frozen=True, slots=True)
class _JsonFailure:
    reason: str
    detail: str


def _item_bytes(item: object) -> bytes:
    """A batch item as JSON bytes, for the dead-letter file (only built for rejected items)."""
    try:
        text = json.dumps(item, ensure_ascii=False)
    except (ValueError, RecursionError):  # nesting or an int json.loads took but dumps refuses
        text = _safe_text(item)
    return text.encode("utf-8", "backslashreplace")


def _safe_text(value: object, limit: int = 4096) -> str:
    """`str(value)` cut to `limit`, or a placeholder when even that raises (hostile objects)."""
    try:
        return str(value)[:limit]
    except (ValueError, RecursionError):
        return f"<unprintable {type(value).__name__}>"


# Every bound in the wire contract is far below 1e300: an integer longer than this many digits is
# out of range whatever field it is in, so it is parsed as +-10**300 (which every bound refuses)
# instead of tripping Python's 4,300-digit limit on int() and failing the whole document.
_MAX_INT_DIGITS = 300
_HUGE = 10**_MAX_INT_DIGITS


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) <= _MAX_INT_DIGITS:
        return int(text)
    return -_HUGE if text.startswith("-") else _HUGE


def _load_json(payload: bytes) -> object:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _JsonFailure("bad_encoding", f"payload is not UTF-8: {exc.reason} at byte {exc.start}")
    try:
        return json.loads(text, parse_int=_bounded_int)
    except (ValueError, RecursionError) as exc:
        return _JsonFailure("bad_json", f"invalid JSON: {str(exc)[:200]}")


def _json_invalid(exc: ValidationError) -> bool:
    errors = exc.errors(include_url=False, include_input=False)
    return bool(errors) and errors[0]["type"] == "json_invalid"


def _classify(exc: ValidationError, payload: bytes) -> tuple[str, str]:
    """Map a pydantic error to (reason, detail) with the first few problems spelled out."""
    errors = exc.errors(include_url=False, include_input=False)
    if errors and errors[0]["type"] == "json_invalid":
        failure = _load_json(payload)
        if isinstance(failure, _JsonFailure):
            return failure.reason, failure.detail
        return "bad_json", f"invalid JSON: {errors[0]['msg']}"
    reason = "out_of_range" if all(e["type"] in _RANGE_ERRORS for e in errors) else "schema"
    parts = [f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}" for e in errors[:5]]
    return reason, "; ".join(parts)[:500]
