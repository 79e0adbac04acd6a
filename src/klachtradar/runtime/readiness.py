"""Readiness of a streaming process: the named things it must have done before it serves.

A stream process is *alive* as soon as it runs, but *ready* only when it can take a
message and answer for it: its model is loaded, its judge workers have started and its
consumer group has assigned it partitions. Tests, docker-compose and an orchestrator
wait for that moment instead of sleeping and hoping (a start-up that takes 11 s on a
cold machine broke a test that assumed 3). Each condition is marked once; when the last
one is, the process logs one ``ready`` line with the seconds since start and when each
condition was met, and ``/ready`` on the metrics port turns 200.

>>> ready = Readiness("process", ["model loaded", "partitions assigned"])
>>> ready.mark("model loaded"); ready.is_ready
False
>>> ready.mark("partitions assigned"); ready.is_ready
True
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("klachtradar.ready")


class Readiness:
    """Conditions of one process (see the module docstring); thread-safe, marks idempotent.

    ``started`` is the process's start on the monotonic clock (default: now); pass the
    time taken before the heavy imports so the ``ready`` line counts them too.
    """

    def __init__(
        self, role: str, conditions: Sequence[str], *, started: float | None = None
    ) -> None:
        if not conditions:
            raise ValueError("a readiness needs at least one condition")
        self.role = role
        self.started = time.monotonic() if started is None else started
        self._pending = list(dict.fromkeys(conditions))
        self._met: dict[str, float] = {}
        self._lock = threading.Lock()
        self._ready = threading.Event()

    def mark(self, condition: str) -> None:
        """Condition met (again: no effect); the last one logs ``ready``."""
        with self._lock:
            if condition in self._met:
                return
            if condition not in self._pending:
                raise ValueError(f"{self.role}: unknown readiness condition {condition!r}")
            self._pending.remove(condition)
            self._met[condition] = round(time.monotonic() - self.started, 3)
            done = not self._pending
        if done:
            self._ready.set()
            log.info("ready", extra={"fields": self.status()})

    @property
    def is_ready(self) -> bool:
        return self._ready.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until ready (True) or ``timeout`` seconds passed (False)."""
        return self._ready.wait(timeout)

    def status(self) -> dict[str, Any]:
        """What ``/ready`` answers and the ``ready`` line carries."""
        with self._lock:
            return {
                "role": self.role,
                "ready": not self._pending,
                "seconds": max(self._met.values(), default=0.0) if not self._pending else None,
                "met": dict(self._met),
                "waiting_for": list(self._pending),
            }


def process_started() -> float:
    """When this process was launched, on the :func:`time.monotonic` clock.

    Read from ``/proc/self/stat`` (start time in clock ticks since boot) against
    ``CLOCK_BOOTTIME``, so the ``ready`` line counts the interpreter's start and the
    imports too, not just what ran after ``main``. Elsewhere: now.
    """
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started_s = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - started_s
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic()
    return time.monotonic() - max(0.0, age)
