"""The ingester process at its edges: refused points, a dropped database, SIGTERM, gateway status."""

from __future__ import annotations

import json
import time

from ingest.dead_letter import read_dead_letters
from processes import publish_as, wait_for
from streetwatch.errors import InfluxRejected


def lamp(device: str, ts: int, **fields) -> tuple[str, bytes]:
    return f"streetwatch/gw1/lamp/{device}", json.dumps({"ts": ts, "on": True, **fields}).encode()


def test_a_point_influxdb_refuses_is_dead_lettered_and_the_rest_of_its_batch_is_stored(e2e, mosquitto):
    now = int(time.time() * 1000)
    # Make `dim` a string field in this shard: the next int `dim` is a field type conflict.
    e2e.influx.write_lines([f'lamp,gateway=gw0,lamp=L0,zone=unassigned dim="x" {now - 1000}'])
    e2e.ingester.start()
    publish_as(mosquitto, "gw1", [lamp("L1", now), lamp("L2", now, dim=50), lamp("L3", now)])
    wait_for(lambda: e2e.influx.scalar(
        "SELECT count(payload) FROM ingest_reject WHERE reason = 'storage_rejected'"), 60,
        "the refused point to be recorded")
    assert e2e.influx.scalar("SELECT count(\"on\") FROM lamp WHERE gateway = 'gw1'") == 2
    dead = read_dead_letters(e2e.settings.state_dir / "dead-letter")
    assert [d["reason"] for d in dead] == ["storage_rejected"]
    assert "lamp=L2" in dead[0]["payload"] and "conflict" in dead[0]["detail"]
    assert e2e.ingester.alive


def test_a_dropped_database_is_recreated_and_nothing_is_lost(e2e, mosquitto):
    e2e.ingester.start()
    e2e.influx.query(f'DROP DATABASE "{e2e.settings.influx_db}"', write=True)
    now = int(time.time() * 1000)
    publish_as(mosquitto, "gw1", [lamp(f"L{i}", now) for i in range(20)])
    wait_for(lambda: lamps_stored(e2e.influx) == 20, 60, "20 lamps in the recreated database")
    assert e2e.ingester.events("ingest.retry"), "the write must have met the missing database"


def lamps_stored(influx) -> int | None:
    """Count of lamp points, or None while the database does not exist (yet)."""
    try:
        return influx.scalar('SELECT count("on") FROM lamp')
    except InfluxRejected:
        return None


def test_sigterm_flushes_the_open_batch_before_exiting(e2e, mosquitto, settings_for):
    # A batch that would otherwise wait a minute: only the SIGTERM flush can store it in time.
    e2e.env["STREETWATCH_INGEST_FLUSH_INTERVAL_S"] = "60"
    e2e.ingester.start()
    now = int(time.time() * 1000)
    readings = [lamp(f"L{i}", now) for i in range(50)]
    publish_as(mosquitto, "gw1", [*readings, ("streetwatch/gw1/status", b"online")])
    wait_for(lambda: e2e.ingester.events("ingest.gateway_status"), 30, "the ingester to read all")
    assert e2e.influx.scalar('SELECT count("on") FROM lamp') is None
    assert e2e.ingester.stop(timeout_s=30) == 0
    assert e2e.influx.scalar('SELECT count("on") FROM lamp') == 50
    assert e2e.influx.rows("SELECT online FROM gateway_status")[0]["online"] is True
    final = e2e.ingester.events("ingest.stats")[-1]
    assert final["acked"] == 51 and final["unregistered"] == 50


def test_a_restart_after_sigterm_redelivers_nothing(e2e, mosquitto):
    e2e.ingester.start()
    now = int(time.time() * 1000)
    publish_as(mosquitto, "gw1", [lamp(f"L{i}", now) for i in range(30)])
    wait_for(lambda: e2e.influx.scalar('SELECT count("on") FROM lamp') == 30, 60, "30 lamps")
    assert e2e.ingester.stop() == 0
    e2e.ingester.start()
    publish_as(mosquitto, "gw1", [("streetwatch/gw1/status", b"online")])
    wait_for(lambda: e2e.ingester.events("ingest.gateway_status"), 30, "the marker")
    assert e2e.ingester.stop() == 0
    assert e2e.ingester.events("ingest.stats")[-1]["received"] == 1, "acked messages came back"
