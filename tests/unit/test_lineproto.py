"""Exact line-protocol strings, as influxdb-client's own tests pin them (DESIGN s.4, s.7)."""

import pytest

from streetwatch.lineproto import (
    SeriesTags,
    drain_line,
    gateway_status_line,
    lamp_line,
    rain_line,
    reject_line,
)
from streetwatch.schemas import DrainReading, LampReading, RainReading

TS = 1_700_000_000_000


def test_lamp_line_has_every_field_with_fixed_types():
    reading = LampReading(ts=TS, on=True, dim=80, power_w=55, voltage_v=230.5, fault=None)
    line = lamp_line("L1", SeriesTags("gw1", "Z01", "R7"), reading)
    assert line == (
        'lamp,gateway=gw1,lamp=L1,road=R7,zone=Z01 '
        'dim=80i,fault="",on=true,power_w=55,voltage_v=230.5 1700000000000'
    )


def test_lamp_line_without_road_or_optional_fields():
    line = lamp_line("L1", SeriesTags("gw1"), LampReading(ts=TS, on=False, fault="tilt"))
    assert line == 'lamp,gateway=gw1,lamp=L1,zone=unassigned fault="tilt",on=false 1700000000000'


def test_drain_line_rounds_rssi_to_int_and_keeps_floats_float():
    reading = DrainReading(ts=TS, level_cm=12, battery_v=3.6, rssi_dbm=-80.6, cover_open=False)
    line = drain_line("D1", SeriesTags("gw2", "Z02"), reading)
    assert line == (
        "drain,gateway=gw2,sensor=D1,zone=Z02 "
        "battery_v=3.6,cover_open=false,level_cm=12,rssi_dbm=-81i 1700000000000"
    )


def test_rain_line():
    line = rain_line("G1", SeriesTags("gw1", "Z01"), RainReading(ts=TS, rain_mm=0.25))
    assert line == "rain,gateway=gw1,gauge=G1,zone=Z01 rain_mm=0.25 1700000000000"


@pytest.mark.parametrize(
    ("zone", "escaped"),
    [
        ("Old Town", r"Old\ Town"),
        ("a,b", r"a\,b"),
        ("k=v", r"k\=v"),
        ('say "hi"', r'say\ "hi"'),
    ],
)
def test_tag_values_escape_spaces_commas_equals(zone, escaped):
    line = rain_line("G1", SeriesTags("gw1", zone), RainReading(ts=TS, rain_mm=1))
    assert line == f"rain,gateway=gw1,gauge=G1,zone={escaped} rain_mm=1 1700000000000"


def test_string_fields_escape_quotes_and_backslashes_and_show_control_chars():
    line = reject_line("bad_json", "gw1", "streetwatch/gw1/lamp/L1", 'bad "x"', 'a\\b"c\nd\x00', TS)
    assert line == (
        "ingest_reject,gateway=gw1,reason=bad_json "
        'detail="bad \\"x\\"",payload="a\\\\b\\"c\\\\nd\\\\x00",topic="streetwatch/gw1/lamp/L1" '
        "1700000000000"
    )


def test_reject_line_without_gateway_and_with_long_payload():
    line = reject_line("bad_topic", None, "x/y", "d", "p" * 5000, TS)
    assert line.startswith("ingest_reject,gateway=_invalid,reason=bad_topic ")
    assert 'payload="' + "p" * 1024 + '"' in line
    assert "p" * 1025 not in line


def test_gateway_status_line():
    assert gateway_status_line("gw1", False, TS) == "gateway_status,gateway=gw1 online=false 1700000000000"
