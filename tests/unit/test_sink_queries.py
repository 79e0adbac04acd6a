"""The shared query interface on the embedded store: filters, facets, histogram buckets."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

from klachtradar.contract import Priority, RawPost, ScoredPost
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.settings import load_settings
from listener.jsonl import read_jsonl
from sink.query_types import PostFilter, PostQueries, TimeBucket, priorities_up_to
from sink.store import EmbeddedStore


@cache
def scored() -> list[ScoredPost]:
    settings = load_settings()
    records = list(read_jsonl(settings.resolve(settings.demo.file)))[:200]
    posts = [r for r in records if isinstance(r, RawPost)]
    return Pipeline.from_settings(settings).process(posts).scored


def at(post: ScoredPost, when: datetime) -> ScoredPost:
    return post.model_copy(update={"post": post.post.model_copy(update={"created_at": when})})


def test_embedded_store_implements_the_interface() -> None:
    assert isinstance(EmbeddedStore(":memory:"), PostQueries)


def test_week_buckets_start_on_monday_utc() -> None:
    a, b, c = scored()[:3]
    store = EmbeddedStore(":memory:")
    store.write_posts(
        [
            at(a, datetime(2024, 1, 7, 23, 0, tzinfo=UTC)),  # Sunday
            at(b, datetime(2024, 1, 8, 0, 0, tzinfo=UTC)),  # Monday
            at(c, datetime(2024, 1, 1, 0, 0, tzinfo=UTC)),  # the Monday before
        ]
    )
    assert store.histogram("week") == [
        TimeBucket(datetime(2024, 1, 1, tzinfo=UTC), 2),
        TimeBucket(datetime(2024, 1, 8, tzinfo=UTC), 1),
    ]
    assert [b.count for b in store.histogram("day")] == [1, 1, 1]


def test_filters_combine_and_facets_count_every_brand() -> None:
    store = EmbeddedStore(":memory:")
    store.write_posts(scored())
    everything = store.count_posts(PostFilter())
    complaints = store.count_posts(PostFilter(intent="klacht"))
    assert everything == store.count() and 0 < complaints < everything
    assert sum(store.facet("intent").values()) == sum(
        1 for p in scored() if p.classification is not None
    )
    brands = store.facet("brand")
    assert brands == {
        name: sum(name in p.brand_names for p in scored())
        for name in {n for p in scored() for n in p.brand_names}
    }
    assert list(brands.values()) == sorted(brands.values(), reverse=True)


def test_find_sorts_by_priority_then_risk() -> None:
    store = EmbeddedStore(":memory:")
    store.write_posts(scored())
    found = store.find(PostFilter(priorities=priorities_up_to(Priority.P3)), limit=100)
    keys = [(p.risk.priority.rank, -p.risk.score) for p in found]
    assert keys == sorted(keys)
    assert all(p.risk.priority.rank <= 3 for p in found)
