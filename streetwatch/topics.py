"""MQTT topic names (DESIGN s.3): pure parsing and building, no broker involved."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from streetwatch.schemas import ID_PATTERN, READING_KINDS, DeviceId, GatewayId, ReadingKind

ROOT = "streetwatch"
ALERTS = "alerts"
SUBSCRIPTION = f"{ROOT}/#"

_ID = re.compile(ID_PATTERN)
# Names under streetwatch/ that are not gateways: the rule engine's alert namespace.
RESERVED_GATEWAY_IDS = frozenset({ALERTS})


class TopicError(ValueError):
    """The topic is not one a gateway may publish on; the message says why."""


@dataclass(frozen=True, slots=True)
class ReadingTopic:
    gateway: GatewayId
    kind: ReadingKind
    device_id: DeviceId


@dataclass(frozen=True, slots=True)
class BatchTopic:
    gateway: GatewayId


@dataclass(frozen=True, slots=True)
class StatusTopic:
    gateway: GatewayId


@dataclass(frozen=True, slots=True)
class AlertTopic:
    """Published by the rule engine; the ingester ignores these."""

    zone: str
    severity: str


Topic = ReadingTopic | BatchTopic | StatusTopic | AlertTopic


def is_valid_id(text: str) -> bool:
    return _ID.fullmatch(text) is not None


@lru_cache(maxsize=1 << 18)  # a topic per device, repeated every report; errors are not cached
def parse_topic(topic: str) -> Topic:
    """Parse a topic under `streetwatch/`, raising TopicError with a reason otherwise."""
    parts = topic.split("/")
    if len(parts) < 3 or parts[0] != ROOT:
        raise TopicError(f"topic must be {ROOT}/<gateway>/..., got {len(parts)} levels")
    if parts[1] == ALERTS:
        if len(parts) != 4:
            raise TopicError("alert topics are streetwatch/alerts/<zone>/<severity>")
        return AlertTopic(parts[2], parts[3])
    gateway = parts[1]
    if not is_valid_id(gateway):
        raise TopicError("gateway id must match [A-Za-z0-9_.-]{1,64}")
    if len(parts) == 3:
        return _parse_gateway_topic(GatewayId(gateway), parts[2])
    if len(parts) == 4:
        return _parse_reading_topic(GatewayId(gateway), parts[2], parts[3])
    raise TopicError("too many topic levels")


def _parse_gateway_topic(gateway: GatewayId, leaf: str) -> Topic:
    if leaf == "batch":
        return BatchTopic(gateway)
    if leaf == "status":
        return StatusTopic(gateway)
    raise TopicError("gateway-level topics are .../batch and .../status")


def _parse_reading_topic(gateway: GatewayId, kind: str, device: str) -> ReadingTopic:
    if kind not in READING_KINDS:
        raise TopicError("reading kind must be lamp, drain or rain")
    if not is_valid_id(device):
        raise TopicError("device id must match [A-Za-z0-9_.-]{1,64}")
    return ReadingTopic(gateway, kind, DeviceId(device))  # type: ignore[arg-type]


def gateway_of(topic: str) -> str | None:
    """The gateway segment of any topic, if it is a valid id (for reject bookkeeping)."""
    parts = topic.split("/", 2)
    if len(parts) >= 2 and parts[0] == ROOT and is_valid_id(parts[1]):
        return parts[1]
    return None


def reading_topic(gateway: str, kind: str, device_id: str) -> str:
    return f"{ROOT}/{gateway}/{kind}/{device_id}"


def batch_topic(gateway: str) -> str:
    return f"{ROOT}/{gateway}/batch"


def status_topic(gateway: str) -> str:
    return f"{ROOT}/{gateway}/status"


def alert_topic(zone: str, severity: str) -> str:
    return f"{ROOT}/{ALERTS}/{zone}/{severity}"
