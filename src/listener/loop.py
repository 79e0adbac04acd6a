"""The listen loop: chunks from a source → batches → publish → save the checkpoint.

The commit path is :meth:`ListenLoop._flush`, and its order is the invariant:

1. publish the pending records (transport produce + flush, or print in --dry-run),
   posts larger than ``max_post_bytes`` turned into dead letters first;
2. only then save the source's checkpoint, which covers exactly those records.

A crash between 1 and 2 re-reads a little on restart (ids make that harmless); the
reverse order could lose posts. Ctrl-C and SIGTERM set a stop flag instead of raising
mid-flight, so the source ends cleanly and the final flush runs.

An :class:`~listener.source.AcknowledgedSource` (the webhook, whose HTTP clients wait
for the answer) is published after every non-empty chunk and told the outcome; a failed
publish is reported to it (its clients get a 503 and retry) instead of ending the run.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

from klachtradar.contract import DEFAULT_MAX_POST_BYTES, DeletedPost, RawPost, limit_post_sizes
from listener.checkpoint import CheckpointStore
from listener.source import AcknowledgedSource, Record, Source

log = logging.getLogger(__name__)

Publish = Callable[[Sequence[Record]], None]


@dataclass
class ListenStats:
    """Counters for the end-of-run line."""

    posts: int = 0
    dead_letters: int = 0
    deletes: int = 0
    batches: int = 0
    checkpoints: int = 0


@dataclass
class ListenLoop:
    """Runs one source until it stops, publishing in batches of ``batch_size``
    or every ``flush_interval_s``, whichever comes first."""

    source: Source
    publish: Publish
    checkpoints: CheckpointStore | None
    batch_size: int = 100
    flush_interval_s: float = 1.0
    max_post_bytes: int = DEFAULT_MAX_POST_BYTES
    """Posts whose JSON is larger become dead letters here, before publishing: one limit
    for every source, so no transport ever sees a post it would refuse."""
    monotonic: Callable[[], float] = time.monotonic
    stats: ListenStats = field(default_factory=ListenStats)
    _pending: list[Record] = field(default_factory=list, init=False)
    _publish_failed: bool = field(default=False, init=False)

    def run(self, stop: threading.Event) -> ListenStats:
        """Consume the source until it ends (it checks ``stop``) or fails; always flush.

        The loop does not break out of the source on ``stop``: the source notices the
        flag at its next tick and ends by itself, after yielding what it still holds
        (the webhook queue), so nothing accepted is dropped.

        If publishing itself fails, the checkpoint is not saved and the error propagates.
        """
        last_flush = self.monotonic()
        awaited = isinstance(self.source, AcknowledgedSource)
        try:
            for chunk in self.source.chunks(stop):
                self._pending.extend(chunk)
                now = self.monotonic()
                full = len(self._pending) >= self.batch_size
                due = now - last_flush >= self.flush_interval_s
                if full or due or (awaited and chunk):
                    self._flush()
                    last_flush = now
        finally:
            if not self._publish_failed:
                self._flush()
        return self.stats

    def _flush(self) -> None:
        """Publish what is pending, then save the checkpoint that covers it.

        If publishing raises, the checkpoint stays where it was (those posts will be
        read again after a restart) and no later flush of this run may move it. An
        acknowledged source is told instead, and the run goes on: its senders resend.
        """
        batch, self._pending = limit_post_sizes(self._pending, self.max_post_bytes), []
        acked = self.source if isinstance(self.source, AcknowledgedSource) else None
        if batch:
            try:
                self.publish(batch)
            except Exception as exc:
                if acked is None:
                    self._publish_failed = True
                    raise
                acked.publish_failed(exc)
                log.warning(
                    "publish failed; %d records refused to their senders: %s", len(batch), exc
                )
                return
            except BaseException as exc:  # Ctrl-C mid-publish: nothing can be promised
                self._publish_failed = True
                if acked is not None:
                    acked.publish_failed(exc)
                raise
            self.stats.batches += 1
            posts = sum(isinstance(r, RawPost) for r in batch)
            deletes = sum(isinstance(r, DeletedPost) for r in batch)
            self.stats.posts += posts
            self.stats.deletes += deletes
            self.stats.dead_letters += len(batch) - posts - deletes
            if acked is not None:
                acked.published()
        state = self.source.checkpoint()
        if state is not None and self.checkpoints is not None:
            self.checkpoints.save(self.source.name, state)
            self.stats.checkpoints += 1


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[threading.Event]:
    """Ctrl-C (SIGINT) and SIGTERM set ``stop`` while inside the block.

    A second Ctrl-C raises KeyboardInterrupt as usual, for a source that hangs.
    Only the main thread can install handlers; elsewhere this is a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        log.info("signal %s: stopping after the current batch", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
