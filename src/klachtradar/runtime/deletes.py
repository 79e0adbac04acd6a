"""Deletes inside a running pipeline: forget the post, and keep it forgotten.

A :class:`~klachtradar.contract.DeletedPost` is not classified or scored; it is split
off a batch before the stages run (:func:`split_records`) and handed to the sinks,
which remove the post and keep its tombstone for good. The pipeline's own memory — the
author history — forgets the post too, and :class:`RecentTombstones` remembers the
latest deletes so that a post redelivered *after* its delete (at-least-once transport,
a replay of an old recording) is dropped before it can alert or re-enter the history.
The sinks' tombstones are the durable guard; this one only keeps a deleted post's
alert off the alert stream while the process runs.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from klachtradar.contract import DeadLetter, DeletedPost, RawPost
from klachtradar.ports import Record

DEFAULT_REMEMBERED = 200_000
"""Tombstones one process keeps in memory (a doc id each: a few tens of MB at most)."""


@dataclass
class RecentTombstones:
    """The doc ids of the latest deletes, oldest forgotten first beyond ``capacity``."""

    capacity: int = DEFAULT_REMEMBERED
    _ids: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def add(self, doc_ids: Iterable[str]) -> None:
        for doc in doc_ids:
            self._ids[doc] = None
            self._ids.move_to_end(doc)
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)


def split_records(
    batch: Sequence[Record],
) -> tuple[list[RawPost], list[DeadLetter], list[DeletedPost]]:
    """A source's batch as its posts, its dead letters and its deletes, in order."""
    posts = [r for r in batch if isinstance(r, RawPost)]
    dead = [r for r in batch if isinstance(r, DeadLetter)]
    deletes = [r for r in batch if isinstance(r, DeletedPost)]
    return posts, dead, deletes
