"""Checkpoints: where each source stopped, so a restart resumes instead of losing posts.

One small SQLite file (``[listen] checkpoint_path``, default ``var/listener.db``), one
row per source, the value a JSON object the source defines (X: ``since_id``; Jetstream:
``cursor`` in microseconds plus the URIs inside the overlap window; Mastodon:
``since_id``). The listen loop saves a checkpoint only after the posts it covers were
published, so a crash means redelivery (harmless: ids are deterministic), never loss.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from klachtradar.contract import utc_now
from klachtradar.errors import SourceError

State = dict[str, Any]


class CheckpointStore:
    """Reads and writes one JSON state per source name in a SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS checkpoints ("
                " source TEXT PRIMARY KEY, state TEXT NOT NULL, saved_at TEXT NOT NULL)"
            )
            self._db.commit()
        except (OSError, sqlite3.Error) as exc:
            raise SourceError(f"{path}: cannot open the checkpoint file ({exc})") from exc

    def load(self, source: str) -> State | None:
        """The last saved state of ``source``, or None when it never ran."""
        row = self._db.execute(
            "SELECT state FROM checkpoints WHERE source = ?", (source,)
        ).fetchone()
        if row is None:
            return None
        state = json.loads(row[0])
        return state if isinstance(state, dict) else None

    def save(self, source: str, state: State) -> None:
        """Replace the state of ``source`` atomically (one SQLite transaction)."""
        with self._db:
            self._db.execute(
                "INSERT INTO checkpoints (source, state, saved_at) VALUES (?, ?, ?) "
                "ON CONFLICT(source) DO UPDATE SET state = excluded.state, "
                "saved_at = excluded.saved_at",
                (source, json.dumps(state, sort_keys=True), utc_now().isoformat()),
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> CheckpointStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
