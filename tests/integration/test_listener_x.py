"""X listener against a local server speaking the API v2 filtered stream, rules and search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from klachtradar.errors import SourceError
from klachtradar.watchlist import Watchlist, load_watchlist
from listener.fixtures import payloads as p
from listener.fixtures.harness import collect, dead_of, posts_of
from listener.fixtures.x_server import XFixtureServer
from listener.source import Clock
from listener.x_stream import XOptions, XSource

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "fixture-token"


@pytest.fixture(scope="module")
def watchlist() -> Watchlist:
    return load_watchlist(ROOT / "configs" / "brands.toml")


def source(
    server: XFixtureServer,
    watchlist: Watchlist,
    *,
    token: str = TOKEN,
    state: dict[str, Any] | None = None,
    **options: Any,
) -> XSource:
    opts = XOptions(base_url=server.base_url, token=token, idle_tick_s=0.05, **options)
    return XSource(opts, watchlist, clock=Clock(virtual=True), state=state)


def messages(indexes: range) -> list[dict[str, Any]]:
    return [p.stream_message(i) for i in indexes]


def test_rules_are_synced_on_start_adding_missing_and_deleting_only_our_stale_ones(
    watchlist: Watchlist,
) -> None:
    with XFixtureServer(connections=[[]]) as server:
        stale = server.add_rule("oude regel", "klachtradar:Weg")
        foreign = server.add_rule("iets anders", "ander-team")
        src = source(server, watchlist)
        collect(src, posts=0, timeout_s=0.3)
        values = {r["value"]: r["tag"] for r in server.rules.values()}
    assert stale["id"] not in server.rules
    assert foreign["id"] in server.rules  # other tools' rules are left alone
    assert (
        values[
            "(kpn OR @kpn OR @kpnwebcare OR @kpnzakelijk OR @kpn_nl OR #kpn) lang:nl -is:retweet"
        ]
        == "klachtradar:KPN"
    )
    assert len(values) == len(src.rules) + 1


def test_a_second_start_changes_no_rules(watchlist: Watchlist) -> None:
    with XFixtureServer(connections=[[]]) as server:
        collect(source(server, watchlist), posts=0, timeout_s=0.2)
        ids = set(server.rules)
        collect(source(server, watchlist), posts=0, timeout_s=0.2)
        posts_to_rules = [r for r in server.served.requests if r.method == "POST"]
    assert set(server.rules) == ids
    assert len(posts_to_rules) == 1  # only the first start added rules


def test_stream_posts_are_normalised_with_author_metrics(watchlist: Watchlist) -> None:
    with XFixtureServer(connections=[messages(range(3))]) as server:
        records = collect(source(server, watchlist, sync_rules=False), posts=3)
        stream_query = server.served.paths("/2/tweets/search/stream")[0].query
    posts = posts_of(records)
    assert [post.post_id for post in posts] == [p.tweet_id(i) for i in range(3)]
    youp = posts[2]
    assert youp.author.handle == "youpfan"
    assert youp.author.followers == 40211
    assert youp.author.verified is True
    assert youp.engagement.reposts == 2
    assert posts[0].hashtags == ["kpnstoring"] and posts[0].mentions == ["KPN"]
    assert "public_metrics" in stream_query["user.fields"][0]
    assert stream_query["expansions"] == ["author_id"]


def test_after_a_disconnect_recent_search_fills_the_gap_without_duplicates(
    watchlist: Watchlist,
) -> None:
    everything = messages(range(10))
    # connection 1 delivers 0-3 and dies; 4-6 happen during the outage; 7-9 on connection 2
    with XFixtureServer(connections=[everything[:4], everything[7:]], archive=everything) as server:
        src = source(server, watchlist, sync_rules=False)
        records = collect(src, posts=10, settle_s=0.2)
        searches = server.served.paths("/2/tweets/search/recent")
    ids = [post.post_id for post in posts_of(records)]
    assert ids == [p.tweet_id(i) for i in range(10)]  # in order, none lost, none twice
    assert {s.query["since_id"][0] for s in searches} == {p.tweet_id(3)}
    assert src.checkpoint() == {"since_id": p.tweet_id(9)}


def test_a_restart_resumes_from_the_since_id_checkpoint(watchlist: Watchlist) -> None:
    everything = messages(range(6))
    with XFixtureServer(connections=[everything[5:]], archive=everything) as server:
        src = source(server, watchlist, sync_rules=False, state={"since_id": p.tweet_id(2)})
        records = collect(src, posts=3, settle_s=0.2)
    assert [post.post_id for post in posts_of(records)] == [p.tweet_id(i) for i in (3, 4, 5)]


def test_a_429_on_connect_waits_until_the_reset_header(watchlist: Watchlist) -> None:
    with XFixtureServer(
        connections=[messages(range(2))], rate_limited_connects=1, reset_in_s=2
    ) as server:
        src = source(server, watchlist, sync_rules=False)
        records = collect(src, posts=2)
    assert len(posts_of(records)) == 2
    assert len(src.clock.sleeps) == 1
    assert 0.5 <= src.clock.sleeps[0] <= 3.0  # the reset moment, not X's 60 s default


def test_malformed_lines_become_dead_letters_and_the_stream_goes_on(watchlist: Watchlist) -> None:
    broken = p.stream_message(1)
    del broken["data"]["created_at"]
    lines: list[dict[str, Any] | str] = [
        p.stream_message(0),
        "{half a line",
        broken,
        p.stream_message(2),
    ]
    with XFixtureServer(connections=[lines]) as server:
        records = collect(source(server, watchlist, sync_rules=False), posts=2, dead_letters=2)
    dead = dead_of(records)
    assert [d.stage for d in dead] == ["decode", "normalise"]
    assert dead[0].raw == "{half a line"
    assert "created_at" in dead[1].error
    assert [post.post_id for post in posts_of(records)] == [p.tweet_id(0), p.tweet_id(2)]


def test_a_rejected_bearer_token_is_one_clear_error_without_the_token(
    watchlist: Watchlist,
) -> None:
    with XFixtureServer(connections=[[]]) as server:
        with pytest.raises(SourceError) as raised:
            collect(source(server, watchlist, token="wrong-secret-token"), posts=1)
        attempts = len(server.served.requests)
    message = str(raised.value)
    assert message.startswith("x: the API refused the bearer token (401)")
    assert "wrong-secret-token" not in message
    assert attempts == 1  # no retry loop on bad credentials


def test_a_missing_bearer_token_is_refused_before_connecting(watchlist: Watchlist) -> None:
    with pytest.raises(SourceError, match="no bearer token"):
        XSource(XOptions(token=None), watchlist)


def test_a_rejected_token_on_the_stream_itself_is_one_clear_error(watchlist: Watchlist) -> None:
    with XFixtureServer(connections=[[]]) as server:
        with pytest.raises(SourceError, match=r"x: the server refused the credentials \(401"):
            collect(source(server, watchlist, token="wrong", sync_rules=False), posts=1)
        assert len(server.served.requests) == 1
