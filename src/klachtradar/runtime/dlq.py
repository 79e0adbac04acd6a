"""The dead-letter topic: read it, and re-drive its letters once their cause is fixed.

``list`` reads the whole topic without a consumer group (it changes nothing).
``replay`` consumes it in its own group (``<prefix>-dlq-replay``) in **one bounded
pass**: it notes the DLQ's end offset per partition when it starts and reads only up
to there, so what it (or a ``process`` failing the re-driven input again) dead-letters
during the run is left for the next replay instead of being read, re-driven and
dead-lettered again in a loop. Each letter's original bytes go back to the topic they
came from (a letter from a file goes to the raw topic) with its attempt count in a
header; the group commits after the producer acknowledged them.

A letter is skipped (and counted by reason) when

* ``--stage`` names other stages;
* its input already failed again after ``max_attempts`` replays (``attempts`` counts
  failures: 1, plus one per replay that failed again);
* its bytes are not valid UTF-8: they can never become a post, so re-driving them
  would only dead-letter them once more (and an old letter without ``raw_base64``
  holds only a lossy U+FFFD copy, which must never be "repaired" into a document);
* it keeps only a prefix of its input (an oversized post: ``raw_size`` and
  ``raw_sha256`` name the original, which the letter does not hold);
* it is not a dead letter at all (a foreign message in the topic).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from klachtradar.contract import NOT_UTF8, DeadLetter, parse_raw_post, raw_fields, utf8_error
from klachtradar.errors import ContractError
from klachtradar.runtime.kafka_transport import KafkaTransport, client_config, format_position
from klachtradar.runtime.runner import ATTEMPTS_HEADER, TRACE_HEADER, new_trace_id
from klachtradar.runtime.transport import Message, OutgoingMessage, Topics, Transport

if TYPE_CHECKING:
    from kafka import KafkaConsumer, TopicPartition

log = logging.getLogger("klachtradar.runtime.dlq")


@dataclass(frozen=True, slots=True)
class StoredLetter:
    """A dead letter and where it sits in the DLQ topic."""

    position: str
    letter: DeadLetter


def read_all(transport: KafkaTransport, *, idle_s: float = 2.0) -> Iterator[StoredLetter]:
    """Every letter in the DLQ topic, partition by partition, until ``idle_s`` of silence.

    Reading stops on silence rather than at the reported end offsets, because some
    Kafka-protocol brokers (tansu) report end offsets that are too low (see
    :func:`end_offsets`).
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
        raw, raw_base64 = raw_fields(value)
        return DeadLetter(
            origin="?",
            position="?",
            stage="dlq",
            error=f"not a dead letter: {str(exc).splitlines()[0]}",
            raw=raw,
            raw_base64=raw_base64,
        )


def original_bytes(letter: DeadLetter) -> bytes:
    """The bytes that failed, exactly (``raw_base64`` when ``raw`` is lossy)."""
    import base64

    if letter.raw_base64 is not None:
        return base64.b64decode(letter.raw_base64)
    return letter.raw.encode("utf-8")


def has_invalid_bytes(letter: DeadLetter) -> bool:
    """Whether a letter's input is not UTF-8, so no replay can ever make it a post.

    A letter written before every intake kept ``raw_base64`` may hold only the lossy
    U+FFFD copy; its error (``not UTF-8 at byte N``) still says so.
    """
    if letter.raw_base64 is not None:
        return utf8_error(original_bytes(letter)) is not None
    return letter.error.startswith(NOT_UTF8)


def replay_target(letter: DeadLetter, topics: Topics) -> str:
    """Where a letter is re-driven: its origin topic, else (a file line) the raw topic."""
    return letter.origin if letter.origin in (topics.raw, topics.scored) else topics.raw


def redrive_message(letter: DeadLetter) -> OutgoingMessage:
    """The message that re-drives a letter: original bytes, keyed by author when parseable.

    Its ``dlq_attempts`` header lets the stage that fails it again record one more.
    """
    value = original_bytes(letter)
    key: str | None = None
    with contextlib.suppress(ContractError):
        key = parse_raw_post(value).author.id
    headers = {
        "replayed_from": letter.stage,
        ATTEMPTS_HEADER: str(letter.attempts),
        TRACE_HEADER: new_trace_id(),
    }
    return OutgoingMessage(key=key, value=value, headers=headers)


class SkipReason(StrEnum):
    """Why a replay left a letter alone."""

    STAGE = "stage filter"
    MAX_ATTEMPTS = "max attempts reached"
    INVALID_BYTES = "invalid bytes"
    TRUNCATED = "only a prefix kept"
    NOT_A_LETTER = "not a dead letter"


def skip_reason(
    letter: DeadLetter, *, stages: Sequence[str], max_attempts: int
) -> SkipReason | None:
    """Why a letter is not re-driven, or None to re-drive it.

    ``max_attempts`` is the number of replays an input gets: a letter has had
    ``attempts - 1`` of them, so it is re-driven while ``attempts <= max_attempts``.
    """
    if letter.stage == "dlq":
        return SkipReason.NOT_A_LETTER
    if stages and letter.stage not in stages:
        return SkipReason.STAGE
    if letter.truncated:  # an oversized post: the bytes to re-drive are not in the letter
        return SkipReason.TRUNCATED
    if has_invalid_bytes(letter):
        return SkipReason.INVALID_BYTES
    if letter.attempts > max_attempts:
        return SkipReason.MAX_ATTEMPTS
    return None


@dataclass
class ReplayReport:
    """What a replay did: letters re-driven per target topic, skipped per reason."""

    replayed: dict[str, int] = field(default_factory=dict)
    skipped: dict[SkipReason, int] = field(default_factory=dict)
    complete: bool = False
    """True when the pass reached the DLQ's end offsets; False when it stopped on silence."""
    dry_run: bool = False

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    @property
    def replayed_total(self) -> int:
        return sum(self.replayed.values())

    def lines(self) -> list[str]:
        """The summary ``dlq replay`` prints."""
        verb = "would replay" if self.dry_run else "replayed"
        out = [f"{verb} {count} → {topic}" for topic, count in sorted(self.replayed.items())]
        if not self.replayed:
            out.append(f"{verb} 0")
        out.append(f"skipped {self.skipped_total}")
        out += [f"  {count} {reason.value}" for reason, count in sorted(self.skipped.items())]
        if not self.complete:
            out.append("stopped on silence before the pass's end offsets (letters left unread)")
        return out


def _partition_offset(position: str) -> tuple[int, int]:
    """(partition, offset) of a Kafka ``"3/1042"`` or an in-memory ``"1042"`` position."""
    partition, sep, offset = position.partition("/")
    return (int(partition), int(offset)) if sep else (0, int(partition))


@dataclass
class ReplayPass:
    """The extent of one replay: from the group's position to the DLQ's end at the start.

    ``start`` and ``end`` are per partition; ``reached`` is where reading got to. A
    message at or beyond ``end`` was dead-lettered after the pass began: it is neither
    re-driven nor committed, so the next replay reads it.
    """

    start: dict[int, int]
    end: dict[int, int]
    reached: dict[int, int] = field(default_factory=dict)

    def includes(self, message: Message) -> bool:
        partition, offset = _partition_offset(message.position)
        return offset < self.end.get(partition, 0)

    def advance(self, message: Message) -> None:
        partition, offset = _partition_offset(message.position)
        self.reached[partition] = max(self.reached.get(partition, 0), offset + 1)

    @property
    def done(self) -> bool:
        """Every partition read up to its end offset (an empty DLQ is done at once)."""
        return all(
            max(self.reached.get(p, 0), self.start.get(p, 0)) >= end for p, end in self.end.items()
        )


def replay(
    transport: KafkaTransport,
    *,
    group: str,
    stages: Sequence[str] = (),
    max_attempts: int = 1,
    dry_run: bool = False,
    idle_s: float = 2.0,
    join_s: float = 15.0,
) -> ReplayReport:
    """One bounded replay pass over the Kafka DLQ (see :func:`replay_pass`)."""
    bounds = kafka_pass(transport, group)
    log.info(
        "dlq replay pass",
        extra={"fields": {"group": group, "start": bounds.start, "end": bounds.end}},
    )
    return replay_pass(
        transport,
        transport.topics,
        bounds,
        group=group,
        stages=stages,
        max_attempts=max_attempts,
        dry_run=dry_run,
        idle_s=idle_s,
        join_s=join_s,
    )


def replay_pass(
    transport: Transport,
    topics: Topics,
    bounds: ReplayPass,
    *,
    group: str,
    stages: Sequence[str] = (),
    max_attempts: int = 1,
    dry_run: bool = False,
    idle_s: float = 2.0,
    join_s: float = 15.0,
) -> ReplayReport:
    """Re-drive the letters of one pass that ``group`` has not replayed yet.

    Per batch: produce the originals of the letters within ``bounds`` → flush → commit
    those, the same at-least-once order as ``process``. Ends when ``bounds`` is done;
    also after ``idle_s`` without letters (``join_s`` if none came at all: joining a
    group can take seconds), for partitions that never reach their end (another
    replay in the same group owns them, or retention removed the letters). A dry run
    reads and counts but neither produces nor commits.
    """
    report = ReplayReport(dry_run=dry_run)
    quiet_since = time.monotonic()
    patience = join_s
    while not bounds.done and time.monotonic() - quiet_since < patience:
        messages = transport.poll(topics.dlq, group, max_records=500, timeout_s=0.5)
        within = [m for m in messages if bounds.includes(m)]
        if not within:
            continue
        quiet_since, patience = time.monotonic(), idle_s
        outgoing = _redrive_batch(within, topics, stages, max_attempts, report)
        if not dry_run:
            for target, batch in outgoing.items():
                transport.produce(target, batch)
            transport.flush()
            transport.commit(topics.dlq, group, within)
        for message in within:
            bounds.advance(message)
    report.complete = bounds.done
    return report


def _redrive_batch(
    messages: Sequence[Message],
    topics: Topics,
    stages: Sequence[str],
    max_attempts: int,
    report: ReplayReport,
) -> dict[str, list[OutgoingMessage]]:
    """The re-drive messages of a batch by target topic; counts into ``report``."""
    by_target: dict[str, list[OutgoingMessage]] = {}
    for message in messages:
        letter = _letter(message.value)
        reason = skip_reason(letter, stages=stages, max_attempts=max_attempts)
        if reason is not None:
            report.skipped[reason] = report.skipped.get(reason, 0) + 1
            continue
        target = replay_target(letter, topics)
        by_target.setdefault(target, []).append(redrive_message(letter))
        report.replayed[target] = report.replayed.get(target, 0) + 1
    return by_target


# -- where a pass ends, on Kafka ------------------------------------------------------------


def kafka_pass(transport: KafkaTransport, group: str, *, timeout_s: float = 10.0) -> ReplayPass:
    """The pass a replay in ``group`` makes now: committed offsets → end offsets.

    Taken with a consumer that is assigned the partitions but does not join the group
    (so it causes no rebalance); ``committed`` only asks the group coordinator.
    """
    from kafka import KafkaConsumer, TopicPartition

    topic = transport.topics.dlq
    consumer = KafkaConsumer(
        **client_config(transport.settings),
        group_id=group,
        enable_auto_commit=False,
        fetch_max_wait_ms=100,
    )
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            return ReplayPass(start={}, end={})
        consumer.assign(tps)
        beginning = consumer.beginning_offsets(tps)
        start = {tp.partition: max(consumer.committed(tp) or 0, beginning[tp] or 0) for tp in tps}
        end = end_offsets(consumer, tps, beginning, timeout_s=timeout_s)
        return ReplayPass(start=start, end={tp.partition: end[tp] for tp in tps})
    finally:
        consumer.close(autocommit=False)


def end_offsets(
    consumer: KafkaConsumer,
    tps: Sequence[TopicPartition],
    beginning: dict[TopicPartition, int],
    *,
    timeout_s: float,
) -> dict[TopicPartition, int]:
    """The offset after the last message of each partition, right now.

    ``consumer.end_offsets`` (a ListOffsets request) is not enough: tansu answers with
    the base offset of the partition's last record *batch* plus one, so when the last
    produce put several letters in one batch it reports too low — e.g. 1 for a
    partition of 10 letters produced in one flush (measured; noida-db answers right).
    A fetch response's high watermark is right on both, so each partition is fetched
    once from just before the listed end, and the higher of the two is taken. A
    partition whose fetch does not answer within ``timeout_s`` keeps the listed end:
    the pass then ends early (letters are left for the next replay), never late.
    """
    listed = consumer.end_offsets(list(tps))
    for tp in tps:
        consumer.seek(tp, max(beginning[tp] or 0, (listed[tp] or 0) - 1))
    deadline = time.monotonic() + timeout_s
    while any(consumer.highwater(tp) is None for tp in tps) and time.monotonic() < deadline:
        consumer.poll(timeout_ms=200)
    ends: dict[TopicPartition, int] = {}
    for tp in tps:
        fetched = consumer.highwater(tp)
        if fetched is None:
            log.warning(
                "no high watermark for a DLQ partition; using the listed end offset",
                extra={"fields": {"partition": tp.partition, "listed": listed[tp]}},
            )
        ends[tp] = max(listed[tp] or 0, fetched or 0)
    return ends
