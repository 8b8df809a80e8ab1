"""An in-memory copy of the device registry for per-message lookups, refreshed in the background.

Lookups must cost a dict access in paho's thread; the whole index is swapped atomically on refresh.
The ingester does not consume until the registry has been read once (`wait_loaded`): an unreadable
registry is not an empty one, and treating it as empty would store every reading as `unassigned`
and switch the spoof check off. Once loaded, a failed refresh keeps the last good index.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from streetwatch.logs import log_event
from streetwatch.validation import KnownDevice

log = logging.getLogger("streetwatch.ingest")

IndexLoader = Callable[[], Mapping[tuple[str, str], KnownDevice]]


class DeviceDirectory:
    """Holds `index`: (kind, device id) -> registered device."""

    def __init__(self, load: IndexLoader, refresh_s: float = 30.0) -> None:
        self._load = load
        self.refresh_s = refresh_s
        self.index: Mapping[tuple[str, str], KnownDevice] = {}
        self.loaded = False

    def refresh(self) -> bool:
        """Reload the index; False (and the last good index kept) when the registry is unreadable."""
        try:
            index = self._load()
        except Exception as exc:  # noqa: BLE001 -- any registry failure: keep the last index
            log_event(log, "ingest.registry_unreadable", logging.WARNING, error=str(exc)[:300],
                      loaded_before=self.loaded, devices_kept=len(self.index),
                      hint="check STREETWATCH_DATABASE_URL and run `streetwatch db upgrade`")
            return False
        changed = not self.loaded or len(index) != len(self.index)
        self.index = index
        self.loaded = True
        if changed:
            log_event(log, "ingest.registry_loaded", devices=len(index))
        return True

    def wait_loaded(self, stop: threading.Event, max_delay_s: float = 10.0) -> bool:
        """Retry the first load (backoff up to `max_delay_s`) until it succeeds (True) or `stop`."""
        delay_s = 0.5
        while not self.refresh():
            log_event(log, "ingest.registry_waiting", logging.ERROR, retry_in_s=delay_s,
                      hint="the ingester consumes nothing until the device registry can be read")
            if stop.wait(delay_s):
                return False
            delay_s = min(delay_s * 2, max_delay_s)
        return True

    def start_refreshing(self, stop: threading.Event) -> None:
        """Reload every `refresh_s` on a daemon thread until `stop` (call after `wait_loaded`)."""

        def loop() -> None:
            while not stop.wait(self.refresh_s):
                self.refresh()

        threading.Thread(target=loop, name="registry-refresh", daemon=True).start()
