"""The walking skeleton end to end: simulator -> real Mosquitto -> ingester process -> real influxd.

Every published reading must be in InfluxDB exactly once, also across a kill -9 of the ingester, a
20 s InfluxDB outage and a broker restart; bad input ends in `ingest_reject` and the dead-letter
file, never a crash.
"""

from __future__ import annotations

import json
import time

from pydantic import SecretStr

from ingest.dead_letter import read_dead_letters
from streetwatch.influx import InfluxClient
from streetwatch.registry.migrate import upgrade
from streetwatch.registry.store import make_engine, upsert_devices
from streetwatch.settings import INGEST_USER

from processes import (
    env_for,
    finish_simulator,
    publish_as,
    register,
    sim_args,
    stored,
    wait_for,
    write_passwords,
)
from wire_cases import MALFORMED, SPOOF_LAMP


def assert_each_device_once_per_round(influx: InfluxClient, lamps: int, rounds: int) -> None:
    per_lamp = influx.rows('SELECT count("on") FROM lamp GROUP BY lamp')
    assert len(per_lamp) == lamps
    assert {row["count"] for row in per_lamp} == {rounds}


def test_every_published_reading_is_stored_exactly_once(e2e):
    register(e2e.settings, seed=11, gateways=4, lamps=1000, drains=100)
    e2e.ingester.start()
    summary = finish_simulator(*e2e.simulate(*sim_args(11, 4, 1000, 100, rounds=3)))
    expected = summary["readings"]
    assert expected["lamp"] == 3000 and expected["drain"] == 300
    wait_for(lambda: stored(e2e.influx) == expected, 120,
             f"InfluxDB to hold {expected}", every_s=0.5)
    assert_each_device_once_per_round(e2e.influx, lamps=1000, rounds=3)
    assert e2e.influx.scalar("SELECT count(\"on\") FROM lamp WHERE zone = 'unassigned'") is None
    zones = {row["zone"] for row in e2e.influx.rows('SELECT count("on") FROM lamp GROUP BY zone')}
    assert zones == {"Z01", "Z02", "Z03", "Z04"}
    assert e2e.ingester.stop() == 0


def test_batch_payloads_are_stored_exactly_once(e2e):
    register(e2e.settings, seed=12, gateways=2, lamps=400, drains=40)
    e2e.ingester.start()
    summary = finish_simulator(*e2e.simulate(*sim_args(12, 2, 400, 40, rounds=2), "--batch", "50"))
    expected = summary["readings"]
    assert summary["messages"] < sum(expected.values()) / 10
    wait_for(lambda: stored(e2e.influx) == expected, 120, f"InfluxDB to hold {expected}", every_s=0.5)
    assert_each_device_once_per_round(e2e.influx, lamps=400, rounds=2)


def test_kill_9_mid_stream_loses_and_duplicates_nothing(e2e):
    register(e2e.settings, seed=13, gateways=4, lamps=2000, drains=200)
    e2e.ingester.start()
    sim, summary_path = e2e.simulate(*sim_args(13, 4, 2000, 200, rounds=5, rate=2500))
    wait_for(lambda: stored(e2e.influx)["lamp"] >= 1500, 60, "the first readings to land")
    e2e.ingester.kill9()
    at_kill = sum(stored(e2e.influx).values())
    summary = finish_simulator(sim, summary_path)
    expected = summary["readings"]
    assert at_kill < sum(expected.values()), "the kill must happen mid-stream"
    e2e.ingester.start()
    wait_for(lambda: stored(e2e.influx) == expected, 180, f"InfluxDB to hold {expected}", every_s=0.5)
    assert e2e.ingester.stop() == 0  # the stream is quiet now: nothing more can arrive
    assert stored(e2e.influx) == expected, "a late redelivery must not add a duplicate"
    assert_each_device_once_per_round(e2e.influx, lamps=2000, rounds=5)
    final = e2e.ingester.events("ingest.stats")[-1]
    assert final["redelivered"] > 0, "the kill must land between receipt and ack (else this " \
        "test proves nothing about redelivery)"


def test_influxdb_down_for_20_s_mid_stream_loses_nothing(e2e, fresh_influxd):
    private = fresh_influxd()
    e2e.settings = e2e.settings.model_copy(update={"influx_url": private.url})
    e2e.env = env_for(e2e.settings)
    e2e.ingester.env = e2e.env
    e2e.influx = InfluxClient(private.url, e2e.settings.influx_db)
    register(e2e.settings, seed=14, gateways=4, lamps=1000, drains=100)
    e2e.ingester.start()
    sim, summary_path = e2e.simulate(*sim_args(14, 4, 1000, 100, rounds=6, rate=250))
    wait_for(lambda: stored(e2e.influx)["lamp"] >= 300, 60, "the first readings to land")
    private.server.stop()
    outage_ends = time.monotonic() + 20
    wait_for(lambda: e2e.ingester.events("ingest.retry"), 20, "the ingester to notice the outage")
    while time.monotonic() < outage_ends:  # the scenario itself: InfluxDB stays down for 20 s
        assert e2e.ingester.alive
        time.sleep(0.5)
    private.server.start()
    summary = finish_simulator(sim, summary_path)
    expected = summary["readings"]
    wait_for(lambda: stored(e2e.influx) == expected, 180, f"InfluxDB to hold {expected}", every_s=0.5)
    assert_each_device_once_per_round(e2e.influx, lamps=1000, rounds=6)
    assert e2e.ingester.stop() == 0


def test_malformed_inputs_are_rejected_with_reasons_and_the_ingester_keeps_running(e2e, mosquitto):
    upgrade(e2e.settings.sql_url())
    upsert_devices(make_engine(e2e.settings.sql_url()),
                   [{"id": SPOOF_LAMP, "gateway": "gw2", "zone": "Z02", "road": None,
                     "position_on_road": None, "cabinet": None, "lat": None, "lon": None}], [], [])
    e2e.ingester.start()
    now = int(time.time() * 1000)
    bad = [(case.topic, case.payload(now)) for case in MALFORMED]
    sentinel = ("streetwatch/gw1/lamp/L-sentinel", json.dumps({"ts": now, "on": True}).encode())
    publish_as(mosquitto, "gw1", [*bad, sentinel])

    wait_for(lambda: e2e.influx.scalar('SELECT count("on") FROM lamp') == 1, 60, "the sentinel")
    rows = wait_for(lambda: len(rejects := e2e.influx.rows(
        'SELECT count(payload) FROM ingest_reject GROUP BY reason')) and rejects, 30, "rejects")
    by_reason = {row["reason"]: row["count"] for row in rows}
    expected: dict[str, int] = {}
    for case in MALFORMED:
        expected[case.reason] = expected.get(case.reason, 0) + 1
    wait_for(lambda: {r["reason"]: r["count"] for r in e2e.influx.rows(
        'SELECT count(payload) FROM ingest_reject GROUP BY reason')} == expected, 30,
        f"reject counts {expected} (had {by_reason})")
    dead = read_dead_letters(e2e.settings.state_dir / "dead-letter")
    assert sorted(d["reason"] for d in dead) == sorted(c.reason for c in MALFORMED)
    not_utf8 = next(d for d in dead if d["reason"] == "bad_encoding")
    assert "payload_b64" in not_utf8
    assert e2e.ingester.alive
    assert e2e.ingester.stop() == 0


def test_kill_9_while_influxdb_is_down_loses_nothing(e2e, mosquitto, fresh_influxd):
    """The sharpest check of ack-after-write: messages received during an outage are unacked, so
    a crash then costs nothing. (An ingester that acked on receipt would lose the held batch.)"""
    private = fresh_influxd()
    e2e.ingester.env["STREETWATCH_INFLUX_URL"] = private.url
    e2e.influx = InfluxClient(private.url, e2e.settings.influx_db)
    e2e.ingester.start()
    private.server.stop()
    now = int(time.time() * 1000)
    publish_as(mosquitto, "gw1", [
        (f"streetwatch/gw1/lamp/L{i}", json.dumps({"ts": now, "on": True}).encode())
        for i in range(500)
    ])
    wait_for(lambda: e2e.ingester.events("ingest.retry"), 30, "the writer to hold a batch")
    e2e.ingester.kill9()
    private.server.start()
    e2e.ingester.start()
    wait_for(lambda: e2e.influx.scalar('SELECT count("on") FROM lamp') == 500, 60,
             "all 500 readings after the crash")


def test_broker_restart_mid_stream_loses_nothing(e2e, private_broker, tmp_path):
    """A graceful broker restart (persistence on): the ingester's session and its queue survive,
    gateways resend what the broker had not acked, and every reading is stored exactly once."""
    server, credentials = private_broker
    broker_url = SecretStr(server.url_for(INGEST_USER))
    e2e.settings = e2e.settings.model_copy(update={"mqtt_url": broker_url})
    e2e.env = env_for(e2e.settings)
    e2e.ingester.env = e2e.env
    e2e.passwords = write_passwords(tmp_path / "private.json", credentials, ["gw1", "gw2", "gw3", "gw4"])
    register(e2e.settings, seed=15, gateways=4, lamps=1000, drains=100)
    e2e.ingester.start()
    sim, summary_path = e2e.simulate(*sim_args(15, 4, 1000, 100, rounds=6, rate=400))
    wait_for(lambda: stored(e2e.influx)["lamp"] >= 500, 60, "the first readings to land")
    server.stop()
    wait_for(lambda: e2e.ingester.events("ingest.disconnected"), 30, "the ingester to notice")
    server.start()
    wait_for(lambda: len(e2e.ingester.events("ingest.subscribed")) >= 2, 60, "the ingester to resubscribe")
    summary = finish_simulator(sim, summary_path)
    expected = summary["readings"]
    wait_for(lambda: stored(e2e.influx) == expected, 180, f"InfluxDB to hold {expected}", every_s=0.5)
    assert_each_device_once_per_round(e2e.influx, lamps=1000, rounds=6)
    assert e2e.ingester.stop() == 0
