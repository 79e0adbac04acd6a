"""Contract ↔ Elasticsearch documents, and the weekly index a post belongs to."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from functools import cache

import pytest

from klachtradar.contract import RawPost, ScoredPost
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.settings import load_settings
from listener.jsonl import read_jsonl
from sink.es.documents import (
    OPEN,
    TRIAGE_FIELDS,
    document_of,
    post_document,
    scored_post_from_document,
    upsert_body,
    week_index,
)
from sink.es.templates import posts_mapping


@cache
def demo_scored() -> list[ScoredPost]:
    settings = load_settings()
    records = list(read_jsonl(settings.resolve(settings.demo.file)))[:400]
    posts = [r for r in records if isinstance(r, RawPost)]
    return Pipeline.from_settings(settings).process(posts).scored


def test_document_rebuilds_the_scored_post_exactly() -> None:
    for post in demo_scored():
        document = json.loads(json.dumps(post_document(post)))  # as it travels
        assert scored_post_from_document(document) == post


def test_demo_sample_covers_unclassified_and_brandless_posts() -> None:
    posts = demo_scored()
    assert any(p.classification is None for p in posts)
    assert any(not p.brands for p in posts)


def test_every_document_field_is_mapped_so_nothing_is_silently_unindexed() -> None:
    mapped = posts_mapping(load_settings().root)["properties"]
    for post in demo_scored()[:50]:
        document = post_document(post)
        assert set(document) <= set(mapped), set(document) - set(mapped)
        for name in ("author", "engagement", "model", "sentiment_proba", "intent_proba"):
            value = document[name]
            if isinstance(value, dict):
                assert set(value) <= set(mapped[name]["properties"]), name


def test_upsert_keeps_triage_fields_out_of_the_rescoring_script() -> None:
    post = demo_scored()[0]
    body = upsert_body(post)
    replaced = body["script"]["params"]["doc"]
    assert not set(TRIAGE_FIELDS) & set(replaced)
    assert body["script"]["params"]["open"] == OPEN
    assert body["scripted_upsert"] is True and body["upsert"] == {}
    assert document_of(body) == replaced == post_document(post)


@pytest.mark.parametrize(
    ("created", "index"),
    [
        (datetime(2024, 1, 1, 0, 0, tzinfo=UTC), "p-2024.01.07"),  # Monday opens the week
        (datetime(2024, 1, 7, 23, 59, 59, tzinfo=UTC), "p-2024.01.07"),  # Sunday closes it
        (datetime(2024, 1, 8, 0, 0, tzinfo=UTC), "p-2024.01.14"),
        (datetime(2024, 12, 30, 12, tzinfo=UTC), "p-2025.01.05"),  # across the year end
        # 00:30 on Monday in Amsterdam is still Sunday in UTC
        (datetime(2024, 1, 8, 0, 30, tzinfo=timezone(timedelta(hours=1))), "p-2024.01.07"),
    ],
)
def test_week_index_is_named_after_the_sunday_ending_the_utc_week(
    created: datetime, index: str
) -> None:
    assert week_index("p", created) == index


def test_week_index_names_match_the_ilm_origination_date_pattern() -> None:
    """ILM's parse_origination_date needs ``name-yyyy.MM.dd``."""
    name = week_index("klachtradar-posts", datetime(2026, 10, 1, tzinfo=UTC))
    prefix, date = name.rsplit("-", 1)
    assert prefix == "klachtradar-posts"
    assert datetime.strptime(date, "%Y.%m.%d").weekday() == 6


def test_a_brand_reply_and_its_answered_complaint_round_trip_with_their_thread() -> None:
    from datetime import UTC, datetime

    from klachtradar.contract import (
        Author,
        BrandReply,
        ModelRef,
        Priority,
        PublicResponse,
        RawPost,
        Risk,
        ScoredPost,
        Tone,
        ToneJudgement,
    )
    from sink.es.documents import post_document, scored_post_from_document

    at = datetime(2026, 10, 17, 10, 25, tzinfo=UTC)
    tone = ToneJudgement(
        tone=Tone.GROF,
        proba={Tone.GROF: 0.8, Tone.KORTAF: 0.1, Tone.PROFESSIONEEL: 0.1},
        reasons=["zeuren"],
        model=ModelRef(name="tone", version="v1"),
    )
    reply = ScoredPost(
        doc_id="x:2",
        post=RawPost(
            source="x", post_id="2", text="@s zeur niet", created_at=at,
            author=Author(id="b", handle="PostNL"),
        ),
        risk=Risk(score=0, priority=Priority.P4, reasons=[]),
        scored_at=at,
        thread_id="x:1",
        reply=BrandReply(brand="PostNL", handle="PostNL", in_reply_to="x:1", tone=tone),
        response=PublicResponse(
            responded_at=at, first_response_minutes=25.0, by="PostNL", reply_doc_id="x:2"
        ),
    )  # fmt: skip
    doc = post_document(reply)
    assert doc["thread_id"] == "x:1" and doc["tone"] == "grof" and doc["reply_brand"] == "PostNL"
    assert doc["first_response_minutes"] == 25.0
    assert scored_post_from_document(doc) == reply
