"""Wet or dry per zone (rules/weather.py): tables, and a brute-force model under hypothesis."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.weather import WeatherConfig, ZoneWeather

HOUR = 3_600_000
CONFIG = WeatherConfig(window_ms=6 * HOUR, threshold_mm=2.0, drain_out_ms=6 * HOUR)
GAUGES = {"G1": "Z1", "G2": "Z1", "G3": "Z2"}


def test_two_millimetres_within_six_hours_make_the_zone_wet_until_drained():
    weather = ZoneWeather(GAUGES, CONFIG)
    weather.rain("G1", 0, 1.0)
    assert not weather.is_wet("Z1", 0)
    weather.rain("G1", HOUR, 1.0)  # 2 mm over the last 6 h
    assert weather.is_wet("Z1", HOUR) and not weather.is_wet("Z2", HOUR)
    # the first millimetre leaves the window at 6 h: below 2 mm; wet 6 h more (drain-out)
    assert weather.is_wet("Z1", 12 * HOUR - 1) and not weather.is_wet("Z1", 12 * HOUR)


def test_rain_spread_thin_never_makes_it_wet_and_gauges_are_not_summed():
    weather = ZoneWeather(GAUGES, CONFIG)
    weather.rain("G2", 0, 1.5)  # 1.5 mm on one gauge of Z1 ...
    for n in range(1, 20):  # ... and 0.3 mm an hour on the other: at most 1.8 mm in any 6 h
        weather.rain("G1", n * HOUR, 0.3)
        assert not weather.is_wet("Z1", n * HOUR)  # 3.3 mm in the zone, but per gauge < 2


def test_late_or_repeated_readings_change_nothing():
    weather = ZoneWeather(GAUGES, CONFIG)
    weather.rain("G1", HOUR, 1.0)
    weather.rain("G1", HOUR, 5.0)  # redelivered with another value: the first one stands
    weather.rain("G1", 0, 5.0)  # older than the gauge's latest
    weather.rain("unknown", HOUR, 50.0)
    assert not weather.is_wet("Z1", HOUR)


readings = st.lists(st.tuples(st.integers(0, 6), st.sampled_from(["G1", "G2", "G3"]),
                              st.sampled_from([0.0, 0.5, 1.0, 2.0])), max_size=60)


@settings(max_examples=300, deadline=None)
@given(readings)
def test_wet_agrees_with_a_brute_force_model(steps):
    """Small units: window 10, drain-out 7, threshold 3; queried after every reading."""
    config = WeatherConfig(window_ms=10, threshold_mm=3.0, drain_out_ms=7)
    weather, seen, t = ZoneWeather(GAUGES, config), [], 0
    last: dict[str, int] = {}
    for step, gauge, mm in steps:
        t += step
        weather.rain(gauge, t, mm)
        if t > last.get(gauge, -1):
            seen.append((t, gauge, mm))
            last[gauge] = t
        for zone in ("Z1", "Z2"):
            assert weather.is_wet(zone, t) == brute_wet(seen, zone, t, config), (zone, t)


def brute_wet(seen, zone, t, config) -> bool:
    """Wet at t: some gauge of the zone had >= threshold in (s - window, s] for some s in
    [t - drain_out, t] (the sum only rises at a reading, so those s are enough)."""
    for gauge in (g for g, z in GAUGES.items() if z == zone):
        mine = [(ts, mm) for ts, g, mm in seen if g == gauge and ts <= t]
        candidates = {t - config.drain_out_ms} | {ts for ts, _ in mine
                                                  if t - config.drain_out_ms <= ts <= t}
        for s in candidates:
            if sum(mm for ts, mm in mine if s - config.window_ms < ts <= s) >= \
                    config.threshold_mm:
                return True
    return False
