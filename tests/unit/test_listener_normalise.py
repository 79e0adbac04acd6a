"""Normalisation of each source's documented payload into the contract's RawPost."""

from __future__ import annotations

from typing import Any

import pytest

from klachtradar.errors import ContractError
from listener.bluesky_post import created_post, post_from_event
from listener.fixtures import payloads as p
from listener.html_text import html_to_text
from listener.jetstream import FrameDecoder
from listener.mastodon import status_to_post
from listener.x_post import tweet_to_post, users_by_id


def test_a_jetstream_post_becomes_a_raw_post_keyed_by_its_at_uri() -> None:
    event = p.jetstream_post(0)
    record = created_post(event)
    assert record is not None
    post = post_from_event(event, record)
    assert post.post_id == f"at://{p.did(0)}/app.bsky.feed.post/{p.rkey(0)}"
    assert post.doc_id == f"bluesky:{post.post_id}"
    assert post.url == f"https://bsky.app/profile/{p.did(0)}/post/{p.rkey(0)}"
    assert post.author.handle == p.did(0)  # until the AppView tells the handle
    assert post.author.followers is None  # unknown, not zero
    assert post.created_at.isoformat() == "2026-11-23T09:00:00+00:00"
    assert (post.lang, post.mentions, post.hashtags) == ("nl", ["KPN"], ["kpnstoring"])


def test_jetstream_replies_and_quotes_point_at_their_subjects() -> None:
    event = p.jetstream_post(1)
    record = event["commit"]["record"]
    parent = {"uri": "at://did:plc:x/app.bsky.feed.post/parent", "cid": "bafy1"}
    record["reply"] = {"root": parent, "parent": parent}
    record["embed"] = {
        "$type": "app.bsky.embed.recordWithMedia",
        "record": {"record": {"uri": "at://did:plc:y/app.bsky.feed.post/q", "cid": "bafy2"}},
    }
    post = post_from_event(event, record)
    assert post.reply_to == parent["uri"]
    assert post.quote_of == "at://did:plc:y/app.bsky.feed.post/q"


@pytest.mark.parametrize(
    "event",
    [
        p.jetstream_identity(1),
        {**p.jetstream_post(1), "commit": {**p.jetstream_post(1)["commit"], "operation": "delete"}},
        {
            **p.jetstream_post(1),
            "commit": {**p.jetstream_post(1)["commit"], "collection": "app.bsky.feed.like"},
        },
    ],
)
def test_events_that_are_not_new_posts_are_skipped(event: dict[str, Any]) -> None:
    assert created_post(event) is None


def test_the_frame_decoder_reads_zstd_and_refuses_non_events() -> None:
    import zstandard

    decoder = FrameDecoder()
    compressed = zstandard.ZstdCompressor().compress(b'{"did": "did:plc:a", "time_us": 5}')
    assert decoder.decode(compressed)["time_us"] == 5
    with pytest.raises(ValueError, match="time_us"):
        decoder.decode('{"did": "did:plc:a"}')


def test_an_x_post_takes_its_author_metrics_from_the_expansion() -> None:
    message = p.stream_message(2)
    message["data"]["referenced_tweets"] = [{"type": "replied_to", "id": "42"}]
    post = tweet_to_post(message["data"], users_by_id(message["includes"]))
    assert post.post_id == p.tweet_id(2)
    assert post.url == f"https://x.com/youpfan/status/{p.tweet_id(2)}"
    assert (post.author.followers, post.author.verified) == (40211, True)
    assert (post.engagement.reposts, post.engagement.likes) == (2, 6)
    assert post.reply_to == "42"


def test_an_x_post_without_its_expansion_keeps_followers_unknown() -> None:
    post = tweet_to_post(p.tweet(0), {})
    assert post.author.handle == post.author.id and post.author.followers is None


def test_a_broken_x_post_raises_a_contract_error() -> None:
    tweet = {**p.tweet(0), "created_at": "gisteren"}
    with pytest.raises(ContractError, match="created_at"):
        tweet_to_post(tweet, {})


def test_a_mastodon_status_becomes_plain_text_with_account_counts() -> None:
    status = p.mastodon_status(3)
    status["spoiler_text"] = "lof"
    post = status_to_post(status)
    assert (
        post.text == "lof\n\nTop geholpen door de webcare van Ziggo, binnen 10 minuten opgelost 👍"
    )
    assert post.author.handle == "marloes"
    assert (post.author.followers, post.author.following) == (233, 99)
    assert (post.engagement.reposts, post.engagement.likes, post.engagement.replies) == (3, 6, 1)


def test_html_paragraphs_breaks_entities_and_whole_links_become_plain_text() -> None:
    html = (
        '<p>Hoi <span class="h-card"><a class="u-url mention">@<span>kpn</span></a></span>'
        ' &amp; <a href="https://x.nl/a">#<span>storing</span></a></p>'
        '<p>zie <a href="https://example.com/lang"><span class="invisible">https://</span>'
        '<span class="ellipsis">example.com/la</span><span class="invisible">ng</span></a>'
        "<br>groet</p>"
    )
    # The hidden parts of a long link are kept: the text holds the whole URL (issue 18).
    assert html_to_text(html) == "Hoi @kpn & #storing\n\nzie https://example.com/lang\ngroet"
