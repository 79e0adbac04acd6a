"""What ``process`` keeps and hands on beyond the scored posts, when it scales out.

Two things (see ``docs/kafka.md``, "State and rebalances"):

* the author history of the raw partitions it owns, restored and changelogged by
  :class:`~klachtradar.runtime.history_state.PartitionedHistory`;
* the repartition for incidents: one :class:`~klachtradar.stream_events.ComplaintEvent`
  per classified brand complaint, keyed by brand on the complaints topic, and per
  batch one :class:`~klachtradar.stream_events.StreamTick` per raw partition in it,
  sent to every complaints partition, so the ``incidents`` step knows how far each
  raw partition's event time has got (its watermark is the minimum).

:class:`ProcessState` is all the runner sees: ``prepare`` before a batch, ``outgoing``
after it — the messages to produce with the batch's output, before its commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from enrich.incidents import counts_as_complaint
from klachtradar.contract import RawPost, ScoredPost
from klachtradar.ports import PipelineOutput
from klachtradar.runtime.history_state import PartitionedHistory
from klachtradar.runtime.kafka_transport import parse_position
from klachtradar.runtime.transport import Message, OutgoingMessage, Topics
from klachtradar.stream_events import ComplaintEvent, StreamTick

KIND_HEADER = "kind"


@dataclass
class ProcessState:
    """Partition-scoped history and the complaints repartition of one ``process`` member."""

    topics: Topics
    history: PartitionedHistory | None = None
    complaint_partitions: int = 0
    """Partitions of the complaints topic (0: no repartition; incidents in process)."""

    def prepare(self, messages: Sequence[Message]) -> list[Message]:
        """Restore moved partitions; the messages this member still owns."""
        return list(messages) if self.history is None else self.history.prepare(messages)

    def outgoing(
        self, output: PipelineOutput, posts: Sequence[RawPost], by_doc: Mapping[str, Message]
    ) -> list[tuple[str, OutgoingMessage]]:
        """Changelog entries, complaint events and ticks for this processed batch."""
        out: list[tuple[str, OutgoingMessage]] = []
        if self.history is not None:
            out += [(self.topics.history_changelog, m) for m in self.history.changelog()]
        if self.complaint_partitions:
            topic = self.topics.complaints
            out += [(topic, m) for m in complaint_messages(output.scored, by_doc)]
            out += [(topic, m) for m in tick_messages(posts, by_doc, self.complaint_partitions)]
        return out


def complaint_messages(
    scored: Sequence[ScoredPost], by_doc: Mapping[str, Message]
) -> list[OutgoingMessage]:
    """One event per (complaint, brand it names), keyed by the brand."""
    out = []
    for post in scored:
        message = by_doc.get(post.doc_id)
        if message is None or not counts_as_complaint(post):
            continue
        raw_partition = parse_position(message.position)[0]
        for brand in post.brand_names:
            event = ComplaintEvent(
                brand=brand,
                doc_id=post.doc_id,
                created_at=post.post.created_at,
                text=post.post.text,
                risk=post.risk.score,
                raw_partition=raw_partition,
            )
            out.append(
                OutgoingMessage(
                    key=brand, value=event.model_dump_json().encode(), headers={KIND_HEADER: "c"}
                )
            )
    return out


def tick_messages(
    posts: Sequence[RawPost], by_doc: Mapping[str, Message], partitions: int
) -> list[OutgoingMessage]:
    """Per raw partition in the batch, its latest event time, to every complaints partition.

    The time is the latest ``created_at`` of the batch's posts from that partition:
    the complaints of those posts are produced before the tick (same flush, same
    partition order), so the tick never runs ahead of them.
    """
    latest: dict[int, datetime] = {}
    for post in posts:
        message = by_doc.get(post.doc_id)
        if message is None:
            continue
        partition, at = parse_position(message.position)[0], post.created_at
        if partition not in latest or at > latest[partition]:
            latest[partition] = at
    out = []
    for raw_partition, at in sorted(latest.items()):
        value = StreamTick(raw_partition=raw_partition, latest=at).model_dump_json().encode()
        out += [
            OutgoingMessage(key=None, value=value, headers={KIND_HEADER: "t"}, partition=p)
            for p in range(partitions)
        ]
    return out
