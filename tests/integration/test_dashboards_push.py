"""`streetwatch dashboards push` against a small fake of Grafana's HTTP API.

No Grafana server can be installed on these machines (it is not among the Debian packages here and
nothing may be downloaded), so this is a fake: a real HTTP server on a loopback port that serves
just the routes grafana-client calls for a push (the frontend settings its health check reads,
folder by uid / create / update, datasource by uid / create / update, dashboard by uid, POST
/api/dashboards/db) with Grafana's answers: 401 for an unknown token, 403 for a role without the
right, 404, 409 for a duplicate, 412 for a version clash, a read-only provisioned datasource.
grafana-client's own requests, auth header and error handling are what runs against it.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from streetwatch.cli import app
from streetwatch.services.process import free_port

TOKENS = {"glsa_admin_5d1e": "Admin", "glsa_editor_77ab": "Editor", "glsa_viewer_0c4f": "Viewer"}
BOARD_UIDS = ["streetwatch-town", "streetwatch-lamp-map", "streetwatch-drains",
              "streetwatch-alerts", "streetwatch-operations"]


@dataclass
class FakeGrafana:
    """What the fake holds, and every request it answered as (method, path, status)."""

    url: str = ""
    folders: dict[str, dict] = field(default_factory=dict)
    datasources: dict[str, dict] = field(default_factory=dict)
    dashboards: dict[str, dict] = field(default_factory=dict)
    requests: list[tuple[str, str, int]] = field(default_factory=list)

    def writes(self) -> list[tuple[str, str, int]]:
        return [r for r in self.requests if r[0] != "GET"]


class _Handler(BaseHTTPRequestHandler):
    grafana: FakeGrafana

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._answer("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._answer("PUT")

    def _answer(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"null")
        status, answer = self._route(method, body)
        self.grafana.requests.append((method, self.path, status))
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self, method: str, body: dict | None) -> tuple[int, dict]:
        role = TOKENS.get(self.headers.get("Authorization", "").removeprefix("Bearer "))
        if role is None:
            return 401, {"message": "Unauthorized"}
        parts = self.path.split("?")[0].strip("/").split("/")  # api, ...
        if method == "GET":
            return self._read(parts[1:])
        needs_admin = parts[1] == "datasources"
        if role == "Viewer" or (needs_admin and role != "Admin"):
            return 403, {"message": "You'll need additional permissions to perform this action."}
        if parts[1] == "folders":
            return self._save_folder(method, parts[2:], body)
        if parts[1] == "datasources":
            return self._save_datasource(method, parts[2:], body)
        if parts[1:] == ["dashboards", "db"] and method == "POST":
            return self._save_dashboard(body)
        return 404, {"message": "Not found"}

    def _read(self, route: list[str]) -> tuple[int, dict]:
        g = self.grafana
        if route == ["frontend", "settings"]:
            return 200, {"buildInfo": {"version": "11.3.0"}}
        if route[0] == "folders" and route[1] in g.folders:
            return 200, g.folders[route[1]]
        if route[:2] == ["datasources", "uid"] and route[2] in g.datasources:
            shown = {k: v for k, v in g.datasources[route[2]].items() if k != "secureJsonData"}
            return 200, {**shown, "secureJsonFields": {
                k: True for k in g.datasources[route[2]].get("secureJsonData", {})}}
        if route[:2] == ["dashboards", "uid"] and route[2] in g.dashboards:
            stored = g.dashboards[route[2]]
            return 200, {"dashboard": stored["dashboard"],
                         "meta": {"folderUid": stored["folderUid"]}}
        return 404, {"message": "not found"}

    def _save_folder(self, method: str, route: list[str], body: dict) -> tuple[int, dict]:
        folders = self.grafana.folders
        if method == "POST":
            if body["uid"] in folders:
                return 409, {"message": "a folder with the same uid already exists"}
            folders[body["uid"]] = {"uid": body["uid"], "title": body["title"], "version": 1}
            return 200, folders[body["uid"]]
        if route and route[0] in folders:
            folders[route[0]] = {**folders[route[0]], "title": body["title"],
                                 "version": folders[route[0]]["version"] + 1}
            return 200, folders[route[0]]
        return 404, {"message": "folder not found"}

    def _save_datasource(self, method: str, route: list[str], body: dict) -> tuple[int, dict]:
        sources = self.grafana.datasources
        if method == "POST":
            if body["uid"] in sources or any(s["name"] == body["name"]
                                             for s in sources.values()):
                return 409, {"message": "data source with the same name already exists"}
            sources[body["uid"]] = {**body, "id": len(sources) + 1, "readOnly": False}
            return 200, {"message": "Datasource added", "name": body["name"]}
        uid = route[1] if route[:1] == ["uid"] and len(route) > 1 else None
        if uid not in sources:
            return 404, {"message": "Data source not found"}
        if sources[uid].get("readOnly"):
            return 403, {"message": "Cannot update read-only data source"}
        sources[uid] = {**body, "id": sources[uid]["id"], "readOnly": False}
        return 200, {"message": "Datasource updated", "name": body["name"]}

    def _save_dashboard(self, body: dict) -> tuple[int, dict]:
        board, folder = body["dashboard"], body.get("folderUid")
        if folder not in self.grafana.folders:
            return 400, {"message": "folder not found"}
        stored = self.grafana.dashboards.get(board["uid"])
        if stored is not None and not body.get("overwrite"):
            return 412, {"status": "version-mismatch", "message": "The dashboard has changed"}
        version = 1 if stored is None else stored["dashboard"]["version"] + 1
        number = len(self.grafana.dashboards) + 1 if stored is None else stored["dashboard"]["id"]
        saved = {**board, "id": number, "version": version}
        self.grafana.dashboards[board["uid"]] = {"dashboard": saved, "folderUid": folder}
        return 200, {"id": number, "uid": board["uid"], "status": "success", "version": version,
                     "url": f"/d/{board['uid']}/x", "slug": "x"}


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    state = FakeGrafana()
    handler = type("Handler", (_Handler,), {"grafana": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)


def push(monkeypatch, tmp_path, url: str, token: str | None, **settings: str):
    """`streetwatch dashboards push` with only these settings (no ./streetwatch.toml)."""
    monkeypatch.chdir(tmp_path)
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("STREETWATCH_")}
    env |= {"STREETWATCH_GRAFANA_URL": url, "STREETWATCH_GRAFANA_TOKEN": token,
            "STREETWATCH_INFLUX_URL": "http://influxdb:8086"}
    env |= {f"STREETWATCH_{k.upper()}": v for k, v in settings.items()}
    return CliRunner().invoke(app, ["dashboards", "push"], env=env)


def test_a_push_creates_everything_and_a_second_one_changes_nothing(grafana, monkeypatch,
                                                                     tmp_path):
    first = push(monkeypatch, tmp_path, grafana.url, "glsa_admin_5d1e",
                 influx_username="reader")
    assert first.exit_code == 0, first.output
    assert "folder 'Streetwatch' (streetwatch): created" in first.output
    assert "datasource 'Streetwatch InfluxDB' (streetwatch-influxdb): created" in first.output
    assert all(f"dashboard {uid}: created (version 1)" in first.output for uid in BOARD_UIDS)
    assert list(grafana.folders) == ["streetwatch"] and sorted(grafana.dashboards) == sorted(
        BOARD_UIDS)
    assert {d["folderUid"] for d in grafana.dashboards.values()} == {"streetwatch"}
    source = grafana.datasources["streetwatch-influxdb"]
    assert (source["url"], source["user"], source["jsonData"]["version"]) == (
        "http://influxdb:8086", "reader", "InfluxQL")
    state = json.dumps([grafana.folders, grafana.datasources, grafana.dashboards])
    grafana.requests.clear()

    second = push(monkeypatch, tmp_path, grafana.url, "glsa_admin_5d1e",
                  influx_username="reader")

    assert second.exit_code == 0, second.output
    assert grafana.writes() == []
    assert json.dumps([grafana.folders, grafana.datasources, grafana.dashboards]) == state
    assert "datasource 'Streetwatch InfluxDB' (streetwatch-influxdb): unchanged" in second.output
    assert all(f"dashboard {uid}: unchanged (version 1)" in second.output for uid in BOARD_UIDS)


def test_a_push_updates_what_differs_and_sends_the_password_only_to_grafana(grafana,
                                                                            monkeypatch,
                                                                            tmp_path):
    assert push(monkeypatch, tmp_path, grafana.url, "glsa_admin_5d1e").exit_code == 0
    grafana.dashboards["streetwatch-drains"]["dashboard"]["title"] = "edited in the UI"
    grafana.requests.clear()

    result = push(monkeypatch, tmp_path, grafana.url, "glsa_admin_5d1e",
                  grafana_folder="Town boards", influx_password="pw-31f0-secret")

    assert result.exit_code == 0, result.output
    assert "renamed from 'Streetwatch'" in result.output and "pw-31f0" not in result.output
    assert "dashboard streetwatch-drains: updated (version 2)" in result.output
    assert grafana.folders["streetwatch"]["title"] == "Town boards"
    assert grafana.datasources["streetwatch-influxdb"]["secureJsonData"] == {
        "password": "pw-31f0-secret"}
    assert [(m, p) for m, p, _ in grafana.writes()] == [
        ("PUT", "/api/folders/streetwatch"), ("PUT", "/api/datasources/uid/streetwatch-influxdb"),
        ("POST", "/api/dashboards/db")]


def test_a_provisioned_datasource_is_left_as_it_is(grafana, monkeypatch, tmp_path):
    grafana.datasources["streetwatch-influxdb"] = {
        "uid": "streetwatch-influxdb", "name": "Streetwatch InfluxDB", "type": "influxdb",
        "url": "http://elsewhere:8086", "readOnly": True, "id": 1}
    result = push(monkeypatch, tmp_path, grafana.url, "glsa_admin_5d1e")
    assert result.exit_code == 0, result.output
    assert "provisioned from files, left as it is" in result.output
    assert grafana.datasources["streetwatch-influxdb"]["url"] == "http://elsewhere:8086"


@pytest.mark.parametrize(("token", "says"), [
    ("glsa_wrong_9e9e", "refused the credentials (401 Unauthorized) trying to sign in"),
    ("glsa_viewer_0c4f", "lacks the rights to create the folder"),
    ("glsa_editor_77ab", "lacks the rights to create the datasource"),
])
def test_refusals_say_what_and_never_show_the_token(grafana, monkeypatch, tmp_path, token, says):
    result = push(monkeypatch, tmp_path, grafana.url, token)
    assert result.exit_code == 1
    assert says in result.output and token not in result.output


def test_a_grafana_that_is_not_there_is_unreachable(monkeypatch, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = push(monkeypatch, tmp_path, url, "glsa_admin_5d1e")
    assert result.exit_code == 1
    assert f"Grafana at {url} is unreachable" in result.output
    assert "glsa_admin" not in result.output


def test_no_token_no_push(monkeypatch, tmp_path):
    result = push(monkeypatch, tmp_path, "http://127.0.0.1:1", None)
    assert result.exit_code == 1 and "STREETWATCH_GRAFANA_TOKEN is not set" in result.output
