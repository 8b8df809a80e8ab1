"""Broker accounts: the credential store (JSON, mode 0600) and Mosquitto 2.0 password-file lines.

Passwords are generated here and kept in clear in `<state_dir>/credentials.json` because the
ingester, the rule engine and the simulators must log in with them; the broker only ever sees the
`$7$` PBKDF2-SHA512 hash, computed in Python so hundreds of gateways cost no subprocess each.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable
from pathlib import Path

from streetwatch.errors import ConfigError
from streetwatch.schemas import ID_PATTERN
from streetwatch.services.process import file_lock, write_atomically
from streetwatch.settings import SERVICE_INSTANCE_PATTERN

GATEWAY_ID_PATTERN = re.compile(ID_PATTERN)  # the wire contract's id rule (schemas.py)
# `alerts` is the rule engine's topic level (streetwatch/alerts/...): a gateway of that name could
# publish fake alerts through `pattern write streetwatch/%u/#`.
RESERVED_GATEWAY_IDS = frozenset({"alerts"})
# Service accounts: `ingest@streetwatch`, `rules@streetwatch` and one per instance,
# `ingest.<instance>@streetwatch` (settings.ingest_account). The role decides the ACL block.
SERVICE_ROLES = ("ingest", "rules")
SERVICE_ACCOUNT_PATTERN = re.compile(
    rf"(?P<role>{'|'.join(SERVICE_ROLES)})(?:\.{SERVICE_INSTANCE_PATTERN})?@streetwatch"
)

PBKDF2_ITERATIONS = 101  # mosquitto_passwd 2.0's default
SALT_BYTES = 12


def validate_gateway_id(gateway_id: str) -> str:
    """Return `gateway_id` if it can be a broker username and topic level; ConfigError otherwise."""
    if not GATEWAY_ID_PATTERN.fullmatch(gateway_id):
        raise ConfigError(
            f"invalid gateway id {gateway_id!r}: must match {GATEWAY_ID_PATTERN.pattern} "
            "(letters, digits, '_', '.', '-'; 1 to 64 characters)"
        )
    if gateway_id in RESERVED_GATEWAY_IDS:
        raise ConfigError(
            f"gateway id {gateway_id!r} is reserved: streetwatch/{gateway_id}/... carries the "
            "rule engine's alerts; choose another id"
        )
    return gateway_id


def service_role(username: str) -> str | None:
    """`ingest` or `rules` for a service account (base or instance), None for anything else."""
    match = SERVICE_ACCOUNT_PATTERN.fullmatch(username)
    return match.group("role") if match else None


def validate_username(username: str) -> str:
    """A broker username is a service account (ingest, rules, or an instance of one) or a valid
    gateway id; ConfigError otherwise."""
    return username if service_role(username) else validate_gateway_id(username)


def mosquitto_password_line(username: str, password: str, salt: bytes | None = None) -> str:
    """`user:$7$101$<b64 salt>$<b64 hash>`, byte-for-byte what mosquitto_passwd 2.0 writes."""
    if ":" in username or "\n" in username:
        raise ConfigError(f"username {username!r} cannot go in a password file (':' or newline)")
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    return f"{username}:$7${PBKDF2_ITERATIONS}${_b64(salt)}${_b64(digest)}"


def password_line_matches(line: str, password: str) -> bool:
    """True when the `$7$` hash in a password-file line is `password`'s."""
    try:
        _, hashed = line.split(":", 1)
        _, kind, iterations, salt_b64, digest_b64 = hashed.strip().split("$")
        if kind != "7":
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
        actual = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


class CredentialStore:
    """`{username: password}` in one JSON file, mode 0600, replaced atomically under a file lock."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, str]:
        """Every stored account (empty when the file does not exist yet)."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read credential store {self.path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"credential store {self.path} must hold a JSON object")
        return {str(user): str(password) for user, password in data.items()}

    def ensure(self, usernames: Iterable[str]) -> dict[str, str]:
        """Passwords for `usernames`, generating (and storing) those that are missing."""
        wanted = [validate_username(name) for name in usernames]
        with file_lock(self.path.with_name(self.path.name + ".lock")):
            stored = self.load()
            missing = [name for name in wanted if name not in stored]
            if missing:
                stored.update({name: secrets.token_urlsafe(24) for name in missing})
                self._save(stored)
        return {name: stored[name] for name in wanted}

    def get(self, username: str) -> str:
        """The password of `username`; ConfigError naming the fix when it was never provisioned."""
        try:
            return self.load()[username]
        except KeyError:
            raise ConfigError(
                f"no broker credentials for {username!r} in {self.path}: run "
                f"`streetwatch services up --gateways {username}` (or ensure_gateways) first"
            ) from None

    def _save(self, accounts: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path, json.dumps(accounts, indent=2, sort_keys=True) + "\n", 0o600)
