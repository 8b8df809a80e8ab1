"""The citizen channel's limits per client address, counted in SQL (api/address_limits.py), on
SQLite and PostgreSQL: the sliding window, two API processes sharing one count, hits at once
from many threads letting exactly the limit through, and the table swept of old rows."""

from __future__ import annotations

import threading

import pytest

from api.address_limits import SWEEP_EVERY_MS, AddressLimiter
from streetwatch.registry.migrate import upgrade
from streetwatch.registry.store import make_engine

HOUR_MS = 3_600_000


@pytest.fixture
def engine(sql_url):
    upgrade(sql_url)
    engine = make_engine(sql_url)
    yield engine
    engine.dispose()


def test_the_eleventh_in_an_hour_waits_until_the_first_is_an_hour_old(engine):
    limiter = AddressLimiter(engine, "report", 10)
    for minute in range(10):
        assert limiter.hit("198.51.100.7", minute * 60_000) is None
    assert limiter.hit("198.51.100.7", 30 * 60_000) == 30 * 60  # the first leaves at 60 min
    assert limiter.hit("203.0.113.9", 30 * 60_000) is None  # another address is not held up
    assert AddressLimiter(engine, "lookup", 10).hit("198.51.100.7", 30 * 60_000) is None
    assert limiter.hit("198.51.100.7", HOUR_MS - 1) == 1
    assert limiter.hit("198.51.100.7", HOUR_MS) is None
    assert limiter.hit("198.51.100.7", HOUR_MS + 1) is not None  # the second is still in


def test_two_api_processes_share_one_count(sql_url, engine):
    """Each API process has its own engine and limiter: the address gets the limit once, not
    once per process."""
    other = make_engine(sql_url)
    try:
        first, second = AddressLimiter(engine, "report", 4), AddressLimiter(other, "report", 4)
        allowed = [limiter.hit("198.51.100.7", n) is None
                   for n, limiter in enumerate([first, second] * 4)]
    finally:
        other.dispose()
    assert allowed == [True] * 4 + [False] * 4


def test_hits_at_once_let_exactly_the_limit_through(sql_url, engine):
    """Twelve threads, each with its own engine (as processes would be), hit at the same
    instant: the count is taken and added to under one hold, so exactly five get through."""
    engines = [make_engine(sql_url) for _ in range(12)]
    start = threading.Barrier(len(engines))
    answers: list[int | None] = []

    def hit(own) -> None:
        limiter = AddressLimiter(own, "report", 5)
        start.wait()
        answers.append(limiter.hit("198.51.100.7", 1_000))

    threads = [threading.Thread(target=hit, args=(own,)) for own in engines]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        for own in engines:
            own.dispose()
    assert len(answers) == 12
    assert answers.count(None) == 5
    assert AddressLimiter(engine, "report", 5).held() == 5


def test_addresses_that_do_not_come_back_are_swept(engine):
    limiter = AddressLimiter(engine, "lookup", 3)
    for n in range(50):
        assert limiter.hit(f"10.0.0.{n}", n) is None
    assert limiter.held() == 50
    later = HOUR_MS + SWEEP_EVERY_MS + 50
    assert limiter.hit("10.0.1.1", later) is None
    assert limiter.held() == 1


def test_an_address_longer_than_the_column_is_cut_not_refused(engine):
    limiter = AddressLimiter(engine, "report", 1)
    assert limiter.hit("x" * 500, 0) is None
    assert limiter.hit("x" * 500, 1) is not None
