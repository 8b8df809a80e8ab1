"""parse_devices_csv: good files, every kind of bad row, hostile strings, and arbitrary text."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streetwatch.registry.csv_import import COLUMNS, RowError, parse_devices_csv
from streetwatch.registry.models import DEVICE_ID_PATTERN

HEADER = ",".join(COLUMNS)


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def lamp(**cells: str) -> str:
    """One lamp row (all columns) with sensible defaults, overridden by `cells`."""
    values = {"kind": "lamp", "id": "L1", "gateway": "gw1", "zone": "north", "road": "Main St",
              "position": "3", "cabinet": "C7", "lat": "52.37", "lon": "4.89", "depth_cm": "",
              "overflow_cm": "", "downstream": ""}
    values.update(cells)
    return row(values)


def drain(**cells: str) -> str:
    values = {"kind": "drain", "id": "D1", "gateway": "gw2", "zone": "north", "depth_cm": "120",
              "overflow_cm": "100", "downstream": "D2"}
    values.update(cells)
    return row(values)


def rain(**cells: str) -> str:
    values = {"kind": "rain", "id": "R1", "gateway": "gw2", "zone": "north", "lat": "52",
              "lon": "4.9"}
    values.update(cells)
    return row(values)


def row(values: dict[str, str]) -> str:
    """Encode one row with csv.writer so quotes and commas are escaped correctly."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([values.get(name, "") for name in COLUMNS])
    return out.getvalue().removesuffix("\n")


# Good files ---------------------------------------------------------------------------------------
def test_good_file_gives_rows_shaped_like_the_models() -> None:
    parsed = parse_devices_csv(csv_text(lamp(), drain(), rain(), drain(id="D2", downstream="")))

    assert parsed.ok and parsed.errors == []
    assert parsed.lamps == [{"id": "L1", "gateway": "gw1", "zone": "north", "road": "Main St",
                             "position_on_road": 3, "cabinet": "C7", "lat": 52.37, "lon": 4.89,
                             "in_service": True, "out_of_service_from": None,
                             "out_of_service_until": None}]
    assert parsed.drains[0] == {"id": "D1", "gateway": "gw2", "zone": "north", "depth_cm": 120.0,
                                "overflow_cm": 100.0, "downstream_id": "D2", "lat": None,
                                "lon": None, "pipe_diameter_cm": None, "normal_low_cm": None,
                                "normal_high_cm": None}
    assert parsed.drains[1]["downstream_id"] is None
    assert parsed.gauges == [{"id": "R1", "gateway": "gw2", "zone": "north", "lat": 52.0,
                              "lon": 4.9}]


@pytest.mark.parametrize(
    ("text", "lamps", "gauges"),
    [
        pytest.param("kind,id,gateway,zone\nlamp,L1,g,z\n", 1, 0, id="only-required-columns"),
        pytest.param("zone,gateway,id,kind,lat,lon\nz,g,R9,rain,1,2\n", 0, 1, id="any-order"),
        pytest.param(" Kind , ID ,Gateway,zone\n LAMP , L1 , g , z \n", 1, 0, id="spaces-case"),
        pytest.param("\ufeffkind,id,gateway,zone\r\nlamp,L1,g,z\r\n", 1, 0, id="bom-crlf"),
        pytest.param("kind,id,gateway,zone\n\nlamp,L1,g,z\n,,,\n", 1, 0, id="blank-lines"),
        pytest.param("kind,id,gateway,zone\n", 0, 0, id="header-only"),
        pytest.param(csv_text(lamp(id="L1"), drain(id="L1", downstream="")), 1, 0,
                     id="same-id-other-kind"),
        pytest.param(csv_text(lamp(road="Rue de l'Église, nord", lat="-90", lon="180")), 1, 0,
                     id="unicode-road-and-edge-coordinates"),
        pytest.param(csv_text(lamp(road="", position="", cabinet="", lat="", lon="")), 1, 0,
                     id="optional-lamp-columns-empty"),
    ],
)
def test_accepted_variants(text: str, lamps: int, gauges: int) -> None:
    parsed = parse_devices_csv(text)

    assert parsed.errors == []
    assert (len(parsed.lamps), len(parsed.gauges)) == (lamps, gauges)


@pytest.mark.parametrize(
    ("cell", "in_service"),
    [("", True), ("true", True), ("TRUE", True), ("1", True), ("yes", True), ("Yes", True),
     ("false", False), ("False", False), ("0", False), ("no", False), ("NO", False)],
)
def test_in_service_values(cell: str, in_service: bool) -> None:
    parsed = parse_devices_csv(csv_text(lamp(in_service=cell)))

    assert parsed.errors == []
    assert parsed.lamps[0]["in_service"] is in_service


def test_in_service_is_true_when_the_column_is_absent() -> None:
    parsed = parse_devices_csv("kind,id,gateway,zone\nlamp,L1,g,z\n")

    assert parsed.lamps[0]["in_service"] is True
    assert parsed.lamps[0]["out_of_service_from"] is None


def test_service_window_is_parsed_to_aware_utc() -> None:
    parsed = parse_devices_csv(csv_text(lamp(out_of_service_from="2026-03-01T09:00:00+01:00",
                                             out_of_service_until="2026-03-02t17:30:00.250z")))

    assert parsed.errors == []
    assert parsed.lamps[0]["out_of_service_from"] == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert parsed.lamps[0]["out_of_service_until"] == datetime(2026, 3, 2, 17, 30, 0, 250_000,
                                                               tzinfo=UTC)


@pytest.mark.parametrize(("start", "end"), [("2026-03-01T00:00:00Z", ""),
                                            ("", "2026-03-01T00:00:00Z")])
def test_service_window_may_be_open_at_either_end(start: str, end: str) -> None:
    parsed = parse_devices_csv(csv_text(lamp(out_of_service_from=start,
                                             out_of_service_until=end)))

    assert parsed.errors == []


def test_values_are_stripped_and_kind_lowercased() -> None:
    parsed = parse_devices_csv(" Kind , ID ,Gateway,zone\n LAMP , L1 , g , z \n")

    assert parsed.lamps[0]["id"] == "L1" and parsed.lamps[0]["gateway"] == "g"


def test_a_drain_with_its_pipe_and_a_configured_normal_band() -> None:
    parsed = parse_devices_csv(csv_text(drain(pipe_diameter_cm="30", normal_low_cm="8",
                                              normal_high_cm="25.5")))
    assert parsed.ok, parsed.errors
    band = {k: parsed.drains[0][k] for k in ("pipe_diameter_cm", "normal_low_cm", "normal_high_cm")}
    assert band == {"pipe_diameter_cm": 30.0, "normal_low_cm": 8.0, "normal_high_cm": 25.5}


# Bad rows ---------------------------------------------------------------------------------------
BAD_ROWS = [
    # (row, expected fragment of the message)
    (lamp(kind="streetlight"), "kind must be lamp, drain or rain"),
    (lamp(kind=""), "kind must be lamp, drain or rain"),
    (lamp(id=""), "id is required"),
    (lamp(gateway=""), "gateway is required"),
    (lamp(zone=""), "zone is required"),
    (lamp(id="L 1"), "id 'L 1' must be 1-64 characters"),
    (lamp(id="L/1"), "id 'L/1' must be 1-64 characters"),
    (lamp(id="x" * 65), "must be 1-64 characters"),
    (lamp(gateway="gw#"), "gateway 'gw#' must be"),
    (lamp(zone="north+"), "zone 'north+' must be"),
    (lamp(cabinet="C 7"), "cabinet 'C 7' must be"),
    (lamp(position="-1"), "position '-1' must be a whole number"),
    (lamp(position="2.5"), "position '2.5' must be a whole number"),
    (lamp(position="three"), "position 'three' must be a whole number"),
    (lamp(road="", position="4"), "position needs a road"),
    (lamp(road="r" * 65), "road 'rrrr"),
    (lamp(road="Main\tSt"), "printable"),
    (lamp(lat="90.5"), "lat 90.5 must be between -90 and 90"),
    (lamp(lat="-91"), "lat -91 must be between -90 and 90"),
    (lamp(lon="180.01"), "lon 180.01 must be between -180 and 180"),
    (lamp(lon="-200"), "lon -200 must be between -180 and 180"),
    (lamp(lat="52,37"), "lat '52,37' must be a number"),
    (lamp(lat="nan"), "lat 'nan' must be a number"),
    (lamp(lat="inf"), "lat 'inf' must be a number"),
    (lamp(lat="1e999"), "lat '1e999' must be a number"),
    (lamp(lat="١٢"), "must be a number"),  # Arabic-Indic digits: float() takes them, we do not
    (lamp(lat="", lon="4.8"), "lat and lon go together"),
    (lamp(lat="52", lon=""), "lat and lon go together"),
    (lamp(depth_cm="10"), "depth_cm does not apply to a lamp"),
    (lamp(downstream="D1"), "downstream does not apply to a lamp"),
    (drain(road="Main St"), "road does not apply to a drain"),
    (drain(position="1"), "position does not apply to a drain"),
    (drain(cabinet="C1"), "cabinet does not apply to a drain"),
    (rain(depth_cm="1"), "depth_cm does not apply to a rain"),
    (drain(depth_cm="-1"), "depth_cm -1 must be between 0 and inf"),
    (drain(overflow_cm="-0.5"), "overflow_cm -0.5 must be between 0 and inf"),
    (drain(depth_cm="abc"), "depth_cm 'abc' must be a number"),
    (drain(depth_cm="50", overflow_cm="60"), "overflow_cm (60) must not exceed depth_cm (50)"),
    (drain(downstream="D1"), "downstream must be another drain"),
    (drain(normal_low_cm="10"), "give normal_low_cm and normal_high_cm together"),
    (drain(normal_high_cm="30"), "give normal_low_cm and normal_high_cm together"),
    (drain(normal_low_cm="40", normal_high_cm="30"), "normal_low_cm (40) must not exceed"),
    (drain(normal_low_cm="10", normal_high_cm="130"), "normal_high_cm (130) must not exceed"),
    (drain(pipe_diameter_cm="-30"), "pipe_diameter_cm -30 must be between 0 and inf"),
    (lamp(normal_low_cm="1", normal_high_cm="2"), "normal_low_cm does not apply to a lamp"),
    (drain(downstream="D 2"), "downstream 'D 2' must be"),
    (lamp(in_service="maybe"), "in_service 'maybe' must be true or false"),
    (lamp(in_service="on"), "in_service 'on' must be true or false"),
    (lamp(in_service="2"), "in_service '2' must be true or false"),
    (drain(in_service="true"), "in_service does not apply to a drain"),
    (rain(out_of_service_from="2026-03-01T00:00:00Z"), "out_of_service_from does not apply"),
    (lamp(out_of_service_from="2026-03-01"), "out_of_service_from '2026-03-01' must be an RFC 3339"),
    (lamp(out_of_service_from="2026-03-01T08:00:00"), "must be an RFC 3339 date-time with a zone"),
    (lamp(out_of_service_from="2026-03-01 08:00:00Z"), "must be an RFC 3339"),
    (lamp(out_of_service_until="2026-02-30T08:00:00Z"), "out_of_service_until '2026-02-30"),
    (lamp(out_of_service_until="tomorrow"), "out_of_service_until 'tomorrow' must be"),
    (lamp(out_of_service_until="9999-12-31T23:59:59-01:00"), "must be an RFC 3339"),
    (lamp(out_of_service_from="2026-03-02T00:00:00Z", out_of_service_until="2026-03-01T00:00:00Z"),
     "out_of_service_until must be later than out_of_service_from"),
    (lamp(out_of_service_from="2026-03-01T00:00:00Z", out_of_service_until="2026-03-01T01:00:00+01:00"),
     "out_of_service_until must be later than out_of_service_from"),
]


@pytest.mark.parametrize(("bad_row", "message"), BAD_ROWS, ids=[m for _, m in BAD_ROWS])
def test_each_bad_row_is_reported_on_its_line_and_nothing_else_is_lost(
    bad_row: str, message: str
) -> None:
    parsed = parse_devices_csv(csv_text(rain(id="R0"), bad_row, rain(id="R2")))

    assert any(e.line == 3 and message in e.message for e in parsed.errors), parsed.errors
    assert {e.line for e in parsed.errors} == {3}
    assert [g["id"] for g in parsed.gauges] == ["R0", "R2"]


def test_every_bad_row_is_reported_not_just_the_first() -> None:
    parsed = parse_devices_csv(csv_text(lamp(id="A", lat="99"), lamp(id="B"), lamp(id="C", lon="x"),
                                        lamp(id="A")))

    assert [str(e) for e in parsed.errors] == [
        "line 2: lat 99 must be between -90 and 90",
        "line 4: lon 'x' must be a number",
        "line 5: duplicate lamp id 'A' (first on line 2)",
    ]


def test_a_row_with_several_problems_reports_each() -> None:
    parsed = parse_devices_csv(csv_text(lamp(id="", lat="x", lon="999")))

    assert [e.line for e in parsed.errors] == [2, 2, 2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", [RowError(1, "the file is empty")], id="empty"),
        pytest.param("\n \n", [RowError(1, "the file is empty")], id="blank"),
        pytest.param("kind,id,gateway\n", [RowError(1, "missing required column 'zone'")],
                     id="missing-required"),
        pytest.param(HEADER + ",colour\n", [RowError(1, "unknown column 'colour'")], id="extra"),
        pytest.param("kind,id,gateway,zone,id\n", [RowError(1, "column 'id' appears 2 times")],
                     id="duplicate"),
        pytest.param("kind;id;gateway;zone\n",
                     [RowError(1, "columns must be separated by commas, not semicolons")],
                     id="semicolons"),
        pytest.param("kind,id,gateway,zone\nlamp,L1,g\n",
                     [RowError(2, "row has 3 fields but the header has 4")], id="short-row"),
        pytest.param("kind,id,gateway,zone\nlamp,L1,g,z,extra\n",
                     [RowError(2, "row has 5 fields but the header has 4")], id="long-row"),
        pytest.param("kind,id,gateway,zone\nlamp,L1,g,z\nlamp,\"L2,g,z\nlamp,L3,g,z\n",
                     [RowError(3, "row has 2 fields but the header has 4")],
                     id="unclosed-quote-swallows-the-rest"),
    ],
)
def test_file_level_problems(text: str, expected: list[RowError]) -> None:
    parsed = parse_devices_csv(text)

    for want in expected:
        assert any(e.line == want.line and want.message in e.message for e in parsed.errors), (
            parsed.errors
        )


def test_header_errors_stop_before_rows() -> None:
    parsed = parse_devices_csv("kind,id,zone\nlamp,L1,z\n")

    assert {e.line for e in parsed.errors} == {1}
    assert parsed.lamps == []


def test_multiline_quoted_field_reports_the_line_the_row_starts_on() -> None:
    parsed = parse_devices_csv(csv_text(lamp(id="L1"), lamp(id="L2", road="Main\nSt"),
                                        lamp(id="L3", lat="x")))

    assert [e.line for e in parsed.errors] == [3, 5]


# Hostile strings ----------------------------------------------------------------------------------
HOSTILE = [
    '"; DROP TABLE lamps; --',
    "L1', 'x",
    'a"b',
    "a,b,c",
    "Ω-lamp",
    "ｌａｍｐ１",
    "L1\u200b",
    "\x00",
    "\x1b[31mred",
    "L1\r\nlamp",
    "🔥" * 100,
    "x" * 10_000,
    "\ud800",
]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
@pytest.mark.parametrize("column", ["id", "gateway", "zone", "cabinet", "road", "lat", "position",
                                    "in_service", "out_of_service_from"])
def test_hostile_strings_give_row_errors_not_crashes(column: str, value: str) -> None:
    parsed = parse_devices_csv(csv_text(lamp(**{column: value})))

    assert parsed.lamps == [] or column == "road" and len(value) <= 64 and value.isprintable()
    for error in parsed.errors:
        assert error.line == 2
        assert len(error.message) < 200, "messages quote at most 40 characters of a value"


def test_a_field_beyond_the_csv_size_limit_is_a_row_error() -> None:
    parsed = parse_devices_csv(csv_text(lamp(id="L1"), lamp(id="L2", road="r" * 200_000),
                                        lamp(id="L3")))

    assert [e.line for e in parsed.errors] == [3]
    assert "cannot read this row as CSV" in parsed.errors[0].message
    assert [lamp_["id"] for lamp_ in parsed.lamps] == ["L1", "L3"]


# Properties ---------------------------------------------------------------------------------------
@settings(max_examples=300)
@given(st.text())
def test_arbitrary_text_never_raises(text: str) -> None:
    parsed = parse_devices_csv(text)

    assert all(isinstance(e, RowError) and e.line >= 1 for e in parsed.errors)


cells = st.one_of(
    st.sampled_from(["", "lamp", "drain", "rain", "L1", "g", "z", "0", "-1", "91", "1e3", "x y"]),
    st.text(max_size=20),
)


@settings(max_examples=300)
@given(st.lists(st.lists(cells, min_size=len(COLUMNS) - 1, max_size=len(COLUMNS) + 1),
                max_size=8))
def test_arbitrary_rows_never_raise_and_accepted_rows_are_valid(rows: list[list[str]]) -> None:
    out = io.StringIO()
    csv.writer(out).writerows([list(COLUMNS), *rows])

    parsed = parse_devices_csv(out.getvalue())

    for device in [*parsed.lamps, *parsed.drains, *parsed.gauges]:
        assert DEVICE_ID_PATTERN.fullmatch(device["id"])
        assert DEVICE_ID_PATTERN.fullmatch(device["gateway"])
        assert DEVICE_ID_PATTERN.fullmatch(device["zone"])
        assert device["lat"] is None or -90 <= device["lat"] <= 90
        assert device["lon"] is None or -180 <= device["lon"] <= 180
    for device in parsed.lamps:
        assert isinstance(device["in_service"], bool)
        start, end = device["out_of_service_from"], device["out_of_service_until"]
        assert start is None or end is None or start < end
    for device in parsed.drains:
        if device["depth_cm"] is not None and device["overflow_cm"] is not None:
            assert 0 <= device["overflow_cm"] <= device["depth_cm"]
    accepted = len(parsed.lamps) + len(parsed.drains) + len(parsed.gauges)
    assert accepted + len({e.line for e in parsed.errors}) <= len(rows)


@settings(max_examples=100)
@given(st.lists(st.from_regex(DEVICE_ID_PATTERN, fullmatch=True), min_size=1, max_size=20,
                unique=True))
def test_every_valid_id_round_trips(ids: list[str]) -> None:
    parsed = parse_devices_csv(csv_text(*(rain(id=device_id) for device_id in ids)))

    assert parsed.errors == []
    assert [g["id"] for g in parsed.gauges] == ids
