"""Mastodon listener against a local server speaking the streaming API over SSE."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from klachtradar.errors import SourceError
from klachtradar.watchlist import Watchlist, load_watchlist
from listener.fixtures import payloads as p
from listener.fixtures.harness import collect, dead_of, posts_of
from listener.fixtures.mastodon_server import Event, MastodonFixtureServer
from listener.mastodon import MastodonOptions, MastodonSource
from listener.prefilter import BrandPrefilter
from listener.source import Clock

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "fixture-token"
BRAND = [i for i, e in enumerate(p.EXAMPLES) if e.brand]


@pytest.fixture(scope="module")
def watchlist() -> Watchlist:
    return load_watchlist(ROOT / "configs" / "brands.toml")


def source(
    server: MastodonFixtureServer,
    watchlist: Watchlist,
    *,
    token: str = TOKEN,
    state: dict[str, Any] | None = None,
    **options: Any,
) -> MastodonSource:
    opts = MastodonOptions(base_url=server.base_url, token=token, idle_tick_s=0.05, **options)
    return MastodonSource(opts, BrandPrefilter(watchlist), clock=Clock(virtual=True), state=state)


def updates(indexes: range | list[int]) -> list[Event]:
    return [("update", p.mastodon_status(i)) for i in indexes]


def test_statuses_arrive_as_plain_text_with_account_counts_and_heartbeats_are_ignored(
    watchlist: Watchlist,
) -> None:
    boost = {**p.mastodon_status(11), "id": p.status_id(50), "reblog": p.mastodon_status(1)}
    events = [*updates(range(4)), ("update", boost), ("delete", p.status_id(0))]
    with MastodonFixtureServer(connections=[events], heartbeat_s=0.02) as server:
        records = collect(source(server, watchlist), posts=4, settle_s=0.15)
        opened = server.served.paths("/api/v1/streaming/public")[0]
    posts = posts_of(records)
    assert [post.post_id for post in posts] == [p.status_id(i) for i in range(4)]
    first = posts[0]
    assert first.text == "Al drie dagen geen internet bij @KPN en niemand reageert. #kpnstoring"
    assert first.author.handle == "ankevd@mastodon.nl"
    assert first.author.followers == 412
    assert first.hashtags == ["kpnstoring"] and first.mentions == ["KPN"]
    assert posts[3].engagement.reposts == 3 and posts[3].engagement.likes == 6
    assert opened.headers["authorization"] == f"Bearer {TOKEN}"


def test_posts_without_a_brand_are_dropped_by_the_prefilter(watchlist: Watchlist) -> None:
    with MastodonFixtureServer(connections=[updates(range(10))]) as server:
        records = collect(source(server, watchlist), posts=len(BRAND), settle_s=0.1)
    assert [post.post_id for post in posts_of(records)] == [p.status_id(i) for i in BRAND]


def test_after_a_disconnect_the_timeline_fills_the_gap_without_duplicates(
    watchlist: Watchlist,
) -> None:
    statuses = [p.mastodon_status(i) for i in range(10)]
    with MastodonFixtureServer(
        connections=[updates(range(3)), updates(range(6, 10))], timeline=statuses
    ) as server:
        src = source(server, watchlist)
        records = collect(src, posts=len(BRAND), settle_s=0.2)
        pages = server.served.paths("/api/v1/timelines/public")
    ids = [post.post_id for post in posts_of(records)]
    assert ids == [p.status_id(i) for i in BRAND]  # in order, none lost, none twice
    assert pages[0].query["min_id"] == [p.status_id(2)]
    assert src.checkpoint() == {"since_id": p.status_id(9)}


def test_a_hashtag_stream_fills_its_gap_from_the_tag_timeline(watchlist: Watchlist) -> None:
    statuses = [p.mastodon_status(i) for i in range(3)]
    with MastodonFixtureServer(connections=[updates([2])], timeline=statuses) as server:
        src = source(
            server, watchlist, stream="hashtag", tag="kpn", state={"since_id": p.status_id(0)}
        )
        records = collect(src, posts=2, settle_s=0.1)
        stream = server.served.paths("/api/v1/streaming/hashtag")[0]
        tag_pages = server.served.paths("/api/v1/timelines/tag/kpn")
    assert stream.query["tag"] == ["kpn"]
    assert tag_pages and [post.post_id for post in posts_of(records)] == [
        p.status_id(1),
        p.status_id(2),
    ]


def test_a_429_waits_until_the_x_ratelimit_reset_time(watchlist: Watchlist) -> None:
    with MastodonFixtureServer(
        connections=[updates(range(2))], rate_limited_connects=1, reset_in_s=1.5
    ) as server:
        src = source(server, watchlist)
        records = collect(src, posts=2)
    assert len(posts_of(records)) == 2
    assert len(src.clock.sleeps) == 1, src.clock.sleeps
    assert 0.5 <= src.clock.sleeps[0] <= 2.5  # the reset moment, not the 60 s default


def test_malformed_events_become_dead_letters_and_the_stream_goes_on(
    watchlist: Watchlist,
) -> None:
    no_account = p.mastodon_status(1)
    del no_account["account"]
    events: list[Event] = [("update", "{not json"), ("update", no_account), *updates([2])]
    with MastodonFixtureServer(connections=[events]) as server:
        records = collect(source(server, watchlist), posts=1, dead_letters=2)
    dead = dead_of(records)
    assert [(d.stage, d.error) for d in dead][1] == ("normalise", "missing field 'account'")
    assert dead[0].stage == "decode" and dead[0].raw == "{not json"
    assert [post.post_id for post in posts_of(records)] == [p.status_id(2)]


def test_a_rejected_token_is_one_clear_error(watchlist: Watchlist) -> None:
    with MastodonFixtureServer(connections=[[]]) as server:
        with pytest.raises(SourceError) as raised:
            collect(source(server, watchlist, token="not-the-token"), posts=1)
        attempts = len(server.served.requests)
    assert "mastodon: the server refused the credentials (401" in str(raised.value)
    assert "not-the-token" not in str(raised.value)
    assert attempts == 1
