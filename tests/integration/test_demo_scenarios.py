"""The demo's scripted stories surface as they must (issue 3's acceptance scenarios)."""

from __future__ import annotations

from klachtradar.contract import AlertKind, Priority
from sink.deadletter import read_dead_letters
from sink.store import EmbeddedStore
from tests.conftest import DemoRun

YOUP = "jochemvandalen"


def test_the_youp_story_reaches_p1_with_followers_repetition_and_reach(demo_run: DemoRun) -> None:
    with EmbeddedStore(demo_run.store_path) as store:
        queue = store.top(limit=5)
        his = [p for p in store.search(YOUP, limit=100) if p.post.author.handle == YOUP]
    assert queue[0].post.author.handle == YOUP
    p1 = [p for p in his if p.risk.priority is Priority.P1]
    assert p1, "no P1 for the Youp-like author"
    reasons = " | ".join(p1[-1].risk.reasons)
    assert "41.200 volgers" in reasons
    assert "klacht in" in reasons and "geen reactie" in reasons
    assert "reposts" in reasons


def test_the_youp_story_is_p1_before_its_reposts_peak(demo_run: DemoRun) -> None:
    with EmbeddedStore(demo_run.store_path) as store:
        his = sorted(
            (p for p in store.search(YOUP, limit=100) if p.post.author.handle == YOUP),
            key=lambda p: p.post.created_at,
        )
    peak = max(his, key=lambda p: p.post.engagement.reposts or 0)
    first_p1 = next(p for p in his if p.risk.priority is Priority.P1)
    assert first_p1.post.created_at < peak.post.created_at
    assert (first_p1.post.engagement.reposts or 0) < 100


def test_the_outage_storm_is_one_incident_that_also_ends(demo_run: DemoRun) -> None:
    incidents = [a for a in demo_run.alerts if a.kind is AlertKind.INCIDENT]
    assert [a.brand for a in incidents] == ["Ziggo"]
    assert incidents[0].post_count is not None and incidents[0].post_count >= 8
    over = [a for a in demo_run.alerts if a.kind is AlertKind.INCIDENT_OVER]
    assert [a.brand for a in over] == ["Ziggo"]
    assert over[0].created_at > incidents[0].created_at


def test_malformed_lines_end_as_dead_letters_with_their_line_numbers(demo_run: DemoRun) -> None:
    letters = read_dead_letters(demo_run.dead_letter_path)
    assert len(letters) == 8 == demo_run.stats.dead_letters
    assert all(d.position.startswith("line ") for d in letters)
    errors = " ".join(d.error for d in letters)
    assert "author.followers" in errors and "created_at" in errors and "schema_version" in errors


def test_non_dutch_posts_are_kept_but_not_classified(demo_run: DemoRun) -> None:
    assert demo_run.stats.not_classified >= 30
    with EmbeddedStore(demo_run.store_path) as store:
        (post,) = [p for p in store.search("insulin", limit=5)]
    assert post.lang == "en" and post.classification is None
    assert post.brand_names == ["KLM"]


def test_off_topic_brand_words_do_not_enter_the_queue(demo_run: DemoRun) -> None:
    with EmbeddedStore(demo_run.store_path) as store:
        dome = store.search("Ziggo Dome parkeren", limit=5)
        jumbo = store.search("Jumbo pak luiers", limit=5)
    assert dome and all(p.brands == [] for p in dome)
    assert jumbo and all(p.brands == [] for p in jumbo)


def test_the_rude_reply_incident_alerts_on_the_outrage(demo_run: DemoRun) -> None:
    with EmbeddedStore(demo_run.store_path) as store:
        postnl = store.top(brand="PostNL", limit=10)
    assert postnl[0].risk.priority in (Priority.P1, Priority.P2)


def test_the_demo_is_judged_by_the_served_default_the_e5_encoder(demo_run: DemoRun) -> None:
    """The stories above hold on the model the product serves (configs/klachtradar.toml),
    not only on the fast model the rest of the suite uses."""
    with EmbeddedStore(demo_run.store_path) as store:
        judged = [p for p in store.top(limit=50) if p.classification is not None]
    assert judged
    assert {p.classification.model.name for p in judged if p.classification} == {"e5"}
    assert not any(p.classification.fallback for p in judged if p.classification)
