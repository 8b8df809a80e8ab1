"""Phases 1 and 2: the two ceilings the ingester is measured against, each with nothing between.

1. paho receive: a bare paho client drains the messages the broker queued for its session;
2. InfluxDB write: pre-encoded lamp points, `InfluxClient.write_lines`, from 2 writer threads.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt

from streetwatch.errors import ServiceError
from streetwatch.influx import InfluxClient

from cpu_meter import CpuMeter
from figures import BenchError, Figure
from local_services import Services, lamp_count
from mqtt_load import PahoClient

INFLUX_BATCH_POINTS = 5_000
INFLUX_WRITERS = 2


def paho_receive_ceiling(services: Services, client_id: str, expected: int) -> Figure:
    """Time a bare paho client from connect() to the N-th queued message (on_message only counts)."""
    received = 0
    done = threading.Event()
    finished_at = 0.0

    def on_message(client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        nonlocal received, finished_at
        received += 1
        if received == expected:
            finished_at = time.perf_counter()
            done.set()

    client = PahoClient(services, services.ingest_login(client_id), client_id, clean=False)
    client.client.on_message = on_message
    meter = CpuMeter({"bench (paho)": os.getpid(), **services.pids}).start()
    started_at = time.perf_counter()
    client.connect()
    try:
        client.wait(done.is_set, max(60, expected / 1000), f"{expected} queued messages")
    except ServiceError as exc:
        raise BenchError(
            f"got {received} of {expected} queued messages (more than max_queued_messages?): {exc}"
        ) from None
    finally:
        cpu = meter.stop()
        client.close()
    return Figure(
        "paho_receive",
        "paho receive ceiling (QoS 1, 3.1.1)",
        "msg/s",
        expected,
        finished_at - started_at,
        cpu,
    )


def influx_write_ceiling(services: Services, database: str, lines: list[str]) -> Figure:
    """`write_lines` of 5,000-point batches from 2 threads, each with its own InfluxClient."""
    url = services.influxd.url
    with InfluxClient(url, database) as admin:
        admin.create_database()
    chunks = iter(
        [lines[i : i + INFLUX_BATCH_POINTS] for i in range(0, len(lines), INFLUX_BATCH_POINTS)]
    )
    lock = threading.Lock()
    errors: list[BaseException] = []

    def writer() -> None:
        with InfluxClient(url, database, timeout_s=60) as influx:
            while (chunk := _next(chunks, lock)) is not None:
                try:
                    influx.write_lines(chunk)
                except BaseException as exc:  # noqa: BLE001 -- reported after join
                    errors.append(exc)
                    return

    threads = [
        threading.Thread(target=writer, name=f"influx-writer-{n}") for n in range(INFLUX_WRITERS)
    ]
    meter = CpuMeter({"bench (writers)": os.getpid(), "influxd": services.pids["influxd"]}).start()
    started_at = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started_at
    cpu = meter.stop()
    if errors:
        raise BenchError(f"InfluxDB ceiling write failed: {errors[0]!r}")
    _check_count(url, database, len(lines))
    return Figure(
        "influx_write",
        f"InfluxDB write ceiling ({INFLUX_WRITERS} writers x {INFLUX_BATCH_POINTS})",
        "points/s",
        len(lines),
        seconds,
        cpu,
    )


def _next(chunks: Iterator[list[str]], lock: threading.Lock) -> list[str] | None:
    with lock:
        return next(chunks, None)


def _check_count(url: str, database: str, expected: int) -> None:
    with InfluxClient(url, database) as influx:
        stored = lamp_count(influx)
    if stored != expected:
        raise BenchError(f"{database}: InfluxDB holds {stored} lamp points, expected {expected}")
