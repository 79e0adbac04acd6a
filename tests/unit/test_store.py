"""The embedded store: idempotent upserts, triage status, full-text search, alerts."""

from __future__ import annotations

from pathlib import Path

from klachtradar.contract import Alert, AlertKind, Priority, Risk, ScoredPost
from sink.store import EmbeddedStore
from tests.conftest import T0, PostFactory


def scored(post, score: int, priority: Priority = Priority.P3, brands=("KPN",)) -> ScoredPost:  # type: ignore[no-untyped-def]
    from klachtradar.contract import BrandMention

    return ScoredPost(
        doc_id=post.doc_id,
        post=post,
        risk=Risk(score=score, priority=priority, reasons=["r"]),
        brands=[BrandMention(brand=b, matched=b, kind="alias") for b in brands],
        scored_at=T0,
    )


def test_writing_the_same_posts_twice_stores_them_once(
    tmp_path: Path, make_post: PostFactory
) -> None:
    posts = [scored(make_post(), 10) for _ in range(5)]
    with EmbeddedStore(tmp_path / "s.db") as store:
        store.write_posts(posts)
        store.write_posts(posts)
        assert store.count() == 5


def test_a_rescored_post_updates_in_place_and_keeps_its_status(
    tmp_path: Path, make_post: PostFactory
) -> None:
    post = make_post("@KPN storing")
    with EmbeddedStore(tmp_path / "s.db") as store:
        store.write_posts([scored(post, 40)])
        assert store.set_status(post.doc_id, "claimed")
        store.write_posts([scored(post, 85, Priority.P1)])
        assert store.count() == 1
        assert store.top(status="claimed")[0].risk.score == 85
        assert store.top(status="open") == []


def test_top_orders_by_priority_then_risk_and_filters_brand(
    tmp_path: Path, make_post: PostFactory
) -> None:
    with EmbeddedStore(tmp_path / "s.db") as store:
        store.write_posts(
            [
                scored(make_post("a"), 60, Priority.P2),
                scored(make_post("b"), 90, Priority.P1, brands=("Ziggo",)),
                scored(make_post("c"), 75, Priority.P1),
                scored(make_post("d"), 5, Priority.P4, brands=()),
            ]
        )
        assert [p.post.text for p in store.top()] == ["b", "c", "a"]
        assert [p.post.text for p in store.top(brand="KPN")] == ["c", "a"]


def test_full_text_search_ignores_accents_and_needs_every_word(
    tmp_path: Path, make_post: PostFactory
) -> None:
    with EmbeddedStore(tmp_path / "s.db") as store:
        store.write_posts(
            [
                scored(make_post("Café in Utrecht heeft geen internet"), 10),
                scored(make_post("Utrecht centraal vertraging"), 10),
            ]
        )
        assert [p.post.text for p in store.search("cafe utrecht")] == [
            "Café in Utrecht heeft geen internet"
        ]
        assert len(store.search("utrecht")) == 2
        assert store.search('"; DROP TABLE posts; --') == []


def test_alerts_are_stored_once_per_id(tmp_path: Path) -> None:
    alert = Alert(
        alert_id="post:x:1:P1", kind=AlertKind.POST, created_at=T0, priority=Priority.P1, title="t"
    )
    with EmbeddedStore(tmp_path / "s.db") as store:
        assert store.write_alerts([alert]) == [alert]
        assert store.write_alerts([alert]) == []
        assert len(store.alerts()) == 1
