"""An API under test: the real app (in-process, over httpx's ASGI transport) on a migrated SQL
database and a real InfluxDB database, with one key per role and a clock the test moves.

Keys are hashed at a low scrypt cost here (`TEST_SCRYPT_N`) so a test can make many; the
production cost is tested in tests/unit/test_api_keys.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from fastapi.testclient import TestClient

from api.app import create_app
from api.keys import ROLES, ApiKeyStore
from api.resources import Resources
from streetwatch.alerts.store import AlertStore
from streetwatch.influx import InfluxClient
from streetwatch.registry import migrate
from streetwatch.registry.store import make_engine
from streetwatch.settings import Settings

TEST_SCRYPT_N = 2**4
T0_MS = 1_795_392_000_000  # 2026-11-23T00:00:00Z
ZONE_CREW = "crew@north"  # the key name of the crew key bound to zone `north`


@dataclass
class ManualClock:
    """Epoch milliseconds that move only when the test says so."""

    now_ms: int = T0_MS

    def __call__(self) -> int:
        return self.now_ms


@dataclass
class ApiWorld:
    """The app, its resources, keys by role (`viewer` .. `admin`, and ZONE_CREW), the clock."""

    client: TestClient
    res: Resources
    clock: ManualClock
    keys: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The key's Authorization header (none for `who=None`) with `extra` headers."""
        own = {} if who is None else {"Authorization": f"Bearer {self.keys[who]}"}
        return {**own, **(extra or {})}

    def get(self, path: str, who: str | None = "admin", **kwargs):  # noqa: ANN201
        return self.request("GET", path, who, **kwargs)

    def post(self, path: str, who: str | None = "admin", **kwargs):  # noqa: ANN201
        return self.request("POST", path, who, **kwargs)

    def request(self, method: str, path: str, who: str | None = "admin", **kwargs):  # noqa: ANN201
        headers = self.headers(who, kwargs.pop("headers", None))
        return self.client.request(method, path, headers=headers, **kwargs)


@contextmanager
def api_world(settings: Settings) -> Iterator[ApiWorld]:
    """The API over `settings`' SQL (migrated here) and InfluxDB database."""
    sql_url = settings.sql_url()
    migrate.upgrade(sql_url)
    engine = make_engine(sql_url)
    influx = InfluxClient.from_settings(settings)
    clock = ManualClock()
    keys = ApiKeyStore(engine, scrypt_n=TEST_SCRYPT_N)
    res = Resources(settings, engine, influx, keys, AlertStore(engine), clock)
    world = ApiWorld(TestClient(create_app(settings, res)), res, clock)
    for role in ROLES:
        world.keys[role] = keys.create(role, role, None, clock())[1]
    world.keys[ZONE_CREW] = keys.create(ZONE_CREW, "crew", ["north"], clock())[1]
    try:
        yield world
    finally:
        world.client.close()
        influx.close()
        engine.dispose()
