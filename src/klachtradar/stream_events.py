"""Contract records that travel between Kafka steps but are not posts.

Scaling ``process`` out over a consumer group moves two kinds of state onto topics
(see ``docs/kafka.md``); these are their payloads, JSON like every contract model:

* :class:`HistoryEntry` — one complaint of an author's history, the value of the
  history changelog (key :func:`history_key`): restoring a partition replays them,
  the last value per key wins, and a removed complaint is a null value (a tombstone).
* :class:`ComplaintEvent` — one classified brand complaint, keyed by brand on the
  complaints topic, so that one ``incidents`` member sees all of a brand's complaints.
* :class:`StreamTick` — how far in event time one raw partition has been processed;
  the ``incidents`` step's watermark is the minimum over the raw partitions.
* :class:`StatusChange` — a triage status set by an agent, published on the raw topic
  keyed by the author, so it reaches the member that owns the author's history.

They live beside :mod:`klachtradar.contract` (same rules: unknown fields ignored,
versioned) and not in it, so the post contract stays the one shape stages share.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

EVENTS_VERSION = "1.0"

RECORD_HEADER = "record"
"""Header saying what a raw-topic message holds when it is not a post."""

STATUS_RECORD = "status"
"""``record: status``: a :class:`StatusChange`, keyed by the post's author."""


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: str = EVENTS_VERSION


class HistoryEntry(_Event):
    """One complaint by an author about a brand, as the history changelog holds it."""

    author_id: str
    brand: str
    doc_id: str
    created_at: datetime
    resolved: bool = False


def history_key(author_id: str, brand: str, doc_id: str) -> str:
    """The changelog key of one complaint: a redelivered post overwrites, never adds.

    Keyed by the post (not by author), so a record written twice is one record, and
    compaction keeps exactly the latest state of each complaint.
    """
    return f"{author_id}\x1f{brand}\x1f{doc_id}"


class ComplaintEvent(_Event):
    """One classified complaint about one brand: what incident detection counts."""

    kind: Literal["complaint"] = "complaint"
    brand: str
    doc_id: str
    created_at: datetime
    text: str
    risk: int
    raw_partition: int
    """The raw partition the post came from (its stream time is in the watermark)."""


class StreamTick(_Event):
    """Raw partition ``raw_partition`` has been processed up to event time ``latest``."""

    kind: Literal["tick"] = "tick"
    raw_partition: int
    latest: datetime


class StatusChange(_Event):
    """A triage status change of a post, for the author history (``resolved`` ends the
    author's unanswered streak)."""

    doc_id: str
    author_id: str
    status: str
    changed_at: datetime
