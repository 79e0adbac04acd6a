"""The enrich stage: ``list[ClassifiedPost] -> list[ScoredPost]``, batched.

Brand matching, author history and the risk score. The author history is explicit
state handed in by the runner; everything else is a pure function of the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from enrich.brand_match import BrandMatcher
from enrich.history import AuthorHistory
from enrich.risk import RiskModel
from klachtradar.contract import ClassifiedPost, ScoredPost

COMPLAINT_THRESHOLD = 0.5


def score_batch(
    posts: Sequence[ClassifiedPost],
    *,
    matcher: BrandMatcher,
    risk_model: RiskModel,
    history: AuthorHistory,
    now: datetime,
) -> list[ScoredPost]:
    """Match brands, look up the author's history, score, and remember complaints."""
    out: list[ScoredPost] = []
    for item in posts:
        post = item.post
        brands = matcher.match(post)
        main_brand = brands[0].brand if brands else None
        summary = (
            history.summary(post.author.id, main_brand, before=post.created_at)
            if main_brand
            else None
        )
        risk = risk_model.assess(item, summary, now=now)
        cls = item.classification
        if cls is not None and cls.complaint_probability >= COMPLAINT_THRESHOLD:
            for mention in brands:
                history.record(post.author.id, mention.brand, post.doc_id, post.created_at)
        out.append(
            ScoredPost(
                doc_id=post.doc_id,
                post=post,
                lang=item.lang,
                classification=cls,
                brands=brands,
                risk=risk,
                scored_at=now,
            )
        )
    return out
