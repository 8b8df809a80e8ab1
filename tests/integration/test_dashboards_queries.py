"""Every board's InfluxQL against a real influxd, filled the way the running system fills it.

The town: scenarios night-99 (100 lamps on road R1, L050 dark with lamp_failure all evening) and
drain-rain-blockage (five drains, a storm, a blockage on D5, one high-water notice), both in zone
Z1 behind gw1 and anchored to end a minute before now. Scenario files give lamps no position,
so the registry places them along a line. Their readings, a live status and a few hostile
messages go through the ingester's own validation and encoding (`process_message`, the writer's
`reject_line`) into InfluxDB. Then the real RuleRunner rebuilds over the window (SQL alerts;
`lighting_rate`, `alert_event`, `lamp_site`, `drain_site`) and runs one live tick (`rules_tick`).
A crew's acknowledgement and a citizen report reach `alert_event` through the runner's MQTT relay
in production; here the relay's encoder writes them.

Beyond the scenarios' own settings: lamp_out's deadline is 10 min (L050's alert goes overdue,
escalates to red and goes overdue again in the window) and blockage is blue, so every severity has
an open alert. Each query runs with Grafana's variables substituted as Grafana does: all zones
and gateways (`.*`), and the town's one zone and gateway.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from dashboards.boards import BoardSettings, all_boards
from rules.runner import RuleRunner, RunnerConfig
from rules.sources import network_of
from simulators.scenario_publish import register_scenario
from streetwatch.alerts.model import Condition
from streetwatch.alerts.store import AlertStore
from streetwatch.influx import InfluxClient
from streetwatch.lineproto import alert_event_line, reject_line
from streetwatch.registry.store import load_device_index, load_lamps, make_engine
from streetwatch.scenarios import Scenario, anchored_settings, load_scenario, scenario_events
from streetwatch.settings import MqttEndpoint, Settings
from streetwatch.topics import reading_topic, status_topic
from streetwatch.town import DrainObservation, LampObservation, RainObservation
from streetwatch.validation import process_message

SCENARIOS = Path(__file__).parents[2] / "simulators" / "scenarios"
MIN_MS = 60_000
HOUR_MS = 60 * MIN_MS
ALL = {"zone": ".*", "gateway": ".*", "drain": ".*"}
ONE = {"zone": "(Z1)", "gateway": "(gw1)", "drain": "(D5)"}
TEST_RULES = {"alert_deadline_overrides_s": {"lamp_out": 600},
              "alert_severity_overrides": {"blockage": "blue"}}
HOSTILE = [("streetwatch/gw1/lamp/L001", "{not json"),  # bad_json
           ("streetwatch/gw1/lamp", "{}"),  # bad_topic
           ("streetwatch/gw1/lamp/L001", '{"ts": %d, "on": "yes"}'),  # schema
           ("streetwatch/gw2/lamp/L001", '{"ts": %d, "on": true}')]  # spoofed: L001 is gw1's


@dataclass
class Town:
    influx: InfluxClient
    store: AlertStore
    boards: list[dict]
    now_ms: int  # the end of the filled window


# The town ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def town(influxd, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dashboards-town")
    database = f"test_dash_{uuid.uuid4().hex[:10]}"
    settings = Settings(state_dir=tmp, influx_url=influxd.url, influx_db=database,
                        database_url=f"sqlite:///{tmp / 'town.db'}")
    lamps, drains = load_scenario(SCENARIOS / "night-99.toml"), load_scenario(
        SCENARIOS / "drain-rain-blockage.toml")
    lamps = replace(lamps, sites=tuple(replace(site, lat=31.2304 + i * 1e-4, lon=121.4737)
                                       for i, site in enumerate(lamps.sites)))
    now_ms = int(time.time() * 1000) // MIN_MS * MIN_MS - MIN_MS  # its live tick: a minute on
    anchors = {lamps.name: now_ms - lamps.duration_ms, drains.name: now_ms - drains.duration_ms}
    influx = InfluxClient(influxd.url, database)
    influx.create_database()
    sql = make_engine(settings.sql_url())
    for scenario in (lamps, drains):
        register_scenario(settings, scenario)
    devices = load_device_index(sql)
    for scenario in (lamps, drains):
        influx.write_lines(ingested(scenario, anchors[scenario.name], devices))
    influx.write_lines(status_and_rejects(now_ms, devices))
    store = AlertStore(sql)
    rules = {**anchored_settings(drains, anchors[drains.name]), **TEST_RULES,
             "zone_schedules": anchored_settings(lamps, anchors[lamps.name])["zone_schedules"],
             "lights_on_grace_s": 0}
    run_rules(settings.model_copy(update=rules), store, influx, sql, now_ms, drains.duration_ms)
    influx.write_lines(people_actions(store, now_ms))
    board_settings = replace(BoardSettings.from_settings(settings.model_copy(update=rules)),
                             campaign_target_date=date.today() + timedelta(days=30))
    yield Town(influx, store, all_boards(board_settings), now_ms)
    influx.query(f'DROP DATABASE "{database}"', write=True)
    influx.close()
    sql.dispose()


def ingested(scenario: Scenario, anchor_ms: int, devices: dict) -> list[str]:
    """The scenario's readings as gateways send them, through the ingester's validation."""
    lines: list[str] = []
    now_ms = int(time.time() * 1000)
    for event in scenario_events(scenario, anchor_ms):
        if isinstance(event, LampObservation):
            kind, device, payload = "lamp", event.lamp, {
                "ts": event.ts_ms, "on": event.on, "dim": 100 if event.on else 0,
                "fault": event.fault}
        elif isinstance(event, DrainObservation):
            kind, device, payload = "drain", event.drain, {
                "ts": event.ts_ms, "level_cm": event.level_cm, "battery_v": event.battery_v}
        elif isinstance(event, RainObservation):
            kind, device, payload = "rain", event.gauge, {"ts": event.ts_ms,
                                                          "rain_mm": event.rain_mm}
        else:
            continue
        topic = reading_topic(devices[kind, device].gateway, kind, device)
        outcome = process_message(topic, json.dumps(payload).encode(), now_ms, devices)
        assert not outcome.rejects, outcome.rejects
        lines += outcome.lines
    return lines


def status_and_rejects(now_ms: int, devices: dict) -> list[str]:
    """gw1's live `online`, and the hostile messages as the ingester stores their rejects."""
    lines = process_message(status_topic("gw1"), b"online", now_ms - 10 * MIN_MS, devices).lines
    for i, (topic, payload) in enumerate(HOSTILE):
        text = payload % now_ms if "%d" in payload else payload
        for record in process_message(topic, text.encode(), now_ms, devices).rejects:
            lines.append(reject_line(record.reason, record.gateway, record.topic, record.detail,
                                     record.payload.decode(), now_ms - 5 * MIN_MS + i))
    return lines


def run_rules(settings: Settings, store: AlertStore, influx: InfluxClient, sql: Engine,
              now_ms: int, warm_up_ms: int) -> None:
    """The live runner: rebuild over the window ending at `now_ms`, then one live tick."""
    clock = [now_ms + 600]  # the runner runs ADVANCE_LAG_MS (500) behind its clock
    config = RunnerConfig(MqttEndpoint("127.0.0.1", 1, None, None), "rules-dashboards", MIN_MS,
                          warm_up_ms)
    runner = RuleRunner(settings, config, store, influx, lambda: {}, wall_ms=lambda: clock[0])
    runner.rebuild(load_lamps(sql), network_of(sql))
    clock[0] += MIN_MS
    runner._step()  # noqa: SLF001 - one pass of the live loop: the tick, then the write
    assert runner.ticks == 1 and not runner.pending_lines


def people_actions(store: AlertStore, now_ms: int) -> list[str]:
    """A crew acknowledges L050's alert; a citizen reports lamp L001 (yellow, as the API does)."""
    lamp_alert = next(a for a in store.open_alerts() if a.kind == "lamp_out")
    ack = store.acknowledge(lamp_alert.id, now_ms + 10_000, "crew-z1")
    report = store.raise_alert(Condition("citizen_report", "lamp:L001", "Z1", ("L001",),
                                         "citizen: lamp L001 is dark"),
                               now_ms + 20_000, "yellow", now_ms + 20_000 + 72 * HOUR_MS)
    return [alert_event_line(e.event, e.ts_ms, e.id, e.kind, e.severity, e.zone, e.subject,
                             e.devices, e.message) for e in (ack, report)]


# Grafana's side ---------------------------------------------------------------------------
def substituted(query: str, board: dict, panel: dict | None, values: dict[str, str]) -> str:
    """`query` as Grafana sends it for the board's default range (the panel's own range when it
    has one), with its variables set to `values`."""
    now_ms = int(time.time() * 1000)
    span = (panel or {}).get("timeFrom") or board["time"]["from"].removeprefix("now-")
    from_ms = now_ms - duration_ms(span)
    interval_ms = duration_ms((panel or {}).get("interval", "1m"))
    text = query.replace("$timeFilter", f"time >= {from_ms}ms and time <= {now_ms}ms")
    for name, value in {"$__interval_ms": str(interval_ms), "$__interval": f"{interval_ms}ms",
                        "${__to}": str(now_ms), "${__from}": str(from_ms),
                        **{f"${k}": v for k, v in values.items()}}.items():
        text = text.replace(name, value)
    assert not re.search(r"\$[{A-Za-z_]", text), f"unsubstituted variable in {text}"
    return text


def duration_ms(text: str) -> int:
    units = {"s": 1000, "m": MIN_MS, "h": HOUR_MS, "d": 24 * HOUR_MS}
    return int(text[:-1]) * units[text[-1]]


def targets() -> list[tuple[str, str, str]]:
    """(board uid, panel title, refId) of every query of every board."""
    settings = replace(BoardSettings.from_settings(Settings.model_construct()),
                       campaign_target_date=date(2030, 1, 1))
    return [(board["uid"], panel["title"], t["refId"]) for board in all_boards(settings)
            for panel in board["panels"] for t in panel["targets"]]


def find(town: Town, uid: str, title: str, ref: str) -> tuple[dict, dict, dict]:
    board = next(b for b in town.boards if b["uid"] == uid)
    panel = next(p for p in board["panels"] if p["title"] == title)
    return board, panel, next(t for t in panel["targets"] if t["refId"] == ref)


# What each query must answer: its columns (tags merged in), besides `time` --------------------
TOWN, MAP, DRAINS, ALERTS, OPS = ("streetwatch-town", "streetwatch-lamp-map",
                                  "streetwatch-drains", "streetwatch-alerts",
                                  "streetwatch-operations")
OPEN = {"A": {"red"}, "B": {"yellow"}, "C": {"blue"}}
EXPECTED: dict[tuple[str, str], dict[str, set[str]]] = {
    (TOWN, "Lighting rate now"): {"A": {"zone", "rate"}},
    (TOWN, "Lamps not lit now"): {"A": {"not lit", "silent"}},
    (TOWN, "Open alerts by severity"): OPEN,
    (TOWN, "Overdue alerts"): {"A": {"overdue"}},
    (TOWN, "Lighting rate per zone"): {"A": {"zone", "mean"}, "B": {"town"}},
    (TOWN, "Campaign: days left"): {"A": {"days left"}},
    (TOWN, "Campaign: daily lighting rate"): {"A": {"zone", "mean"}},
    (MAP, "Lamps by latest reading"): {"A": {"lit"}, "B": {"dark"}, "C": {"with a fault"}},
    (MAP, "Lamps by state"): {"A": {"lamp", "road", "lat", "lon", "in_service"},
                              "B": {"lamp", "state", "fault"}},
    (DRAINS, "Drain levels"): {"A": {"sensor", "mean"}},
    (DRAINS, "Levels against overflow"): {"A": {"sensor", "zone", "level_cm"},
                                          "B": {"sensor", "overflow_cm"}},
    (DRAINS, "Rain"): {"A": {"gauge", "sum"}},
    (DRAINS, "High-water notices"): {"A": {"zone", "device", "message"}},
    (DRAINS, "Blockage and overflow alerts"): {"A": {"kind", "state", "severity", "subject",
                                                     "message"}},
    (ALERTS, "Open alerts by severity"): OPEN,
    (ALERTS, "Overdue alerts"): {"A": {"overdue"}},
    (ALERTS, "Open alerts"): {"A": {"subject", "kind", "id", "severity", "state", "zone",
                                    "device", "message"}},
    (ALERTS, "Alerts raised per hour"): {"A": {"kind", "count"}},
    (ALERTS, "Alert events"): {"A": {"zone", "kind", "severity", "state", "subject", "alert_id",
                                     "device", "message"}},
    (OPS, "Readings stored per second"): {"A": {"lamp"}, "B": {"drain"}, "C": {"rain"}},
    (OPS, "Rejects by reason"): {"A": {"reason", "count"}},
    (OPS, "Rule-runner lag"): {"A": {"runner", "lag"}},
    (OPS, "Last tick"): {"A": {"runner", "lag"}},
    (OPS, "Gateways"): {"A": {"gateway", "online"}},
    (OPS, "Rejects by reason and gateway"): {"A": {"reason", "gateway", "rejects"}},
    (OPS, "Latest rejects"): {"A": {"reason", "gateway", "topic", "detail"}},
}


def test_the_table_of_expected_columns_covers_every_query():
    assert {(uid, title, ref) for (uid, title), refs in EXPECTED.items() for ref in refs} == set(
        targets())


@pytest.mark.parametrize(("uid", "title", "ref"), targets(), ids="/".join)
@pytest.mark.parametrize("values", [ALL, ONE], ids=["all", "one"])
def test_every_query_returns_rows_with_its_columns(town, uid, title, ref, values):
    board, panel, target = find(town, uid, title, ref)
    rows = town.influx.rows(substituted(target["query"], board, panel, values))
    assert rows, f"{title}/{ref}: no rows"
    assert {column for row in rows for column in row} == {"time"} | EXPECTED[uid, title][ref]


def test_the_variables_list_the_town(town):
    variables = {v["name"]: v for board in town.boards for v in board["templating"]["list"]}
    board = town.boards[0]
    found = {name: {row["value"] for row in town.influx.rows(
        substituted(v["query"], board, None, ALL))} for name, v in variables.items()}
    assert found == {"zone": {"Z1"}, "gateway": {"gw1"}, "drain": {"D1", "D2", "D3", "D4", "D5"}}


def test_the_high_water_annotation_marks_the_storm(town):
    board = next(b for b in town.boards if b["uid"] == DRAINS)
    (notices,) = [a for a in board["annotations"]["list"] if "query" in a]
    rows = town.influx.rows(substituted(notices["query"], board, None, ONE))
    assert [row["zone"] for row in rows] == ["Z1"]
    assert {notices["textColumn"], notices["tagsColumn"]} <= set(rows[0])


def test_open_and_overdue_counts_are_the_alert_store_s(town):
    """The InfluxQL reading of alert_event against the SQL truth: per severity and overdue."""
    board, panel, _ = find(town, ALERTS, "Open alerts by severity", "A")
    counted = {}
    for target in panel["targets"]:
        (row,) = town.influx.rows(substituted(target["query"], board, panel, ALL))
        counted.update({k: v for k, v in row.items() if k != "time"})
    open_alerts = town.store.open_alerts()
    assert counted == Counter(a.severity for a in open_alerts) == {"red": 1, "yellow": 1,
                                                                   "blue": 1}
    _, overdue_panel, _ = find(town, ALERTS, "Overdue alerts", "A")
    (row,) = town.influx.rows(substituted(overdue_panel["targets"][0]["query"], board,
                                          overdue_panel, ALL))
    assert row["overdue"] == sum(a.overdue for a in open_alerts) == 1


def test_the_fields_grafana_joins_and_draws_are_in_the_answers(town):
    """Joins by a column every joined query has; calculated fields from columns that exist; the
    map's coordinates and colour field present after the join."""
    for board in town.boards:
        for panel in board["panels"]:
            columns = set().union(*(EXPECTED[board["uid"], panel["title"]][t["refId"]]
                                    for t in panel["targets"])) if panel["targets"] else set()
            for step in panel["transformations"]:
                if step["id"] == "joinByField":
                    assert all(step["options"]["byField"] in EXPECTED[board["uid"],
                                                                      panel["title"]][t["refId"]]
                               for t in panel["targets"])
                if step["id"] == "calculateField":
                    binary = step["options"]["binary"]
                    assert {binary["left"], binary["right"]} <= columns
            if panel["type"] == "geomap":
                (layer,) = panel["options"]["layers"]
                location, colour = layer["location"], layer["config"]["style"]["color"]["field"]
                assert {location["latitude"], location["longitude"], colour} <= columns


def test_the_rejects_are_counted_by_reason_and_gateway(town):
    board, panel, target = find(town, OPS, "Rejects by reason and gateway", "A")
    rows = town.influx.rows(substituted(target["query"], board, panel, ALL))
    assert {(r["reason"], r["gateway"]): r["rejects"] for r in rows} == {
        ("bad_json", "gw1"): 1, ("bad_topic", "gw1"): 1, ("schema", "gw1"): 1,
        ("spoofed", "gw2"): 1}


# The open-alert reading on a hand-made history ----------------------------------------------
LIFECYCLE = [  # (alert id, subject, kind, zone, event, severity, minutes after the start)
    (1, "lamp:L1", "lamp_out", "Z1", "raised", "yellow", 0),
    (1, "lamp:L1", "lamp_out", "Z1", "overdue", "yellow", 10),  # the same instant as ...
    (1, "lamp:L1", "lamp_out", "Z1", "escalated", "red", 10),  # ... its escalation
    (1, "lamp:L1", "lamp_out", "Z1", "acknowledged", "red", 12),
    (1, "lamp:L1", "lamp_out", "Z1", "overdue", "red", 20),  # open, red, overdue
    (2, "lamp:L2", "lamp_out", "Z1", "raised", "yellow", 1),
    (2, "lamp:L2", "lamp_out", "Z1", "resolved", "yellow", 5),
    (3, "lamp:L2", "lamp_out", "Z1", "raised", "yellow", 30),  # recurs: a new alert, open
    (4, "drain:D1", "blockage", "Z1", "raised", "blue", 2),
    (4, "drain:D1", "blockage", "Z1", "overdue", "blue", 9),
    (4, "drain:D1", "blockage", "Z1", "escalated", "yellow", 9),  # open, yellow, not overdue
    (5, "zone:Z2", "zone_below_target", "Z2", "raised", "red", 3),
    (5, "zone:Z2", "zone_below_target", "Z2", "overdue", "red", 8),
    (5, "zone:Z2", "zone_below_target", "Z2", "resolved", "red", 11),  # closed
    (6, "cabinet:C1", "cabinet_failure", "Z1", "raised", "red", 4),
    (6, "cabinet:C1", "cabinet_failure", "Z1", "assigned", "red", 6),
    (6, "cabinet:C1", "cabinet_failure", "Z1", "commented", "red", 7),  # open, red
    (None, "zone:Z1", "high_water", "Z1", "notice", "blue", 15),  # not an alert
]


@pytest.mark.parametrize(("zone", "counts", "overdue"), [
    (".*", {"red": 2, "yellow": 2}, 1), ("(Z2)", {}, 0), ("(Z1)", {"red": 2, "yellow": 2}, 1)])
def test_open_alerts_follow_each_alert_s_latest_event(influxd, influx_db, zone, counts, overdue):
    """Escalation changes the severity (even when stamped with the overdue event it follows), a
    crew's actions keep an alert open, a resolved alert stays closed when its subject recurs,
    notices are no alerts, and only an open red alert past its deadline is overdue."""
    start = int(time.time() * 1000) - HOUR_MS
    with InfluxClient(influxd.url, influx_db) as influx:
        influx.write_lines([alert_event_line(event, start + minutes * MIN_MS, alert_id, kind,
                                             severity, area, subject, (), "m")
                            for alert_id, subject, kind, area, event, severity, minutes
                            in LIFECYCLE])
        board = all_boards(BoardSettings.from_settings(Settings.model_construct()))[3]
        panels = {p["title"]: p for p in board["panels"]}
        values = {**ALL, "zone": zone}
        found = {}
        for target in panels["Open alerts by severity"]["targets"]:
            for row in influx.rows(substituted(target["query"], board, None, values)):
                found.update({k: v for k, v in row.items() if k != "time"})
        late = influx.rows(substituted(panels["Overdue alerts"]["targets"][0]["query"], board,
                                       None, values))
        listed = influx.rows(substituted(panels["Open alerts"]["targets"][0]["query"], board,
                                         None, values))
    assert found == counts
    assert (late[0]["overdue"] if late else 0) == overdue
    assert sorted((r["id"], r["severity"], r["state"]) for r in listed) == (
        [(1, "red", "acknowledged"), (3, "yellow", "raised"), (4, "yellow", "escalated"),
         (6, "red", "commented")] if counts else [])
