"""`streetwatch rules replay`: the rule core over the registry and stored readings, JSON lines out.

Reads only: the registry (SQL) and InfluxDB. Writes nothing to SQL, InfluxDB or MQTT. The core
starts `warm_up_s` before `from` so every lamp's state (and every alert's age) is known by then;
what it decides during the warm-up is not printed. Before that, each drain's dry-weather baseline
is learned from the stored drain and rain readings of the learning window (`baseline_window_days`)
before the start, exactly as the live runner learns it on its start.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import TextIO

from rules.config import REPLAY_WARM_UP_S
from rules.engine import RuleEngine
from rules.lifecycle import MemorySink
from rules.replay import history_start_ms, remember, replay_lines
from rules.sources import fleet_of, network_of, stored_history, stored_observations
from streetwatch.influx import InfluxClient
from streetwatch.registry.store import iter_lamps, make_engine
from streetwatch.settings import Settings


def stored_replay_lines(settings: Settings, from_ms: int, to_ms: int, every_s: int,
                        warm_up_s: int = REPLAY_WARM_UP_S) -> Iterator[str]:
    """The replay's output lines for [from_ms, to_ms) over what storage holds."""
    engine_sql = make_engine(settings.sql_url())
    try:
        fleet = fleet_of(iter_lamps(engine_sql))
        network = network_of(engine_sql)
    finally:
        engine_sql.dispose()
    every_ms = every_s * 1000
    start_ms = (from_ms - warm_up_s * 1000) // every_ms * every_ms
    core = RuleEngine.from_settings(fleet, settings, MemorySink(), start_ms, network)
    with InfluxClient.from_settings(settings) as influx:
        if len(core.drains):
            remember(core, stored_history(influx, history_start_ms(core, start_ms), start_ms))
            gc.collect()
            gc.freeze()  # the learned history lives long: the collector need not walk it
        yield from replay_lines(core, stored_observations(influx, start_ms, to_ms), from_ms,
                                to_ms, every_ms)


def write_replay(settings: Settings, from_ms: int, to_ms: int, every_s: int, out: TextIO,
                 warm_up_s: int = REPLAY_WARM_UP_S) -> int:
    """Write the replay to `out`, one JSON object per line; returns the number of lines."""
    count = 0
    for line in stored_replay_lines(settings, from_ms, to_ms, every_s, warm_up_s):
        out.write(line + "\n")
        count += 1
    return count
