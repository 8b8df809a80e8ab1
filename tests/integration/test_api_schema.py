"""Schemathesis over the API's own OpenAPI schema (issue 16 item 9): every operation, with
generated parameters and bodies and a valid admin key, against the real app on real SQL and
InfluxDB: never a 5xx, and every answer matches the schema (status code, content type, body,
headers). A few lamps, an alert and a citizen report exist, so not every id is unknown."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from streetwatch.alerts.model import Condition
from streetwatch.registry.store import upsert_devices
from streetwatch.settings import Settings

EXAMPLES = 25  # per operation: ~30 operations x 25 stays under a minute here
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]


@pytest.fixture
def seeded(api):
    """The API over a little stored data."""
    upsert_devices(api.res.engine, [
        {"id": "L1", "gateway": "gw1", "zone": "north", "lat": 31.23, "lon": 121.47},
        {"id": "D1", "gateway": "gw1", "zone": "north"}], [], [])
    api.res.influx.write_lines([f'lamp,gateway=gw1,lamp=L1,zone=north on=true,fault="" '
                                f"{api.clock.now_ms - 60_000}"])
    for n in range(1, 4):
        api.res.alerts.raise_alert(Condition("lamp_out", f"lamp:L{n}", "north", (f"L{n}",), "dark"),
                                   api.clock.now_ms, "yellow", api.clock.now_ms + 3_600_000)
    api.client.post("/api/v1/reports", json={"kind": "dark_lamp", "text": "dark", "lat": 31.23,
                                             "lon": 121.47})
    return api


# The schema of an app built only to describe itself (building opens nothing); each case is then
# sent to the test's own app. (schemathesis.pytest.from_fixture does not run under pytest 9.)
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_5xx_and_every_answer_matches_the_schema(case, seeded):
    request = case.as_transport_kwargs(base_url="http://testserver",
                                       headers=seeded.headers("admin"))
    request.pop("cookies", None)  # none are used; per-request cookies are deprecated in httpx
    if isinstance(request.get("data"), bytes | str):
        request["content"] = request.pop("data")  # raw bodies (CSV import) go as content
    case.validate_response(seeded.client.request(**request), checks=CHECKS)
