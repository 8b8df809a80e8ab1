"""`streetwatch report lighting` against a real influxd: a month of `lighting_rate`, exact CSV.

Zones Z01 and Z02 run fixed schedules (grace 0) so every night is known to the second; the town
(`_city`) follows civil dusk and dawn, sampled only in the small hours, when it is surely night.
Expected numbers, by hand:

- Z01, 18:00-06:00 (720 one-minute samples a night), target 0.99: every night at 1.0 except
  2025-01-10, 600 samples at 1.0 then 120 at 0.9 -> that night (600 + 108) / 720 = 0.983333,
  120 minutes below; the month (30 * 720 + 708) / (31 * 720) = 22308 / 22320 = 0.999462.
  The night starting 2024-12-31 (at 0.5) belongs to December; the one starting 2025-01-31 runs
  into February and counts whole.
- Z02, 19:00-05:00, target 0.95 (stored with each sample and configured): data on two nights
  only. 2025-01-05: 600 samples at 0.96. 2025-01-06: 300 samples at 0.94, then nothing (the
  unsampled half is unknown, not dark). Month (600 * 0.96 + 300 * 0.94) / 900 = 0.953333,
  worst 2025-01-06 at 0.94, 300 minutes below.
- _city: 60 samples at 0.97 from 2025-01-15 00:00 local, in the night that starts on 2025-01-14.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from streetwatch.cli import app
from streetwatch.influx import InfluxClient

SHANGHAI = ZoneInfo("Asia/Shanghai")
MIN_MS = 60_000

EXPECTED_CSV = (
    "zone,nights,mean_rate,worst_night,worst_night_rate,minutes_below_target\n"
    "Z01,31,0.999462,2025-01-10,0.983333,120.0\n"
    "Z02,2,0.953333,2025-01-06,0.940000,300.0\n"
    "_city,1,0.970000,2025-01-14,0.970000,60.0\n"
)


def local_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).timestamp() * 1000)


def run(zone: str, start: str, minutes: int, lit: int, target: float, expected: int = 100):
    """`minutes` one-minute samples of `zone` from local `start`, `lit` of `expected` lamps."""
    first = local_ms(start)
    rate = lit / expected
    return [f"lighting_rate,zone={zone} rate={rate},lit={lit}i,expected={expected}i,stale=0i,"
            f"target={target} {first + i * MIN_MS}" for i in range(minutes)]


def month_of_points() -> list[str]:
    lines = run("Z01", "2024-12-31 18:00", 720, 50, 0.99)  # December's last night
    for day in range(1, 32):
        start = f"2025-01-{day:02d} 18:00"
        if day == 10:
            lines += run("Z01", start, 600, 100, 0.99)
            lines += run("Z01", "2025-01-11 04:00", 120, 90, 0.99)
        else:
            lines += run("Z01", start, 720, 100, 0.99)
    lines += run("Z02", "2025-01-05 19:00", 600, 96, 0.95)
    lines += run("Z02", "2025-01-06 19:00", 300, 94, 0.95)
    lines += run("_city", "2025-01-15 00:00", 60, 97, 0.99)
    return lines


@pytest.fixture
def report_env(influxd, influx_db, monkeypatch, tmp_path):
    """Settings for the command through the environment, as an operator would set them."""
    monkeypatch.chdir(tmp_path)  # no ./streetwatch.toml
    monkeypatch.delenv("STREETWATCH_CONFIG", raising=False)
    values = {
        "INFLUX_URL": influxd.url, "INFLUX_DB": influx_db, "TOWN_TIMEZONE": "Asia/Shanghai",
        "LIGHTS_ON_GRACE_S": "0", "RULES_EVERY_S": "60", "LIGHTING_TARGET": "0.99",
        "ZONE_SCHEDULES": '{"Z01": "18:00-06:00", "Z02": "19:00-05:00"}',
        "ZONE_TARGETS": '{"Z02": 0.95}',
    }
    for name, value in values.items():
        monkeypatch.setenv(f"STREETWATCH_{name}", value)
    with InfluxClient(influxd.url, influx_db) as influx:
        influx.write_lines(month_of_points())
    return tmp_path


def test_monthly_lighting_csv_from_influxdb(report_env):
    output = report_env / "lighting-2025-01.csv"
    result = CliRunner().invoke(app, ["report", "lighting", "--month", "2025-01",
                                      "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert output.read_text(encoding="utf-8") == EXPECTED_CSV


def test_csv_goes_to_stdout_without_output(report_env):
    result = CliRunner().invoke(app, ["report", "lighting", "--month", "2025-01"])
    assert result.exit_code == 0, result.output
    assert result.stdout == EXPECTED_CSV


def test_a_month_without_data_has_only_the_header(report_env):
    result = CliRunner().invoke(app, ["report", "lighting", "--month", "2023-06"])
    assert result.exit_code == 0, result.output
    assert result.stdout == EXPECTED_CSV.splitlines(keepends=True)[0]


@pytest.mark.parametrize("month", ["2025-1", "2025-13", "January"])
def test_bad_month_is_a_usage_error(report_env, month):
    result = CliRunner().invoke(app, ["report", "lighting", "--month", month])
    assert result.exit_code == 2
    assert "YYYY-MM" in result.output


def test_unreachable_influxdb_is_one_clear_line(report_env, monkeypatch):
    from streetwatch.services.process import free_port

    monkeypatch.setenv("STREETWATCH_INFLUX_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("STREETWATCH_INFLUX_RETRIES", "1")
    result = CliRunner().invoke(app, ["report", "lighting", "--month", "2025-01"])
    assert result.exit_code == 1
    assert "error: InfluxDB at http://127.0.0.1:" in result.stderr
