"""Settings: ``configs/klachtradar.toml`` overridden by ``KLACHTRADAR_*`` environment variables.

Configuration is data, validated once at start and passed down explicitly; no module
reads the environment on its own. Nested keys use a double underscore, at any depth::

    KLACHTRADAR_STORE__PATH=/tmp/kr.db                # [store] path
    KLACHTRADAR_PRIORITY__P1=75                       # [priority] p1
    KLACHTRADAR_TRIAGE__SLA_MINUTES__P1=10            # [triage.sla_minutes] P1
    KLACHTRADAR_LISTEN__WEBHOOK__PORT=9000            # [listen.webhook] port
    KLACHTRADAR_PIPELINE__SUPPORTED_LANGUAGES='["nl", "en"]'   # lists and tables: JSON
    KLACHTRADAR_CONFIG=/etc/klachtradar.toml          # another settings file

A bad value is reported with the variable it came from (secrets without their value);
a ``KLACHTRADAR_*`` variable that names no setting is refused with the closest valid
name, except the few that are not settings (:data:`NOT_SETTINGS_ENV`) and the ones a
``*_env`` setting names (see :mod:`klachtradar.settings_env`).

Relative paths in the file are taken relative to the project root (the folder that
holds ``configs/``), so commands work from any working directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from klachtradar import settings_env
from klachtradar.contract import DEFAULT_MAX_POST_BYTES, AlertKind, Priority
from klachtradar.errors import ConfigError, did_you_mean

Precision = Literal["auto", "fp32", "bf16", "int8"]
"""What ``[classify] precision`` may say (:mod:`classify.precision` resolves it)."""

CONFIG_ENV = "KLACHTRADAR_CONFIG"
HOME_ENV = "KLACHTRADAR_HOME"
EXTERNAL_DATA_ENV = "KLACHTRADAR_EXTERNAL_DATA"
"""Where the real-text evaluation sets lie (read by `evaluate --external`, not a setting)."""
NOT_SETTINGS_ENV = frozenset({CONFIG_ENV, HOME_ENV, EXTERNAL_DATA_ENV})
"""``KLACHTRADAR_*`` variables that are read directly and are no settings."""


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
    judge_processes: int = Field(default=1, ge=0, le=16)
    """Worker processes that tag languages and classify during unpaced replays (0: none)."""
    classifier: str = "lexicon"
    supported_languages: list[str] = ["nl"]


class ClassifySettings(BaseModel):
    """The model registry the learned classifiers live in (see :mod:`classify.model_store`)."""

    models_dir: Path = Path("models")
    reload_check_seconds: float = Field(default=1.0, ge=0)
    precision: Precision = "auto"
    """What the transformer and e5 encoders compute in (:mod:`classify.precision`):
    ``auto`` is bf16 where the CPU has native bfloat16 (AMX / AVX-512 BF16), else fp32."""
    transformer_int8: bool = False
    """The old spelling of ``precision = "int8"``; true overrides ``precision``."""
    e5_cache: Path = Path("var/cache/e5")
    """Where `klachtradar models import-e5` puts the converted multilingual-e5-small."""
    fallback_model: str = "linear"
    """The fast model: serves where the configured one cannot load (its libraries are
    missing), and takes over batches under overload (see :mod:`classify.cascade`).
    Empty: no fallback (the lexicon backend where a model cannot load)."""
    overload_lag_seconds: float = Field(default=0.5, gt=0)
    """A batch whose alert would leave later than this after its oldest post was received
    (its age plus the primary model's measured cost for it) goes to the fast model."""
    resume_lag_seconds: float = Field(default=0.2, ge=0)
    """Back to the configured model once a batch's lag is under this again."""
    overload_split: bool = True
    """Under overload the configured model still judges as many posts of each batch as
    its measured cost fits before the deadline, the fast model's likeliest complaints
    first; the fast model keeps the rest. False: whole batches go to the fast model."""

    @property
    def effective_precision(self) -> Precision:
        """``precision``, or ``int8`` where the old ``transformer_int8`` asks for it."""
        return "int8" if self.transformer_int8 else self.precision

    @model_validator(mode="after")
    def _resume_below_overload(self) -> ClassifySettings:
        if self.resume_lag_seconds > self.overload_lag_seconds:
            raise ValueError("resume_lag_seconds must not exceed overload_lag_seconds")
        return self


class StoreSettings(BaseModel):
    """The embedded store (SQLite with FTS5)."""

    path: Path = Path("var/klachtradar.db")
    retention_days: int | None = Field(
        default=None,
        ge=1,
        description="Posts (with alerts, triage rows, tombstones) older than this are pruned.",
    )
    audit_path: Path = Field(
        default=Path("var/erasure-audit.jsonl"),
        description="`klachtradar forget` appends one line per erasure here (no content).",
    )


class DeadLetterSettings(BaseModel):
    """Where input that could not be processed is kept, with the reason."""

    path: Path = Path("var/deadletter.jsonl")


class WatchlistSettings(BaseModel):
    """The brand watchlist file."""

    path: Path = Path("configs/brands.toml")


class RiskWeights(BaseModel):
    """Points each risk feature contributes; see :mod:`enrich.risk` for the formula."""

    complaint: float = 25.0
    negativity: float = 8.0
    reach: float = 22.0
    verified: float = 5.0
    amplification: float = 8.0
    velocity: float = 8.0
    virality: float = 12.0
    history_per_complaint: float = 6.0
    history_max: float = 18.0
    waiting: float = 8.0
    cue_media: float = 8.0
    cue_churn: float = 5.0
    cue_herhaald: float = 4.0
    cue_urgent: float = 8.0
    cue_max: float = 15.0
    answered_not_solved: float = 10.0
    non_complaint_factor: float = Field(default=0.4, ge=0.0, le=1.0)
    reach_full_followers: int = Field(default=1_000_000, ge=10)
    amplification_full: int = Field(default=1_000, ge=2)
    velocity_full_per_hour: float = Field(default=200.0, gt=0)
    virality_full_reposts: float = Field(default=2_000.0, gt=1)
    waiting_full_hours: float = Field(default=336.0, gt=0)
    reposter_followers: float = Field(default=250.0, gt=0)
    virality_gamma: float = Field(default=0.7, gt=0, le=1)
    virality_explosive_factor: float = Field(default=20.0, ge=1)
    virality_min_shares: int = Field(default=5, ge=1)


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
    """How far back an author's earlier complaints count, and where they are kept."""

    window_days: int = Field(default=42, ge=1)
    backend: Literal["embedded", "memory"] = "embedded"


class EnrichSettings(BaseModel):
    """Which implementations the enrich stage uses (see :mod:`enrich.brand_match`)."""

    brand_backend: Literal["regex", "spacy"] = "regex"
    language_backend: Literal["function_words", "langid"] = "langid"
    language_candidates: list[str] = ["nl", "en", "de", "fr", "es", "tr", "pl", "fy"]
    watchlist_check_seconds: float = Field(default=2.0, ge=0)
    engagement_memory: int = Field(default=200_000, ge=0)


class RepliesSettings(BaseModel):
    """Brand replies (see :mod:`enrich.replies`): how they are linked and judged.

    A reply without a platform reply id is linked to the complainant's latest complaint
    when it starts with their @handle and comes within ``window_hours`` of it; the same
    window decides whether a new complaint after a reply is "beantwoord, niet opgelost".
    ``tone_model`` names the tone classifier in the model registry (``NAME`` or
    ``NAME@VERSION``), or ``""`` to judge no tone.
    """

    window_hours: float = Field(default=48.0, gt=0)
    max_tracked_complaints: int = Field(default=100_000, ge=1)
    """Complaints held for replies to answer (about 1 KB each); the oldest go first."""
    tone_model: str = "tone"
    toon_p1_followers: int = Field(default=10_000, ge=0)
    toon_p1_shares: int = Field(default=100, ge=0)


AlertChannel = Literal["slack", "teams", "email", "webhook"]


class AlertRoute(BaseModel):
    """One destination of alerts (see :mod:`notify`): a channel, and which alerts go there.

    Secrets never live here: ``url_env`` names the variable holding a Slack or Teams
    webhook URL (the URL is the credential), ``secret_env`` the HMAC key of a generic
    webhook, ``password_env`` the SMTP password. ``url`` is for endpoints that are not
    secret (a relay on the local network, a test server). ``brands`` empty: every brand;
    ``kinds`` empty: none, the route is only a rung of the escalation ladder.
    ``quiet_hours`` ``"22:00-07:00"`` (local time in ``timezone``) holds everything below
    P1 until it ends; ``rate_limit`` messages per ``rate_window_minutes`` at most, the
    rest is summed up in one digest.
    """

    channel: AlertChannel
    url: str = ""
    url_env: str = ""
    secret_env: str = ""
    brands: list[str] = Field(default_factory=list)
    kinds: list[AlertKind] = Field(default_factory=lambda: list(AlertKind))
    min_priority: Priority = Priority.P2
    rate_limit: int = Field(default=20, ge=1)
    rate_window_minutes: float = Field(default=10.0, gt=0)
    quiet_hours: str = Field(default="", pattern=r"^$|^\d{2}:\d{2}-\d{2}:\d{2}$")
    timezone: str = "Europe/Amsterdam"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_user: str = ""
    password_env: str = ""
    sender: str = "klachtradar@localhost"
    to: list[str] = Field(default_factory=list)
    timeout_s: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _has_a_destination(self) -> AlertRoute:
        if self.channel == "email":
            if not self.to:
                raise ValueError("an email route needs at least one address in 'to'")
        elif bool(self.url) == bool(self.url_env):
            raise ValueError(f"a {self.channel} route needs exactly one of url and url_env")
        return self


class AlertSettings(BaseModel):
    """Which posts raise an alert, and where alerts go (``routes``; see :mod:`notify`).

    ``escalation`` is the ladder for unclaimed P1 posts: route names, tried in order,
    one step per ``[triage] escalate_after_minutes``. The outbox (delivery queue,
    dedup and delivery state) is ``outbox_path``; ``triage_url`` is where a message's
    link to the card points.
    """

    min_priority: Priority = Priority.P2
    routes: dict[str, AlertRoute] = Field(default_factory=dict)
    escalation: list[str] = Field(default_factory=list)
    outbox_path: Path = Path("var/notify.db")
    triage_url: str = "http://127.0.0.1:8080"
    max_attempts: int = Field(default=8, ge=1)
    retry_initial_s: float = Field(default=1.0, gt=0)
    retry_max_s: float = Field(default=300.0, gt=0)

    @model_validator(mode="after")
    def _ladder_names_routes(self) -> AlertSettings:
        unknown = [name for name in self.escalation if name not in self.routes]
        if unknown:
            raise ValueError(f"escalation names unknown routes: {', '.join(unknown)}")
        return self


class IncidentSettings(BaseModel):
    """Per-brand complaint spike detection (see :mod:`enrich.incidents`)."""

    window_minutes: float = Field(default=10.0, gt=0)
    min_volume: int = Field(default=8, ge=1)
    z_threshold: float = Field(default=4.0, gt=0)
    baseline_halflife_hours: float = Field(default=24.0, gt=0)
    baseline_floor_per_hour: float = Field(default=0.5, ge=0)
    cooldown_minutes: float = Field(default=30.0, ge=0)
    allowed_lateness_seconds: float = Field(
        default=120.0,
        ge=0,
        description="How far out of event-time order a complaint may arrive and still be "
        "counted in order; alerts wait this much event time (the watermark).",
    )


class DemoSettings(BaseModel):
    """The shipped demo stream and how long its replay takes by default."""

    file: Path = Path("data/demo/stream.jsonl")
    duration_seconds: float = Field(default=20.0, ge=0)
    # ``serve --demo`` replays onto a store of its own, emptied at every start, so the
    # queue fills as the stream plays (not on top of what ``klachtradar demo`` wrote).
    store: Path = Path("var/demo-serve.db")
    # An incident's cool-down is event time; replayed at thousands of times real speed
    # it would last milliseconds. In the demo it lasts at least this much wall time.
    incident_visible_seconds: float = Field(default=4.0, ge=0)


class TriageSettings(BaseModel):
    """The triage web app: where it listens, who may use it, and the SLA targets.

    ``sla_minutes`` is the response target per priority (0 = no target);
    ``brand_sla_minutes`` overrides it per brand, e.g. ``{Odido = {P1 = 10}}``.
    Auth is ``none``, ``token`` (one shared token: ``Authorization: Bearer …`` or the
    login form) or ``basic`` (``users`` maps user name → password). Secrets belong in
    the environment (``KLACHTRADAR_TRIAGE__TOKEN``), not in the shipped file.
    """

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    auth: Literal["none", "token", "basic"] = "none"
    token: str = ""
    users: dict[str, str] = Field(default_factory=dict)
    read_only: bool = False
    sla_minutes: dict[Priority, float] = Field(
        default_factory=lambda: {
            Priority.P1: 15.0,
            Priority.P2: 60.0,
            Priority.P3: 240.0,
            Priority.P4: 0.0,
        }
    )
    brand_sla_minutes: dict[str, dict[Priority, float]] = Field(default_factory=dict)
    amber_fraction: float = Field(default=0.75, gt=0, lt=1)
    queue_limit: int = Field(default=60, ge=1, le=1000)
    # The one time zone of every time an agent or manager reads (cards, report, clock).
    timezone: str = "Europe/Amsterdam"
    # With [elasticsearch] url: the app works on a local copy synced from Elasticsearch
    # (see triage.es_mirror): first sync window, poll interval, page size, and how
    # far back each poll re-reads to catch writes that became visible late (refresh).
    es_window_days: int = Field(default=30, ge=1)
    es_poll_s: float = Field(default=0.5, gt=0)
    es_page_size: int = Field(default=500, ge=1, le=10_000)
    es_overlap_s: float = Field(default=5.0, ge=0)
    # With Kafka: each status write-back is also published to the raw topic (keyed by the
    # author), so `process` members' author history hears of resolutions.
    status_to_kafka: bool = False
    # The escalation ladder of an unclaimed P1 ([alerts] escalation): minutes per step.
    escalate_after_minutes: float = Field(default=10.0, gt=0)
    brand_escalate_after_minutes: dict[str, float] = Field(default_factory=dict)
    # A complaint the brand already answered in public (but nobody resolved) ranks below
    # the unanswered ones of the same priority; it never leaves the queue.
    answered_below_unanswered: bool = True

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        """Refused at start, not at the first card: an unknown zone names itself."""
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (e.g. 'Europe/Amsterdam')") from exc
        return value


class XListenSettings(BaseModel):
    """X API v2 filtered stream (see :mod:`listener.x_stream`). The token is never here."""

    api_base_url: str = "https://api.x.com"
    token_env: str = "X_BEARER_TOKEN"
    languages: list[str] = ["nl"]
    rule_tag_prefix: str = "klachtradar:"
    max_rule_length: int = Field(default=512, ge=64)
    sync_rules: bool = True
    backfill: bool = True
    backfill_pages: int = Field(default=5, ge=1)


class BlueskyListenSettings(BaseModel):
    """Bluesky Jetstream and the public AppView (see :mod:`listener.jetstream`)."""

    jetstream_url: str = "wss://jetstream2.us-east.bsky.network/subscribe"
    appview_url: str | None = "https://public.api.bsky.app"
    overlap_seconds: float = Field(default=5.0, ge=0)
    compress: bool = False
    zstd_dictionary: Path | None = None
    profile_ttl_seconds: float = Field(default=3600.0, ge=0)
    refresh_min_followers: int | None = 10_000
    refresh_after_seconds: float = Field(default=600.0, ge=0)


class MastodonListenSettings(BaseModel):
    """Mastodon streaming API (see :mod:`listener.mastodon`). The token is never here."""

    base_url: str = "https://mastodon.social"
    stream: str = "public"
    tag: str | None = None
    token_env: str = "MASTODON_ACCESS_TOKEN"
    backfill_pages: int = Field(default=10, ge=0)


class WebhookListenSettings(BaseModel):
    """Webhook intake, ``POST /ingest`` (see :mod:`listener.webhook`)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8088, ge=0, le=65535)
    api_key_env: str = "KLACHTRADAR_INGEST_API_KEY"
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    read_timeout_seconds: float = Field(default=30.0, gt=0)
    publish_timeout_seconds: float = Field(default=30.0, gt=0)
    max_in_flight: int = Field(default=64, ge=1)
    retry_after_seconds: int = Field(default=5, ge=1)


class ListenSettings(BaseModel):
    """Listeners: batching, checkpoints, the brand prefilter and each source."""

    checkpoint_path: Path = Path("var/listener.db")
    batch_size: int = Field(default=100, ge=1)
    flush_interval_seconds: float = Field(default=1.0, gt=0)
    idle_tick_seconds: float = Field(default=0.5, gt=0)
    prefilter: bool = True
    max_post_bytes: int = Field(
        default=DEFAULT_MAX_POST_BYTES,
        ge=1024,
        description="Largest post (its JSON, bytes) any intake accepts; larger ones become "
        "dead letters. Kept well below the broker's message limit ([kafka] max_request_bytes).",
    )
    x: XListenSettings = XListenSettings()
    bluesky: BlueskyListenSettings = BlueskyListenSettings()
    mastodon: MastodonListenSettings = MastodonListenSettings()
    webhook: WebhookListenSettings = WebhookListenSettings()


class ElasticsearchSettings(BaseModel):
    """The Elasticsearch sink and Kibana (see :mod:`sink.es`); no URL means no Elasticsearch.

    Secrets are :class:`SecretStr`, so they never appear in a repr or a log line; set
    them through the environment (``KLACHTRADAR_ELASTICSEARCH__PASSWORD``), not the file.
    """

    url: str = ""
    username: str = ""
    password: SecretStr = SecretStr("")
    api_key: SecretStr = SecretStr("")
    ca_file: str = ""
    verify_certs: bool = True
    posts_index: str = Field(default="klachtradar-posts", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    alerts_index: str = Field(default="klachtradar-alerts", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    tombstones_index: str = Field(
        default="klachtradar-tombstones",
        pattern=r"^[a-z0-9][a-z0-9_-]*$",
        description="Doc ids of deleted posts (no content): kept so a redelivery stays deleted.",
    )
    retention_days: int = Field(default=90, ge=1)
    bulk_max_docs: int = Field(default=500, ge=1)
    bulk_max_bytes: int = Field(default=5_000_000, ge=1_000)
    max_retries: int = Field(default=6, ge=0)
    backoff_initial_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=30.0, ge=0)
    request_timeout_s: float = Field(default=30.0, gt=0)
    kibana_url: str = ""


class KafkaSettings(BaseModel):
    """The Kafka transport: brokers, security, topics and client tuning (see kafka_transport)."""

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="host:port, comma-separated."
    )
    topic_prefix: str = "klachtradar"
    partitions: int = Field(default=6, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    client_id: str = "klachtradar"
    process_group: str = "klachtradar-process"
    index_group: str = "klachtradar-index"
    notify_group: str = "klachtradar-notify"
    incidents_group: str = "klachtradar-incidents"
    state: Literal["changelog", "local"] = Field(
        default="changelog",
        description="changelog: author history per raw partition, changelogged and restored "
        "on rebalance, and incidents detected over the whole brand by `klachtradar "
        "incidents`; local: history and incidents inside each process member (right with "
        "one member only).",
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_check_hostname: bool = True
    batch_size: int = Field(default=500, ge=1, description="Records per consumer poll.")
    producer_batch_bytes: int = Field(default=262_144, ge=1)
    max_request_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="The producer's max_request_size; keep it at or below the broker's "
        "message.max.bytes. [listen] max_post_bytes must stay at most half of it.",
    )
    linger_ms: int = Field(default=5, ge=0)
    max_poll_interval_ms: int = Field(default=300_000, ge=1_000)
    session_timeout_ms: int = Field(
        default=6_000,
        ge=1_000,
        description="How long a silent member stays in its group: a SIGKILLed process's "
        "partitions move after this (Kafka's group.min.session.timeout.ms is 6000).",
    )
    heartbeat_interval_ms: int = Field(default=2_000, ge=100)
    judge_workers: int = Field(
        default=1,
        ge=0,
        le=8,
        description="Worker processes that judge (language, classification, brand "
        "mentions) one batch ahead in `process`; 0 judges in the consumer process.",
    )
    poll_timeout_s: float = Field(default=1.0, gt=0)
    retry_backoff_max_s: float = Field(default=10.0, gt=0)
    metrics_port: int = Field(default=0, ge=0, le=65535, description="0: no /metrics server.")
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Address /metrics, /ready and /healthz bind to (0.0.0.0 in a container).",
    )


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
    triage: TriageSettings = TriageSettings()
    listen: ListenSettings = ListenSettings()
    elasticsearch: ElasticsearchSettings = ElasticsearchSettings()
    kafka: KafkaSettings = KafkaSettings()
    enrich: EnrichSettings = EnrichSettings()
    replies: RepliesSettings = RepliesSettings()

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
        sources: list[PydanticBaseSettingsSource] = [
            init_settings,
            EnvironmentSource(settings_cls),
        ]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @model_validator(mode="after")
    def _posts_fit_the_broker(self) -> Settings:
        """A post that passed the intake must fit a Kafka message, wrapped as a scored post
        (the raw post plus its judgement): half the request limit leaves that room."""
        if self.listen.max_post_bytes > self.kafka.max_request_bytes // 2:
            raise ValueError(
                f"listen.max_post_bytes {self.listen.max_post_bytes} must be at most half of "
                f"kafka.max_request_bytes {self.kafka.max_request_bytes}"
            )
        return self

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


class EnvironmentSource(PydanticBaseSettingsSource):
    """``KLACHTRADAR_*`` overrides, resolved against the model at any depth.

    It replaces pydantic-settings' own environment source, which lower-cases nested
    keys (so ``SLA_MINUTES__P1`` could never reach the ``P1`` key) and drops unknown
    nested keys without a word.
    """

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the whole environment

    def __call__(self) -> dict[str, Any]:
        overrides, _ = settings_env.scan(self.settings_cls, os.environ)
        return settings_env.nested(overrides)


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings; a bad value or an unknown variable raises
    :class:`ConfigError` naming where it came from (the file or the variable)."""
    from_env, unknown = settings_env.scan(Settings, os.environ)
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(f"invalid settings: {_describe(exc, from_env)}") from exc
    _refuse_unknown(unknown, settings)
    return settings


def _describe(exc: ValidationError, from_env: list[settings_env.EnvOverride]) -> str:
    """One ``field.path: message (from …)`` per problem, blaming the variable or the file."""
    file = _config_file()
    parts = []
    for err in exc.errors(include_url=False):
        loc = err.get("loc", ())
        override = settings_env.origin(loc, from_env)
        where = override.shown() if override else (str(file) if file else "the defaults")
        dotted = ".".join(str(p) for p in loc) or "(document)"
        parts.append(f"{dotted}: {err.get('msg', 'invalid')} (from {where})")
    return "; ".join(parts)


def _refuse_unknown(unknown: list[str], settings: Settings) -> None:
    """A mistyped ``KLACHTRADAR_*`` variable is an error, not a silently ignored line."""
    allowed = NOT_SETTINGS_ENV | set(settings_env.named_variables(settings))
    mistyped = [name for name in unknown if name.upper() not in allowed]
    if not mistyped:
        return
    valid = list(settings_env.valid_names(Settings))
    named = [f"{name}{did_you_mean(name.upper(), valid)}" for name in mistyped]
    raise ConfigError(
        f"unknown environment variable {'; '.join(named)}: settings are "
        "KLACHTRADAR_<SECTION>__<KEY>[__<KEY>…] as in configs/klachtradar.toml"
    )
