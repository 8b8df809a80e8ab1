"""overflow_imminent: near the overflow level, or projected to reach it within the horizon."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.overflow import (
    MIN_MS,
    OverflowConfig,
    minutes_to_overflow,
    overflow_imminent,
    rise_cm_per_min,
)

DEPTH, OVERFLOW = 200.0, 180.0  # margin 10 % of depth: 20 cm, so alert from 160 cm


def series(start_cm: float, rise_per_min: float, minutes: int = 20, every: int = 2):
    return [(m * MIN_MS, start_cm + rise_per_min * m) for m in range(0, minutes + 1, every)]


def test_within_the_margin_of_the_overflow_level():
    assert overflow_imminent(series(161, 0), DEPTH, OVERFLOW).startswith("level 161.0 cm is within")
    assert overflow_imminent(series(159, 0), DEPTH, OVERFLOW) is None


def test_a_fast_rise_is_projected_and_a_slow_one_is_not():
    fast = overflow_imminent(series(60, 2.0), DEPTH, OVERFLOW)  # 100 cm at 2 cm/min: 40 min...
    assert fast is None  # ... beyond the 30 min horizon
    # 120 cm at 3 cm/min; the robust level (median of the last three) is one reading behind: 114
    faster = overflow_imminent(series(60, 3.0), DEPTH, OVERFLOW)
    assert faster is not None and "rising 3.00 cm/min" in faster and "about 22 min" in faster


def test_one_wild_reading_raises_nothing():
    calm = series(50, 0.0)
    for spike in (199.0, 500.0, -80.0):
        glitched = calm[:5] + [(calm[5][0], spike)] + calm[6:]
        assert overflow_imminent(glitched, DEPTH, OVERFLOW) is None
    last_spike = calm[:-1] + [(calm[-1][0], 199.0)]  # even as the latest reading
    assert overflow_imminent(last_spike, DEPTH, OVERFLOW) is None


def test_too_few_readings_give_no_projection():
    assert overflow_imminent(series(120, 5.0, minutes=4), DEPTH, OVERFLOW) is None  # 3 readings
    assert rise_cm_per_min([(0, 1.0)]) is None


def test_noise_between_readings_seconds_apart_is_no_rise():
    """A sensor reporting every second with +-1 cm of noise: pairwise slopes look fast (cm per
    minute), but the rise they stand on across the window is within the noise (under
    `min_rise_cm`), so nothing is projected. The same rate kept up for minutes is a rise."""
    noise = [0.0, 0.9, 1.7, 0.2, 1.1, 1.9, 0.4, 1.5, 1.8]  # creeping up 1.8 cm in 8 s
    dense = [(k * 1000, 17.5 + n) for k, n in enumerate(noise)]
    assert rise_cm_per_min(dense) > 7.0  # as fast as a flood... over 8 seconds
    assert overflow_imminent(dense, DEPTH, OVERFLOW) is None
    kept_up = series(60, 6.0, minutes=10, every=1)  # 6 cm/min for 10 min: 60 cm of rise
    assert overflow_imminent(kept_up, DEPTH, OVERFLOW) is not None
    strict = OverflowConfig(min_rise_cm=0.0)  # the guard off: the noise would be projected
    assert overflow_imminent(dense, DEPTH, OVERFLOW, strict) is not None


@settings(max_examples=300, deadline=None)
@given(st.floats(0, 179), st.floats(0.01, 50), st.floats(0.01, 50))
def test_the_projection_is_monotone_in_the_rate_of_rise(level, rise_a, rise_b):
    slow, fast = sorted((rise_a, rise_b))
    assert minutes_to_overflow(level, OVERFLOW, fast) <= minutes_to_overflow(level, OVERFLOW, slow)
    raised_slow = overflow_imminent(series(level, slow), DEPTH, OVERFLOW) is not None
    raised_fast = overflow_imminent(series(level, fast), DEPTH, OVERFLOW) is not None
    assert raised_fast or not raised_slow


@settings(max_examples=300, deadline=None)
@given(st.floats(0, 150), st.integers(1, 9), st.floats(-1000, 1000))
def test_a_single_outlier_never_raises_on_a_flat_drain(level, where, outlier):
    points = series(level, 0.0)
    points[where] = (points[where][0], outlier)
    assert overflow_imminent(points, DEPTH, OVERFLOW, OverflowConfig()) is None
