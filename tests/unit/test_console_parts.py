"""The crew console's pure parts: the patrol route (reasons, walking order), patrol versus
telemetry, alert urgency and cards, the label catalogue and the language choice."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.console.alert_cards import card, is_overdue, most_urgent_first
from api.console.catalogue import CATALOGUE, LANGUAGES, choose_language, duration, text
from api.console.mismatch import is_mismatch, telemetry_lit
from api.console.patrol_route import (
    OPEN_REASON,
    AlertTrace,
    LampPlace,
    Stop,
    distance_m,
    stops,
    walking_order,
)
from streetwatch.alerts.model import ALERT_KINDS, SEVERITIES, Place
from streetwatch.alerts.records import StoredAlert

H = 3_600_000
STALE_MS = 900_000
TZ = ZoneInfo("Asia/Shanghai")


def lamp(lamp_id, road=None, position=None, lat=None, lon=None):
    return LampPlace(lamp_id, road, position, lat, lon)


def stop(lamp_id, road=None, position=None, lat=None, lon=None):
    return Stop(lamp(lamp_id, road, position, lat, lon), ("dark",))


# The route ---------------------------------------------------------------------------------------
def test_reasons_come_from_open_and_lately_resolved_alerts_about_the_zones_lamps():
    lamps = {x: lamp(x) for x in ("L1", "L2", "L3", "L4")}
    traces = [AlertTrace("lamp_out", ("L1",), True), AlertTrace("citizen_report", ("L1",), True),
              AlertTrace("blind_spot", ("L2", "L3"), True),
              AlertTrace("lamp_out", ("L4",), False),         # resolved lately: repaired
              AlertTrace("day_burner", ("L4",), True),        # not a reason to walk
              AlertTrace("blockage", ("D1",), True),          # a drain
              AlertTrace("lamp_out", ("L9",), True)]          # not a lamp in service here
    found = {s.lamp.id: s.reasons for s in stops(lamps, traces)}
    assert found == {"L1": ("dark", "reported"), "L2": ("dark",), "L3": ("dark",),
                     "L4": ("repaired",)}
    assert set(OPEN_REASON) <= set(ALERT_KINDS)


def test_a_road_is_walked_in_position_order_and_the_nearest_road_end_is_next():
    # Far Rd comes first by name; from there River Rd's start (R1) is the nearest road end, so
    # it is walked forwards; from its end (R9) Lake Rd's far end (K2) is nearest: walked
    # backwards, and so is Main St after it. Roads without coordinates last, by name.
    route = [stop("M3", "Main St", 3, 31.2030, 121.0), stop("M1", "Main St", 1, 31.2010, 121.0),
             stop("F1", "Far Rd", 1, 31.3000, 121.0),
             stop("K1", "Lake Rd", 1, 31.2040, 121.0), stop("K2", "Lake Rd", 2, 31.2050, 121.0),
             stop("R1", "River Rd", 1, 31.2200, 121.0), stop("R9", "River Rd", 9, 31.2070, 121.0),
             stop("X", None, None, None, None), stop("N1", "No Map Rd", 1),
             stop("A1", "Aardvark Ln", 2), stop("A0", "Aardvark Ln", None)]
    order = [s.lamp.id for s in walking_order(route)]
    assert order == ["F1", "R1", "R9", "K2", "K1", "M3", "M1", "A1", "A0", "N1", "X"]


def test_the_walk_starts_with_the_first_road_by_name():
    route = [stop("B1", "B Rd", 1, 31.0, 121.0), stop("A1", "A Rd", 1, 31.5, 121.0)]
    assert [s.lamp.id for s in walking_order(route)] == ["A1", "B1"]


@given(st.lists(st.tuples(st.sampled_from(["A", "B", "C", None]), st.integers(1, 50),
                          st.none() | st.floats(31.0, 31.1)), max_size=40))
def test_every_stop_is_walked_once(rows):
    route = [stop(f"L{i}", road, pos, lat, None if lat is None else 121.0)
             for i, (road, pos, lat) in enumerate(rows)]
    walked = walking_order(route)
    assert sorted(s.lamp.id for s in walked) == sorted(s.lamp.id for s in route)
    for road in ("A", "B", "C"):  # a road's lamps together, in position order one way or other
        positions = [(s.lamp.position, s.lamp.id) for s in walked if s.lamp.road == road]
        assert positions in (sorted(positions), sorted(positions, reverse=True))


def test_distance_across_town():
    assert distance_m((31.2304, 121.4737), (31.2304, 121.4737)) == 0
    assert distance_m((31.0, 121.0), (31.001, 121.0)) == pytest.approx(111.2, abs=0.2)


# Patrol versus telemetry ------------------------------------------------------------------------
@pytest.mark.parametrize(("reading", "lit"), [
    ({"time": 0, "on": True, "fault": ""}, True),
    ({"time": -STALE_MS, "on": True, "fault": ""}, True),          # exactly stale_after old
    ({"time": -STALE_MS - 1, "on": True, "fault": ""}, False),     # stale
    ({"time": 0, "on": False, "fault": ""}, False),
    ({"time": 0, "on": True, "fault": "driver_failure"}, False),   # a fault that leaves it dark
    ({"time": 0, "on": True, "fault": "tilt"}, True),              # lit, though tilted
    ({"time": 0, "on": True, "fault": None}, True),
    (None, False),
])
def test_telemetry_calls_a_lamp_lit_as_the_lighting_rate_does(reading, lit):
    assert telemetry_lit(reading, 0, STALE_MS) is lit


@pytest.mark.parametrize(("mark", "lit", "mismatch"), [
    ("dark", True, True), ("dark", False, False), ("lit", True, False), ("lit", False, False),
    ("damaged", True, False), ("damaged", False, False)])
def test_only_dark_against_lit_is_a_mismatch(mark, lit, mismatch):
    assert is_mismatch(mark, lit) is mismatch


# Alerts -----------------------------------------------------------------------------------------
def stored(alert_id, severity="yellow", deadline_ms=10 * H, overdue=False, **more):
    fields = dict(id=alert_id, kind="lamp_out", subject="lamp:L1", zone="north",
                  severity=severity, state="raised", devices=("L1",), message="dark",
                  place=Place("Main St", 3, 31.2304, 121.4737), raised_at_ms=0,
                  last_seen_at_ms=0, seen_count=1, deadline_ms=deadline_ms, overdue=overdue)
    return StoredAlert(**{**fields, **more})


def test_most_urgent_first_red_then_the_nearest_deadline_then_the_oldest():
    alerts = [stored(1, "blue", 1 * H), stored(2, "yellow", 9 * H), stored(3, "red", 20 * H),
              stored(4, "yellow", 2 * H), stored(5, "yellow", 2 * H), stored(6, "red", 5 * H)]
    assert [a.id for a in most_urgent_first(alerts)] == [6, 3, 4, 5, 2, 1]


def test_a_card_says_time_left_or_overdue_in_the_crews_words_and_the_towns_time():
    soon = card(stored(1, deadline_ms=2 * H + 30 * 60_000), H, TZ, "en", "geo:{lat},{lon}")
    assert (soon.due, soon.overdue, soon.new) == ("1 h 30 min left", False, False)
    assert soon.deadline == "Deadline 1970-01-01 10:30"  # 02:30 UTC in Shanghai
    assert soon.map_url == "geo:31.230400,121.473700" and soon.place == "Main St, lamp no. 3"
    late = card(stored(2, deadline_ms=H), 3 * H, TZ, "zh", "geo:{lat},{lon}")
    assert (late.due, late.overdue, late.severity_label) == ("已超时 2小时", True, "黄色")
    marked = stored(3, deadline_ms=99 * H, overdue=True)
    assert is_overdue(marked, 0) and not is_overdue(stored(4, deadline_ms=H), H - 1)
    assert card(stored(5, place=Place()), 60_000, TZ, "en", "geo:{lat},{lon}").map_url is None
    assert card(stored(6), 60_000, TZ, "en", "geo:{lat},{lon}").new
    done = card(stored(7, state="resolved", resolved_at_ms=H, resolved_by="crew-north",
                       resolve_note="fixed"), 2 * H, TZ, "en", "geo:{lat},{lon}")
    assert (done.due, done.new, done.overdue) == (None, False, False)
    assert done.resolved == "Resolved by crew-north at 1970-01-01 09:00"


# Labels -----------------------------------------------------------------------------------------
def test_every_label_has_both_languages_and_the_same_fields():
    import string

    for key, texts in CATALOGUE.items():
        assert set(texts) == set(LANGUAGES), key
        assert all(texts[lang].strip() or key == "unit.join" for lang in LANGUAGES), key
        fields = [{f for _, f, _, _ in string.Formatter().parse(texts[lang]) if f}
                  for lang in LANGUAGES]
        assert fields[0] == fields[1], key


def test_every_kind_severity_state_and_event_has_a_label():
    from typing import get_args

    from streetwatch.alerts.records import AlertState, HistoryEventName

    for kind in ALERT_KINDS:
        assert text("zh", f"kind.{kind}") and text("en", f"kind.{kind}")
    names = [f"severity.{s}" for s in SEVERITIES] + [f"state.{s}" for s in get_args(AlertState)]
    names += [f"event.{e}" for e in get_args(HistoryEventName)]
    assert all(name in CATALOGUE for name in names)


@pytest.mark.parametrize(("query", "cookie", "accept", "chosen"), [
    (None, None, None, "en"),
    (None, None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
    (None, None, "en-GB, zh;q=0.5", "en"),
    (None, None, "fr, zh;q=0.4, en;q=0.3", "zh"),
    (None, None, "de, fr", "en"),
    (None, None, "zh;q=0, en;q=0.1", "en"),
    (None, None, "zh;q=oops, en", "en"),
    ("zh", None, "en", "zh"),          # ?lang= wins over Accept-Language
    ("en", "zh", "zh", "en"),          # ... and over the cookie
    (None, "zh", "en", "zh"),          # the cookie over Accept-Language
    ("klingon", None, "zh-TW", "zh"),  # an unknown ?lang= is ignored
])
def test_the_language_is_the_query_then_the_cookie_then_accept_language(query, cookie, accept,
                                                                         chosen):
    assert choose_language(query, cookie, accept) == chosen


@pytest.mark.parametrize(("ms", "en", "zh"), [
    (0, "1 min", "1分钟"), (59 * 60_000, "59 min", "59分钟"), (60 * 60_000, "1 h", "1小时"),
    (H + 60_000, "1 h 1 min", "1小时1分钟"), (24 * H, "1 d", "1天"),
    (26 * H + 59 * 60_000, "1 d 2 h", "1天2小时"), (-3 * H, "3 h", "3小时")])
def test_durations(ms, en, zh):
    assert (duration("en", ms), duration("zh", ms)) == (en, zh)
