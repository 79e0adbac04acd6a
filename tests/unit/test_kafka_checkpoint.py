"""The commit path of a Kafka group member: what is committed when, and what is refused.

The consumer is a stand-in (no broker): these tests pin the bookkeeping; the
integration tests show the same behaviour against a real broker.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.errors import CommitFailedError, KafkaConnectionError

from klachtradar.errors import TransportError, UnsafeCommitError
from klachtradar.runtime.kafka_transport import GroupConsumer, format_position, parse_position

TOPIC = "k.posts.raw"
P0, P1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)


@dataclass
class Record:
    offset: int
    value: bytes = b"{}"
    key: bytes | None = b"author"
    headers: list[tuple[str, bytes]] = field(default_factory=lambda: [("trace_id", b"t1")])


class FakeCoordinator:
    def __init__(self, consumer: FakeConsumer) -> None:
        self.consumer = consumer

    async def _commit_offsets_sync_async(self, offsets: dict[Any, Any], timeout_ms: int) -> None:
        self.consumer.commit(offsets, timeout_ms)


class FakeConsumer:
    def __init__(self, owned: set[TopicPartition]) -> None:
        self.owned = owned
        self.commits: list[dict[TopicPartition, int]] = []
        self.seeks: list[tuple[TopicPartition, int]] = []
        self.fail_commit: Exception | None = None
        self.next_poll: dict[TopicPartition, list[Record]] = {}
        self._coordinator = FakeCoordinator(self)

    def assignment(self) -> set[TopicPartition]:
        return set(self.owned)

    def poll(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Record]]:
        batch, self.next_poll = self.next_poll, {}
        return batch

    def commit(self, offsets: dict[TopicPartition, Any], timeout_ms: int | None = None) -> None:
        if self.fail_commit is not None:
            raise self.fail_commit
        self.commits.append({tp: meta.offset for tp, meta in offsets.items()})

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))


def member_with(records: dict[TopicPartition, list[int]]) -> tuple[GroupConsumer, FakeConsumer]:
    consumer = FakeConsumer({P0, P1})
    member = GroupConsumer(TOPIC, "g", consumer)
    consumer.next_poll = {tp: [Record(o) for o in offsets] for tp, offsets in records.items()}
    return member, consumer


def test_positions_name_partition_and_offset() -> None:
    assert format_position(3, 1042) == "3/1042"
    assert parse_position("3/1042") == (3, 1042)


def test_polled_records_become_messages_with_key_headers_and_position() -> None:
    member, _ = member_with({P1: [7]})
    (message,) = member.poll(max_records=10, timeout_s=0.1)
    assert (message.topic, message.key, message.position) == (TOPIC, "author", "1/7")
    assert message.headers == {"trace_id": "t1"}


def test_commit_moves_each_partition_to_one_past_its_last_offset() -> None:
    member, consumer = member_with({P0: [0, 1, 2], P1: [5]})
    messages = member.poll(max_records=10, timeout_s=0.1)
    member.commit(messages, unacknowledged=0)
    assert consumer.commits == [{P0: 3, P1: 6}]


def test_commit_is_refused_while_output_is_unacknowledged() -> None:
    member, consumer = member_with({P0: [0, 1]})
    messages = member.poll(max_records=10, timeout_s=0.1)
    with pytest.raises(UnsafeCommitError, match="not acknowledged"):
        member.commit(messages, unacknowledged=3)
    assert consumer.commits == []


def test_commit_is_refused_for_offsets_never_delivered() -> None:
    member, _ = member_with({P0: [0, 1]})
    messages = member.poll(max_records=10, timeout_s=0.1)
    forged = [messages[0].__class__(TOPIC, None, b"", "0/9")]
    with pytest.raises(UnsafeCommitError, match="never delivered"):
        member.commit(forged, unacknowledged=0)


def test_a_failed_commit_keeps_the_batch_done_and_the_next_commit_includes_it() -> None:
    member, consumer = member_with({P0: [0, 1]})
    first = member.poll(max_records=10, timeout_s=0.1)
    consumer.fail_commit = KafkaConnectionError("broker away")
    with pytest.raises(TransportError) as failure:
        member.commit(first, unacknowledged=0)
    assert failure.value.retryable
    consumer.fail_commit = None
    consumer.next_poll = {P1: [Record(4)]}
    member.commit(member.poll(max_records=10, timeout_s=0.1), unacknowledged=0)
    assert consumer.commits == [{P0: 2, P1: 5}]


def test_revoked_partitions_get_their_done_offsets_committed_before_they_move() -> None:
    member, consumer = member_with({P0: [0, 1, 2]})
    messages = member.poll(max_records=10, timeout_s=0.1)
    consumer.fail_commit = KafkaConnectionError("coordinator moving")
    with pytest.raises(TransportError):
        member.commit(messages, unacknowledged=0)
    consumer.fail_commit = None
    asyncio.run(member.on_revoked([P0]))
    assert consumer.commits == [{P0: 3}]
    assert member.done == {}


def test_lost_partitions_are_forgotten_without_a_commit() -> None:
    member, consumer = member_with({P0: [0, 1]})
    messages = member.poll(max_records=10, timeout_s=0.1)
    consumer.fail_commit = KafkaConnectionError("gone")
    with pytest.raises(TransportError):
        member.commit(messages, unacknowledged=0)
    member.on_lost([P0])
    consumer.fail_commit = None
    assert member.done == {} and member.delivered_next == {}
    assert consumer.commits == []


def test_a_commit_refused_by_a_rebalance_drops_the_offsets_for_redelivery() -> None:
    member, consumer = member_with({P0: [0]})
    messages = member.poll(max_records=10, timeout_s=0.1)
    consumer.fail_commit = CommitFailedError("generation moved on")
    member.commit(messages, unacknowledged=0)  # not an error: the new owner redoes it
    assert member.done == {}


def test_rewind_seeks_back_to_the_first_offset_whose_output_is_not_safe() -> None:
    member, consumer = member_with({P0: [10, 11], P1: [3]})
    member.poll(max_records=10, timeout_s=0.1)
    consumer.next_poll = {P0: [Record(12)]}
    member.poll(max_records=10, timeout_s=0.1)
    member.rewind()
    assert sorted(consumer.seeks) == [(P0, 10), (P1, 3)]


def test_rewind_after_a_committed_batch_goes_back_only_to_the_uncommitted_rest() -> None:
    member, consumer = member_with({P0: [0, 1]})
    member.commit(member.poll(max_records=10, timeout_s=0.1), unacknowledged=0)
    consumer.next_poll = {P0: [Record(2), Record(3)]}
    member.poll(max_records=10, timeout_s=0.1)
    member.rewind()
    assert consumer.seeks == [(P0, 2)]


def test_revoking_some_partitions_keeps_the_done_offsets_of_the_others() -> None:
    member, consumer = member_with({P0: [0], P1: [0, 1]})
    messages = member.poll(max_records=10, timeout_s=0.1)
    consumer.fail_commit = KafkaConnectionError("coordinator moving")
    with pytest.raises(TransportError):
        member.commit(messages, unacknowledged=0)
    consumer.fail_commit = None
    asyncio.run(member.on_revoked([P0]))
    assert consumer.commits == [{P0: 1}]
    assert member.done == {P1: 2}


def joining_member(records: dict[TopicPartition, list[int]]) -> tuple[GroupConsumer, FakeConsumer]:
    """A member whose first poll joins the group (kafka-python assigns inside ``poll``)."""

    class Joining(FakeConsumer):
        def poll(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Record]]:
            member.on_assigned([P0, P1])
            return super().poll(timeout_ms, max_records)

    consumer = Joining({P0, P1})
    member = GroupConsumer(TOPIC, "g", consumer)
    consumer.next_poll = {tp: [Record(o) for o in offsets] for tp, offsets in records.items()}
    return member, consumer


def test_an_early_join_keeps_the_records_it_polled_for_the_first_batch() -> None:
    member, consumer = joining_member({P0: [4, 5]})
    assert member.join(max_records=10, timeout_s=0.1, give_up=lambda: False)
    assert consumer.next_poll == {}, "the join polled"
    first = member.poll(max_records=10, timeout_s=0.1)
    assert [m.position for m in first] == ["0/4", "0/5"]
    member.commit(first, unacknowledged=0)
    assert consumer.commits == [{P0: 6}]


def test_an_early_join_stops_when_told_to_and_on_an_unreachable_broker() -> None:
    member, _ = member_with({})
    assert not member.join(max_records=10, timeout_s=0.1, give_up=lambda: True)

    class Unreachable(FakeConsumer):
        def poll(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Record]]:
            raise KafkaConnectionError("no broker")

    broken = GroupConsumer(TOPIC, "g", Unreachable({P0}))
    assert not broken.join(max_records=10, timeout_s=0.1, give_up=lambda: False)


def test_held_records_of_revoked_partitions_are_dropped_and_a_rewind_drops_the_rest() -> None:
    member, consumer = joining_member({P0: [1], P1: [2]})
    member.join(max_records=10, timeout_s=0.1, give_up=lambda: False)
    asyncio.run(member.on_revoked([P1]))
    assert [m.position for m in member.held] == ["0/1"]
    member.rewind()
    assert member.held == [] and consumer.seeks == [(P0, 1)]
