"""Rendered service configs (exact lines), the `$7$` password hash and the credential store."""

from __future__ import annotations

import base64
import re
import stat
import tomllib
from pathlib import Path

import pytest

from streetwatch.errors import ConfigError, ServiceError
from streetwatch.services.credentials import (
    CredentialStore,
    mosquitto_password_line,
    password_line_matches,
    service_role,
    validate_gateway_id,
    validate_username,
)
from streetwatch.services.influxd import InfluxdPaths, render_influxd_conf
from streetwatch.services.mosquitto import (
    MosquittoPaths,
    render_acl,
    render_mosquitto_conf,
    render_password_file,
)
from streetwatch.services.process import log_tail, require_binary, wait_until
from streetwatch.settings import (
    INGEST_USER,
    RULES_USER,
    Settings,
    ingest_account,
    rules_account,
)

STATE = Path("/srv/sw-state")


def mosquitto_conf_lines() -> list[str]:
    settings = Settings(
        state_dir=STATE,
        broker_max_queued_messages=123_456,
        broker_max_inflight_messages=777,
        broker_autosave_interval_s=5,
    )
    return render_mosquitto_conf(MosquittoPaths.under(STATE), 24883, settings).splitlines()


@pytest.mark.parametrize(
    "line",
    [
        "listener 24883 127.0.0.1",
        "allow_anonymous false",
        "password_file /srv/sw-state/mosquitto/passwd",
        "acl_file /srv/sw-state/mosquitto/acl",
        "persistence true",
        "persistence_location /srv/sw-state/mosquitto/data",
        "autosave_interval 5",
        "max_queued_messages 123456",
        "max_queued_bytes 0",
        "max_inflight_messages 777",
        "max_packet_size 2097152",
        "use_username_as_clientid true",
        "log_dest file /srv/sw-state/mosquitto/mosquitto.log",
        "log_type information",
    ],
)
def test_mosquitto_conf_has_line(line: str) -> None:
    assert line in mosquitto_conf_lines()


def test_mosquitto_conf_explains_the_zero_loss_traps() -> None:
    comments = "\n".join(line for line in mosquitto_conf_lines() if line.startswith("#"))
    for knob in (
        "max_queued_messages",
        "autosave_interval",
        "max_inflight_messages",
        "max_packet_size",
    ):
        assert knob in comments
    assert "DROPS" in comments


def test_mosquitto_conf_explains_why_client_ids_are_usernames() -> None:
    comments = "\n".join(line for line in mosquitto_conf_lines() if line.startswith("#"))
    assert "use_username_as_clientid" in comments
    assert "streetwatch-ingest" in comments and "2,005" in comments


def acl_lines(usernames: list[str]) -> list[str]:
    return [line for line in render_acl(usernames).splitlines() if line and not line.startswith("#")]


def test_acl_lines_and_pattern_first() -> None:
    assert acl_lines(["gw1", RULES_USER, INGEST_USER, "gw2"]) == [
        "pattern write streetwatch/%u/#",
        f"user {INGEST_USER}",
        "topic read streetwatch/#",
        f"user {RULES_USER}",
        "topic read streetwatch/#",
        "topic write streetwatch/alerts/#",
    ]


def test_acl_has_a_block_per_service_instance_and_none_for_gateways() -> None:
    accounts = [ingest_account("b"), "gw1", ingest_account("a"), INGEST_USER, rules_account("r1")]
    assert acl_lines(accounts) == [
        "pattern write streetwatch/%u/#",
        f"user {INGEST_USER}",
        "topic read streetwatch/#",
        "user ingest.a@streetwatch",
        "topic read streetwatch/#",
        "user ingest.b@streetwatch",
        "topic read streetwatch/#",
        "user rules.r1@streetwatch",
        "topic read streetwatch/#",
        "topic write streetwatch/alerts/#",
    ]
    assert acl_lines([]) == ["pattern write streetwatch/%u/#"]


@pytest.mark.parametrize(
    ("instance", "ingest", "rules"),
    [
        (None, INGEST_USER, RULES_USER),
        ("a", "ingest.a@streetwatch", "rules.a@streetwatch"),
        ("Ing_2-b", "ingest.Ing_2-b@streetwatch", "rules.Ing_2-b@streetwatch"),
        ("x" * 48, f"ingest.{'x' * 48}@streetwatch", f"rules.{'x' * 48}@streetwatch"),
    ],
)
def test_service_accounts_of_instances(instance: str | None, ingest: str, rules: str) -> None:
    assert (ingest_account(instance), rules_account(instance)) == (ingest, rules)
    assert (service_role(ingest), service_role(rules)) == ("ingest", "rules")
    assert validate_username(ingest) == ingest and validate_username(rules) == rules


@pytest.mark.parametrize("instance", ["", "x" * 49, "a.b", "a@b", "a/b", "a+", "#", "é", "a b"])
def test_invalid_service_instances_are_refused(instance: str) -> None:
    with pytest.raises(ConfigError, match="service instance"):
        ingest_account(instance)


@pytest.mark.parametrize(
    "username",
    ["ingest.@streetwatch", "ingest.a.b@streetwatch", "admin@streetwatch", "ingest@elsewhere",
     f"ingest.{'x' * 49}@streetwatch", "rules.a@streetwatch.evil", "Ingest@streetwatch"],
)
def test_lookalike_service_accounts_are_not_usernames(username: str) -> None:
    assert service_role(username) is None
    with pytest.raises(ConfigError, match="invalid gateway id"):
        validate_username(username)


def test_influxd_conf_values() -> None:
    paths = InfluxdPaths.under(STATE)
    conf = tomllib.loads(render_influxd_conf(paths, 28086, 28088))
    assert conf["reporting-disabled"] is True
    assert conf["reporting-enabled"] is False
    assert conf["bind-address"] == "127.0.0.1:28088"
    assert conf["meta"]["dir"] == "/srv/sw-state/influxdb/meta"
    assert conf["data"]["dir"] == "/srv/sw-state/influxdb/data"
    assert conf["data"]["wal-dir"] == "/srv/sw-state/influxdb/wal"
    assert conf["data"]["query-log-enabled"] is False
    assert conf["monitor"]["store-enabled"] is False
    assert conf["http"]["bind-address"] == "127.0.0.1:28086"
    assert conf["http"]["log-enabled"] is False


# Written by Debian's mosquitto_passwd 2.0.11 (`mosquitto_passwd -b passwd alice secret`).
MOSQUITTO_PASSWD_LINE = (
    "alice:$7$101$J8pQ6G23NzHJaacE$AaJWCY3SgOPqwvWj02YL/5a39lS0KFPrZlEWLuFDhMU8KUND/CRQeG+bc6Ux6VMikd"
    "elfHnPmDeLbhlVS3rZog=="
)


def test_password_line_reproduces_mosquitto_passwd() -> None:
    salt = base64.b64decode("J8pQ6G23NzHJaacE")
    assert mosquitto_password_line("alice", "secret", salt) == MOSQUITTO_PASSWD_LINE


def test_password_line_format_with_random_salt() -> None:
    line = mosquitto_password_line(INGEST_USER, "pw")
    match = re.fullmatch(
        r"ingest@streetwatch:\$7\$101\$([A-Za-z0-9+/=]{16})\$([A-Za-z0-9+/=]{88})", line
    )
    assert match is not None
    assert len(base64.b64decode(match.group(1))) == 12
    assert len(base64.b64decode(match.group(2))) == 64
    assert line != mosquitto_password_line(INGEST_USER, "pw")  # fresh salt every time


def test_password_line_matches() -> None:
    assert password_line_matches(MOSQUITTO_PASSWD_LINE, "secret")
    assert not password_line_matches(MOSQUITTO_PASSWD_LINE, "Secret")
    assert not password_line_matches("alice:$6$abc$def", "secret")
    assert not password_line_matches("garbage", "secret")


def test_password_file_keeps_matching_lines_and_replaces_stale_ones() -> None:
    text = render_password_file(
        {"alice": "secret", "bob": "new"},
        {"alice": MOSQUITTO_PASSWD_LINE, "bob": mosquitto_password_line("bob", "old")},
    )
    alice, bob = text.splitlines()
    assert alice == MOSQUITTO_PASSWD_LINE
    assert password_line_matches(bob, "new")


@pytest.mark.parametrize("gateway_id", ["gw1", "GW_01", "a.b-c", "x" * 64])
def test_valid_gateway_ids(gateway_id: str) -> None:
    assert validate_gateway_id(gateway_id) == gateway_id


@pytest.mark.parametrize(
    "gateway_id", ["", "x" * 65, "gw/1", "gw+", "#", "gw 1", "gw%u", "a@b", "é"]
)
def test_invalid_gateway_ids(gateway_id: str) -> None:
    with pytest.raises(ConfigError, match="invalid gateway id"):
        validate_gateway_id(gateway_id)


def test_alerts_is_reserved() -> None:
    with pytest.raises(ConfigError, match="reserved"):
        validate_gateway_id("alerts")


def test_credential_store_generates_once_with_mode_0600(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "credentials.json")
    first = store.ensure([INGEST_USER, "gw1"])
    again = CredentialStore(tmp_path / "credentials.json").ensure(["gw1", "gw2"])
    assert again["gw1"] == first["gw1"]
    assert len(first["gw1"]) == 32  # token_urlsafe(24)
    assert store.get("gw2") == again["gw2"]
    assert stat.S_IMODE((tmp_path / "credentials.json").stat().st_mode) == 0o600
    assert list(tmp_path.glob(".credentials.json.*")) == []  # no temp file left behind


def test_credential_store_get_missing_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="services up --gateways gw9"):
        CredentialStore(tmp_path / "credentials.json").get("gw9")


def test_credential_store_refuses_reserved_names(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="reserved"):
        CredentialStore(tmp_path / "credentials.json").ensure(["alerts"])


def test_missing_binary_names_the_debian_package() -> None:
    with pytest.raises(ServiceError) as info:
        require_binary("mosquitto-not-installed-here", "mosquitto")
    assert "not found on PATH" in str(info.value)
    assert "apt-get install mosquitto" in str(info.value)


def test_wait_until_timeout_shows_what_and_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "daemon.log"
    log.write_text("".join(f"line {n}\n" for n in range(50)))
    with pytest.raises(ServiceError) as info:
        wait_until(lambda: False, 0.05, "the thing", logs=(log,))
    message = str(info.value)
    assert "waiting for the thing" in message
    assert "line 49" in message and "line 29" not in message


def test_wait_until_abort_gives_up_early(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="process exited"):
        wait_until(lambda: False, 60, "never", abort=lambda: "process exited")


def test_log_tail_without_logs() -> None:
    assert log_tail([Path("/nonexistent/log")]) == "(no log output)"
