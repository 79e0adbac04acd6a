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

The text a webcare agent (and the brand matcher) must see is more than ``record.text``:

* a link's visible text is shortened (``kpn.com/storing...``); its link facet holds the
  full URI, which replaces the shortened span;
* an image's alt text, a video's alt text and a link card's title and description are
  where a post with only media (empty ``text``) names the brand: they are appended, one
  line each, marked ``[afbeelding]``, ``[video]`` or ``[link]``.

An ``update`` commit is an edit (same URI: the post is updated in place); a ``delete``
commit becomes a :class:`~klachtradar.contract.DeletedPost`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from klachtradar.contract import Author, DeletedPost, RawPost
from listener.outcome import Skip
from listener.source import make_post

POST_COLLECTION = "app.bsky.feed.post"
_MENTION = "app.bsky.richtext.facet#mention"
_TAG = "app.bsky.richtext.facet#tag"
_LINK = "app.bsky.richtext.facet#link"


def post_uri(did: str, rkey: str) -> str:
    """The AT URI of a post."""
    return f"at://{did}/{POST_COLLECTION}/{rkey}"


def post_url(did: str, rkey: str) -> str:
    """The bsky.app web address (accepts a DID in place of the handle)."""
    return f"https://bsky.app/profile/{did}/post/{rkey}"


def interpret_event(event: dict[str, Any]) -> RawPost | DeletedPost | Skip:
    """A Jetstream event as a post (create or edit), a delete, or a Skip with its reason.

    Raises ValueError/KeyError/ContractError on a broken commit (the caller dead-letters).
    """
    kind = event.get("kind")
    if kind != "commit":
        return Skip(f"{kind} event" if isinstance(kind, str) else "event without kind")
    commit = event.get("commit")
    if not isinstance(commit, dict):
        raise ValueError("commit event without a commit object")
    if commit.get("collection") != POST_COLLECTION:
        return Skip(f"{commit.get('collection')} commit")
    operation = commit.get("operation")
    if operation == "delete":
        return deleted_post(event)
    if operation not in ("create", "update"):
        return Skip(f"{operation} commit")
    record = commit.get("record")
    if not isinstance(record, dict):
        raise ValueError(f"{operation} commit without a record")
    return post_from_event(event, record)


def deleted_post(event: dict[str, Any]) -> DeletedPost:
    """The delete of a post: its AT URI, keyed by the author's DID."""
    did = str(event["did"])
    time_us = int(event.get("time_us") or 0)
    return DeletedPost(
        source="bluesky",
        post_id=post_uri(did, str(event["commit"]["rkey"])),
        author_id=did,
        deleted_at=datetime.fromtimestamp(time_us / 1_000_000, tz=UTC),
    )


def created_post(event: dict[str, Any]) -> dict[str, Any] | None:
    """The post record of a ``create`` or ``update`` (an edit) commit in
    ``app.bsky.feed.post``, else None.

    Identity and account events, deletes, and other collections are not posts; they
    still move the cursor forward, which the caller handles.
    """
    if event.get("kind") != "commit":
        return None
    commit = event.get("commit")
    if not isinstance(commit, dict):
        raise ValueError("commit event without a commit object")
    if commit.get("collection") != POST_COLLECTION:
        return None
    if commit.get("operation") not in ("create", "update"):
        return None
    record = commit.get("record")
    if not isinstance(record, dict):
        raise ValueError(f"{commit.get('operation')} commit without a record")
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


def with_full_links(record: dict[str, Any], text: str) -> str:
    """The text with each link facet's shortened span replaced by the facet's full URI.

    Facet offsets are UTF-8 byte offsets into the original text, so the spans are
    replaced on the bytes, last first, keeping the earlier offsets valid.
    """
    links: list[tuple[int, int, str]] = []
    for facet in record.get("facets") or ():
        index = facet.get("index") or {}
        for feature in facet.get("features") or ():
            if feature.get("$type") == _LINK and isinstance(feature.get("uri"), str):
                start, end = int(index.get("byteStart", -1)), int(index.get("byteEnd", -1))
                links.append((start, end, feature["uri"]))
    if not links:
        return text
    raw = text.encode("utf-8")
    for start, end, uri in sorted(links, reverse=True):
        if 0 <= start <= end <= len(raw):
            raw = raw[:start] + uri.encode("utf-8") + raw[end:]
    return raw.decode("utf-8", errors="replace")


def embed_lines(embed: Any) -> list[str]:
    """What an embed says in words: image and video alt texts, a link card's title,
    description and URI (``recordWithMedia`` looks inside its media)."""
    if not isinstance(embed, dict):
        return []
    kind = embed.get("$type")
    lines: list[str] = []
    if kind == "app.bsky.embed.images":
        for image in embed.get("images") or ():
            if isinstance(image, dict) and str(image.get("alt") or "").strip():
                lines.append(f"[afbeelding] {str(image['alt']).strip()}")
    elif kind == "app.bsky.embed.video":
        if str(embed.get("alt") or "").strip():
            lines.append(f"[video] {str(embed['alt']).strip()}")
    elif kind == "app.bsky.embed.external":
        found = embed.get("external")
        card: dict[str, Any] = found if isinstance(found, dict) else {}
        words = [str(card.get(k) or "").strip() for k in ("title", "description")]
        label = " — ".join(w for w in words if w)
        uri = str(card.get("uri") or "").strip()
        if label or uri:
            lines.append(f"[link] {label} ({uri})" if label and uri else f"[link] {label or uri}")
    elif kind == "app.bsky.embed.recordWithMedia":
        lines.extend(embed_lines(embed.get("media")))
    return lines


def post_text(record: dict[str, Any]) -> str:
    """Everything a post says: its text with full links, then its embeds' words."""
    text = record.get("text")
    if not isinstance(text, str):
        raise ValueError("post record without text")
    full = with_full_links(record, text)
    extra = embed_lines(record.get("embed"))
    return "\n\n".join(part for part in (full, "\n".join(extra)) if part)


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
        text=post_text(record),
        lang=str(langs[0]).split("-")[0].lower() if langs else None,
        created_at=_timestamp(record.get("createdAt"), int(event.get("time_us") or 0)),
        received_at=received_at,
        author=Author(id=did, handle=did),
        reply_to=_subject_uri(reply.get("parent")) if reply else None,
        quote_of=_quote_uri(record.get("embed")),
        mentions=mentions_of(record, text),
        hashtags=tags_of(record),
    )
