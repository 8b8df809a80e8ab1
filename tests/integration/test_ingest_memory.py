"""Memory is bounded in bytes: 1 MiB batch payloads during an InfluxDB outage.

The broker's in-flight window bounds messages (10,000), not bytes: 10,000 batch payloads of 1 MiB
would be 10 GiB in the ingester. With the byte bound the ingester stops reading at the bound (the
broker keeps the rest), its peak resident memory stays within the bound plus its own footprint,
and once InfluxDB is back every reading is stored. Also checks /metrics and /healthz of the real
process while it waits.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx

from streetwatch.influx import InfluxClient
from streetwatch.registry.migrate import upgrade
from streetwatch.services.process import free_port

from processes import env_for, publish_as, wait_for

MIB = 1024 * 1024
QUEUE_BOUND = 24 * MIB
PAYLOADS = 80
ITEMS = 8_800  # ~1,038,000 bytes per payload: just under the contract's 1 MiB batch limit
# What the ingester may hold beyond the bound: the message being parsed (1 MiB of JSON becomes
# ~10 MB of Python objects for a moment), allocator slack and the HTTP client's buffers.
SLACK = 48 * MIB


def batch_payload(n: int, now_ms: int) -> bytes:
    items = [{"kind": "lamp", "id": f"L{i:05d}", "ts": now_ms - n * 1_000 - i % 1_000,
              "on": True, "dim": 80, "power_w": 61.5, "voltage_v": 229.8, "pad": "x" * 8}
             for i in range(ITEMS)]
    payload = json.dumps(items, separators=(",", ":")).encode()
    assert MIB - 100_000 < len(payload) < MIB, len(payload)
    return payload


def kib(pid: int, field: str) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", status, re.M).group(1)) * 1024


def metric(text: str, name: str) -> float:
    match = re.search(rf"^streetwatch_ingest_{name} ([0-9.e+]+)$", text, re.M)
    assert match, name
    return float(match.group(1))


def test_batch_payloads_during_an_outage_stay_within_the_byte_bound(e2e, mosquitto, fresh_influxd):
    private = fresh_influxd()
    port = free_port()
    e2e.settings = e2e.settings.model_copy(update={"influx_url": private.url})
    e2e.env = env_for(e2e.settings, INGEST_MAX_QUEUE_BYTES=str(QUEUE_BOUND),
                      INGEST_METRICS_PORT=str(port), INGEST_BATCH_SIZE="1000")
    e2e.ingester.env = e2e.env
    upgrade(e2e.settings.sql_url())
    e2e.ingester.start()
    pid = e2e.ingester.process.pid
    metrics_url = f"http://127.0.0.1:{port}"
    base_rss = kib(pid, "VmRSS")
    private.server.stop()

    now = int(time.time() * 1000)
    publish_as(mosquitto, "gw1", [("streetwatch/gw1/batch", batch_payload(n, now))
                                  for n in range(PAYLOADS)])
    text = wait_for(lambda: (t := httpx.get(f"{metrics_url}/metrics").text)
                    and metric(t, "queue_full") == 1 and t, 120,
                    "the ingester to stop reading at its byte bound")
    assert metric(text, "queue_bytes") <= QUEUE_BOUND + 2 * MIB
    assert metric(text, "messages_received_total") < PAYLOADS  # the broker holds the rest
    health = httpx.get(f"{metrics_url}/healthz")
    assert health.status_code == 200 and health.json()["oldest_unacked_age_s"] > 0
    peak = kib(pid, "VmHWM") - base_rss
    assert peak < QUEUE_BOUND + SLACK, f"peak RSS grew by {peak / MIB:.0f} MiB"

    private.server.start()
    with InfluxClient(private.url, e2e.settings.influx_db) as influx:
        wait_for(lambda: (influx.scalar('SELECT count("on") FROM lamp') or 0) == PAYLOADS * ITEMS,
                 300, f"all {PAYLOADS * ITEMS} readings after the outage", every_s=1)
    final_peak = kib(pid, "VmHWM") - base_rss
    assert final_peak < QUEUE_BOUND + SLACK, f"peak RSS grew by {final_peak / MIB:.0f} MiB"
    assert e2e.ingester.stop() == 0
