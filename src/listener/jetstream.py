"""Bluesky via Jetstream: a WebSocket of JSON commit events, resumable by cursor.

* ``wantedCollections=app.bsky.feed.post`` — only posts; there is no keyword filter,
  so brands are matched client-side (:mod:`listener.prefilter`).
* The cursor is the ``time_us`` (Unix microseconds) of the last event handled. On a
  reconnect or a restart we ask for ``cursor - overlap`` (a few seconds back, as the
  Jetstream docs advise for gapless playback) and drop posts already published by
  their URI; the URIs inside the overlap window are saved with the cursor, so even a
  restarted process publishes no duplicates.
* ``compress=true`` makes Jetstream send zstd frames (with its published dictionary,
  whose path is configurable); plain-text frames are accepted either way.
* Deletes of posts become :class:`~klachtradar.contract.DeletedPost` records, all of
  them: the listener cannot know whether it published the post (it may have done so
  before a restart, or the post may still come in a replay), and the sinks keep a
  tombstone either way. Edits (``update`` commits) are published again under the same
  URI, past the duplicate filter.
* Follower counts come from the AppView (batched, cached); posts by large accounts are
  re-read after a delay and published again with fresh engagement counts (same doc id,
  so sinks update in place).
"""

from __future__ import annotations

import heapq
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from klachtradar.contract import RawPost, utc_now
from klachtradar.errors import ContractError, SourceError
from listener.backoff import Failure, ReconnectBackoff, seconds_until_reset
from listener.bluesky_appview import AppView, with_profile
from listener.bluesky_post import (
    POST_COLLECTION,
    created_post,
    deleted_post,
    post_from_event,
    post_text,
    tags_of,
)
from listener.dedupe import RecentIds
from listener.prefilter import AcceptAll, BrandPrefilter
from listener.source import Clock, Record, State, dead_letter

log = logging.getLogger(__name__)


class FrameDecoder:
    """Bytes or text of one Jetstream frame → a JSON event (zstd when compressed)."""

    def __init__(self, zstd_dictionary: Path | None = None) -> None:
        self._dictionary = zstd_dictionary
        self._zstd: Any = None

    def decode(self, message: str | bytes) -> dict[str, Any]:
        """Parse one frame; raises ValueError with the reason when it is not an event."""
        if isinstance(message, bytes):
            message = self._decompress(message) if message[:4] == b"\x28\xb5\x2f\xfd" else message
        event = json.loads(message)
        if not isinstance(event, dict):
            raise ValueError("frame is not a JSON object")
        if not isinstance(event.get("time_us"), int) or not isinstance(event.get("did"), str):
            raise ValueError("event without integer time_us or did")
        return event

    def _decompress(self, data: bytes) -> bytes:
        if self._zstd is None:
            import zstandard

            dict_data = (
                zstandard.ZstdCompressionDict(self._dictionary.read_bytes())
                if self._dictionary is not None
                else None
            )
            self._zstd = zstandard.ZstdDecompressor(dict_data=dict_data)
        out: bytes = self._zstd.decompressobj().decompress(data)
        return out


@dataclass
class JetstreamOptions:
    """Connection settings (see ``[listen.bluesky]``)."""

    url: str = "wss://jetstream2.us-east.bsky.network/subscribe"
    overlap_s: float = 5.0
    compress: bool = False
    zstd_dictionary: Path | None = None
    idle_tick_s: float = 0.5
    max_chunk: int = 200
    open_timeout_s: float = 10.0
    refresh_min_followers: int | None = 10_000
    refresh_after_s: float = 600.0


@dataclass
class JetstreamSource:
    """Posts from Jetstream that may mention a brand, resumable from a checkpoint."""

    options: JetstreamOptions
    prefilter: BrandPrefilter | AcceptAll
    appview: AppView | None = None
    clock: Clock = field(default_factory=Clock)
    backoff: ReconnectBackoff = field(default_factory=ReconnectBackoff)
    state: State | None = None
    name: str = "bluesky"
    connections: int = field(default=0, init=False)
    _cursor: int | None = field(default=None, init=False)
    _window: dict[str, int] = field(default_factory=dict, init=False)
    _seen: RecentIds = field(default_factory=RecentIds, init=False)
    _refresh: list[tuple[float, str]] = field(default_factory=list, init=False)
    _refresh_posts: dict[str, RawPost] = field(default_factory=dict, init=False)
    _frames: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._decoder = FrameDecoder(self.options.zstd_dictionary)
        if self.state:
            self._cursor = int(self.state.get("cursor") or 0) or None
            for uri, time_us in (self.state.get("recent") or {}).items():
                self._window[str(uri)] = int(time_us)
                self._seen.add(str(uri))

    # -- the stream --------------------------------------------------------------------

    def chunks(self, stop: threading.Event) -> Iterator[list[Record]]:
        """Connect, read, reconnect with backoff; yield chunks until ``stop``."""
        while not stop.is_set():
            try:
                ws = self._connect()
            except _RetryAfterError as failed:
                self.clock.sleep(failed.delay, stop)
                yield []  # a tick while backing off: the loop may flush or stop
                continue
            with ws:
                try:
                    yield from self._read(ws, stop)
                except ConnectionClosed as exc:
                    log.warning("jetstream connection closed (%s); reconnecting", exc)
                    delay = self.backoff.next_delay(Failure.NETWORK) if not self._frames else 0.0
                    self._frames = 0
                    if delay:
                        self.clock.sleep(delay, stop)
                        yield []  # a tick while backing off: the loop may flush or stop

    def _connect(self) -> ClientConnection:
        url = self.subscribe_url()
        self.connections += 1
        try:
            return connect(
                url,
                open_timeout=self.options.open_timeout_s,
                max_size=2**22,
                compression=None,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise SourceError(
                    f"bluesky: Jetstream refused the connection ({status}); check the URL"
                ) from exc
            if status == 429:
                reset = seconds_until_reset(
                    exc.response.headers.get("ratelimit-reset")
                    or exc.response.headers.get("retry-after"),
                    self.clock.now(),
                )
                raise _RetryAfterError(
                    self.backoff.next_delay(Failure.RATE_LIMIT, reset_in_s=reset)
                ) from exc
            raise _RetryAfterError(self.backoff.next_delay(Failure.HTTP)) from exc
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            log.warning("jetstream connect failed: %s", exc)
            raise _RetryAfterError(self.backoff.next_delay(Failure.NETWORK)) from exc

    def subscribe_url(self) -> str:
        """The subscribe URL, with the cursor rewound by the overlap when resuming."""
        params: list[tuple[str, str]] = [("wantedCollections", POST_COLLECTION)]
        if self._cursor is not None:
            rewind = int(self.options.overlap_s * 1_000_000)
            params.append(("cursor", str(max(0, self._cursor - rewind))))
        if self.options.compress:
            params.append(("compress", "true"))
        separator = "&" if "?" in self.options.url else "?"
        return f"{self.options.url}{separator}{urlencode(params)}"

    def _read(self, ws: ClientConnection, stop: threading.Event) -> Iterator[list[Record]]:
        while not stop.is_set():
            messages: list[str | bytes] = []
            try:
                messages.append(ws.recv(timeout=self.options.idle_tick_s))
                while len(messages) < self.options.max_chunk:
                    messages.append(ws.recv(timeout=0))
            except TimeoutError:
                pass
            except ConnectionClosed:
                if messages:
                    yield self._chunk(messages)
                raise
            yield self._chunk(messages) if messages else self._due_refreshes()

    # -- frames → records ----------------------------------------------------------------

    def _chunk(self, messages: list[str | bytes]) -> list[Record]:
        if self._frames == 0:
            self.backoff.reset()
        self._frames += len(messages)
        records: list[Record] = []
        posts: list[RawPost] = []
        for message in messages:
            record = self.handle(message)
            if isinstance(record, RawPost):
                posts.append(record)
            elif record is not None:
                records.append(record)
        records.extend(self._with_profiles(posts))
        records.extend(self._due_refreshes())
        return records

    def handle(self, message: str | bytes) -> Record | None:
        """One frame: a new or edited brand post, a post's delete, a dead letter, or None
        (not a post, no brand, seen).

        The cursor advances for every readable frame, matched or not.
        """
        try:
            event = self._decoder.decode(message)
        except (ValueError, UnicodeDecodeError) as exc:
            return dead_letter(self.options.url, self._position(), "decode", str(exc), message)
        time_us: int = event["time_us"]
        self._cursor = time_us if self._cursor is None else max(self._cursor, time_us)
        try:
            if _is_post_delete(event):
                return deleted_post(event)  # every one: the post may be ours, or arrive later
            record = created_post(event)
            if record is None:
                return None
            text = post_text(record)
            if not self.prefilter.matches(text, [f"#{t}" for t in tags_of(record)]):
                return None
            post = post_from_event(event, record, received_at=utc_now())
        except (ValueError, KeyError, TypeError, ContractError) as exc:
            raw = message if isinstance(message, str) else json.dumps(event)
            return dead_letter(
                self.options.url, f"time_us {time_us}", "normalise", _reason(exc), raw
            )
        edited = event["commit"].get("operation") == "update"
        if not self._seen.add(post.post_id) and not edited:
            return None
        self._window[post.post_id] = time_us
        return post

    def _position(self) -> str:
        return f"after time_us {self._cursor}" if self._cursor else "before the first event"

    def _with_profiles(self, posts: list[RawPost]) -> list[RawPost]:
        if not posts or self.appview is None:
            return posts
        profiles = self.appview.profiles(p.author.id for p in posts)
        enriched = [with_profile(p, profiles.get(p.author.id)) for p in posts]
        for post in enriched:
            self._maybe_schedule_refresh(post)
        return enriched

    # -- engagement refresh ------------------------------------------------------------

    def _maybe_schedule_refresh(self, post: RawPost) -> None:
        threshold = self.options.refresh_min_followers
        followers = post.author.followers
        if threshold is None or followers is None or followers < threshold:
            return
        heapq.heappush(
            self._refresh, (self.clock.now() + self.options.refresh_after_s, post.post_id)
        )
        self._refresh_posts[post.post_id] = post

    def _due_refreshes(self) -> list[Record]:
        """Posts whose refresh time has come, re-published with current engagement."""
        if self.appview is None or not self._refresh or self._refresh[0][0] > self.clock.now():
            return []
        due: list[RawPost] = []
        while self._refresh and self._refresh[0][0] <= self.clock.now():
            _, uri = heapq.heappop(self._refresh)
            due.append(self._refresh_posts.pop(uri))
        counts = self.appview.engagement([p.post_id for p in due])
        return [
            p.model_copy(update={"engagement": counts[p.post_id], "received_at": utc_now()})
            for p in due
            if p.post_id in counts
        ]

    # -- checkpoint --------------------------------------------------------------------

    def checkpoint(self) -> State | None:
        """The cursor and the URIs published inside the overlap window before it."""
        if self._cursor is None:
            return None
        horizon = self._cursor - int((self.options.overlap_s + 1) * 1_000_000)
        self._window = {uri: t for uri, t in self._window.items() if t >= horizon}
        return {"cursor": self._cursor, "recent": dict(self._window)}


class _RetryAfterError(Exception):
    def __init__(self, delay: float) -> None:
        super().__init__(f"retry in {delay:.2f} s")
        self.delay = delay


def _is_post_delete(event: dict[str, Any]) -> bool:
    commit = event.get("commit")
    return (
        event.get("kind") == "commit"
        and isinstance(commit, dict)
        and commit.get("collection") == POST_COLLECTION
        and commit.get("operation") == "delete"
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
