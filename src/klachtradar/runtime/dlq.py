"""The dead-letter topic: read it, and re-drive its letters once their cause is fixed.

``list`` reads the whole topic without a consumer group (it changes nothing).
``replay`` consumes it in its own group (``<prefix>-dlq-replay``), so each letter is
re-driven once: the original bytes go back to the topic they came from (a letter from
a file goes to the raw topic), the group commits after the producer acknowledged
them, and a letter that fails again simply comes back as a new dead letter.
"""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from klachtradar.contract import DeadLetter, parse_raw_post
from klachtradar.errors import ContractError
from klachtradar.runtime.kafka_transport import KafkaTransport, client_config, format_position
from klachtradar.runtime.runner import TRACE_HEADER, new_trace_id
from klachtradar.runtime.transport import Message, OutgoingMessage


@dataclass(frozen=True, slots=True)
class StoredLetter:
    """A dead letter and where it sits in the DLQ topic."""

    position: str
    letter: DeadLetter


def read_all(transport: KafkaTransport, *, idle_s: float = 2.0) -> Iterator[StoredLetter]:
    """Every letter in the DLQ topic, partition by partition, until ``idle_s`` of silence.

    Reading stops on silence rather than at the reported end offsets, because some
    Kafka-protocol brokers (tansu) report end offsets that are too low.
    """
    from kafka import KafkaConsumer, TopicPartition

    topic = transport.topics.dlq
    consumer = KafkaConsumer(**client_config(transport.settings), enable_auto_commit=False)
    try:
        partitions = sorted(consumer.partitions_for_topic(topic) or ())
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < idle_s:
            batches = consumer.poll(timeout_ms=200)
            for tp, records in batches.items():
                quiet_since = time.monotonic()
                for record in records:
                    yield StoredLetter(
                        format_position(tp.partition, record.offset),
                        _letter(record.value or b""),
                    )
    finally:
        consumer.close(autocommit=False)


def _letter(value: bytes) -> DeadLetter:
    try:
        return DeadLetter.model_validate_json(value)
    except ValueError as exc:  # a foreign message in our DLQ: show it, don't crash
        return DeadLetter(
            origin="?",
            position="?",
            stage="dlq",
            error=f"not a dead letter: {str(exc).splitlines()[0]}",
            raw=value.decode("utf-8", errors="replace"),
        )


def original_bytes(letter: DeadLetter) -> bytes:
    """The bytes that failed, exactly (``raw_base64`` when ``raw`` is lossy)."""
    if letter.raw_base64 is not None:
        return base64.b64decode(letter.raw_base64)
    return letter.raw.encode("utf-8")


def replay_target(letter: DeadLetter, transport: KafkaTransport) -> str:
    """Where a letter is re-driven: its origin topic, else (a file line) the raw topic."""
    topics = transport.topics
    return letter.origin if letter.origin in (topics.raw, topics.scored) else topics.raw


def redrive_message(letter: DeadLetter) -> OutgoingMessage:
    """The message that re-drives a letter: original bytes, keyed by author when parseable."""
    value = original_bytes(letter)
    key: str | None = None
    with contextlib.suppress(ContractError):
        key = parse_raw_post(value).author.id
    headers = {"replayed_from": letter.stage, TRACE_HEADER: new_trace_id()}
    return OutgoingMessage(key=key, value=value, headers=headers)


@dataclass
class ReplayReport:
    """What a replay did, per target topic."""

    replayed: dict[str, int]
    skipped: int = 0


def replay(
    transport: KafkaTransport,
    *,
    group: str,
    stages: Sequence[str] = (),
    idle_s: float = 2.0,
    join_s: float = 15.0,
) -> ReplayReport:
    """Re-drive every letter not yet replayed by ``group`` (optionally only some stages).

    Per batch: produce the originals → flush → commit the DLQ offsets, the same
    at-least-once order as ``process``. Ends after ``idle_s`` without letters, or
    ``join_s`` if none came at all (joining a group can take seconds).
    """
    report = ReplayReport(replayed={})
    topic = transport.topics.dlq
    quiet_since = time.monotonic()
    patience = join_s
    while time.monotonic() - quiet_since < patience:
        messages = transport.poll(topic, group, max_records=500, timeout_s=0.5)
        if not messages:
            continue
        quiet_since, patience = time.monotonic(), idle_s
        for target, outgoing in _redrive_batch(messages, transport, stages, report):
            transport.produce(target, outgoing)
        transport.flush()
        transport.commit(topic, group, messages)
    return report


def _redrive_batch(
    messages: Sequence[Message],
    transport: KafkaTransport,
    stages: Sequence[str],
    report: ReplayReport,
) -> Iterator[tuple[str, list[OutgoingMessage]]]:
    by_target: dict[str, list[OutgoingMessage]] = {}
    for message in messages:
        letter = _letter(message.value)
        if (stages and letter.stage not in stages) or letter.stage == "dlq":
            report.skipped += 1
            continue
        target = replay_target(letter, transport)
        by_target.setdefault(target, []).append(redrive_message(letter))
        report.replayed[target] = report.replayed.get(target, 0) + 1
    yield from by_target.items()
