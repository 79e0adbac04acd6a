"""Re-score one conversation (an author's posts about a brand) after a triage action.

The triage app (``triage.rescoring``) picks the posts and writes the scores back; this
is the scoring half, on the same :class:`enrich.risk.RiskModel` and
:class:`enrich.history.AuthorHistory` rules as the pipeline, with the history rebuilt
from the conversation's own stored posts and the agents' resolutions. The app takes it
as a ``triage.rescoring.Rescorer`` from the composition root and never imports it.

What cannot be rebuilt from the store is the previous engagement observation, so
velocity is measured since posting (as for a post seen once).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from enrich.history import AuthorHistory
from enrich.risk import RiskModel
from enrich.stage import COMPLAINT_THRESHOLD
from klachtradar.contract import ClassifiedPost, ScoredPost
from klachtradar.settings import Settings


class ConversationRescorer:
    """:class:`triage.rescoring.Rescorer` on the pipeline's risk model and settings."""

    def __init__(self, risk_model: RiskModel, *, window_days: int) -> None:
        self.risk_model = risk_model
        self.window_days = window_days

    @classmethod
    def from_settings(cls, settings: Settings) -> ConversationRescorer:
        return cls(
            RiskModel(settings.risk, settings.priority),
            window_days=settings.history.window_days,
        )

    def rescore(self, posts: Sequence[ScoredPost], resolved: Collection[str]) -> list[ScoredPost]:
        """Every post scored again against a history of exactly ``posts``.

        Steps: record each complaint (as the pipeline does, per brand mention), mark the
        resolved ones (which, as in the pipeline, answers the earlier ones too), then
        assess each post with the history before it.
        """
        history = AuthorHistory(window_days=self.window_days)
        for post in sorted(posts, key=lambda p: p.post.created_at):
            cls = post.classification
            if cls is not None and cls.complaint_probability >= COMPLAINT_THRESHOLD:
                for mention in post.brands:
                    history.record(
                        post.post.author.id, mention.brand, post.doc_id, post.post.created_at
                    )
        for doc_id in resolved:
            history.mark_resolved(doc_id)
        out = []
        for post in posts:
            brand = post.brand_names[0] if post.brands else None
            summary = (
                history.summary(post.post.author.id, brand, before=post.post.created_at)
                if brand
                else None
            )
            judged = ClassifiedPost(
                post=post.post, lang=post.lang, classification=post.classification
            )
            risk = self.risk_model.assess(judged, summary, now=post.scored_at)
            out.append(post.model_copy(update={"risk": risk}))
        return out
