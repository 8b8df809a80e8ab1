"""What the API's routes work with: settings, SQL, InfluxDB, the stores and a clock, built once.

Built by `open_resources` at start (the app's lifespan) or handed in by tests; routes get them
through `resources(request)`, never from module globals (no import-time engines, DESIGN s.7).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import Engine

from api.keys import ApiKeyStore
from streetwatch.alerts.store import AlertStore
from streetwatch.influx import InfluxClient
from streetwatch.registry.store import make_engine
from streetwatch.settings import Settings

T = TypeVar("T")


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Resources:
    """The API's connections and stores; `close` releases what `open_resources` opened."""

    settings: Settings
    engine: Engine
    influx: InfluxClient
    keys: ApiKeyStore
    alerts: AlertStore
    clock: Callable[[], int] = wall_clock_ms
    owned: bool = field(default=False, repr=False)
    _memos: dict[str, Any] = field(default_factory=dict, repr=False)

    def memo(self, name: str, make: Callable[[], T]) -> T:
        """This process's one `make()` under `name`: state a route keeps between requests
        (e.g. api/lighting.py LastPoints), created on first use."""
        if name not in self._memos:
            self._memos[name] = make()
        return self._memos[name]

    def close(self) -> None:
        if self.owned:
            self.influx.close()
            self.engine.dispose()


def open_resources(settings: Settings, clock: Callable[[], int] = wall_clock_ms) -> Resources:
    """Engine, InfluxDB client and stores for `settings` (the webhook outbox as the runner's)."""
    engine = make_engine(settings.sql_url())
    webhooks = [url.get_secret_value() for url in settings.alert_webhooks]
    return Resources(settings, engine, InfluxClient.from_settings(settings), ApiKeyStore(engine),
                     AlertStore(engine, webhooks), clock, owned=True)


async def resources(request: Request) -> Resources:
    """FastAPI dependency: the app's resources (async: no worker-thread hand-off for this)."""
    return request.app.state.resources


Res = Annotated[Resources, Depends(resources)]  # a route's parameter: `res: Res`
