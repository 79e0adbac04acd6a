"""Re-scoring after an agent's action: the queue shows risk as it is *after* the action.

A post's risk is scored once, when it arrives, from the author's history at that moment.
When an agent resolves one of the author's complaints, the unanswered streak ends, so
every other open post in that conversation (author and brand) must lose its "10e klacht,
geen reactie" and the points that came with it; when an agent relabels a post as
"overig", that post stops being a complaint (and stops counting in the author's streak).

The score itself lives in :mod:`enrich.risk`, which this app may not import; the
composition root passes a :class:`Rescorer` built on it (``klachtradar.runtime.rescore``).
This module picks the posts, hands them over and writes the new scores back, in one
transaction, so the next refresh of every browser shows them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Protocol

from klachtradar.contract import (
    Classification,
    Cue,
    Intent,
    ModelRef,
    ScoredPost,
    Sentiment,
)
from klachtradar.settings import Settings
from triage.database import TriageDatabase

AGENT_MODEL = "agent"
"""The model name of a classification an agent set by hand."""


class Rescorer(Protocol):
    """Scores a conversation's posts again from the conversation itself."""

    def rescore(self, posts: Sequence[ScoredPost], resolved: Collection[str]) -> list[ScoredPost]:
        """``posts``: every stored post of one author about one brand (any status);
        ``resolved``: the doc ids an agent answered. Returns each post re-scored, with
        the author's history rebuilt from exactly these posts."""
        ...


RescorerFactory = Callable[[Settings], Rescorer]
"""Builds the rescorer from the settings (the CLI passes the runtime's)."""


def agent_classification(
    previous: Classification | None,
    *,
    sentiment: Sentiment,
    intent: Intent,
    cues: Sequence[Cue],
    user: str,
) -> Classification:
    """The labels an agent gave, certain (probability 1), named as the agent's."""
    return Classification(
        sentiment=sentiment,
        sentiment_proba={s: float(s == sentiment) for s in Sentiment},
        intent=intent,
        intent_proba={i: float(i == intent) for i in Intent},
        cues=list(dict.fromkeys(cues)),
        cue_proba={c: 1.0 for c in cues},
        model=ModelRef(name=AGENT_MODEL, version=user[:60]),
        evidence=previous.evidence if previous is not None else [],
    )


def rescore_conversation(
    database: TriageDatabase,
    rescorer: Rescorer,
    doc_id: str,
    *,
    now: datetime,
    also: Collection[str] = (),
) -> list[str]:
    """Re-score the open posts of ``doc_id``'s conversation (and the posts in ``also``,
    e.g. one just relabelled, whatever their status); returns the doc ids rewritten.

    A post marked "geen klacht" is passed on without its classification's complaint:
    the agent said so, and it must not count in the author's streak.
    """
    with database.reading() as db:
        row = db.execute(
            "SELECT author_id, brand FROM posts WHERE doc_id = ?", (doc_id,)
        ).fetchone()
        if row is None or row[1] is None:
            return []
        rows = db.execute(
            "SELECT doc, status FROM posts WHERE author_id = ? AND brand = ? ORDER BY created_at",
            row,
        ).fetchall()
    posts = [ScoredPost.model_validate_json(doc) for doc, _ in rows]
    status = {post.doc_id: s for post, (_, s) in zip(posts, rows, strict=True)}
    judged = [_as_judged(post, status[post.doc_id]) for post in posts]
    resolved = {d for d, s in status.items() if s == "resolved"}
    rescored = rescorer.rescore(judged, resolved)
    changed = [
        (post, original)
        for post, original in zip(rescored, posts, strict=True)
        if (status[post.doc_id] in ("open", "claimed", "snoozed") or post.doc_id in also)
        and post.risk != original.risk
    ]
    with database.transaction() as db:
        for post, original in changed:
            stored = post.model_copy(update={"classification": original.classification})
            db.execute(
                "UPDATE posts SET risk = ?, priority = ?, doc = ?, updated_at = ? WHERE doc_id = ?",
                (
                    stored.risk.score,
                    stored.risk.priority.value,
                    stored.model_dump_json(),
                    now.isoformat(),
                    stored.doc_id,
                ),
            )
    return [post.doc_id for post, _ in changed]


def store_labels(database: TriageDatabase, doc_id: str, classification: Classification) -> None:
    """Write an agent's labels into the stored post, so the card, the filters and the
    next re-score all read them (the prediction stays in ``triage_feedback``)."""
    with database.transaction() as db:
        row = db.execute("SELECT doc FROM posts WHERE doc_id = ?", (doc_id,)).fetchone()
        if row is None:
            return
        post = ScoredPost.model_validate_json(row[0])
        post = post.model_copy(update={"classification": classification})
        db.execute(
            "UPDATE posts SET sentiment = ?, intent = ?, cues = ?, doc = ? WHERE doc_id = ?",
            (
                classification.sentiment.value,
                classification.intent.value,
                json.dumps([c.value for c in classification.cues]),
                post.model_dump_json(),
                doc_id,
            ),
        )


def _as_judged(post: ScoredPost, status: str) -> ScoredPost:
    """The post as the agents judged it: "geen klacht" takes away the complaint."""
    cls = post.classification
    if status != "not_complaint" or cls is None:
        return post
    intent_proba = {**cls.intent_proba, Intent.KLACHT: 0.0}
    return post.model_copy(
        update={"classification": cls.model_copy(update={"intent_proba": intent_proba})}
    )
