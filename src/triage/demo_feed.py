"""``serve --demo``: replay a JSONL stream through the real pipeline while serving.

A background thread runs the pipeline it is given (a :class:`DemoPipeline`: the CLI, the
composition root, passes ``run_embedded`` on a live pipeline — the same pipeline and
outputs as ``klachtradar demo``), paced by the posts' own timestamps. After every batch
it moves the :class:`~triage.clock.StreamClock` to the newest event and wakes the
:class:`~triage.live.ChangeFeed`. Resolving a post in the browser marks it in the
pipeline's live author history (under the same lock as a batch), so the author's next
complaint no longer counts the answered ones. The app never imports the runtime.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from klachtradar.ports import Outputs, PipelineOutput
from klachtradar.settings import Settings
from listener.jsonl import JsonlReplay, Record, time_span_seconds
from sink.deadletter import DeadLetterFile
from sink.embedded import EmbeddedOutputs
from sink.store import EmbeddedStore
from triage.clock import StreamClock
from triage.live import ChangeFeed

log = logging.getLogger(__name__)


class DemoPipeline(Protocol):
    """The pipeline as the demo replay drives it (the CLI passes the real one)."""

    def run(self, batches: Iterable[Sequence[Record]], outputs: Outputs) -> None:
        """Process every batch and write each one's output to ``outputs``."""
        ...

    def mark_resolved(self, doc_id: str) -> None:
        """An agent answered the post: its author's history stops counting it as open."""
        ...


DemoPipelineFactory = Callable[[Settings], DemoPipeline]
"""Builds the demo's pipeline from the settings (loads the model)."""


class _NotifyingOutputs:
    """Store outputs that then advance the stream clock and wake the live feed."""

    def __init__(self, inner: EmbeddedOutputs, clock: StreamClock, feed: ChangeFeed) -> None:
        self.inner = inner
        self.clock = clock
        self.feed = feed

    def write(self, output: PipelineOutput) -> None:
        self.inner.write(output)
        if output.scored:
            newest = max(p.post.received_at or p.post.created_at for p in output.scored)
            self.clock.advance_to(newest)
        self.feed.notify(time.time())


class DemoFeed:
    """The replay thread; ``mark_resolved`` is the hook the workflow calls."""

    def __init__(
        self,
        settings: Settings,
        files: list[Path],
        *,
        duration_s: float,
        clock: StreamClock,
        feed: ChangeFeed,
        pipeline: DemoPipeline,
    ) -> None:
        self.settings = settings
        self.files = files
        self.duration_s = duration_s
        self.clock = clock
        self.feed = feed
        self.pipeline = pipeline
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.done = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="klachtradar-demo", daemon=True)
        self._thread.start()

    def mark_resolved(self, doc_id: str) -> None:
        with self._lock:
            self.pipeline.mark_resolved(doc_id)

    def _run(self) -> None:
        try:
            store = EmbeddedStore(self.settings.resolve(self.settings.store.path))
            dead = DeadLetterFile(self.settings.resolve(self.settings.deadletter.path))
            outputs = _NotifyingOutputs(EmbeddedOutputs(store, dead), self.clock, self.feed)
            for path in self.files:
                span = time_span_seconds(path)
                speed = span / self.duration_s if self.duration_s > 0 and span > 0 else None
                source = JsonlReplay(
                    path,
                    speed=speed,
                    batch_size=self.settings.pipeline.batch_size,
                    max_post_bytes=self.settings.listen.max_post_bytes,
                )
                self.pipeline.run(self._locked(source.batches()), outputs)
            store.close()
        except Exception:  # the server keeps serving what was stored
            log.exception("demo replay stopped")
        finally:
            self.done.set()

    def _locked(self, batches: Iterator[list[Record]]) -> Iterator[list[Record]]:
        """Hold the history lock while a batch is processed, not while the replay sleeps."""
        for batch in batches:
            self._lock.acquire()
            try:
                yield batch
            finally:
                self._lock.release()
