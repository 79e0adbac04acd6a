"""The shared query interface (:class:`sink.query_types.PostQueries`) answered by Elasticsearch.

Filters are ``bool.filter`` clauses (cached, unscored); aggregations are ``terms`` and
``date_histogram`` with ``min_doc_count: 1`` in UTC, matching the embedded store's
buckets. Posts are read through the ``klachtradar-posts`` alias; a write (triage
status) goes to the concrete weekly index the post was found in, because an alias over
many indices has no write index.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from klachtradar.contract import Alert, DeletedPost, Priority, ScoredPost, utc_now
from klachtradar.errors import SinkError
from klachtradar.settings import Settings
from sink.es.documents import CHANGED_AT, OPEN, STATUS_SCRIPT, scored_post_from_document
from sink.query_types import (
    BrandCount,
    FacetField,
    Interval,
    PostFilter,
    SortOrder,
    TimeBucket,
    priorities_up_to,
    sorted_counts,
)

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

log = logging.getLogger(__name__)

FACET_SOURCE: dict[str, str] = {"brand": "brands", "cue": "cues"}
"""Facet name → indexed field, where they differ."""

RISK_ORDER: list[dict[str, Any]] = [
    {"priority": "asc"},
    {"risk": "desc"},
    {"created_at": "desc"},
    {"doc_id": "asc"},
]
NEWEST_ORDER: list[dict[str, Any]] = [{"created_at": "desc"}, {"doc_id": "asc"}]
MAX_TERMS = 1000

ChangeKey = tuple[int, str]
"""Where a "changed since" read stands: (``changed_at`` in epoch ms, document id)."""


@dataclass(frozen=True, slots=True)
class ChangedPost:
    """A post as Elasticsearch holds it now, with its triage status and its change key."""

    post: ScoredPost | None
    """None when the document cannot be rebuilt (logged; a reader skips it and moves on)."""
    status: str
    key: ChangeKey


@dataclass(frozen=True, slots=True)
class ChangedAlert:
    """An alert with its change key."""

    alert: Alert
    key: ChangeKey


@dataclass(frozen=True, slots=True)
class ChangedTombstone:
    """A post deleted (its tombstone written) since a cursor, with its change key."""

    deleted: DeletedPost
    key: ChangeKey


def _change_query(since_ms: int, created_from: datetime | None) -> dict[str, Any]:
    clauses: list[dict[str, Any]] = [
        {"range": {CHANGED_AT: {"gte": since_ms, "format": "epoch_millis"}}}
    ]
    if created_from is not None:
        clauses.append({"range": {"created_at": {"gte": created_from.astimezone(UTC).isoformat()}}})
    return {"bool": {"filter": clauses}}


def _rebuilt(hit: dict[str, Any]) -> ScoredPost | None:
    try:
        return scored_post_from_document(hit["_source"])
    except (KeyError, TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        log.warning("post %s in %s cannot be read back: %s", hit.get("_id"), hit.get("_index"), exc)
        return None


def _change_key(hit: dict[str, Any]) -> ChangeKey:
    changed, doc = hit["sort"]
    return int(changed), str(doc)


def filter_clauses(where: PostFilter) -> list[dict[str, Any]]:
    """``bool.filter`` clauses for a :class:`PostFilter`."""
    clauses: list[dict[str, Any]] = []
    for name, value in (
        ("brands", where.brand),
        ("source", where.source),
        ("sentiment", where.sentiment),
        ("intent", where.intent),
        ("cues", where.cue),
        ("status", where.status),
    ):
        if value is not None:
            clauses.append({"term": {name: value}})
    if where.priorities:
        clauses.append({"terms": {"priority": [p.value for p in where.priorities]}})
    if where.min_risk is not None:
        clauses.append({"range": {"risk": {"gte": where.min_risk}}})
    created: dict[str, str] = {}
    if where.since is not None:
        created["gte"] = where.since.astimezone(UTC).isoformat()
    if where.until is not None:
        created["lt"] = where.until.astimezone(UTC).isoformat()
    if created:
        clauses.append({"range": {"created_at": created}})
    if where.with_brand:
        clauses.append({"exists": {"field": "brand"}})
    return clauses


def _query(where: PostFilter | None) -> dict[str, Any]:
    return {"bool": {"filter": filter_clauses(where or PostFilter())}}


class ElasticsearchQueries:
    """Read posts and alerts from Elasticsearch; set a post's triage status."""

    def __init__(
        self,
        client: Elasticsearch,
        *,
        posts: str,
        alerts: str,
        tombstones: str = "klachtradar-tombstones",
    ) -> None:
        self.client = client
        self.posts = posts
        self.alerts_index = alerts
        self.tombstones_index = tombstones

    @classmethod
    def from_settings(cls, settings: Settings) -> ElasticsearchQueries:
        from sink.es.connection import make_client

        es = settings.elasticsearch
        return cls(
            make_client(settings),
            posts=es.posts_index,
            alerts=es.alerts_index,
            tombstones=es.tombstones_index,
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> ElasticsearchQueries:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _search(self, index: str, **body: Any) -> dict[str, Any]:
        """One search; a refusal or an unreachable cluster becomes a :class:`SinkError`."""
        from elastic_transport import TransportError
        from elasticsearch import ApiError

        try:
            response = self.client.search(
                index=index, ignore_unavailable=True, allow_no_indices=True, **body
            )
        except ApiError as exc:
            raise SinkError(f"Elasticsearch query failed: {exc}", retryable=False) from exc
        except TransportError as exc:
            raise SinkError(
                f"Elasticsearch unreachable: {type(exc).__name__}", retryable=True
            ) from exc
        return dict(response.body)

    def _posts(self, **body: Any) -> list[ScoredPost]:
        hits = self._search(self.posts, **body)["hits"]["hits"]
        return [scored_post_from_document(h["_source"]) for h in hits]

    # -- the PostQueries interface --------------------------------------------------------

    def count(self) -> int:
        return self.count_posts(PostFilter())

    def count_posts(self, where: PostFilter) -> int:
        body = self._search(self.posts, size=0, track_total_hits=True, query=_query(where))
        return int(body["hits"]["total"]["value"])

    def get(self, doc_id: str) -> ScoredPost | None:
        posts = self._posts(size=1, query={"ids": {"values": [doc_id]}})
        return posts[0] if posts else None

    def top(
        self,
        *,
        limit: int = 10,
        brand: str | None = None,
        status: str | None = "open",
        min_priority: Priority = Priority.P4,
    ) -> list[ScoredPost]:
        where = PostFilter(
            brand=brand,
            status=status,
            priorities=priorities_up_to(min_priority),
            with_brand=True,
        )
        return self.find(where, limit=limit)

    def find(
        self, where: PostFilter, *, limit: int = 50, sort: SortOrder = "risk"
    ) -> list[ScoredPost]:
        order = RISK_ORDER if sort == "risk" else NEWEST_ORDER
        return self._posts(size=limit, query=_query(where), sort=order)

    def search(self, query: str, *, limit: int = 20, brand: str | None = None) -> list[ScoredPost]:
        """Every word must occur in the text (Dutch-stemmed, accent-folded), author or brands."""
        words = query.split()
        if not words:
            return []
        must = [
            {
                "bool": {
                    "should": [
                        {"match": {"text": word}},
                        {"term": {"author.handle": word.removeprefix("@")}},
                        {"term": {"brands": {"value": word, "case_insensitive": True}}},
                    ],
                    "minimum_should_match": 1,
                }
            }
            for word in words
        ]
        filters = filter_clauses(PostFilter(brand=brand))
        return self._posts(
            size=limit,
            query={"bool": {"must": must, "filter": filters}},
            sort=["_score", {"risk": "desc"}, {"doc_id": "asc"}],
        )

    def alerts(self, *, kind: str | None = None, limit: int = 100) -> list[Alert]:
        query = {"term": {"kind": kind}} if kind else {"match_all": {}}
        hits = self._search(
            self.alerts_index,
            size=limit,
            query=query,
            sort=[{"created_at": "asc"}, {"alert_id": "asc"}],
        )["hits"]["hits"]
        return [Alert.model_validate(h["_source"]) for h in hits]

    def brand_counts(self) -> list[BrandCount]:
        aggs = {
            "brands": {
                "terms": {"field": "brands", "size": MAX_TERMS},
                "aggs": {
                    "complaints": {"filter": {"term": {"intent": "klacht"}}},
                    "negative": {"filter": {"term": {"sentiment": "negatief"}}},
                },
            }
        }
        buckets = self._search(self.posts, size=0, aggs=aggs)
        rows = [
            BrandCount(
                b["key"], b["doc_count"], b["complaints"]["doc_count"], b["negative"]["doc_count"]
            )
            for b in buckets.get("aggregations", {}).get("brands", {}).get("buckets", [])
        ]
        return sorted(rows, key=lambda r: (-r.complaints, -r.posts, r.brand))

    def facet(self, field: FacetField, where: PostFilter | None = None) -> dict[str, int]:
        source = FACET_SOURCE.get(field, field)
        body = self._search(
            self.posts,
            size=0,
            query=_query(where),
            aggs={"values": {"terms": {"field": source, "size": MAX_TERMS}}},
        )
        buckets = body.get("aggregations", {}).get("values", {}).get("buckets", [])
        return sorted_counts([(str(b["key"]), int(b["doc_count"])) for b in buckets])

    def histogram(self, interval: Interval, where: PostFilter | None = None) -> list[TimeBucket]:
        aggs = {
            "buckets": {
                "date_histogram": {
                    "field": "created_at",
                    "calendar_interval": interval,
                    "min_doc_count": 1,
                    "time_zone": "UTC",
                }
            }
        }
        body = self._search(self.posts, size=0, query=_query(where), aggs=aggs)
        return [
            TimeBucket(datetime.fromtimestamp(b["key"] / 1000, tz=UTC), int(b["doc_count"]))
            for b in body.get("aggregations", {}).get("buckets", {}).get("buckets", [])
            if b["doc_count"] > 0
        ]

    # -- "what changed since", for the triage app's working copy ---------------------------

    def changed_posts(
        self,
        *,
        since_ms: int,
        after: ChangeKey | None = None,
        created_from: datetime | None = None,
        size: int = 500,
    ) -> list[ChangedPost]:
        """Brand posts and brand replies written at or after ``since_ms`` (server time),
        oldest change first.

        One page of at most ``size``; pass the last key as ``after`` for the next
        (``search_after`` on ``changed_at``, ``doc_id``: stable under concurrent writes,
        unlike ``from``). ``created_from`` leaves older posts out. Brand replies have no
        ``brand`` (they are not mentions) but the report counts them by tone, so they
        are copied too (``reply_brand``); the queue leaves them out by itself.
        """
        query = _change_query(since_ms, created_from)
        query["bool"]["filter"].append(
            {
                "bool": {
                    "should": [
                        {"exists": {"field": "brand"}},
                        {"exists": {"field": "reply_brand"}},
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
        extra: dict[str, Any] = {"search_after": list(after)} if after is not None else {}
        hits = self._search(
            self.posts,
            size=size,
            query=query,
            sort=[{CHANGED_AT: {"order": "asc", "unmapped_type": "date"}}, {"doc_id": "asc"}],
            **extra,
        )["hits"]["hits"]
        return [
            ChangedPost(_rebuilt(h), str(h["_source"].get("status") or OPEN), _change_key(h))
            for h in hits
        ]

    def changed_alerts(
        self,
        *,
        since_ms: int,
        after: ChangeKey | None = None,
        created_from: datetime | None = None,
        size: int = 500,
    ) -> list[ChangedAlert]:
        """Alerts first written at or after ``since_ms``; paged like :meth:`changed_posts`."""
        extra: dict[str, Any] = {"search_after": list(after)} if after is not None else {}
        hits = self._search(
            self.alerts_index,
            size=size,
            query=_change_query(since_ms, created_from),
            sort=[{CHANGED_AT: {"order": "asc", "unmapped_type": "date"}}, {"alert_id": "asc"}],
            **extra,
        )["hits"]["hits"]
        return [ChangedAlert(Alert.model_validate(h["_source"]), _change_key(h)) for h in hits]

    def changed_tombstones(
        self, *, since_ms: int, after: ChangeKey | None = None, size: int = 500
    ) -> list[ChangedTombstone]:
        """Posts deleted at or after ``since_ms`` (tombstone write time), paged by key.

        No tombstones index yet means nothing was ever deleted: an empty page.
        """
        extra: dict[str, Any] = {"search_after": list(after)} if after is not None else {}
        try:
            hits = self._search(
                self.tombstones_index,
                size=size,
                query=_change_query(since_ms, None),
                sort=[{CHANGED_AT: {"order": "asc", "unmapped_type": "date"}}, {"doc_id": "asc"}],
                **extra,
            )["hits"]["hits"]
        except SinkError as exc:
            if "index_not_found" in str(exc):
                return []
            raise
        out: list[ChangedTombstone] = []
        for hit in hits:
            source = hit["_source"]
            post_id = str(source["doc_id"]).split(":", 1)[1]
            deleted = DeletedPost(
                source=source["source"],
                post_id=post_id,
                deleted_at=source["deleted_at"],
                reason=source.get("reason") or "deleted",
            )
            out.append(ChangedTombstone(deleted, _change_key(hit)))
        return out

    def ping(self) -> None:
        """Raise :class:`SinkError` unless the cluster answers a search on the posts alias."""
        self._search(self.posts, size=0)

    def set_status(self, doc_id: str, status: str, *, at: datetime | None = None) -> bool:
        """Set the status in the post's own weekly index; the first non-open status
        also records the response time (for the "response times" dashboard panel).

        ``at`` is when the agent acted (default now): a write retried later from the
        triage app's outbox still records the agent's time. The write stamps
        ``changed_at``, so other readers of "what changed" see the new status.
        """
        from elastic_transport import TransportError
        from elasticsearch import ApiError

        hits = self._search(
            self.posts,
            size=1,
            query={"ids": {"values": [doc_id]}},
            source=["created_at", "first_response_at"],
        )["hits"]["hits"]
        if not hits:
            return False
        hit, now = hits[0], at or utc_now()
        change: dict[str, Any] = {"status": status, "status_changed_at": now.isoformat()}
        if status != OPEN and not hit["_source"].get("first_response_at"):
            created = datetime.fromisoformat(hit["_source"]["created_at"])
            change["first_response_at"] = now.isoformat()
            change["response_minutes"] = round((now - created).total_seconds() / 60, 1)
        script = {"source": STATUS_SCRIPT, "lang": "painless", "params": {"change": change}}
        try:
            self.client.update(index=hit["_index"], id=doc_id, script=script, refresh=True)
        except ApiError as exc:
            raise SinkError(f"Elasticsearch status update failed: {exc}", retryable=False) from exc
        except TransportError as exc:
            raise SinkError(
                f"Elasticsearch unreachable: {type(exc).__name__}", retryable=True
            ) from exc
        return True
