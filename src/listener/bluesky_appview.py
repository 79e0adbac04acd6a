"""The public Bluesky AppView: follower counts (``app.bsky.actor.getProfiles``) and
engagement counts (``app.bsky.feed.getPosts``), both batched 25 to a request.

Fail-soft on purpose: a slow or rate-limited AppView must never stall the stream, so
errors leave counts unknown (``None``: "unknown reach", not zero) and a 429 pauses
lookups until the server's ``ratelimit-reset``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from klachtradar.contract import Author, Engagement, RawPost, utc_now
from listener.backoff import seconds_until_reset

log = logging.getLogger(__name__)

QueryValue = str | int | float | bool | None

BATCH = 25
"""getProfiles and getPosts take at most 25 actors / URIs per call."""


@dataclass(frozen=True, slots=True)
class Profile:
    """What the AppView says about an account."""

    did: str
    handle: str
    name: str | None
    followers: int | None
    following: int | None


class AppView:
    """A small typed client with a TTL cache of profiles.

    ``clock`` returns epoch seconds; tests pass a virtual one to expire the cache.
    """

    def __init__(
        self,
        base_url: str,
        *,
        ttl_s: float = 3600.0,
        timeout_s: float = 5.0,
        clock: Callable[[], float],
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=timeout_s, transport=transport)
        self._ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[float, Profile]] = {}
        self._paused_until = 0.0
        self.requests = 0

    def profiles(self, dids: Iterable[str]) -> dict[str, Profile]:
        """Profiles for ``dids``: cached ones if fresh, the rest fetched in batches."""
        now = self._clock()
        found: dict[str, Profile] = {}
        missing: list[str] = []
        for did in dict.fromkeys(dids):
            cached = self._cache.get(did)
            if cached is not None and cached[0] > now:
                found[did] = cached[1]
            else:
                missing.append(did)
        for start in range(0, len(missing), BATCH):
            body = self._get(
                "/xrpc/app.bsky.actor.getProfiles",
                [("actors", did) for did in missing[start : start + BATCH]],
            )
            for item in (body or {}).get("profiles", []):
                profile = _profile(item)
                if profile is not None:
                    self._cache[profile.did] = (now + self._ttl_s, profile)
                    found[profile.did] = profile
        return found

    def engagement(self, uris: Sequence[str]) -> dict[str, Engagement]:
        """Current counts for post URIs (missing when the AppView does not answer)."""
        counts: dict[str, Engagement] = {}
        observed = utc_now()
        for start in range(0, len(uris), BATCH):
            body = self._get(
                "/xrpc/app.bsky.feed.getPosts", [("uris", u) for u in uris[start : start + BATCH]]
            )
            for item in (body or {}).get("posts", []):
                counts[str(item.get("uri"))] = Engagement(
                    reposts=item.get("repostCount"),
                    quotes=item.get("quoteCount"),
                    replies=item.get("replyCount"),
                    likes=item.get("likeCount"),
                    observed_at=observed,
                )
        return counts

    def _get(self, path: str, params: list[tuple[str, QueryValue]]) -> dict[str, Any] | None:
        if self._clock() < self._paused_until:
            return None
        self.requests += 1
        try:
            response = self._http.get(path, params=params)
        except httpx.HTTPError as exc:
            log.warning("appview %s failed: %s", path, exc)
            return None
        if response.status_code == 429:
            wait = seconds_until_reset(response.headers.get("ratelimit-reset"), self._clock())
            self._paused_until = self._clock() + (60.0 if wait is None else wait)
            log.warning("appview rate limited; lookups paused for %.0f s", wait or 60.0)
            return None
        if response.status_code != 200:
            log.warning("appview %s answered %s", path, response.status_code)
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def close(self) -> None:
        self._http.close()


def _profile(item: Any) -> Profile | None:
    if not isinstance(item, dict) or not item.get("did"):
        return None
    return Profile(
        did=str(item["did"]),
        handle=str(item.get("handle") or item["did"]),
        name=item.get("displayName") or None,
        followers=item.get("followersCount"),
        following=item.get("followsCount"),
    )


def with_profile(post: RawPost, profile: Profile | None) -> RawPost:
    """The post with the author's handle, name and counts filled in from the AppView."""
    if profile is None:
        return post
    author = Author(
        id=post.author.id,
        handle=profile.handle,
        name=profile.name,
        followers=profile.followers,
        following=profile.following,
    )
    url = post.url.replace(post.author.id, profile.handle, 1) if post.url else None
    return post.model_copy(update={"author": author, "url": url})
