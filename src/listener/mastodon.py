"""Mastodon via the streaming API (Server-Sent Events), with a timeline gap fill.

* Streams: ``public``, ``public:local`` or ``hashtag`` (one ``tag``). Since Mastodon 4.2
  the public streams need a user token with ``read:statuses``; it is read from the
  environment variable named in the settings, sent as ``Authorization: Bearer``, and
  never logged.
* The status payload carries everything: followers and following of the account,
  reblog/favourite/reply counts. ``content`` is HTML and becomes plain text.
* Boosts (``reblog`` set) are skipped, like ``-is:retweet`` on X: the original post is
  what a webcare agent answers.
* ``delete`` events (their data is the bare status id) become
  :class:`~klachtradar.contract.DeletedPost` records; ``status.update`` (an edit) is
  published again under the same id. Quotes (``quote.quoted_status``, Mastodon 4.4)
  set ``quote_of``, and ``quotes_count`` is read into the engagement.
* Checkpoint: ``since_id``, the newest status id published. After a disconnect or a
  restart the matching timeline (``/api/v1/timelines/public`` or ``/tag/:tag``) is
  read with ``min_id`` pages up to now before the stream resumes, so the outage has no
  gap; ids already published are dropped.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from klachtradar.contract import Author, DeletedPost, Engagement, RawPost, utc_now
from klachtradar.errors import ContractError, SourceError
from listener.backoff import Failure, ReconnectBackoff, seconds_until_reset
from listener.dedupe import RecentIds
from listener.html_text import html_to_text
from listener.http_stream import RetryableConnectError, StreamEndedError, StreamLines, open_stream
from listener.outcome import Skip
from listener.prefilter import AcceptAll, BrandPrefilter
from listener.source import Clock, Record, State, dead_letter, make_post

log = logging.getLogger(__name__)

RESET_HEADER = "X-RateLimit-Reset"


def status_to_post(status: dict[str, Any], *, received_at: datetime | None = None) -> RawPost:
    """Normalise a Mastodon Status entity; raises KeyError/ValueError when broken."""
    account = status["account"]
    text = html_to_text(str(status["content"]))
    if status.get("spoiler_text"):
        text = f"{status['spoiler_text']}\n\n{text}"
    return make_post(
        source="mastodon",
        post_id=str(status["id"]),
        url=status.get("url") or status.get("uri"),
        text=text,
        lang=status.get("language"),
        created_at=status["created_at"],
        received_at=received_at,
        author=Author(
            id=str(account["id"]),
            handle=str(account["acct"]),
            name=account.get("display_name") or None,
            followers=account.get("followers_count"),
            following=account.get("following_count"),
        ),
        engagement=Engagement(
            reposts=status.get("reblogs_count"),
            quotes=status.get("quotes_count"),
            replies=status.get("replies_count"),
            likes=status.get("favourites_count"),
            observed_at=received_at,
        ),
        reply_to=status.get("in_reply_to_id"),
        quote_of=quoted_id(status),
        mentions=[str(m["acct"]) for m in status.get("mentions") or ()],
        hashtags=[str(t["name"]) for t in status.get("tags") or ()],
    )


def quoted_id(status: dict[str, Any]) -> str | None:
    """The id of the status this one quotes: ``quote.quoted_status.id`` (a full quote) or
    ``quote.quoted_status_id`` (a shallow one), whatever the quote's approval state."""
    quote = status.get("quote")
    if not isinstance(quote, dict):
        return None
    inner = quote.get("quoted_status")
    if isinstance(inner, dict) and inner.get("id") is not None:
        return str(inner["id"])
    shallow = quote.get("quoted_status_id")
    return str(shallow) if shallow is not None else None


def deleted_status(payload: str) -> DeletedPost:
    """A ``delete`` event's data is the bare status id (no author: keyed by doc id)."""
    status_id = payload.strip().strip('"')
    if not status_id:
        raise ValueError("delete event without a status id")
    return DeletedPost(source="mastodon", post_id=status_id)


def interpret_event(name: str, payload: str) -> RawPost | DeletedPost | Skip:
    """One streaming event: a post (``update``/``status.update``), a delete, or a Skip.

    Raises ValueError/KeyError/ContractError on a broken payload (the caller dead-letters).
    """
    if name == "delete":
        return deleted_status(payload)
    if name not in ("update", "status.update"):
        return Skip(f"{name} event")
    status = json.loads(payload)
    if not isinstance(status, dict):
        raise ValueError(f"{name} event data is not a JSON object")
    if status.get("reblog"):
        return Skip("boost")
    return status_to_post(status)


def _newer(a: str, b: str | None) -> bool:
    """Mastodon ids are numeric strings that sort by time: compare by length, then text."""
    return b is None or (len(a), a) > (len(b), b)


@dataclass
class MastodonOptions:
    """Connection settings (see ``[listen.mastodon]``)."""

    base_url: str = "https://mastodon.social"
    stream: str = "public"
    tag: str | None = None
    token: str | None = field(default=None, repr=False)
    idle_tick_s: float = 0.5
    read_timeout_s: float = 45.0
    backfill_pages: int = 10
    page_size: int = 40


@dataclass
class MastodonSource:
    """Statuses from a Mastodon streaming endpoint that may mention a brand."""

    options: MastodonOptions
    prefilter: BrandPrefilter | AcceptAll
    clock: Clock = field(default_factory=Clock)
    backoff: ReconnectBackoff = field(default_factory=ReconnectBackoff)
    state: State | None = None
    name: str = "mastodon"
    transport: httpx.BaseTransport | None = None
    _since_id: str | None = field(default=None, init=False)
    _seen: RecentIds = field(default_factory=RecentIds, init=False)
    _got_data: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if not self.options.token:
            raise SourceError(
                "mastodon: no access token; set the environment variable named in "
                "[listen.mastodon] token_env (a user token with read:statuses)"
            )
        if self.options.stream == "hashtag" and not self.options.tag:
            raise SourceError("mastodon: stream = 'hashtag' needs [listen.mastodon] tag")
        self._since_id = (self.state or {}).get("since_id")
        self._origin = f"{self.options.base_url}{self._stream_path()}"
        self._client = httpx.Client(
            base_url=self.options.base_url,
            headers={"Authorization": f"Bearer {self.options.token}"},
            timeout=httpx.Timeout(10.0, read=self.options.read_timeout_s),
            transport=self.transport,
        )

    def _stream_path(self) -> str:
        paths = {
            "public": "/api/v1/streaming/public",
            "public:local": "/api/v1/streaming/public/local",
            "hashtag": "/api/v1/streaming/hashtag",
        }
        if self.options.stream not in paths:
            raise SourceError(f"mastodon: unknown stream {self.options.stream!r}")
        return paths[self.options.stream]

    def chunks(self, stop: threading.Event) -> Iterator[list[Record]]:
        """Open the stream, fill the gap from the timeline, then read events.

        The stream is opened *before* the gap fill, so statuses posted meanwhile wait in
        the stream's buffer; the overlap is removed by id.
        """
        try:
            while not stop.is_set():
                lines: StreamLines | None = None
                try:
                    lines = self._open()
                    backfilled = self._backfill()
                    self._got_data = False
                except RetryableConnectError as failed:
                    if lines is not None:
                        lines.close()
                    log.warning("mastodon: %s", failed)
                    delay = self.backoff.next_delay(failed.failure, reset_in_s=failed.reset_in_s)
                    self.clock.sleep(delay, stop)
                    yield []  # a tick while backing off: the loop may flush or stop
                    continue
                try:
                    yield backfilled
                    yield from self._read(lines, stop)
                except StreamEndedError as ended:
                    log.warning("mastodon stream ended (%s); reconnecting", ended)
                    if not self._got_data:  # ended before any byte: do not hammer
                        self.clock.sleep(self.backoff.next_delay(Failure.NETWORK), stop)
                        yield []  # a tick while backing off: the loop may flush or stop
                finally:
                    lines.close()
        finally:
            self._client.close()

    def _open(self) -> StreamLines:
        params = (
            {"tag": self.options.tag}
            if self.options.stream == "hashtag" and self.options.tag
            else None
        )
        response = open_stream(
            self._client,
            self._stream_path(),
            source="mastodon",
            params=params,
            reset_header=RESET_HEADER,
            now=self.clock.now(),
        )
        return StreamLines(response)

    def _read(self, lines: StreamLines, stop: threading.Event) -> Iterator[list[Record]]:
        """Parse SSE: ``event:``/``data:`` lines, a blank line dispatches, ``:`` is a comment."""
        event: str | None = None
        data: list[str] = []
        while not stop.is_set():
            line = lines.next(self.options.idle_tick_s)
            if line is None:
                yield []
                continue
            if not self._got_data:
                self._got_data = True
                self.backoff.reset()
            if line.startswith(":"):
                yield []  # heartbeat (":thump"): a tick, so the loop can flush and stop
                continue
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            elif line == "":
                if event is not None or data:
                    record = self._event(event or "message", "\n".join(data))
                    yield [record] if record is not None else []
                event, data = None, []

    def _event(self, name: str, payload: str) -> Record | None:
        if name == "delete":
            try:
                return deleted_status(payload)
            except ValueError as exc:
                return dead_letter(self._origin, "event delete", "decode", str(exc), payload)
        if name not in ("update", "status.update"):
            return None  # notification, filters_changed, announcement, …: not posts
        try:
            status = json.loads(payload)
            if not isinstance(status, dict):
                raise ValueError("update event data is not a JSON object")
        except ValueError as exc:
            return dead_letter(self._origin, f"event {name}", "decode", str(exc), payload)
        return self._status(status, payload, edited=name == "status.update")

    def _status(self, status: dict[str, Any], raw: str, *, edited: bool = False) -> Record | None:
        if status.get("reblog"):
            return None
        try:
            post = status_to_post(status, received_at=utc_now())
        except (KeyError, ValueError, TypeError, ContractError) as exc:
            reason = f"missing field {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
            position = f"status {status.get('id', '?')}"
            return dead_letter(self._origin, position, "normalise", reason.splitlines()[0], raw)
        if not self.prefilter.matches(
            post.text, [*post.mentions, *(f"#{t}" for t in post.hashtags)]
        ):
            self._advance(post.post_id)
            return None
        if not self._seen.add(post.post_id) and not edited:
            return None
        self._advance(post.post_id)
        return post

    def _advance(self, status_id: str) -> None:
        if _newer(status_id, self._since_id):
            self._since_id = status_id

    def _backfill(self) -> list[Record]:
        """Statuses newer than the checkpoint, oldest first, via ``min_id`` pages."""
        if self._since_id is None:
            return []
        path = (
            f"/api/v1/timelines/tag/{self.options.tag}"
            if self.options.stream == "hashtag"
            else "/api/v1/timelines/public"
        )
        params: dict[str, str] = {"limit": str(self.options.page_size)}
        if self.options.stream == "public:local":
            params["local"] = "true"
        records: list[Record] = []
        cursor = self._since_id
        for _ in range(self.options.backfill_pages):
            page = self._get_page(path, {**params, "min_id": cursor})
            if not page:
                break
            for status in sorted(page, key=lambda s: (len(str(s.get("id"))), str(s.get("id")))):
                record = self._status(status, json.dumps(status))
                if record is not None:
                    records.append(record)
                if _newer(str(status.get("id")), cursor):
                    cursor = str(status.get("id"))
        return records

    def _get_page(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        try:
            response = self._client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise RetryableConnectError(
                Failure.NETWORK, f"timeline backfill failed: {exc}"
            ) from exc
        if response.status_code in (401, 403):
            raise SourceError(f"mastodon: the server refused the token ({response.status_code})")
        if response.status_code == 429:
            wait = seconds_until_reset(response.headers.get(RESET_HEADER), self.clock.now())
            raise RetryableConnectError(Failure.RATE_LIMIT, "timeline backfill rate limited", wait)
        if response.status_code != 200:
            raise RetryableConnectError(
                Failure.HTTP, f"timeline backfill answered {response.status_code}"
            )
        body = response.json()
        return [s for s in body if isinstance(s, dict)] if isinstance(body, list) else []

    def checkpoint(self) -> State | None:
        return {"since_id": self._since_id} if self._since_id is not None else None

    @property
    def host(self) -> str:
        return urlsplit(self.options.base_url).netloc
