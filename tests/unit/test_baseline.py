"""A drain's dry-weather band per hour of day (rules/baseline.py)."""

from __future__ import annotations

import math
import random
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rules.baseline import BaselineConfig, LevelHistory, hour_bands
from rules.weather import WetPeriod

UTC = ZoneInfo("UTC")
HOUR = 3_600_000
DAY = 24 * HOUR
DAY0 = 1_795_392_000_000  # 2026-11-23T00:00:00Z
CONFIG = BaselineConfig(window_days=14, band_k=3.0, min_halfwidth_cm=2.0, min_samples=6)


def daily_curve(hour: int) -> float:
    return 20.0 + (15.0 if hour in (7, 8, 19, 20) else 0.0)


def fourteen_days(noise: float = 1.0, seed: int = 1) -> list[tuple[int, float]]:
    rng = random.Random(seed)
    return [(DAY0 + d * DAY + h * HOUR + m * 600_000, daily_curve(h) + rng.uniform(-noise, noise))
            for d in range(14) for h in range(24) for m in range(6)]


def test_each_hour_gets_its_own_band_around_the_daily_curve():
    bands = hour_bands(fourteen_days(), [], UTC, DAY0 + 14 * DAY, CONFIG)
    assert sorted(bands) == list(range(24))
    assert abs(bands[3].median_cm - 20) < 0.3 and abs(bands[8].median_cm - 35) < 0.3
    assert bands[3].samples == 14 * 6
    assert bands[8].low_cm > bands[3].high_cm  # the morning peak is its own normal


def test_wet_days_are_left_out_and_the_window_is_respected():
    readings = fourteen_days()
    storm = [(DAY0 + 2 * DAY + h * HOUR, 90.0) for h in range(24)]  # a storm day: levels high
    wet = [WetPeriod(DAY0 + 2 * DAY + HOUR, DAY0 + 2 * DAY + 20 * HOUR)]
    with_storm = hour_bands(readings + storm, wet, UTC, DAY0 + 14 * DAY, CONFIG)
    assert with_storm == hour_bands([r for r in readings if not DAY0 + 2 * DAY <= r[0] < DAY0 + 3 * DAY],
                                    [], UTC, DAY0 + 14 * DAY, CONFIG)
    recent = hour_bands(readings, [], UTC, DAY0 + 14 * DAY, BaselineConfig(window_days=1))
    assert recent[3].samples == 6  # only the last day


def test_flat_levels_get_the_minimum_width_and_thin_hours_no_band():
    flat = [(DAY0 + d * DAY + 3 * HOUR, 12.0) for d in range(14)]
    band = hour_bands(flat, [], UTC, DAY0 + 14 * DAY, CONFIG)[3]
    assert (band.spread_cm, band.low_cm, band.high_cm) == (0.0, 10.0, 14.0)
    assert hour_bands(flat[:5], [], UTC, DAY0 + 14 * DAY, CONFIG) == {}


def test_local_hours_follow_the_town_timezone():
    shanghai = ZoneInfo("Asia/Shanghai")  # UTC+8: 00:00 UTC is 08:00 there
    readings = [(DAY0 + d * DAY, 30.0) for d in range(14)]
    assert list(hour_bands(readings, [], shanghai, DAY0 + 14 * DAY, CONFIG)) == [8]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 300), min_size=6, max_size=60), st.floats(1_000, 10_000))
def test_one_outlier_cannot_move_the_band_much(levels, outlier):
    """Robust: a single absurd reading moves the median by at most one rank, and the spread stays
    within the spread of the real readings: the band is not dragged towards the outlier."""
    readings = [(DAY0 + n * 1000, level) for n, level in enumerate(levels)]
    clean = hour_bands(readings, [], UTC, DAY0 + DAY, CONFIG)[0]
    dirty = hour_bands(readings + [(DAY0 + 999_000, outlier)], [], UTC, DAY0 + DAY, CONFIG)[0]
    ranked = sorted(levels)
    assert ranked[(len(ranked) - 1) // 2] <= dirty.median_cm <= ranked[len(ranked) // 2 + 1
                                                                       if len(ranked) > 1 else 0]
    assert dirty.spread_cm <= (max(levels) - min(levels)) and clean.samples + 1 == dirty.samples


def _fresh_columns(history: LevelHistory, day: int, wet: set[int],
                   config: BaselineConfig) -> tuple:
    """What a history holding the same days learns with nothing kept from before (one sort)."""
    fresh = LevelHistory()
    fresh.days = {d: [list(levels) for levels in hours] for d, hours in history.days.items()}
    return fresh.columns(day, wet, config)


@pytest.mark.parametrize("seed", range(3))
def test_bands_relearned_day_by_day_equal_a_fresh_sort(seed):
    """LevelHistory keeps each hour's sorted levels between days and only takes out the day that
    left the window and merges in the new one: over random histories (wet days, skipped days,
    late readings of earlier days, thin hours, zeros, -0.0 and NaN) it must learn exactly what a
    fresh sort learns, day after day."""
    rng = random.Random(seed)
    for trial in range(60):
        config = BaselineConfig(window_days=rng.choice([1, 3, 14]),
                                min_samples=rng.choice([1, 6]))
        history, wet = LevelHistory(), set()
        odd = [0.0] * 8 + [-0.0] * (trial % 3 == 0) + [1.5, 2.0, 20.0, 20.1] + (
            [math.nan] if trial % 7 == 0 else [])
        for day in range(5, 45):
            if rng.random() < 0.1:
                wet.add(day)
            quiet = rng.random() < 0.1
            for hour in range(24):
                for _ in range(0 if quiet else rng.choice([0, 1, 6])):
                    history.add(day, hour, rng.choice(odd) if rng.random() < 0.3
                                else round(rng.uniform(0, 40), 1))
            if rng.random() < 0.05:
                history.add(day - rng.randint(1, 3), rng.randrange(24), 5.0)
            learned = history.columns(day + 1, wet, config)
            assert repr(learned) == repr(_fresh_columns(history, day + 1, wet, config)), (
                trial, day)
            if rng.random() < 0.8:
                history.forget_before(day + 1 - config.window_days)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(-5, 400), st.just(0.0), st.just(-0.0), st.just(math.nan),
                          st.just(math.inf)), min_size=1, max_size=40))
@example([130.0, 1.6930826073377574])  # a + (b - a) / 2 and (a + b) / 2 differ in the last bit
def test_band_columns_take_the_quartiles_of_statistics_inclusive_method(levels):
    """The quartiles written out in `columns` (positions kept per count of levels) are
    `_quantile`'s to the bit, NaN, infinities and -0.0 included (as repr); and `_quantile` is
    `statistics.quantiles(method="inclusive")`'s method, equal within rounding."""
    from rules.baseline import _quantile

    history = LevelHistory()
    for level in levels:
        history.add(1, 0, level)
    medians, spreads, lows, highs, counts = history.columns(2, set(), BaselineConfig(
        window_days=1, band_k=1.0, min_halfwidth_cm=0.0, min_samples=1))
    ordered = sorted(levels)
    lower, median, upper = (_quantile(ordered, p) for p in (0.25, 0.5, 0.75))
    assert repr(medians[0]) == repr(median) and counts[0] == len(levels)
    assert repr(spreads[0]) == repr((upper - lower) * (1 / 1.349))
    if len(levels) > 1 and not any(map(math.isnan, levels)) and math.inf not in levels:
        import statistics

        # The same method as the standard library's, not the same rounding: _quantile
        # interpolates as a + (b - a) * t, statistics as (a + b) / 2 or a weighted mean.
        assert math.isclose(median, statistics.median(levels), rel_tol=1e-12, abs_tol=1e-9)
