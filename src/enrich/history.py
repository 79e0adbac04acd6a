"""Author history: per author and brand, which complaints came before and whether any
got an answer.

This is the memory the T-Mobile webcare team lacked: the seventh complaint of a
well-followed author in six weeks is a different thing from a first one. The state
is an explicit object handed to the enrich stage (stages stay free of I/O); the
runner loads it from the store at start and the triage side marks complaints
resolved, which ends an unanswered streak.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(slots=True)
class ComplaintRecord:
    """One complaint by an author about a brand."""

    doc_id: str
    created_at: datetime
    resolved: bool = False


@dataclass(frozen=True, slots=True)
class HistorySummary:
    """What the risk score needs to know about an author's past with a brand."""

    earlier_complaints: int
    unanswered: int
    first_complaint_at: datetime | None
    last_complaint_at: datetime | None


@dataclass
class AuthorHistory:
    """Complaints per (author id, brand) within a sliding window of ``window_days``."""

    window_days: int = 42
    _records: dict[tuple[str, str], dict[str, ComplaintRecord]] = field(default_factory=dict)

    def summary(self, author_id: str, brand: str, before: datetime) -> HistorySummary:
        """Earlier complaints (strictly before ``before``) inside the window."""
        since = before - timedelta(days=self.window_days)
        records = [
            r
            for r in self._records.get((author_id, brand), {}).values()
            if since <= r.created_at < before
        ]
        if not records:
            return HistorySummary(0, 0, None, None)
        return HistorySummary(
            earlier_complaints=len(records),
            unanswered=sum(not r.resolved for r in records),
            first_complaint_at=min(r.created_at for r in records),
            last_complaint_at=max(r.created_at for r in records),
        )

    def record(self, author_id: str, brand: str, doc_id: str, created_at: datetime) -> None:
        """Remember a complaint; recording the same doc id again changes nothing."""
        bucket = self._records.setdefault((author_id, brand), {})
        bucket.setdefault(doc_id, ComplaintRecord(doc_id, created_at))

    def mark_resolved(self, doc_id: str) -> bool:
        """Mark a complaint answered, and every earlier one of that author and brand."""
        for bucket in self._records.values():
            record = bucket.get(doc_id)
            if record is not None:
                for other in bucket.values():
                    if other.created_at <= record.created_at:
                        other.resolved = True
                return True
        return False

    def load(self, rows: Iterable[tuple[str, str, str, datetime, bool]]) -> None:
        """Seed from stored rows ``(author_id, brand, doc_id, created_at, resolved)``."""
        for author_id, brand, doc_id, created_at, resolved in rows:
            bucket = self._records.setdefault((author_id, brand), {})
            bucket[doc_id] = ComplaintRecord(doc_id, created_at, resolved)
