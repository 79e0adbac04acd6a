"""The outbox: every message to send, and what has been sent, in one SQLite file.

A message is written here (``pending``) in the same transaction that records the
alert as seen, before anything is sent; the delivery loop sends pending rows in
order and marks each ``sent`` or ``dead`` only after the channel answered. So:

* a crash before the mark leaves the row ``pending``: it is sent again after the
  restart, with the same ``delivery_id`` (a receiver can drop the repeat);
* a crash after the mark sends nothing again;
* an alert seen twice (Kafka redelivers after a crash) finds its dedup row and
  adds nothing.

The tables also hold the state that dedup, threads, digests and the escalation
ladder need, so a restarted notifier carries on where it stopped.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from klachtradar.errors import SinkError
from notify.message import Message

_SCHEMA = """
CREATE TABLE IF NOT EXISTS notify_seen (
    route TEXT NOT NULL, key TEXT NOT NULL, priority TEXT NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY (route, key)
);
CREATE TABLE IF NOT EXISTS notify_outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id  TEXT NOT NULL UNIQUE,
    route        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    alert_id     TEXT,
    brand        TEXT,
    priority     TEXT,
    thread_key   TEXT,
    opens_thread INTEGER NOT NULL DEFAULT 0,
    counted      INTEGER NOT NULL DEFAULT 1,
    message      TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'pending',
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      TEXT NOT NULL,
    error        TEXT,
    created_at   TEXT NOT NULL,
    sent_at      TEXT
);
CREATE INDEX IF NOT EXISTS notify_pending ON notify_outbox (status, route, id);
CREATE INDEX IF NOT EXISTS notify_rate ON notify_outbox (route, created_at) WHERE counted = 1;
CREATE INDEX IF NOT EXISTS notify_thread ON notify_outbox (route, thread_key)
    WHERE opens_thread = 1;
CREATE TABLE IF NOT EXISTS notify_threads (
    route TEXT NOT NULL, thread_key TEXT NOT NULL, ref TEXT,
    PRIMARY KEY (route, thread_key)
);
CREATE TABLE IF NOT EXISTS notify_open_incidents (
    route TEXT NOT NULL, brand TEXT NOT NULL, thread_key TEXT NOT NULL, since TEXT NOT NULL,
    PRIMARY KEY (route, brand)
);
CREATE TABLE IF NOT EXISTS notify_digest (
    route TEXT NOT NULL, brand TEXT NOT NULL, priority TEXT NOT NULL,
    count INTEGER NOT NULL, first_at TEXT NOT NULL, reason TEXT NOT NULL,
    PRIMARY KEY (route, brand, priority)
);
CREATE TABLE IF NOT EXISTS notify_escalations (
    doc_id TEXT PRIMARY KEY, brand TEXT, alert TEXT NOT NULL, started_at TEXT NOT NULL,
    step INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL DEFAULT 'running'
);
"""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One message in the outbox."""

    id: int
    delivery_id: str
    route: str
    kind: str
    alert_id: str | None
    brand: str | None
    priority: str | None
    thread_key: str | None
    opens_thread: bool
    message: Message
    status: str
    attempts: int
    next_at: datetime
    error: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class Escalation:
    """An unclaimed P1 on its way up the ladder (``step`` rungs done)."""

    doc_id: str
    brand: str | None
    alert_json: str
    started_at: datetime
    step: int


@dataclass(frozen=True, slots=True)
class Digest:
    """Alerts of one brand and priority a route held back, and why."""

    route: str
    brand: str
    priority: str
    count: int
    first_at: datetime
    reason: str


_COLUMNS = (
    "id, delivery_id, route, kind, alert_id, brand, priority, thread_key, opens_thread, "
    "message, status, attempts, next_at, error, created_at, sent_at"
)


def _row(r: tuple[object, ...]) -> OutboxRow:
    return OutboxRow(
        id=int(str(r[0])),
        delivery_id=str(r[1]),
        route=str(r[2]),
        kind=str(r[3]),
        alert_id=None if r[4] is None else str(r[4]),
        brand=None if r[5] is None else str(r[5]),
        priority=None if r[6] is None else str(r[6]),
        thread_key=None if r[7] is None else str(r[7]),
        opens_thread=bool(r[8]),
        message=Message.from_json(json.loads(str(r[9]))),
        status=str(r[10]),
        attempts=int(str(r[11])),
        next_at=datetime.fromisoformat(str(r[12])),
        error=None if r[13] is None else str(r[13]),
        created_at=datetime.fromisoformat(str(r[14])),
        sent_at=None if r[15] is None else datetime.fromisoformat(str(r[15])),
    )


class Outbox:
    """The notifier's SQLite file (see the module docstring); thread-safe."""

    def __init__(self, path: Path | str) -> None:
        self.path = path
        if isinstance(path, Path):
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA busy_timeout = 5000")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise SinkError(f"{path}: cannot open the outbox ({exc})", retryable=False) from exc
        self._lock = threading.RLock()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[None]:
        """One atomic step: everything inside is written, or nothing.

        ``durable`` (queueing alerts): the commit is on disk before it returns, even
        across a power loss, because the caller commits Kafka offsets next. Delivery
        marks are not durable (``synchronous = NORMAL``): a process crash keeps them,
        a power loss may lose the last few, and those messages go out again under the
        same delivery id. That fsync is most of an alert's added latency.
        """
        with self._lock:
            self._db.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- dedup -------------------------------------------------------------------------------

    def seen(self, route: str, key: str) -> str | None:
        """The priority ``key`` was last sent with on ``route``, or None."""
        row = self._db.execute(
            "SELECT priority FROM notify_seen WHERE route = ? AND key = ?", (route, key)
        ).fetchone()
        return None if row is None else str(row[0])

    def remember(self, route: str, key: str, priority: str, at: datetime) -> None:
        self._db.execute(
            "INSERT INTO notify_seen VALUES (?, ?, ?, ?) ON CONFLICT (route, key) "
            "DO UPDATE SET priority = excluded.priority, at = excluded.at",
            (route, key, priority, at.isoformat()),
        )

    # -- the queue ---------------------------------------------------------------------------

    def add(
        self,
        *,
        delivery_id: str,
        route: str,
        kind: str,
        message: Message,
        at: datetime,
        alert_id: str | None = None,
        thread_key: str | None = None,
        opens_thread: bool = False,
        counted: bool = True,
        not_before: datetime | None = None,
    ) -> bool:
        """Queue a message; False when that delivery id is already queued."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO notify_outbox (delivery_id, route, kind, alert_id, brand, "
            "priority, thread_key, opens_thread, counted, message, next_at, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                delivery_id,
                route,
                kind,
                alert_id,
                message.brand or None,
                message.priority or None,
                thread_key,
                int(opens_thread),
                int(counted),
                json.dumps(message.to_json(), ensure_ascii=False),
                (not_before or at).isoformat(),
                at.isoformat(),
            ),
        )
        return cursor.rowcount == 1

    def counted_since(self, route: str, since: datetime) -> int:
        """Messages of ``route`` that count against its rate limit, queued since ``since``."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM notify_outbox WHERE route = ? AND counted = 1 "
            "AND created_at >= ?",
            (route, since.isoformat()),
        ).fetchone()
        return int(row[0])

    def pending(self, *, limit: int = 500) -> list[OutboxRow]:
        """Pending messages, due or not: per route the first ``limit`` in the order they
        were queued (a route that is down cannot crowd out the others)."""
        routes = [
            str(r[0])
            for r in self._db.execute(
                "SELECT DISTINCT route FROM notify_outbox WHERE status = 'pending' ORDER BY route"
            )
        ]
        rows: list[OutboxRow] = []
        for route in routes:
            rows += [
                _row(r)
                for r in self._db.execute(
                    f"SELECT {_COLUMNS} FROM notify_outbox WHERE status = 'pending' "
                    "AND route = ? ORDER BY id LIMIT ?",
                    (route, limit),
                )
            ]
        return rows

    def recent(self, limit: int = 50) -> list[OutboxRow]:
        """The newest messages, newest first (``klachtradar alerts list``)."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM notify_outbox ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [_row(r) for r in rows]

    def mark_sent(self, row: OutboxRow, at: datetime, ref: str | None) -> None:
        with self.transaction(durable=False):
            self._db.execute(
                "UPDATE notify_outbox SET status = 'sent', attempts = attempts + 1, "
                "sent_at = ?, error = NULL WHERE id = ?",
                (at.isoformat(), row.id),
            )
            if row.opens_thread and row.thread_key:
                self._db.execute(
                    "INSERT OR REPLACE INTO notify_threads VALUES (?, ?, ?)",
                    (row.route, row.thread_key, ref),
                )

    def mark_retry(self, row: OutboxRow, next_at: datetime, error: str) -> None:
        with self.transaction(durable=False):
            self._db.execute(
                "UPDATE notify_outbox SET attempts = attempts + 1, next_at = ?, error = ? "
                "WHERE id = ?",
                (next_at.isoformat(), error, row.id),
            )

    def mark_dead(self, row: OutboxRow, error: str) -> None:
        with self.transaction(durable=False):
            self._db.execute(
                "UPDATE notify_outbox SET status = 'dead', attempts = attempts + 1, error = ? "
                "WHERE id = ?",
                (error, row.id),
            )

    # -- threads and incidents ---------------------------------------------------------------

    def thread_ref(self, route: str, thread_key: str) -> str | None:
        row = self._db.execute(
            "SELECT ref FROM notify_threads WHERE route = ? AND thread_key = ?",
            (route, thread_key),
        ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def thread_headline(self, route: str, thread_key: str) -> str:
        """The headline of the message that opened a thread ("vervolg op …")."""
        row = self._db.execute(
            "SELECT message FROM notify_outbox WHERE route = ? AND thread_key = ? "
            "AND opens_thread = 1 ORDER BY id LIMIT 1",
            (route, thread_key),
        ).fetchone()
        return "" if row is None else str(json.loads(str(row[0])).get("headline", ""))

    def open_incident(self, route: str, brand: str, thread_key: str, since: datetime) -> None:
        """An incident's thread takes the brand's posts written from ``since`` on."""
        self._db.execute(
            "INSERT OR REPLACE INTO notify_open_incidents VALUES (?, ?, ?, ?)",
            (route, brand, thread_key, since.isoformat()),
        )

    def incident_thread(self, route: str, brand: str, written: datetime) -> str | None:
        """The open incident thread a post of ``brand`` written at ``written`` belongs in."""
        row = self._db.execute(
            "SELECT thread_key FROM notify_open_incidents WHERE route = ? AND brand = ? "
            "AND since <= ?",
            (route, brand, written.isoformat()),
        ).fetchone()
        return None if row is None else str(row[0])

    def close_incident(self, route: str, brand: str, thread_key: str) -> None:
        self._db.execute(
            "DELETE FROM notify_open_incidents WHERE route = ? AND brand = ? AND thread_key = ?",
            (route, brand, thread_key),
        )

    # -- digests -----------------------------------------------------------------------------

    def hold(self, route: str, brand: str, priority: str, at: datetime, reason: str) -> None:
        """Count one alert into the route's digest instead of sending it."""
        self._db.execute(
            "INSERT INTO notify_digest VALUES (?, ?, ?, 1, ?, ?) "
            "ON CONFLICT (route, brand, priority) DO UPDATE SET count = count + 1",
            (route, brand, priority, at.isoformat(), reason),
        )

    def digests(self) -> list[Digest]:
        rows = self._db.execute(
            "SELECT route, brand, priority, count, first_at, reason FROM notify_digest "
            "ORDER BY first_at, route, brand, priority"
        ).fetchall()
        return [
            Digest(
                str(r[0]), str(r[1]), str(r[2]), int(r[3]), datetime.fromisoformat(r[4]), str(r[5])
            )
            for r in rows
        ]

    def drop_digest(self, digest: Digest) -> None:
        self._db.execute(
            "DELETE FROM notify_digest WHERE route = ? AND brand = ? AND priority = ?",
            (digest.route, digest.brand, digest.priority),
        )

    # -- escalations -------------------------------------------------------------------------

    def start_escalation(
        self, doc_id: str, brand: str | None, alert_json: str, at: datetime
    ) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO notify_escalations (doc_id, brand, alert, started_at) "
            "VALUES (?, ?, ?, ?)",
            (doc_id, brand, alert_json, at.isoformat()),
        )

    def running_escalations(self) -> list[Escalation]:
        rows = self._db.execute(
            "SELECT doc_id, brand, alert, started_at, step FROM notify_escalations "
            "WHERE state = 'running' ORDER BY started_at"
        ).fetchall()
        return [
            Escalation(
                str(r[0]),
                None if r[1] is None else str(r[1]),
                str(r[2]),
                datetime.fromisoformat(r[3]),
                int(r[4]),
            )
            for r in rows
        ]

    def escalation_state(self, doc_id: str) -> tuple[str, int] | None:
        row = self._db.execute(
            "SELECT state, step FROM notify_escalations WHERE doc_id = ?", (doc_id,)
        ).fetchone()
        return None if row is None else (str(row[0]), int(row[1]))

    def withdraw(self, doc_ids: Sequence[str]) -> int:
        """Posts deleted at their source: their unsent post messages are withdrawn (never
        sent) and their escalations stopped. Returns the messages withdrawn. A message
        already sent cannot be taken back from a chat; the card it links to is gone."""
        alert_ids = [f"post:{doc}:P{rank}" for doc in doc_ids for rank in range(1, 5)]
        withdrawn = 0
        with self.transaction():
            for start in range(0, len(alert_ids), 400):
                chunk = alert_ids[start : start + 400]
                marks = ",".join("?" * len(chunk))
                withdrawn += self._db.execute(
                    "UPDATE notify_outbox SET status = 'withdrawn', error = 'post deleted' "
                    f"WHERE status = 'pending' AND alert_id IN ({marks})",
                    chunk,
                ).rowcount
            self._db.executemany(
                "UPDATE notify_escalations SET state = 'withdrawn' "
                "WHERE doc_id = ? AND state = 'running'",
                [(doc,) for doc in doc_ids],
            )
        return withdrawn

    def set_escalation(self, doc_id: str, *, step: int, state: str) -> None:
        self._db.execute(
            "UPDATE notify_escalations SET step = ?, state = ? WHERE doc_id = ?",
            (step, state, doc_id),
        )
