"""Settings: TOML defaults, environment overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from klachtradar.contract import Priority
from klachtradar.errors import ConfigError
from klachtradar.settings import load_settings
from klachtradar.watchlist import load_watchlist

ROOT = Path(__file__).resolve().parents[2]


def test_settings_come_from_the_project_toml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLACHTRADAR_HOME", str(ROOT))
    settings = load_settings()
    assert settings.history.window_days == 42
    assert settings.priority.priority_for(70) is Priority.P1
    assert settings.resolve(settings.watchlist.path) == ROOT / "configs" / "brands.toml"


def test_environment_overrides_nested_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KLACHTRADAR_HOME", str(ROOT))
    monkeypatch.setenv("KLACHTRADAR_STORE__PATH", str(tmp_path / "x.db"))
    monkeypatch.setenv("KLACHTRADAR_PRIORITY__P1", "90")
    settings = load_settings()
    assert settings.resolve(settings.store.path) == tmp_path / "x.db"
    assert settings.priority.priority_for(80) is Priority.P2


def test_an_invalid_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLACHTRADAR_HOME", str(ROOT))
    monkeypatch.setenv("KLACHTRADAR_PRIORITY__P1", "honderd")
    with pytest.raises(ConfigError, match=r"priority\.p1"):
        load_settings()


def test_an_override_reaches_any_depth_and_upper_case_table_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KLACHTRADAR_HOME", str(ROOT))
    monkeypatch.setenv("KLACHTRADAR_TRIAGE__SLA_MINUTES__P1", "10")
    monkeypatch.setenv("KLACHTRADAR_TRIAGE__BRAND_SLA_MINUTES__Odido__p2", "30")
    monkeypatch.setenv("KLACHTRADAR_LISTEN__WEBHOOK__PORT", "9000")
    settings = load_settings()
    assert settings.triage.sla_minutes[Priority.P1] == 10
    assert settings.triage.sla_minutes[Priority.P2] == 60  # the file's other keys stay
    assert settings.triage.brand_sla_minutes == {"Odido": {Priority.P2: 30}}
    assert settings.listen.webhook.port == 9000


def test_a_list_setting_takes_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLACHTRADAR_HOME", str(ROOT))
    monkeypatch.setenv("KLACHTRADAR_PIPELINE__SUPPORTED_LANGUAGES", '["nl", "fy"]')
    assert load_settings().pipeline.supported_languages == ["nl", "fy"]
    monkeypatch.setenv("KLACHTRADAR_PIPELINE__SUPPORTED_LANGUAGES", "nl")
    with pytest.raises(ConfigError, match=r"SUPPORTED_LANGUAGES='nl'.*takes JSON"):
        load_settings()


def test_a_bad_value_names_the_variable_and_its_value_not_the_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KLACHTRADAR_HOME", str(ROOT))
    monkeypatch.setenv("KLACHTRADAR_PRIORITY__P1", "hoog")
    with pytest.raises(ConfigError) as error:
        load_settings()
    message = str(error.value)
    assert "priority.p1" in message
    assert "KLACHTRADAR_PRIORITY__P1='hoog'" in message
    assert "klachtradar.toml" not in message


def test_a_bad_value_in_the_file_still_names_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "kr.toml"
    config.write_text("[priority]\np1 = 'hoog'\n", encoding="utf-8")
    monkeypatch.setenv("KLACHTRADAR_CONFIG", str(config))
    with pytest.raises(ConfigError, match=rf"priority\.p1: .*\(from {config}\)"):
        load_settings()


def test_a_secret_value_never_appears_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLACHTRADAR_HOME", str(ROOT))
    monkeypatch.setenv("KLACHTRADAR_TRIAGE__USERS", '{"anna": "geheim')
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert "KLACHTRADAR_TRIAGE__USERS=<secret>" in str(error.value)
    assert "geheim" not in str(error.value)


def test_a_mistyped_variable_is_refused_with_the_closest_valid_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KLACHTRADAR_HOME", str(ROOT))
    monkeypatch.setenv("KLACHTRADAR_KAFKA__BOOTSTRAP_SERVER", "kafka:9092")
    with pytest.raises(ConfigError) as error:
        load_settings()
    message = str(error.value)
    assert "KLACHTRADAR_KAFKA__BOOTSTRAP_SERVER " in message
    assert "did you mean 'KLACHTRADAR_KAFKA__BOOTSTRAP_SERVERS'?" in message


def test_a_table_key_the_enum_lacks_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLACHTRADAR_HOME", str(ROOT))
    monkeypatch.setenv("KLACHTRADAR_TRIAGE__SLA_MINUTES__P9", "5")
    with pytest.raises(ConfigError, match="KLACHTRADAR_TRIAGE__SLA_MINUTES__P9"):
        load_settings()


def test_variables_that_are_not_settings_share_the_prefix_freely(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KLACHTRADAR_HOME", str(ROOT))
    monkeypatch.setenv("KLACHTRADAR_CONFIG", str(ROOT / "configs" / "klachtradar.toml"))
    monkeypatch.setenv("KLACHTRADAR_EXTERNAL_DATA", str(tmp_path))
    monkeypatch.setenv("KLACHTRADAR_INGEST_API_KEY", "k")  # [listen.webhook] api_key_env
    monkeypatch.setenv("KLACHTRADAR_TRIAGE__TOKEN", "t")
    monkeypatch.setenv("KLACHTRADAR_KAFKA__SASL_PASSWORD", "p")
    monkeypatch.setenv("KLACHTRADAR_ELASTICSEARCH__API_KEY", "a")
    settings = load_settings()
    assert settings.triage.token == "t"
    assert settings.kafka.sasl_password is not None
    assert settings.kafka.sasl_password.get_secret_value() == "p"
    assert settings.elasticsearch.api_key.get_secret_value() == "a"


def test_a_variable_a_setting_names_is_no_typo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLACHTRADAR_HOME", str(ROOT))
    monkeypatch.setenv("KLACHTRADAR_LISTEN__WEBHOOK__API_KEY_ENV", "KLACHTRADAR_HOOK_KEY")
    monkeypatch.setenv("KLACHTRADAR_HOOK_KEY", "k")
    assert load_settings().listen.webhook.api_key_env == "KLACHTRADAR_HOOK_KEY"


def test_a_secret_a_route_names_is_no_typo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLACHTRADAR_HOME", str(ROOT))
    routes = '{"ops": {"channel": "slack", "url_env": "KLACHTRADAR_SLACK_OPS_URL"}}'
    monkeypatch.setenv("KLACHTRADAR_ALERTS__ROUTES", routes)
    monkeypatch.setenv("KLACHTRADAR_SLACK_OPS_URL", "https://hooks.slack.com/services/SECRET")
    assert load_settings().alerts.routes["ops"].url_env == "KLACHTRADAR_SLACK_OPS_URL"
    monkeypatch.setenv("KLACHTRADAR_SLACK_OPSS_URL", "typo")
    with pytest.raises(ConfigError, match="KLACHTRADAR_SLACK_OPSS_URL"):
        load_settings()


def test_a_route_without_a_destination_or_a_ladder_of_unknown_routes_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KLACHTRADAR_HOME", str(ROOT))
    monkeypatch.setenv("KLACHTRADAR_ALERTS__ROUTES", '{"ops": {"channel": "teams"}}')
    with pytest.raises(ConfigError, match=r"alerts\.routes\.ops: .*exactly one of url and url_env"):
        load_settings()
    monkeypatch.setenv(
        "KLACHTRADAR_ALERTS__ROUTES", '{"ops": {"channel": "teams", "url": "http://x"}}'
    )
    monkeypatch.setenv("KLACHTRADAR_ALERTS__ESCALATION", '["ops", "lead"]')
    with pytest.raises(ConfigError, match="escalation names unknown routes: lead"):
        load_settings()


def test_a_missing_settings_file_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLACHTRADAR_CONFIG", "/nonexistent/klachtradar.toml")
    with pytest.raises(ConfigError, match="no such settings file"):
        load_settings()


def test_the_shipped_watchlist_has_at_least_fifteen_dutch_brands() -> None:
    watchlist = load_watchlist(ROOT / "configs" / "brands.toml")
    names = watchlist.names()
    assert len(names) >= 15
    for brand in ("KPN", "Odido", "Ziggo", "NS", "ING", "Belastingdienst", "Thuisbezorgd"):
        assert brand in names


def test_a_watchlist_with_a_duplicate_brand_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "brands.toml"
    path.write_text('[[brand]]\nname = "KPN"\n[[brand]]\nname = "KPN"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="listed twice"):
        load_watchlist(path)


def test_a_broken_watchlist_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "brands.toml"
    path.write_text("[[brand]\nname = ", encoding="utf-8")
    with pytest.raises(ConfigError, match=str(path)):
        load_watchlist(path)
