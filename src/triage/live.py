"""The live feed behind the SSE endpoint: notice store changes, tell every browser.

Whoever writes the store — the pipeline in this process (``serve --demo``), another
``klachtradar`` process, or an agent's action — the feed notices it the same way: a
poll of SQLite's ``PRAGMA data_version`` (which changes when *another* connection
commits) every ``poll_s``. A writer in this process also calls :meth:`ChangeFeed.notify`
to wake the poll at once and to record when the batch was written; that write time is
the alert's *arrival*, which the browser test compares with the moment the card shows.

Events carry ids and kinds, never post text: browsers fetch rendered (escaped) HTML.
A post deleted at its source shows up as a new row in the store's ``tombstones``; the
event names it in ``removed``, and the browser's refetch no longer contains its card.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

_MAX_ARRIVALS = 5_000
_SUBSCRIBER_BACKLOG = 100


@dataclass(frozen=True, slots=True)
class Change:
    """One SSE event: what changed and when it arrived (epoch ms)."""

    arrived_ms: int
    alerts: list[dict[str, str | None]]
    removed: list[str] = field(default_factory=list)
    """Doc ids of posts deleted since the last event (their cards must go)."""

    @property
    def incident(self) -> bool:
        return any(a["kind"] != "post" for a in self.alerts)

    def as_sse(self) -> str:
        body = {
            "arrived_ms": self.arrived_ms,
            "alerts": self.alerts,
            "incident": self.incident,
            "removed": self.removed,
        }
        return f"event: change\ndata: {json.dumps(body)}\n\n"


class ChangeFeed:
    """Polls the store for changes and fans them out to subscriber queues."""

    def __init__(self, path: Path | str, *, poll_s: float = 0.25) -> None:
        self.path = path
        self.poll_s = poll_s
        self._db = sqlite3.connect(str(path), timeout=10.0, check_same_thread=False)
        self._version = self._data_version()
        self._alert_cursor = self._max_rowid("alerts")
        self._tombstone_cursor = self._max_rowid("tombstones")
        self._arrivals: OrderedDict[str, int] = OrderedDict()
        self._pending_write_ms: int | None = None
        self._lock = threading.Lock()
        self._subscribers: set[asyncio.Queue[Change | None]] = set()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed = False

    # -- writers ---------------------------------------------------------------------------

    def notify(self, written_at: float | None = None) -> None:
        """A writer in this process committed; thread-safe."""
        written_ms = int((written_at or time.time()) * 1000)
        with self._lock:
            if self._pending_write_ms is None:
                self._pending_write_ms = written_ms
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed at shutdown
                loop.call_soon_threadsafe(wake.set)

    # -- readers ---------------------------------------------------------------------------

    def arrival_ms(self, doc_id: str) -> int | None:
        """When the alert for this post arrived (epoch ms), if it did while serving."""
        with self._lock:
            return self._arrivals.get(doc_id)

    def subscribe(self) -> asyncio.Queue[Change | None]:
        queue: asyncio.Queue[Change | None] = asyncio.Queue(maxsize=_SUBSCRIBER_BACKLOG)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Change | None]) -> None:
        self._subscribers.discard(queue)

    # -- the loop --------------------------------------------------------------------------

    async def run(self) -> None:
        """Poll until :meth:`close`; runs as a task of the web server's event loop."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        while not self.closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
            self._wake.clear()
            change = self.check()
            if change is not None:
                self._publish(change)

    def check(self) -> Change | None:
        """One poll: a :class:`Change` if the store changed since the last one."""
        version = self._data_version()
        with self._lock:
            written_ms, self._pending_write_ms = self._pending_write_ms, None
        if version == self._version and written_ms is None:
            return None
        self._version = version
        arrived = written_ms or int(time.time() * 1000)
        rows = self._db.execute(
            "SELECT rowid, kind, brand, priority, doc FROM alerts WHERE rowid > ? ORDER BY rowid",
            (self._alert_cursor,),
        ).fetchall()
        alerts: list[dict[str, str | None]] = []
        for rowid, kind, brand, priority, doc in rows:
            self._alert_cursor = max(self._alert_cursor, rowid)
            body = json.loads(doc)
            doc_id = body.get("doc_id")
            alerts.append({"kind": kind, "brand": brand, "priority": priority, "doc_id": doc_id})
            if doc_id:
                self._remember(doc_id, arrived)
        return Change(arrived, alerts, self._removed())

    def _removed(self) -> list[str]:
        """Doc ids tombstoned since the last check (none when the table is not there yet)."""
        try:
            rows = self._db.execute(
                "SELECT rowid, doc_id FROM tombstones WHERE rowid > ? ORDER BY rowid",
                (self._tombstone_cursor,),
            ).fetchall()
        except sqlite3.OperationalError:  # a store file from before deletes existed
            return []
        if rows:
            self._tombstone_cursor = int(rows[-1][0])
        return [str(doc_id) for _, doc_id in rows]

    def _remember(self, doc_id: str, arrived: int) -> None:
        with self._lock:
            self._arrivals.setdefault(doc_id, arrived)
            while len(self._arrivals) > _MAX_ARRIVALS:
                self._arrivals.popitem(last=False)

    def _publish(self, change: Change) -> None:
        for queue in list(self._subscribers):
            if queue.full():  # a stalled browser: drop its oldest, it refetches anyway
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(change)

    def close(self) -> None:
        """Stop the loop and wake every subscriber so their streams end."""
        self.closed = True
        for queue in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)
        if self._loop is not None and self._wake is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._wake.set)

    def _data_version(self) -> int:
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def _max_rowid(self, table: str) -> int:
        try:
            row = self._db.execute(f"SELECT coalesce(max(rowid), 0) FROM {table}").fetchone()
        except sqlite3.OperationalError:  # no such table yet
            return 0
        return int(row[0])
