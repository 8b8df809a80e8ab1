"""The ingester process at its edges: refused points, a dropped database, SIGTERM, gateway status."""

from __future__ import annotations

import json
import time

from ingest.dead_letter import read_dead_letters
from streetwatch.errors import InfluxRejected
from streetwatch.registry.migrate import upgrade

from processes import finish_simulator, publish_as, register, sim_args, stored, wait_for


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


def live_status_seen(ingester) -> bool:
    """The test's own (non-retained) status marker arrived; earlier messages came before it."""
    return any(not e["retained"] for e in ingester.events("ingest.gateway_status"))


def test_sigterm_stores_and_acks_the_open_batch_so_a_restart_gets_nothing_back(e2e, mosquitto):
    # A batch that would otherwise wait a minute: only the SIGTERM flush can store it in time.
    e2e.env["STREETWATCH_INGEST_FLUSH_INTERVAL_S"] = "60"
    e2e.ingester.start()
    now = int(time.time() * 1000)
    readings = [lamp(f"L{i}", now) for i in range(50)]
    publish_as(mosquitto, "gw1", [*readings, ("streetwatch/gw1/status", b"online")])
    wait_for(lambda: live_status_seen(e2e.ingester), 30, "the ingester to read all")
    assert e2e.influx.scalar('SELECT count("on") FROM lamp') is None
    assert e2e.ingester.stop(timeout_s=30) == 0
    assert e2e.influx.scalar('SELECT count("on") FROM lamp') == 50
    assert e2e.influx.rows("SELECT online FROM gateway_status")[0]["online"] is True
    assert e2e.ingester.events("ingest.stats")[-1]["unregistered"] == 50

    e2e.ingester.start()  # same persistent session: anything unacked would come back (DUP set)
    publish_as(mosquitto, "gw1", [("streetwatch/gw1/status", b"offline")])
    wait_for(lambda: live_status_seen(e2e.ingester), 30, "the marker")
    assert e2e.ingester.stop() == 0
    final = e2e.ingester.events("ingest.stats")[-1]
    assert final["redelivered"] == 0, "the batch flushed at SIGTERM was not acked"
    assert e2e.influx.scalar('SELECT count("on") FROM lamp') == 50


def test_sigterm_under_load_acks_all_it_stored_so_nothing_is_stored_twice(e2e):
    """SIGTERM while the broker is still streaming: every ack of the final flush must reach the
    broker. A stored-but-unacked reading would come back after restart and, with its zone changed
    in the registry meanwhile, land in a second series: one reading stored twice."""
    upgrade(e2e.settings.sql_url())  # an empty registry: run 1 stores every reading 'unassigned'
    e2e.ingester.start()
    sim, summary_path = e2e.simulate(*sim_args(16, 2, 500, 50, rounds=8, rate=1000))
    wait_for(lambda: (stored(e2e.influx)["lamp"] or 0) >= 1000, 60, "readings to flow")
    assert e2e.ingester.stop() == 0
    register(e2e.settings, seed=16, gateways=2, lamps=500, drains=50)  # zones change now
    summary = finish_simulator(sim, summary_path)
    assert summary["messages"] > sum(stored(e2e.influx).values()), "SIGTERM must come mid-stream"
    e2e.ingester.start()
    expected = summary["readings"]
    wait_for(lambda: stored(e2e.influx) == expected, 120, f"InfluxDB to hold {expected}")
    assert e2e.ingester.stop() == 0
    assert stored(e2e.influx) == expected
