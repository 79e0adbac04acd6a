"""Reconnect delays, following X's guidance for streaming clients (docs.x.com,
"Handling disconnections"), which suits the other sources as well:

* an established connection that drops: reconnect at once;
* network errors (refused, reset, timeout): back off linearly, +250 ms per try, up to 16 s;
* HTTP errors (5xx and other non-auth errors): exponentially from 5 s, doubling, up to 320 s;
* 429 Too Many Requests: wait until the reset time the server names; without one,
  exponentially from 60 s.

The policy only computes delays; sleeping goes through an injectable function, so tests
run reconnects in virtual time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Failure(StrEnum):
    """Why a connection attempt failed; each kind has its own schedule."""

    NETWORK = "network"
    HTTP = "http"
    RATE_LIMIT = "rate_limit"


@dataclass
class Backoff:
    """Delay before the next attempt; :meth:`reset` after a connection delivered data."""

    network_step_s: float = 0.25
    network_max_s: float = 16.0
    http_start_s: float = 5.0
    http_max_s: float = 320.0
    rate_limit_start_s: float = 60.0
    rate_limit_max_s: float = 960.0
    _attempts: dict[Failure, int] = field(default_factory=dict, init=False)

    def next_delay(self, failure: Failure, *, reset_in_s: float | None = None) -> float:
        """Seconds to wait after ``failure``; a server-named reset time wins for 429."""
        n = self._attempts.get(failure, 0)
        self._attempts[failure] = n + 1
        if failure is Failure.RATE_LIMIT and reset_in_s is not None:
            return max(0.0, reset_in_s)
        if failure is Failure.NETWORK:
            return min(self.network_step_s * (n + 1), self.network_max_s)
        if failure is Failure.HTTP:
            return min(self.http_start_s * 2.0**n, self.http_max_s)
        return min(self.rate_limit_start_s * 2.0**n, self.rate_limit_max_s)

    def reset(self) -> None:
        """Forget earlier failures (the connection worked)."""
        self._attempts.clear()


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
