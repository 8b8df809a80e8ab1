"""A device's state (in service, out of service in a works window, retired) and the GeoJSON and
JSON-body readers that feed the registry CSV's rules."""

from __future__ import annotations

import json

import pytest

from api.device_import import cell_text, check_device, device_cells, parse_geojson_body
from api.devices import device_state

T = 1_000_000


@pytest.mark.parametrize(("in_service", "start", "end", "state"), [
    (True, None, None, "in_service"),
    (False, None, None, "retired"),
    (False, T - 10, T + 10, "retired"),
    (True, T, T + 10, "out_of_service"),  # the start is included
    (True, T - 10, T, "in_service"),  # the end is excluded
    (True, T + 1, T + 10, "in_service"),  # works not begun
    (True, None, T + 1, "out_of_service"),  # open start
    (True, T - 1, None, "out_of_service"),  # open end: until further notice
    (True, T + 1, None, "in_service"),
])
def test_device_state(in_service, start, end, state):
    assert device_state(in_service, start, end, T) == state


@pytest.mark.parametrize(("value", "text"), [(None, ""), (True, "true"), (False, "false"),
                                             (3, "3"), (52.37, "52.37"), (1e300, "1e+300"),
                                             (float("nan"), "nan"), (float("inf"), "inf"),
                                             ("Main St", "Main St"), ([1], None), ({}, None)])
def test_cell_text(value, text):
    assert cell_text(value) == text


def test_times_may_be_epoch_ms_and_other_values_must_fit_a_cell():
    cells, wrong = device_cells({"out_of_service_from": 0, "road": ["a"], "lat": 1.5})
    assert cells == {"out_of_service_from": "1970-01-01T00:00:00.000Z", "lat": "1.5"}
    assert wrong == ["road must be text, a number, true/false or null"]


def test_check_device_takes_service_columns_for_any_kind():
    kind, values, problems = check_device({"kind": "drain", "id": "D1", "gateway": "g",
                                           "zone": "z", "in_service": "false"})
    assert (kind, problems, values["in_service"]) == ("drain", [], False)
    _, _, problems = check_device({"kind": "rain", "id": "R1", "gateway": "g", "zone": "z",
                                   "lat": "nan", "lon": "1"})
    assert problems == ["lat 'nan' must be a number"]


def collection(*features: object) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


def point(x: object, y: object, **properties: object) -> dict:
    """A Point feature at [x, y] = [lon, lat]."""
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]},
            "properties": properties}


def test_geojson_points_become_rows_with_lat_lon_from_the_geometry():
    parsed = parse_geojson_body(collection(
        point(4.9, 52.3, KIND="lamp", id="L1", gateway="g", zone="z", position=2, road="R"),
        point(4.8, 52.2, kind="rain", id="R1", gateway="g", zone="z")))

    assert parsed.ok, parsed.errors
    assert (parsed.lamps[0]["lat"], parsed.lamps[0]["lon"]) == (52.3, 4.9)
    assert parsed.lamps[0]["position_on_road"] == 2
    assert parsed.gauges[0]["id"] == "R1"


@pytest.mark.parametrize(("feature", "problem"), [
    (point("4", 52, kind="rain", id="R", gateway="g", zone="z"), "geometry must be a Point"),
    (point(True, 52, kind="rain", id="R", gateway="g", zone="z"), "geometry must be a Point"),
    (point(200, 52, kind="rain", id="R", gateway="g", zone="z"), "lon 200 must be between"),
    ({"type": "Feature", "geometry": None, "properties": {}}, "geometry must be a Point"),
    ({"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}}, "properties"),
    (point(1, 2, kind="rain", id="R", gateway="g", zone="z", lon=1), "lon comes from"),
    (point(1, 2, kind="pump", id="R", gateway="g", zone="z"), "kind must be lamp"),
    (point(1, 2, kind="rain", id="R", gateway="g"), "zone is required"),
])
def test_bad_features_are_reported_by_number(feature, problem):
    good = point(1, 2, kind="rain", id="OK", gateway="g", zone="z")
    parsed = parse_geojson_body(collection(good, feature))

    assert [e.line for e in parsed.errors] == [2]
    assert problem in parsed.errors[0].message


def test_duplicate_ids_across_features_are_refused():
    feature = point(1, 2, kind="rain", id="R", gateway="g", zone="z")
    parsed = parse_geojson_body(collection(feature, feature))
    assert [(e.line, e.message) for e in parsed.errors] == [
        (2, "duplicate rain id 'R' (first on line 1)")]
