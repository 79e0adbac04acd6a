"""Contract models ↔ Elasticsearch documents, and which index a post lives in.

A post document is flat where people filter and chart (``brand``, ``sentiment``,
``risk``, ``priority``, ``status`` are top-level keywords and numbers, so a Kibana user
types ``priority:P1 and status:open``) and keeps everything needed to rebuild the
:class:`~klachtradar.contract.ScoredPost` exactly, so the same queries can answer from
Elasticsearch or the embedded store.

Which index: ``{prefix}-YYYY.MM.DD`` where the date is the Sunday that ends the ISO
week (UTC) of the post's ``created_at``. The index is a pure function of the post, so a
re-scored post always lands on its first copy (an upsert in place), which a rollover
alias or a data stream cannot promise. ILM reads the date from the name
(``parse_origination_date``), so a post is kept at least ``retention_days``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from klachtradar.contract import (
    Alert,
    Author,
    BrandMention,
    BrandReply,
    Classification,
    Engagement,
    ModelRef,
    PublicResponse,
    RawPost,
    Risk,
    ScoredPost,
)

OPEN = "open"
"""The triage status of a post nobody has handled yet."""

TRIAGE_FIELDS = ("status", "status_changed_at", "first_response_at", "response_minutes")
"""Fields owned by the triage workflow: a re-score must never overwrite them."""

CHANGED_AT = "changed_at"
"""Server time (epoch ms, ``ctx._now``) of a document's last write: upsert or status change.

Not part of the contract: it exists so a reader (the triage app's working copy,
:mod:`triage.es_mirror`) can ask "what changed since my cursor". ``scored_at``
cannot serve: it is the scoring time, and a post scored early may be indexed much later
(a Kafka ``index`` consumer catching up), behind a cursor that already passed it.
"""


def week_index(prefix: str, created_at: datetime) -> str:
    """The weekly index of a post: ``prefix-YYYY.MM.DD`` of the Sunday ending its ISO week.

    >>> week_index("klachtradar-posts", datetime(2024, 1, 3, tzinfo=UTC))
    'klachtradar-posts-2024.01.07'
    """
    day = created_at.astimezone(UTC).date()
    sunday = day + timedelta(days=6 - day.weekday())
    return f"{prefix}-{sunday:%Y.%m.%d}"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _engagement_total(engagement: Engagement) -> int | None:
    counts = [engagement.reposts, engagement.quotes, engagement.replies, engagement.likes]
    known = [c for c in counts if c is not None]
    return sum(known) if known else None


def post_document(scored: ScoredPost) -> dict[str, Any]:
    """The indexed form of a scored post, without the triage fields (see :func:`upsert_body`)."""
    post, cls = scored.post, scored.classification
    brands = scored.brand_names
    return {
        "doc_id": scored.doc_id,
        "schema_version": scored.schema_version,
        "post_schema_version": post.schema_version,
        "source": post.source,
        "post_id": post.post_id,
        "url": post.url,
        "text": post.text,
        "lang": scored.lang,
        "post_lang": post.lang,
        "created_at": _iso(post.created_at),
        "received_at": _iso(post.received_at),
        "scored_at": _iso(scored.scored_at),
        "author": post.author.model_dump(mode="json"),
        "engagement": {
            **post.engagement.model_dump(mode="json"),
            "total": _engagement_total(post.engagement),
        },
        "reply_to": post.reply_to,
        "quote_of": post.quote_of,
        "mentions": list(post.mentions),
        "hashtags": list(post.hashtags),
        "brand": brands[0] if brands else None,
        "brands": brands,
        "brand_mentions": [m.model_dump(mode="json") for m in scored.brands],
        "classified": cls is not None,
        "sentiment": cls.sentiment.value if cls else None,
        "intent": cls.intent.value if cls else None,
        "cues": [c.value for c in cls.cues] if cls else [],
        "sentiment_proba": _probas(cls.sentiment_proba) if cls else None,
        "intent_proba": _probas(cls.intent_proba) if cls else None,
        "cue_proba": _probas(cls.cue_proba) if cls else None,
        "complaint_probability": cls.complaint_probability if cls else None,
        "negativity": cls.negativity if cls else None,
        "model": cls.model.model_dump(mode="json") if cls else None,
        "evidence": list(cls.evidence) if cls else [],
        "model_fallback": cls.fallback if cls else False,
        "risk": scored.risk.score,
        "priority": scored.risk.priority.value,
        "reasons": list(scored.risk.reasons),
        "risk_features": dict(scored.risk.features),
        **conversation_fields(scored),
    }


def conversation_fields(scored: ScoredPost) -> dict[str, Any]:
    """Schema 1.2: the thread, the brand reply (with its tone) and the public response,
    flat where Kibana filters and charts (``thread_id``, ``reply_brand``, ``tone``,
    ``responded_at``, ``first_response_minutes``), whole for the round trip."""
    reply, response = scored.reply, scored.response
    tone = reply.tone if reply is not None else None
    return {
        "thread_id": scored.thread_id,
        "is_brand_reply": reply is not None,
        "reply_brand": reply.brand if reply else None,
        "in_reply_to": reply.in_reply_to if reply else None,
        "reply_minutes": reply.response_minutes if reply else None,
        "tone": tone.tone.value if tone else None,
        "tone_reasons": list(tone.reasons) if tone else [],
        "responded_at": _iso(response.responded_at) if response else None,
        "first_response_minutes": response.first_response_minutes if response else None,
        "responded_by": response.by if response else None,
        "answered_not_solved": scored.answered_not_solved,
        "reply": reply.model_dump(mode="json") if reply else None,
        "response": response.model_dump(mode="json") if response else None,
    }


def _probas(values: dict[Any, float]) -> dict[str, float]:
    return {str(getattr(k, "value", k)): float(v) for k, v in values.items()}


UPSERT_SCRIPT = (
    "if (ctx._source.status == null) { ctx._source.status = params.open } "
    "ctx._source.putAll(params.doc); ctx._source.changed_at = ctx._now"
)
"""Painless: a new post opens as ``open``; every top-level scoring key is overwritten;
``changed_at`` is the server's clock at this write."""

ALERT_SCRIPT = (
    "ctx._source.putAll(params.doc); "
    "if (ctx._source.changed_at == null) { ctx._source.changed_at = ctx._now }"
)
"""Painless: an alert is written as it is; ``changed_at`` is set once, when it is created
(a redelivered alert is the same alert and does not count as a change)."""

STATUS_SCRIPT = "ctx._source.putAll(params.change); ctx._source.changed_at = ctx._now"
"""Painless: a triage status change, stamped like every other write."""


def upsert_body(scored: ScoredPost) -> dict[str, Any]:
    """The bulk ``update`` body: replace the scoring, keep the triage status.

    A scripted upsert (the document travels once): a new post starts from an empty
    source and gets status ``open``; an existing one keeps its triage fields, so a
    claimed post stays claimed. ``putAll`` replaces each top-level key whole. Not a
    partial ``doc`` merge: that merges objects key by key, so probabilities or risk
    features a new model no longer emits would survive re-scoring, stale.
    """
    doc = post_document(scored)
    params = {"doc": doc, "open": OPEN}
    return {
        "script": {"source": UPSERT_SCRIPT, "lang": "painless", "params": params},
        "scripted_upsert": True,
        "upsert": {},
    }


def document_of(body: dict[str, Any]) -> dict[str, Any]:
    """The document inside a bulk body (the script's ``doc`` for an upsert)."""
    doc = body.get("script", {}).get("params", {}).get("doc")
    return doc if isinstance(doc, dict) else body


def scored_post_from_document(source: dict[str, Any]) -> ScoredPost:
    """Rebuild the contract model from an indexed document (inverse of :func:`post_document`)."""
    engagement = {k: v for k, v in (source.get("engagement") or {}).items() if k != "total"}
    post = RawPost(
        schema_version=source.get("post_schema_version") or source.get("schema_version") or "1.0",
        source=source["source"],
        post_id=source["post_id"],
        url=source.get("url"),
        text=source["text"],
        lang=source.get("post_lang"),
        created_at=source["created_at"],
        received_at=source.get("received_at"),
        author=Author.model_validate(source["author"]),
        engagement=Engagement.model_validate(engagement),
        reply_to=source.get("reply_to"),
        quote_of=source.get("quote_of"),
        mentions=source.get("mentions") or [],
        hashtags=source.get("hashtags") or [],
    )
    classification = None
    if source.get("classified"):
        classification = Classification(
            sentiment=source["sentiment"],
            sentiment_proba=source.get("sentiment_proba") or {},
            intent=source["intent"],
            intent_proba=source.get("intent_proba") or {},
            cues=source.get("cues") or [],
            cue_proba=source.get("cue_proba") or {},
            model=ModelRef.model_validate(source["model"]),
            evidence=source.get("evidence") or [],
            fallback=bool(source.get("model_fallback")),
        )
    return ScoredPost(
        schema_version=source.get("schema_version") or "1.0",
        doc_id=source["doc_id"],
        post=post,
        lang=source.get("lang"),
        classification=classification,
        brands=[BrandMention.model_validate(m) for m in source.get("brand_mentions") or []],
        risk=Risk(
            score=source["risk"],
            priority=source["priority"],
            reasons=source.get("reasons") or [],
            features=source.get("risk_features") or {},
        ),
        scored_at=source["scored_at"],
        thread_id=source.get("thread_id"),
        reply=BrandReply.model_validate(source["reply"]) if source.get("reply") else None,
        response=(
            PublicResponse.model_validate(source["response"]) if source.get("response") else None
        ),
        answered_not_solved=bool(source.get("answered_not_solved")),
    )


def alert_document(alert: Alert) -> dict[str, Any]:
    """The indexed form of an alert: its contract JSON, which is already flat."""
    return alert.model_dump(mode="json")


def alert_upsert_body(alert: Alert) -> dict[str, Any]:
    """The bulk ``update`` body of an alert: create-once in effect, with ``changed_at``."""
    return {
        "script": {
            "source": ALERT_SCRIPT,
            "lang": "painless",
            "params": {"doc": alert_document(alert)},
        },
        "scripted_upsert": True,
        "upsert": {},
    }
