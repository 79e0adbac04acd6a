"""The one query interface the CLI, the triage UI and the reports use, whatever the backend.

:class:`PostQueries` is implemented by :class:`sink.store.EmbeddedStore` (SQLite) and
by :class:`sink.es.queries.ElasticsearchQueries`; callers get one from
:func:`sink.queries.open_queries` and never ask which. Both answer the same questions
with the same answers (the integration tests check this on the demo corpus); only
free-text ``search`` may differ, because Elasticsearch stems Dutch words and SQLite FTS
does not. This module holds only the interface and its vocabulary, so both backends
import it and it imports neither.

Vocabulary shared by both backends:

* :class:`PostFilter` — the filter bar: brand, source, labels, priority, status, risk,
  time range. Every field is optional; ``None`` means "any".
* ``facet(field)`` — counts per value (a terms aggregation); ``brand`` and ``cue``
  count every brand / cue a post carries.
* ``histogram(interval)`` — posts per hour, day or ISO week (Monday) of ``created_at``,
  in UTC, empty buckets left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, Self, runtime_checkable

from klachtradar.contract import Alert, Priority, ScoredPost

FacetField = Literal["brand", "source", "sentiment", "intent", "cue", "priority", "status", "lang"]
FACET_FIELDS: tuple[FacetField, ...] = (
    "brand", "source", "sentiment", "intent", "cue", "priority", "status", "lang",
)  # fmt: skip
Interval = Literal["hour", "day", "week"]
SortOrder = Literal["risk", "newest"]


@dataclass(frozen=True, slots=True)
class PostFilter:
    """What the filter bar selects; ``since`` is inclusive, ``until`` exclusive."""

    brand: str | None = None
    source: str | None = None
    sentiment: str | None = None
    intent: str | None = None
    cue: str | None = None
    priorities: tuple[Priority, ...] = ()
    status: str | None = None
    min_risk: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    with_brand: bool = False


@dataclass(frozen=True, slots=True)
class TimeBucket:
    """Posts in one histogram bucket starting at ``start`` (UTC)."""

    start: datetime
    count: int


@dataclass(frozen=True, slots=True)
class BrandCount:
    """Posts and complaints for one brand."""

    brand: str
    posts: int
    complaints: int
    negative: int


@runtime_checkable
class PostQueries(Protocol):
    """Reads (and the one triage write) shared by the embedded store and Elasticsearch."""

    def close(self) -> None:
        """Release the connection."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def count(self) -> int:
        """Number of posts stored."""
        ...

    def get(self, doc_id: str) -> ScoredPost | None:
        """One post by document id."""
        ...

    def top(
        self,
        *,
        limit: int = 10,
        brand: str | None = None,
        status: str | None = "open",
        min_priority: Priority = Priority.P4,
    ) -> list[ScoredPost]:
        """The triage queue: brand posts by priority, then risk, newest first."""
        ...

    def search(self, query: str, *, limit: int = 20, brand: str | None = None) -> list[ScoredPost]:
        """Full-text search over text, author and brands; every word must occur."""
        ...

    def alerts(self, *, kind: str | None = None, limit: int = 100) -> list[Alert]:
        """Alerts, oldest first."""
        ...

    def brand_counts(self) -> list[BrandCount]:
        """Posts, complaints and negative posts per brand."""
        ...

    def set_status(self, doc_id: str, status: str) -> bool:
        """Change a post's triage status; False if there is no such post."""
        ...

    def find(
        self, where: PostFilter, *, limit: int = 50, sort: SortOrder = "risk"
    ) -> list[ScoredPost]:
        """Posts matching a filter, by priority and risk (or newest first); ties by doc id."""
        ...

    def count_posts(self, where: PostFilter) -> int:
        """Number of posts matching a filter."""
        ...

    def facet(self, field: FacetField, where: PostFilter | None = None) -> dict[str, int]:
        """Posts per value of ``field`` among those matching ``where``."""
        ...

    def histogram(self, interval: Interval, where: PostFilter | None = None) -> list[TimeBucket]:
        """Posts per time bucket of ``created_at`` (UTC), oldest first, empty buckets omitted."""
        ...


def priorities_up_to(lowest: Priority) -> tuple[Priority, ...]:
    """P1 … ``lowest``, e.g. ``P2`` → (P1, P2)."""
    return tuple(p for p in Priority if p.rank <= lowest.rank)


def sorted_counts(counts: Sequence[tuple[str, int]]) -> dict[str, int]:
    """Counts most first, then by value, so both backends order facets identically."""
    return dict(sorted(counts, key=lambda kv: (-kv[1], kv[0])))
