"""Seeded hostile MQTT traffic from one gateway, each message labelled with its outcome by construction.

The fuzz tests drive this through `streetwatch.validation.process_message`
(tests/unit/test_hostile.py) and through the real ingester (tests/integration/test_ingest_fuzz.py)
and count: every reading and
batch item must end stored or rejected with the reason written on its label. A label comes from
what the case was built to be, read against the wire contract (docs/wire-contract.md, DESIGN s.3),
never from running the ingester: invalid UTF-8 -> `bad_encoding`, a `ts` of 313 digits ->
`out_of_range`, `dim` 101 -> `out_of_range`, a `NaN` power -> `out_of_range`, and so on.

Decisions the contract leaves to us, made here once:
- duplicate keys: the last value wins (as in Python's `json` and most parsers);
- nesting: 20 levels in an unknown field are fine, 5,000 levels are "too deep to parse" (`bad_json`);
  depths in between are not generated (a 300-level document is in the contract's grey zone);
- a payload that is over its size limit is `too_large` whatever else is wrong with it, so oversize
  cases are otherwise valid, and every other rejected case has exactly one defect.

Pure and deterministic: `random.Random(seed)` and `now_ms` decide every byte. Every valid reading
gets its own timestamp (one millisecond after the previous one, starting six hours before `now_ms`),
so each (kind, device, ts) is one InfluxDB point and stored counts are exact. Cases that would age
out of (or into) the ingester's window keep hours of margin, so a run may take a while to publish.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

GATEWAY = "gw1"  # every message is published by this account (the broker lets it write gw1/# only)
QOS = 1
KINDS = ("lamp", "drain", "rain")
STATUS_KIND = "gateway_status"  # InfluxDB measurement of an online/offline status message

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
MAX_TS_MS = 253_402_300_799_999  # the contract: an integer ts above this (year 9999) is out_of_range
READING_LIMIT = 64 * 1024  # the contract: a reading payload of at most 64 KiB ...
BATCH_LIMIT = 1024 * 1024  # ... and a batch of at most 1 MiB
BIG_TEXT = 60 * 1024  # "60 KiB strings"
VALID_FROM_AGE_MS = 6 * HOUR_MS  # valid readings start this far back: inside the 30-day window
DEEP = 5_000  # nesting levels that are "too deep to parse" for any JSON parser we would ship
SHALLOW = 20  # nesting levels any parser takes
MODERATE = 300  # nesting levels the contract accepts ("about 900" is the limit), one parser refuses

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_OFFSETS = (UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30)),
            timezone(timedelta(hours=5, minutes=45)), timezone(timedelta(hours=23, minutes=59)))


# Labels -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Stored:
    """A reading (or status point) that must end in InfluxDB: measurement `kind`, this device and
    ts (`ts` None for a status point, which the ingester stamps with its own clock)."""

    kind: str
    device: str
    ts: int | None
    case: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message or batch item that must end in `ingest_reject` and the dead-letter file."""

    reason: str
    case: str


Outcome = Stored | Rejected


@dataclass(frozen=True, slots=True)
class HostileMessage:
    """One MQTT message and what it must turn into: one outcome per reading or batch item, one for
    a message rejected whole, none for a topic the ingester ignores (alerts)."""

    case: str
    topic: str
    payload: bytes
    qos: int
    expected: tuple[Outcome, ...]


@dataclass
class Tally:
    """Expected totals of a stream: stored points per measurement, rejects per reason."""

    messages: int = 0
    ignored: int = 0  # messages with no outcome at all (alert topics)
    stored: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)

    def add(self, message: HostileMessage) -> None:
        self.messages += 1
        self.ignored += not message.expected
        for outcome in message.expected:
            if isinstance(outcome, Stored):
                self.stored[outcome.kind] += 1
            else:
                self.rejected[outcome.reason] += 1

    @classmethod
    def of(cls, messages: Iterator[HostileMessage] | list[HostileMessage]) -> Tally:
        tally = cls()
        for message in messages:
            tally.add(message)
        return tally


# The registry the tests load before the ingester starts ----------------------------------------
@dataclass(frozen=True, slots=True)
class Registration:
    kind: str
    device_id: str
    gateway: str
    zone: str
    road: str | None = None


def _registrations() -> tuple[Registration, ...]:
    """A few devices of GATEWAY (tagged with their zone) and of two other gateways (spoof targets)."""
    own = [Registration("lamp", f"L-{GATEWAY}-{n:03d}", GATEWAY, "Z01", "R01") for n in range(20)]
    own += [Registration("drain", f"D-{GATEWAY}-{n:03d}", GATEWAY, "Z01") for n in range(10)]
    own += [Registration("rain", f"G-{GATEWAY}-{n:03d}", GATEWAY, "Z01") for n in range(5)]
    foreign = [Registration("lamp", f"L-gw2-{n:03d}", "gw2", "Z02", "R02") for n in range(10)]
    foreign += [Registration("drain", f"D-gw3-{n:03d}", "gw3", "Z03") for n in range(5)]
    foreign += [Registration("rain", f"G-gw2-{n:03d}", "gw2", "Z02") for n in range(3)]
    return tuple(own + foreign)


REGISTRY = _registrations()
OWN_DEVICES = {k: tuple(r.device_id for r in REGISTRY if r.kind == k and r.gateway == GATEWAY)
               for k in KINDS}
FOREIGN_DEVICES = {k: tuple(r.device_id for r in REGISTRY if r.kind == k and r.gateway != GATEWAY)
                   for k in KINDS}


def registry_rows() -> tuple[list[dict], list[dict], list[dict]]:
    """REGISTRY as (lamps, drains, gauges) rows for `streetwatch.registry.store.upsert_devices`."""
    rows: dict[str, list[dict]] = {kind: [] for kind in KINDS}
    for reg in REGISTRY:
        row = {"id": reg.device_id, "gateway": reg.gateway, "zone": reg.zone}
        if reg.kind == "lamp":
            row["road"] = reg.road
        rows[reg.kind].append(row)
    return rows["lamp"], rows["drain"], rows["rain"]


# Drafts: a valid reading as (key, JSON text) pairs, so a case can write NaN, huge ints, dup keys --
def _raw(value: object) -> str:
    """A value as JSON text, ASCII-escaped as most gateways send it."""
    return json.dumps(value)


@dataclass
class _Draft:
    """A reading being built: valid until a case breaks exactly one thing about it."""

    kind: str
    device: str
    ts: int  # the unique timestamp it is stored at, if it stays valid
    fields: list[tuple[str, str]]
    item: bool = False  # a batch item: carries "kind" and "id" in the payload
    kind_text: str | None = field(init=False)  # batch items: JSON text of "kind" / "id"
    id_text: str | None = field(init=False)  # (None: left out of the item)

    def __post_init__(self) -> None:
        self.kind_text = _raw(self.kind)
        self.id_text = _raw(self.device)

    def set(self, key: str, raw: str) -> None:
        """Replace the value of `key` (appended when absent)."""
        for index, (name, _) in enumerate(self.fields):
            if name == key:
                self.fields[index] = (key, raw)
                return
        self.fields.append((key, raw))

    def drop(self, key: str) -> None:
        self.fields = [(name, raw) for name, raw in self.fields if name != key]

    def add(self, key: str, raw: str) -> None:
        """Append `key` even when present: a duplicate key."""
        self.fields.append((key, raw))

    def move_to(self, device: str) -> None:
        """Make it a reading of another device (topic and batch `id` follow)."""
        self.device = device
        self.id_text = _raw(device)

    def text(self) -> str:
        """The JSON object; a batch item starts with its `kind` and `id`."""
        head = [("kind", self.kind_text), ("id", self.id_text)] if self.item else []
        pairs = [(k, v) for k, v in head if v is not None] + self.fields
        return "{" + ", ".join(f"{_raw(key)}: {raw}" for key, raw in pairs) + "}"

    def topic(self) -> str:
        return f"streetwatch/{GATEWAY}/{self.kind}/{self.device}"


# Contract bounds per kind: field -> (low, high, integer)
BOUNDS: dict[str, dict[str, tuple[float, float, bool]]] = {
    "lamp": {"dim": (0, 100, True), "power_w": (0, 5000, False), "voltage_v": (0, 1000, False)},
    "drain": {"level_cm": (-100, 10_000, False), "battery_v": (0, 60, False),
              "rssi_dbm": (-200, 0, False)},
    "rain": {"rain_mm": (0, 500, False)},
}
REQUIRED = {"lamp": "on", "drain": "level_cm", "rain": "rain_mm"}  # besides ts
FAULTS = ("lamp_failure", "driver_failure", "power_supply", "cycling", "low_power_factor", "tilt")


class _Forge:
    """The generator's state: seeded choices, the clock labels are computed against, and the
    next unique timestamp of a valid reading."""

    def __init__(self, seed: int, now_ms: int) -> None:
        self.rng = random.Random(seed)
        self.now_ms = now_ms
        self._last_ts = now_ms - VALID_FROM_AGE_MS

    def unique_ts(self) -> int:
        self._last_ts += 1
        return self._last_ts

    def ts_raw(self, ts: int) -> str:
        """`ts` as integer epoch ms or as RFC 3339 text in some zone (both the same instant)."""
        if self.rng.random() < 0.6:
            return str(ts)
        return _raw(rfc3339(ts, self.rng.choice(_OFFSETS)))

    def device(self, kind: str) -> str:
        """A device of GATEWAY: registered, or not in the registry (stored as `unassigned`)."""
        if self.rng.random() < 0.5:
            return self.rng.choice(OWN_DEVICES[kind])
        return f"U{kind[0].upper()}{self.rng.randrange(10_000):04d}"

    def number(self, low: float, high: float, integer: bool) -> str:
        if integer:
            return str(self.rng.randint(int(low), int(high)))
        return _raw(round(self.rng.uniform(low, high), self.rng.choice((0, 1, 3))))

    def draft(self, kind: str, device: str | None = None, item: bool = False) -> _Draft:
        """A valid reading of `kind` with a fresh unique ts and some of its optional fields."""
        ts = self.unique_ts()
        fields = [("ts", self.ts_raw(ts))]
        if kind == "lamp":
            fields.append(("on", _raw(self.rng.random() < 0.5)))
        for name, (low, high, integer) in BOUNDS[kind].items():
            if name == REQUIRED[kind] or self.rng.random() < 0.6:
                fields.append((name, self.number(low, high, integer)))
        if kind == "lamp" and self.rng.random() < 0.3:
            fields.append(("fault", _raw(self.rng.choice((None, *FAULTS)))))
        if kind == "drain" and self.rng.random() < 0.3:
            fields.append(("cover_open", _raw(self.rng.random() < 0.1)))
        self.rng.shuffle(fields)
        return _Draft(kind, device or self.device(kind), ts, fields, item)


def rfc3339(ts_ms: int, zone: timezone = UTC) -> str:
    """Epoch ms as RFC 3339 text with milliseconds, exact (no float on the way)."""
    moment = (_EPOCH + timedelta(milliseconds=ts_ms)).astimezone(zone)
    text = moment.isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


# Reading cases: each breaks (or harmlessly decorates) one thing of a valid draft ---------------
@dataclass(frozen=True)
class _Variant:
    name: str
    reason: str | None  # None: the reading is still valid and must be stored
    weight: float
    apply: Callable[[_Forge, _Draft], None]
    kinds: tuple[str, ...] = KINDS
    where: str = "both"  # "single" (own topic), "item" (batch item) or "both"


def _bounded(forge: _Forge, draft: _Draft, floats_only: bool = False) -> tuple[str, float, float]:
    """A bounded field of the draft's kind: (name, low, high)."""
    names = [n for n, (_, _, integer) in BOUNDS[draft.kind].items() if not (floats_only and integer)]
    name = forge.rng.choice(names)
    low, high, _ = BOUNDS[draft.kind][name]
    return name, low, high


def _out_of_bounds(forge: _Forge, draft: _Draft) -> None:
    name, low, high = _bounded(forge, draft)
    integer = BOUNDS[draft.kind][name][2]
    step = forge.rng.choice((1, 7, 1_000_000)) if integer else forge.rng.choice((0.5, 1.25, 1e6))
    draft.set(name, _raw(high + step if forge.rng.random() < 0.5 else low - step))


def _huge_integer(forge: _Forge, draft: _Draft) -> None:
    """An integer literal far outside the bounds, up to 5,000 digits (past Python's 4,300-digit
    int parsing limit and past the largest double): still a number, so `out_of_range`."""
    name, _, _ = _bounded(forge, draft)
    digits = forge.rng.choice((20, 313, 400, 5_000))
    draft.set(name, forge.rng.choice(("", "-")) + "9" * digits)


def _non_finite(forge: _Forge, draft: _Draft) -> None:
    name, _, _ = _bounded(forge, draft, floats_only=True)
    draft.set(name, forge.rng.choice(("NaN", "Infinity", "-Infinity", "1e400", "-1e999")))


def _at_bounds(forge: _Forge, draft: _Draft) -> None:
    for name, (low, high, _) in BOUNDS[draft.kind].items():
        draft.set(name, _raw(int(forge.rng.choice((low, high)))))


def _signed_zero_and_tiny(forge: _Forge, draft: _Draft) -> None:
    name = {"lamp": "power_w", "drain": "battery_v", "rain": "rain_mm"}[draft.kind]
    draft.set(name, forge.rng.choice(("-0.0", "0.0", "1e-300", "5e-324", "1e-400", "0E0")))


def _ts_313_digits(forge: _Forge, draft: _Draft) -> None:
    draft.set("ts", str(10**312 + forge.rng.randrange(10**9)))


def _ts_negative(forge: _Forge, draft: _Draft) -> None:
    draft.set("ts", forge.rng.choice(
        ("-1", str(-forge.rng.randrange(1, 10**13)), "-" + "9" * 313, "-" + "9" * 5_000)))


def _ts_after_year_9999(forge: _Forge, draft: _Draft) -> None:
    draft.set("ts", forge.rng.choice(
        (str(MAX_TS_MS + 1), str(MAX_TS_MS + 2**20), str(2**63), str(2**64), "9" * 5_000)))


def _ts_text_before_1970(forge: _Forge, draft: _Draft) -> None:
    draft.set("ts", _raw(forge.rng.choice(
        ("1969-12-31T23:59:59.999Z", "0001-01-01T00:00:00Z", "1900-06-01T12:00:00+01:00"))))


def _ts_future(forge: _Forge, draft: _Draft) -> None:
    ahead = forge.rng.choice((HOUR_MS, DAY_MS, 365 * DAY_MS))
    ts = forge.now_ms + ahead + forge.rng.randrange(HOUR_MS)
    draft.set("ts", forge.ts_raw(ts) if forge.rng.random() < 0.8 else _raw("9999-12-31T23:59:59.999Z"))


def _ts_too_old(forge: _Forge, draft: _Draft) -> None:
    age = forge.rng.choice((31 * DAY_MS, 400 * DAY_MS, forge.now_ms))
    draft.set("ts", forge.ts_raw(max(0, forge.now_ms - age - forge.rng.randrange(DAY_MS))))


def _ts_wrong_type(forge: _Forge, draft: _Draft) -> None:
    draft.set("ts", forge.rng.choice((
        f"{draft.ts}.5", f"{draft.ts / 1000:.3f}", "1.7e12", "true", "null", "[]", "{}",
        _raw("2026-11-23T18:00:00"), _raw("yesterday"), _raw(str(draft.ts)), _raw("T" * BIG_TEXT))))


def _ts_long_fraction(forge: _Forge, draft: _Draft) -> None:
    """RFC 3339 allows any number of fraction digits: trailing zeros keep the same millisecond."""
    text = rfc3339(draft.ts, forge.rng.choice(_OFFSETS))  # YYYY-MM-DDTHH:MM:SS.mmm is 23 chars
    draft.set("ts", _raw(text[:23] + "0" * forge.rng.randint(1, 6) + text[23:]))


def _ts_lowercase(forge: _Forge, draft: _Draft) -> None:
    """RFC 3339 s.5.6 allows lower-case "t" and "z"."""
    draft.set("ts", _raw(rfc3339(draft.ts).lower()))


def _utc(ts_ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ts_ms)


def _iso_week_date(ts_ms: int) -> str:
    year, week, day = _utc(ts_ms).isocalendar()
    return f"{year}-W{week:02d}-{day}T{rfc3339(ts_ms)[11:]}"


# ISO 8601 forms that RFC 3339 (the contract) does not have; Python's fromisoformat takes them all.
_ISO_ONLY_FORMS: tuple[Callable[[int], str], ...] = (
    _iso_week_date,
    lambda ts: rfc3339(ts).replace("-", "").replace(":", ""),  # basic format
    lambda ts: rfc3339(ts).replace(".", ","),  # comma fraction
    lambda ts: rfc3339(ts)[:-1] + "+00:00:00",  # offset with seconds
    lambda ts: rfc3339(ts)[:13] + "Z",  # hour only
    lambda ts: rfc3339(ts).replace("T", " "),  # space separator (RFC 3339 s.5.6 NOTE, not ABNF)
)


def _ts_iso_only(forge: _Forge, draft: _Draft) -> None:
    draft.set("ts", _raw(forge.rng.choice(_ISO_ONLY_FORMS)(draft.ts)))


def _ts_missing(forge: _Forge, draft: _Draft) -> None:
    draft.drop("ts")


def _required_missing(forge: _Forge, draft: _Draft) -> None:
    draft.drop(REQUIRED[draft.kind])


_WRONG_TYPES = {
    "on": (_raw("true"), "1", "0", "null", "[]", _raw("on")),
    "level_cm": (_raw("42.5"), "true", "null", "{}"),
    "rain_mm": (_raw("0.4"), "false", "null", "[0.4]"),
}


def _required_wrong_type(forge: _Forge, draft: _Draft) -> None:
    name = REQUIRED[draft.kind]
    draft.set(name, forge.rng.choice(_WRONG_TYPES[name]))


def _lamp_optional_wrong(forge: _Forge, draft: _Draft) -> None:
    name, raw = forge.rng.choice((
        ("dim", "50.5"), ("dim", _raw("50")), ("dim", "true"), ("power_w", _raw("54.5")),
        ("fault", _raw("exploded")), ("fault", _raw("TILT")), ("fault", _raw("'; DROP TABLE lamp;--")),
        ("fault", _raw("\u202egnp.exe")), ("fault", _raw("F" * BIG_TEXT)), ("fault", "false"),
    ))
    draft.set(name, raw)


def _drain_optional_wrong(forge: _Forge, draft: _Draft) -> None:
    name, raw = forge.rng.choice((("cover_open", _raw("false")), ("cover_open", "0"),
                                  ("battery_v", _raw("3.6V")), ("rssi_dbm", "[]")))
    draft.set(name, raw)


def _duplicate_last_good(forge: _Forge, draft: _Draft) -> None:
    """A bad first value of a required key, then the good one: the last wins, it is stored."""
    name = forge.rng.choice(("ts", REQUIRED[draft.kind]))
    good = dict(draft.fields)[name]
    draft.drop(name)
    draft.add(name, forge.rng.choice(_WRONG_TYPES.get(name, (_raw("garbage"),))))
    draft.add(name, good)


def _duplicate_last_bad(forge: _Forge, draft: _Draft) -> None:
    """The good value first, then a wrong type: the last wins, it is a schema reject."""
    name = REQUIRED[draft.kind]
    draft.add(name, forge.rng.choice(_WRONG_TYPES[name]))


def _unknown_fields(forge: _Forge, draft: _Draft) -> None:
    extras = [
        ("firmware", _raw("v2.1.7")), ("\u043a\u043b\u044e\u0447", _raw("\u0437\u043d\u0430\u0447")),
        ("emoji \U0001f4a1", _raw("\U0001f525")), ("nothing", "null"), ("flag", "true"),
        ("big", "9" * 313), ("nested", "[" * SHALLOW + "1" + "]" * SHALLOW),
        ("obj", '{"a": {"b": {"c": [1, 2, {"d": null}]}}}'), ("ctl", _raw("a\u0000b\nc\td\u2028")),
        ("nested_300", "[" * MODERATE + "]" * MODERATE), ("huge", "9" * 5_000),
        ("lone_surrogate", _raw("\ud800")), ("del", '"a\x7fb"'),
    ]
    if not draft.item:  # in a single reading, "kind" and "id" are just unknown fields
        extras += [("kind", _raw("heater")), ("id", _raw("L+#/\u00e9"))]
    for name, raw in forge.rng.sample(extras, forge.rng.randint(1, 4)):
        draft.add(name, raw)


def _big_unknown_string(forge: _Forge, draft: _Draft) -> None:
    """60 KiB of text in a field nobody stores: the reading stays under 64 KiB and is stored."""
    if forge.rng.random() < 0.5:
        draft.add("note", _raw("x" * BIG_TEXT))
    else:  # 20,000 three-byte characters, written raw: 60,000 bytes of UTF-8
        draft.add("note", '"' + "\u20ac" * 20_000 + '"')


def _spoofed(forge: _Forge, draft: _Draft) -> None:
    draft.move_to(forge.rng.choice(FOREIGN_DEVICES[draft.kind]))


def _odd_valid_id(forge: _Forge, draft: _Draft) -> None:
    draft.move_to(forge.rng.choice(("..", ".", "-", "_", "a.b-c_D", "Z" * 64, "0")))


_WILDCARD_IDS = ("+", "#", "L+1", "L#", "L/1", "+/#", "streetwatch/gw1/lamp/+", "L1/#")
_UNICODE_IDS = ("L\u00e91", "\u041b1", "\uff2c\uff11", "L\u200b1", "L\u202e1", "\U0001f4a1",
                "L\u00001", "L\ud8001")


def _item_id_hostile(forge: _Forge, draft: _Draft) -> None:
    draft.id_text = forge.rng.choice((
        *(_raw(i) for i in _WILDCARD_IDS), *(_raw(i) for i in _UNICODE_IDS), _raw(""),
        _raw("L" * 65), _raw("L" * BIG_TEXT), "17", "null", "[]"))


def _item_id_missing(forge: _Forge, draft: _Draft) -> None:
    draft.id_text = None


def _item_kind_hostile(forge: _Forge, draft: _Draft) -> None:
    others = [k for k in KINDS if k != draft.kind]
    draft.kind_text = forge.rng.choice(
        (None, "null", "1", _raw("LAMP"), _raw("heater"), _raw(""), _raw(forge.rng.choice(others))))


VARIANTS: tuple[_Variant, ...] = (
    _Variant("valid", None, 30, lambda forge, draft: None),
    _Variant("valid_at_bounds", None, 2, _at_bounds),
    _Variant("valid_signed_zero_or_tiny", None, 1.5, _signed_zero_and_tiny),
    _Variant("valid_unknown_fields", None, 3, _unknown_fields),
    _Variant("valid_60k_unknown_string", None, 0.7, _big_unknown_string),
    _Variant("valid_duplicate_key_last_good", None, 1.5, _duplicate_last_good),
    _Variant("valid_odd_id", None, 1, _odd_valid_id),
    _Variant("valid_ts_long_fraction", None, 0.5, _ts_long_fraction),
    _Variant("valid_ts_lowercase", None, 0.5, _ts_lowercase),
    _Variant("number_out_of_bounds", "out_of_range", 3, _out_of_bounds),
    _Variant("huge_integer_field", "out_of_range", 1, _huge_integer),
    _Variant("non_finite_number", "out_of_range", 2, _non_finite),
    _Variant("ts_313_digits", "out_of_range", 1.5, _ts_313_digits),
    _Variant("ts_negative", "out_of_range", 1, _ts_negative),
    _Variant("ts_after_year_9999", "out_of_range", 1, _ts_after_year_9999),
    _Variant("ts_text_before_1970", "out_of_range", 0.5, _ts_text_before_1970),
    _Variant("ts_future", "future_ts", 1.5, _ts_future),
    _Variant("ts_too_old", "too_old", 1.5, _ts_too_old),
    _Variant("ts_wrong_type", "schema", 1.5, _ts_wrong_type),
    _Variant("ts_missing", "schema", 0.5, _ts_missing),
    _Variant("ts_iso_8601_only", "schema", 1, _ts_iso_only),
    _Variant("required_missing", "schema", 1, _required_missing),
    _Variant("required_wrong_type", "schema", 1.5, _required_wrong_type),
    _Variant("lamp_optional_wrong_type", "schema", 1, _lamp_optional_wrong, ("lamp",)),
    _Variant("drain_optional_wrong_type", "schema", 0.5, _drain_optional_wrong, ("drain",)),
    _Variant("duplicate_key_last_bad", "schema", 1, _duplicate_last_bad),
    _Variant("spoofed", "spoofed", 2, _spoofed),
    _Variant("item_id_hostile", "schema", 2, _item_id_hostile, where="item"),
    _Variant("item_id_missing", "schema", 0.5, _item_id_missing, where="item"),
    _Variant("item_kind_hostile", "schema", 1, _item_kind_hostile, where="item"),
)


_USABLE = {where: [v for v in VARIANTS if v.where in ("both", where)] for where in ("single", "item")}
_USABLE_WEIGHTS = {where: [v.weight for v in usable] for where, usable in _USABLE.items()}


def _pick_variant(forge: _Forge, where: str) -> _Variant:
    return forge.rng.choices(_USABLE[where], weights=_USABLE_WEIGHTS[where])[0]


def _reading(forge: _Forge, where: str, variant: _Variant | None = None) -> tuple[_Draft, Outcome]:
    """A draft after one variant, and its label."""
    variant = variant or _pick_variant(forge, where)
    draft = forge.draft(forge.rng.choice(variant.kinds), item=where == "item")
    variant.apply(forge, draft)
    prefix = "item" if where == "item" else "reading"
    case = f"{prefix}:{variant.name}"
    if variant.reason is None:
        return draft, Stored(draft.kind, draft.device, draft.ts, case)
    return draft, Rejected(variant.reason, case)


def _message(case: str, topic: str, payload: bytes, *expected: Outcome) -> HostileMessage:
    return HostileMessage(case, topic, payload, QOS, tuple(expected))


def _rejected_whole(case: str, topic: str, payload: bytes, reason: str) -> HostileMessage:
    return _message(case, topic, payload, Rejected(reason, case))


# Single-message cases ---------------------------------------------------------------------------
def single_reading(forge: _Forge) -> HostileMessage:
    """A reading on its own topic, valid or with one defect (see VARIANTS)."""
    draft, outcome = _reading(forge, "single")
    payload = draft.text().encode()
    assert len(payload) <= READING_LIMIT, "a defect case must not also be too large"
    return _message(outcome.case, draft.topic(), payload, outcome)


def _padded(draft: _Draft, size: int) -> bytes:
    """The draft with a `pad` field that makes its payload exactly `size` bytes."""
    draft.add("pad", _raw(""))
    bare = len(draft.text().encode())
    draft.set("pad", _raw("p" * (size - bare)))
    payload = draft.text().encode()
    assert len(payload) == size
    return payload


def reading_at_size_limit(forge: _Forge) -> HostileMessage:
    """Exactly 64 KiB: the largest reading the contract accepts."""
    draft = forge.draft(forge.rng.choice(KINDS))
    case = "reading:exactly_64k"
    return _message(case, draft.topic(), _padded(draft, READING_LIMIT),
                    Stored(draft.kind, draft.device, draft.ts, case))


def reading_too_large(forge: _Forge) -> HostileMessage:
    """A valid reading over 64 KiB (by one byte, or well over): too_large."""
    draft = forge.draft(forge.rng.choice(KINDS))
    size = forge.rng.choice((READING_LIMIT + 1, 70_000, 200_000))
    return _rejected_whole("reading:over_64k", draft.topic(), _padded(draft, size), "too_large")


_BAD_UTF8 = (b"\xff", b"\xfe", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xe9",
             b"\xf8\x88\x80\x80\x80", b"\xf4\x90\x80\x80")


def _break_utf8(forge: _Forge, text: str) -> bytes:
    """Valid JSON text with one invalid UTF-8 sequence inside a string value."""
    if forge.rng.random() < 0.15:
        return text.encode(forge.rng.choice(("utf-16", "utf-32")))  # with a BOM: not UTF-8
    marker = "\u0001MARK\u0001"
    head, tail = text.encode().split(json.dumps(marker).encode()[1:-1])
    return head + b"x" + forge.rng.choice(_BAD_UTF8) + b"y" + tail


def reading_bad_encoding(forge: _Forge) -> HostileMessage:
    draft = forge.draft(forge.rng.choice(KINDS))
    draft.add("note", _raw("\u0001MARK\u0001"))
    payload = _break_utf8(forge, draft.text())
    return _rejected_whole("reading:bad_encoding", draft.topic(), payload, "bad_encoding")


def _broken_json(forge: _Forge, text: str) -> bytes:
    """Valid ASCII JSON text made invalid in one of several ways."""
    choice = forge.rng.randrange(10)
    if choice == 0:
        return text[: forge.rng.randrange(len(text) - 1)].encode()  # truncated
    if choice == 1:
        return (text + forge.rng.choice(("}", ",", "x", "{}", "]"))).encode()  # trailing garbage
    if choice == 2:
        return text[:-1].rstrip().encode() + b",}"  # trailing comma
    if choice == 3:
        return text.replace('"', "'").encode()  # single quotes
    if choice == 4:
        return ("/* gw */ " + text).encode()  # a comment
    if choice == 5:
        return text.replace(": ", ": nan, \"x\": ", 1).encode()  # lowercase nan, not a literal
    if choice == 6:  # whitespace JSON does not know (form feed, vertical tab, no-break space)
        return text.replace(", ", forge.rng.choice((",\x0c", ",\x0b", ",\u00a0")), 1).encode()
    if choice == 7:  # a raw control character inside a string
        return text.replace('"ts"', forge.rng.choice(('"t\x01s"', '"t\ns"', '"t\x1fs"')), 1).encode()
    if choice == 8:  # numbers JSON does not know: +1, 01, 0x1
        return text.replace('"ts": ', forge.rng.choice(('"ts": +', '"ts": 0', '"ts": 0x')), 1).encode()
    return forge.rng.choice((b"", b" ", b"lamp is on", b"{", b"}", b'{"ts"}', b"\x00"))


def reading_bad_json(forge: _Forge) -> HostileMessage:
    draft = forge.draft(forge.rng.choice(KINDS))
    payload = _broken_json(forge, draft.text())
    return _rejected_whole("reading:bad_json", draft.topic(), payload, "bad_json")


def reading_deep_nesting(forge: _Forge) -> HostileMessage:
    """Nesting too deep to parse: a bare run of '[' (under 64 KiB) or a deep unknown field."""
    draft = forge.draft(forge.rng.choice(KINDS))
    if forge.rng.random() < 0.5:
        payload = forge.rng.choice((b"[", b"{\"a\":")) * 10_000
    else:
        draft.add("deep", "[" * DEEP + "]" * DEEP)
        payload = draft.text().encode()
    return _rejected_whole("reading:deep_nesting", draft.topic(), payload, "bad_json")


def reading_not_an_object(forge: _Forge) -> HostileMessage:
    draft = forge.draft(forge.rng.choice(KINDS))
    payload = forge.rng.choice(("[1, 2]", "[]", "null", "42", '"on"', "true", f"[{draft.text()}]"))
    return _rejected_whole("reading:not_an_object", draft.topic(), payload.encode(), "schema")


def _hostile_topic(forge: _Forge, kind: str) -> str:
    """A topic under GATEWAY's namespace (the broker lets it through) that is not a valid one."""
    base = f"streetwatch/{GATEWAY}"
    return forge.rng.choice((
        f"{base}/{kind}/{forge.rng.choice(_UNICODE_IDS[:-2])}", f"{base}/{kind}/{'L' * 65}",
        f"{base}/{kind}/{'L' * BIG_TEXT}", f"{base}/{kind}/", f"{base}/{kind}/L1/extra",
        f"{base}/{kind}/L1/", f"{base}/{kind}/L 1", f"{base}/{kind}/L;rm -rf", f"{base}/{kind}/$SYS",
        f"{base}/{kind.upper()}/L1", f"{base}/heater/H1", f"{base}//L1", base, f"{base}/",
        f"{base}/readings", f"{base}/batch/extra", f"{base}/status/extra", f"{base}/alerts/Z1",
    ))


def reading_bad_topic(forge: _Forge) -> HostileMessage:
    draft = forge.draft(forge.rng.choice(KINDS))
    topic = _hostile_topic(forge, draft.kind)
    return _rejected_whole("topic:bad_topic", topic, draft.text().encode(), "bad_topic")


def status_message(forge: _Forge) -> HostileMessage:
    """`online`/`offline` (never retained: a retained status would outlive the test)."""
    topic = f"streetwatch/{GATEWAY}/status"
    if forge.rng.random() < 0.6:
        case = "status:valid"
        payload = forge.rng.choice((b"online", b"offline"))
        return _message(case, topic, payload, Stored(STATUS_KIND, GATEWAY, None, case))
    payload = forge.rng.choice((b"ONLINE", b"maybe", b"", b"on", b"1", b'{"state": "online"}',
                                b"online offline", b"x" * BIG_TEXT))
    return _rejected_whole("status:invalid", topic, payload, "schema")


def alert_message(forge: _Forge) -> HostileMessage:
    """An alert topic (the ingester ignores these; the broker refuses them from a gateway)."""
    zone = forge.rng.choice(("Z01", "Z\u00e9", "unassigned", "\U0001f4a1"))
    topic = f"streetwatch/alerts/{zone}/{forge.rng.choice(('critical', 'warning'))}"
    return _message("alert:ignored", topic, b'{"rule": "silent_lamp"}')


# Batch cases --------------------------------------------------------------------------------------
BATCH_TOPIC = f"streetwatch/{GATEWAY}/batch"
_NOT_OBJECTS = ("42", "null", "[]", '"lamp"', "true", "[{}]", "3.5")


def _item(forge: _Forge, mix: float) -> tuple[str, Outcome]:
    """One batch item's JSON text and label: valid with probability 1 - `mix`."""
    if mix and forge.rng.random() < 0.03:
        return forge.rng.choice(_NOT_OBJECTS), Rejected("schema", "item:not_an_object")
    variant = VARIANTS[0] if forge.rng.random() >= mix else _pick_variant(forge, "item")
    draft, outcome = _reading(forge, "item", variant)
    return draft.text(), outcome


def _items(forge: _Forge, count: int, mix: float, budget: int = BATCH_LIMIT - 1024
           ) -> tuple[list[str], list[Outcome]]:
    """Up to `count` items whose array stays within `budget` bytes (an item with a 60 KiB string
    that would cross it is left out), so a batch is never too large by accident."""
    texts: list[str] = []
    outcomes: list[Outcome] = []
    size = 2
    for _ in range(count):
        text, outcome = _item(forge, mix)
        if size + len(text.encode()) + 2 > budget:
            continue
        size += len(text.encode()) + 2
        texts.append(text)
        outcomes.append(outcome)
    return texts, outcomes


def _array(texts: list[str], padding: int = 0) -> bytes:
    return ("[" + ", ".join(texts) + " " * padding + "]").encode()


def batch_mixed(forge: _Forge) -> HostileMessage:
    """Good and bad items together: good ones stored, each bad one rejected on its own."""
    texts, outcomes = _items(forge, forge.rng.randint(1, 40), mix=0.5)
    return _message("batch:mixed", BATCH_TOPIC, _array(texts), *outcomes)


def batch_all_valid(forge: _Forge) -> HostileMessage:
    texts, outcomes = _items(forge, forge.rng.randint(100, 400), mix=0.0)
    return _message("batch:all_valid", BATCH_TOPIC, _array(texts), *outcomes)


def batch_at_size_limit(forge: _Forge) -> HostileMessage:
    """Exactly 1 MiB (whitespace inside the array): the largest batch the contract accepts."""
    texts, outcomes = _items(forge, forge.rng.randint(20, 60), mix=0.3)
    padding = BATCH_LIMIT - len(_array(texts))
    return _message("batch:exactly_1mib", BATCH_TOPIC, _array(texts, padding), *outcomes)


def batch_too_large(forge: _Forge) -> HostileMessage:
    texts, _ = _items(forge, forge.rng.randint(20, 60), mix=0.0)
    size = forge.rng.choice((BATCH_LIMIT + 1, BATCH_LIMIT + 300_000))
    payload = _array(texts, size - len(_array(texts)))
    return _rejected_whole("batch:over_1mib", BATCH_TOPIC, payload, "too_large")


def batch_not_an_array(forge: _Forge) -> HostileMessage:
    draft = forge.draft(forge.rng.choice(KINDS), item=True)
    payload = forge.rng.choice(("[]", draft.text(), "null", "42", '"batch"', "{}"))
    return _rejected_whole("batch:not_a_nonempty_array", BATCH_TOPIC, payload.encode(), "schema")


def batch_bad_encoding(forge: _Forge) -> HostileMessage:
    texts, _ = _items(forge, forge.rng.randint(1, 20), mix=0.0)
    texts.insert(forge.rng.randrange(len(texts) + 1), _raw("\u0001MARK\u0001"))
    payload = _break_utf8(forge, "[" + ", ".join(texts) + "]")
    return _rejected_whole("batch:bad_encoding", BATCH_TOPIC, payload, "bad_encoding")


def batch_bad_json(forge: _Forge) -> HostileMessage:
    """Broken JSON, or nesting too deep to parse (a run of '[' or one deep item): the whole batch."""
    texts, _ = _items(forge, forge.rng.randint(1, 20), mix=0.0)
    choice = forge.rng.randrange(3)
    if choice == 0:
        payload = _broken_json(forge, "[" + ", ".join(texts) + "]")
    elif choice == 1:
        payload = b"[" * 100_000
    else:
        texts.insert(forge.rng.randrange(len(texts) + 1), "[" * DEEP + "]" * DEEP)
        payload = _array(texts)
    return _rejected_whole("batch:bad_json", BATCH_TOPIC, payload, "bad_json")


# The mix ----------------------------------------------------------------------------------------
MESSAGE_CASES: tuple[tuple[Callable[[_Forge], HostileMessage], float], ...] = (
    (single_reading, 75),
    (reading_at_size_limit, 0.3),
    (reading_too_large, 0.5),
    (reading_bad_encoding, 2),
    (reading_bad_json, 2),
    (reading_deep_nesting, 0.5),
    (reading_not_an_object, 1),
    (reading_bad_topic, 3),
    (status_message, 2),
    (alert_message, 0.5),
    (batch_mixed, 8),
    (batch_all_valid, 1),
    (batch_at_size_limit, 0.05),
    (batch_too_large, 0.05),
    (batch_not_an_array, 0.5),
    (batch_bad_encoding, 0.5),
    (batch_bad_json, 0.7),
)


def hostile_messages(seed: int, count: int, now_ms: int) -> Iterator[HostileMessage]:
    """`count` labelled messages from GATEWAY; the same (seed, count, now_ms), the same bytes."""
    forge = _Forge(seed, now_ms)
    builders = [builder for builder, _ in MESSAGE_CASES]
    weights = [weight for _, weight in MESSAGE_CASES]
    for _ in range(count):
        yield forge.rng.choices(builders, weights=weights)[0](forge)


def poison(count: int) -> Iterator[HostileMessage]:
    """Lamp readings whose integer `ts` has 313 digits (issue 13: once they stalled the ingester).
    Each is `out_of_range` whatever the clock, so no `now_ms` is needed."""
    for n in range(count):
        topic = f"streetwatch/{GATEWAY}/lamp/P{n % 1000:04d}"
        payload = b'{"ts": %s, "on": true}' % str(10**312 + n).encode()
        yield _rejected_whole("poison:ts_313_digits", topic, payload, "out_of_range")


def valid_lamps(count: int, now_ms: int) -> Iterator[HostileMessage]:
    """Plain valid lamp readings, each its own point (one ms apart, from an hour before `now_ms`)."""
    for n in range(count):
        ts, lamp = now_ms - HOUR_MS + n, f"V{n:05d}"
        payload = json.dumps({"ts": ts, "on": True, "dim": n % 101}).encode()
        topic = f"streetwatch/{GATEWAY}/lamp/{lamp}"
        yield _message("valid_lamp", topic, payload, Stored("lamp", lamp, ts, "valid_lamp"))

