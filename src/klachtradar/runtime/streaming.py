"""The long-running loops behind ``klachtradar listen``, ``process`` and ``index``.

Each loop repeats one step of :mod:`klachtradar.runtime.runner` until it is told to stop, and
owns what a step cannot: stopping gracefully (SIGTERM / Ctrl-C end the current batch,
commit, leave the group), backing off while the broker is away, and reading a failed
batch again instead of skipping it. The loops know the transport only through its
interface, so they run the same on :class:`~klachtradar.runtime.transport.InMemoryTransport`.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import FrameType

from klachtradar.backoff import Backoff
from klachtradar.contract import DeadLetter
from klachtradar.errors import SinkError, TransportError
from klachtradar.ports import PipelineOutput, Record
from klachtradar.runtime.post_sinks import PostSink
from klachtradar.runtime.runner import listen_step
from klachtradar.runtime.stream_metrics import StreamMetrics
from klachtradar.runtime.transport import Topics, Transport, dead_letter_message

log = logging.getLogger("klachtradar.stream")


class StopSignal:
    """Set once by SIGTERM/SIGINT (or a test); loops check it between batches.

    ``wait`` doubles as an interruptible sleep, so a backoff never delays shutdown.
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if stopped meanwhile."""
        return self._event.wait(seconds)

    def install(self) -> None:
        """Turn SIGTERM and SIGINT into a graceful stop (main thread only)."""

        def handler(signum: int, frame: FrameType | None) -> None:
            log.info("stopping", extra={"fields": {"signal": signal.Signals(signum).name}})
            self.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


@dataclass
class LoopStats:
    """What a loop did, for its last log line and for tests."""

    messages: int = 0
    batches: int = 0
    retries: int = 0
    elapsed_s: float = 0.0


@dataclass
class TransportPublisher:
    """A listener's publisher (``listener.loop.Publish``) for production: posts to the raw
    topic keyed by author, dead letters to the DLQ; flushes each batch."""

    transport: Transport
    topics: Topics = field(default_factory=Topics)

    def __call__(self, records: Sequence[Record]) -> None:
        listen_step(records, self.transport, self.topics)


def run_listen(
    batches: Iterable[Sequence[Record]],
    transport: Transport,
    topics: Topics,
    *,
    stop: StopSignal,
    metrics: StreamMetrics | None = None,
    backoff: Backoff | None = None,
) -> LoopStats:
    """Publish a source's batches to the raw topic until it ends or ``stop`` is set.

    A batch whose publication fails for a reason that may pass (the broker is away)
    is published again after a backoff (its messages may then reach the topic twice —
    harmless, ids are deterministic). Records the broker refuses for good are
    dead-lettered by :func:`listen_step` without a retry; any other non-retryable
    error (bad credentials, the DLQ refusing a letter) ends the loop with it.
    """
    backoff = backoff or Backoff()
    stats = LoopStats()
    started = time.perf_counter()
    for batch in batches:
        while not stop.is_set():
            try:
                listen_step(batch, transport, topics)
                break
            except TransportError as exc:
                if not exc.retryable:
                    raise
                _back_off("listen", exc, transport, topics.raw, "", stop, backoff, stats, metrics)
        if stop.is_set():
            break
        backoff.reset()
        stats.messages += len(batch)
        stats.batches += 1
        if metrics is not None:
            metrics.posts.labels("listen").inc(len(batch))
    stats.elapsed_s = time.perf_counter() - started
    return stats


def run_consumer(
    step: Callable[[], int],
    transport: Transport,
    *,
    name: str,
    topic: str,
    group: str,
    stop: StopSignal,
    metrics: StreamMetrics | None = None,
    backoff: Backoff | None = None,
    lag_probe: Callable[[], dict[int, int]] | None = None,
    lag_every_s: float = 5.0,
    exit_when_idle_s: float | None = None,
) -> LoopStats:
    """Run a consumer step (``process_step``/``index_step``) until stopped.

    Per iteration: run the step (poll → work → output → commit); on a retryable
    failure rewind the transport to the last safe offsets and back off; every
    ``lag_every_s`` refresh the lag gauge. Only a non-retryable transport error (bad
    credentials, a broken commit invariant) ends the loop with an exception.
    """
    backoff = backoff or Backoff()
    stats = LoopStats()
    started = last_lag = last_message = time.monotonic()
    while not stop.is_set():
        batch_started = time.perf_counter()
        try:
            handled = step()
        except (TransportError, SinkError) as exc:
            if isinstance(exc, TransportError) and not exc.retryable:
                raise
            _back_off(name, exc, transport, topic, group, stop, backoff, stats, metrics)
            continue
        except Exception as exc:  # a bug in a stage or sink must not kill the stream
            log.exception("step failed", extra={"fields": {"step": name}})
            _back_off(name, exc, transport, topic, group, stop, backoff, stats, metrics)
            continue
        backoff.reset()
        now = time.monotonic()
        if handled:
            last_message = now
            stats.messages += handled
            stats.batches += 1
            if metrics is not None:
                metrics.consumed.labels(topic, group).inc(handled)
                metrics.posts.labels(name).inc(handled)
                metrics.batch_seconds.labels(name).observe(time.perf_counter() - batch_started)
        if lag_probe is not None and metrics is not None and now - last_lag >= lag_every_s:
            last_lag = now
            try:
                metrics.set_lag(topic, group, lag_probe())
            except TransportError as exc:
                log.warning("lag unavailable", extra={"fields": {"error": str(exc)}})
        if exit_when_idle_s is not None and now - last_message >= exit_when_idle_s:
            log.info("idle, exiting", extra={"fields": {"step": name, "idle_s": exit_when_idle_s}})
            break
    stats.elapsed_s = time.monotonic() - started
    return stats


def _back_off(
    name: str,
    exc: Exception,
    transport: Transport,
    topic: str,
    group: str,
    stop: StopSignal,
    backoff: Backoff,
    stats: LoopStats,
    metrics: StreamMetrics | None,
) -> None:
    """Rewind to the last safe offsets, then wait; the batch is done again afterwards."""
    delay = backoff.delay()
    stats.retries += 1
    if metrics is not None:
        metrics.retries.labels(name).inc()
    log.warning(
        "batch failed, retrying",
        extra={
            "fields": {
                "step": name,
                "error": f"{type(exc).__name__}: {exc}",
                "retry_in_s": round(delay, 2),
            }
        },
    )
    transport.rewind(topic, group)
    stop.wait(delay)


class TopicDeadLetters:
    """Dead letters to the DLQ topic, acknowledged before the caller goes on."""

    def __init__(self, transport: Transport, topics: Topics) -> None:
        self.transport = transport
        self.topics = topics

    def write(self, letters: Sequence[DeadLetter]) -> None:
        if letters:
            self.transport.produce(self.topics.dlq, [dead_letter_message(d) for d in letters])
            self.transport.flush()


class IndexOutputs:
    """What ``klachtradar index`` writes: dead letters to the DLQ, deletes and posts to the sinks.

    Dead letters go first (acknowledged), then every sink, deletes before posts;
    :func:`index_step` commits only after this returns, so a sink failure means the
    batch is read again.
    """

    def __init__(self, sinks: Sequence[PostSink], dead_letters: TopicDeadLetters) -> None:
        self.sinks = sinks
        self.dead_letters = dead_letters

    def write(self, output: PipelineOutput) -> None:
        self.dead_letters.write(output.dead_letters)
        for sink in self.sinks:
            sink.delete_posts(output.deleted)
            sink.write_posts(output.scored)
