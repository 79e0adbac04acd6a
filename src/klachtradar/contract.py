"""The data contract: the one module every klachtradar package imports.

Posts flow one way through three shapes::

    RawPost  ──classify──▶  ClassifiedPost  ──enrich──▶  ScoredPost (+ Alert)

and anything that cannot be turned into a ``RawPost`` becomes a ``DeadLetter``. A post
deleted at its source (or erased by ``klachtradar forget``) travels the same way as a
``DeletedPost``: every sink removes the post and keeps the tombstone, so a redelivered
copy of the post can never bring it back.

Why it looks like this:

* **Forward compatible.** Every model ignores unknown fields, so an older consumer
  reads what a newer producer writes. A payload whose ``schema_version`` has a
  *newer major* version is refused with :class:`~klachtradar.errors.ContractError`,
  because then field meanings may have changed.
* **Deterministic identity.** ``doc_id = "{source}:{post_id}"``. Every sink uses it
  as its primary key, so redelivery (at-least-once transport, a replay, a crash
  restart) updates in place and never duplicates.
* **Unknown is not zero.** Follower and engagement counts are ``None`` when a source
  does not know them; the risk score states "unknown reach" instead of guessing.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from klachtradar.errors import ContractError

SCHEMA_VERSION = "1.2"
"""Major.minor. Minor bumps only add optional fields or new record types (1.1:
:class:`DeletedPost`; 1.2: conversations — ``thread_id``, :class:`BrandReply`,
:class:`PublicResponse` on :class:`ScoredPost` and the ``toon`` alert kind); a major bump
may change meaning."""

_SCHEMA_MAJOR = int(SCHEMA_VERSION.split(".")[0])


def _check_schema_version(value: str) -> str:
    try:
        major = int(value.split(".")[0])
    except ValueError as exc:
        raise ValueError(f"schema_version {value!r} is not 'MAJOR.MINOR'") from exc
    if major > _SCHEMA_MAJOR:
        raise ValueError(
            f"schema_version {value} is newer than this klachtradar understands "
            f"({SCHEMA_VERSION}); upgrade the consumer"
        )
    return value


SchemaVersion = Annotated[str, AfterValidator(_check_schema_version)]


def _as_utc(value: datetime) -> datetime:
    """Naive timestamps are taken as UTC: sources that omit the zone mean UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class Sentiment(StrEnum):
    """What the author means toward the brand (see shared/LABELS.md)."""

    NEGATIEF = "negatief"
    NEUTRAAL = "neutraal"
    POSITIEF = "positief"


class Intent(StrEnum):
    """Why the author posted."""

    KLACHT = "klacht"
    VRAAG = "vraag"
    COMPLIMENT = "compliment"
    OVERIG = "overig"


class Cue(StrEnum):
    """Escalation signals; a post may carry any number of them."""

    CHURN = "churn"
    MEDIA = "media"
    HERHAALD = "herhaald"
    URGENT = "urgent"


class Priority(StrEnum):
    """P1 is the most urgent. Ordering by value sorts most urgent first."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"

    @property
    def rank(self) -> int:
        """1 for P1 … 4 for P4."""
        return int(self.value[1])


class _Model(BaseModel):
    """Common configuration: unknown fields are ignored, instances are immutable."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=False)


class Author(_Model):
    """The public identity behind a post, as the source reports it."""

    id: str = Field(min_length=1, description="Stable id at the source (user id, DID, acct).")
    handle: str = Field(min_length=1, description="Handle without the leading '@'.")
    name: str | None = None
    followers: int | None = Field(default=None, description="None when the source does not say.")
    following: int | None = None
    verified: bool = False

    @field_validator("handle")
    @classmethod
    def _strip_at(cls, value: str) -> str:
        return value.removeprefix("@")


class Engagement(_Model):
    """Public engagement counts at ``observed_at``; ``None`` means unknown, not zero."""

    reposts: int | None = None
    quotes: int | None = None
    replies: int | None = None
    likes: int | None = None
    observed_at: UtcDatetime | None = None


SourceName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]


class RawPost(_Model):
    """A public post as a listener normalised it, before any judgement."""

    schema_version: SchemaVersion = SCHEMA_VERSION
    source: SourceName = Field(description="x, bluesky, mastodon, jsonl, webhook, …")
    post_id: str = Field(min_length=1)
    url: str | None = None
    text: str
    lang: str | None = Field(default=None, description="ISO 639-1, if the source or a stage knows.")
    created_at: UtcDatetime
    received_at: UtcDatetime | None = None
    author: Author
    engagement: Engagement = Field(default_factory=Engagement)
    reply_to: str | None = Field(default=None, description="post_id this post answers.")
    quote_of: str | None = Field(default=None, description="post_id this post quotes.")
    mentions: list[str] = Field(default_factory=list, description="Handles without '@'.")
    hashtags: list[str] = Field(default_factory=list, description="Tags without '#'.")

    @property
    def doc_id(self) -> str:
        """Deterministic document id: ``{source}:{post_id}``."""
        return doc_id(self.source, self.post_id)


def doc_id(source: str, post_id: str) -> str:
    """The id every sink uses for a post, so redelivery updates instead of duplicating."""
    return f"{source}:{post_id}"


DeleteReason = Literal["deleted", "withheld", "forgotten", "expired"]
"""Why a post must go: its author or the platform deleted it, a country withheld it,
``klachtradar forget`` erased its author (GDPR art. 17), or retention expired it."""


class DeletedPost(_Model):
    """A post that must disappear from every view: keyed like the post it removes.

    Sinks delete the post and everything about it (alerts, triage state, feedback) and
    keep the tombstone (doc id and time, no content), because on an at-least-once
    transport the post itself may arrive *after* its delete: the tombstone wins.
    ``author_id`` is known for X and Bluesky deletes and lets the transport key the
    delete like the post (same partition); Mastodon's delete event names the status only.
    """

    schema_version: SchemaVersion = SCHEMA_VERSION
    source: SourceName
    post_id: str = Field(min_length=1)
    author_id: str | None = Field(default=None, description="When the delete event says.")
    deleted_at: UtcDatetime = Field(default_factory=utc_now)
    reason: DeleteReason = "deleted"

    @property
    def doc_id(self) -> str:
        """The deleted post's document id, ``{source}:{post_id}``."""
        return doc_id(self.source, self.post_id)


def parse_deleted_post(data: str | bytes) -> DeletedPost:
    """Validate one JSON document as a :class:`DeletedPost` (one-line, field-naming errors)."""
    from pydantic import ValidationError

    if isinstance(data, bytes) and (problem := utf8_error(data)) is not None:
        raise ContractError(problem)
    try:
        return DeletedPost.model_validate_json(data)
    except ValidationError as exc:
        raise ContractError(describe_validation_error(exc)) from exc


class ModelRef(_Model):
    """Which classifier produced a result; every result carries one."""

    name: str
    version: str


class Classification(_Model):
    """Classifier output for one post: labels, their probabilities and the evidence."""

    sentiment: Sentiment
    sentiment_proba: dict[Sentiment, float]
    intent: Intent
    intent_proba: dict[Intent, float]
    cues: list[Cue] = Field(default_factory=list)
    cue_proba: dict[Cue, float] = Field(default_factory=dict)
    model: ModelRef
    evidence: list[str] = Field(
        default_factory=list, description="Words or rules that decided, for explanations."
    )
    fallback: bool = Field(
        default=False,
        description="Made by the fast fallback model while the stream was overloaded "
        "(see classify.cascade); the triage card shows it as 'snel model'.",
    )

    @property
    def complaint_probability(self) -> float:
        """P(intent = klacht)."""
        return self.intent_proba.get(Intent.KLACHT, 0.0)

    @property
    def negativity(self) -> float:
        """P(sentiment = negatief)."""
        return self.sentiment_proba.get(Sentiment.NEGATIEF, 0.0)


class ClassifiedPost(_Model):
    """A raw post with its language and, for supported languages, a classification."""

    schema_version: SchemaVersion = SCHEMA_VERSION
    post: RawPost
    lang: str | None = None
    classification: Classification | None = Field(
        default=None, description="None when the language is not supported (kept, not judged)."
    )

    @property
    def doc_id(self) -> str:
        return self.post.doc_id


class BrandMention(_Model):
    """A watchlist brand found in a post, and what matched it."""

    brand: str
    matched: str = Field(description="The alias, @handle or #hashtag that matched.")
    kind: Literal["alias", "handle", "hashtag"]


class Risk(_Model):
    """Reach and virality risk: a 0–100 score, a priority and the reasons in words."""

    score: int = Field(ge=0, le=100)
    priority: Priority
    reasons: list[str]
    features: dict[str, float] = Field(
        default_factory=dict, description="The inputs of the score, for audit and tuning."
    )


class Tone(StrEnum):
    """How a brand's public reply sounds (see ``classify.tone``)."""

    PROFESSIONEEL = "professioneel"
    KORTAF = "kortaf"
    GROF = "grof"


class ToneJudgement(_Model):
    """The tone of one brand reply, its probabilities and the phrases that decided."""

    tone: Tone
    proba: dict[Tone, float]
    reasons: list[str] = Field(default_factory=list, description="Deciding phrases, in words.")
    model: ModelRef


class BrandReply(_Model):
    """A post by one of a brand's own handles: webcare answering in public.

    A brand reply is never a mention of the brand (its ``brands`` stay empty), so it
    never becomes a complaint or a post alert about the brand itself.
    """

    brand: str
    handle: str = Field(description="The brand's handle that posted it, without '@'.")
    in_reply_to: str | None = Field(
        default=None, description="Doc id of the post it answers (the complaint), if linked."
    )
    linked_by: Literal["reply_id", "handle"] | None = Field(
        default=None,
        description="reply_id: the platform said so; handle: it starts with the "
        "complainant's @handle within the window.",
    )
    to_handle: str | None = Field(default=None, description="Who it answers, without '@'.")
    to_followers: int | None = Field(default=None, description="The reach of who it answers.")
    response_minutes: float | None = Field(
        default=None, description="Minutes after the post it answers; None when not linked."
    )
    first_response: bool = Field(
        default=False, description="The first brand reply to that post (its response time)."
    )
    tone: ToneJudgement | None = None


class PublicResponse(_Model):
    """The first public brand reply to a complaint: when, by whom, after how long."""

    responded_at: UtcDatetime
    first_response_minutes: float = Field(ge=0)
    by: str = Field(description="The brand handle that answered, without '@'.")
    reply_doc_id: str


class ScoredPost(_Model):
    """What sinks store and index: the post, its classification, brands and risk.

    Conversations (schema 1.2): ``thread_id`` names the conversation a post belongs to
    (the doc id of its first complaint); ``reply`` is set on a brand's own reply;
    ``response`` on a complaint the brand answered in public; ``answered_not_solved``
    on a complaint that came after such a reply (a reply is not a solution).
    """

    schema_version: SchemaVersion = SCHEMA_VERSION
    doc_id: str
    post: RawPost
    lang: str | None = None
    classification: Classification | None = None
    brands: list[BrandMention] = Field(default_factory=list)
    risk: Risk
    scored_at: UtcDatetime
    thread_id: str | None = None
    reply: BrandReply | None = None
    response: PublicResponse | None = None
    answered_not_solved: bool = False

    @model_validator(mode="after")
    def _doc_id_matches_post(self) -> ScoredPost:
        if self.doc_id != self.post.doc_id:
            raise ValueError(f"doc_id {self.doc_id!r} does not match post {self.post.doc_id!r}")
        return self

    @property
    def brand_names(self) -> list[str]:
        """Distinct brand names in mention order."""
        return list(dict.fromkeys(m.brand for m in self.brands))


class AlertKind(StrEnum):
    """A single risky post, a brand-wide spike of complaints opening or closing, or a
    rude public reply by the brand itself."""

    POST = "post"
    INCIDENT = "incident"
    INCIDENT_OVER = "incident_over"
    TOON = "toon"
    """A brand's own public reply that sounds rude (``grof``): for the webcare lead."""


class Alert(_Model):
    """Something a webcare agent should look at now."""

    schema_version: SchemaVersion = SCHEMA_VERSION
    alert_id: str = Field(description="Deterministic, so a redelivered alert is not shown twice.")
    kind: AlertKind
    created_at: UtcDatetime
    brand: str | None = None
    priority: Priority
    risk: int | None = Field(default=None, ge=0, le=100)
    title: str
    reasons: list[str] = Field(default_factory=list)
    doc_id: str | None = Field(
        default=None, description="The post, for kind=post; the opening post, for incident."
    )
    examples: list[str] = Field(default_factory=list, description="Example doc ids (incidents).")
    top_terms: list[str] = Field(default_factory=list)
    post_count: int | None = None


class DeadLetter(_Model):
    """Input that could not be processed, kept with the reason so nothing is lost."""

    schema_version: SchemaVersion = SCHEMA_VERSION
    origin: str = Field(description="File path or topic the input came from.")
    position: str = Field(description="Line number, or partition/offset.")
    stage: str = Field(description="decode, validate, classify, enrich, sink, …")
    error: str
    raw: str = Field(description="The original input, decoded as UTF-8 with replacement.")
    raw_base64: str | None = Field(
        default=None,
        description="The original bytes, base64, when they are not valid UTF-8 (raw is lossy).",
    )
    failed_at: UtcDatetime = Field(default_factory=utc_now)
    attempts: int = Field(
        default=1,
        ge=1,
        description="How often this input failed: 1, plus one per DLQ replay that failed again.",
    )
    raw_size: int | None = Field(
        default=None,
        ge=0,
        description="Bytes of the original input when ``raw`` keeps only a prefix (too large).",
    )
    raw_sha256: str | None = Field(
        default=None, description="SHA-256 (hex) of the whole original input, with raw_size."
    )

    @property
    def truncated(self) -> bool:
        """Whether ``raw`` is only the start of the input (an oversized post)."""
        return self.raw_size is not None


NOT_UTF8 = "not UTF-8"
"""How every intake's error for undecodable bytes begins (``not UTF-8 at byte 7``)."""


def utf8_error(data: bytes) -> str | None:
    """``"not UTF-8 at byte N"`` when ``data`` is not valid UTF-8, else None."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"{NOT_UTF8} at byte {exc.start}"
    return None


def raw_fields(data: str | bytes) -> tuple[str, str | None]:
    """A dead letter's ``raw`` and ``raw_base64`` for input that failed.

    Valid UTF-8 (or text) is kept as ``raw`` alone: it encodes back to the same bytes.
    Anything else also keeps the exact bytes in ``raw_base64``, because ``raw`` then
    holds U+FFFD replacements and re-driving it would "repair" the input lossily.
    """
    if isinstance(data, str):
        return data, None
    if utf8_error(data) is None:
        return data.decode("utf-8"), None
    return data.decode("utf-8", errors="replace"), base64.b64encode(data).decode("ascii")


DEFAULT_MAX_POST_BYTES = 64 * 1024
"""``[listen] max_post_bytes``: the largest post (its JSON, in bytes) any intake accepts."""

TOO_LARGE = "post too large"
"""How every intake's error for an oversized post begins."""

KEPT_PREFIX_BYTES = 4096
"""How much of an oversized input its dead letter keeps (plus its size and SHA-256)."""


def too_large_error(size: int, limit: int) -> str:
    """``"post too large: 2097152 bytes > max_post_bytes 65536"``."""
    return f"{TOO_LARGE}: {size} bytes > max_post_bytes {limit}"


def oversized_letter(origin: str, position: str, stage: str, data: bytes, limit: int) -> DeadLetter:
    """The dead letter of an input larger than ``limit``: a prefix, its size and hash.

    Why not the whole input: the letter itself must fit the DLQ topic (the broker's
    message limit, 1 MiB by default), and a stream of huge posts must not blow up
    the DLQ. The size and SHA-256 identify the original; a truncated letter is not
    re-driven by ``dlq replay`` (the bytes to re-drive are gone).
    """
    error = too_large_error(len(data), limit)
    return limited_letter(origin, position, stage, error, data, KEPT_PREFIX_BYTES)


def limited_letter(
    origin: str, position: str, stage: str, error: str, data: bytes, keep: int
) -> DeadLetter:
    """A dead letter keeping at most ``keep`` bytes of ``data`` (then with size and hash)."""
    whole = len(data) <= keep
    if whole:
        raw, raw_base64 = raw_fields(data)
    elif utf8_error(data) is None:  # cut on a character boundary: raw stays exact text
        raw, raw_base64 = data[:keep].decode("utf-8", errors="ignore"), None
    else:
        raw, raw_base64 = raw_fields(data[:keep])
    return DeadLetter(
        origin=origin,
        position=position,
        stage=stage,
        error=error,
        raw=raw,
        raw_base64=raw_base64,
        raw_size=None if whole else len(data),
        raw_sha256=None if whole else hashlib.sha256(data).hexdigest(),
    )


def limit_post_sizes(
    records: Sequence[RawPost | DeadLetter | DeletedPost], limit: int, *, stage: str = "validate"
) -> list[RawPost | DeadLetter | DeletedPost]:
    """The records with every post whose JSON exceeds ``limit`` bytes dead-lettered.

    The guard for intakes that build posts from an API's payload (X, Bluesky,
    Mastodon, the webhook): they have no line of bytes to measure, so the post's own
    wire form (what the raw topic would carry) is measured.
    """
    out: list[RawPost | DeadLetter | DeletedPost] = []
    for record in records:
        if isinstance(record, RawPost):
            data = record.model_dump_json().encode("utf-8")
            if len(data) > limit:
                out.append(oversized_letter(record.source, record.doc_id, stage, data, limit))
                continue
        out.append(record)
    return out


def parse_raw_post(data: str | bytes) -> RawPost:
    """Validate one JSON document as a :class:`RawPost`.

    Raises :class:`ContractError` with a one-line, field-naming message (e.g.
    ``author.followers: Input should be a valid integer``) instead of pydantic's
    multi-line report, because the message ends up in dead letters and CLI errors.
    Bytes that are not valid UTF-8 are refused (``not UTF-8 at byte N``), never decoded
    with replacement: a post must not be made of characters its author did not write.
    """
    from pydantic import ValidationError

    if isinstance(data, bytes) and (problem := utf8_error(data)) is not None:
        raise ContractError(problem)
    try:
        return RawPost.model_validate_json(data)
    except ValidationError as exc:
        raise ContractError(describe_validation_error(exc)) from exc


def describe_validation_error(exc: Any) -> str:
    """One line per problem, ``field.path: message``; JSON syntax errors keep their column."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err.get("loc", ())) or "(document)"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


CONTRACT_MODELS: dict[str, type[BaseModel]] = {
    "RawPost": RawPost,
    "ClassifiedPost": ClassifiedPost,
    "ScoredPost": ScoredPost,
    "Alert": Alert,
    "DeadLetter": DeadLetter,
    "DeletedPost": DeletedPost,
}
"""Everything `klachtradar schema` exports, by name."""


def json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of every contract model, keyed by model name."""
    return {
        name: model.model_json_schema(mode="serialization")
        for name, model in CONTRACT_MODELS.items()
    }
