"""Issue 23: an oversized post is one dead letter at every intake, and the rest goes on.

What is specified here: one limit (``[listen] max_post_bytes``) at the file, at the
listen loop of the network sources, and at the raw topic; the letter keeps a prefix,
the size and the SHA-256 (it must itself fit the DLQ); a message the broker refuses
for good is dead-lettered, never retried, and never re-sends the earlier records.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import errors as kafka_errors

from klachtradar.backoff import Backoff
from klachtradar.contract import (
    KEPT_PREFIX_BYTES,
    DeadLetter,
    RawPost,
    limit_post_sizes,
    oversized_letter,
)
from klachtradar.errors import ConfigError
from klachtradar.runtime.dlq import SkipReason, skip_reason
from klachtradar.runtime.kafka_transport import _kafka_error, rejects_record
from klachtradar.runtime.runner import decode_posts
from klachtradar.runtime.streaming import StopSignal, run_listen
from klachtradar.runtime.transport import InMemoryTransport, Message, Topics
from klachtradar.settings import load_settings
from listener.jsonl import JsonlReplay, read_jsonl
from listener.loop import ListenLoop
from listener.source import Record
from tests.conftest import PostFactory

TOPICS = Topics("t")
LIMIT = 64 * 1024
TWO_MIB = 2 * 1024 * 1024


def huge(make_post: PostFactory, post_id: str = "huge") -> RawPost:
    return make_post(text="storing bij KPN " + "x" * TWO_MIB, post_id=post_id)


def test_the_limit_is_64_kib_by_default_and_must_fit_a_kafka_message() -> None:
    settings = load_settings()
    assert settings.listen.max_post_bytes == LIMIT
    assert settings.listen.max_post_bytes <= settings.kafka.max_request_bytes // 2
    with pytest.raises(ConfigError, match="max_post_bytes"):
        load_settings(listen={"max_post_bytes": 800_000})


def test_an_oversized_letter_keeps_a_prefix_its_size_and_hash_not_the_whole_input() -> None:
    data = ("é" * TWO_MIB).encode()  # two bytes a character: the cut must not split one
    letter = oversized_letter("f.jsonl", "line 3", "validate", data, LIMIT)
    assert letter.error == f"post too large: {len(data)} bytes > max_post_bytes {LIMIT}"
    assert letter.raw_size == len(data) and letter.truncated
    assert letter.raw_sha256 == hashlib.sha256(data).hexdigest()
    assert letter.raw == "é" * (KEPT_PREFIX_BYTES // 2) and letter.raw_base64 is None
    assert len(letter.model_dump_json()) < 2 * KEPT_PREFIX_BYTES


def test_a_truncated_letter_is_not_redriven() -> None:
    letter = oversized_letter("f", "line 1", "validate", b"x" * TWO_MIB, LIMIT)
    assert skip_reason(letter, stages=(), max_attempts=1) is SkipReason.TRUNCATED


def test_a_2_mib_line_in_a_file_is_one_dead_letter_and_the_other_lines_are_posts(
    tmp_path: Path, make_post: PostFactory
) -> None:
    small = [make_post(post_id=f"p{i}") for i in range(5)]
    lines = [p.model_dump_json() for p in small[:2]]
    lines += [huge(make_post).model_dump_json()]
    lines += [p.model_dump_json() for p in small[2:]]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    records = list(read_jsonl(path, max_post_bytes=LIMIT))
    assert [r.post_id for r in records if isinstance(r, RawPost)] == [p.post_id for p in small]
    (letter,) = [r for r in records if isinstance(r, DeadLetter)]
    assert letter.position == "line 3" and letter.error.startswith("post too large")
    batches = JsonlReplay(path, batch_size=2, max_post_bytes=LIMIT).batches()
    assert sum(len(b) for b in batches) == 6


def test_posts_from_an_api_are_measured_by_their_json(make_post: PostFactory) -> None:
    records: list[RawPost | DeadLetter] = [make_post(post_id="a"), huge(make_post)]
    kept = limit_post_sizes(records, LIMIT)
    assert isinstance(kept[0], RawPost)
    assert isinstance(kept[1], DeadLetter) and kept[1].position == "x:huge"


class OneChunk:
    """A network source yielding one chunk (the listen loop's view of X or Jetstream)."""

    name = "fake"

    def __init__(self, records: list[Record]) -> None:
        self.records = records

    def chunks(self, stop: threading.Event) -> Iterator[list[Record]]:
        yield self.records

    def checkpoint(self) -> None:
        return None


def test_the_listen_loop_dead_letters_an_oversized_post_of_any_source(
    make_post: PostFactory,
) -> None:
    published: list[Record] = []
    source = OneChunk([make_post(post_id="a"), huge(make_post), make_post(post_id="b")])
    loop = ListenLoop(source, published.extend, None, max_post_bytes=LIMIT)
    stats = loop.run(threading.Event())
    assert [type(r).__name__ for r in published] == ["RawPost", "DeadLetter", "RawPost"]
    assert (stats.posts, stats.dead_letters) == (2, 1)


def test_a_message_the_broker_refuses_is_dead_lettered_once_and_nothing_is_resent(
    make_post: PostFactory,
) -> None:
    """The listen loop with a post that passed no intake limit (a limit set too high):
    the broker's refusal is final for that record, not a retry of the whole batch."""
    transport = InMemoryTransport(max_message_bytes=1024 * 1024)
    first = [make_post(post_id=f"a{i}") for i in range(3)]
    later = [make_post(post_id=f"b{i}") for i in range(3)]
    batches = [[*first, huge(make_post), *later[:1]], later[1:]]
    stats = run_listen(
        batches, transport, TOPICS, stop=StopSignal(), backoff=Backoff(0.0, maximum_s=0.0)
    )
    raw = [json.loads(m.value)["post_id"] for m in transport.messages(TOPICS.raw)]
    assert raw == [p.post_id for p in [*first, *later]]  # each once, in order
    (letter,) = [DeadLetter.model_validate_json(m.value) for m in transport.messages(TOPICS.dlq)]
    assert letter.origin == TOPICS.raw and letter.position == "x:huge"
    assert letter.stage == "publish" and "MessageSizeTooLarge" in letter.error
    assert letter.truncated and letter.raw_size is not None and letter.raw_size > TWO_MIB
    assert stats.retries == 0


def test_an_oversized_raw_message_is_dead_lettered_at_decode(make_post: PostFactory) -> None:
    messages = [
        Message(TOPICS.raw, "a", make_post(post_id="ok").model_dump_json().encode(), "0/1"),
        Message(TOPICS.raw, "a", huge(make_post).model_dump_json().encode(), "0/2"),
    ]
    posts, dead = decode_posts(messages, max_post_bytes=LIMIT)
    assert [p.post_id for p in posts] == ["ok"]
    assert dead[0].position == "0/2" and dead[0].stage == "decode" and dead[0].truncated


@pytest.mark.parametrize(
    "error",
    [
        kafka_errors.MessageSizeTooLargeError("2097152 bytes"),
        kafka_errors.RecordListTooLargeError(),
        kafka_errors.InvalidTopicError(),
    ],
)
def test_record_refusals_are_not_retryable(error: Exception) -> None:
    assert rejects_record(error)
    assert not _kafka_error("produce", error).retryable


def test_a_lost_connection_stays_retryable() -> None:
    error = kafka_errors.KafkaConnectionError("gone")
    assert not rejects_record(error) and _kafka_error("flush", error).retryable


class FakeFuture:
    def __init__(self, exception: Exception | None) -> None:
        self.exception = exception
        self.is_done = True

    def failed(self) -> bool:
        return self.exception is not None


class RefusingProducer:
    """kafka-python's producer as seen by the transport: ``send`` returns a failed
    future for a record over the limit (as ``KafkaProducer.send`` does)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sent: list[bytes] = []

    def send(self, topic: str, *, value: bytes, **_: object) -> FakeFuture:
        if len(value) > self.limit:
            return FakeFuture(kafka_errors.MessageSizeTooLargeError(f"{len(value)} bytes"))
        self.sent.append(value)
        return FakeFuture(None)

    def flush(self, timeout: float) -> None:
        return None


def test_the_kafka_transport_acknowledges_the_rest_and_names_the_refused_record() -> None:
    from klachtradar.runtime.kafka_transport import KafkaTransport
    from klachtradar.runtime.transport import OutgoingMessage, RecordsRejectedError

    produced: list[tuple[str, int]] = []
    transport = KafkaTransport(
        load_settings().kafka, on_produced=lambda topic, n: produced.append((topic, n))
    )
    transport._producer = RefusingProducer(limit=100)  # type: ignore[assignment]
    ok, big = OutgoingMessage("k", b"{}"), OutgoingMessage("k", b"x" * 200)
    transport.produce("t.raw", [ok, big, ok])
    with pytest.raises(RecordsRejectedError) as caught:
        transport.flush()
    assert not caught.value.retryable
    assert [r.message for r in caught.value.rejected] == [big]
    assert produced == [("t.raw", 2)] and transport.unacknowledged == 0
