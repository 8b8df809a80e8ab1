"""The points the rule runner writes for the boards, as exact line protocol (influxdb-client's
Point is the encoder): where lamps stand, each drain's overflow level, each tick's lag. (A whole
float prints without a point, `lat=31`: line protocol still reads it as a float.)"""

from __future__ import annotations

from rules.fleet import Fleet
from rules.runner import site_lines
from streetwatch.lineproto import rules_tick_line
from streetwatch.town import DrainSite, LampSite

TS = 1_796_000_000_000


def test_placed_lamps_and_judged_drains_become_site_points():
    fleet = Fleet([LampSite("L2", "gw1", "Z1", "Main St", 2, lat=31.5, lon=121.25),
                   LampSite("L1", "gw1", "Z1", None, None, lat=31.0, lon=121.0,
                            in_service=False),
                   LampSite("L3", "gw1", "Z1", "R1", 3)])  # no position: not on the map
    drains = [DrainSite("D1", "gw2", "Z2", depth_cm=150, overflow_cm=120, lat=31.1, lon=121.1),
              DrainSite("D2", "gw2", "Z2", depth_cm=90),  # no overflow level: the depth
              DrainSite("D3", "gw2", "Z2")]  # nothing known: no point
    assert site_lines(fleet, drains, TS) == [
        f"lamp_site,gateway=gw1,lamp=L1,zone=Z1 in_service=false,lat=31,lon=121 {TS}",
        f"lamp_site,gateway=gw1,lamp=L2,road=Main\\ St,zone=Z1 in_service=true,lat=31.5,"
        f"lon=121.25 {TS}",
        f"drain_site,gateway=gw2,sensor=D1,zone=Z2 depth_cm=150,lat=31.1,lon=121.1,"
        f"overflow_cm=120 {TS}",
        f"drain_site,gateway=gw2,sensor=D2,zone=Z2 depth_cm=90,overflow_cm=90 {TS}",
    ]


def test_a_tick_point_carries_its_lag_at_the_tick_s_instant():
    assert rules_tick_line("rules@streetwatch", TS, 0.6) == (
        f"rules_tick,runner=rules@streetwatch lag_s=0.6 {TS}")
    assert rules_tick_line("a runner", TS, 2) == f"rules_tick,runner=a\\ runner lag_s=2 {TS}"
