"""The embedded store: SQLite with FTS5 full-text search, no server needed.

Posts are keyed by the contract's ``doc_id`` and written with an upsert, so a
redelivered or re-scored post updates its row (and keeps its triage status) instead
of adding a second one. Alerts are keyed by their deterministic ``alert_id`` and
inserted once. A deleted post (:class:`~klachtradar.contract.DeletedPost`) is removed
with its alerts and triage rows, and its tombstone stays: a later upsert or alert of
that doc id (a redelivery, a replay) is dropped, so a delete is never undone.
The full-text index uses SQLite's ``unicode61`` tokenizer with
diacritics removed, so "cafe" finds "café".

The store is the default backend of the queries the CLI and triage UI use
(:meth:`EmbeddedStore.top`, :meth:`EmbeddedStore.search`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from klachtradar.contract import Alert, AlertKind, DeletedPost, Priority, ScoredPost
from klachtradar.errors import SinkError
from sink.query_types import (
    BrandCount,
    FacetField,
    Interval,
    PostFilter,
    SortOrder,
    TimeBucket,
    sorted_counts,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS posts (
    doc_id        TEXT PRIMARY KEY,
    source        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    author_id     TEXT NOT NULL,
    author_handle TEXT NOT NULL,
    followers     INTEGER,
    brand         TEXT,
    brands        TEXT NOT NULL,
    lang          TEXT,
    sentiment     TEXT,
    intent        TEXT,
    cues          TEXT NOT NULL,
    risk          INTEGER NOT NULL,
    priority      TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'open',
    doc           TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS posts_queue ON posts (status, priority, risk DESC);
CREATE INDEX IF NOT EXISTS posts_brand ON posts (brand, created_at);
CREATE INDEX IF NOT EXISTS posts_author ON posts (author_id);
CREATE VIRTUAL TABLE IF NOT EXISTS posts_fts USING fts5(
    text, author, brands, tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS alerts (
    alert_id   TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    brand      TEXT,
    priority   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    doc        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_time ON alerts (created_at);
CREATE TABLE IF NOT EXISTS escalations (
    doc_id TEXT PRIMARY KEY,
    step   INTEGER NOT NULL,
    route  TEXT NOT NULL,
    at     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tombstones (
    doc_id     TEXT PRIMARY KEY,
    source     TEXT NOT NULL,
    reason     TEXT NOT NULL,
    deleted_at TEXT NOT NULL,
    stored     INTEGER NOT NULL DEFAULT 0
);
"""

UNSEEN_TOMBSTONE_DAYS = 30
"""How long a tombstone of a post this store never held is kept (without retention).

Sources send every delete (they cannot know which posts a sink has), so most
tombstones name posts that never arrived; they exist for the one case of a post arriving
after its delete, which happens within minutes (partitions, redelivery) or in a replay.
A month bounds that table; the tombstone of a post that *was* stored is kept as long as
posts are (``retention_days``), or forever."""

_DOC_TABLES = (
    "triage_state",
    "triage_actions",
    "triage_feedback",
    "history_resolutions",
    "escalations",
)
"""Tables beside ``posts`` (the triage app's, the history log's) that name posts by doc id:
a deleted post leaves no row in any of them. They may not exist yet (no triage run)."""

_UPSERT = """
INSERT INTO posts (doc_id, source, created_at, author_id, author_handle, followers, brand,
                   brands, lang, sentiment, intent, cues, risk, priority, doc, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (doc_id) DO UPDATE SET
    followers = excluded.followers, brand = excluded.brand, brands = excluded.brands,
    lang = excluded.lang, sentiment = excluded.sentiment, intent = excluded.intent,
    cues = excluded.cues, risk = excluded.risk, priority = excluded.priority,
    doc = excluded.doc, updated_at = excluded.updated_at
"""


class EmbeddedStore:
    """SQLite-backed store of scored posts and alerts.

    >>> store = EmbeddedStore(":memory:")
    >>> store.count()
    0
    """

    def __init__(self, path: Path | str, *, retention_days: int | None = None) -> None:
        self.path = path
        self.retention_days = retention_days
        self._pruned_at: datetime | None = None
        if isinstance(path, Path):
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False)
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise SinkError(f"{path}: cannot open the store ({exc})", retryable=False) from exc

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def __enter__(self) -> EmbeddedStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------

    def write_posts(self, posts: Sequence[ScoredPost]) -> None:
        """Upsert posts in one transaction; each FTS row shares its post's rowid.

        Three statements per batch, not two per post: upsert every row, read the
        batch's rowids back in one query, then replace their full-text entries (FTS5
        honours OR REPLACE on rowid, so a re-scored post replaces its index entry).
        """
        if not posts:
            return
        self.prune_if_due()
        latest = {post.doc_id: post for post in posts}  # a batch may repeat a post
        try:
            with self._db:
                for gone in self.deleted_among(list(latest)):
                    del latest[gone]
                if not latest:
                    return
                self._db.executemany(_UPSERT, [_row(post) for post in latest.values()])
                rowids = self._rowids(list(latest))
                self._db.executemany(
                    "INSERT OR REPLACE INTO posts_fts (rowid, text, author, brands) "
                    "VALUES (?, ?, ?, ?)",
                    [
                        (rowids[doc], p.post.text, p.post.author.handle, " ".join(p.brand_names))
                        for doc, p in latest.items()
                    ],
                )
        except sqlite3.Error as exc:
            raise SinkError(f"store write failed: {exc}", retryable=True) from exc

    def deleted_among(self, doc_ids: list[str]) -> set[str]:
        """The doc ids among ``doc_ids`` whose tombstone keeps them out of the store."""
        return {str(doc) for (doc,) in self._select_in("SELECT doc_id FROM tombstones", doc_ids)}

    def _select_in(self, select: str, doc_ids: list[str]) -> Iterator[tuple[object, ...]]:
        """``select WHERE doc_id IN (…)`` in chunks under SQLite's variable limit."""
        for start in range(0, len(doc_ids), 500):
            chunk = doc_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            yield from self._db.execute(f"{select} WHERE doc_id IN ({marks})", chunk)

    def delete_posts(self, deletes: Sequence[DeletedPost]) -> int:
        """Remove posts and every row about them; keep their tombstones. Returns posts removed.

        In one transaction: record the tombstones (the first delete of a doc id wins),
        then drop the posts' full-text rows, the posts, their post alerts, and their
        rows in the triage and history tables. A delete of a post never stored (it has
        not arrived yet, or was forgotten already) still leaves its tombstone.
        """
        if not deletes:
            return 0
        docs = list(dict.fromkeys(d.doc_id for d in deletes))
        try:
            with self._db:
                found = self._rowids(docs)
                self._db.executemany(
                    "INSERT OR IGNORE INTO tombstones VALUES (?, ?, ?, ?, ?)",
                    [
                        (d.doc_id, d.source, d.reason, _iso(d.deleted_at), d.doc_id in found)
                        for d in deletes
                    ],
                )
                self._db.executemany(
                    "UPDATE tombstones SET stored = 1 WHERE doc_id = ?", [(d,) for d in found]
                )
                rowids = [(r,) for r in found.values()]
                self._db.executemany("DELETE FROM posts_fts WHERE rowid = ?", rowids)
                self._db.executemany("DELETE FROM posts WHERE rowid = ?", rowids)
                self._db.executemany(  # post alert ids are deterministic: by primary key
                    "DELETE FROM alerts WHERE alert_id = ?",
                    [(f"post:{doc}:{p.value}",) for doc in found for p in Priority],
                )
                # Rows about a post: for stored posts, and for every post of an erasure
                # (its labels may outlive the post). Skipped for the many deletes of
                # posts never seen here, which have none.
                about = set(found) | {d.doc_id for d in deletes if d.reason == "forgotten"}
                if about:
                    for table in self._existing(_DOC_TABLES):
                        self._db.executemany(
                            f"DELETE FROM {table} WHERE doc_id = ?", [(doc,) for doc in about]
                        )
                    self._strip_incident_examples(about)
        except sqlite3.Error as exc:
            raise SinkError(f"store delete failed: {exc}", retryable=True) from exc
        return len(found)

    def _strip_incident_examples(self, docs: set[str]) -> None:
        """Incident alerts name example posts: a deleted one is no longer named."""
        rows = self._db.execute("SELECT alert_id, doc FROM alerts WHERE kind != 'post'").fetchall()
        for alert_id, doc in rows:
            alert = Alert.model_validate_json(doc)
            if alert.doc_id not in docs and not docs.intersection(alert.examples):
                continue
            kept = alert.model_copy(
                update={
                    "doc_id": None if alert.doc_id in docs else alert.doc_id,
                    "examples": [e for e in alert.examples if e not in docs],
                }
            )
            self._db.execute(
                "UPDATE alerts SET doc = ? WHERE alert_id = ?", (kept.model_dump_json(), alert_id)
            )

    def rows_about(self, doc_ids: list[str]) -> dict[str, int]:
        """How many rows each table holds about these posts (post alerts, triage tables)."""
        counts = {"alerts": 0}
        for doc in doc_ids:
            row = self._db.execute(
                "SELECT count(*) FROM alerts WHERE json_extract(doc, '$.doc_id') = ?", (doc,)
            ).fetchone()
            counts["alerts"] += int(row[0])
        for table in self._existing(_DOC_TABLES):
            counts[table] = sum(
                int(str(n)) for (n,) in self._select_in(f"SELECT count(*) FROM {table}", doc_ids)
            )
        return counts

    def author_doc_ids(self, source: str, author: str) -> list[str]:
        """Doc ids of every stored post of one author: ``author`` is the handle (any case,
        with or without ``@``) or the source's author id."""
        handle = author.removeprefix("@").lower()
        rows = self._db.execute(
            "SELECT doc_id FROM posts "
            "WHERE source = ? AND (lower(author_handle) = ? OR author_id = ?)",
            (source, handle, author),
        )
        return [str(doc) for (doc,) in rows]

    def prune_if_due(self, now: datetime | None = None) -> int:
        """At most once an hour: :meth:`prune` by ``retention_days`` (if set), and drop
        tombstones of posts never stored here after :data:`UNSEEN_TOMBSTONE_DAYS`.
        Returns the posts pruned."""
        now = now or datetime.now(UTC)
        if self._pruned_at is not None and now - self._pruned_at < timedelta(hours=1):
            return 0
        self._pruned_at = now
        unseen = _iso(now - timedelta(days=UNSEEN_TOMBSTONE_DAYS))
        try:
            with self._db:
                self._db.execute(
                    "DELETE FROM tombstones WHERE stored = 0 "
                    "AND julianday(deleted_at) < julianday(?)",
                    (unseen,),
                )
        except sqlite3.Error as exc:
            raise SinkError(f"store prune failed: {exc}", retryable=True) from exc
        if self.retention_days is None:
            return 0
        return self.prune(now - timedelta(days=self.retention_days))

    def prune(self, before: datetime) -> int:
        """Remove posts created before ``before``, with their alerts, triage and history
        rows, and tombstones older than that (no copy so old is let in again by them).
        Returns the posts removed. Why tombstones too: the store must not keep even the
        ids of deleted posts beyond the retention it promises."""
        cutoff = _iso(before)
        try:
            docs = [
                str(doc)
                for (doc,) in self._db.execute(
                    "SELECT doc_id FROM posts WHERE julianday(created_at) < julianday(?)",
                    (cutoff,),
                )
            ]
            with self._db:
                rowids = [(r,) for r in self._rowids(docs).values()]
                self._db.executemany("DELETE FROM posts_fts WHERE rowid = ?", rowids)
                self._db.executemany("DELETE FROM posts WHERE rowid = ?", rowids)
                for table in self._existing(_DOC_TABLES):
                    self._db.executemany(
                        f"DELETE FROM {table} WHERE doc_id = ?", [(doc,) for doc in docs]
                    )
                self._db.execute(
                    "DELETE FROM alerts WHERE julianday(created_at) < julianday(?)", (cutoff,)
                )
                self._db.execute(
                    "DELETE FROM tombstones WHERE julianday(deleted_at) < julianday(?)", (cutoff,)
                )
        except sqlite3.Error as exc:
            raise SinkError(f"store prune failed: {exc}", retryable=True) from exc
        return len(rowids)

    def _existing(self, tables: Sequence[str]) -> list[str]:
        marks = ",".join("?" * len(tables))
        sql = f"SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ({marks})"
        return [str(name) for (name,) in self._db.execute(sql, list(tables))]

    def _rowids(self, doc_ids: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for start in range(0, len(doc_ids), 500):  # stay under SQLite's variable limit
            chunk = doc_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(
                (doc, rowid)
                for rowid, doc in self._db.execute(
                    f"SELECT rowid, doc_id FROM posts WHERE doc_id IN ({marks})", chunk
                )
            )
        return found

    def write_alerts(self, alerts: Sequence[Alert]) -> list[Alert]:
        """Insert alerts not seen before; returns the new ones (redeliveries are dropped).

        A post alert of a deleted post is dropped too: its tombstone wins.
        """
        new: list[Alert] = []
        try:
            with self._db:
                gone = self.deleted_among([a.doc_id for a in alerts if a.doc_id is not None])
                for alert in alerts:
                    if alert.kind is AlertKind.POST and alert.doc_id in gone:
                        continue  # the post was deleted: its alert must not appear
                    cursor = self._db.execute(
                        "INSERT OR IGNORE INTO alerts VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            alert.alert_id,
                            alert.kind.value,
                            alert.brand,
                            alert.priority.value,
                            _iso(alert.created_at),
                            alert.model_dump_json(),
                        ),
                    )
                    if cursor.rowcount:
                        new.append(alert)
        except sqlite3.Error as exc:
            raise SinkError(f"store write failed: {exc}", retryable=True) from exc
        return new

    def set_status(self, doc_id: str, status: str) -> bool:
        """Change a post's triage status (open, claimed, resolved, …); False if unknown."""
        with self._db:
            cursor = self._db.execute(
                "UPDATE posts SET status = ? WHERE doc_id = ?", (status, doc_id)
            )
        return cursor.rowcount > 0

    def record_escalation(self, doc_id: str, route: str, step: int, at: datetime) -> None:
        """An unclaimed P1 climbed a rung of the alert ladder (:mod:`notify`): the card
        in the triage app says so."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO escalations VALUES (?, ?, ?, ?)",
                (doc_id, step, route, _iso(at)),
            )

    # -- reading ---------------------------------------------------------------------------

    def is_handled(self, doc_id: str) -> bool:
        """True once triage took the post out of ``open`` (claimed, resolved, …): what
        stops its escalation ladder."""
        row = self._db.execute("SELECT status FROM posts WHERE doc_id = ?", (doc_id,)).fetchone()
        return row is not None and row[0] != "open"

    def count(self) -> int:
        """Number of posts stored."""
        return int(self._db.execute("SELECT count(*) FROM posts").fetchone()[0])

    def get(self, doc_id: str) -> ScoredPost | None:
        """One post by document id."""
        row = self._db.execute("SELECT doc FROM posts WHERE doc_id = ?", (doc_id,)).fetchone()
        return None if row is None else ScoredPost.model_validate_json(row[0])

    def top(
        self,
        *,
        limit: int = 10,
        brand: str | None = None,
        status: str | None = "open",
        min_priority: Priority = Priority.P4,
    ) -> list[ScoredPost]:
        """The triage queue: brand posts by priority, then risk, newest first on ties."""
        where = ["brand IS NOT NULL", "priority <= ?"]
        params: list[object] = [min_priority.value]
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if brand is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(posts.brands) WHERE value = ?)")
            params.append(brand)
        sql = (
            f"SELECT doc FROM posts WHERE {' AND '.join(where)} "
            "ORDER BY priority ASC, risk DESC, created_at DESC LIMIT ?"
        )
        params.append(limit)
        return [ScoredPost.model_validate_json(r[0]) for r in self._db.execute(sql, params)]

    def search(self, query: str, *, limit: int = 20, brand: str | None = None) -> list[ScoredPost]:
        """Full-text search over text, author and brands; every word must occur."""
        match = _fts_query(query)
        if not match:
            return []
        sql = (
            "SELECT p.doc FROM posts_fts JOIN posts p ON p.rowid = posts_fts.rowid "
            "WHERE posts_fts MATCH ?"
        )
        params: list[object] = [match]
        if brand is not None:
            sql += " AND EXISTS (SELECT 1 FROM json_each(p.brands) WHERE value = ?)"
            params.append(brand)
        sql += " ORDER BY bm25(posts_fts), p.risk DESC LIMIT ?"
        params.append(limit)
        return [ScoredPost.model_validate_json(r[0]) for r in self._db.execute(sql, params)]

    def alerts(self, *, kind: str | None = None, limit: int = 100) -> list[Alert]:
        """Alerts, oldest first."""
        sql = "SELECT doc FROM alerts"
        params: list[object] = []
        if kind is not None:
            sql += " WHERE kind = ?"
            params.append(kind)
        sql += " ORDER BY created_at ASC LIMIT ?"
        params.append(limit)
        return [Alert.model_validate_json(r[0]) for r in self._db.execute(sql, params)]

    def brand_counts(self) -> list[BrandCount]:
        """Posts, complaints and negative posts per brand, most complaints first."""
        sql = """
            SELECT j.value, count(*), sum(p.intent = 'klacht'), sum(p.sentiment = 'negatief')
            FROM posts p, json_each(p.brands) j
            GROUP BY j.value ORDER BY 3 DESC, 2 DESC
        """
        return [BrandCount(b, n, c or 0, neg or 0) for b, n, c, neg in self._db.execute(sql)]

    def complaint_history(self) -> Iterator[tuple[str, str, str, datetime, bool]]:
        """Rows to seed the author history: (author, brand, doc id, created, resolved)."""
        sql = """
            SELECT p.author_id, j.value, p.doc_id, p.created_at, p.status = 'resolved'
            FROM posts p, json_each(p.brands) j WHERE p.intent = 'klacht'
        """
        for author, brand, doc, created, resolved in self._db.execute(sql):
            yield author, brand, doc, datetime.fromisoformat(created), bool(resolved)

    # -- the shared query interface (sink.query_types.PostQueries) -------------------------

    def find(
        self, where: PostFilter, *, limit: int = 50, sort: SortOrder = "risk"
    ) -> list[ScoredPost]:
        """Posts matching a filter, by priority and risk (or newest first); ties by doc id."""
        clauses, params = _filter_sql(where)
        order = (
            "priority ASC, risk DESC, created_at DESC, doc_id ASC"
            if sort == "risk"
            else "created_at DESC, doc_id ASC"
        )
        sql = f"SELECT doc FROM posts p WHERE {clauses} ORDER BY {order} LIMIT ?"
        rows = self._db.execute(sql, [*params, limit])
        return [ScoredPost.model_validate_json(r[0]) for r in rows]

    def count_posts(self, where: PostFilter) -> int:
        """Number of posts matching a filter."""
        clauses, params = _filter_sql(where)
        sql = f"SELECT count(*) FROM posts p WHERE {clauses}"
        return int(self._db.execute(sql, params).fetchone()[0])

    def facet(self, field: FacetField, where: PostFilter | None = None) -> dict[str, int]:
        """Posts per value of ``field``; ``brand`` and ``cue`` count each value a post has."""
        clauses, params = _filter_sql(where or PostFilter())
        if field in ("brand", "cue"):
            column = "brands" if field == "brand" else "cues"
            sql = (
                f"SELECT j.value, count(*) FROM posts p, json_each(p.{column}) j "
                f"WHERE {clauses} GROUP BY j.value"
            )
        else:
            sql = (
                f"SELECT p.{field}, count(*) FROM posts p "
                f"WHERE {clauses} AND p.{field} IS NOT NULL GROUP BY p.{field}"
            )
        return sorted_counts([(str(v), int(n)) for v, n in self._db.execute(sql, params)])

    def histogram(self, interval: Interval, where: PostFilter | None = None) -> list[TimeBucket]:
        """Posts per hour, day or ISO week (Monday) of ``created_at`` in UTC."""
        bucket = _BUCKET_SQL[interval]
        clauses, params = _filter_sql(where or PostFilter())
        sql = f"SELECT {bucket} AS b, count(*) FROM posts p WHERE {clauses} GROUP BY b ORDER BY b"
        return [
            TimeBucket(datetime.fromisoformat(b).replace(tzinfo=UTC), int(n))
            for b, n in self._db.execute(sql, params)
        ]


def _row(post: ScoredPost) -> tuple[object, ...]:
    """The ``posts`` row of a scored post (the full document plus queryable columns)."""
    cls = post.classification
    brands = post.brand_names
    return (
        post.doc_id,
        post.post.source,
        _iso(post.post.created_at),
        post.post.author.id,
        post.post.author.handle,
        post.post.author.followers,
        brands[0] if brands else None,
        json.dumps(brands, ensure_ascii=False),
        post.lang,
        cls.sentiment.value if cls else None,
        cls.intent.value if cls else None,
        json.dumps([c.value for c in cls.cues] if cls else []),
        post.risk.score,
        post.risk.priority.value,
        post.model_dump_json(),
        _iso(post.scored_at),
    )


def _iso(value: datetime) -> str:
    return value.isoformat()


def _fts_query(query: str) -> str:
    """Quote each word so user input is never parsed as FTS syntax."""
    words = [w for w in query.split() if w.strip('"')]
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


_BUCKET_SQL: dict[str, str] = {
    "hour": "strftime('%Y-%m-%dT%H:00:00', p.created_at)",
    "day": "date(p.created_at)",
    "week": "date(p.created_at, '-6 days', 'weekday 1')",
}
"""SQLite expressions for histogram buckets (SQLite converts the stored offsets to UTC)."""


def _filter_sql(where: PostFilter) -> tuple[str, list[object]]:
    """A WHERE clause over ``posts p`` for a :class:`PostFilter`, with its parameters."""
    clauses = ["1 = 1"]
    params: list[object] = []
    for column, value in (
        ("source", where.source),
        ("sentiment", where.sentiment),
        ("intent", where.intent),
        ("status", where.status),
    ):
        if value is not None:
            clauses.append(f"p.{column} = ?")
            params.append(value)
    for column, value in (("brands", where.brand), ("cues", where.cue)):
        if value is not None:
            clauses.append(f"EXISTS (SELECT 1 FROM json_each(p.{column}) WHERE value = ?)")
            params.append(value)
    if where.priorities:
        clauses.append(f"p.priority IN ({', '.join('?' * len(where.priorities))})")
        params.extend(p.value for p in where.priorities)
    if where.min_risk is not None:
        clauses.append("p.risk >= ?")
        params.append(where.min_risk)
    if where.since is not None:
        clauses.append("julianday(p.created_at) >= julianday(?)")
        params.append(_iso(where.since))
    if where.until is not None:
        clauses.append("julianday(p.created_at) < julianday(?)")
        params.append(_iso(where.until))
    if where.with_brand:
        clauses.append("p.brand IS NOT NULL")
    return " AND ".join(clauses), params
