"""Exact line-protocol strings, as influxdb-client's own tests pin them (DESIGN s.4, s.7)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streetwatch import lineproto
from streetwatch.lineproto import SeriesTags, gateway_status_line, reject_line
from streetwatch.schemas import DrainReading, LampReading, RainReading

TS = 1_700_000_000_000


def point_encoder(kind):
    """The encoder of record: influxdb-client's Point, rendered."""
    make = getattr(lineproto, f"{kind}_point")
    return lambda *args: make(*args).to_line_protocol()


def fast_encoder(kind):
    return getattr(lineproto, f"{kind}_line")


ENCODERS = pytest.mark.parametrize("encoder", [point_encoder, fast_encoder], ids=["point", "fast"])


@ENCODERS
def test_lamp_line_has_every_field_with_fixed_types(encoder):
    lamp_line = encoder("lamp")
    reading = LampReading(ts=TS, on=True, dim=80, power_w=55, voltage_v=230.5, fault=None)
    line = lamp_line("L1", SeriesTags("gw1", "Z01", "R7"), reading)
    assert line == (
        'lamp,gateway=gw1,lamp=L1,road=R7,zone=Z01 '
        'dim=80i,fault="",on=true,power_w=55,voltage_v=230.5 1700000000000'
    )


@ENCODERS
def test_lamp_line_without_road_or_optional_fields(encoder):
    lamp_line = encoder("lamp")
    line = lamp_line("L1", SeriesTags("gw1"), LampReading(ts=TS, on=False, fault="tilt"))
    assert line == 'lamp,gateway=gw1,lamp=L1,zone=unassigned fault="tilt",on=false 1700000000000'


@ENCODERS
def test_drain_line_rounds_rssi_to_int_and_keeps_floats_float(encoder):
    drain_line = encoder("drain")
    reading = DrainReading(ts=TS, level_cm=12, battery_v=3.6, rssi_dbm=-80.6, cover_open=False)
    line = drain_line("D1", SeriesTags("gw2", "Z02"), reading)
    assert line == (
        "drain,gateway=gw2,sensor=D1,zone=Z02 "
        "battery_v=3.6,cover_open=false,level_cm=12,rssi_dbm=-81i 1700000000000"
    )


@ENCODERS
def test_rain_line(encoder):
    rain_line = encoder("rain")
    line = rain_line("G1", SeriesTags("gw1", "Z01"), RainReading(ts=TS, rain_mm=0.25))
    assert line == "rain,gateway=gw1,gauge=G1,zone=Z01 rain_mm=0.25 1700000000000"


@pytest.mark.parametrize(
    ("zone", "escaped"),
    [
        ("Old Town", r"Old\ Town"),
        ("a,b", r"a\,b"),
        ("k=v", r"k\=v"),
        ('say "hi"', r'say\ "hi"'),
        ("tab\tnl\n", r"tab\tnl\n"),
        ("ends\\", "ends\\ "),
    ],
)
@ENCODERS
def test_tag_values_escape_spaces_commas_equals(encoder, zone, escaped):
    line = encoder("rain")("G1", SeriesTags("gw1", zone), RainReading(ts=TS, rain_mm=1))
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


tag_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)
tags = st.builds(SeriesTags, gateway=tag_text.filter(bool), zone=tag_text, road=st.none() | tag_text)
ts = st.integers(min_value=0, max_value=2**62)
FAULTS = [None, "lamp_failure", "driver_failure", "power_supply", "cycling", "low_power_factor", "tilt"]
lamps = st.builds(LampReading.model_construct, ts=ts, on=st.booleans(),
                  dim=st.none() | st.integers(0, 100), power_w=st.none() | finite,
                  voltage_v=st.none() | finite, fault=st.sampled_from(FAULTS))
drains = st.builds(DrainReading.model_construct, ts=ts, level_cm=finite,
                   battery_v=st.none() | finite, rssi_dbm=st.none() | finite,
                   cover_open=st.none() | st.booleans())
rains = st.builds(RainReading.model_construct, ts=ts, rain_mm=finite)


@given(device=tag_text.filter(bool), tags=tags, reading=lamps)
def test_fast_lamp_encoder_matches_point(device, tags, reading):
    assert lineproto.lamp_line(device, tags, reading) == point_encoder("lamp")(device, tags, reading)


@given(device=tag_text.filter(bool), tags=tags, reading=drains)
def test_fast_drain_encoder_matches_point(device, tags, reading):
    assert lineproto.drain_line(device, tags, reading) == point_encoder("drain")(device, tags, reading)


@given(device=tag_text.filter(bool), tags=tags, reading=rains)
def test_fast_rain_encoder_matches_point(device, tags, reading):
    assert lineproto.rain_line(device, tags, reading) == point_encoder("rain")(device, tags, reading)
