"""Forget an author (GDPR art. 17): every post, alert, triage row and feedback label of
one author erased from the store and Elasticsearch, tombstones kept, one audit line.

Erasure is a delete of each of the author's posts with reason ``forgotten``, so it
reuses what every delete does (:meth:`sink.store.EmbeddedStore.delete_posts`,
:meth:`sink.es.deletes.EsTombstones.delete`) and inherits its guarantee: a copy of a
post arriving later (a replay, a redelivery) is kept out by its tombstone.

The audit line says who asked, when, which source, and how many rows went. It does
not say who was forgotten in the clear — that would keep the very identity the
erasure removes — only a SHA-256 of ``source:handle``, enough to answer "was this
request carried out?" for someone who brings the handle.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from klachtradar.contract import DeletedPost, utc_now
from klachtradar.errors import SinkError
from sink.store import EmbeddedStore

if TYPE_CHECKING:
    from sink.es.deletes import EsTombstones


@dataclass
class ErasureReport:
    """What one ``forget`` removed (counts only), and the audit line's fields."""

    at: str
    by: str
    source: str
    author_sha256: str
    posts: int = 0
    store_posts: int = 0
    elasticsearch_posts: int = 0
    alerts: int = 0
    triage_actions: int = 0
    feedback: int = 0
    action: str = "forget"


def author_fingerprint(source: str, author: str) -> str:
    """SHA-256 of ``source:handle`` (lower case, no ``@``): identifies without naming."""
    return hashlib.sha256(f"{source}:{author.removeprefix('@').lower()}".encode()).hexdigest()


def forget_author(
    source: str,
    author: str,
    *,
    store: EmbeddedStore,
    elasticsearch: EsTombstones | None = None,
    by: str,
    now: datetime | None = None,
) -> tuple[ErasureReport, list[DeletedPost]]:
    """Erase one author everywhere; returns the report and the deletes (to publish).

    Order: find the posts in every backend, count what goes, delete from the store,
    then from Elasticsearch. A failure half-way raises; running it again finishes the
    job (deletes are idempotent and the posts already gone are found by tombstone).
    """
    now = now or utc_now()
    report = ErasureReport(now.isoformat(), by, source, author_fingerprint(source, author))
    stored = store.author_doc_ids(source, author)
    indexed = elasticsearch.author_doc_ids(source, author) if elasticsearch else []
    docs = list(dict.fromkeys([*stored, *indexed]))
    deletes = [
        DeletedPost(source=source, post_id=doc.split(":", 1)[1], deleted_at=now, reason="forgotten")
        for doc in docs
    ]
    counts = store.rows_about(docs)
    report.posts = len(docs)
    report.alerts = counts.get("alerts", 0)
    report.triage_actions = counts.get("triage_actions", 0)
    report.feedback = counts.get("triage_feedback", 0)
    report.store_posts = store.delete_posts(deletes)
    if elasticsearch is not None:
        report.elasticsearch_posts = elasticsearch.delete(deletes)
    return report, deletes


def append_audit(path: Path, report: ErasureReport) -> None:
    """Append the report as one JSON line (the file and its folder are created)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(asdict(report), ensure_ascii=False) + "\n")
    except OSError as exc:
        raise SinkError(
            f"{path}: cannot write the audit line ({exc.strerror})", retryable=False
        ) from exc
