"""Bluesky Jetstream listener against a local WebSocket server speaking Jetstream."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from klachtradar.watchlist import Watchlist, load_watchlist
from listener.bluesky_appview import AppView
from listener.checkpoint import CheckpointStore
from listener.fixtures import payloads as p
from listener.fixtures.bluesky_server import AppViewFixtureServer, JetstreamFixtureServer
from listener.fixtures.harness import collect, dead_of, posts_of
from listener.jetstream import JetstreamOptions, JetstreamSource
from listener.prefilter import BrandPrefilter
from listener.source import Clock

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BRAND_INDEXES = [i for i, e in enumerate(p.EXAMPLES) if e.brand]


@pytest.fixture(scope="module")
def watchlist() -> Watchlist:
    return load_watchlist(ROOT / "configs" / "brands.toml")


def frames(indexes: range | list[int]) -> list[tuple[int, dict[str, Any] | str]]:
    return [(p.jetstream_time_us(i), p.jetstream_post(i)) for i in indexes]


def source(
    url: str,
    watchlist: Watchlist,
    *,
    appview: AppView | None = None,
    state: dict[str, Any] | None = None,
    clock: Clock | None = None,
    **options: Any,
) -> JetstreamSource:
    opts = JetstreamOptions(url=url, idle_tick_s=0.05, overlap_s=3.0, **options)
    return JetstreamSource(
        opts, BrandPrefilter(watchlist), appview, clock=clock or Clock(virtual=True), state=state
    )


def test_brand_posts_arrive_normalised_and_other_events_are_skipped(watchlist: Watchlist) -> None:
    log = frames(range(10))
    log.insert(2, (p.jetstream_time_us(1) + 1, p.jetstream_identity(1)))
    with JetstreamFixtureServer(log) as server:
        records = collect(source(server.url, watchlist), posts=len(BRAND_INDEXES))
    posts = posts_of(records)
    assert [post.post_id for post in posts] == [
        f"at://{p.did(i)}/app.bsky.feed.post/{p.rkey(i)}" for i in BRAND_INDEXES
    ]
    first = posts[0]
    assert first.source == "bluesky"
    assert first.lang == "nl"
    assert first.hashtags == ["kpnstoring"]
    assert first.mentions == ["KPN"]
    assert server.requests[0]["wantedCollections"] == ["app.bsky.feed.post"]
    assert "cursor" not in server.requests[0]


def test_a_dropped_connection_resumes_from_the_cursor_with_overlap_and_no_duplicates(
    watchlist: Watchlist,
) -> None:
    with JetstreamFixtureServer(frames(range(10)), drop_after=[4]) as server:
        src = source(server.url, watchlist)
        records = collect(src, posts=len(BRAND_INDEXES), settle_s=0.2)
    ids = [post.post_id for post in posts_of(records)]
    assert len(ids) == len(set(ids)) == len(BRAND_INDEXES)  # no loss, no duplicates
    resumed = int(server.requests[1]["cursor"][0])
    assert resumed == p.jetstream_time_us(3) - 3_000_000  # last handled frame minus overlap
    assert src.connections == 2


def test_a_restart_from_the_saved_checkpoint_publishes_no_duplicates(
    watchlist: Watchlist, tmp_path: Path
) -> None:
    with (
        JetstreamFixtureServer(frames(range(10))) as server,
        CheckpointStore(tmp_path / "listener.db") as store,
    ):
        first = source(server.url, watchlist)
        before = posts_of(collect(first, posts=4))
        state = first.checkpoint()
        assert state is not None
        store.save("bluesky", state)

        second = source(server.url, watchlist, state=store.load("bluesky"))
        after = posts_of(collect(second, posts=len(BRAND_INDEXES) - len(before), settle_s=0.2))
    ids = [post.post_id for post in before + after]
    assert len(ids) == len(set(ids)) == len(BRAND_INDEXES)
    assert int(server.requests[1]["cursor"][0]) == state["cursor"] - 3_000_000


def test_malformed_frames_become_dead_letters_with_the_reason(watchlist: Watchlist) -> None:
    no_record = p.jetstream_post(3)
    no_record["commit"]["record"] = None
    no_rkey = p.jetstream_post(5)
    del no_rkey["commit"]["rkey"]
    log = [
        *frames(range(2)),
        (p.jetstream_time_us(2), "{this is not json"),
        (p.jetstream_time_us(2), '["a", "list"]'),
        (p.jetstream_time_us(3), no_record),
        (p.jetstream_time_us(5), no_rkey),
        *frames([6]),
    ]
    with JetstreamFixtureServer(log) as server:
        records = collect(source(server.url, watchlist), posts=3, dead_letters=4)
    dead = dead_of(records)
    assert [d.stage for d in dead] == ["decode", "decode", "normalise", "normalise"]
    assert "Expecting property name" in dead[0].error
    assert dead[0].raw == "{this is not json"
    assert dead[1].error == "frame is not a JSON object"
    assert dead[2].error == "create commit without a record"
    assert dead[3].error == "missing field 'rkey'"
    assert dead[3].position == f"time_us {p.jetstream_time_us(5)}"
    assert len(posts_of(records)) == 3  # the stream went on past the bad frames


def test_zstd_compressed_frames_are_decoded(watchlist: Watchlist) -> None:
    with JetstreamFixtureServer(frames(range(4))) as server:
        records = collect(source(server.url, watchlist, compress=True), posts=4)
    assert len(posts_of(records)) == 4
    assert server.requests[0]["compress"] == ["true"]


def test_follower_counts_come_from_the_appview_in_batches_and_are_cached(
    watchlist: Watchlist,
) -> None:
    profiles = {p.did(i): p.bluesky_profile(i) for i in range(10)}
    now = [1_000.0]
    with (
        JetstreamFixtureServer(frames(range(10))) as server,
        AppViewFixtureServer(profiles=profiles) as appview_server,
    ):
        appview = AppView(appview_server.base_url, ttl_s=60, clock=lambda: now[0])
        records = collect(
            source(server.url, watchlist, appview=appview, refresh_min_followers=None),
            posts=len(BRAND_INDEXES),
        )
        asked = [
            len(r.query["actors"])
            for r in appview_server.served.paths("/xrpc/app.bsky.actor.getProfiles")
        ]
        assert appview.profiles([p.did(0)])[p.did(0)].followers == p.EXAMPLES[0].followers
        calls_before = appview.requests
        now[0] += 61  # the TTL passes
        appview.profiles([p.did(0)])
        assert appview.requests == calls_before + 1
    posts = posts_of(records)
    assert posts[0].author.followers == p.EXAMPLES[0].followers
    assert posts[0].author.handle == "ankevd.bsky.social"
    assert posts[0].url == f"https://bsky.app/profile/ankevd.bsky.social/post/{p.rkey(0)}"
    assert all(n <= 25 for n in asked) and sum(asked) == len(BRAND_INDEXES)


def test_a_rate_limited_appview_leaves_followers_unknown_and_the_stream_flowing(
    watchlist: Watchlist,
) -> None:
    with (
        JetstreamFixtureServer(frames(range(4))) as server,
        AppViewFixtureServer(
            profiles={p.did(0): p.bluesky_profile(0)}, rate_limited_requests=1
        ) as appview_server,
    ):
        appview = AppView(appview_server.base_url, clock=time.time)
        records = collect(source(server.url, watchlist, appview=appview), posts=4)
    assert [post.author.followers for post in posts_of(records)] == [None] * 4
    assert appview.requests == 1  # paused until the reset, not hammered


def test_posts_by_large_accounts_are_republished_with_fresh_engagement(
    watchlist: Watchlist,
) -> None:
    big = 2  # the 40k-follower example
    uri = f"at://{p.did(big)}/app.bsky.feed.post/{p.rkey(big)}"
    now = [1_000.0]
    clock = Clock(now=lambda: now[0], virtual=True)
    with (
        JetstreamFixtureServer(frames(range(4))) as server,
        AppViewFixtureServer(
            profiles={p.did(i): p.bluesky_profile(i) for i in range(4)},
            posts={uri: p.bluesky_post_view(big, likes=321)},
        ) as appview_server,
    ):
        appview = AppView(appview_server.base_url, clock=lambda: now[0])
        src = source(
            server.url,
            watchlist,
            appview=appview,
            clock=clock,
            refresh_min_followers=10_000,
            refresh_after_s=600,
        )
        # All four frames mention a brand: wait for all of them, or on a slow machine the
        # fourth arrives in the second collect and is taken for the refresh.
        first = posts_of(collect(src, posts=4))
        now[0] += 601
        update = posts_of(collect(src, posts=1))
    assert [post.post_id for post in first].count(uri) == 1
    assert [post.post_id for post in update] == [uri]
    assert update[0].engagement.likes == 321
    assert update[0].doc_id == f"bluesky:{uri}"  # same document: sinks update in place


def test_an_unreachable_server_is_retried_with_linear_backoff(watchlist: Watchlist) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    src = source(f"ws://127.0.0.1:{port}/subscribe", watchlist)
    collect(src, posts=1, timeout_s=0.3)
    assert src.connections >= 3
    assert src.clock.sleeps[:3] == [0.25, 0.5, 0.75]


def test_a_429_handshake_waits_until_the_ratelimit_reset(watchlist: Watchlist) -> None:
    with JetstreamFixtureServer(frames(range(2)), rate_limited_connects=1, reset_in_s=2) as server:
        src = source(server.url, watchlist)
        records = collect(src, posts=2)
    assert len(posts_of(records)) == 2
    assert server.refused == 1 and src.connections == 2
    assert len(src.clock.sleeps) == 1
    assert 0.5 <= src.clock.sleeps[0] <= 3.0  # the reset moment, not the 60 s default
