"""X normalisation: an API v2 Post object (+ its expanded author) → :class:`RawPost`.

Stream lines and recent-search pages share the shape: ``data`` (a Post, or a list),
``includes.users`` (authors, with ``public_metrics.followers_count`` because we ask for
``expansions=author_id&user.fields=public_metrics,verified``), and on the stream
``matching_rules``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from klachtradar.contract import Author, Engagement, RawPost
from listener.source import make_post

TWEET_FIELDS = "author_id,created_at,lang,public_metrics,entities,referenced_tweets"
USER_FIELDS = "username,name,public_metrics,verified"
EXPANSIONS = "author_id"


def users_by_id(includes: Any) -> dict[str, dict[str, Any]]:
    """The expanded users of a response, by id."""
    users = (includes or {}).get("users") or []
    return {str(u["id"]): u for u in users if isinstance(u, dict) and "id" in u}


def tweet_to_post(
    tweet: dict[str, Any], users: dict[str, dict[str, Any]], *, received_at: datetime | None = None
) -> RawPost:
    """Normalise one Post object; raises KeyError/ValueError when it is broken."""
    author_id = str(tweet["author_id"])
    user = users.get(author_id, {})
    user_metrics = user.get("public_metrics") or {}
    metrics = tweet.get("public_metrics") or {}
    entities = tweet.get("entities") or {}
    handle = str(user.get("username") or author_id)
    references = {r.get("type"): str(r.get("id")) for r in tweet.get("referenced_tweets") or ()}
    return make_post(
        source="x",
        post_id=str(tweet["id"]),
        url=f"https://x.com/{handle}/status/{tweet['id']}",
        text=str(tweet["text"]),
        lang=tweet.get("lang") if tweet.get("lang") not in (None, "und", "zxx") else None,
        created_at=tweet["created_at"],
        received_at=received_at,
        author=Author(
            id=author_id,
            handle=handle,
            name=user.get("name"),
            followers=user_metrics.get("followers_count"),
            following=user_metrics.get("following_count"),
            verified=bool(user.get("verified", False)),
        ),
        engagement=Engagement(
            reposts=metrics.get("retweet_count"),
            quotes=metrics.get("quote_count"),
            replies=metrics.get("reply_count"),
            likes=metrics.get("like_count"),
            observed_at=received_at,
        ),
        reply_to=references.get("replied_to"),
        quote_of=references.get("quoted"),
        mentions=[str(m["username"]) for m in entities.get("mentions") or () if "username" in m],
        hashtags=[str(h["tag"]) for h in entities.get("hashtags") or () if "tag" in h],
    )


def newer_id(a: str, b: str | None) -> bool:
    """Post ids are snowflakes: numeric strings that sort by time."""
    return b is None or int(a) > int(b)
