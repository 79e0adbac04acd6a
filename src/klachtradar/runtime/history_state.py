"""Author history as partition-scoped, recoverable state (the Kafka Streams way).

Raw posts are keyed by author, so raw partition *p* holds all posts of its authors;
their history is state *of partition p*. While this member owns *p* the history lives
here in memory (the pipeline's :class:`~enrich.history.AuthorHistory`), and every
change is also written to partition *p* of the history changelog, keyed by complaint
(:func:`~klachtradar.stream_events.history_key`). When *p* moves:

* **revoked** (a rebalance, or lost): its authors are dropped here — the changelog,
  not this member, is their history now;
* **assigned**: before the first batch of *p* is processed, partition *p* of the
  changelog is read to its end (:class:`~klachtradar.runtime.changelog.ChangelogReader`)
  and its authors loaded; the last value per key wins, a null removes a complaint.

Changelog writes are produced with the batch's output, and the raw offsets are
committed only after the producer acknowledged both (``process_step``'s flush →
commit), so a committed batch's history is in the changelog. A crash after the flush
and before the commit redelivers the batch to a member whose restored history
already has its complaints: that is harmless, because a complaint is keyed by its
post (recording it again changes nothing) and a post's summary counts only
complaints strictly before it.

Rebalance callbacks run on kafka-python's network thread; they only note the move,
and :meth:`PartitionedHistory.prepare` applies it on the consuming thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from enrich.history import AuthorHistory, HistoryChange
from klachtradar.runtime.changelog import ChangelogReader
from klachtradar.runtime.kafka_transport import parse_position
from klachtradar.runtime.transport import Message, OutgoingMessage
from klachtradar.stream_events import HistoryEntry, history_key

log = logging.getLogger("klachtradar.state")


class PartitionedHistory:
    """Keeps an :class:`AuthorHistory` equal to the changelog of the partitions owned."""

    def __init__(self, history: AuthorHistory, reader: ChangelogReader) -> None:
        history.journal = []
        self.history = history
        self.reader = reader
        self.topic = reader.topic
        self._lock = threading.Lock()
        self._moves: list[tuple[str, list[int]]] = []
        self._owned: set[int] = set()
        self._author_partition: dict[str, int] = {}
        self.restored_records = 0
        self.restore_seconds = 0.0

    def adopt(self, history: AuthorHistory) -> None:
        """Keep ``history`` (the pipeline's, built after this object) from now on; it
        must not have been used yet (moves are applied at the first :meth:`prepare`)."""
        history.journal = []
        self.history = history

    # -- told by the consumer (network thread) ---------------------------------------------

    def assigned(self, partitions: list[int]) -> None:
        with self._lock:
            self._moves.append(("assigned", partitions))

    def revoked(self, partitions: list[int]) -> None:
        with self._lock:
            self._moves.append(("revoked", partitions))

    # -- on the consuming thread -------------------------------------------------------------

    @property
    def owned(self) -> set[int]:
        """Raw partitions whose history is here (after the last :meth:`prepare`)."""
        return set(self._owned)

    def prepare(self, messages: Sequence[Message]) -> list[Message]:
        """Apply partition moves, restore what arrived; the messages of owned partitions.

        A message of a partition revoked since it was polled is left out: its new
        owner processes it (from the last commit) on the state restored there.
        """
        self._apply_moves()
        kept = []
        for message in messages:
            partition = parse_position(message.position)[0]
            if partition not in self._owned:
                continue
            if message.key is not None:
                self._author_partition[message.key] = partition
            kept.append(message)
        return kept

    def changelog(self) -> list[OutgoingMessage]:
        """The history's changes since the last call, as changelog messages."""
        out = []
        for change in self.history.drain_journal():
            partition = self._author_partition.get(change.author_id)
            if partition is None:  # an author of no owned partition: cannot happen
                log.warning("history change of an unknown author's partition dropped")
                continue
            out.append(changelog_message(change, partition))
        return out

    def _apply_moves(self) -> None:
        with self._lock:
            moves, self._moves = self._moves, []
        to_restore: set[int] = set()
        for kind, partitions in moves:
            self._drop(partitions)
            if kind == "assigned":
                self._owned |= set(partitions)
                to_restore |= set(partitions)
            else:
                self._owned -= set(partitions)
                to_restore -= set(partitions)
        if to_restore:
            self._restore(to_restore)

    def _drop(self, partitions: list[int]) -> None:
        gone = set(partitions)
        authors = [a for a, p in self._author_partition.items() if p in gone]
        self.history.drop_authors(authors)
        for author in authors:
            del self._author_partition[author]

    def _restore(self, partitions: set[int]) -> None:
        restored = self.reader.restore(partitions)
        rows = []
        for part in restored:
            for value in part.values.values():
                entry = HistoryEntry.model_validate_json(value)
                self._author_partition[entry.author_id] = part.partition
                rows.append(
                    (entry.author_id, entry.brand, entry.doc_id, entry.created_at, entry.resolved)
                )
        self.history.load(rows)
        read = sum(p.records_read for p in restored)
        seconds = restored[0].seconds if restored else 0.0
        self.restored_records += read
        self.restore_seconds += seconds
        log.info(
            "history restored",
            extra={
                "fields": {
                    "partitions": sorted(partitions),
                    "changelog_records": read,
                    "complaints": len(rows),
                    "seconds": round(seconds, 3),
                }
            },
        )


def changelog_message(change: HistoryChange, partition: int) -> OutgoingMessage:
    """One history change for changelog partition ``partition``; a removal is a null."""
    key = history_key(change.author_id, change.brand, change.doc_id)
    if change.removed:
        return OutgoingMessage(key=key, value=b"", partition=partition)
    entry = HistoryEntry(
        author_id=change.author_id,
        brand=change.brand,
        doc_id=change.doc_id,
        created_at=change.created_at,
        resolved=change.resolved,
    )
    return OutgoingMessage(key=key, value=entry.model_dump_json().encode(), partition=partition)
