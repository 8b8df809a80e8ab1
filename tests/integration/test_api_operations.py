"""The API's skeleton against real services: keys (401/403), /healthz, /readyz, /metrics, the
access log without keys, and `streetwatch api` / `streetwatch apikey` as commands."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time

import httpx
import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Manager
from api.keys import ApiKeyStore
from api.resources import Resources
from streetwatch.alerts.store import AlertStore
from streetwatch.influx import InfluxClient
from streetwatch.logs import JsonLineFormatter
from streetwatch.registry import migrate
from streetwatch.registry.store import make_engine
from streetwatch.services.process import free_port
from streetwatch.settings import RULES_USER

from api_world import ZONE_CREW

PROTECTED = "/api/v1/alerts"


_probe = APIRouter()


@_probe.get("/api/v1/_probe")
def probe(principal: Manager) -> dict:
    return {"name": principal.name, "role": principal.role}


@pytest.fixture
def protected(api):
    """A route needing `manager`, added to the world's app for these tests only."""
    api.client.app.include_router(_probe)
    return "/api/v1/_probe"


def test_health_needs_no_key(api):
    assert api.get("/healthz", who=None).json() == {"status": "ok"}


def test_ready_when_sql_influx_and_broker_answer(api):
    answer = api.get("/readyz", who=None)
    assert answer.status_code == 200, answer.text
    assert answer.json()["checks"] == {"sql": "ok", "influxdb": "ok", "mqtt": "ok"}


def test_not_ready_names_what_is_down(settings_for, tmp_path):
    closed = free_port()
    settings = settings_for(RULES_USER, influx_url=f"http://127.0.0.1:{closed}",
                            mqtt_url=f"mqtt://u:p@127.0.0.1:{closed}")
    migrate.upgrade(settings.sql_url())
    engine = make_engine(settings.sql_url())
    influx = InfluxClient.from_settings(settings)
    res = Resources(settings, engine, influx, ApiKeyStore(engine), AlertStore(engine))
    try:
        answer = TestClient(create_app(settings, res)).get("/readyz")
    finally:
        influx.close()
        engine.dispose()
    assert answer.status_code == 503
    assert answer.json()["checks"] == {"sql": "ok", "influxdb": "unreachable",
                                       "mqtt": "unreachable"}
    assert str(closed) not in answer.text  # no addresses or credentials in the answer


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nonsense", "Basic dXNlcjpwYXNz",
                                    "Bearer sw_000000000000_" + "A" * 43])
def test_no_or_a_bad_key_is_401(api, protected, header):
    headers = {} if header is None else {"Authorization": header}
    answer = api.client.get(protected, headers=headers)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"


def test_a_right_prefix_with_a_wrong_secret_is_401(api, protected):
    key = api.keys["manager"]
    forged = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert api.client.get(protected, headers={"Authorization": f"Bearer {forged}"}
                          ).status_code == 401


@pytest.mark.parametrize(("who", "status"), [("viewer", 403), ("crew", 403), (ZONE_CREW, 403),
                                             ("manager", 200), ("admin", 200)])
def test_roles_rank_viewer_crew_manager_admin(api, protected, who, status):
    answer = api.get(protected, who=who)
    assert answer.status_code == status, answer.text
    if status == 403:
        assert "needs the manager role" in answer.json()["detail"]


def test_a_revoked_key_is_401_from_the_next_request(api, protected):
    assert api.get(protected, who="manager").status_code == 200  # verified and remembered
    key_id = next(r.id for r in api.res.keys.list() if r.name == "manager")
    assert api.res.keys.revoke(key_id, api.clock())
    assert api.get(protected, who="manager").status_code == 401


def test_metrics_count_requests_by_route_template(api, protected):
    api.get(protected, who="admin")
    api.get(protected, who=None)
    text = api.get("/metrics", who=None).text
    assert ('streetwatch_api_requests_total{method="GET",route="/api/v1/_probe",status="200"} 1.0'
            in text)
    assert ('streetwatch_api_requests_total{method="GET",route="/api/v1/_probe",status="401"} 1.0'
            in text)
    assert "streetwatch_api_request_seconds_bucket" in text


def test_the_access_log_names_the_key_never_the_key_itself(api, protected, caplog):
    caplog.set_level(logging.INFO, logger="api.access")
    api.get(protected, who="admin")
    api.client.get(protected, headers={"Authorization": "Bearer sw_not_a_key"})
    logged = "\n".join(JsonLineFormatter().format(r) for r in caplog.records)
    assert "api.request" in logged and "admin#" in logged
    assert api.keys["admin"] not in logged and "sw_not_a_key" not in logged
    assert api.keys["admin"].split("_", 2)[2] not in logged


def test_openapi_declares_the_bearer_scheme(api, protected):
    schema = api.get("/openapi.json", who=None).json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streetwatch", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_apikey_commands_show_a_key_once_and_serve_it(settings_for, tmp_path):
    """`apikey create` prints the key as its last line; `list` never shows it; `streetwatch api`
    (uvicorn, a real port) accepts it until `apikey revoke`."""
    settings = settings_for(RULES_USER)
    port = free_port()
    env = {**os.environ, "STREETWATCH_DATABASE_URL": settings.sql_url(),
           "STREETWATCH_INFLUX_URL": settings.influx_base_url(),
           "STREETWATCH_INFLUX_DB": settings.influx_db,
           "STREETWATCH_STATE_DIR": str(tmp_path / "state")}
    created = _cli("apikey", "create", "--role", "manager", "--name", "office", env=env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    listed = _cli("apikey", "list", env=env)
    assert "office" in listed.stdout and key not in listed.stdout
    assert key.split("_", 2)[2] not in listed.stdout
    bad = _cli("apikey", "create", "--role", "mayor", "--name", "x", env=env)
    assert bad.returncode != 0 and "role must be one of" in bad.stderr

    server = subprocess.Popen([sys.executable, "-m", "streetwatch", "api", "--port", str(port)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(lambda: _answers(f"{base}/healthz"), "the API to answer /healthz")
        assert httpx.get(f"{base}/openapi.json").status_code == 200
        auth = {"Authorization": f"Bearer {key}"}
        assert httpx.get(f"{base}/api/v1/_nothing", headers=auth).status_code == 404
        revoked = _cli("apikey", "revoke", "1", env=env)
        assert revoked.returncode == 0, revoked.stderr
        assert _cli("apikey", "revoke", "1", env=env).returncode == 1
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert key not in output
    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any(e.get("event") == "api.request" and e.get("route") == "/healthz" for e in events)


@pytest.mark.parametrize(("trusted", "client"), [("127.0.0.1", "203.0.113.5"),
                                                 ("192.0.2.1", "127.0.0.1")])
def test_a_proxy_names_the_client_only_when_trusted(settings_for, tmp_path, trusted, client):
    """`streetwatch api` takes X-Forwarded-For from a peer listed in api_forwarded_allow_ips
    (citizens' limits count that address) and ignores it from any other peer."""
    settings = settings_for(RULES_USER)
    port = free_port()
    env = {**os.environ, "STREETWATCH_DATABASE_URL": settings.sql_url(),
           "STREETWATCH_INFLUX_URL": settings.influx_base_url(),
           "STREETWATCH_STATE_DIR": str(tmp_path / "state"),
           "STREETWATCH_API_FORWARDED_ALLOW_IPS": trusted}
    server = subprocess.Popen([sys.executable, "-m", "streetwatch", "api", "--port", str(port)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(lambda: _answers(f"{base}/healthz"), "the API to answer /healthz")
        forwarded = httpx.get(f"{base}/healthz?via=proxy",
                              headers={"X-Forwarded-For": "203.0.113.5"})
        assert forwarded.status_code == 200
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    seen = [e["client"] for e in events if e.get("event") == "api.request"]
    assert seen[-1] == client, seen


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_for(condition, what: str, timeout_s: float = 30.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_the_access_log_keeps_receipt_codes_out(api, caplog):
    caplog.set_level(logging.INFO, logger="api.access")
    api.get("/api/v1/reports/ABCDEFGHJK", who=None)
    logged = "\n".join(JsonLineFormatter().format(r) for r in caplog.records)
    assert "/api/v1/reports/{receipt}" in logged and "ABCDEFGHJK" not in logged
