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
