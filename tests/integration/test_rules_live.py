"""The live rule runner against a real Mosquitto, influxd and SQLite: alerts within seconds of a
gateway's publish, stored once, published on the alert topic, and the same as replay says.

Holds are 1 s and ticks 1 s so a test takes seconds; the lights-on period is a fixed schedule
around the wall clock (UTC), so it is night whenever the test runs.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from api.devices import take_out_of_service
from rules.stored_replay import stored_replay_lines
from streetwatch.alerts.model import Condition
from streetwatch.alerts.store import AlertStore
from streetwatch.influx import InfluxClient
from streetwatch.lineproto import SeriesTags, lamp_line
from streetwatch.registry.migrate import upgrade
from streetwatch.registry.store import make_engine, upsert_devices
from streetwatch.schemas import LampReading
from streetwatch.settings import RULES_USER

from processes import drop_session, publish_as, wait_for
from rule_live import AlertWatcher, start_runner

LAMPS = [f"L{p:03d}" for p in range(1, 7)]


def night_around_now() -> str:
    now = datetime.now(UTC)
    on, off = now - timedelta(hours=3), now + timedelta(hours=3)
    return f"{on:%H:%M}-{off:%H:%M}"


@pytest.fixture
def town(settings_for, mosquitto):
    settings = settings_for(username=RULES_USER, town_timezone="UTC", lights_on_grace_s=0,
                            zone_schedules={"Z1": night_around_now()}, lamp_out_after_s=1,
                            lighting_target=0.5, rules_every_s=1)
    upgrade(settings.sql_url())
    sql = make_engine(settings.sql_url())
    upsert_devices(sql, [{"id": lamp, "gateway": "gw1", "zone": "Z1", "road": "R1",
                          "position_on_road": p} for p, lamp in enumerate(LAMPS, 1)], [], [])
    drop_session(mosquitto.host, mosquitto.port, RULES_USER, mosquitto.password(RULES_USER))
    yield settings, sql
    drop_session(mosquitto.host, mosquitto.port, RULES_USER, mosquitto.password(RULES_USER))
    sql.dispose()


def lamp_message(lamp: str, ts_ms: int, on: bool) -> tuple[str, bytes]:
    return f"streetwatch/gw1/lamp/{lamp}", json.dumps({"ts": ts_ms, "on": on}).encode()


def test_live_alerts_are_fast_stored_once_and_agree_with_replay(town, mosquitto):
    settings, sql = town
    runner, stop, thread = start_runner(settings, sql)
    store, influx = runner.store, runner.influx
    watcher = AlertWatcher(mosquitto)
    sent: list[tuple[str, int, bool]] = []
    try:
        assert runner.subscribed.wait(10)
        t0 = int(time.time() * 1000)
        sent += [(lamp, t0, True) for lamp in LAMPS]
        publish_as(mosquitto, "gw1", [lamp_message(*s) for s in sent])
        dark_at = t0 + 2000
        wait_for(lambda: time.time() * 1000 >= dark_at, 5, "two seconds")
        sent.append(("L003", dark_at, False))
        published = time.time()
        publish_as(mosquitto, "gw1", [lamp_message("L003", dark_at, False)])
        raised = wait_for(lambda: [e for e in watcher.events if e["event"] == "raised"], 15,
                          "lamp_out on the alert topic")
        latency_s = raised[0]["_at"] - published
        lit_at = int(time.time() * 1000)
        sent.append(("L003", lit_at, True))
        publish_as(mosquitto, "gw1", [lamp_message("L003", lit_at, True)])
        wait_for(lambda: [e for e in watcher.events if e["event"] == "resolved"], 15,
                 "the resolution on the alert topic")
    finally:
        stop.set()
        thread.join(10)
        watcher.close()
    assert [(e["event"], e["kind"], e["subject"], e["_topic"]) for e in watcher.events] == [
        ("raised", "lamp_out", "lamp:L003", "streetwatch/alerts/Z1/yellow"),
        ("resolved", "lamp_out", "lamp:L003", "streetwatch/alerts/Z1/yellow"),
    ]
    assert raised[0]["ts"] == datetime.fromtimestamp((dark_at + 1000) / 1000, UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"  # dark since its reading, plus the 1 s hold
    assert latency_s < 5, latency_s  # hold 1 s + lag 0.5 s; the 1 s p99 goal lives in bench/
    alerts = store.list_alerts(open_only=False)
    assert [(a.kind, a.subject, a.state) for a in alerts] == [("lamp_out", "lamp:L003", "resolved")]
    assert [h.event for h in store.history(alerts[0].id)] == ["raised", "resolved"]

    # The same readings, stored as the ingester stores them: replay says the same.
    influx.write_lines([lamp_line(lamp, SeriesTags("gw1", "Z1", "R1"), LampReading(ts=ts, on=on))
                        for lamp, ts, on in sent])
    replayed = [json.loads(x) for x in stored_replay_lines(settings, t0 - 1000, lit_at + 5000, 1,
                                                           warm_up_s=60)]
    live = [(e["event"], e["kind"], e["subject"], e["ts"], e["deadline"]) for e in watcher.events]
    assert [(x["event"], x["kind"], x["subject"], x["ts"], x["deadline"])
            for x in replayed if x["type"] == "alert"] == live
    influx.close()


def test_devices_retired_and_added_through_the_registry_reach_a_running_runner(town, mosquitto):
    """The runner follows the registry's revision (rules_registry_check_s, 1 s here): a dark
    lamp retired through the API's store has its lamp_out resolved in place (no rebuild), and a
    lamp added after the start is judged after a rebuild, even from a reading that came while
    the rebuild waited; both without a restart, nothing raised twice."""
    settings, sql = town
    settings = settings.model_copy(update={"rules_registry_check_s": 1})
    runner, stop, thread = start_runner(settings, sql, follow=True)
    watcher = AlertWatcher(mosquitto)

    def events() -> list[tuple[str, str]]:
        return [(e["event"], e["subject"]) for e in watcher.events]

    try:
        assert runner.subscribed.wait(10)
        t0 = int(time.time() * 1000)
        publish_as(mosquitto, "gw1", [lamp_message(lamp, t0, lamp != "L003") for lamp in LAMPS])
        wait_for(lambda: ("raised", "lamp:L003") in events(), 15, "L003's lamp_out")
        take_out_of_service(sql, "lamp", "L003", None, "pole removed", "manager", t0)
        wait_for(lambda: ("resolved", "lamp:L003") in events(), 15,
                 "L003's lamp_out resolved once it is retired")
        assert runner.rebuilds == 1  # the start's: a retirement is judged in place

        upsert_devices(sql, [{"id": "L007", "gateway": "gw1", "zone": "Z1", "road": "R2",
                              "position_on_road": 1}], [], [])
        wait_for(lambda: runner.rebuild_due_ms is not None, 15, "the rebuild to be planned")
        # Sent while the rebuild waits: the old core knows no L007, nothing stores the reading
        # (no ingester here), so only judging the kept messages again can raise its lamp_out.
        publish_as(mosquitto, "gw1", [lamp_message("L007", int(time.time() * 1000), False)])
        wait_for(lambda: runner.rebuilds >= 2, 15, "the rebuild after L007 was added")
        wait_for(lambda: ("raised", "lamp:L007") in events(), 15, "the new lamp's lamp_out")
    finally:
        stop.set()
        thread.join(10)
        watcher.close()
    assert events() == [("raised", "lamp:L003"), ("resolved", "lamp:L003"),
                        ("raised", "lamp:L007")]
    stored = AlertStore(sql).list_alerts(open_only=False)
    assert sorted((a.subject, a.state) for a in stored) == [("lamp:L003", "resolved"),
                                                           ("lamp:L007", "raised")]
    runner.influx.close()


def test_kill_9_between_raise_and_resolve_neither_loses_nor_repeats(town, mosquitto, tmp_path):
    """`streetwatch rules` killed -9 with two lamp_out alerts open; while it is down one lamp is
    fixed. After the restart: the fixed lamp's alert is resolved, the other stays open, and
    nothing is raised twice (SQL history and the alert topic agree)."""
    from processes import IngesterProcess, env_for

    settings, sql = town
    env = env_for(settings, TOWN_TIMEZONE="UTC", LIGHTS_ON_GRACE_S="0",
                  ZONE_SCHEDULES=json.dumps({"Z1": night_around_now()}), LAMP_OUT_AFTER_S="1",
                  LIGHTING_TARGET="0.5", RULES_EVERY_S="1")
    runner = IngesterProcess(env, tmp_path / "rules.log", ("rules", "--warm-up", "600"),
                             "rules.subscribed")
    store = AlertStore(sql)
    influx = InfluxClient.from_settings(settings)
    watcher = AlertWatcher(mosquitto)

    def send(readings: list[tuple[str, int, bool]]) -> None:
        """As a gateway over MQTT, and into InfluxDB as the ingester would store them."""
        publish_as(mosquitto, "gw1", [lamp_message(*r) for r in readings])
        influx.write_lines([lamp_line(lamp, SeriesTags("gw1", "Z1", "R1"),
                                      LampReading(ts=ts, on=on)) for lamp, ts, on in readings])

    def open_subjects() -> set[str]:
        return {a.subject for a in store.list_alerts(open_only=True)}

    try:
        runner.start()
        t0 = int(time.time() * 1000)
        send([(lamp, t0, lamp not in ("L002", "L005")) for lamp in LAMPS])
        wait_for(lambda: open_subjects() == {"lamp:L002", "lamp:L005"}, 20, "two lamp_out alerts")
        runner.kill9()
        send([("L002", int(time.time() * 1000), True)])  # fixed while the runner is down
        runner.start()
        wait_for(lambda: open_subjects() == {"lamp:L005"}, 30, "L002 resolved after the restart")
        wait_for(lambda: len(watcher.events) >= 3, 10, "three events on the alert topic")
    finally:
        runner.stop()
        watcher.close()
        influx.close()
    seen = sorted((e["event"], e["subject"]) for e in watcher.events)
    assert seen == [("raised", "lamp:L002"), ("raised", "lamp:L005"), ("resolved", "lamp:L002")]
    for alert in store.list_alerts(open_only=False):
        assert [h.event for h in store.history(alert.id)].count("raised") == 1
    assert len(store.list_alerts(open_only=False)) == 2


def test_live_and_replay_agree_on_a_compressed_night_of_roll_ups(settings_for, mosquitto):
    """The scenarios' roll-up kinds in compressed real time (holds of 2 s, a reading a second):
    a blind spot (L002, L003), a tripped cabinet (C2: L005-L008), a lit lamp reporting `tilt`
    (L001), then everything fixed. What the live runner publishes equals what replay computes
    from the same readings in storage, to the millisecond (these kinds depend on no tick)."""
    lamps = [f"L{p:03d}" for p in range(1, 9)]
    settings = settings_for(username=RULES_USER, town_timezone="UTC", lights_on_grace_s=0,
                            zone_schedules={"Z1": night_around_now()}, lamp_out_after_s=2,
                            lighting_target=0.1, cabinet_down_fraction=0.75, rules_every_s=1,
                            stale_after_s=5)  # cabinets are judged once lamps could report
    upgrade(settings.sql_url())
    sql = make_engine(settings.sql_url())
    upsert_devices(sql, [{"id": lamp, "gateway": "gw1", "zone": "Z1", "road": "R1",
                          "position_on_road": p, "cabinet": "C1" if p <= 4 else "C2"}
                         for p, lamp in enumerate(lamps, 1)], [], [])
    drop_session(mosquitto.host, mosquitto.port, RULES_USER, mosquitto.password(RULES_USER))
    runner, stop, thread = start_runner(settings, sql)
    influx = runner.influx
    watcher = AlertWatcher(mosquitto)
    broken = {"L002", "L003", "L005", "L006", "L007", "L008"}
    sent: list[tuple[str, int, bool, str | None]] = []
    try:
        assert runner.subscribed.wait(10)
        t0 = int(time.time() * 1000)
        for second in range(9):
            at = t0 + second * 1000
            wait_for(lambda at=at: time.time() * 1000 >= at, 5, "the next second")
            now = int(time.time() * 1000)
            faulty = 1 <= second < 6
            rounds = [(lamp, now, not (faulty and lamp in broken),
                       "tilt" if faulty and lamp == "L001" else None) for lamp in lamps]
            publish_as(mosquitto, "gw1", [
                (f"streetwatch/gw1/lamp/{lamp}", json.dumps(
                    {"ts": ts, "on": on, **({"fault": fault} if fault else {})}).encode())
                for lamp, ts, on, fault in rounds])
            sent += rounds
        wait_for(lambda: sum(e["event"] == "resolved" for e in watcher.events) >= 3, 15,
                 "the three resolutions")
    finally:
        stop.set()
        thread.join(10)
        watcher.close()
        drop_session(mosquitto.host, mosquitto.port, RULES_USER, mosquitto.password(RULES_USER))
    live = sorted((e["event"], e["kind"], e["subject"], e["ts"], e["deadline"])
                  for e in watcher.events)
    assert sorted((x[0], x[1], x[2]) for x in live) == sorted([
        ("raised", "lamp_fault", "lamp:L001"), ("resolved", "lamp_fault", "lamp:L001"),
        ("raised", "blind_spot", "road:R1:2"), ("resolved", "blind_spot", "road:R1:2"),
        ("raised", "cabinet_failure", "cabinet:C2"), ("resolved", "cabinet_failure", "cabinet:C2"),
    ])
    influx.write_lines([lamp_line(lamp, SeriesTags("gw1", "Z1", "R1"),
                                  LampReading(ts=ts, on=on, fault=fault))
                        for lamp, ts, on, fault in sent])
    replayed = [json.loads(x) for x in stored_replay_lines(settings, t0 - 1000, sent[-1][1] + 5000,
                                                           1, warm_up_s=60)]
    assert sorted((x["event"], x["kind"], x["subject"], x["ts"], x["deadline"])
                  for x in replayed if x["type"] == "alert") == live
    influx.close()
    sql.dispose()


def test_a_restart_adopts_alerts_people_raised_without_clearing_them(town, mosquitto):
    """citizen_report alerts (raised through the API) are adopted on start: no detector clears
    them, so one stays open and untouched; one past its deadline is marked overdue."""
    settings, sql = town
    store = AlertStore(sql)
    now_ms = int(time.time() * 1000)

    def report(lamp: str, deadline_ms: int) -> int:
        return store.raise_alert(Condition("citizen_report", f"lamp:{lamp}", "Z1", (lamp,),
                                           f"citizen: {lamp} is dark"),
                                 now_ms - 60_000, "yellow", deadline_ms, actor="citizen").id

    waiting, late = report("L001", now_ms + 86_400_000), report("L002", now_ms - 1000)
    runner, stop, thread = start_runner(settings, sql)
    try:
        wait_for(lambda: "overdue" in [h.event for h in store.history(late)], 30,
                 "the late report marked overdue")
        wait_for(lambda: runner.ticks >= 3, 30, "three ticks")
    finally:
        stop.set()
        thread.join(10)
    assert [h.event for h in store.history(waiting)] == ["raised"]
    assert store.get(waiting).is_open and store.get(late).is_open


def test_alerts_people_raise_while_it_runs_are_adopted_and_let_go_once_resolved(town, mosquitto):
    """A citizen report and a patrol mismatch raised through the API while the runner runs are
    adopted at its next tick (not only at a restart), so one already past its deadline is marked
    overdue; one resolved through the API is let go (the book no longer holds it)."""
    settings, sql = town
    store = AlertStore(sql)
    runner, stop, thread = start_runner(settings, sql)
    try:
        wait_for(lambda: runner.ticks >= 1, 30, "the first tick")
        now_ms = int(time.time() * 1000)
        late = store.raise_alert(Condition("patrol_mismatch", "lamp:L003", "Z1", ("L003",),
                                           "patrol: L003 dark, telemetry says lit"),
                                 now_ms - 60_000, "yellow", now_ms - 1000, actor="patrol").id
        fixed = store.raise_alert(Condition("citizen_report", "lamp:L004", "Z1", ("L004",),
                                            "citizen: L004 is dark"),
                                  now_ms - 60_000, "yellow", now_ms + 86_400_000,
                                  actor="citizen").id
        wait_for(lambda: "overdue" in [h.event for h in store.history(late)], 30,
                 "the patrol mismatch raised mid-run marked overdue")
        wait_for(lambda: fixed in runner.adopted_people, 30, "the citizen report adopted")
        store.resolve(fixed, int(time.time() * 1000), "crew-1", "lamp replaced")
        wait_for(lambda: fixed not in runner.adopted_people, 30, "the resolved report let go")
        assert ("lamp:L004", "citizen_report") not in runner.core.book.open
    finally:
        stop.set()
        thread.join(10)
    assert [h.event for h in store.history(fixed)] == ["raised", "resolved"]
