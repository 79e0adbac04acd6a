"""Risk, virality, re-scoring, history and incidents, on the demo stories and by hand."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enrich.history import AuthorHistory, MemoryHistoryBackend
from enrich.virality import (
    EngagementTracker,
    Observation,
    expected_final_reposts,
    kernel_cdf,
    kernel_cdf_mean,
)
from klachtradar.contract import AlertKind, Priority, RawPost, ScoredPost
from klachtradar.ports import PipelineOutput
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.settings import Settings, load_settings
from listener.jsonl import read_jsonl

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


def _settings() -> Settings:
    settings = load_settings()
    settings.history.backend = "memory"
    return settings


@dataclass
class DemoRun:
    scored: list[ScoredPost]
    output: PipelineOutput


@pytest.fixture(scope="module")
def demo() -> DemoRun:
    """The whole demo stream through the real pipeline, in batches, like `demo --fast`."""
    pipeline = Pipeline.from_settings(_settings())
    posts = [
        r for r in read_jsonl(ROOT / "data" / "demo" / "stream.jsonl") if isinstance(r, RawPost)
    ]
    total = PipelineOutput()
    for start in range(0, len(posts), 256):
        out = pipeline.process(posts[start : start + 256], now=T0)
        total.scored.extend(out.scored)
        total.alerts.extend(out.alerts)
        total.dead_letters.extend(out.dead_letters)
    return DemoRun(total.scored, total)


def _post(**changes: Any) -> RawPost:
    data: dict[str, Any] = {
        "source": "x",
        "post_id": "42",
        "text": "@KPNwebcare mijn internet ligt er al de hele dag uit, niemand helpt. Belachelijk!",
        "created_at": T0.isoformat(),
        "received_at": (T0 + timedelta(seconds=5)).isoformat(),
        "author": {"id": "a1", "handle": "piet", "followers": 150},
        "engagement": {"reposts": 0, "quotes": 0, "replies": 0, "likes": 1},
    }
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return RawPost.model_validate(data)


@pytest.fixture
def pipeline() -> Pipeline:
    return Pipeline.from_settings(_settings())


def test_youp_story_is_p1_before_its_reposts_peak(demo: DemoRun) -> None:
    youp = [p for p in demo.scored if p.post.author.handle == "jochemvandalen"]
    youp.sort(key=lambda p: p.post.created_at)
    peak = max(youp, key=lambda p: p.post.engagement.reposts or 0)
    first_p1 = next(p for p in youp if p.risk.priority is Priority.P1)
    assert first_p1.post.created_at < peak.post.created_at
    assert (first_p1.post.engagement.reposts or 0) < (peak.post.engagement.reposts or 0) / 10
    assert "41.200 volgers" in first_p1.risk.reasons
    assert any("e klacht in" in r and "geen reactie" in r for r in first_p1.risk.reasons)


def test_youp_alert_is_raised_for_the_p1_post(demo: DemoRun) -> None:
    alerts = [a for a in demo.output.alerts if a.kind is AlertKind.POST and a.brand == "Odido"]
    assert any(a.priority is Priority.P1 and "41.200 volgers" in a.reasons for a in alerts)


def test_outage_storm_raises_exactly_one_incident_and_closes_it(demo: DemoRun) -> None:
    opened = [a for a in demo.output.alerts if a.kind is AlertKind.INCIDENT]
    closed = [a for a in demo.output.alerts if a.kind is AlertKind.INCIDENT_OVER]
    assert [a.brand for a in opened] == ["Ziggo"]
    assert [a.brand for a in closed] == ["Ziggo"]
    assert closed[0].created_at > opened[0].created_at
    assert "storing" in opened[0].top_terms or "internet" in opened[0].top_terms
    assert len(opened[0].examples) >= 1


def test_most_low_follower_complaints_are_p3_or_p4(demo: DemoRun) -> None:
    low = [
        p
        for p in demo.scored
        if p.classification is not None
        and p.classification.complaint_probability >= 0.5
        and (p.post.author.followers or 0) < 500
        and not p.classification.cues
    ]
    share = sum(p.risk.priority in (Priority.P3, Priority.P4) for p in low) / len(low)
    assert len(low) > 50
    assert share >= 0.9


def test_a_plain_low_follower_complaint_is_p3_or_p4(pipeline: Pipeline) -> None:
    (scored,) = pipeline.process([_post()], now=T0).scored
    assert scored.risk.priority in (Priority.P3, Priority.P4)
    assert scored.brand_names == ["KPN"]


def test_missing_followers_and_engagement_say_reach_is_unknown(pipeline: Pipeline) -> None:
    post = _post(
        author={"followers": None},
        engagement={"reposts": None, "quotes": None, "replies": None, "likes": None},
    )
    (scored,) = pipeline.process([post], now=T0).scored
    assert "bereik onbekend (geen volgersaantal)" in scored.risk.reasons
    assert "bereik onbekend (geen engagement-tellingen)" in scored.risk.reasons
    assert scored.risk.features["reach"] == 0.0


@pytest.mark.parametrize(
    ("changes", "note"),
    [
        ({"author": {"followers": -5}}, "volgers negatief (-5), als 0 geteld"),
        ({"author": {"followers": 9_000_000_000}}, "volgers onwaarschijnlijk hoog"),
        ({"engagement": {"reposts": -3}}, "reposts negatief (-3), als 0 geteld"),
        ({"engagement": {"quotes": 10**12}}, "quotes onwaarschijnlijk hoog"),
        ({"engagement": {"likes": -1}}, "likes negatief (-1), als 0 geteld"),
        (
            {"engagement": {"observed_at": (T0 - timedelta(hours=3)).isoformat()}},
            "meettijd ligt vóór de post, genegeerd",
        ),
    ],
)
def test_bad_counts_are_clamped_and_reported(
    pipeline: Pipeline, changes: dict[str, Any], note: str
) -> None:
    output = pipeline.process([_post(**changes)], now=T0)
    assert output.dead_letters == []
    (scored,) = output.scored
    assert any(r.startswith(note) for r in scored.risk.reasons), scored.risk.reasons
    assert 0 <= scored.risk.score <= 100


def test_engagement_update_rescores_and_realerts_on_a_priority_rise(pipeline: Pipeline) -> None:
    author = {"followers": 30_000, "verified": True}
    first = _post(
        author=author, engagement={"reposts": 2, "observed_at": T0 + timedelta(minutes=30)}
    )
    out1 = pipeline.process([first], now=T0 + timedelta(minutes=30))
    later = _post(
        author=author,
        engagement={"reposts": 900, "quotes": 150, "observed_at": T0 + timedelta(hours=2)},
    )
    out2 = pipeline.process([later], now=T0 + timedelta(hours=2))
    (a,), (b,) = out1.scored, out2.scored
    assert a.doc_id == b.doc_id
    assert b.risk.priority.rank < a.risk.priority.rank
    assert any(r.startswith("reposts +") and r.endswith("/uur") for r in b.risk.reasons)
    new_alerts = {x.alert_id for x in out2.alerts} - {x.alert_id for x in out1.alerts}
    assert f"post:{b.doc_id}:{b.risk.priority.value}" in new_alerts
    assert (
        b.risk.reasons[0] == f"prioriteit omhoog: {a.risk.priority.value} → {b.risk.priority.value}"
    )


def test_engagement_update_is_an_upsert_in_the_store(pipeline: Pipeline) -> None:
    from sink.store import EmbeddedStore

    store = EmbeddedStore(":memory:")
    for reposts in (1, 50, 400):
        post = _post(engagement={"reposts": reposts, "observed_at": T0 + timedelta(hours=1)})
        store.write_posts(pipeline.process([post], now=T0).scored)
    assert store.count() == 1
    stored = store.get("x:42")
    assert stored is not None and stored.post.engagement.reposts == 400


def test_engagement_update_is_not_a_second_complaint(pipeline: Pipeline) -> None:
    for reposts in (1, 2, 3):
        pipeline.process([_post(engagement={"reposts": reposts})], now=T0)
    summary = pipeline.history.summary("a1", "KPN", before=T0 + timedelta(days=1))
    assert summary.earlier_complaints == 1


def test_resolved_complaint_ends_the_unanswered_streak() -> None:
    backend = MemoryHistoryBackend()
    history = AuthorHistory(window_days=42, backend=backend).open()
    for day in range(3):
        history.record("a", "Odido", f"x:{day}", T0 + timedelta(days=day))
    before = history.summary("a", "Odido", before=T0 + timedelta(days=5))
    assert (before.earlier_complaints, before.unanswered) == (3, 3)
    backend.resolve("x:2")
    assert history.sync() == 1
    after = history.summary("a", "Odido", before=T0 + timedelta(days=5))
    assert (after.earlier_complaints, after.unanswered) == (3, 0)
    assert after.first_unanswered_at is None


def test_sqlite_history_hears_triage_resolutions(tmp_path: Path) -> None:
    from sink.history_store import SqliteHistoryBackend
    from sink.store import EmbeddedStore

    path = tmp_path / "kr.db"
    settings = _settings()
    settings.history.backend = "embedded"
    settings.store.path = path
    pipeline = Pipeline.from_settings(settings)
    store = EmbeddedStore(path)
    store.write_posts(pipeline.process([_post()], now=T0).scored)
    backend = SqliteHistoryBackend(path)
    assert [row[2] for row in backend.load()] == ["x:42"]
    assert backend.resolved_since_last() == []
    assert store.set_status("x:42", "resolved")
    assert pipeline.history.summary("a1", "KPN", before=T0 + timedelta(days=1)).unanswered == 1
    pipeline.process([], now=T0)  # the batch edge applies resolutions
    assert pipeline.history.summary("a1", "KPN", before=T0 + timedelta(days=1)).unanswered == 0
    assert backend.resolved_since_last() == ["x:42"]
    assert backend.resolved_since_last() == []


def test_kernel_mean_matches_numeric_integration() -> None:
    for minutes in (3.0, 5.0, 60.0, 600.0):
        steps = 20_000
        numeric = sum(kernel_cdf((i + 0.5) * minutes / steps) for i in range(steps)) / steps
        assert kernel_cdf_mean(minutes) == pytest.approx(numeric, rel=1e-3)
    assert kernel_cdf(10**12) == pytest.approx(1.0, abs=0.01)


def test_virality_estimate_grows_with_new_counts_and_flags_cascades() -> None:
    early = expected_final_reposts(followers=41_200, shares=24, age_minutes=120)
    later = expected_final_reposts(followers=41_200, shares=200, age_minutes=120)
    cascade = expected_final_reposts(followers=41_200, shares=2_900, age_minutes=120)
    assert early is not None and later is not None and cascade is not None
    assert 24 < early.expected_final < later.expected_final
    assert not later.supercritical and cascade.supercritical
    assert expected_final_reposts(followers=100, shares=0, age_minutes=60) is None
    assert expected_final_reposts(followers=100, shares=5, age_minutes=0) is None


def test_engagement_tracker_ignores_stale_updates_and_forgets_oldest() -> None:
    tracker = EngagementTracker(capacity=2)
    new = Observation(T0 + timedelta(hours=2), 50, 60)
    assert tracker.remember("a", new) == new
    assert tracker.remember("a", Observation(T0 + timedelta(hours=1), 10, 10)) == new
    tracker.remember("b", new)
    tracker.remember("c", new)
    assert tracker.previous("a") is None and len(tracker) == 2


_COUNT = st.one_of(st.none(), st.integers(min_value=-(10**12), max_value=10**13))


@settings(max_examples=150, deadline=None)
@given(
    followers=_COUNT,
    reposts=_COUNT,
    quotes=_COUNT,
    likes=_COUNT,
    verified=st.booleans(),
    observed_minutes=st.one_of(st.none(), st.integers(min_value=-(10**6), max_value=10**7)),
)
def test_any_counts_score_between_0_and_100_without_crashing(
    followers: int | None,
    reposts: int | None,
    quotes: int | None,
    likes: int | None,
    verified: bool,
    observed_minutes: int | None,
) -> None:
    observed = None if observed_minutes is None else T0 + timedelta(minutes=observed_minutes)
    post = _post(
        author={"followers": followers, "verified": verified},
        engagement={"reposts": reposts, "quotes": quotes, "likes": likes, "observed_at": observed},
    )
    output = _SHARED.process([post], now=T0)
    assert output.dead_letters == []
    (scored,) = output.scored
    assert 0 <= scored.risk.score <= 100
    assert all(math.isfinite(v) for v in scored.risk.features.values())
    if followers is None:
        assert "bereik onbekend (geen volgersaantal)" in scored.risk.reasons


_SHARED = Pipeline.from_settings(_settings())


def test_history_forgets_complaints_older_than_its_window() -> None:
    history = AuthorHistory(window_days=42)
    history.record("a", "KPN", "x:old", T0)
    history.record("a", "KPN", "x:new", T0 + timedelta(days=40))
    assert history.prune_if_due(T0 + timedelta(days=50)) == 1
    assert history.prune_if_due(T0 + timedelta(days=50, minutes=5)) == 0  # not due yet
    summary = history.summary("a", "KPN", before=T0 + timedelta(days=50))
    assert summary.earlier_complaints == 1
    assert history.mark_resolved("x:old") is False
