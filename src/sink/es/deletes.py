"""Deletes in Elasticsearch: remove a post from every weekly index, keep its tombstone.

A :class:`~klachtradar.contract.DeletedPost` does not say when its post was written,
so the post is removed by id from all weekly indices (``{posts}-*``) at once, and its
post alerts by their deterministic ids (``post:{doc_id}:{priority}``, one per
priority it may have reached). The tombstone goes to its own index, outside the posts
pattern (Kibana and the queries never see it), holding only the doc id, source, reason
and time. Before posts or alerts are indexed, :meth:`EsTombstones.deleted_among`
looks their doc ids up there, so a redelivered post or alert of a deleted post is
dropped: the delete always wins, whichever arrives first.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from klachtradar.contract import DeletedPost, Priority
from klachtradar.errors import SinkError
from sink.es.documents import ALERT_SCRIPT, CHANGED_AT
from sink.es.writer import RetryPolicy

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

log = logging.getLogger(__name__)

T = TypeVar("T")


TOMBSTONE_MAPPING: dict[str, Any] = {
    "dynamic": "false",
    "properties": {
        "doc_id": {"type": "keyword"},
        "source": {"type": "keyword"},
        "reason": {"type": "keyword"},
        "deleted_at": {"type": "date"},
        CHANGED_AT: {"type": "date"},
    },
}
"""The tombstones index: ids and times only. ``changed_at`` (the server's clock at the
first write) lets a reader — the triage app's working copy — page through new deletes."""


STRIP_EXAMPLES = (
    "ctx._source.examples.removeIf(e -> params.docs.contains(e)); "
    "if (params.docs.contains(ctx._source.doc_id)) { ctx._source.doc_id = null; }"
)
"""Painless: an incident alert without the deleted posts among its examples."""


def post_alert_ids(doc_ids: Sequence[str]) -> list[str]:
    """Every id a post alert of these posts can have (see :func:`enrich.alerts.post_alerts`)."""
    return [f"post:{doc}:{p.value}" for doc in doc_ids for p in Priority]


def tombstone_document(deleted: DeletedPost) -> dict[str, Any]:
    """What a tombstone keeps: the doc id and why it went, never the post's content."""
    return {
        "doc_id": deleted.doc_id,
        "source": deleted.source,
        "reason": deleted.reason,
        "deleted_at": deleted.deleted_at.isoformat(),
    }


@dataclass
class EsTombstones:
    """Deletes and tombstone look-ups against one cluster."""

    client: Elasticsearch
    posts_prefix: str
    alerts_index: str
    tombstones_index: str
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    _index_exists: bool = False
    _rng: random.Random = field(default_factory=random.Random)

    def _retrying(self, what: str, request: Callable[[], T]) -> T:
        """``request()``, again after a backoff while Elasticsearch is away or overloaded.

        The same policy as the bulk writer's (:class:`sink.es.writer.RetryPolicy`): a
        tombstone look-up sits in front of every post write, so a blip must cost a retry
        here, not the batch. Each request is idempotent, so a retry is always safe.
        """
        last: Exception | None = None
        for round_ in range(self.retry.max_retries + 1):
            if round_:
                delay = self.retry.delay(round_ - 1, self._rng)
                log.warning(
                    "elasticsearch: %s failed (%s), retrying in %.2fs (round %d of %d)",
                    what, type(last).__name__, delay, round_, self.retry.max_retries,
                )  # fmt: skip
                self.sleep(delay)
            try:
                return request()
            except SinkError:
                raise
            except Exception as exc:
                if not _transient(exc):
                    raise SinkError(f"elasticsearch {what} failed: {exc}", retryable=True) from exc
                last = exc
        raise SinkError(
            f"elasticsearch: {what} still failing after {self.retry.max_retries} retries: "
            f"{type(last).__name__}",
            retryable=True,
        )

    def delete(self, deletes: Sequence[DeletedPost]) -> int:
        """Tombstones first, then the posts and their post alerts; returns posts removed.

        The tombstones are written (and refreshed) before anything is removed: if the
        removal fails, the batch is redone, and a post indexed meanwhile is still kept
        out by its tombstone.
        """
        if not deletes:
            return 0
        return self._retrying("delete", lambda: self._delete(deletes))

    def _delete(self, deletes: Sequence[DeletedPost]) -> int:
        docs = list(dict.fromkeys(d.doc_id for d in deletes))
        self._ensure_index()
        operations: list[dict[str, Any]] = []
        for deleted in deletes:
            target = {"_index": self.tombstones_index, "_id": deleted.doc_id}
            operations.append({"update": target})
            operations.append(
                {
                    "script": {
                        "source": ALERT_SCRIPT,  # written as is, changed_at stamped once
                        "lang": "painless",
                        "params": {"doc": tombstone_document(deleted)},
                    },
                    "scripted_upsert": True,
                    "upsert": {},
                }
            )
        answer = self.client.bulk(operations=operations, refresh=True)
        if answer.get("errors"):
            raise SinkError(f"tombstones not written: {_first_error(answer)}", retryable=True)
        removed = self._delete_ids(self._posts_pattern, docs)
        self._delete_ids(self.alerts_index, post_alert_ids(docs))
        if removed:
            self._strip_incident_examples(docs)
        return removed

    def _ensure_index(self) -> None:
        """Create the tombstones index with its mapping, once (another writer may win)."""
        if self._index_exists:
            return
        if not self.client.indices.exists(index=self.tombstones_index):
            try:
                self.client.indices.create(index=self.tombstones_index, mappings=TOMBSTONE_MAPPING)
            except Exception as exc:
                if "already_exists" not in str(exc):
                    raise
        self._index_exists = True

    @property
    def _posts_pattern(self) -> str:
        """The weekly posts indices; the tombstones and alerts indices are excluded by
        name, in case they were configured under the posts prefix."""
        return f"{self.posts_prefix}-*,-{self.tombstones_index},-{self.alerts_index}"

    def _delete_ids(self, index: str, ids: list[str]) -> int:
        """Delete documents by id; an index that does not exist (yet) holds none of them.

        The index is refreshed first: delete-by-query works on what search sees, and a
        post indexed a moment ago (same batch, or just before) must go too.
        """
        try:
            self.client.indices.refresh(index=index, allow_no_indices=True, ignore_unavailable=True)
            answer = self.client.delete_by_query(
                index=index,
                query={"ids": {"values": ids}},
                refresh=True,
                conflicts="proceed",
                allow_no_indices=True,
                ignore_unavailable=True,
            )
        except Exception as exc:
            if getattr(exc, "status_code", None) == 404:
                return 0
            raise
        return int(answer.get("deleted", 0))

    def _strip_incident_examples(self, docs: list[str]) -> None:
        """Incident alerts name example posts (and their opening post): not deleted ones."""
        try:
            self.client.update_by_query(
                index=self.alerts_index,
                query={
                    "bool": {
                        "must_not": [{"terms": {"kind": ["post"]}}],
                        "should": [  # the mapping's keywords, or dynamic mapping's .keyword
                            {"terms": {field: docs}}
                            for field in (
                                "examples",
                                "doc_id",
                                "examples.keyword",
                                "doc_id.keyword",
                            )
                        ],
                        "minimum_should_match": 1,
                    }
                },
                script={"lang": "painless", "source": STRIP_EXAMPLES, "params": {"docs": docs}},
                refresh=True,
                conflicts="proceed",
                allow_no_indices=True,
                ignore_unavailable=True,
            )
        except Exception as exc:
            if getattr(exc, "status_code", None) != 404:
                raise

    def author_doc_ids(self, source: str, author: str) -> list[str]:
        """Doc ids of every indexed post of one author (handle in any case, or author id).

        The query is broad (it must work with and without the installed mapping) and
        every hit is checked exactly on its ``_source`` before it counts.
        """

        handle = author.removeprefix("@")
        should = [
            {"term": {"author.id": author}},
            {"term": {"author.handle": handle}},
            {"term": {"author.handle.keyword": handle}},
            {"match_phrase": {"author.handle": handle}},
        ]
        query = {"query": {"bool": {"should": should, "minimum_should_match": 1}}}
        return self._retrying("author search", lambda: self._author_hits(source, author, query))

    def _author_hits(self, source: str, author: str, query: dict[str, Any]) -> list[str]:
        from elasticsearch import helpers

        handle = author.removeprefix("@")
        found: list[str] = []
        try:
            index = self._posts_pattern
            self.client.indices.refresh(index=index, allow_no_indices=True, ignore_unavailable=True)
            hits = helpers.scan(
                self.client,
                index=index,
                query=query,
                _source=["source", "author"],
            )
            for hit in hits:
                doc = hit.get("_source") or {}
                who = doc.get("author") or {}
                same = (
                    str(who.get("handle", "")).lower() == handle.lower() or who.get("id") == author
                )
                if doc.get("source") == source and same:
                    found.append(str(hit["_id"]))
        except Exception as exc:
            if getattr(exc, "status_code", None) == 404:
                return []
            raise
        return found

    def deleted_among(self, doc_ids: Sequence[str]) -> set[str]:
        """The doc ids that have a tombstone (one ``mget``; none when no index exists yet)."""
        if not doc_ids:
            return set()
        return self._retrying("tombstone look-up", lambda: self._deleted_among(doc_ids))

    def _deleted_among(self, doc_ids: Sequence[str]) -> set[str]:
        if not self._index_exists:  # once it exists it stays: ask until then only
            self._index_exists = bool(self.client.indices.exists(index=self.tombstones_index))
            if not self._index_exists:
                return set()
        answer = self.client.mget(
            index=self.tombstones_index, ids=list(dict.fromkeys(doc_ids)), source=False
        )
        return {str(d["_id"]) for d in answer.get("docs", []) if d.get("found")}


def _transient(exc: BaseException) -> bool:
    """No answer (connection refused, reset, timed out) or an overloaded cluster."""
    from elastic_transport import TransportError

    return isinstance(exc, TransportError) or getattr(exc, "status_code", None) in (
        429,
        502,
        503,
        504,
    )


def _first_error(answer: Any) -> str:
    for item in answer.get("items", []):
        for result in item.values():
            if result.get("error"):
                return str(result["error"])
    return "unknown error"
