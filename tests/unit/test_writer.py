"""BatchWriter against every InfluxDB answer: what is retried, split, dead-lettered, acked or fatal.

InfluxDB is the in-memory `FakeInflux` (an httpx.MockTransport): it can give the answers a real
influxd 1.6 cannot be made to give (408, 429 + Retry-After, 5xx) and lets the tests count requests.
The same paths against a real influxd are in tests/integration/test_ingest_influx_answers.py.
"""

from __future__ import annotations

import math
import threading

import pytest

from ingest.batching import AckToken, BatchQueue
from ingest.dead_letter import DeadLetterFile, read_dead_letters
from ingest.writer import BatchWriter
from streetwatch.errors import InfluxAuthError, InfluxRejected
from streetwatch.validation import MessageOutcome, RejectRecord

from fake_influx import FakeInflux


class Harness:
    """A writer over a FakeInflux, recording acks, fatal errors and backoff pauses."""

    def __init__(self, tmp_path, fake: FakeInflux) -> None:
        self.fake = fake
        self.influx = fake.client()
        self.acked: list[AckToken] = []
        self.fatal: list[BaseException] = []
        self.waits: list[float] = []
        self.queue = BatchQueue(max_messages=10_000, max_wait_s=0.0)
        self.dead_dir = tmp_path / "dead"
        self.writer = BatchWriter(self.queue, self.influx, DeadLetterFile(self.dead_dir),
                                  self.acked.append, threading.Event(), lambda: 1_000,
                                  on_fatal=self.fatal.append, wait=self.waits.append)

    def send(self, lines: list[str], rejects: int = 0) -> None:
        """Queue one message per line (plus `rejects` rejected messages) and run the writer."""
        for mid, line in enumerate(lines):
            self.queue.add(MessageOutcome(lines=[line]), AckToken(1, mid), 1_000)
        for n in range(rejects):
            record = RejectRecord("schema", "bad", "streetwatch/gw1/lamp/X", "gw1", b"{}")
            self.queue.add(MessageOutcome(rejects=[record]), AckToken(1, 10_000 + n), 1_000)
        self.queue.close()
        self.writer.run()

    def dead(self) -> list[dict]:
        return read_dead_letters(self.dead_dir) if self.dead_dir.exists() else []


def lamp_lines(n: int) -> list[str]:
    return [f"lamp,gateway=gw1,lamp=L{i},zone=Z1 on=true {1_000 + i}" for i in range(n)]


def test_all_lines_are_written_then_every_message_acked(tmp_path):
    h = Harness(tmp_path, FakeInflux())
    h.send(lamp_lines(5), rejects=1)
    assert h.fake.stored[:5] == lamp_lines(5) and h.fake.stored[5].startswith("ingest_reject,")
    assert len(h.acked) == 6 and not h.fatal
    assert h.writer.stats.points == 6 and h.writer.stats.rejects == {"schema": 1}


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
def test_transient_answers_are_retried_and_nothing_leaves_influxdb(tmp_path, status):
    fake = FakeInflux(script=[(status, {}, "not now")] * 4)  # > the adapter's 3 attempts
    h = Harness(tmp_path, fake)
    h.send(lamp_lines(5))
    assert h.fake.stored == lamp_lines(5)
    assert h.dead() == [] and len(h.acked) == 5 and not h.fatal
    assert h.writer.stats.write_failures == 1 and h.waits  # the writer backed off once


def test_retry_after_is_honoured_by_adapter_and_writer(tmp_path):
    fake = FakeInflux(script=[(429, {"Retry-After": "7"}, "slow down")] * 3)
    h = Harness(tmp_path, fake)
    h.send(lamp_lines(2))
    assert h.influx.slept == [7.0, 7.0]  # the adapter's two pauses between its 3 attempts
    assert h.waits == [7.0]  # then the writer's, at least the server's Retry-After
    assert h.fake.stored == lamp_lines(2) and h.dead() == []


def test_throttling_three_times_then_recovering_stores_every_reading(tmp_path):
    """The issue's operator finding: 429 x3 used to push 2 of 5 good readings to dead letters."""
    fake = FakeInflux(script=[(429, {}, "too many requests")] * 3)
    h = Harness(tmp_path, fake)
    h.send(lamp_lines(5))
    assert sorted(h.fake.stored) == sorted(lamp_lines(5)) and h.dead() == []


@pytest.mark.parametrize("status", [401, 403])
def test_auth_refusal_is_fatal_with_nothing_dead_lettered_and_nothing_acked(tmp_path, status):
    fake = FakeInflux(script=[(status, {}, "authorization failed")])
    h = Harness(tmp_path, fake)
    h.send(lamp_lines(5))
    assert len(h.fatal) == 1 and isinstance(h.fatal[0], InfluxAuthError)
    assert h.acked == [] and h.dead() == [] and fake.writes == 1


def test_create_database_refused_kills_the_writer_loudly(tmp_path):
    """`create_database()` raising 403 used to escape `_retry` and end the thread silently."""
    fake = FakeInflux(database_exists=False, query_status=403)
    h = Harness(tmp_path, fake)
    h.send(lamp_lines(3))
    assert len(h.fatal) == 1 and isinstance(h.fatal[0], InfluxAuthError)
    assert h.acked == [] and h.dead() == []
    assert h.writer.failure is h.fatal[0]


def test_missing_database_is_created_and_the_batch_written(tmp_path):
    fake = FakeInflux(database_exists=False)
    h = Harness(tmp_path, fake)
    h.send(lamp_lines(3))
    assert fake.queries == ['CREATE DATABASE "streetwatch"']
    assert fake.stored == lamp_lines(3) and len(h.acked) == 3


def test_an_unexpected_answer_is_fatal_not_dead_lettered(tmp_path):
    fake = FakeInflux(script=[(405, {}, "method not allowed")])
    h = Harness(tmp_path, fake)
    h.send(lamp_lines(3))
    assert isinstance(h.fatal[0], InfluxRejected) and h.fatal[0].status == 405
    assert h.acked == [] and h.dead() == []


@pytest.mark.parametrize("n", [2, 100, 5_000])
def test_one_refused_point_is_isolated_by_halving_in_log2_requests(tmp_path, n):
    bad = lamp_lines(n)[n // 3]
    fake = FakeInflux(refuse=lambda line: line == bad)
    h = Harness(tmp_path, fake)
    h.send(lamp_lines(n))
    dead = h.dead()
    assert [d["reason"] for d in dead] == ["storage_rejected"] and dead[0]["payload"] == bad
    assert "conflict" in dead[0]["detail"]
    assert set(fake.stored) - {bad} >= set(lamp_lines(n)) - {bad}
    assert len(h.acked) == n and not h.fatal
    data_writes = fake.writes - 1  # the last write records the refused point in ingest_reject
    assert data_writes <= 1 + 2 * math.ceil(math.log2(n)), data_writes
    assert h.writer.stats.rejects == {"storage_rejected": 1}


def test_payload_too_large_is_split_too(tmp_path):
    fake = FakeInflux(script=[(413, {}, "Request Entity Too Large")])
    h = Harness(tmp_path, fake)
    h.send(lamp_lines(8))
    assert sorted(fake.stored) == sorted(lamp_lines(8)) and h.dead() == []
    assert fake.writes == 3  # refused whole, then two halves


def test_a_refused_reject_record_is_kept_in_the_dead_letter_file_and_the_batch_acked(tmp_path):
    fake = FakeInflux(refuse=lambda line: "L1" in line)  # the ingest_reject point names L1 too
    h = Harness(tmp_path, fake)
    h.send(lamp_lines(3))
    assert [d["reason"] for d in h.dead()] == ["storage_rejected"]
    assert len(h.acked) == 3 and not h.fatal


def test_transient_failure_while_isolating_retries_the_batch_without_double_dead_letters(tmp_path):
    bad = lamp_lines(4)[0]
    fake = FakeInflux(refuse=lambda line: line == bad)
    fake.script = [(400, {}, "partial write: field type conflict"), (503, {}, "busy"),
                   (503, {}, "busy"), (503, {}, "busy")]
    h = Harness(tmp_path, fake)
    h.send(lamp_lines(4))
    assert [d["payload"] for d in h.dead()] == [bad]
    assert len(h.acked) == 4
