"""An in-memory copy of the device registry for per-message lookups, refreshed in the background.

Lookups must cost a dict access in paho's thread; the whole index is swapped atomically on refresh.
A registry that cannot be read (no tables yet, database down) keeps the last good index, so
readings are still stored (as `unassigned` at worst) rather than lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from ingest.validation import KnownDevice
from streetwatch.logs import log_event

log = logging.getLogger("streetwatch.ingest")

IndexLoader = Callable[[], Mapping[tuple[str, str], KnownDevice]]


class DeviceDirectory:
    """Holds `index`: (kind, device id) -> registered device."""

    def __init__(self, load: IndexLoader, refresh_s: float = 30.0) -> None:
        self._load = load
        self.refresh_s = refresh_s
        self.index: Mapping[tuple[str, str], KnownDevice] = {}

    def refresh(self) -> bool:
        try:
            index = self._load()
        except Exception as exc:  # noqa: BLE001 -- any registry failure: keep the last index
            log_event(log, "ingest.registry_unreadable", logging.WARNING, error=str(exc)[:300],
                      hint="run `streetwatch db upgrade`; readings are stored as zone 'unassigned'")
            return False
        changed = len(index) != len(self.index)
        self.index = index
        if changed:
            log_event(log, "ingest.registry_loaded", devices=len(index))
        return True

    def start_refreshing(self, stop: threading.Event) -> None:
        """Load now, then again every `refresh_s` on a daemon thread until `stop`."""
        self.refresh()

        def loop() -> None:
            while not stop.wait(self.refresh_s):
                self.refresh()

        threading.Thread(target=loop, name="registry-refresh", daemon=True).start()
