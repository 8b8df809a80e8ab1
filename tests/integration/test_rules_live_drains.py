"""The live rule runner's drain half against a real Mosquitto, influxd and SQLite: baselines
learned on start from stored history, a storm surge as a high_water notice on the blue topic (no
blockage), an open cover as a red alert with its 6 h deadline, and replay agreeing with all of it.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from rules.stored_replay import stored_replay_lines
from streetwatch.influx import InfluxClient
from streetwatch.lineproto import SeriesTags, drain_line, rain_line
from streetwatch.registry.migrate import upgrade
from streetwatch.registry.store import make_engine, upsert_devices
from streetwatch.schemas import DrainReading, RainReading
from streetwatch.settings import RULES_USER

from processes import drop_session, publish_as, wait_for
from rule_live import AlertWatcher, start_runner

TAGS = SeriesTags("gw1", "Z1", None)
TEN_MIN = 600_000


@pytest.fixture
def drains(settings_for, mosquitto):
    """D1 (a configured band, 10-30 cm) -> D2 -> D3 (bands to learn) and gauge R1, in Z1."""
    settings = settings_for(username=RULES_USER, town_timezone="UTC", rules_every_s=1,
                            baseline_window_days=3, baseline_min_samples=3)
    upgrade(settings.sql_url())
    sql = make_engine(settings.sql_url())
    upsert_devices(sql, [], [
        {"id": "D1", "gateway": "gw1", "zone": "Z1", "depth_cm": 200.0, "downstream_id": "D2",
         "normal_low_cm": 10.0, "normal_high_cm": 30.0},
        {"id": "D2", "gateway": "gw1", "zone": "Z1", "depth_cm": 200.0, "downstream_id": "D3"},
        {"id": "D3", "gateway": "gw1", "zone": "Z1", "depth_cm": 200.0}],
        [{"id": "R1", "gateway": "gw1", "zone": "Z1"}])
    drop_session(mosquitto.host, mosquitto.port, RULES_USER, mosquitto.password(RULES_USER))
    yield settings, sql
    drop_session(mosquitto.host, mosquitto.port, RULES_USER, mosquitto.password(RULES_USER))
    sql.dispose()


def dry_history(now_ms: int) -> list[str]:
    """Three dry days (and today so far) of D2 and D3 at 19.5 / 20.5 cm, every 10 min, R1 at 0."""
    midnight = datetime.fromtimestamp(now_ms / 1000, UTC).replace(hour=0, minute=0, second=0,
                                                                  microsecond=0)
    first = int((midnight - timedelta(days=3)).timestamp() * 1000)
    lines = []
    for k, ts in enumerate(range(first, now_ms - 120_000, TEN_MIN)):
        lines.append(rain_line("R1", TAGS, RainReading(ts=ts, rain_mm=0.0)))
        lines += [drain_line(d, TAGS, DrainReading(ts=ts, level_cm=19.5 + k % 2))
                  for d in ("D2", "D3")]
    return lines


def drain_message(drain: str, ts: int, level: float, cover: bool = False) -> tuple[str, bytes]:
    return f"streetwatch/gw1/drain/{drain}", json.dumps(
        {"ts": ts, "level_cm": level, "battery_v": 3.6, "cover_open": cover}).encode()


def test_live_drains_learn_on_start_notice_a_storm_raise_an_open_cover_and_agree_with_replay(
        drains, mosquitto):
    settings, sql = drains
    now = int(time.time() * 1000)
    with InfluxClient.from_settings(settings) as influx:
        influx.write_lines(dry_history(now))
    runner, stop, thread = start_runner(settings, sql)
    watcher = AlertWatcher(mosquitto)
    sent: list[tuple[str, bytes]] = []
    try:
        assert runner.subscribed.wait(10)
        d2 = runner.core.drains.drains["D2"]
        assert len(d2.history.days) >= 3  # its readings of the last days, read from storage
        t0 = int(time.time() * 1000)
        storm = [("streetwatch/gw1/rain/R1", json.dumps({"ts": t0, "rain_mm": 6.0}).encode())]
        for second in (0, 1):  # the judged level is the median of three: two readings up
            storm += [drain_message(d, t0 + second * 1000, 20.0 if d == "D1" else 60.0)
                      for d in ("D1", "D2", "D3")]
        publish_as(mosquitto, "gw1", storm)
        sent += storm
        notice = wait_for(lambda: [e for e in watcher.events if e["type"] == "notice"], 15,
                          "the high_water notice on the blue topic")
        cover = [drain_message("D1", t0 + 2000, 20.0, cover=True)]
        publish_as(mosquitto, "gw1", cover)
        sent += cover
        raised = wait_for(lambda: [e for e in watcher.events if e.get("kind") == "cover_open"],
                          15, "cover_open on the red topic")
    finally:
        stop.set()
        thread.join(10)
        watcher.close()
    assert d2.bands and all(abs(b.median_cm - 20) < 0.6 for b in d2.bands.values())
    assert notice[0]["_topic"] == "streetwatch/alerts/Z1/blue"
    assert notice[0]["kind"] == "high_water" and notice[0]["drains"] == ["D2", "D3"]
    assert raised[0]["_topic"] == "streetwatch/alerts/Z1/red"
    deadline = datetime.fromtimestamp((t0 + 2000) / 1000 + 6 * 3600, UTC)
    assert raised[0]["deadline"] == deadline.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    assert [e for e in watcher.events if e.get("kind") == "blockage"] == []  # the storm's water
    stored = runner.store.list_alerts(open_only=True)
    assert [(a.kind, a.subject, a.severity) for a in stored] == [("cover_open", "drain:D1", "red")]

    # The same readings in storage, as the ingester writes them: replay says the same.
    with InfluxClient.from_settings(settings) as influx:
        influx.write_lines([_stored(topic, payload) for topic, payload in sent])
    replayed = [json.loads(x) for x in stored_replay_lines(settings, t0 - 1000, t0 + 5000, 1,
                                                           warm_up_s=60)]
    assert sorted(map(_key, replayed)) == sorted(map(_key, watcher.events))


def _key(event: dict) -> tuple:
    return (event["type"], event.get("event"), event["kind"], event.get("subject"), event["ts"])


def _stored(topic: str, payload: bytes) -> str:
    body = json.loads(payload)
    kind, device = topic.split("/")[2:]
    if kind == "rain":
        return rain_line(device, TAGS, RainReading(**body))
    return drain_line(device, TAGS, DrainReading(**body))

