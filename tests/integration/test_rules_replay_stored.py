"""Replay over storage (registry in SQLite, readings in a real influxd) equals the pure replay.

The pure replay is tested table by table in tests/unit; this proves the storage path feeds it the
same observations in the same order: byte-identical lines, and the broken lamps come out.
"""

from __future__ import annotations

import io
import json

from rules.config import RuleConfig
from rules.engine import RuleEngine
from rules.lifecycle import MemorySink
from rules.replay import StatusObservation, replay_lines
from rules.schedule import LightsOnSchedule
from rules.sources import fleet_of
from rules.stored_replay import write_replay
from streetwatch.influx import InfluxClient
from streetwatch.lineproto import SeriesTags, gateway_status_line, lamp_line
from streetwatch.registry.migrate import upgrade
from streetwatch.registry.store import load_lamps, make_engine, upsert_devices
from streetwatch.schemas import LampReading

from rule_drive import DAY0, HOUR, lit_at_night, readings, road_lamps

FROM, TO = DAY0 + 18 * HOUR, DAY0 + 22 * HOUR
WARM_UP_S = 2 * 3600


def town_settings(settings_for):
    return settings_for(town_timezone="UTC", lights_on_grace_s=0,
                        zone_schedules={"Z1": "18:00-06:00"}, lighting_target=0.7)


def test_stored_replay_is_the_pure_replay_byte_for_byte(settings_for):
    settings = town_settings(settings_for)
    sites = road_lamps(12, cabinet_size=6)
    upgrade(settings.sql_url())
    sql = make_engine(settings.sql_url())
    upsert_devices(sql, [{"id": s.id, "gateway": s.gateway, "zone": s.zone, "road": s.road,
                          "position_on_road": s.position, "cabinet": s.cabinet} for s in sites],
                   [], [])
    fleet = fleet_of(load_lamps(sql))
    sql.dispose()

    def state(lamp, ts):
        if lamp in ("L005", "L006") and ts >= FROM + HOUR:
            return False, "lamp_failure"
        if lamp == "L010" and ts >= FROM + 2 * HOUR:
            return None
        return lit_at_night(lamp, ts)

    start = FROM - WARM_UP_S * 1000
    observations = list(readings(sites, state, start, TO))
    status = StatusObservation(FROM + 3 * HOUR + 1234, "gw1", True)
    with InfluxClient.from_settings(settings) as influx:
        influx.write_lines([lamp_line(o.lamp, SeriesTags("gw1", "Z1", "R1"), LampReading(
            ts=o.ts_ms, on=o.on, fault=o.fault)) for o in observations]
            + [gateway_status_line("gw1", True, status.ts_ms)])
    observations = sorted(observations + [status], key=lambda o: o.ts_ms)

    out = io.StringIO()
    count = write_replay(settings, FROM, TO, 60, out, warm_up_s=WARM_UP_S)
    core = RuleEngine(fleet, RuleConfig.from_settings(settings),
                      LightsOnSchedule.from_settings(settings), MemorySink(), start)
    pure = list(replay_lines(core, observations, FROM, TO, 60_000))
    assert out.getvalue().splitlines() == pure and count == len(pure)

    alerts = [json.loads(x) for x in pure if '"type": "alert"' in x]
    assert [(a["event"], a["kind"], a["subject"]) for a in alerts] == [
        ("raised", "blind_spot", "road:R1:5"),
        ("raised", "lamp_silent", "lamp:L010"),
    ]
    assert alerts[0]["ts"].startswith("2026-11-23T19:10:00")
    assert alerts[1]["ts"] == "2026-11-23T20:25:00.000Z"  # last reading 19:55, silent 30 min
    rates = [json.loads(x) for x in pure if '"zone": "Z1"' in x and "lighting_rate" in x]
    assert len(rates) == 4 * 60 and rates[0]["rate"] == 1.0


def test_replay_command_prints_the_same_lines(settings_for, tmp_path):
    """`streetwatch rules replay --from --to --output`: the CLI over the same storage path."""
    import json as json_module

    from typer.testing import CliRunner

    from streetwatch.cli import app

    settings = town_settings(settings_for)
    upgrade(settings.sql_url())
    sql = make_engine(settings.sql_url())
    upsert_devices(sql, [{"id": "L001", "gateway": "gw1", "zone": "Z1", "road": "R1",
                          "position_on_road": 1}], [], [])
    sql.dispose()
    with InfluxClient.from_settings(settings) as influx:
        influx.write_lines([lamp_line("L001", SeriesTags("gw1", "Z1", "R1"),
                                      LampReading(ts=FROM + n * 300_000, on=False))
                            for n in range(12)])
    env = {"STREETWATCH_INFLUX_URL": settings.influx_url, "STREETWATCH_INFLUX_DB": settings.influx_db,
           "STREETWATCH_DATABASE_URL": settings.sql_url(), "STREETWATCH_TOWN_TIMEZONE": "UTC",
           "STREETWATCH_LIGHTS_ON_GRACE_S": "0", "STREETWATCH_LIGHTING_TARGET": "0.5",
           "STREETWATCH_ZONE_SCHEDULES": json_module.dumps({"Z1": "18:00-06:00"})}
    out = tmp_path / "replay.jsonl"
    result = CliRunner().invoke(app, ["rules", "replay", "--from", "2026-11-23T18:00:00Z",
                                      "--to", "2026-11-23T19:00:00Z", "--output", str(out),
                                      "--warm-up", "0"],
                                env=env)
    assert result.exit_code == 0, result.output
    lines = [json_module.loads(x) for x in out.read_text().splitlines()]
    alerts = [x for x in lines if x["type"] == "alert"]
    assert [(a["event"], a["kind"], a["ts"]) for a in alerts] == [
        ("raised", "lamp_out", "2026-11-23T18:10:00.000Z"),
        ("raised", "zone_below_target", "2026-11-23T18:15:00.000Z")]
    assert sum(x["type"] == "lighting_rate" for x in lines) == 120  # Z1 and _city, 60 ticks
    bad = CliRunner().invoke(app, ["rules", "replay", "--from", "2026-11-23 18:00", "--to",
                                   "2026-11-23T19:00:00Z"], env=env)
    assert bad.exit_code == 2 and "RFC 3339" in bad.output
