"""Settings: ``configs/klachtradar.toml`` overridden by ``KLACHTRADAR_*`` environment variables.

Configuration is data, validated once at start and passed down explicitly; no module
reads the environment on its own. Nested keys use a double underscore::

    KLACHTRADAR_STORE__PATH=/tmp/kr.db            # [store] path
    KLACHTRADAR_PRIORITY__P1=75                   # [priority] p1
    KLACHTRADAR_CONFIG=/etc/klachtradar.toml      # another settings file

Relative paths in the file are taken relative to the project root (the folder that
holds ``configs/``), so commands work from any working directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from klachtradar.contract import Priority, describe_validation_error
from klachtradar.errors import ConfigError

CONFIG_ENV = "KLACHTRADAR_CONFIG"
HOME_ENV = "KLACHTRADAR_HOME"


def project_root() -> Path:
    """The folder holding ``configs/``: ``$KLACHTRADAR_HOME``, else upward from here or cwd."""
    if home := os.environ.get(HOME_ENV):
        return Path(home).resolve()
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for candidate in (start, *start.parents):
            if (candidate / "configs" / "klachtradar.toml").is_file():
                return candidate
    return Path.cwd()


class PipelineSettings(BaseModel):
    """How posts are batched and which classifier judges them."""

    batch_size: int = Field(default=256, ge=1)
    classifier: str = "lexicon"
    supported_languages: list[str] = ["nl"]


class ClassifySettings(BaseModel):
    """The model registry the learned classifiers live in (see :mod:`classify.model_store`)."""

    models_dir: Path = Path("models")
    reload_check_seconds: float = Field(default=1.0, ge=0)
    transformer_int8: bool = False


class StoreSettings(BaseModel):
    """The embedded store (SQLite with FTS5)."""

    path: Path = Path("var/klachtradar.db")


class DeadLetterSettings(BaseModel):
    """Where input that could not be processed is kept, with the reason."""

    path: Path = Path("var/deadletter.jsonl")


class WatchlistSettings(BaseModel):
    """The brand watchlist file."""

    path: Path = Path("configs/brands.toml")


class RiskWeights(BaseModel):
    """Points each risk feature contributes; see :mod:`enrich.risk` for the formula."""

    complaint: float = 30.0
    negativity: float = 10.0
    reach: float = 25.0
    verified: float = 5.0
    amplification: float = 15.0
    velocity: float = 10.0
    history_per_complaint: float = 5.0
    history_max: float = 15.0
    cue_media: float = 10.0
    cue_churn: float = 6.0
    cue_herhaald: float = 6.0
    cue_urgent: float = 10.0
    cue_max: float = 20.0
    non_complaint_factor: float = Field(default=0.4, ge=0.0, le=1.0)
    reach_full_followers: int = Field(default=2_000_000, ge=10)
    amplification_full: int = Field(default=1_000, ge=2)
    velocity_full_per_hour: float = Field(default=200.0, gt=0)


class PriorityThresholds(BaseModel):
    """Risk score at or above which a post gets P1, P2, P3; below p3 it is P4."""

    p1: int = Field(default=70, ge=0, le=100)
    p2: int = Field(default=50, ge=0, le=100)
    p3: int = Field(default=30, ge=0, le=100)

    def priority_for(self, score: int) -> Priority:
        """The priority of a 0–100 risk score."""
        if score >= self.p1:
            return Priority.P1
        if score >= self.p2:
            return Priority.P2
        if score >= self.p3:
            return Priority.P3
        return Priority.P4


class HistorySettings(BaseModel):
    """How far back an author's earlier complaints count."""

    window_days: int = Field(default=42, ge=1)


class AlertSettings(BaseModel):
    """Which posts raise an alert."""

    min_priority: Priority = Priority.P2


class IncidentSettings(BaseModel):
    """Per-brand complaint spike detection (see :mod:`enrich.incidents`)."""

    window_minutes: float = Field(default=10.0, gt=0)
    min_volume: int = Field(default=8, ge=1)
    z_threshold: float = Field(default=4.0, gt=0)
    baseline_halflife_hours: float = Field(default=24.0, gt=0)
    baseline_floor_per_hour: float = Field(default=0.5, ge=0)
    cooldown_minutes: float = Field(default=30.0, ge=0)


class DemoSettings(BaseModel):
    """The shipped demo stream and how long its replay takes by default."""

    file: Path = Path("data/demo/stream.jsonl")
    duration_seconds: float = Field(default=20.0, ge=0)


class Settings(BaseSettings):
    """All settings, validated once at start."""

    model_config = SettingsConfigDict(
        env_prefix="KLACHTRADAR_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    root: Path = Field(default_factory=project_root, exclude=True)
    pipeline: PipelineSettings = PipelineSettings()
    store: StoreSettings = StoreSettings()
    classify: ClassifySettings = ClassifySettings()
    deadletter: DeadLetterSettings = DeadLetterSettings()
    watchlist: WatchlistSettings = WatchlistSettings()
    risk: RiskWeights = RiskWeights()
    priority: PriorityThresholds = PriorityThresholds()
    history: HistorySettings = HistorySettings()
    alerts: AlertSettings = AlertSettings()
    incidents: IncidentSettings = IncidentSettings()
    demo: DemoSettings = DemoSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _config_file()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    def resolve(self, path: Path) -> Path:
        """A settings path made absolute against the project root."""
        return path if path.is_absolute() else self.root / path


def _config_file() -> Path | None:
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"{CONFIG_ENV}={explicit}: no such settings file")
        return path
    default = project_root() / "configs" / "klachtradar.toml"
    return default if default.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings; a bad value raises :class:`ConfigError` naming it."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        where = _config_file() or "defaults"
        raise ConfigError(f"invalid settings ({where}): {describe_validation_error(exc)}") from exc
