"""The triage tables, kept in the embedded store's SQLite file beside ``posts``.

The pipeline owns ``posts`` and ``alerts``; triage adds:

* ``triage_state``    — one row per post an agent touched: assignee, snooze, answer time;
* ``triage_actions``  — the audit log, every action with user and time, append-only;
* ``triage_feedback`` — label corrections, the training data of the next model.

The triage side writes ``posts.status`` too, because that column is what the store's
own queries (``top``, ``complaint_history``) read. One connection, one lock: the web
server calls in from worker threads while the pipeline writes through its own
connection (SQLite WAL lets both proceed).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from klachtradar.errors import SinkError
from sink.store import EmbeddedStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS triage_state (
    doc_id        TEXT PRIMARY KEY,
    assignee      TEXT,
    claimed_at    TEXT,
    snoozed_until TEXT,
    responded_at  TEXT,
    resolved_by   TEXT,
    updated_at    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS triage_actions (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id  TEXT NOT NULL,
    action  TEXT NOT NULL,
    user    TEXT NOT NULL,
    at      TEXT NOT NULL,
    detail  TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS triage_actions_doc ON triage_actions (doc_id, id);
CREATE TABLE IF NOT EXISTS triage_feedback (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id    TEXT NOT NULL,
    user      TEXT NOT NULL,
    at        TEXT NOT NULL,
    sentiment TEXT NOT NULL,
    intent    TEXT NOT NULL,
    cues      TEXT NOT NULL,
    brand     TEXT,
    text      TEXT NOT NULL,
    predicted TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS triage_feedback_doc ON triage_feedback (doc_id, id);
"""


class TriageDatabase:
    """A locked SQLite connection to the store file, with the triage tables created."""

    def __init__(self, path: Path | str) -> None:
        EmbeddedStore(path).close()  # the pipeline's tables exist even before its first write
        self.path = path
        self.lock = threading.RLock()
        try:
            self.db = sqlite3.connect(str(path), timeout=10.0, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise SinkError(
                f"{path}: cannot open the triage tables ({exc})", retryable=False
            ) from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection, locked, inside one transaction (committed on success)."""
        with self.lock, self.db:
            yield self.db

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection, locked, for reads."""
        with self.lock:
            yield self.db

    def close(self) -> None:
        with self.lock:
            self.db.close()
