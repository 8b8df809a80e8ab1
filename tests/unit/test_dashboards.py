"""The boards as Grafana needs them (unique panel ids, datasource refs, uids, schemaVersion,
variables that exist, panels inside the grid), the export's files, and the committed export in
deploy/grafana equal to a fresh one, so the two cannot drift apart.

(Every query runs against a real InfluxDB in tests/integration/test_dashboards_queries.py.)
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from datetime import date
from itertools import combinations
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from dashboards.boards import BoardSettings, all_boards
from dashboards.panels import DATASOURCE, DATASOURCE_UID, GRID_COLUMNS, SCHEMA_VERSION
from dashboards.provisioning import to_yaml
from streetwatch.cli import app
from streetwatch.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "deploy" / "grafana"
EXPORT_ARGS = ["dashboards", "export", "--datasource-url", "http://influxdb:8086"]
GRAFANA_VARIABLES = {"timeFilter", "__interval", "__interval_ms", "__from", "__to", "tag_zone",
                     "tag_sensor", "tag_gauge", "tag_kind", "tag_reason", "tag_runner",
                     "tag_gateway"}
PANEL_TYPES = {"timeseries", "stat", "table", "geomap", "text"}
DEFAULTS = BoardSettings.from_settings(Settings.model_construct())
WITH_CAMPAIGN = replace(DEFAULTS, campaign_target_date=date(2027, 3, 31))
BOARDS = all_boards(DEFAULTS) + all_boards(WITH_CAMPAIGN)


def board_id(board: dict) -> str:
    return board["uid"]


@pytest.mark.parametrize("board", BOARDS, ids=board_id)
def test_a_board_has_what_grafana_needs(board):
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", board["uid"])
    assert board["schemaVersion"] == SCHEMA_VERSION and board["id"] is None
    assert board["title"] and board["time"]["to"] == "now"
    ids = [p["id"] for p in board["panels"]]
    assert ids == list(range(1, len(ids) + 1))
    assert len({p["title"] for p in board["panels"]}) == len(ids)
    for panel in board["panels"]:
        assert panel["type"] in PANEL_TYPES
        refs = [t["refId"] for t in panel["targets"]]
        assert len(set(refs)) == len(refs)
        if panel["targets"]:
            assert panel["datasource"] == DATASOURCE
        for target in panel["targets"]:
            assert target["datasource"] == {"type": "influxdb", "uid": DATASOURCE_UID}
            assert target["rawQuery"] is True and target["resultFormat"] in ("time_series",
                                                                              "table")
            assert target["query"].startswith("SELECT ")  # InfluxQL, never Flux


@pytest.mark.parametrize("board", BOARDS, ids=board_id)
def test_panels_fill_the_grid_without_overlapping(board):
    boxes = [p["gridPos"] for p in board["panels"]]
    assert all(b["x"] >= 0 and b["x"] + b["w"] <= GRID_COLUMNS and b["h"] > 0 for b in boxes)
    for a, b in combinations(boxes, 2):
        apart = (a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"]
                 or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"])
        assert apart, (a, b)


@pytest.mark.parametrize("board", BOARDS, ids=board_id)
def test_every_variable_a_query_uses_exists(board):
    variables = board["templating"]["list"]
    names = {v["name"] for v in variables}
    assert len(names) == len(variables) and {"zone"} <= names
    for variable in variables:
        assert variable["datasource"] == DATASOURCE and variable["query"].startswith("SHOW ")
    queries = [t["query"] for p in board["panels"] for t in p["targets"]]
    queries += [v["query"] for v in variables]
    queries += [a["query"] for a in board["annotations"]["list"] if "query" in a]
    queries += [t.get("alias", "") for p in board["panels"] for t in p["targets"]]
    used = {m for q in queries for m in re.findall(r"\$\{?([A-Za-z_]+)", q)}
    assert used <= names | GRAFANA_VARIABLES, used - names - GRAFANA_VARIABLES


def test_uids_are_unique_and_fixed():
    uids = [b["uid"] for b in all_boards(DEFAULTS)]
    assert uids == ["streetwatch-town", "streetwatch-lamp-map", "streetwatch-drains",
                    "streetwatch-alerts", "streetwatch-operations"]
    assert uids == [b["uid"] for b in all_boards(WITH_CAMPAIGN)]


def test_the_campaign_counts_days_to_the_target_date_in_town_time():
    panels = {p["title"]: p for p in all_boards(WITH_CAMPAIGN)[0]["panels"]}
    query = panels["Campaign: days left"]["targets"][0]["query"]
    assert query.startswith("SELECT (1806422400000 - ${__to}) / 86400000")  # 2027-03-31 +08:00
    without = {p["title"]: p for p in all_boards(DEFAULTS)[0]["panels"]}
    assert without["Campaign: days left"]["type"] == "text"


# Export -------------------------------------------------------------------------------------
def only_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str]) -> None:
    """No STREETWATCH_* variable but `env`, and no ./streetwatch.toml."""
    for name in [n for n in os.environ if n.startswith("STREETWATCH_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)


def export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str,
           env: dict[str, str] | None = None) -> dict[str, str]:
    """Run the export command with no settings but `env`; the files it wrote, by path."""
    only_settings(monkeypatch, tmp_path, env or {})
    result = CliRunner().invoke(app, [*EXPORT_ARGS[:2], str(tmp_path / "out"), *EXPORT_ARGS[2:],
                                      *extra])
    assert result.exit_code == 0, result.output
    root = tmp_path / "out"
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_the_committed_export_is_a_fresh_export(tmp_path, monkeypatch):
    fresh = export(tmp_path, monkeypatch)
    committed = {str(p.relative_to(COMMITTED)): p.read_text()
                 for p in sorted(COMMITTED.rglob("*")) if p.is_file()}
    assert sorted(committed) == sorted(fresh), "run: streetwatch dashboards export deploy/grafana"
    for name, text in fresh.items():
        assert committed[name] == text, f"{name} differs: export deploy/grafana again"


def test_the_export_has_the_files_compose_mounts(tmp_path, monkeypatch):
    files = export(tmp_path, monkeypatch, "--dashboards-path", "/srv/boards")
    assert sorted(files) == sorted(["provisioning/datasources/streetwatch.yaml",
                                    "provisioning/dashboards/streetwatch.yaml",
                                    *(f"dashboards/{b['uid']}.json" for b in all_boards(DEFAULTS))])
    (source,) = yaml.safe_load(files["provisioning/datasources/streetwatch.yaml"])["datasources"]
    assert source["uid"] == DATASOURCE_UID and source["url"] == "http://influxdb:8086"
    assert source["jsonData"]["version"] == "InfluxQL" and source["jsonData"]["dbName"]
    (provider,) = yaml.safe_load(files["provisioning/dashboards/streetwatch.yaml"])["providers"]
    assert provider["options"]["path"] == "/srv/boards" and provider["type"] == "file"
    for uid in (b["uid"] for b in all_boards(DEFAULTS)):
        assert json.loads(files[f"dashboards/{uid}.json"])["uid"] == uid


def test_the_export_writes_no_credential(tmp_path, monkeypatch):
    """Credentials come from Grafana's environment when it loads the file, never from ours."""
    files = export(tmp_path, monkeypatch, env={"STREETWATCH_INFLUX_USERNAME": "reader-7f3a",
                                               "STREETWATCH_INFLUX_PASSWORD": "pw-9c1d-secret",
                                               "STREETWATCH_GRAFANA_TOKEN": "glsa_tok_4e2b"})
    text = "".join(files.values())
    assert not any(secret in text for secret in ("reader-7f3a", "pw-9c1d", "glsa_tok"))
    (source,) = yaml.safe_load(files["provisioning/datasources/streetwatch.yaml"])["datasources"]
    assert source["user"] == "$__env{STREETWATCH_INFLUX_USERNAME}"
    assert source["secureJsonData"] == {"password": "$__env{STREETWATCH_INFLUX_PASSWORD}"}


def test_the_default_datasource_url_is_the_settings_influxdb(tmp_path, monkeypatch):
    only_settings(monkeypatch, tmp_path, {"STREETWATCH_INFLUX_URL": "http://tsdb.example:8086"})
    result = CliRunner().invoke(app, ["dashboards", "export", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    source = yaml.safe_load((tmp_path / "o/provisioning/datasources/streetwatch.yaml")
                            .read_text())["datasources"][0]
    assert source["url"] == "http://tsdb.example:8086"


SCALARS = st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False)
KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True) | st.text(max_size=8)
TREES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(KEYS, inner, max_size=4), max_leaves=20)


@settings(max_examples=300)
@given(st.dictionaries(KEYS, TREES, min_size=1, max_size=5))
def test_the_yaml_writer_round_trips(value):
    assert yaml.safe_load(to_yaml(value)) == value
