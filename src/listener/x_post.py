"""X normalisation: an API v2 Post object (+ its expanded author) → :class:`RawPost`.

Stream lines and recent-search pages share the shape: ``data`` (a Post, or a list),
``includes.users`` (authors, with ``public_metrics.followers_count`` because we ask for
``expansions=author_id&user.fields=public_metrics,verified``), and on the stream
``matching_rules``.

What the raw API object gets wrong if taken literally, and what is done about it:

* ``text`` is HTML-escaped (``&amp; &lt; &gt;``): unescaped here.
* A post over 280 characters is cut in ``text``; the whole text is in ``note_tweet``
  (requested through ``tweet.fields``), with its own entities.
* An edit is a new post id; ``edit_history_tweet_ids`` lists every version, oldest
  first. The post id is the *first*, so an edit updates the one post in place (and is
  re-scored) instead of becoming a second post that alerts again; the URL is the newest.
* ``lang`` holds X's own codes (``qst``, ``qme``, ``und``, legacy ``in``): only ISO 639-1
  codes pass, legacy ones are renamed, X's pseudo-codes become unknown.
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any

from klachtradar.contract import Author, Engagement, RawPost
from listener.source import make_post

TWEET_FIELDS = (
    "author_id,created_at,lang,public_metrics,entities,referenced_tweets,"
    "note_tweet,edit_history_tweet_ids"
)
USER_FIELDS = "username,name,public_metrics,verified"
EXPANSIONS = "author_id"


def users_by_id(includes: Any) -> dict[str, dict[str, Any]]:
    """The expanded users of a response, by id."""
    users = (includes or {}).get("users") or []
    return {str(u["id"]): u for u in users if isinstance(u, dict) and "id" in u}


_LEGACY_LANGS = {"in": "id", "iw": "he", "ji": "yi"}
"""Codes X still sends that ISO 639-1 renamed (``in`` is Indonesian)."""

_ISO_639_1 = re.compile(r"^[a-z]{2}$")


def iso_language(code: Any) -> str | None:
    """X's ``lang`` as ISO 639-1, or None (``und``, ``qst``, ``qme``, ``zxx`` … say nothing).

    >>> [iso_language(c) for c in ("nl", "in", "qst", "und", "zh-cn", None)]
    ['nl', 'id', None, None, 'zh', None]
    """
    if not isinstance(code, str):
        return None
    base = code.lower().split("-")[0]
    base = _LEGACY_LANGS.get(base, base)
    return base if _ISO_639_1.match(base) else None


def post_id_of(tweet: dict[str, Any]) -> str:
    """The id an edited post keeps through its versions: the first of its edit history."""
    history = tweet.get("edit_history_tweet_ids")
    if isinstance(history, list) and history:
        return str(min(history, key=lambda i: int(i)))
    return str(tweet["id"])


def tweet_to_post(
    tweet: dict[str, Any], users: dict[str, dict[str, Any]], *, received_at: datetime | None = None
) -> RawPost:
    """Normalise one Post object; raises KeyError/ValueError when it is broken."""
    author_id = str(tweet["author_id"])
    user = users.get(author_id, {})
    user_metrics = user.get("public_metrics") or {}
    metrics = tweet.get("public_metrics") or {}
    raw_note = tweet.get("note_tweet")
    note: dict[str, Any] = raw_note if isinstance(raw_note, dict) else {}
    entities = (note.get("entities") if note.get("text") else None) or tweet.get("entities") or {}
    handle = str(user.get("username") or author_id)
    references = {r.get("type"): str(r.get("id")) for r in tweet.get("referenced_tweets") or ()}
    return make_post(
        source="x",
        post_id=post_id_of(tweet),
        url=f"https://x.com/{handle}/status/{tweet['id']}",
        text=html.unescape(str(note.get("text") or tweet["text"])),
        lang=iso_language(tweet.get("lang")),
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
