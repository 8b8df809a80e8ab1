"""rules.drain_reports: the drain period summary and the dredging list, on hand-built data."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from rules.baseline import BaselineConfig
from rules.drain_reports import (
    DrainAlert,
    DrainPeriod,
    DrainReportConfig,
    DredgingConfig,
    day_levels,
    drain_period_rows,
    drains_csv,
    drains_report_spans,
    dredging_csv,
    dredging_days,
    dredging_list,
    dredging_spans,
    theil_sen_slope,
)
from rules.weather import WeatherConfig
from streetwatch.town import DrainObservation, DrainSite, GaugeSite, RainObservation

UTC = ZoneInfo("UTC")
SHANGHAI = ZoneInfo("Asia/Shanghai")
MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
DAY0 = 1_795_392_000_000  # 2026-11-23T00:00:00Z
FIRST_DAY = date(2026, 11, 23).toordinal()


def readings(drain: str, *pairs: tuple[int, float]) -> list[DrainObservation]:
    return [DrainObservation(ts, drain, level) for ts, level in pairs]


# Period summary ----------------------------------------------------------------------------------

# A small weather: rain over 1 h reaching 2 mm makes the zone wet, for 1 h after.
SMALL_WEATHER = WeatherConfig(window_ms=HOUR, threshold_mm=2.0, drain_out_ms=HOUR)
PERIOD_CONFIG = DrainReportConfig(UTC, SMALL_WEATHER, BaselineConfig(window_days=14))
FROM = DAY0 + 14 * DAY + 10 * HOUR  # 2026-12-07T10:00Z: fourteen whole days of history before it
WINDOW = (FROM, FROM + 2 * HOUR)
CONFIGURED = DrainSite("D1", "gw1", "Z1", depth_cm=100, normal_low_cm=10, normal_high_cm=20)


def test_minutes_above_a_configured_band_hold_each_reading_until_the_next_at_most_30_min():
    # minute (from FROM): level. Above the band (high 20): -10, +20, +30, +115.
    #   -10 holds until +10 (next reading): 10 min inside the window
    #   +20 holds until +30: 10; +30 would hold until +100 but at most 30 min: 30
    #   +115 holds 30 min, cut at the window's end: 5            -> 55 minutes above
    given = readings("D1", *[(FROM + m * MIN, level) for m, level in
                             [(-10, 25), (10, 15), (20, 25), (30, 25), (100, 15), (115, 25)]])
    [row] = drain_period_rows([CONFIGURED], [], given, [], [], WINDOW, PERIOD_CONFIG)
    assert row == DrainPeriod("D1", "Z1", readings=5, max_level_cm=25, minutes_above_band=55.0,
                              minutes_wet=0.0, alerts=0, alert_kinds=(), band="configured")


def test_minutes_wet_are_the_zones_wet_periods_inside_the_window():
    gauges = [GaugeSite("G1", "gw1", "Z1"), GaugeSite("G2", "gw1", "Z3")]
    # 3 mm at FROM - 90 min: wet until + 1 h window + 1 h drain-out = FROM + 30 min.
    # Zone Z3: 3 mm at FROM + 90 min: wet from then to the end (30 min). Z2 has no gauge.
    rain = [RainObservation(FROM - 90 * MIN, "G1", 3.0),
            RainObservation(FROM + 90 * MIN, "G2", 3.0)]
    drains = [CONFIGURED, DrainSite("D2", "gw1", "Z2"), DrainSite("D3", "gw1", "Z3")]
    rows = drain_period_rows(drains, gauges, [], rain, [], WINDOW, PERIOD_CONFIG)
    assert [(r.drain, r.minutes_wet) for r in rows] == [("D1", 30.0), ("D2", 0.0), ("D3", 30.0)]


def dry_history(drain: str, level_cm: float, days: int = 14) -> list[DrainObservation]:
    """Readings every 10 min at `level_cm` for the `days` whole days before FROM's day."""
    start = FROM - 10 * HOUR - days * DAY
    return readings(drain, *[(start + i * 10 * MIN, level_cm) for i in range(days * 144)])


def test_a_drain_without_configured_band_is_judged_against_its_learned_band():
    # 14 dry days at 20 cm: flat, so the band is 20 +- the minimum half-width 2 -> high 22.
    learned = DrainSite("D2", "gw1", "Z1")
    window = readings("D2", (FROM, 21.0), (FROM + 10 * MIN, 30.0), (FROM + 20 * MIN, 21.0))
    [row] = drain_period_rows([learned], [], dry_history("D2", 20.0) + window, [], [], WINDOW,
                              PERIOD_CONFIG)
    assert (row.band, row.readings, row.max_level_cm, row.minutes_above_band) == (
        "learned", 3, 30.0, 10.0)


def test_the_configured_band_wins_over_the_history():
    configured = DrainSite("D2", "gw1", "Z1", normal_low_cm=0, normal_high_cm=40)
    given = dry_history("D2", 20.0) + readings("D2", (FROM, 30.0))
    [row] = drain_period_rows([configured], [], given, [], [], WINDOW, PERIOD_CONFIG)
    assert (row.band, row.minutes_above_band) == ("configured", 0.0)


def test_wet_days_of_the_history_do_not_teach_the_band():
    # The history at 60 cm on every day is all wet (rain every 30 min): no dry day, no band.
    gauges = [GaugeSite("G1", "gw1", "Z1")]
    start = FROM - 10 * HOUR - 14 * DAY
    rain = [RainObservation(start + i * 30 * MIN, "G1", 3.0) for i in range(14 * 48)]
    learned = DrainSite("D2", "gw1", "Z1")
    given = dry_history("D2", 60.0) + readings("D2", (FROM, 90.0))
    [row] = drain_period_rows([learned], gauges, given, rain, [], WINDOW, PERIOD_CONFIG)
    assert (row.band, row.minutes_above_band) == ("none", 0.0)


def test_a_drain_with_no_readings_and_no_band_still_has_its_row():
    [row] = drain_period_rows([DrainSite("D9", "gw1", "Z1")], [], [], [], [], WINDOW,
                              PERIOD_CONFIG)
    assert row == DrainPeriod("D9", "Z1", 0, None, 0.0, 0.0, 0, (), "none")


def test_alerts_raised_inside_the_window_are_counted_with_their_distinct_kinds():
    alerts = [DrainAlert("D1", "blockage", FROM), DrainAlert("D1", "cover_open", FROM + HOUR),
              DrainAlert("D1", "blockage", FROM + 90 * MIN),
              DrainAlert("D1", "low_battery", FROM - 1),
              DrainAlert("D1", "drain_silent", WINDOW[1]),
              DrainAlert("D7", "blockage", FROM)]  # not a registered drain
    [row] = drain_period_rows([CONFIGURED], [], [], [], alerts, WINDOW, PERIOD_CONFIG)
    assert (row.alerts, row.alert_kinds) == (3, ("blockage", "cover_open"))


def test_rows_are_sorted_by_drain_and_the_csv_is_exact():
    drains = [DrainSite("D2", "gw1", "Z2"), CONFIGURED]
    given = readings("D1", (FROM, 25.5), (FROM + 10 * MIN, 12.25))
    alerts = [DrainAlert("D1", "overflow_imminent", FROM), DrainAlert("D1", "blockage", FROM)]
    rows = drain_period_rows(drains, [], given, [], alerts, WINDOW, PERIOD_CONFIG)
    assert drains_csv(rows) == (
        "drain,zone,readings,max_level_cm,minutes_above_band,minutes_wet,alerts,alert_kinds,band\n"
        "D1,Z1,2,25.50,10.0,0.0,2,blockage;overflow_imminent,configured\n"
        "D2,Z2,0,,0.0,0.0,0,,none\n")


def test_readings_are_read_from_the_baseline_window_and_rain_from_its_wet_lookback():
    config = DrainReportConfig(SHANGHAI, WeatherConfig(), BaselineConfig(window_days=14))
    from_ms = int(datetime(2026, 12, 7, 0, 10, tzinfo=SHANGHAI).timestamp() * 1000)
    midnight = int(datetime(2026, 11, 23, tzinfo=SHANGHAI).timestamp() * 1000)
    assert drains_report_spans((from_ms, from_ms + DAY), config) == (
        midnight, midnight - 12 * HOUR)


# Dredging list -----------------------------------------------------------------------------------

DREDGING = DredgingConfig(UTC)  # 4 weeks, 18 hours a day, 3 dry days a week, 3 weeks
AT = DAY0 + 28 * DAY + 9 * HOUR  # the four weeks are the 28 days from DAY0


def daily_cycle(hour: int) -> float:
    """Morning and evening water use on top of the base level."""
    return 10.0 if hour in (7, 8, 19, 20) else 0.0


def days_of(drain: str, base_cm, days=range(28), hours=range(24)) -> list[DrainObservation]:
    """Readings every 20 min on `days` (0 = DAY0) at `base_cm(day)` plus the daily cycle."""
    return [DrainObservation(DAY0 + d * DAY + h * HOUR + m * 20 * MIN, drain,
                             base_cm(d) + daily_cycle(h))
            for d in days for h in hours for m in range(3)]


def rain_on(gauge: str, days) -> list[RainObservation]:
    """5 mm at noon on each of `days`: wet from noon to midnight (6 h window + 6 h drain-out)."""
    return [RainObservation(DAY0 + d * DAY + 12 * HOUR, gauge, 5.0) for d in days]


def in_time_order(*groups: list[DrainObservation]) -> list[DrainObservation]:
    return sorted((r for group in groups for r in group), key=lambda r: (r.ts_ms, r.drain))


def test_a_drain_creeping_2_cm_a_week_ranks_above_a_steady_one():
    creeping = DrainSite("A-creep", "gw1", "Z1", depth_cm=60, overflow_cm=52)
    steady = DrainSite("B-steady", "gw1", "Z1", depth_cm=60)
    given = in_time_order(days_of("A-creep", lambda d: 20 + 2 * (d // 7)),
                          days_of("B-steady", lambda d: 20.0))
    first, second = dredging_list([steady, creeping], [], given, [], AT, DREDGING)
    assert first.drain == "A-creep" and second.drain == "B-steady"
    assert first.weekly_baseline_cm == (20.0, 22.0, 24.0, 26.0)
    assert first.dry_days == (7, 7, 7, 7)
    assert (first.creep_cm_per_week, first.rise_cm, first.latest_baseline_cm) == (2.0, 6.0, 26.0)
    assert (first.capacity_used_pct, first.weeks_to_overflow) == (50.0, 13.0)  # of 52 cm
    assert (second.creep_cm_per_week, second.rise_cm, second.overflow_cm) == (0.0, 0.0, 60)
    assert second.weeks_to_overflow is None and not first.flag and not second.flag


def test_a_storm_weeks_wet_days_are_left_out_and_do_not_look_like_creep():
    # Week 3 (days 14-20): four storm days at 80 cm. With rain on the zone's gauge they are wet
    # and left out; the three dry days keep the week at 20 cm.
    site = DrainSite("D1", "gw1", "Z1")
    storm = {14, 15, 16, 17}
    given = days_of("D1", lambda d: 80.0 if d in storm else 20.0)
    [row] = dredging_list([site], [GaugeSite("G1", "gw1", "Z1")], given, rain_on("G1", storm),
                          AT, DREDGING)
    assert row.weekly_baseline_cm == (20.0, 20.0, 20.0, 20.0)
    assert row.dry_days == (7, 7, 3, 7)
    assert (row.creep_cm_per_week, row.rise_cm, row.flag) == (0.0, 0.0, "")
    # Without the gauge the storm is not seen: the week's median is a storm day's level.
    [blind] = dredging_list([site], [], given, [], AT, DREDGING)
    assert blind.weekly_baseline_cm[2] == 80.0


def test_too_few_dry_days_are_flagged_and_ranked_last_never_dropped():
    wet_zone = DrainSite("A-wet", "gw1", "Z2", depth_cm=50)  # its zone rains 5 days a week
    silent = DrainSite("B-silent", "gw1", "Z1")
    steady = DrainSite("C-steady", "gw1", "Z1")
    rainy = [d for d in range(28) if d % 7 < 5]
    given = in_time_order(days_of("A-wet", lambda d: 30 + 5 * (d // 7)),
                          days_of("C-steady", lambda d: 20.0))
    rows = dredging_list([wet_zone, silent, steady], [GaugeSite("G2", "gw1", "Z2")], given,
                         rain_on("G2", rainy), AT, DREDGING)
    assert [(r.drain, r.flag) for r in rows] == [
        ("C-steady", ""), ("A-wet", "too_few_dry_days"), ("B-silent", "no_readings")]
    wet = rows[1]
    assert wet.dry_days == (2, 2, 2, 2) and wet.weekly_baseline_cm == (None,) * 4
    assert wet.creep_cm_per_week is None and wet.rise_cm is None


def test_days_with_too_few_hours_of_readings_do_not_count():
    # Every day has readings in 17 hours only (a gap from 07:00): no usable day at all.
    given = days_of("D1", lambda d: 20.0, hours=[h for h in range(24) if not 7 <= h < 14])
    [row] = dredging_list([DrainSite("D1", "gw1", "Z1")], [], given, [], AT, DREDGING)
    assert row.dry_days == (0, 0, 0, 0) and row.flag == "too_few_dry_days"


def test_one_missing_week_still_judges_the_creep_from_the_other_three():
    given = days_of("D1", lambda d: 20 + 2 * (d // 7), days=[d for d in range(28) if d // 7 != 1])
    [row] = dredging_list([DrainSite("D1", "gw1", "Z1")], [], given, [], AT, DREDGING)
    assert row.weekly_baseline_cm == (20.0, None, 24.0, 26.0)
    assert (row.creep_cm_per_week, row.rise_cm) == (2.0, 6.0)


def test_a_day_level_is_the_median_of_its_hourly_medians():
    # 12 readings in hour 3 at 90 cm and one in each other hour at 20 cm: the hour counts once.
    given = sorted(
        [DrainObservation(DAY0 + 3 * HOUR + i * 5 * MIN, "D1", 90.0) for i in range(12)]
        + [DrainObservation(DAY0 + h * HOUR, "D1", 20.0) for h in range(24) if h != 3],
        key=lambda r: r.ts_ms)
    assert day_levels(["D1"], given, UTC) == {"D1": {FIRST_DAY: (20.0, 24)}}


@pytest.mark.parametrize(("points", "slope"), [
    ([(0, 20.0), (1, 22.0), (2, 60.0), (3, 26.0)], 2.0),  # one wild week does not move it
    ([(0, 5.0), (3, 2.0)], -1.0),
    ([(0, 5.0)], None),
])
def test_theil_sen_slope(points, slope):
    assert theil_sen_slope(points) == slope


def test_the_weeks_are_whole_local_days_before_the_day_of_at():
    config = DredgingConfig(SHANGHAI, WeatherConfig(), weeks=2)
    at_ms = int(datetime(2026, 12, 21, 9, 30, tzinfo=SHANGHAI).timestamp() * 1000)
    first = date(2026, 12, 7).toordinal()
    assert dredging_days(at_ms, config) == [range(first, first + 7), range(first + 7, first + 14)]
    midnight = int(datetime(2026, 12, 7, tzinfo=SHANGHAI).timestamp() * 1000)
    assert dredging_spans(at_ms, config) == ((midnight, midnight + 14 * DAY), midnight - 12 * HOUR)


def test_dredging_csv_is_exact():
    creeping = DrainSite("D1", "gw1", "Z1", depth_cm=52)
    given = days_of("D1", lambda d: 20 + 2 * (d // 7), days=[d for d in range(28) if d // 7 != 1])
    rows = dredging_list([creeping, DrainSite("D2", "gw1", "Z1")], [], given, [], AT, DREDGING)
    assert dredging_csv(rows) == (
        "rank,drain,zone,creep_cm_per_week,rise_cm,latest_baseline_cm,overflow_cm,"
        "capacity_used_pct,weeks_to_overflow,weekly_baseline_cm,dry_days,flag\n"
        "1,D1,Z1,2.00,6.00,26.00,52.00,50.0,13.0,20.00;;24.00;26.00,7;0;7;7,\n"
        "2,D2,Z1,,,,,,,;;;,0;0;0;0,no_readings\n")


def test_drain_and_zone_ids_a_spreadsheet_would_run_are_defused_in_both_csvs():
    """The id rule lets an id start with `-`: both drain reports write such ids as text."""
    hostile = DrainSite("-2+D", "gw1", "-Z")
    period = drain_period_rows([hostile], [], [], [], [], WINDOW, PERIOD_CONFIG)
    dredging = dredging_list([hostile], [], [], [], AT, DREDGING)
    assert drains_csv(period).splitlines()[1].startswith("'-2+D,'-Z,")
    assert dredging_csv(dredging).splitlines()[1].startswith("1,'-2+D,'-Z,")
