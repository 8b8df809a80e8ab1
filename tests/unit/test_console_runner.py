"""A patrol_mismatch alert in the rule core: adopted like a citizen report on the live runner's
restart, never cleared by a detector (its lamp reporting lit, which is what a mismatch is, does
not close it), overdue and escalated at its deadline like any alert. Pure: the real core with
replay's MemorySink and a fixed night schedule (tests/rule_drive.py)."""

from __future__ import annotations

from rules.config import RuleConfig
from rules.engine import RuleEngine
from rules.fleet import Fleet
from rules.lifecycle import MemorySink, OpenAlert
from streetwatch.alerts.model import Condition

from rule_drive import DAY0, HOUR, MIN, FixedNights, road_lamps


def test_a_patrol_mismatch_is_adopted_left_open_and_escalated_at_its_deadline():
    lamps = road_lamps(3)
    engine = RuleEngine(Fleet(lamps), RuleConfig(), FixedNights(), MemorySink(), DAY0)
    mismatch = Condition("patrol_mismatch", "lamp:L002", "Z1", ("L002",), "seen dark, says lit")
    engine.adopt(OpenAlert(7, mismatch, "yellow", DAY0 + 2 * HOUR))
    for minute in range(0, 4 * 60, 5):  # every lamp reports lit all night long
        for lamp in lamps:
            engine.lamp_reading(lamp.id, DAY0 + minute * MIN, True, None)
        engine.tick(DAY0 + minute * MIN)
    events = [(e.event, e.kind, e.severity) for e in engine.book.events
              if e.kind == "patrol_mismatch"]
    assert events == [("overdue", "patrol_mismatch", "yellow"),
                      ("escalated", "patrol_mismatch", "red")]
    assert ("lamp:L002", "patrol_mismatch") in engine.book.open
