"""The rule core's timers against a plain model (sorted dict), under random schedules (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.timers import NEVER, Timers

KEYS = 40
operations = st.lists(st.tuples(
    st.sampled_from(["schedule", "cancel", "advance"]), st.integers(0, KEYS - 1),
    st.integers(0, 20_000)), max_size=200)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_timers_fire_like_a_sorted_model(ops):
    """Each wanted instant fires once, in time order, never early, never after a change."""
    timers, model, now = Timers(KEYS), {}, 0
    for op, key, value in ops:
        if op == "schedule":
            at = now + value % 5_000  # anything from now on: same second, next bucket, later
            timers.schedule(key, at)
            model[key] = at
        elif op == "cancel":
            timers.cancel(key)
            model.pop(key, None)
        else:
            now += value
            if any(at <= now for at in model.values()):
                assert timers.any_due(now)  # the per-reading guard never hides a due wake
            fired = []
            while (due := timers.pop_due(now)) is not None:
                fired.append(due)
            expected = sorted((at, key) for key, at in model.items() if at <= now)
            assert sorted(fired) == expected
            assert [at for at, _ in fired] == sorted(at for at, _ in fired)
            for _, key in fired:
                del model[key]
        assert len(timers) == len(model)
        head = timers.next_at()  # a lower bound: never later than what is wanted
        if model:
            assert head is not None and head <= min(model.values())


def test_moving_a_wake_later_and_back():
    timers = Timers(4)
    timers.schedule(1, 5_000)
    timers.schedule(1, 9_500)  # later: no new filing, the old one re-files
    assert timers.pop_due(8_000) is None
    timers.schedule(1, 9_100)  # earlier than 9,500, same second
    assert timers.pop_due(9_999) == (9_100, 1)
    assert timers.pop_due(20_000) is None
    timers.schedule(2, NEVER)
    assert len(timers) == 0
