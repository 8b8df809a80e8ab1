"""rules.reports: time-weighted nightly and monthly lighting rates, by hand-computed tables."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from rules.reports import (
    NightRate,
    RateSample,
    ZoneMonth,
    cut_at_noon,
    lighting_csv,
    lighting_month,
    month_bounds_ms,
    month_nights,
    night_rates,
    summarise_month,
)
from rules.schedule import LightsOnSchedule

SHANGHAI = ZoneInfo("Asia/Shanghai")
S = 1000
MIN = 60 * S
HOUR = 60 * MIN


def at(text: str, tz: ZoneInfo = SHANGHAI) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=tz).timestamp() * 1000)


def samples(start_ms: int, *runs: tuple[int, float], every_s: int = 60) -> list[RateSample]:
    """Consecutive runs of (count, rate) samples every `every_s` from `start_ms`."""
    out, ts = [], start_ms
    for count, rate in runs:
        for _ in range(count):
            out.append(RateSample(ts, rate, lit=round(rate * 100), expected=100))
            ts += every_s * S
    return out


# One night -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("case", "given", "night", "mean", "covered_ms", "below_ms"),
    [
        # 50 minutes at 1.0 then 10 at 0.9: (50 * 1.0 + 10 * 0.9) / 60 = 59/60; 10 min below 0.99
        ("brief example", samples(0, (50, 1.0), (10, 0.9)), (0, HOUR), 59 / 60, HOUR, 10 * MIN),
        # Samples for the first half only: the unsampled half is unknown, not dark.
        ("half covered", samples(0, (30, 0.98)), (0, HOUR), 0.98, 30 * MIN, 30 * MIN),
        # Each sample holds one tick at most: 0, 60, 120 s then 600 s -> holds of 60 s each.
        ("gap", [RateSample(t * S, lit / 2, lit, 2) for t, lit in ((0, 2), (60, 2), (120, 1),
                                                                   (600, 2))],
         (0, HOUR), 3.5 / 4, 4 * MIN, 1 * MIN),
        # A sample holds until the next one when that comes sooner: 30 s at 1.0, 60 s at 0.5.
        ("early next", [RateSample(0, 1.0, 1, 1), RateSample(30 * S, 0.5, 1, 2)],
         (0, 90 * S), (1.0 * 30 + 0.5 * 60) / 90, 90 * S, 60 * S),
        # A sample 30 s before the night holds 30 s into it; the last one is cut at the end.
        ("edges", [RateSample(-30 * S, 0.8, 4, 5), RateSample(30 * S, 1.0, 5, 5)],
         (0, 60 * S), (0.8 * 30 + 1.0 * 30) / 60, 60 * S, 30 * S),
        # expected == 0: no lamp should be lit, the sample stands for nothing and ends the
        # previous sample's hold.
        ("nothing expected", [RateSample(0, 0.9, 9, 10), RateSample(20 * S, 0.0, 0, 0),
                              RateSample(60 * S, 1.0, 10, 10)],
         (0, 120 * S), (0.9 * 20 + 1.0 * 60) / 80, 80 * S, 20 * S),
        ("no samples", [], (0, HOUR), None, 0, 0),
    ],
)
def test_night_rate(case, given, night, mean, covered_ms, below_ms):
    (rate,) = night_rates(given, [night], every_s=60, target=0.99)
    assert (rate.start_ms, rate.end_ms) == night
    assert (rate.covered_ms, rate.below_target_ms) == (covered_ms, below_ms)
    assert rate.mean_rate == (None if mean is None else pytest.approx(mean, abs=1e-12))


def test_the_stored_target_wins_over_the_configured_one():
    given = [RateSample(0, 0.985, 197, 200, target=0.98), RateSample(60 * S, 0.985, 197, 200)]
    (rate,) = night_rates(given, [(0, 120 * S)], every_s=60, target=0.99)
    assert rate.below_target_ms == 60 * S  # only the sample without a stored target


def test_below_target_is_decided_on_exact_counts():
    # 99/100 meets 0.99 exactly; 989/1000 is below it although its rate rounds to 0.99.
    given = [RateSample(0, 0.99, 99, 100), RateSample(60 * S, 0.99, 989, 1000)]
    (rate,) = night_rates(given, [(0, 120 * S)], every_s=60, target=0.99)
    assert rate.below_target_ms == 60 * S


def test_samples_are_assigned_to_their_own_nights_in_any_order():
    first, second = (0, 10 * MIN), (HOUR, HOUR + 10 * MIN)
    given = samples(HOUR, (10, 0.5)) + samples(0, (10, 1.0))
    rates = night_rates(given, [first, second], every_s=60, target=0.99)
    assert [r.mean_rate for r in rates] == [1.0, 0.5]
    assert [r.covered_ms for r in rates] == [10 * MIN, 10 * MIN]


# A month ---------------------------------------------------------------------------------------

def test_month_aggregates_time_weighted_over_its_nights():
    nights = [
        NightRate(at("2025-01-01 18:00"), at("2025-01-01 19:00"), HOUR, 59 / 60, 10 * MIN),
        NightRate(at("2025-01-02 18:00"), at("2025-01-02 20:00"), 2 * HOUR, 0.95, 2 * HOUR),
        NightRate(at("2025-01-03 18:00"), at("2025-01-04 06:00"), 0, None, 0),  # no data
    ]
    month = summarise_month("Z01", nights, SHANGHAI)
    # (59/60 * 60 + 0.95 * 120) / 180 = (59 + 114) / 180
    assert month == ZoneMonth("Z01", 2, pytest.approx(173 / 180), date(2025, 1, 2), 0.95, 130.0)


def test_worst_night_tie_goes_to_the_earliest():
    nights = [NightRate(at(f"2025-01-0{d} 18:00"), at(f"2025-01-0{d} 19:00"), HOUR, 0.9, 0)
              for d in (3, 1, 2)]
    assert summarise_month("Z01", nights, SHANGHAI).worst_night == date(2025, 1, 1)


def test_empty_month():
    assert summarise_month("Z01", [], SHANGHAI) == ZoneMonth("Z01", 0, None, None, None, 0.0)


def test_month_bounds_are_local_midnights():
    assert month_bounds_ms("2025-01", SHANGHAI) == (at("2025-01-01 00:00"), at("2025-02-01 00:00"))
    assert month_bounds_ms("2024-12", SHANGHAI)[1] == at("2025-01-01 00:00")
    berlin = ZoneInfo("Europe/Berlin")
    start, end = month_bounds_ms("2024-03", berlin)
    assert end - start == 31 * 24 * HOUR - HOUR  # the spring-forward hour is missing
    with pytest.raises(ValueError, match="YYYY-MM"):
        month_bounds_ms("2025-13", SHANGHAI)


def test_a_month_holds_the_nights_that_start_in_it():
    schedule = LightsOnSchedule(31.2304, 121.4737, "Asia/Shanghai", 0, {"Z01": "18:00-06:00"})
    nights = month_nights(schedule, "Z01", "2025-01", SHANGHAI)
    assert len(nights) == 31
    assert nights[0] == (at("2025-01-01 18:00"), at("2025-01-02 06:00"))
    assert nights[-1] == (at("2025-01-31 18:00"), at("2025-02-01 06:00"))  # whole, not clipped


def test_polar_night_is_cut_into_days_at_local_noon():
    oslo = ZoneInfo("Arctic/Longyearbyen")
    schedule = LightsOnSchedule(78.22, 15.65, "Arctic/Longyearbyen", 900)
    nights = month_nights(schedule, "Z", "2024-12", oslo)
    assert len(nights) == 31
    assert nights[0] == (at("2024-12-01 12:00", oslo), at("2024-12-02 12:00", oslo))
    assert nights[-1] == (at("2024-12-31 12:00", oslo), at("2025-01-01 12:00", oslo))
    short = (at("2024-12-01 18:00", oslo), at("2024-12-02 06:00", oslo))
    assert cut_at_noon(short, oslo) == [short]


def test_lighting_month_rows_and_csv():
    schedule = LightsOnSchedule(31.2304, 121.4737, "Asia/Shanghai", 0,
                                {"Z01": "18:00-19:00", "_city": "18:00-19:00"})
    data = {
        "_city": [],
        "Z01": samples(at("2025-01-01 18:00"), (50, 1.0), (10, 0.9))
        + samples(at("2025-01-02 18:00"), (60, 0.95))
        + samples(at("2024-12-31 18:00"), (60, 0.1)),  # a December night: not in January
    }
    rows = lighting_month(data, schedule, "2025-01", SHANGHAI, every_s=60,
                          targets={"Z01": 0.99, "_city": 0.99})
    assert lighting_csv(rows) == (
        "zone,nights,mean_rate,worst_night,worst_night_rate,minutes_below_target\n"
        "Z01,2,0.966667,2025-01-02,0.950000,70.0\n"
        "_city,0,,,,0.0\n"
    )


def test_a_zone_id_a_spreadsheet_would_run_is_defused_in_the_csv():
    """The id rule lets an id start with `-` (`-1+cmd`): the report's CSV writes it as text."""
    rows = [ZoneMonth("-1+cmd", 0, None, None, None, 0.0), ZoneMonth("Z-1", 1, -0.5, None, None, 0.0)]
    assert lighting_csv(rows) == (
        "zone,nights,mean_rate,worst_night,worst_night_rate,minutes_below_target\n"
        "'-1+cmd,0,,,,0.0\n"
        "Z-1,1,-0.500000,,,0.0\n")
