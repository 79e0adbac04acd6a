"""The triage app on Elasticsearch: a local working copy, synced by cursor, with write-back.

When ``[elasticsearch] url`` is set, the pipeline (``klachtradar process`` →
``klachtradar index``) writes posts to Elasticsearch, not to this machine's store. The
triage app still works on its SQLite file — the same ``posts``/``alerts`` tables as the
embedded store plus the triage tables — but that file is now a *working copy*:
:class:`EsMirror` pulls into it what changed in Elasticsearch, and pushes the agents'
status changes back. Everything else in the app (queue SQL, live feed, SLA, report,
feedback) is unchanged and never waits for Elasticsearch.

Pull (every ``[triage] es_poll_s``, default 0.5 s — the lag between Elasticsearch and
the queue):

* Every post write in Elasticsearch stamps ``changed_at`` with the server's clock
  (:data:`sink.es.documents.CHANGED_AT`). The mirror reads brand posts (and the
  brands' own replies, for the report's tone counts) ordered by
  (``changed_at``, ``doc_id``) with ``search_after`` in pages of ``es_page_size`` and
  keeps its position in ``es_mirror_cursor``, so a restart continues where it stopped.
  The first sync only copies posts created in the last ``es_window_days``.
* While the cursor is moving, each poll re-reads ``es_overlap_s`` before it: a write
  becomes searchable only at the next refresh, and weekly indices refresh
  independently, so a later change can be visible before an earlier one. Re-read posts
  that did not change are skipped, so they wake nobody. Once the cursor has not moved
  for ``es_overlap_s``, everything behind it is settled and a poll reads only what is
  strictly after it (one cheap empty search while the stream is quiet).
* Upserting keeps the local triage state: the store's upsert never touches
  ``posts.status``, and an Elasticsearch status is taken over only for a post no agent
  of *this* app has acted on (no ``triage_state`` row) — e.g. one resolved in another
  triage app. Alerts (only the embedded runner writes them to Elasticsearch; the Kafka
  ``index`` step writes posts) are copied the same way, by their own cursor.

Write-back: every workflow action that changes a status writes, in the same SQLite
transaction, a row in ``es_status_outbox`` (one per post, the latest status wins). The
sync loop sends the outbox first on every poll (:meth:`ElasticsearchQueries.set_status`,
with the agent's time), and deletes a row only once Elasticsearch took it. So an
action never waits for Elasticsearch and is never lost when it is down.

Elasticsearch down: ``serve`` and ``report`` refuse to start with one line. Once
running, a failed sync is logged and retried with exponential backoff (up to 30 s);
the app keeps serving the last copy and shows "Elasticsearch onbereikbaar sinds …".
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from klachtradar.backoff import Backoff
from klachtradar.contract import utc_now
from klachtradar.errors import SinkError
from sink.es.queries import ChangedAlert, ChangedPost, ChangedTombstone, ChangeKey
from sink.store import EmbeddedStore
from triage.database import TriageDatabase

log = logging.getLogger(__name__)

POSTS = "posts"
ALERTS = "alerts"
TOMBSTONES = "tombstones"
MAX_ATTEMPTS = 20
"""A status write Elasticsearch refuses (not: cannot be reached) this often is dropped."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS es_mirror_cursor (
    feed       TEXT PRIMARY KEY,
    changed_ms INTEGER NOT NULL,
    last_id    TEXT NOT NULL,
    synced_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS es_status_outbox (
    doc_id     TEXT PRIMARY KEY,
    status     TEXT NOT NULL,
    at         TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
"""

_ADOPT_STATUS = """
UPDATE posts SET status = :status
WHERE doc_id = :doc AND status != :status
  AND NOT EXISTS (SELECT 1 FROM triage_state t WHERE t.doc_id = posts.doc_id)
"""


class ChangeSource(Protocol):
    """What the mirror needs from Elasticsearch (:class:`sink.es.queries.ElasticsearchQueries`)."""

    def changed_posts(
        self,
        *,
        since_ms: int,
        after: ChangeKey | None = None,
        created_from: datetime | None = None,
        size: int = 500,
    ) -> list[ChangedPost]: ...

    def changed_alerts(
        self,
        *,
        since_ms: int,
        after: ChangeKey | None = None,
        created_from: datetime | None = None,
        size: int = 500,
    ) -> list[ChangedAlert]: ...

    def changed_tombstones(
        self, *, since_ms: int, after: ChangeKey | None = None, size: int = 500
    ) -> list[ChangedTombstone]: ...

    def set_status(self, doc_id: str, status: str, *, at: datetime | None = None) -> bool: ...

    def ping(self) -> None: ...

    def close(self) -> None: ...


class StatusSink(Protocol):
    """Where else a status written back goes (:mod:`triage.status_topic`)."""

    def publish(self, doc_id: str, author_id: str, status: str, at: datetime) -> None: ...

    def close(self) -> None: ...


@dataclass
class SyncReport:
    """What one :meth:`EsMirror.sync` did."""

    posts_written: int = 0
    statuses_taken: int = 0
    alerts_new: int = 0
    posts_deleted: int = 0
    statuses_sent: int = 0
    pages: int = 0

    @property
    def changed(self) -> bool:
        """Whether the working copy changed (the live feed should tell the browsers)."""
        return bool(
            self.posts_written or self.statuses_taken or self.alerts_new or self.posts_deleted
        )


class EsMirror:
    """Keeps the triage database a working copy of Elasticsearch; see the module docstring."""

    def __init__(
        self,
        database: TriageDatabase,
        source: ChangeSource,
        *,
        window_days: int = 30,
        page_size: int = 500,
        overlap_s: float = 5.0,
        now: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        status_sink: StatusSink | None = None,
    ) -> None:
        self.status_sink = status_sink
        """Also told of every status written back (the Kafka status records, for the
        stream's author history); a failure keeps the outbox row, like Elasticsearch's."""
        self.database = database
        self.source = source
        self.window = timedelta(days=window_days)
        self.page_size = page_size
        self.overlap_ms = int(overlap_s * 1000)
        self.now = now
        self.monotonic = monotonic
        self._started = monotonic()
        self._moved_at: dict[str, float] = {}
        """When each cursor last moved; a new process counts from its start, so it re-reads
        the overlap until that much time has passed."""
        self.store = EmbeddedStore(database.path)  # the store's upsert + full-text index
        self.wanted = threading.Event()
        """Set when an action queued a status write: the loop syncs at once."""
        with database.lock:
            database.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.store.close()
        self.source.close()
        if self.status_sink is not None:
            self.status_sink.close()

    # -- write-back ----------------------------------------------------------------------------

    def enqueue_status(
        self, db: sqlite3.Connection, doc_id: str, status: str, at: datetime
    ) -> None:
        """Queue a status write; called by the workflow inside its action's transaction."""
        db.execute(
            "INSERT INTO es_status_outbox (doc_id, status, at, seq) VALUES "
            "(:doc, :status, :at, (SELECT coalesce(max(seq), 0) + 1 FROM es_status_outbox)) "
            "ON CONFLICT (doc_id) DO UPDATE SET status = excluded.status, at = excluded.at, "
            "seq = excluded.seq, attempts = 0, last_error = NULL",
            {"doc": doc_id, "status": status, "at": at.isoformat()},
        )
        self.wanted.set()

    def pending(self) -> list[tuple[str, str, int]]:
        """Queued status writes, oldest first: (doc id, status, attempts)."""
        with self.database.reading() as db:
            rows = db.execute(
                "SELECT doc_id, status, attempts FROM es_status_outbox ORDER BY seq"
            ).fetchall()
        return [(d, s, int(n)) for d, s, n in rows]

    def flush_outbox(self) -> int:
        """Send queued status writes; raises :class:`SinkError` if Elasticsearch is down.

        A write Elasticsearch refuses is kept and counted; after :data:`MAX_ATTEMPTS`
        it is dropped with an error in the log (the local state stays as it is).
        """
        with self.database.reading() as db:
            rows = db.execute(
                "SELECT doc_id, status, at, seq, attempts FROM es_status_outbox ORDER BY seq"
            ).fetchall()
        sent = 0
        for doc_id, status, at, seq, attempts in rows:
            try:
                found = self.source.set_status(doc_id, status, at=datetime.fromisoformat(at))
            except SinkError as exc:
                if exc.retryable:
                    raise
                self._failed(doc_id, seq, int(attempts) + 1, str(exc))
                continue
            if not found:
                log.warning(
                    "elasticsearch has no post %s; its status %s stays local", doc_id, status
                )
            elif self.status_sink is not None:
                post = self.store.get(doc_id)
                if post is not None:  # raises a retryable SinkError: the row is sent again
                    self.status_sink.publish(
                        doc_id, post.post.author.id, status, datetime.fromisoformat(at)
                    )
            self._sent(doc_id, seq)
            sent += 1
        return sent

    def _sent(self, doc_id: str, seq: int) -> None:
        with self.database.transaction() as db:  # a newer action on the post keeps its row
            db.execute("DELETE FROM es_status_outbox WHERE doc_id = ? AND seq = ?", (doc_id, seq))

    def _failed(self, doc_id: str, seq: int, attempts: int, error: str) -> None:
        if attempts >= MAX_ATTEMPTS:
            log.error("status of %s dropped after %d refusals: %s", doc_id, attempts, error)
            self._sent(doc_id, seq)
            return
        log.warning("status of %s not written (attempt %d): %s", doc_id, attempts, error)
        with self.database.transaction() as db:
            db.execute(
                "UPDATE es_status_outbox SET attempts = ?, last_error = ? "
                "WHERE doc_id = ? AND seq = ?",
                (attempts, error[:500], doc_id, seq),
            )

    # -- pull ----------------------------------------------------------------------------------

    def check(self) -> None:
        """Raise :class:`SinkError` unless Elasticsearch answers."""
        self.source.ping()

    def sync(self) -> SyncReport:
        """Send the outbox, then copy changed posts and alerts; errors are :class:`SinkError`."""
        report = SyncReport()
        report.statuses_sent = self.flush_outbox()
        created_from = self.now() - self.window
        self._pull(POSTS, created_from, report)
        self._pull(ALERTS, created_from, report)
        self._pull(TOMBSTONES, created_from, report)
        return report

    def cursor(self, feed: str) -> ChangeKey | None:
        """Where the last sync of ``feed`` (posts or alerts) stopped."""
        with self.database.reading() as db:
            row = db.execute(
                "SELECT changed_ms, last_id FROM es_mirror_cursor WHERE feed = ?", (feed,)
            ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def _pull(self, feed: str, created_from: datetime, report: SyncReport) -> None:
        cursor = self.cursor(feed)
        after: ChangeKey | None = None
        if cursor is None:
            since_ms = 0
        elif self.monotonic() - self._moved_at.get(feed, self._started) > self.overlap_ms / 1000:
            since_ms, after = cursor[0], cursor  # settled: nothing can still appear behind it
        else:
            since_ms = max(0, cursor[0] - self.overlap_ms)
        while True:
            if feed == POSTS:
                posts = self.source.changed_posts(
                    since_ms=since_ms, after=after, created_from=created_from, size=self.page_size
                )
                keys = [c.key for c in posts]
                if posts:
                    self._apply_posts(posts, report)
            elif feed == TOMBSTONES:
                gone = self.source.changed_tombstones(
                    since_ms=since_ms, after=after, size=self.page_size
                )
                keys = [c.key for c in gone]
                if gone:
                    report.posts_deleted += self.store.delete_posts([g.deleted for g in gone])
            else:
                alerts = self.source.changed_alerts(
                    since_ms=since_ms, after=after, created_from=created_from, size=self.page_size
                )
                keys = [c.key for c in alerts]
                if alerts:
                    report.alerts_new += len(self.store.write_alerts([a.alert for a in alerts]))
            if not keys:
                return
            report.pages += 1
            after = keys[-1]
            if cursor is None or after > cursor:
                cursor = after
                self._save_cursor(feed, cursor)
                self._moved_at[feed] = self.monotonic()
            if len(keys) < self.page_size:
                return

    def _apply_posts(self, page: Sequence[ChangedPost], report: SyncReport) -> None:
        """Write new and changed posts; take over Elasticsearch's status where nobody acted."""
        latest = {c.post.doc_id: (c.post, c.status) for c in page if c.post is not None}
        local = self._local(list(latest))
        changed = [
            post
            for doc_id, (post, _) in latest.items()
            if local.get(doc_id, (None, None))[0] != post.model_dump_json()
        ]
        self.store.write_posts(changed)
        report.posts_written += len(changed)
        adopt = [
            {"doc": doc_id, "status": status}
            for doc_id, (_, status) in latest.items()
            if local.get(doc_id, (None, "open"))[1] != status
        ]
        if adopt:
            with self.database.transaction() as db:
                for params in adopt:
                    report.statuses_taken += db.execute(_ADOPT_STATUS, params).rowcount

    def _local(self, doc_ids: list[str]) -> dict[str, tuple[str, str]]:
        found: dict[str, tuple[str, str]] = {}
        with self.database.reading() as db:
            for start in range(0, len(doc_ids), 500):
                chunk = doc_ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT doc_id, doc, status FROM posts WHERE doc_id IN ({marks})"
                found.update((d, (doc, status)) for d, doc, status in db.execute(sql, chunk))
        return found

    def _save_cursor(self, feed: str, key: ChangeKey) -> None:
        with self.database.transaction() as db:
            db.execute(
                "INSERT INTO es_mirror_cursor (feed, changed_ms, last_id, synced_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (feed) DO UPDATE SET "
                "changed_ms = excluded.changed_ms, last_id = excluded.last_id, "
                "synced_at = excluded.synced_at",
                (feed, key[0], key[1], self.now().isoformat()),
            )


class MirrorLoop:
    """Runs :meth:`EsMirror.sync` in a background thread, with backoff while it fails.

    ``on_change`` (the live feed's ``notify``) is called after a sync that changed the
    working copy, and when Elasticsearch becomes unreachable or reachable again, so the
    browsers refetch the queue and the notice.
    """

    def __init__(
        self,
        mirror: EsMirror,
        *,
        poll_s: float = 0.5,
        max_backoff_s: float = 30.0,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.mirror = mirror
        self.poll_s = poll_s
        self.max_backoff_s = max_backoff_s
        self._backoff = Backoff(initial_s=poll_s, maximum_s=max_backoff_s, jitter=0.0)
        self.on_change = on_change
        self.unreachable_since: datetime | None = None
        self.failures = 0
        self.syncs = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="es-mirror", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.mirror.wanted.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def close(self) -> None:
        """Stop the thread and release the mirror's connections (the server's shutdown)."""
        self.stop()
        self.mirror.close()

    def notice(self) -> str | None:
        """The line the UI shows while Elasticsearch is unreachable (no URL, no secret)."""
        since = self.unreachable_since
        if since is None:
            return None
        return f"Elasticsearch onbereikbaar sinds {since:%H:%M:%S} UTC — dit is de laatste kopie"

    def run_once(self) -> float:
        """One sync; returns the seconds to wait before the next one."""
        try:
            report = self.mirror.sync()
        except SinkError as exc:
            self.failures += 1
            delay = self._backoff.wait_for(self.failures)
            log.warning("elasticsearch sync failed (%s); retrying in %.1fs", exc, delay)
            if self.unreachable_since is None:
                self.unreachable_since = utc_now()
                self._changed()
            return delay
        except Exception:  # a bug must not end the loop: the app would go stale silently
            self.failures += 1
            log.exception("elasticsearch sync crashed")
            return self._backoff.wait_for(self.failures)
        self.syncs += 1
        self.failures = 0
        if self.unreachable_since is not None:
            log.warning("elasticsearch reachable again")
            self.unreachable_since = None
            self._changed()
        elif report.changed:
            self._changed()
        return self.poll_s

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def _run(self) -> None:
        while not self._stop.is_set():
            delay = self.run_once()
            self.mirror.wanted.wait(timeout=delay)
            self.mirror.wanted.clear()
