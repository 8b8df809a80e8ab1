"""The fleet's columns and its id index (an open-addressing table instead of a dict)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.fleet import Fleet, IdIndex
from streetwatch.town import LampSite

ids = st.lists(st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=1,
                       max_size=12), max_size=300)


@settings(max_examples=200, deadline=None)
@given(ids, ids)
def test_the_index_finds_every_id_and_nothing_else(present, others):
    index = IdIndex(present)
    for lamp in present:
        assert present[index[lamp]] == lamp
    for lamp in others:
        assert (index.get(lamp) is None) == (lamp not in present)


def test_the_fleet_is_in_id_order_whatever_the_input_order():
    sites = [LampSite(f"L{n}", "gw1", "Z1", "R1", n, "C1", lat=1.5 if n == 2 else None,
                      works_from_ms=10 if n == 3 else None) for n in (3, 1, 2)]
    fleet = Fleet(iter(sites))  # a generator, as the registry streams it
    assert fleet.ids == ["L1", "L2", "L3"] and fleet.index["L3"] == 2
    assert fleet.site(1).lat == 1.5 and fleet.site(0).lat is None
    assert fleet.works == {2: (10, None)} and not fleet.in_service_at(2, 11)
    assert list(fleet.roads["R1"]) == [0, 1, 2] and fleet.neighbours(1) == (0, 2)
