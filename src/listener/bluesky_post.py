"""Bluesky normalisation: a Jetstream commit event (JSON) → :class:`RawPost`.

Jetstream event (``kind = "commit"``, one per record change)::

    {"did": "did:plc:…", "time_us": 1725911162329308, "kind": "commit",
     "commit": {"rev": "…", "operation": "create", "collection": "app.bsky.feed.post",
                "rkey": "3l3qo2vutsw2b", "cid": "bafy…",
                "record": {"$type": "app.bsky.feed.post", "text": "…",
                           "createdAt": "2024-09-09T19:46:02.102Z", "langs": ["nl"],
                           "facets": [...], "reply": {...}, "embed": {...}}}}

The post id is its AT URI (``at://{did}/app.bsky.feed.post/{rkey}``), stable across
Jetstream instances and the AppView. Jetstream carries no handle and no counts: the
handle falls back to the DID until the AppView profile lookup fills it in.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from klachtradar.contract import Author, RawPost
from listener.source import make_post

POST_COLLECTION = "app.bsky.feed.post"
_MENTION = "app.bsky.richtext.facet#mention"
_TAG = "app.bsky.richtext.facet#tag"


def post_uri(did: str, rkey: str) -> str:
    """The AT URI of a post."""
    return f"at://{did}/{POST_COLLECTION}/{rkey}"


def post_url(did: str, rkey: str) -> str:
    """The bsky.app web address (accepts a DID in place of the handle)."""
    return f"https://bsky.app/profile/{did}/post/{rkey}"


def created_post(event: dict[str, Any]) -> dict[str, Any] | None:
    """The post record of a ``create`` commit in ``app.bsky.feed.post``, else None.

    Identity and account events, deletes, and other collections are not posts; they
    still move the cursor forward, which the caller handles.
    """
    if event.get("kind") != "commit":
        return None
    commit = event.get("commit")
    if not isinstance(commit, dict):
        raise ValueError("commit event without a commit object")
    if commit.get("collection") != POST_COLLECTION or commit.get("operation") != "create":
        return None
    record = commit.get("record")
    if not isinstance(record, dict):
        raise ValueError("create commit without a record")
    return record


def tags_of(record: dict[str, Any]) -> list[str]:
    """Hashtags from the record's tag facets (without '#')."""
    tags: list[str] = []
    for facet in record.get("facets") or ():
        for feature in facet.get("features") or ():
            if feature.get("$type") == _TAG and feature.get("tag"):
                tags.append(str(feature["tag"]).removeprefix("#"))
    return tags


def mentions_of(record: dict[str, Any], text: str) -> list[str]:
    """Mentioned handles, read from the text span of each mention facet (byte offsets)."""
    raw: bytes | None = None
    handles: list[str] = []
    for facet in record.get("facets") or ():
        if not any(f.get("$type") == _MENTION for f in facet.get("features") or ()):
            continue
        index = facet.get("index") or {}
        raw = raw if raw is not None else text.encode("utf-8")
        span = raw[int(index.get("byteStart", 0)) : int(index.get("byteEnd", 0))]
        handle = span.decode("utf-8", errors="replace").strip().removeprefix("@")
        if handle:
            handles.append(handle)
    return handles


def _subject_uri(value: Any) -> str | None:
    return str(value["uri"]) if isinstance(value, dict) and value.get("uri") else None


def _quote_uri(embed: Any) -> str | None:
    """app.bsky.embed.record → record.uri; recordWithMedia → record.record.uri."""
    if not isinstance(embed, dict):
        return None
    inner = embed.get("record")
    if isinstance(inner, dict) and isinstance(inner.get("record"), dict):
        return _subject_uri(inner["record"])
    return _subject_uri(inner)


def _timestamp(value: Any, time_us: int) -> datetime:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
    return datetime.fromtimestamp(time_us / 1_000_000, tz=UTC)


def post_from_event(
    event: dict[str, Any], record: dict[str, Any], *, received_at: datetime | None = None
) -> RawPost:
    """Normalise a post-create event; raises ValueError/ContractError on a broken record."""
    did = event["did"]
    commit = event["commit"]
    rkey = commit["rkey"]
    text = record.get("text")
    if not isinstance(text, str):
        raise ValueError("post record without text")
    langs = record.get("langs") or []
    reply = record.get("reply") if isinstance(record.get("reply"), dict) else {}
    return make_post(
        source="bluesky",
        post_id=post_uri(did, rkey),
        url=post_url(did, rkey),
        text=text,
        lang=str(langs[0]).split("-")[0].lower() if langs else None,
        created_at=_timestamp(record.get("createdAt"), int(event.get("time_us") or 0)),
        received_at=received_at,
        author=Author(id=did, handle=did),
        reply_to=_subject_uri(reply.get("parent")) if reply else None,
        quote_of=_quote_uri(record.get("embed")),
        mentions=mentions_of(record, text),
        hashtags=tags_of(record),
    )
