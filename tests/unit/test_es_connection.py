"""Client options from settings: auth and TLS; secrets never in what we print."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from klachtradar.errors import ConfigError
from klachtradar.settings import Settings, load_settings
from sink.es.connection import client_options, describe, redact_url


def es_settings(**values: object) -> Settings:
    settings = load_settings()
    for key, value in values.items():
        setattr(settings.elasticsearch, key, value)
    return settings


def test_api_key_wins_over_basic_auth() -> None:
    settings = es_settings(
        url="https://es:9200", api_key=SecretStr("k"), username="u", password=SecretStr("p")
    )
    options = client_options(settings)
    assert options["api_key"] == "k" and "basic_auth" not in options


def test_basic_auth_and_ca_file(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    settings = es_settings(
        url="https://es:9200", username="u", password=SecretStr("p"), ca_file=str(ca)
    )
    options = client_options(settings)
    assert options["basic_auth"] == ("u", "p")
    assert options["ca_certs"] == str(ca)


def test_transport_retries_are_off_because_the_writer_owns_them() -> None:
    assert client_options(es_settings(url="http://es:9200"))["max_retries"] == 0


def test_missing_ca_file_and_missing_url_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ca_file"):
        client_options(es_settings(url="https://es:9200", ca_file=str(tmp_path / "nope.pem")))
    with pytest.raises(ConfigError, match="no Elasticsearch URL"):
        client_options(es_settings(url=""))


def test_nothing_secret_in_descriptions_or_reprs() -> None:
    settings = es_settings(
        url="https://es:9200",
        username="elastic",
        password=SecretStr("hunter2"),
        api_key=SecretStr("c2VjcmV0"),
    )
    text = describe(settings.elasticsearch) + repr(settings) + str(settings.model_dump())
    assert "hunter2" not in text and "c2VjcmV0" not in text


def test_credentials_in_the_url_are_redacted_when_described() -> None:
    settings = es_settings(url="https://elastic:hunter2@es:9200")
    assert "hunter2" not in describe(settings.elasticsearch)
    assert redact_url("http://es:9200") == "http://es:9200"


def test_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLACHTRADAR_ELASTICSEARCH__API_KEY", "from-env")
    monkeypatch.setenv("KLACHTRADAR_ELASTICSEARCH__URL", "https://es:9200")
    assert client_options(load_settings())["api_key"] == "from-env"
