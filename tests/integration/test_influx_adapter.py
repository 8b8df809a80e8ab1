"""InfluxClient against a real influxd: gzip writes, InfluxQL, and clear errors."""

import threading

import pytest

from streetwatch.errors import InfluxRejected, InfluxUnavailable
from streetwatch.influx import MAX_LINES_PER_REQUEST, InfluxClient
from streetwatch.services.process import free_port


@pytest.fixture
def influx(influxd, influx_db):
    with InfluxClient(influxd.url, influx_db) as client:
        yield client


def test_write_and_query_round_trip_in_several_requests(influx):
    n = MAX_LINES_PER_REQUEST * 2 + 7
    influx.write_lines([f"lamp,lamp=L{i % 50},zone=Z01 on=true {1_700_000_000_000 + i}" for i in range(n)])
    assert influx.scalar('SELECT count("on") FROM lamp') == n
    per_lamp = influx.rows('SELECT count("on") FROM lamp GROUP BY lamp')
    assert len(per_lamp) == 50 and {r["lamp"] for r in per_lamp} == {f"L{i}" for i in range(50)}


def test_same_series_and_timestamp_overwrites(influx):
    influx.write_lines(["lamp,lamp=L1 dim=10i 1700000000000"])
    influx.write_lines(["lamp,lamp=L1 dim=20i 1700000000000"])
    assert influx.rows("SELECT dim FROM lamp") == [{"time": 1_700_000_000_000, "dim": 20}]


def test_hostile_strings_survive_the_round_trip(influx):
    from streetwatch.lineproto import reject_line

    payload = 'a\\b"c\nd\x00 \u202e, =\'; DROP'
    influx.write_lines([reject_line("bad_json", "gw1", "t, x=y", 'd"q', payload, 1_700_000_000_000)])
    row = influx.rows("SELECT * FROM ingest_reject")[0]
    # Control and format characters (newline, NUL, the RTL override) are stored as visible escapes.
    assert row["payload"] == 'a\\b"c\\nd\\x00 \\u202e, =\'; DROP'
    assert (row["topic"], row["detail"], row["reason"]) == ("t, x=y", 'd"q', "bad_json")


def test_bad_line_protocol_is_rejected_with_the_servers_reason(influx):
    with pytest.raises(InfluxRejected) as caught:
        influx.write_lines(["lamp on=yes-please 1"])
    assert caught.value.status == 400
    assert "unable to parse" in str(caught.value)


def test_field_type_conflict_is_rejected(influx):
    influx.write_lines(['lamp,lamp=L1 dim="bright" 1700000000000'])
    with pytest.raises(InfluxRejected, match="conflict"):
        influx.write_lines(["lamp,lamp=L1 dim=5i 1700000000001"])


def test_missing_database_is_a_404_rejection(influxd):
    with InfluxClient(influxd.url, "no_such_db") as client, pytest.raises(InfluxRejected) as caught:
        client.write_lines(["x v=1 1"])
    assert caught.value.status == 404


def test_unreachable_server_is_unavailable_after_retries():
    slept: list[float] = []
    port = free_port()  # nothing listens here
    client = InfluxClient(f"http://127.0.0.1:{port}", "db", retries=3, sleep=slept.append)
    with pytest.raises(InfluxUnavailable, match=f"127.0.0.1:{port} is unreachable"):
        client.write_lines(["x v=1 1"])
    assert slept == [0.2, 0.4]
    assert client.ping() is False


def test_a_read_from_an_unreachable_server_is_unavailable_after_retries():
    slept: list[float] = []
    port = free_port()  # nothing listens here
    with InfluxClient(f"http://127.0.0.1:{port}", "db", retries=3, sleep=slept.append) as client, \
            pytest.raises(InfluxUnavailable, match=f"127.0.0.1:{port} is unreachable"):
        client.rows("SHOW MEASUREMENTS")
    assert slept == [0.2, 0.4]


def test_reads_outlive_a_server_restart_without_a_retry(fresh_influxd):
    """Reads keep their connections open; one the restarted server dropped is replaced at once,
    and a stopped server is unavailable (retried), not a hang."""
    running = fresh_influxd("db")
    slept: list[float] = []
    with InfluxClient(running.url, "db", retries=2, sleep=slept.append) as client:
        client.write_lines(["lamp,lamp=L1 dim=7i 1700000000000"])
        assert client.scalar("SELECT dim FROM lamp") == 7
        running.server.stop()
        running.server.start()
        assert client.scalar("SELECT dim FROM lamp") == 7 and slept == []
        running.server.stop()
        with pytest.raises(InfluxUnavailable, match="is unreachable"):
            client.scalar("SELECT dim FROM lamp")
        assert slept == [0.2]
        running.server.start()
        assert client.scalar("SELECT dim FROM lamp") == 7


def test_concurrent_reads_each_get_their_own_answer(influx):
    influx.write_lines([f"lamp,lamp=L{i} dim={i}i 1700000000000" for i in range(40)])
    wrong: list[tuple[int, object]] = []

    def read(start: int) -> None:
        for n in range(30):
            lamp = (start + n) % 40
            found = influx.scalar(f"SELECT dim FROM lamp WHERE lamp = 'L{lamp}'")
            if found != lamp:
                wrong.append((lamp, found))

    threads = [threading.Thread(target=read, args=(k * 5,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads) and wrong == []


def test_bad_query_is_rejected(influx):
    with pytest.raises(InfluxRejected, match="error parsing query"):
        influx.query("SELEKT nothing")


def test_rows_chunked_joins_every_chunk(influx):
    n = 2_345
    influx.write_lines([f"lighting_rate,zone=Z{i % 3} rate={i} {1_700_000_000_000 + i}"
                        for i in range(n)])
    rows = influx.rows_chunked("SELECT rate FROM lighting_rate GROUP BY zone", chunk_size=100)
    assert len(rows) == n
    assert sorted(r["rate"] for r in rows) == list(range(n))
    assert {r["zone"] for r in rows} == {"Z0", "Z1", "Z2"}


def test_rows_chunked_reports_query_errors(influx):
    with pytest.raises(InfluxRejected):
        influx.rows_chunked("SELECT rate FROM lighting_rate WHERE time > now() GROUP BY")


def test_quoted_identifiers_and_strings_survive_hostile_names(influx):
    from streetwatch.influx import influxql_ident, influxql_string

    influx.write_lines(['odd\\ measure,zone=it\'s\\ a\\,zone value=1 1700000000000',
                        "odd\\ measure,zone=plain value=2 1700000000001"])
    assert influx.tag_values("odd measure", "zone") == ["it's a,zone", "plain"]
    zone = influxql_string("it's a,zone")
    rows = influx.rows_chunked(f"SELECT value FROM {influxql_ident('odd measure')} WHERE zone = {zone}")
    assert [r["value"] for r in rows] == [1]
