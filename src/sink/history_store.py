"""The embedded author-history backend: complaints and triage resolutions from SQLite.

It reads the store's own ``posts`` table (complaints are posts with intent
``klacht``; ``status = 'resolved'`` is the triage side's answer), so there is no second
copy of the data. To hear about resolutions *while* a stream runs — the triage UI is
another process — a trigger on ``posts`` appends every change to ``resolved`` to a small
``history_resolutions`` log, and :meth:`SqliteHistoryBackend.resolved_since_last`
reads the log from the last sequence number it saw.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from klachtradar.errors import SinkError
from sink.store import EmbeddedStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS history_resolutions (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS history_on_resolve
AFTER UPDATE OF status ON posts
WHEN NEW.status = 'resolved' AND OLD.status IS NOT 'resolved'
BEGIN
    INSERT INTO history_resolutions (doc_id) VALUES (NEW.doc_id);
END;
"""


class SqliteHistoryBackend:
    """:class:`enrich.history.HistoryBackend` over the embedded store's database file."""

    def __init__(self, path: Path | str) -> None:
        EmbeddedStore(path).close()  # make sure the posts table exists
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False)
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT coalesce(max(seq), 0) FROM history_resolutions")
            self._seen = int(row.fetchone()[0])
        except sqlite3.Error as exc:
            raise SinkError(f"{path}: cannot open the history ({exc})", retryable=False) from exc
        self.path = path

    def load(self) -> Iterator[tuple[str, str, str, datetime, bool]]:
        """Every stored complaint, per brand: (author, brand, doc id, created, resolved)."""
        store = EmbeddedStore(self.path)
        try:
            yield from store.complaint_history()
        finally:
            store.close()

    def resolved_since_last(self) -> list[str]:
        """Doc ids resolved since the previous call (or since this backend was opened)."""
        try:
            rows = self._db.execute(
                "SELECT seq, doc_id FROM history_resolutions WHERE seq > ? ORDER BY seq",
                (self._seen,),
            ).fetchall()
        except sqlite3.Error as exc:
            raise SinkError(f"history read failed: {exc}", retryable=True) from exc
        if rows:
            self._seen = int(rows[-1][0])
        return [doc_id for _, doc_id in rows]

    def close(self) -> None:
        """Close the connection."""
        self._db.close()
