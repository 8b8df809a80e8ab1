"""API keys: created once, shown once, stored as a prefix and a slow hash, checked in constant time.

A key reads `sw_<prefix>_<secret>`: the 12-hex-digit prefix finds the row (it is not secret), the
secret is 43 URL-safe characters (256 random bits). The row keeps an scrypt hash of the whole key
with its own salt, so a stolen database does not hand out keys. scrypt costs ~50 ms by design; a
key that has passed it once is remembered in this process as its SHA-256 digest (compared with
`hmac.compare_digest`), so requests pay the slow hash once per key and process, not per call.

The row (revocation, role, zones) is read again once its last reading is REREAD_S old: a key
revoked elsewhere (`streetwatch apikey revoke`, another API process) is refused within REREAD_S;
revoked through this store, at once. Requests in between cost no SQL and no worker thread.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, get_args

from sqlalchemy import Engine, insert, select, update

from streetwatch.registry.models import ID_LENGTH, ApiKey
from streetwatch.registry.timestamps import datetime_from_ms, ms_from_datetime
from streetwatch.schemas import ID_PATTERN

Role = Literal["viewer", "crew", "manager", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)  # in order of rights: each holds those before it
RANK = {role: rank for rank, role in enumerate(ROLES)}
KEY_PATTERN = re.compile(r"sw_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1  # 16 MiB, ~50 ms: OWASP's scrypt floor
REREAD_S = 1.0  # how stale a key's row may be: a revocation elsewhere counts within this
_ID_RULE = re.compile(ID_PATTERN)
_TABLE = ApiKey.__table__


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's name, role and zones (None: every zone)."""

    key_id: int
    name: str
    role: Role
    zones: frozenset[str] | None

    def has(self, role: Role) -> bool:
        return RANK[self.role] >= RANK[role]

    def sees(self, zone: str | None) -> bool:
        """Whether this key may see and act on `zone` (a zone-less thing: unbound keys only)."""
        return self.zones is None or (zone is not None and zone in self.zones)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """An API key as listed: never the key itself."""

    id: int
    name: str
    role: Role
    zones: tuple[str, ...] | None
    prefix: str
    created_at_ms: int
    revoked_at_ms: int | None


def hash_key(key: str, salt: bytes | None = None, n: int = SCRYPT_N) -> str:
    """`scrypt$n$r$p$salt$hash` of `key` (base64 parts), with a fresh salt unless given. The
    cost travels with the hash, so raising SCRYPT_N later leaves existing keys valid."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(key.encode(), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P,
                            maxmem=64 * 1024 * 1024, dklen=32)
    return "$".join(("scrypt", str(n), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)))


def key_matches(key: str, stored: str) -> bool:
    """Whether `key` hashes to `stored` (constant-time comparison of the digests)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        again = hashlib.scrypt(key.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
                               maxmem=64 * 1024 * 1024, dklen=32)
    except ValueError:
        return False
    return hmac.compare_digest(again, _unb64(digest))


def check_zones(zones: Iterable[str]) -> tuple[str, ...]:
    """Zone ids by the id rule, sorted and without repeats; ValueError names a bad one."""
    checked = sorted(set(zones))
    for zone in checked:
        if not _ID_RULE.fullmatch(zone):
            raise ValueError(f"zone {zone!r} is not a valid id ({ID_PATTERN})")
    return tuple(checked)


class ApiKeyStore:
    """API keys in SQL: create, list, revoke, and authenticate a presented key."""

    def __init__(self, engine: Engine, scrypt_n: int = SCRYPT_N,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._scrypt_n = scrypt_n  # tests make many keys at a lower cost; service keeps SCRYPT_N
        self._monotonic = monotonic
        self._verified: dict[int, bytes] = {}  # key id -> SHA-256 of a key that passed scrypt
        # SHA-256 of a key -> its principal and when its row was read (monotonic seconds)
        self._recent: dict[bytes, tuple[Principal, float]] = {}

    def create(self, name: str, role: str, zones: Iterable[str] | None,
               now_ms: int) -> tuple[KeyRecord, str]:
        """A new key for `name` with `role` (bound to `zones` when given): its record and the key."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if not 0 < len(name) <= ID_LENGTH or not name.isprintable():
            raise ValueError(f"name must be 1-{ID_LENGTH} printable characters")
        bound = None if zones is None else check_zones(zones)
        if bound is not None and not bound:
            raise ValueError("a zone-bound key needs at least one zone")
        prefix, key = _new_key()
        values = {"name": name, "role": role, "zones": None if bound is None else ",".join(bound),
                  "prefix": prefix, "secret_hash": hash_key(key, n=self._scrypt_n),
                  "created_at": datetime_from_ms(now_ms), "revoked_at": None}
        with self._engine.begin() as conn:
            key_id = conn.execute(insert(_TABLE).values(values)).inserted_primary_key[0]
        return KeyRecord(key_id, name, role, bound, prefix, now_ms, None), key  # type: ignore[arg-type]

    def list(self) -> list[KeyRecord]:
        with self._engine.connect() as conn:
            return [_record(row) for row in conn.execute(select(_TABLE).order_by(_TABLE.c.id))]

    def revoke(self, key_id: int, now_ms: int) -> bool:
        """Revoke key `key_id`; False when unknown or revoked already."""
        with self._engine.begin() as conn:
            done = conn.execute(update(_TABLE)
                                .where(_TABLE.c.id == key_id, _TABLE.c.revoked_at.is_(None))
                                .values(revoked_at=datetime_from_ms(now_ms))).rowcount
        self._recent.pop(self._verified.pop(key_id, b""), None)
        return bool(done)

    def recent(self, key: str) -> Principal | None:
        """The principal of `key` when this store read its row less than REREAD_S ago, else None
        (then `authenticate`). No SQL, no slow hash: safe to call on the event loop."""
        found = self._recent.get(hashlib.sha256(key.encode()).digest())
        if found is None or not 0 <= self._monotonic() - found[1] < REREAD_S:
            return None
        return found[0]

    def authenticate(self, key: str) -> Principal | None:
        """The principal of `key`, or None for a malformed, unknown, wrong or revoked key; its
        row is read now (and remembered for `recent`)."""
        read_at = self._monotonic()
        match = KEY_PATTERN.fullmatch(key)
        if match is None:
            return None
        with self._engine.connect() as conn:
            row = conn.execute(select(_TABLE).where(_TABLE.c.prefix == match.group(1))
                               ).one_or_none()
        digest = hashlib.sha256(key.encode()).digest()
        if row is None or row.revoked_at is not None:
            self._recent.pop(digest, None)
            return None
        known = self._verified.get(row.id)
        if known is None or not hmac.compare_digest(known, digest):
            if not key_matches(key, row.secret_hash):
                return None
            self._verified[row.id] = digest
        principal = principal_of(row.id, row.name, row.role, row.zones)
        self._recent[digest] = (principal, read_at)
        return principal


def principal_of(key_id: int, name: str, role: Role, zones: str | None) -> Principal:
    """The principal of an `api_keys` row's values (zones stored comma-joined, None: every
    zone): the one reading of that column for keys and the console's sessions alike."""
    return Principal(key_id, name, role, None if zones is None else frozenset(zones.split(",")))


def _new_key() -> tuple[str, str]:
    prefix = secrets.token_hex(6)
    return prefix, f"sw_{prefix}_{secrets.token_urlsafe(32)}"


def _record(row: object) -> KeyRecord:
    zones = None if row.zones is None else tuple(row.zones.split(","))  # type: ignore[attr-defined]
    revoked = row.revoked_at  # type: ignore[attr-defined]
    return KeyRecord(row.id, row.name, row.role, zones, row.prefix,  # type: ignore[attr-defined]
                     ms_from_datetime(row.created_at),  # type: ignore[attr-defined]
                     None if revoked is None else ms_from_datetime(revoked))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, base64.binascii.Error) as exc:  # type: ignore[attr-defined]
        raise ValueError("bad base64") from exc
