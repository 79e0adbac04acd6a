"""X stream lines that are not posts: deletes and other compliance events, errors.

X tells a client to remove a post in two shapes, both of which a recording may hold:

* the v2 compliance stream: ``{"data": {"delete": {"tweet": {"id": …, "author_id": …},
  "event_at": …}}}``, and likewise ``withheld`` (with ``withheld_in_countries``) and
  ``drop``; ``undrop`` and ``tweet_edit`` need no action here (an edit arrives as the
  new version of the post, see :func:`listener.x_post.tweet_to_post`);
* the older streaming shape: ``{"delete": {"status": {"id_str": …, "user_id_str": …},
  "timestamp_ms": …}}`` and ``{"status_withheld": {...}}``.

X's developer terms require honouring a delete even when it arrives before the post.
A post withheld in the Netherlands (or everywhere: ``XX``) may not be shown to a Dutch
webcare team, so it is removed like a delete; withheld elsewhere, it stays.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from klachtradar.contract import DeletedPost, DeleteReason, utc_now
from listener.outcome import Outcome, Skip
from listener.source import dead_letter

WITHHELD_HERE = frozenset({"NL", "XX"})
"""Country codes under which a withheld post must leave the Dutch views."""


def compliance_delete(message: dict[str, Any]) -> DeletedPost | Skip | None:
    """The delete a compliance message asks for, a Skip for one needing nothing, or None
    when the message is not a compliance event at all."""
    data = message.get("data")
    if isinstance(data, dict) and "id" not in data:
        for kind in ("delete", "withheld", "drop", "undrop", "tweet_edit"):
            event = data.get(kind)
            if isinstance(event, dict):
                return _v2_event(kind, event)
    for kind in ("delete", "status_withheld"):
        event = message.get(kind)
        if isinstance(event, dict):
            return _legacy_event(kind, event)
    return None


def _v2_event(kind: str, event: dict[str, Any]) -> DeletedPost | Skip:
    if kind in ("undrop", "tweet_edit"):
        return Skip(f"compliance {kind}")
    if kind == "withheld" and not WITHHELD_HERE & set(event.get("withheld_in_countries") or ()):
        return Skip("withheld outside the Netherlands")
    tweet = event.get("tweet") or {}
    reason: DeleteReason = "deleted" if kind == "delete" else "withheld"
    return _deleted(tweet["id"], tweet.get("author_id"), event.get("event_at"), reason)


def _legacy_event(kind: str, event: dict[str, Any]) -> DeletedPost | Skip:
    if kind == "status_withheld":
        if not WITHHELD_HERE & set(event.get("withheld_in_countries") or ()):
            return Skip("withheld outside the Netherlands")
        return _deleted(event.get("id_str") or event["id"], event.get("user_id"), None, "withheld")
    status = event.get("status") or {}
    author = status.get("user_id_str") or status.get("user_id")
    stamp = event.get("timestamp_ms")
    at = datetime.fromtimestamp(int(stamp) / 1000, tz=UTC) if stamp else None
    return _deleted(status.get("id_str") or status["id"], author, at, "deleted")


def _deleted(
    post_id: Any, author_id: Any, at: str | datetime | None, reason: DeleteReason
) -> DeletedPost:
    return DeletedPost(
        source="x",
        post_id=str(post_id),
        author_id=str(author_id) if author_id is not None else None,
        deleted_at=at or utc_now(),
        reason=reason,
    )


def interpret_line(line: str, origin: str, position: str) -> Outcome | dict[str, Any]:
    """One X stream line: a delete, a skip, a dead letter, or the message holding posts.

    Posts need their ``includes`` (authors), so the caller normalises the returned
    message itself (:func:`listener.x_post.posts_of`).
    """
    if not line.strip():
        return Skip("heartbeat")
    try:
        message = json.loads(line)
        if not isinstance(message, dict):
            raise ValueError("stream line is not a JSON object")
    except ValueError as exc:
        return dead_letter(origin, position, "decode", str(exc), line)
    try:
        compliance = compliance_delete(message)
    except (KeyError, ValueError, TypeError) as exc:
        reason = f"missing field {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
        return dead_letter(origin, position, "normalise", f"compliance event: {reason}", line)
    if compliance is not None:
        return compliance
    if "data" not in message:
        return Skip("stream error message" if message.get("errors") else "no data")
    return message
