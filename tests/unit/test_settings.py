"""Settings: env prefix, TOML file, derived URLs, and secrets that never print."""

import pytest

from streetwatch.errors import ConfigError
from streetwatch.settings import INGEST_USER, Settings, load_settings, parse_mqtt_url, redact_url


def test_env_prefix_and_defaults(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STREETWATCH_INFLUX_DB", "town")
    monkeypatch.setenv("STREETWATCH_INGEST_BATCH_SIZE", "500")
    settings = load_settings()
    assert (settings.influx_db, settings.ingest_batch_size) == ("town", 500)
    assert settings.uses_local_mqtt and settings.uses_local_influx
    assert settings.influx_base_url() == "http://127.0.0.1:18086"
    assert settings.sql_url() == f"sqlite:///{tmp_path / '.streetwatch' / 'streetwatch.db'}"


def test_toml_file_is_read_and_env_wins(monkeypatch, tmp_path):
    config = tmp_path / "town.toml"
    config.write_text('influx_db = "from_toml"\nlocal_mqtt_port = 12000\n')
    monkeypatch.setenv("STREETWATCH_CONFIG", str(config))
    monkeypatch.setenv("STREETWATCH_INFLUX_DB", "from_env")
    settings = load_settings()
    assert (settings.influx_db, settings.local_mqtt_port) == ("from_env", 12000)


def test_missing_config_file_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("STREETWATCH_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(FileNotFoundError, match="nope.toml"):
        load_settings()


def test_secrets_never_appear_in_repr_or_display(monkeypatch):
    monkeypatch.setenv("STREETWATCH_MQTT_URL", "mqtt://gw1:s3cret@broker.example:1884")
    monkeypatch.setenv("STREETWATCH_INFLUX_PASSWORD", "s3cret")
    monkeypatch.setenv("STREETWATCH_DATABASE_URL", "postgresql://u:s3cret@db/town")
    settings = load_settings()
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())
    endpoint = settings.mqtt_endpoint()
    assert (endpoint.host, endpoint.port, endpoint.username) == ("broker.example", 1884, "gw1")
    assert endpoint.password.get_secret_value() == "s3cret"
    assert endpoint.display() == "mqtt://gw1:***@broker.example:1884"
    assert "s3cret" not in repr(endpoint)


def test_explicit_credentials_override_the_url():
    settings = Settings(mqtt_url="mqtts://broker.example")
    endpoint = settings.mqtt_endpoint(INGEST_USER, "pw")
    assert (endpoint.port, endpoint.tls, endpoint.username) == (8883, True, INGEST_USER)


@pytest.mark.parametrize("url", ["http://x:1", "mqtt://", "broker:1883"])
def test_bad_mqtt_urls(url):
    with pytest.raises(ValueError):
        parse_mqtt_url(url)


def test_redact_url():
    assert redact_url("mqtt://u:p%40ss@h:1") == "mqtt://u:***@h:1"
    assert redact_url("http://h:8086") == "http://h:8086"


# Rule settings (issue 14) ----------------------------------------------------------------------

RULE_DEFAULTS = {
    "town_latitude": 31.2304, "town_longitude": 121.4737, "town_timezone": "Asia/Shanghai",
    "lights_on_grace_s": 900, "zone_schedules": {}, "lighting_target": 0.99, "zone_targets": {},
    "stale_after_s": 900, "lamp_out_after_s": 600, "day_burner_after_s": 1800,
    "cycling_changes": 4, "cycling_window_s": 1800, "lamp_silent_after_s": 1800,
    "cabinet_down_fraction": 0.5, "zone_below_target_after_s": 900,
    "zone_below_target_clear_s": 900, "deadline_red_s": 86400, "deadline_yellow_s": 259200,
    "deadline_blue_s": 604800, "alert_severity_overrides": {}, "alert_deadline_overrides_s": {},
    "rules_every_s": 60, "alert_webhooks": [], "rules_metrics_port": 9642,
}


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No STREETWATCH_ variable and no ./streetwatch.toml leak into the test."""
    import os

    for name in list(os.environ):
        if name.startswith("STREETWATCH_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_rule_defaults(clean_env):
    settings = load_settings()
    assert {name: getattr(settings, name) for name in RULE_DEFAULTS} == RULE_DEFAULTS


def test_dict_and_list_settings_from_env_as_json(clean_env):
    clean_env.setenv("STREETWATCH_ZONE_SCHEDULES", '{"Z01": "18:30-06:15"}')
    clean_env.setenv("STREETWATCH_ZONE_TARGETS", '{"Z01": 0.95, "_city": 0.98}')
    clean_env.setenv("STREETWATCH_ALERT_SEVERITY_OVERRIDES", '{"lamp_out": "red"}')
    clean_env.setenv("STREETWATCH_ALERT_DEADLINE_OVERRIDES_S", '{"blind_spot": 3600}')
    clean_env.setenv("STREETWATCH_ALERT_WEBHOOKS", '["https://hooks.example/t0ken"]')
    settings = load_settings()
    assert settings.zone_schedules == {"Z01": "18:30-06:15"}
    assert settings.zone_targets == {"Z01": 0.95, "_city": 0.98}
    assert settings.alert_severity_overrides == {"lamp_out": "red"}
    assert settings.alert_deadline_overrides_s == {"blind_spot": 3600}
    assert [url.get_secret_value() for url in settings.alert_webhooks] == [
        "https://hooks.example/t0ken"]


def test_dict_and_list_settings_from_toml(clean_env, tmp_path):
    config = tmp_path / "town.toml"
    config.write_text(
        'town_timezone = "Europe/Berlin"\n'
        'alert_webhooks = ["https://hooks.example/t0ken", "http://crew.example/hook"]\n'
        "[zone_schedules]\nZ01 = \"18:30-06:15\"\nZ02 = \"05:00-07:00\"\n"
        "[zone_targets]\nZ01 = 0.97\n"
        "[alert_severity_overrides]\nday_burner = \"yellow\"\n"
        "[alert_deadline_overrides_s]\nlamp_out = 7200\n"
    )
    clean_env.setenv("STREETWATCH_CONFIG", str(config))
    settings = load_settings()
    assert settings.town_timezone == "Europe/Berlin"
    assert settings.zone_schedules == {"Z01": "18:30-06:15", "Z02": "05:00-07:00"}
    assert settings.zone_targets == {"Z01": 0.97}
    assert settings.alert_severity_overrides == {"day_burner": "yellow"}
    assert settings.alert_deadline_overrides_s == {"lamp_out": 7200}
    assert len(settings.alert_webhooks) == 2


def test_webhook_tokens_never_print(clean_env):
    clean_env.setenv("STREETWATCH_ALERT_WEBHOOKS", '["https://hooks.example/s3cret"]')
    settings = load_settings()
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())
    clean_env.setenv("STREETWATCH_ALERT_WEBHOOKS", '["ftp://s3cret@hooks.example"]')
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "alert_webhooks" in str(caught.value) and "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("TOWN_LATITUDE", "91", "less than or equal to 90"),
        ("TOWN_LATITUDE", "-90.5", "greater than or equal to -90"),
        ("TOWN_LONGITUDE", "180.1", "less than or equal to 180"),
        ("TOWN_TIMEZONE", "Mars/Olympus_Mons", "'Mars/Olympus_Mons' is not an IANA time zone"),
        ("TOWN_TIMEZONE", "../etc/passwd", "is not an IANA time zone"),
        ("TOWN_TIMEZONE", "", "is not an IANA time zone"),
        ("LIGHTS_ON_GRACE_S", "-1", "greater than or equal to 0"),
        ("ZONE_SCHEDULES", '{"Z01": "18:30"}', "zone 'Z01': schedule '18:30' must be 'HH:MM-HH:MM'"),
        ("ZONE_SCHEDULES", '{"Z01": "24:00-06:00"}', "must be 'HH:MM-HH:MM'"),
        ("ZONE_SCHEDULES", '{"Z01": "18:00-18:00"}', "same minute"),
        ("ZONE_SCHEDULES", '{"Z 1": "18:00-06:00"}', "'Z 1' is not a zone id"),
        ("LIGHTING_TARGET", "0", "greater than 0"),
        ("LIGHTING_TARGET", "1.01", "less than or equal to 1"),
        ("ZONE_TARGETS", '{"Z01": 1.5}', "zone_targets (STREETWATCH_ZONE_TARGETS) [Z01]"),
        ("STALE_AFTER_S", "0", "greater than 0"),
        ("CYCLING_CHANGES", "1", "greater than or equal to 2"),
        ("CABINET_DOWN_FRACTION", "0", "greater than 0"),
        ("ALERT_SEVERITY_OVERRIDES", '{"lamp_out": "green"}', "'green' is not one of red"),
        ("ALERT_SEVERITY_OVERRIDES", '{"lamp_gone": "red"}', "'lamp_gone' is not an alert kind"),
        ("ALERT_DEADLINE_OVERRIDES_S", '{"lamp_gone": 60}', "'lamp_gone' is not an alert kind"),
        ("ALERT_DEADLINE_OVERRIDES_S", '{"lamp_out": 0}', "greater than 0"),
        ("DEADLINE_RED_S", "604801", "deadlines must follow urgency"),
        ("RULES_METRICS_PORT", "70000", "less than or equal to 65535"),
    ],
)
def test_invalid_rule_settings_are_clear_config_errors(clean_env, variable, value, expected):
    clean_env.setenv(f"STREETWATCH_{variable}", value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert expected in message
    if variable != "DEADLINE_RED_S":  # a cross-field rule names no single variable
        assert f"STREETWATCH_{variable}" in message


def test_env_json_that_does_not_parse_is_a_config_error(clean_env):
    clean_env.setenv("STREETWATCH_ZONE_TARGETS", "Z01=0.9")
    with pytest.raises(ConfigError, match="zone_targets.*JSON"):
        load_settings()


def test_rules_metrics_port_zero_turns_it_off(clean_env):
    clean_env.setenv("STREETWATCH_RULES_METRICS_PORT", "0")
    assert load_settings().rules_metrics_port == 0
