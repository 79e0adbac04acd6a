"""The enrich stage: ``list[ClassifiedPost] -> list[ScoredPost]``, batched.

Brand matching, author history and the risk score. The author history and the
engagement tracker are explicit state handed in by the pipeline; everything else is
a pure function of the batch.

Re-scoring: a post that arrives again with the same doc id and newer engagement counts
is scored again (velocity between the two observations, a new virality estimate); the
sinks upsert it by doc id, and a higher priority raises a new alert (alert ids carry
the priority). Its complaint is not counted twice in the author's history.

Brand replies (with a :class:`enrich.replies.ThreadTracker`): a post by one of a brand's
own handles is scored as a reply, never as a mention (no brands, no complaint, P4). Its
first reply to a complaint the tracker holds answers it: the complaint comes out of the
batch again, right after the reply, with its public response and re-scored (the waiting
clock stops); the sinks upsert it in place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from enrich.brand_match import BrandMatcher
from enrich.history import AuthorHistory, HistorySummary
from enrich.replies import ThreadTracker, reply_record
from enrich.risk import RiskModel
from enrich.virality import EngagementTracker, Observation
from klachtradar.contract import (
    BrandMention,
    ClassifiedPost,
    Priority,
    PublicResponse,
    RawPost,
    Risk,
    ScoredPost,
    ToneJudgement,
)

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
    threads: ThreadTracker | None = None,
    tones: Mapping[str, ToneJudgement] | None = None,
) -> list[ScoredPost]:
    """Match brands, look up the author's history, score, and remember complaints.

    ``brands_found``: the posts' brand mentions, already matched (by a judge worker
    with the same watchlist); otherwise ``matcher`` matches them here. ``threads``:
    the conversations (brand replies are told apart only with it); ``tones``: the
    tone of each brand reply, by doc id.
    """
    out: list[ScoredPost] = []
    for number, item in enumerate(posts):
        post = item.post
        own_brand = matcher.brand_of_handle(post.author.handle) if threads is not None else None
        if threads is not None and own_brand is not None:
            tone = (tones or {}).get(post.doc_id)
            out.extend(_brand_reply(item, own_brand, tone, threads, risk_model, history, now))
            continue
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
        cls = item.classification
        complaint = cls is not None and cls.complaint_probability >= COMPLAINT_THRESHOLD
        response = threads.response_of(doc_id) if threads is not None else None
        replied = response
        if replied is None and threads is not None and main_brand is not None:
            replied = threads.last_reply(post.author.id, main_brand, before=post.created_at)
        risk = risk_model.assess(item, summary, now=now, previous=previous, replied=replied)
        if engagement is not None:
            before = engagement.swap_priority(doc_id, risk.priority.value)
            if before is not None and risk.priority.value < before:  # "P1" < "P2": a rise
                rise = f"prioriteit omhoog: {before} → {risk.priority.value}"
                risk = risk.model_copy(update={"reasons": [rise, *risk.reasons]})
        if complaint:
            for mention in brands:
                history.record(post.author.id, mention.brand, doc_id, post.created_at)
        scored = ScoredPost(
            doc_id=doc_id,
            post=post,
            lang=item.lang,
            classification=cls,
            brands=brands,
            risk=risk,
            scored_at=now,
            thread_id=(
                threads.thread_of_post(post, main_brand, complaint and main_brand is not None)
                if threads is not None
                else None
            ),
            response=response,
            answered_not_solved=complaint
            and replied is not None
            and replied.responded_at <= post.created_at,
        )
        if threads is not None:
            threads.remember_post(scored, complaint=complaint and main_brand is not None)
        out.append(scored)
    return out


def _brand_reply(
    item: ClassifiedPost,
    brand: str,
    tone: ToneJudgement | None,
    threads: ThreadTracker,
    risk_model: RiskModel,
    history: AuthorHistory,
    now: datetime,
) -> list[ScoredPost]:
    """A brand's own reply, and the complaint it answered (re-scored) if this was the first.

    The reply gets no brands (it is not a mention: the brand it names, or another brand
    it names, gets no complaint, alert or incident from it) and a P4 risk of 0 whose
    reason says whose reply it is.
    """
    post = item.post
    link = threads.link_reply(post, brand)
    record = reply_record(link, post, brand).model_copy(update={"tone": tone})
    reasons = [f"reactie van {brand} (@{post.author.handle})"]
    if tone is not None:
        reasons.append(f"toon: {tone.tone.value}")
    reply = ScoredPost(
        doc_id=post.doc_id,
        post=post,
        lang=item.lang,
        classification=item.classification,
        brands=[],
        risk=Risk(score=0, priority=Priority.P4, reasons=reasons),
        scored_at=now,
        thread_id=link.thread_id,
        reply=record,
    )
    out = [reply]
    response = threads.answered(link, post, brand)
    if response is not None and link.complaint is not None:
        answered = _answered_complaint(link.complaint, response, risk_model, history, now)
        threads.update_complaint(answered)
        out.append(answered)
    return out


def _answered_complaint(
    complaint: ScoredPost,
    response: PublicResponse,
    risk_model: RiskModel,
    history: AuthorHistory,
    now: datetime,
) -> ScoredPost:
    """The complaint with its public response, scored again: it no longer waits."""
    post = complaint.post
    brand = complaint.brand_names[0] if complaint.brands else None
    summary: HistorySummary | None = (
        history.summary(post.author.id, brand, before=post.created_at) if brand else None
    )
    judged = ClassifiedPost(post=post, lang=complaint.lang, classification=complaint.classification)
    risk = risk_model.assess(judged, summary, now=now, replied=response)
    return complaint.model_copy(update={"risk": risk, "response": response, "scored_at": now})


def _observation(post: RawPost, now: datetime) -> Observation | None:
    eng = post.engagement
    if eng.reposts is None and eng.quotes is None:
        return None
    reposts = max(0, eng.reposts or 0)
    del now  # observation time comes from the post (replays score like the live stream)
    at = eng.observed_at or post.received_at or post.created_at
    return Observation(at=at, reposts=reposts, shares=reposts + max(0, eng.quotes or 0))
