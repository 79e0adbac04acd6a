"""The long-running loops on the in-memory transport: retry, rewind, stop, nothing lost."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from klachtradar.backoff import Backoff
from klachtradar.contract import RawPost, ScoredPost
from klachtradar.errors import TransportError
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.runtime.runner import process_step
from klachtradar.runtime.streaming import StopSignal, run_consumer, run_listen
from klachtradar.runtime.transport import InMemoryTransport, OutgoingMessage, Topics
from klachtradar.settings import load_settings
from listener.jsonl import read_jsonl

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo" / "stream.jsonl"
TOPICS = Topics("t")


class FlakyTransport(InMemoryTransport):
    """Loses queued output and fails ``flush`` the first ``failures`` times."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self._queued: list[tuple[str, list[OutgoingMessage]]] = []

    def produce(self, topic: str, messages: Sequence[OutgoingMessage]) -> None:
        self._queued.append((topic, list(messages)))

    def flush(self) -> None:
        queued, self._queued = self._queued, []
        if self.failures:
            self.failures -= 1
            raise TransportError("broker away", retryable=True)
        for topic, messages in queued:
            super().produce(topic, messages)

    def rewind(self, topic: str, group: str) -> None:
        self._queued.clear()
        super().rewind(topic, group)


def posts(count: int) -> list[RawPost]:
    found = [r for r in read_jsonl(DEMO) if isinstance(r, RawPost)]
    return found[:count]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    settings = load_settings()
    settings.store.path = tmp_path_factory.mktemp("loops") / "store.db"
    return Pipeline.from_settings(settings)


def no_wait() -> Backoff:
    return Backoff(initial_s=0.0, maximum_s=0.0)


def test_a_batch_whose_output_was_not_acknowledged_is_processed_again_not_skipped(
    pipeline: Pipeline,
) -> None:
    transport = FlakyTransport(failures=0)
    batch = posts(60)
    run_listen([batch[:30], batch[30:]], transport, TOPICS, stop=StopSignal())
    transport.failures = 2

    def step() -> int:
        return process_step(transport, pipeline, TOPICS, group="g", max_records=25)

    stats = run_consumer(
        step,
        transport,
        name="process",
        topic=TOPICS.raw,
        group="g",
        stop=StopSignal(),
        backoff=no_wait(),
        exit_when_idle_s=0.05,
    )
    scored = {
        ScoredPost.model_validate_json(m.value).doc_id for m in transport.messages("t.posts.scored")
    }
    assert scored == {p.doc_id for p in batch}
    assert stats.retries == 2
    assert transport.lag(TOPICS.raw, "g") == 0


def test_listen_publishes_a_batch_again_after_a_failed_flush() -> None:
    transport = FlakyTransport(failures=1)
    batch = posts(5)
    stats = run_listen([batch], transport, TOPICS, stop=StopSignal(), backoff=no_wait())
    raw = [json.loads(m.value)["post_id"] for m in transport.messages(TOPICS.raw)]
    assert raw == [p.post_id for p in batch]
    assert stats.retries == 1


def test_listen_messages_carry_source_and_trace_id_headers() -> None:
    transport = InMemoryTransport()
    run_listen([posts(3)], transport, TOPICS, stop=StopSignal())
    for message in transport.messages(TOPICS.raw):
        assert message.headers["source"]
        assert len(message.headers["trace_id"]) == 32


def test_a_stopped_loop_finishes_without_taking_another_batch() -> None:
    stop = StopSignal()
    taken = []

    def step() -> int:
        taken.append(1)
        stop.set()
        return 1

    run_consumer(step, InMemoryTransport(), name="x", topic="t", group="g", stop=stop)
    assert taken == [1]


def test_an_unexpected_exception_in_a_step_is_retried_not_fatal() -> None:
    calls = []

    def step() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("bug in a sink")
        return 0

    stats = run_consumer(
        step,
        InMemoryTransport(),
        name="x",
        topic="t",
        group="g",
        stop=StopSignal(),
        backoff=no_wait(),
        exit_when_idle_s=0.0,
    )
    assert stats.retries == 1 and len(calls) == 2


def test_a_non_retryable_transport_error_ends_the_loop() -> None:
    def step() -> int:
        raise TransportError("bad credentials", retryable=False)

    with pytest.raises(TransportError, match="credentials"):
        run_consumer(step, InMemoryTransport(), name="x", topic="t", group="g", stop=StopSignal())


def test_backoff_doubles_up_to_its_maximum_and_resets() -> None:
    backoff = Backoff(initial_s=1.0, maximum_s=4.0)
    delays = [backoff.delay() for _ in range(5)]
    for delay, base in zip(delays, [1, 2, 4, 4, 4], strict=True):
        assert 0.8 * base <= delay <= 1.2 * base  # ±20 % jitter
    backoff.reset()
    assert backoff.delay() <= 1.2
