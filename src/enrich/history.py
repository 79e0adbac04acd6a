"""Author history: per author and brand, which complaints came before and whether any
got an answer.

This is the memory the T-Mobile webcare team lacked: the seventh complaint of a
well-followed author in six weeks is a different thing from a first one.

The stage reads an in-memory index (:class:`AuthorHistory`), so scoring stays a fast
function of the batch plus explicit state. Persistence is a pluggable
:class:`HistoryBackend`, touched only between batches by :meth:`AuthorHistory.sync`:

* ``load`` seeds the index at start (the embedded store's complaints);
* ``resolved_since_last`` returns the complaints the triage side marked resolved
  since the last call — a resolved complaint ends the author's unanswered streak.

Posts are keyed by author id on the transport, so every post of one author reaches
the same worker, and a per-worker index is consistent — as long as partitions stay
put. On Kafka they move (a member joins or dies), so there the index also keeps a
:attr:`AuthorHistory.journal` of every change; the runtime writes it to a changelog
topic and restores a partition's authors from it when the partition moves here
(:mod:`klachtradar.runtime.history_state`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

HistoryRow = tuple[str, str, str, datetime, bool]
"""``(author_id, brand, doc_id, created_at, resolved)``."""


class HistoryBackend(Protocol):
    """Where complaint history persists beyond one process."""

    def load(self) -> Iterable[HistoryRow]:
        """Every known complaint, to seed the index at start."""
        ...

    def resolved_since_last(self) -> list[str]:
        """Doc ids resolved (by triage) since the previous call."""
        ...


class MemoryHistoryBackend:
    """No persistence: the index starts empty; tests resolve through :meth:`resolve`."""

    def __init__(self) -> None:
        self._resolved: list[str] = []

    def load(self) -> Iterable[HistoryRow]:
        return []

    def resolve(self, doc_id: str) -> None:
        """What the triage side would do: mark a complaint resolved."""
        self._resolved.append(doc_id)

    def resolved_since_last(self) -> list[str]:
        out, self._resolved = self._resolved, []
        return out


@dataclass(slots=True)
class ComplaintRecord:
    """One complaint by an author about a brand."""

    doc_id: str
    created_at: datetime
    resolved: bool = False


@dataclass(frozen=True, slots=True)
class HistoryChange:
    """A complaint that was added, changed (resolved) or removed (``removed``)."""

    author_id: str
    brand: str
    doc_id: str
    created_at: datetime
    resolved: bool = False
    removed: bool = False


@dataclass(frozen=True, slots=True)
class HistorySummary:
    """What the risk score needs to know about an author's past with a brand."""

    earlier_complaints: int
    unanswered: int
    first_complaint_at: datetime | None
    last_complaint_at: datetime | None
    current_at: datetime | None = None
    """The time of the post this summary was made for."""
    first_unanswered_at: datetime | None = None
    """Start of the current unanswered streak: the author has waited since then."""


NO_HISTORY = HistorySummary(0, 0, None, None)
"""The summary of an author without earlier complaints (shared: it is immutable)."""


@dataclass
class AuthorHistory:
    """Complaints per (author id, brand) within a sliding window of ``window_days``."""

    window_days: int = 42
    backend: HistoryBackend | None = None
    _records: dict[tuple[str, str], dict[str, ComplaintRecord]] = field(default_factory=dict)
    _by_doc: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    _pruned_at: datetime | None = None
    journal: list[HistoryChange] | None = None
    """When a list, every change is appended to it (for a changelog); ``None``: off."""

    def _log(self, key: tuple[str, str], record: ComplaintRecord, removed: bool = False) -> None:
        if self.journal is not None:
            change = HistoryChange(
                key[0], key[1], record.doc_id, record.created_at, record.resolved, removed
            )
            self.journal.append(change)

    def drain_journal(self) -> list[HistoryChange]:
        """The changes since the last call (empty when journaling is off)."""
        if not self.journal:
            return []
        out, self.journal = self.journal, []
        return out

    def drop_authors(self, author_ids: Iterable[str]) -> int:
        """Forget these authors entirely, without journaling: their partition moved away,
        and its changelog (not this member) holds their history now."""
        gone = set(author_ids)
        dropped = 0
        for key in [k for k in self._records if k[0] in gone]:
            for doc_id in self._records.pop(key):
                keys = [k for k in self._by_doc.get(doc_id, []) if k != key]
                if keys:
                    self._by_doc[doc_id] = keys
                else:
                    self._by_doc.pop(doc_id, None)
                dropped += 1
        return dropped

    def summary(self, author_id: str, brand: str, before: datetime) -> HistorySummary:
        """Earlier complaints (strictly before ``before``) inside the window."""
        bucket = self._records.get((author_id, brand))
        if not bucket:
            return NO_HISTORY
        since = before - timedelta(days=self.window_days)
        records = [r for r in bucket.values() if since <= r.created_at < before]
        if not records:
            return NO_HISTORY
        records.sort(key=lambda r: r.created_at)
        streak: list[ComplaintRecord] = []
        for record in records:  # the streak restarts after the last resolved complaint
            streak = [] if record.resolved else [*streak, record]
        return HistorySummary(
            earlier_complaints=len(records),
            unanswered=sum(not r.resolved for r in records),
            first_complaint_at=records[0].created_at,
            last_complaint_at=records[-1].created_at,
            current_at=before,
            first_unanswered_at=streak[0].created_at if streak else None,
        )

    def record(self, author_id: str, brand: str, doc_id: str, created_at: datetime) -> None:
        """Remember a complaint; recording the same doc id again changes nothing."""
        bucket = self._records.setdefault((author_id, brand), {})
        if doc_id not in bucket:
            bucket[doc_id] = ComplaintRecord(doc_id, created_at)
            self._by_doc.setdefault(doc_id, []).append((author_id, brand))
            self._log((author_id, brand), bucket[doc_id])

    def mark_resolved(self, doc_id: str) -> bool:
        """Mark a complaint answered, and every earlier one of that author and brand."""
        keys = self._by_doc.get(doc_id)
        if not keys:
            return False
        for key in keys:
            bucket = self._records[key]
            record = bucket[doc_id]
            for other in bucket.values():
                if other.created_at <= record.created_at and not other.resolved:
                    other.resolved = True
                    self._log(key, other)
        return True

    def forget(self, doc_ids: Iterable[str]) -> int:
        """Drop deleted posts from the history; returns how many complaints were dropped.

        A deleted complaint no longer counts toward its author's streak: the author
        took it back (or asked to be forgotten), so it must not raise later scores.
        """
        dropped = 0
        for doc_id in doc_ids:
            for key in self._by_doc.pop(doc_id, []):
                bucket = self._records.get(key)
                record = bucket.pop(doc_id, None) if bucket is not None else None
                if bucket is not None and record is not None:
                    self._log(key, record, removed=True)
                    dropped += 1
                    if not bucket:
                        del self._records[key]
        return dropped

    def load(self, rows: Iterable[HistoryRow]) -> None:
        """Seed from stored rows ``(author_id, brand, doc_id, created_at, resolved)``.

        Loading is not a change: nothing is journaled (the rows come from a store or
        a changelog that already holds them). A row seen again replaces the first.
        """
        journal, self.journal = self.journal, None
        try:
            for author_id, brand, doc_id, created_at, resolved in rows:
                bucket = self._records.get((author_id, brand))
                if bucket is not None and doc_id in bucket:
                    bucket[doc_id].created_at = created_at
                else:
                    self.record(author_id, brand, doc_id, created_at)
                self._records[(author_id, brand)][doc_id].resolved = resolved
        finally:
            self.journal = journal

    def open(self) -> AuthorHistory:
        """Seed from the backend, if there is one; returns ``self``."""
        if self.backend is not None:
            self.load(self.backend.load())
        return self

    def sync(self) -> int:
        """Apply the resolutions the backend reports; returns how many were applied."""
        if self.backend is None:
            return 0
        return sum(self.mark_resolved(doc_id) for doc_id in self.backend.resolved_since_last())

    def prune_if_due(self, now: datetime, *, every: timedelta = timedelta(hours=1)) -> int:
        """:meth:`prune` at most once per ``every`` of event time; cheap to call per batch."""
        if self._pruned_at is not None and now - self._pruned_at < every:
            return 0
        self._pruned_at = now
        return self.prune(now)

    def prune(self, now: datetime) -> int:
        """Forget complaints older than the window (a stream never ends); returns how many."""
        cutoff = now - timedelta(days=self.window_days)
        dropped = 0
        for key in list(self._records):
            bucket = self._records[key]
            for doc_id in [d for d, r in bucket.items() if r.created_at < cutoff]:
                self._log(key, bucket.pop(doc_id), removed=True)
                self._by_doc.pop(doc_id, None)
                dropped += 1
            if not bucket:
                del self._records[key]
        return dropped
