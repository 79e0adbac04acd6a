"""Clocks for the triage app: wall time in production, stream time in a replay.

"Time waiting" and SLA timers compare a post's ``created_at`` with *now*. When a
six-week demo stream is replayed in twenty seconds, wall-clock now would make every
post weeks old; :class:`StreamClock` instead follows the replay: now is the newest
event time written so far, ticking on at normal speed from there.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Protocol

from klachtradar.contract import utc_now


class Clock(Protocol):
    """Where the app's *now* comes from."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    """Wall time."""

    def now(self) -> datetime:
        return utc_now()


class StreamClock:
    """Event time of a replay: the newest event seen, plus real time elapsed since.

    Never goes backwards, so a late (out-of-order) event does not rewind the timers.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._event_time = start or utc_now()
        self._set_at = time.monotonic()

    def now(self) -> datetime:
        with self._lock:
            return self._event_time + timedelta(seconds=time.monotonic() - self._set_at)

    def advance_to(self, event_time: datetime) -> None:
        """Move now to ``event_time`` if that is later than the current now."""
        with self._lock:
            current = self._event_time + timedelta(seconds=time.monotonic() - self._set_at)
            if event_time > current:
                self._event_time = event_time
                self._set_at = time.monotonic()
