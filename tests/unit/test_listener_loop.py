"""The listen loop's commit path: publish first, checkpoint after, flush on stop."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from klachtradar.contract import Author, RawPost
from klachtradar.errors import SinkError
from listener.checkpoint import CheckpointStore
from listener.dedupe import RecentIds
from listener.loop import ListenLoop
from listener.source import Record


def post(n: int) -> RawPost:
    return RawPost(
        source="test",
        post_id=str(n),
        text="KPN",
        created_at="2026-11-23T09:00:00Z",
        author=Author(id="a", handle="a"),
    )


class ScriptedSource:
    """Yields the given chunks; the checkpoint is the number of posts yielded."""

    name = "scripted"

    def __init__(self, chunks: list[list[Record]], stop_after: int | None = None) -> None:
        self._chunks = chunks
        self.yielded = 0
        self.stop_after = stop_after

    def chunks(self, stop: threading.Event) -> Iterator[list[Record]]:
        for i, chunk in enumerate(self._chunks):
            if stop.is_set():
                return
            self.yielded += len(chunk)
            yield chunk
            if self.stop_after is not None and i + 1 >= self.stop_after:
                stop.set()  # as a signal handler would, while the source is reading

    def checkpoint(self) -> dict[str, Any] | None:
        return {"yielded": self.yielded}


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[Record]] = []
        self.fail = fail

    def __call__(self, records: Sequence[Record]) -> None:
        if self.fail:
            raise SinkError("broker down", retryable=True)
        self.batches.append(list(records))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CheckpointStore]:
    with CheckpointStore(tmp_path / "ck.db") as checkpoints:
        yield checkpoints


def test_batches_are_published_when_full_and_the_rest_at_the_end(store: CheckpointStore) -> None:
    source = ScriptedSource([[post(1), post(2)], [post(3)], [], [post(4), post(5)]])
    publish = Recorder()
    stats = ListenLoop(source, publish, store, batch_size=3, flush_interval_s=3600).run(
        threading.Event()
    )
    assert [[r.post_id for r in b] for b in publish.batches if isinstance(b[0], RawPost)] == [
        ["1", "2", "3"],
        ["4", "5"],
    ]
    assert stats.posts == 5
    assert store.load("scripted") == {"yielded": 5}


def test_an_idle_tick_flushes_once_the_interval_has_passed(store: CheckpointStore) -> None:
    now = iter([0.0, 0.1, 5.0, 5.1])
    publish = Recorder()
    loop = ListenLoop(
        ScriptedSource([[post(1)], []]),
        publish,
        store,
        batch_size=100,
        flush_interval_s=1.0,
        monotonic=lambda: next(now),
    )
    loop.run(threading.Event())
    assert len(publish.batches) == 1 and loop.stats.checkpoints >= 2


def test_a_stop_request_flushes_what_is_pending_and_saves_the_checkpoint(
    store: CheckpointStore,
) -> None:
    source = ScriptedSource([[post(1)], [post(2)], [post(3)]], stop_after=2)
    publish = Recorder()
    ListenLoop(source, publish, store, batch_size=100, flush_interval_s=3600).run(threading.Event())
    assert [r.post_id for b in publish.batches for r in b if isinstance(r, RawPost)] == ["1", "2"]
    assert store.load("scripted") == {"yielded": 2}


def test_when_publishing_fails_the_checkpoint_is_not_saved(store: CheckpointStore) -> None:
    source = ScriptedSource([[post(1)]])
    with pytest.raises(SinkError):
        ListenLoop(source, Recorder(fail=True), store, batch_size=1).run(threading.Event())
    assert store.load("scripted") is None


class AckingSource(ScriptedSource):
    """A scripted source whose senders wait (like the webhook): it notes what it is told."""

    def __init__(self, chunks: list[list[Record]]) -> None:
        super().__init__(chunks)
        self.outcomes: list[str] = []

    def published(self) -> None:
        self.outcomes.append(f"published up to {self.yielded}")

    def publish_failed(self, error: BaseException) -> None:
        self.outcomes.append(f"failed up to {self.yielded}: {error}")


class FailsOnce(Recorder):
    def __call__(self, records: Sequence[Record]) -> None:
        if not self.fail:
            self.fail = True
            raise SinkError("broker down", retryable=True)
        self.batches.append(list(records))


def test_an_acknowledged_source_is_published_after_every_chunk_and_told_so() -> None:
    source = AckingSource([[post(1)], [], [post(2), post(3)]])
    publish = Recorder()
    ListenLoop(source, publish, None, batch_size=100, flush_interval_s=3600).run(threading.Event())
    assert [[r.post_id for r in b if isinstance(r, RawPost)] for b in publish.batches] == [
        ["1"],
        ["2", "3"],
    ]
    assert source.outcomes == ["published up to 1", "published up to 3"]


def test_a_failed_publish_is_reported_to_an_acknowledged_source_and_the_run_goes_on() -> None:
    source = AckingSource([[post(1)], [post(2)]])
    publish = FailsOnce()
    stats = ListenLoop(source, publish, None, batch_size=100).run(threading.Event())
    assert source.outcomes == ["failed up to 1: broker down", "published up to 2"]
    assert [[r.post_id for r in b if isinstance(r, RawPost)] for b in publish.batches] == [["2"]]
    assert stats.posts == 1


def test_checkpoints_survive_reopening_the_file(tmp_path: Path) -> None:
    with CheckpointStore(tmp_path / "ck.db") as first:
        first.save("x", {"since_id": "10"})
        first.save("x", {"since_id": "12"})
    with CheckpointStore(tmp_path / "ck.db") as second:
        assert second.load("x") == {"since_id": "12"}
        assert second.load("bluesky") is None


def test_recent_ids_forget_the_oldest_beyond_capacity() -> None:
    seen = RecentIds(capacity=2)
    assert seen.add("a") and seen.add("b") and not seen.add("a")
    seen.add("c")  # evicts "b", the least recently seen
    assert "a" in seen and "b" not in seen and len(seen) == 2
