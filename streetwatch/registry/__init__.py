"""The device registry (SQL): lamps, drains and rain gauges with their gateway, zone and place.

`store` reads and writes it, `csv_import` loads an operator's CSV file into it, `migrate` creates
and upgrades its tables (Alembic), `cli` exposes `streetwatch db ...` and `streetwatch devices ...`.
Nothing here touches a database at import time.
"""

from streetwatch.registry.models import DEVICE_ID_PATTERN, Drain, Lamp, RainGauge
from streetwatch.registry.store import (
    DeviceInfo,
    DeviceKind,
    UpsertCounts,
    load_device_index,
    make_engine,
    upsert_devices,
)

__all__ = [
    "DEVICE_ID_PATTERN",
    "DeviceInfo",
    "DeviceKind",
    "Drain",
    "Lamp",
    "RainGauge",
    "UpsertCounts",
    "load_device_index",
    "make_engine",
    "upsert_devices",
]
