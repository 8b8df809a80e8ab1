"""docker-compose.yml, Dockerfile and .env.example, checked statically.

No Docker engine runs on the development machines, so nothing here starts a container: the file is
validated against the Compose Specification's JSON schema (tests/unit/compose-spec.json, copied
from compose-spec/compose-spec `schema/compose-spec.json` at commit 170098b, Apache-2.0), and
what it runs is checked against the project itself: every command against the CLI, the broker
config against a fresh rendering, ports against the settings. The pieces run natively elsewhere:
tests/integration/test_compose_broker.py (broker accounts script, ACL, healthcheck) and
tests/integration/test_influx_retention.py (`db upgrade`).
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path

import click
import jsonschema_rs
import pytest
import typer
import yaml
from typer.testing import CliRunner

from streetwatch.cli import app
from streetwatch.services.compose_broker import CONTAINER_PATHS, render_compose_broker_files
from streetwatch.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict] = COMPOSE["services"]
STREETWATCH = {name: s for name, s in SERVICES.items() if s.get("build")}
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VERSION_TAG = re.compile(r"^[\w.\-/]+:\d+(\.\d+)+[\w.\-]*$")  # a full version, not `latest`/`2`
VARIABLE = re.compile(r"(?<!\$)\$\{(\w+)(:?[?-])?")  # ${VAR}, ${VAR:?msg}, ${VAR:-}; not $${
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$")
OPTIONAL_SECRETS = {"SIMULATOR_GATEWAY_PASSWORD"}  # demo profile only: empty means no demo accounts


def compose_strings(node: object) -> Iterator[str]:
    """Every string in the parsed compose file (keys and values)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from compose_strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from compose_strings(item)
    elif isinstance(node, str):
        yield node


def env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


@pytest.fixture
def compose_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings every Streetwatch container reads: deploy/streetwatch.toml, no other env."""
    file = next(s for s in STREETWATCH["ingest"]["volumes"] if s.endswith(":ro"))
    source, target, _ = file.split(":")
    for name in [n for n in os.environ if n.startswith("STREETWATCH_")]:
        monkeypatch.delenv(name)
    assert STREETWATCH["ingest"]["environment"]["STREETWATCH_CONFIG"] == target
    monkeypatch.setenv("STREETWATCH_CONFIG", str(ROOT / source))
    return load_settings()


# The file as a whole -----------------------------------------------------------------------------
def test_compose_file_follows_the_compose_specification() -> None:
    validator = jsonschema_rs.validator_for(json.loads(
        (Path(__file__).with_name("compose-spec.json")).read_text()))
    errors = [str(error) for error in validator.iter_errors(COMPOSE)]
    assert errors == []
    broken = {**COMPOSE, "services": {"ingest": {**SERVICES["ingest"], "helthcheck": {}}}}
    assert not validator.is_valid(broken)  # the schema does catch a misspelt key


def test_every_image_is_pinned_to_a_version() -> None:
    for name, service in SERVICES.items():
        assert VERSION_TAG.match(service["image"]), f"{name}: {service['image']} is not pinned"
    version = PYPROJECT["project"]["version"]
    assert {s["image"] for s in STREETWATCH.values()} == {f"streetwatch:{version}"}


def test_the_streetwatch_services_are_the_expected_ones() -> None:
    assert set(STREETWATCH) == {"migrate", "ingest", "rules", "api", "simulate"}
    assert SERVICES["simulate"]["profiles"] == ["simulate"]


@pytest.mark.parametrize("name", sorted(STREETWATCH))
def test_every_command_is_a_real_cli_command_with_real_options(name: str) -> None:
    command = STREETWATCH[name]["command"]
    assert command[0] == "streetwatch"
    words = [w for w in command[1:] if not w.startswith("-")]
    group = typer.main.get_command(app)
    target: click.Command = group
    ctx = click.Context(group)
    while isinstance(target, click.Group) and words and words[0] in target.list_commands(ctx):
        target = target.get_command(ctx, words.pop(0))
    runs_alone = not isinstance(target, click.Group) or target.invoke_without_command
    assert runs_alone, f"{name}: `{' '.join(command)}` names a command group, not a command"
    # Options are parsed before --help acts: an unknown option or a bad value fails here.
    result = CliRunner().invoke(app, [*command[1:], "--help"])
    assert result.exit_code == 0, result.output


# Health and order --------------------------------------------------------------------------------
def is_one_shot(service: dict) -> bool:
    return service.get("restart") == "no"


def test_every_long_running_service_has_a_healthcheck() -> None:
    for name, service in SERVICES.items():
        if name == "simulate":  # the demo publisher: no health endpoint, nothing depends on it
            assert is_one_shot(service)
            continue
        assert is_one_shot(service) or service["healthcheck"]["test"], name
    assert {n for n, s in SERVICES.items() if is_one_shot(s)} == {"migrate", "simulate"}


@pytest.mark.parametrize(("name", "port_setting"), [
    ("ingest", "ingest_metrics_port"), ("rules", "rules_metrics_port"), ("api", "api_port")])
def test_healthchecks_ask_the_port_the_service_serves(name: str, port_setting: str,
                                                      compose_settings: Settings) -> None:
    test = " ".join(STREETWATCH[name]["healthcheck"]["test"])
    port = getattr(compose_settings, port_setting)
    assert f"'http://127.0.0.1:{port}/healthz'" in test and "urllib.request.urlopen" in test


def test_metrics_listen_beyond_the_container() -> None:
    """The ingester and the rule runner serve /metrics on `ingest_metrics_host` (127.0.0.1 by
    default): a Prometheus in another container needs 0.0.0.0; the API is told by --host."""
    for name in ("ingest", "rules"):
        assert STREETWATCH[name]["environment"]["STREETWATCH_INGEST_METRICS_HOST"] == "0.0.0.0"
    assert STREETWATCH["api"]["command"][-2:] == ["--host", "0.0.0.0"]


def test_dependencies_wait_for_health_or_completion() -> None:
    for name, service in SERVICES.items():
        for target, rule in service.get("depends_on", {}).items():
            if is_one_shot(SERVICES[target]):
                assert rule == {"condition": "service_completed_successfully"}, (name, target)
            else:
                assert rule == {"condition": "service_healthy"}, (name, target)
                assert SERVICES[target]["healthcheck"]["test"], target
    for name in ("ingest", "rules", "api", "simulate"):
        assert "migrate" in STREETWATCH[name]["depends_on"], name
    assert set(STREETWATCH["migrate"]["depends_on"]) == {"postgres", "influxdb"}


# Volumes, mounts, secrets ------------------------------------------------------------------------
def mounts(service: dict) -> list[tuple[str, str]]:
    return [tuple(m.split(":")[:2]) for m in service.get("volumes", [])]


def test_named_volumes_are_declared_and_used() -> None:
    used = {source for s in SERVICES.values() for source, _ in mounts(s)
            if not source.startswith((".", "/"))}
    assert used == set(COMPOSE["volumes"])


def test_bind_mount_sources_are_in_the_repository() -> None:
    """deploy/grafana/ included: `streetwatch dashboards export deploy/grafana` writes it."""
    binds = [(name, source) for name, service in SERVICES.items()
             for source, _ in mounts(service) if source.startswith((".", "/"))]
    assert binds and all(source.startswith("./") for _, source in binds)  # in the repository
    for name, source in binds:
        assert (ROOT / source).exists(), f"{name}: {source} is missing"


def test_no_secret_is_written_in_the_compose_file() -> None:
    for name, service in SERVICES.items():
        for key, value in service.get("environment", {}).items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{\w+(:[?-][^}]*)?\}", str(value)), (name, key)
            if "://" in str(value) and "@" in str(value):  # a URL with credentials
                assert re.search(r"://[^:/]+:\$\{\w+", value), (name, key)
    for text in compose_strings(COMPOSE):
        assert "change-me" not in text and "changeme" not in text


def test_env_example_lists_every_variable_and_only_those() -> None:
    used = {m.group(1) for text in compose_strings(COMPOSE) for m in VARIABLE.finditer(text)}
    example = env_example()
    assert used == set(example)
    for key, value in example.items():
        if SECRET_NAME.search(key):
            assert value == "", f".env.example must not hold a value for {key}"


def test_required_secrets_stop_compose_when_missing() -> None:
    """`${VAR:?message}`: compose refuses to start instead of running with an empty password."""
    for text in compose_strings(COMPOSE):
        for match in VARIABLE.finditer(text):
            name, operator = match.group(1), match.group(2)
            if SECRET_NAME.search(name) and name not in OPTIONAL_SECRETS:
                assert operator == ":?", f"{name} in {text!r}"


def test_grafana_is_closed_to_anonymous_users_and_gets_what_its_files_ask_for() -> None:
    grafana = SERVICES["grafana"]
    env = grafana["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    assert ("./deploy/grafana/provisioning", "/etc/grafana/provisioning") in mounts(grafana)
    assert ("./deploy/grafana/dashboards", "/var/lib/grafana/dashboards") in mounts(grafana)
    files = sorted((ROOT / "deploy/grafana/provisioning").rglob("*.yaml"))
    assert files
    for file in files:  # Grafana expands $__env{VAR}, ${VAR} and $VAR from its environment
        for match in re.finditer(r"\$__env\{(\w+)\}|\$\{(\w+)\}|\$(?!__env)(\w+)",
                                 file.read_text()):
            name = next(group for group in match.groups() if group)
            assert name in env, f"{file.relative_to(ROOT)} reads {name}, not set for grafana"


# The broker --------------------------------------------------------------------------------------
def test_broker_files_are_the_ones_streetwatch_generates(compose_settings: Settings) -> None:
    """Regenerate: see streetwatch/services/compose_broker.py."""
    for name, text in render_compose_broker_files(compose_settings).items():
        assert (ROOT / "deploy/mosquitto" / name).read_text() == text, name


def test_broker_config_has_the_zero_loss_settings(compose_settings: Settings) -> None:
    lines = set((ROOT / "deploy/mosquitto/mosquitto.conf").read_text().splitlines())
    s = compose_settings
    for line in ("listener 1883", "allow_anonymous false", "persistence true",
                 f"max_queued_messages {s.broker_max_queued_messages}", "max_queued_bytes 0",
                 f"max_inflight_messages {s.broker_max_inflight_messages}",
                 f"autosave_interval {s.broker_autosave_interval_s}",
                 f"password_file {CONTAINER_PATHS.passwd}", f"acl_file {CONTAINER_PATHS.acl}",
                 f"persistence_location {CONTAINER_PATHS.data_dir}",
                 "use_username_as_clientid true"):
        assert line in lines
    # The queue bound is what makes an ingester outage survivable; the window bounds a batch.
    assert s.broker_max_queued_messages >= 1_000_000
    assert s.ingest_batch_size < s.broker_max_inflight_messages


def test_broker_container_reads_the_files_where_the_config_says() -> None:
    broker = SERVICES["mosquitto"]
    targets = {target: source for source, target in mounts(broker)}
    assert targets[str(CONTAINER_PATHS.conf)] == "./deploy/mosquitto/mosquitto.conf"
    assert targets[str(CONTAINER_PATHS.acl)] == "./deploy/mosquitto/acl"
    assert targets[str(CONTAINER_PATHS.data_dir)] == "mosquitto-data"
    assert targets[str(CONTAINER_PATHS.passwd.parent)] == "mosquitto-accounts"
    assert broker["command"][-2:] == ["-c", str(CONTAINER_PATHS.conf)]
    script = broker["entrypoint"][-1]
    assert targets[script] == "./deploy/mosquitto/accounts.sh"
    assert not (ROOT / "deploy/mosquitto/passwd").exists()  # hashes never go in the repository


def test_service_accounts_log_in_under_their_own_names() -> None:
    ingest = STREETWATCH["ingest"]["environment"]["STREETWATCH_MQTT_URL"]
    rules = STREETWATCH["rules"]["environment"]["STREETWATCH_MQTT_URL"]
    assert ingest.startswith("mqtt://ingest%40streetwatch:${MQTT_INGEST_PASSWORD")
    assert rules.startswith("mqtt://rules%40streetwatch:${MQTT_RULES_PASSWORD")
    assert STREETWATCH["migrate"]["environment"]["STREETWATCH_INFLUX_USERNAME"].startswith(
        "${INFLUX_ADMIN_USER")


# The image ---------------------------------------------------------------------------------------
def dockerfile() -> list[str]:
    return [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_dockerfile_has_a_pinned_slim_base_and_a_non_root_user() -> None:
    lines = dockerfile()
    bases = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert len(bases) == 1 and re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", bases[0]), bases
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    installs = [line for line in lines if "pip install" in line]
    assert installs and all("[postgres]" in line and "test" not in line for line in installs)


def test_dockerignore_lets_in_only_what_the_image_needs() -> None:
    lines = [line for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line and not line.startswith("#")]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert not any(name.startswith(".env") or name.startswith(".") for name in allowed)
    copied = {line.split()[1].rstrip("/") for line in dockerfile() if line.startswith("COPY ")}
    copied |= {word for line in dockerfile() if line.startswith("COPY ")
               for word in line.split()[1:-1]}
    assert copied <= allowed


def test_the_image_gets_every_data_file_of_the_packages() -> None:
    """A wheel holds only the non-Python files pyproject's package-data names: a template or a
    scenario left out works from a checkout and breaks in the container."""
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]
    packages = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    roots = [ROOT / p.rstrip("*") for p in packages]
    for path in (p for root in roots for p in root.rglob("*") if p.is_file()):
        if path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
            continue
        relative = path.relative_to(ROOT)
        covered = any(
            relative.as_posix().startswith(package.replace(".", "/") + "/")
            and any(fnmatch(relative.as_posix()[len(package) + 1:], glob) for glob in globs)
            for package, globs in patterns.items())
        assert covered, f"{relative} is not in pyproject's package-data: the image would lack it"


def test_regenerating_the_broker_files(tmp_path: Path, compose_settings: Settings,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from streetwatch.services.compose_broker import main

    assert main([str(tmp_path)]) == 0
    for name in ("mosquitto.conf", "acl"):
        assert (tmp_path / name).read_text() == (ROOT / "deploy/mosquitto" / name).read_text()
    assert main([str(tmp_path), "--check"]) == 0
    assert main([str(tmp_path), "--check", "--service-account", "ingest.b@streetwatch"]) == 1
    assert "acl differs from a fresh rendering" in capsys.readouterr().out
    assert main([str(tmp_path), "--service-account", "ingest.b@streetwatch"]) == 0
    assert "user ingest.b@streetwatch\ntopic read streetwatch/#" in (tmp_path / "acl").read_text()
