"""The pure parts of citizen reports: text checks, the report body, receipts, distances and the
per-address limiter (its memory bound included)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from api.citizen import (
    RECEIPT_ALPHABET,
    ReportIn,
    bounding_box,
    haversine_m,
    new_receipt,
    plain_text,
    read_receipt,
)

HOUR_MS = 3_600_000


# Text ------------------------------------------------------------------------------------------

def test_plain_text_keeps_markup_newlines_and_tabs_verbatim():
    text = "<script>alert(1)</script>\n\t'; DROP TABLE citizen_reports; --  \u706f\u4e0d\u4eae"
    assert plain_text(f"  {text}  ", 2000) == text


def test_line_ends_become_newlines():
    assert plain_text("one\r\ntwo\rthree", 100) == "one\ntwo\nthree"


@pytest.mark.parametrize("bad", ["\x00", "a\x07b", "\x1b[31mred", "\x7f", "a\x85b", "\ud800"])
def test_control_characters_and_lone_surrogates_are_refused(bad):
    with pytest.raises(ValueError, match="control character|surrogate"):
        plain_text(bad, 100)


def test_one_line_text_refuses_newlines_and_tabs():
    with pytest.raises(ValueError, match="one line"):
        plain_text("a\nb", 100, multiline=False)
    with pytest.raises(ValueError, match="one line"):
        plain_text("a\tb", 100, multiline=False)


@pytest.mark.parametrize(("text", "reason"), [("", "empty"), (" \n\t ", "empty"),
                                              ("x" * 11, "at most 10")])
def test_empty_and_long_text_are_refused(text, reason):
    with pytest.raises(ValueError, match=reason):
        plain_text(text, 10)


# The report body -------------------------------------------------------------------------------

def parse(**fields) -> ReportIn:
    return ReportIn.model_validate_json(json.dumps({"kind": "dark_lamp", "text": "dark"} | fields))


def test_a_report_names_a_place():
    assert parse(lat=31.2, lon=121.4).lat == 31.2
    assert parse(device_id="L-0001").device_id == "L-0001"
    for fields in ({}, {"lat": 31.2}, {"lon": 121.4}):
        with pytest.raises(ValidationError):
            parse(**fields)


@pytest.mark.parametrize("raw", [
    '{"kind": "dark_lamp", "text": "x", "lat": NaN, "lon": 1}',
    '{"kind": "dark_lamp", "text": "x", "lat": Infinity, "lon": 1}',
    '{"kind": "dark_lamp", "text": "x", "lat": 1, "lon": -Infinity}',
    '{"kind": "dark_lamp", "text": "x", "lat": 1e400, "lon": 1}',
    '{"kind": "dark_lamp", "text": "x", "lat": 90.0001, "lon": 1}',
    '{"kind": "dark_lamp", "text": "x", "lat": 1, "lon": -180.5}',
    '{"kind": "dark_lamp", "text": "x", "lat": "31.2", "lon": "121.4"}',
    '{"kind": "dark_lamp", "text": "x", "lat": true, "lon": 1}',
    '{"kind": "dark_lamp", "text": "x", "device_id": "L1\' OR 1=1"}',
    '{"kind": "dark_lamp", "text": "x", "device_id": "../../etc"}',
    '{"kind": "graffiti", "text": "x", "lat": 1, "lon": 1}',
    '{"kind": "dark_lamp", "text": "x\\u0000", "lat": 1, "lon": 1}',
    '{"kind": "dark_lamp", "text": "x", "lat": 1, "lon": 1, "contact": "a\\nb"}',
    '{"kind": "dark_lamp", "text": 5, "lat": 1, "lon": 1}',
    '{"kind": "dark_lamp", "text": "\\ud800", "lat": 1, "lon": 1}',
    '[1, 2]', 'null', '', '{"kind": "dark_lamp", "text": "x", "lat": 1, "lon": 1',
])
def test_hostile_bodies_are_refused(raw):
    with pytest.raises(ValidationError):
        ReportIn.model_validate_json(raw)


# Receipts --------------------------------------------------------------------------------------

def test_receipts_are_ten_crockford_characters_and_differ():
    receipts = {new_receipt() for _ in range(1000)}
    assert len(receipts) == 1000
    assert all(len(r) == 10 and set(r) <= set(RECEIPT_ALPHABET) for r in receipts)


def test_receipts_are_read_as_people_type_them():
    assert read_receipt("7kq0-1mzx-ab") == "7KQ01MZXAB"
    assert read_receipt("7KQO1MZXAB") == "7KQ01MZXAB"  # O for 0
    assert read_receipt("7kql1mzxab") == "7KQ11MZXAB"  # l for 1
    for bad in ("", "7KQ01MZXA", "7KQ01MZXABC", "7KQ01MZXAU", "../../../x", "7KQ01MZX%B",
                "x" * 10_000):
        assert read_receipt(bad) is None


# Distance --------------------------------------------------------------------------------------

def test_haversine_knows_a_degree_of_latitude_and_the_antipode():
    assert haversine_m(0, 0, 1, 0) == pytest.approx(111_195, rel=1e-4)
    assert haversine_m(0, 0, 0, 180) == pytest.approx(math.pi * 6_371_008.8)
    assert haversine_m(31.2, 121.4, 31.2, 121.4) == 0


coordinates = st.tuples(st.floats(-90, 90), st.floats(-180, 180))


@given(coordinates, st.floats(0, 1), st.floats(0, 2 * math.pi), st.floats(1, 10_000))
def test_every_point_within_the_radius_is_in_the_box(centre, fraction, bearing, radius_m):
    """A point `fraction` of the radius away in any direction lies inside the box. (The point
    is found with unit vectors and atan2, well conditioned everywhere: the asin form loses ~1e-8
    degrees at the poles, more than the tolerance, which once failed this test at lat 90.)"""
    lat, lon = centre
    distance = fraction * radius_m * 0.999
    angular = distance / 6_371_008.8
    phi, lam = math.radians(lat), math.radians(lon)
    here = (math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi))
    north = (-math.sin(phi) * math.cos(lam), -math.sin(phi) * math.sin(lam), math.cos(phi))
    east = (-math.sin(lam), math.cos(lam), 0.0)
    x, y, z = (p * math.cos(angular) + (n * math.cos(bearing) + e * math.sin(bearing))
               * math.sin(angular) for p, n, e in zip(here, north, east, strict=True))
    lat2 = math.degrees(math.atan2(z, math.hypot(x, y)))
    lon2 = math.degrees(math.atan2(y, x)) if math.hypot(x, y) > 0 else lon
    box = bounding_box(lat, lon, radius_m)
    assert box.min_lat - 1e-9 <= lat2 <= box.max_lat + 1e-9
    assert box.min_lon - 1e-9 <= lon2 <= box.max_lon + 1e-9


def test_box_is_tight_away_from_poles_and_whole_around_them():
    box = bounding_box(31.23, 121.47, 30)
    assert box.max_lat - box.min_lat == pytest.approx(2 * 30 / 111_195, rel=1e-3)
    assert box.max_lon - box.min_lon < 0.001
    assert (bounding_box(89.99999, 0, 30).min_lon, bounding_box(0, 179.9999, 30).max_lon) == (
        -180.0, 180.0)


