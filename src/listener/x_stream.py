"""X via API v2: rules and recent search through tweepy, the filtered stream through httpx.

Why not ``tweepy.StreamingClient.filter`` for the stream itself (tweepy 4.17 still has
it): its reconnect loop is internal and sleeps for real (``time.sleep``), a 429 on
connect waits a fixed 60 s doubling instead of the ``x-rate-limit-reset`` X sends,
posts arrive through callbacks on its own thread, and the host is hard-coded to
``https://api.twitter.com``. We need per-batch checkpoints, a stop flag, virtual
backoff in tests and a configurable base URL, so the stream is read by a small httpx
reader (:mod:`listener.http_stream`) while tweepy does what it does well: the rules
endpoints (``StreamingClient.get_rules/add_rules/delete_rules``) and the recent search
(``Client.search_recent_tweets``). tweepy's session is pointed at the configured base
URL by a requests adapter (:class:`RebaseAdapter`).

Gap fill: after any (re)connect, when a ``since_id`` checkpoint exists, each rule's
query runs against recent search with ``since_id`` before the stream is read; ids
already published are dropped. The bearer token comes from the environment only;
tweepy's debug log (which prints request headers) is capped at INFO so it is never
logged.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import requests
from requests.adapters import HTTPAdapter

from klachtradar.contract import utc_now
from klachtradar.errors import ContractError, SourceError
from klachtradar.watchlist import Watchlist
from listener.backoff import Failure, ReconnectBackoff
from listener.dedupe import RecentIds
from listener.http_stream import RetryableConnectError, StreamEndedError, StreamLines, open_stream
from listener.outcome import Skip
from listener.source import Clock, Record, State, dead_letter
from listener.x_compliance import interpret_line
from listener.x_post import (
    EXPANSIONS,
    TWEET_FIELDS,
    USER_FIELDS,
    newer_id,
    tweet_to_post,
    users_by_id,
)
from listener.x_rules import Rule, build_rules, sync_rules

log = logging.getLogger(__name__)
logging.getLogger("tweepy").setLevel(max(logging.INFO, logging.getLogger("tweepy").level))

TWEEPY_HOST = "https://api.twitter.com"
STREAM_PATH = "/2/tweets/search/stream"
RESET_HEADER = "x-rate-limit-reset"


class RebaseAdapter(HTTPAdapter):
    """Sends tweepy's requests for ``https://api.twitter.com`` to another base URL."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if request.url and request.url.startswith(TWEEPY_HOST):
            request.url = self.base_url + request.url[len(TWEEPY_HOST) :]
        return super().send(request, *args, **kwargs)


def tweepy_clients(base_url: str, token: str) -> tuple[Any, Any]:
    """(``tweepy.Client``, ``tweepy.StreamingClient``) returning raw JSON, at ``base_url``."""
    import tweepy

    client = tweepy.Client(bearer_token=token, return_type=dict, wait_on_rate_limit=False)
    streaming = tweepy.StreamingClient(token, return_type=dict, wait_on_rate_limit=False)
    for session in (client.session, streaming.session):
        session.mount(TWEEPY_HOST, RebaseAdapter(base_url))
    return client, streaming


@dataclass
class XOptions:
    """Connection settings (see ``[listen.x]``)."""

    base_url: str = "https://api.x.com"
    token: str | None = field(default=None, repr=False)
    languages: list[str] = field(default_factory=lambda: ["nl"])
    tag_prefix: str = "klachtradar:"
    max_rule_length: int = 512
    sync_rules: bool = True
    backfill: bool = True
    backfill_pages: int = 5
    idle_tick_s: float = 0.5
    read_timeout_s: float = 30.0


@dataclass
class XSource:
    """Posts from the X filtered stream, rules synced from the watchlist."""

    options: XOptions
    watchlist: Watchlist
    clock: Clock = field(default_factory=Clock)
    backoff: ReconnectBackoff = field(default_factory=ReconnectBackoff)
    state: State | None = None
    name: str = "x"
    _since_id: str | None = field(default=None, init=False)
    _seen: RecentIds = field(default_factory=RecentIds, init=False)
    _got_data: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if not self.options.token:
            raise SourceError(
                "x: no bearer token; set the environment variable named in "
                "[listen.x] token_env (an app-only OAuth 2.0 bearer token)"
            )
        self._since_id = (self.state or {}).get("since_id")
        self.rules: list[Rule] = build_rules(
            self.watchlist,
            languages=self.options.languages,
            tag_prefix=self.options.tag_prefix,
            max_length=self.options.max_rule_length,
        )
        self._origin = self.options.base_url.rstrip("/") + STREAM_PATH
        self._client, self._streaming = tweepy_clients(self.options.base_url, self.options.token)
        self._http = httpx.Client(
            base_url=self.options.base_url,
            headers={"Authorization": f"Bearer {self.options.token}"},
            timeout=httpx.Timeout(10.0, read=self.options.read_timeout_s),
        )

    def chunks(self, stop: threading.Event) -> Iterator[list[Record]]:
        """Sync rules once, then: open stream → gap fill → read, reconnecting on failure."""
        try:
            if self.options.sync_rules:
                yield from self._sync(stop)
            while not stop.is_set():
                lines: StreamLines | None = None
                try:
                    lines = self._open()
                    backfilled = self._backfill()
                except RetryableConnectError as failed:
                    if lines is not None:
                        lines.close()
                    log.warning("x: %s", failed)
                    delay = self.backoff.next_delay(failed.failure, reset_in_s=failed.reset_in_s)
                    self.clock.sleep(delay, stop)
                    yield []  # a tick while backing off: the loop may flush or stop
                    continue
                self._got_data = False
                try:
                    yield backfilled
                    yield from self._read(lines, stop)
                except StreamEndedError as ended:
                    log.warning("x stream ended (%s); reconnecting", ended)
                    if not self._got_data:
                        self.clock.sleep(self.backoff.next_delay(Failure.NETWORK), stop)
                        yield []  # a tick while backing off: the loop may flush or stop
                finally:
                    lines.close()
        finally:
            self._http.close()

    def _sync(self, stop: threading.Event) -> Iterator[list[Record]]:
        while not stop.is_set():
            try:
                result = self._tweepy(
                    sync_rules, self._streaming, self.rules, self.options.tag_prefix
                )
            except RetryableConnectError as failed:
                delay = self.backoff.next_delay(failed.failure, reset_in_s=failed.reset_in_s)
                self.clock.sleep(delay, stop)
                yield []  # a tick while backing off: the loop may flush or stop
                continue
            log.info(
                "x rules synced: %d added, %d deleted, %d kept",
                len(result.added),
                len(result.deleted_ids),
                result.kept,
            )
            return

    def _tweepy(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a tweepy call, mapping its errors onto ours (auth: fatal; 429: reset time)."""
        import tweepy

        try:
            return call(*args, **kwargs)
        except (tweepy.Unauthorized, tweepy.Forbidden) as exc:
            status = exc.response.status_code
            raise SourceError(
                f"x: the API refused the bearer token ({status}); "
                "check the token in the environment"
            ) from exc
        except tweepy.TooManyRequests as exc:
            reset = None if exc.reset_time is None else max(0.0, exc.reset_time - self.clock.now())
            raise RetryableConnectError(Failure.RATE_LIMIT, "x: 429 on a REST call", reset) from exc
        except tweepy.TwitterServerError as exc:
            raise RetryableConnectError(Failure.HTTP, f"x: {exc}") from exc
        except tweepy.HTTPException as exc:
            raise SourceError(f"x: the API rejected a request: {exc}") from exc
        except requests.RequestException as exc:
            raise RetryableConnectError(Failure.NETWORK, f"x: {exc}") from exc

    def _open(self) -> StreamLines:
        response = open_stream(
            self._http,
            STREAM_PATH,
            source="x",
            params={
                "tweet.fields": TWEET_FIELDS,
                "user.fields": USER_FIELDS,
                "expansions": EXPANSIONS,
            },
            reset_header=RESET_HEADER,
            now=self.clock.now(),
        )
        return StreamLines(response)

    def _read(self, lines: StreamLines, stop: threading.Event) -> Iterator[list[Record]]:
        while not stop.is_set():
            line = lines.next(self.options.idle_tick_s)
            if line is None:
                yield []
                continue
            if not self._got_data:
                self._got_data = True
                self.backoff.reset()
            if not line.strip():
                yield []  # keep-alive: a tick, so the loop can flush and stop
                continue
            record = self._line(line)
            yield [record] if record is not None else []

    def _line(self, line: str) -> Record | None:
        """A post, a delete (compliance event), a dead letter, or None (nothing to publish)."""
        outcome = interpret_line(line, self._origin, self._position())
        if isinstance(outcome, Skip):
            if outcome.reason == "stream error message":
                log.warning("x stream error message: %s", line[:300])
            return None
        if not isinstance(outcome, dict):
            return outcome
        return self._post(outcome["data"], users_by_id(outcome.get("includes")), line)

    def _post(self, tweet: Any, users: dict[str, dict[str, Any]], raw: str) -> Record | None:
        try:
            post = tweet_to_post(tweet, users, received_at=utc_now())
        except (KeyError, ValueError, TypeError, AttributeError, ContractError) as exc:
            reason = f"missing field {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
            return dead_letter(
                self._origin, self._position(), "normalise", reason.splitlines()[0], raw
            )
        version = str(tweet["id"])  # an edit keeps its post id but is a new version
        if newer_id(version, self._since_id):
            self._since_id = version
        return post if self._seen.add(version) else None

    def _position(self) -> str:
        return f"after id {self._since_id}" if self._since_id else "before the first post"

    def _backfill(self) -> list[Record]:
        """Recent search per rule since the checkpoint, oldest first."""
        if not self.options.backfill or self._since_id is None:
            return []
        since = self._since_id
        records: list[Record] = []
        for rule in self.rules:
            token: str | None = None
            for _ in range(self.options.backfill_pages):
                page = self._tweepy(
                    self._client.search_recent_tweets,
                    rule.value,
                    since_id=since,
                    max_results=100,
                    next_token=token,
                    expansions=EXPANSIONS,
                    tweet_fields=TWEET_FIELDS,
                    user_fields=USER_FIELDS,
                )
                users = users_by_id(page.get("includes"))
                for tweet in sorted(page.get("data") or [], key=lambda t: int(t["id"])):
                    record = self._post(tweet, users, json.dumps(tweet))
                    if record is not None:
                        records.append(record)
                token = (page.get("meta") or {}).get("next_token")
                if not token:
                    break
        return records

    def checkpoint(self) -> State | None:
        return {"since_id": self._since_id} if self._since_id is not None else None
