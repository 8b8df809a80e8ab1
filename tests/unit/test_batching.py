"""BatchQueue (size/time batching with a fake clock) and SeriesClock, without threads racing."""

import threading

from ingest.batching import AckToken, BatchQueue
from ingest.writer import SeriesClock
from streetwatch.validation import MessageOutcome, RejectRecord


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def outcome(n_lines=1, rejects=0):
    record = RejectRecord("schema", "d", "t", "gw1", b"x")
    return MessageOutcome(lines=["l"] * n_lines, rejects=[record] * rejects)


def test_batch_is_handed_out_when_full():
    queue = BatchQueue(max_messages=3, max_wait_s=60, clock=FakeClock())
    for mid in range(3):
        queue.add(outcome(), AckToken(1, mid), 0)
    batch = queue.take()
    assert [a.mid for a in batch.acks] == [0, 1, 2]
    assert batch.lines == ["l", "l", "l"]


def test_partial_batch_waits_for_its_age():
    clock = FakeClock()
    queue = BatchQueue(max_messages=100, max_wait_s=0.5, clock=clock)
    queue.add(outcome(rejects=1), AckToken(1, 7), 123)
    clock.now += 0.5
    batch = queue.take()
    assert batch.messages == 1 and batch.rejects[0][1] == 123


def test_line_bound_also_closes_a_batch():
    queue = BatchQueue(max_messages=100, max_wait_s=60, max_lines=10, clock=FakeClock())
    queue.add(outcome(n_lines=10), AckToken(1, 1), 0)
    assert len(queue.take().lines) == 10


def test_close_drains_the_rest_then_returns_none():
    queue = BatchQueue(max_messages=100, max_wait_s=60, clock=FakeClock())
    queue.add(outcome(), AckToken(1, 1), 0)
    queue.close()
    assert queue.take().messages == 1
    assert queue.take() is None


def test_take_blocks_until_another_thread_fills_the_batch():
    queue = BatchQueue(max_messages=2, max_wait_s=60)
    got = []
    taker = threading.Thread(target=lambda: got.append(queue.take()), daemon=True)
    taker.start()
    queue.add(outcome(), AckToken(1, 1), 0)
    queue.add(outcome(), AckToken(1, 2), 0)
    taker.join(timeout=10)
    assert not taker.is_alive() and got[0].messages == 2


def test_reject_clock_never_repeats_a_timestamp_per_series():
    clock = SeriesClock()
    stamps = [clock.next(("schema", "gw1"), 1000) for _ in range(3)]
    assert stamps == [1000, 1001, 1002]
    assert clock.next(("schema", "gw2"), 1000) == 1000
    assert clock.next(("schema", "gw1"), 5000) == 5000


def test_a_lone_message_is_handed_out_after_max_wait_by_a_waiting_writer():
    queue = BatchQueue(max_messages=100, max_wait_s=0.05)
    got = []
    taker = threading.Thread(target=lambda: got.append(queue.take()), daemon=True)
    taker.start()  # the writer is already waiting on an empty queue
    queue.add(outcome(), AckToken(1, 1), 0)
    taker.join(timeout=10)
    assert not taker.is_alive(), "a partial batch must not wait for more messages forever"
    assert got[0].messages == 1
