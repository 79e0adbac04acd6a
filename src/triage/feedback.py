"""Label feedback: agents correct sentiment, intent and cues; data scientists export them.

Corrections are appended (never overwritten) with user and time; the export takes the
latest correction per post and writes the training format of ``shared/LABELS.md``::

    {"id": "...", "text": "...", "sentiment": "negatief", "intent": "klacht",
     "cues": ["herhaald"], "brand": "KPN"}

The post text is stored with the correction, so an export does not depend on the post
still being in the store. The export is what ``klachtradar train --data`` reads
(:func:`classify.corpus.read_labelled`): the ``id`` is the post's document id
(``source:post_id``, as in the corpus), so a correction of a corpus post replaces the
corpus label in training instead of adding a contradicting twin; and ``lang`` is the
stored post's language when the store still holds it, so a relabelled German post is
kept out of the Dutch models as the corpus's own non-Dutch records are.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from klachtradar.contract import Cue, Intent, Sentiment
from triage.clock import Clock
from triage.database import TriageDatabase
from triage.rescoring import AGENT_MODEL
from triage.workflow import Workflow


@dataclass(frozen=True, slots=True)
class Correction:
    """One agent's labels for one post."""

    doc_id: str
    user: str
    at: datetime
    sentiment: Sentiment
    intent: Intent
    cues: tuple[Cue, ...]
    brand: str | None
    text: str

    def training_record(self) -> dict[str, object]:
        """The LABELS.md record."""
        return {
            "id": self.doc_id,
            "text": self.text,
            "sentiment": self.sentiment.value,
            "intent": self.intent.value,
            "cues": [c.value for c in self.cues],
            "brand": self.brand,
        }


class FeedbackStore:
    """Label corrections in the triage database."""

    def __init__(self, database: TriageDatabase, clock: Clock) -> None:
        self.database = database
        self.clock = clock

    def correct(
        self,
        workflow: Workflow,
        doc_id: str,
        user: str,
        *,
        sentiment: Sentiment,
        intent: Intent,
        cues: list[Cue],
    ) -> Correction:
        """Store a correction of a stored post (the prediction is kept beside it)."""
        post = workflow.item(doc_id).post
        cls = post.classification
        predicted: dict[str, object] = (
            {
                "sentiment": cls.sentiment.value,
                "intent": cls.intent.value,
                "cues": [c.value for c in cls.cues],
                "model": f"{cls.model.name}@{cls.model.version}",
            }
            if cls
            else {}
        )
        if cls is not None and cls.model.name == AGENT_MODEL:  # relabelled before: the
            predicted = self._first_prediction(doc_id) or predicted  # model's, not ours
        unique_cues = tuple(dict.fromkeys(cues))
        brand = post.brand_names[0] if post.brands else None
        now = self.clock.now()
        with self.database.transaction() as db:
            db.execute(
                "INSERT INTO triage_feedback (doc_id, user, at, sentiment, intent, cues, brand, "
                "text, predicted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    doc_id,
                    user,
                    now.isoformat(),
                    sentiment.value,
                    intent.value,
                    json.dumps([c.value for c in unique_cues]),
                    brand,
                    post.post.text,
                    json.dumps(predicted),
                ),
            )
            db.execute(
                "INSERT INTO triage_actions (doc_id, action, user, at, detail) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    doc_id,
                    "relabel",
                    user,
                    now.isoformat(),
                    json.dumps(
                        {
                            "sentiment": sentiment.value,
                            "intent": intent.value,
                            "cues": [c.value for c in unique_cues],
                        }
                    ),
                ),
            )
        workflow.relabel(doc_id, user, sentiment=sentiment, intent=intent, cues=unique_cues)
        return Correction(doc_id, user, now, sentiment, intent, unique_cues, brand, post.post.text)

    def _first_prediction(self, doc_id: str) -> dict[str, object] | None:
        with self.database.reading() as db:
            row = db.execute(
                "SELECT predicted FROM triage_feedback WHERE doc_id = ? ORDER BY id LIMIT 1",
                (doc_id,),
            ).fetchone()
        return dict(json.loads(row[0])) if row else None

    def latest(self, doc_ids: Sequence[str] | None = None) -> Iterator[Correction]:
        """The newest correction of every corrected post (or of ``doc_ids``), oldest first."""
        sql = """
            SELECT doc_id, user, at, sentiment, intent, cues, brand, text FROM triage_feedback f
            WHERE id = (SELECT max(id) FROM triage_feedback g WHERE g.doc_id = f.doc_id)
        """
        params: list[str] = []
        if doc_ids is not None:
            if not doc_ids:
                return
            sql += f" AND doc_id IN ({', '.join('?' * len(doc_ids))})"
            params = list(doc_ids)
        with self.database.reading() as db:
            rows = db.execute(sql + " ORDER BY id", params).fetchall()
        for doc_id, user, at, sentiment, intent, cues, brand, text in rows:
            yield Correction(
                doc_id,
                user,
                datetime.fromisoformat(at),
                Sentiment(sentiment),
                Intent(intent),
                tuple(Cue(c) for c in json.loads(cues)),
                brand,
                text,
            )

    def for_posts(self, doc_ids: Sequence[str]) -> dict[str, Correction]:
        """The newest correction of each of these posts that has one (one query per page)."""
        return {c.doc_id: c for c in self.latest(doc_ids)}

    def export(self, out: Path) -> int:
        """Write the training JSONL; returns the number of records."""
        out.parent.mkdir(parents=True, exist_ok=True)
        corrections = list(self.latest())
        languages = self._languages([c.doc_id for c in corrections])
        with out.open("w", encoding="utf-8") as handle:
            for correction in corrections:
                record = correction.training_record()
                if lang := languages.get(correction.doc_id):
                    record["lang"] = lang
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        return len(corrections)

    def _languages(self, doc_ids: Sequence[str]) -> dict[str, str]:
        """The stored language of each of these posts the store still holds."""
        with self.database.reading() as db:
            if not db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'posts'"
            ).fetchone():
                return {}
            found: dict[str, str] = {}
            for start in range(0, len(doc_ids), 500):
                chunk = list(doc_ids[start : start + 500])
                rows = db.execute(
                    f"SELECT doc_id, lang FROM posts WHERE lang IS NOT NULL "
                    f"AND doc_id IN ({', '.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
                found.update((doc_id, lang) for doc_id, lang in rows)
            return found
