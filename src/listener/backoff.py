"""Reconnect delays, following X's guidance for streaming clients (docs.x.com,
"Handling disconnections"), which suits the other sources as well:

* an established connection that drops: reconnect at once;
* network errors (refused, reset, timeout): back off linearly, +250 ms per try, up to 16 s;
* HTTP errors (5xx and other non-auth errors): exponentially from 5 s, doubling, up to 320 s;
* 429 Too Many Requests: wait until the reset time the server names; without one,
  exponentially from 60 s.

Each schedule is a :class:`klachtradar.backoff.Backoff` (the one backoff policy), without
jitter. The policy only computes delays; sleeping goes through an injectable function, so
tests run reconnects in virtual time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from klachtradar.backoff import Backoff


class Failure(StrEnum):
    """Why a connection attempt failed; each kind has its own schedule."""

    NETWORK = "network"
    HTTP = "http"
    RATE_LIMIT = "rate_limit"


def _network() -> Backoff:
    return Backoff(initial_s=0.25, maximum_s=16.0, linear=True, jitter=0.0)


def _http() -> Backoff:
    return Backoff(initial_s=5.0, maximum_s=320.0, jitter=0.0)


def _rate_limit() -> Backoff:
    return Backoff(initial_s=60.0, maximum_s=960.0, jitter=0.0)


@dataclass
class ReconnectBackoff:
    """Delay before the next attempt; :meth:`reset` after a connection delivered data.

    Network errors back off linearly (+250 ms per try, up to 16 s), HTTP errors
    exponentially from 5 s (up to 320 s), rate limits from 60 s (up to 960 s).
    """

    network: Backoff = field(default_factory=_network)
    http: Backoff = field(default_factory=_http)
    rate_limit: Backoff = field(default_factory=_rate_limit)

    def next_delay(self, failure: Failure, *, reset_in_s: float | None = None) -> float:
        """Seconds to wait after ``failure``; a server-named reset time wins for 429."""
        schedule = {
            Failure.NETWORK: self.network,
            Failure.HTTP: self.http,
            Failure.RATE_LIMIT: self.rate_limit,
        }[failure]
        delay = schedule.delay()
        if failure is Failure.RATE_LIMIT and reset_in_s is not None:
            return max(0.0, reset_in_s)
        return delay

    def reset(self) -> None:
        """Forget earlier failures (the connection worked)."""
        for schedule in (self.network, self.http, self.rate_limit):
            schedule.reset()


def seconds_until_reset(value: str | None, now_epoch_s: float) -> float | None:
    """Seconds until a rate-limit reset header's moment, or None if absent/unreadable.

    Accepts the forms the sources use: Unix epoch seconds (X ``x-rate-limit-reset``,
    Bluesky ``ratelimit-reset``) and ISO 8601 (Mastodon ``X-RateLimit-Reset``).
    """
    if not value:
        return None
    value = value.strip()
    try:
        moment = float(value)
    except ValueError:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return max(0.0, moment - now_epoch_s)
