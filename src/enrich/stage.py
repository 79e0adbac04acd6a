"""The enrich stage: ``list[ClassifiedPost] -> list[ScoredPost]``, batched.

Brand matching, author history and the risk score. The author history and the
engagement tracker are explicit state handed in by the pipeline; everything else is
a pure function of the batch.

Re-scoring: a post that arrives again with the same doc id and newer engagement counts
is scored again (velocity between the two observations, a new virality estimate); the
sinks upsert it by doc id, and a higher priority raises a new alert (alert ids carry
the priority). Its complaint is not counted twice in the author's history.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from enrich.brand_match import BrandMatcher
from enrich.history import AuthorHistory
from enrich.risk import RiskModel
from enrich.virality import EngagementTracker, Observation
from klachtradar.contract import BrandMention, ClassifiedPost, RawPost, ScoredPost

COMPLAINT_THRESHOLD = 0.5


def score_batch(
    posts: Sequence[ClassifiedPost],
    *,
    matcher: BrandMatcher,
    risk_model: RiskModel,
    history: AuthorHistory,
    now: datetime,
    engagement: EngagementTracker | None = None,
    brands_found: Sequence[list[BrandMention]] | None = None,
) -> list[ScoredPost]:
    """Match brands, look up the author's history, score, and remember complaints.

    ``brands_found``: the posts' brand mentions, already matched (by a judge worker
    with the same watchlist); otherwise ``matcher`` matches them here.
    """
    out: list[ScoredPost] = []
    for number, item in enumerate(posts):
        post = item.post
        brands = matcher.match(post) if brands_found is None else brands_found[number]
        main_brand = brands[0].brand if brands else None
        summary = (
            history.summary(post.author.id, main_brand, before=post.created_at)
            if main_brand
            else None
        )
        doc_id = post.doc_id
        previous = None
        if engagement is not None:
            previous = engagement.previous(doc_id)
            observation = _observation(post, now)
            if observation is not None:
                engagement.remember(doc_id, observation)
        risk = risk_model.assess(item, summary, now=now, previous=previous)
        if engagement is not None:
            before = engagement.swap_priority(doc_id, risk.priority.value)
            if before is not None and risk.priority.value < before:  # "P1" < "P2": a rise
                rise = f"prioriteit omhoog: {before} → {risk.priority.value}"
                risk = risk.model_copy(update={"reasons": [rise, *risk.reasons]})
        cls = item.classification
        if cls is not None and cls.complaint_probability >= COMPLAINT_THRESHOLD:
            for mention in brands:
                history.record(post.author.id, mention.brand, doc_id, post.created_at)
        out.append(
            ScoredPost(
                doc_id=doc_id,
                post=post,
                lang=item.lang,
                classification=cls,
                brands=brands,
                risk=risk,
                scored_at=now,
            )
        )
    return out


def _observation(post: RawPost, now: datetime) -> Observation | None:
    eng = post.engagement
    if eng.reposts is None and eng.quotes is None:
        return None
    reposts = max(0, eng.reposts or 0)
    del now  # observation time comes from the post (replays score like the live stream)
    at = eng.observed_at or post.received_at or post.created_at
    return Observation(at=at, reposts=reposts, shares=reposts + max(0, eng.quotes or 0))
