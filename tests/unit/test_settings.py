"""Settings: env prefix, TOML file, derived URLs, and secrets that never print."""

import pytest

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
