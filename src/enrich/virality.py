"""Early virality: expected final reposts from early counts, SEISMIC-style.

SEISMIC (Zhao et al., KDD 2015) models reposts as a self-exciting point process:
every post (the original and each repost) exposes its author's followers, and an
exposure turns into a repost with probability ``p`` (the post's *infectiousness*)
spread over time by a memory kernel φ(s) — flat for the first ``s0`` minutes, then a
power law ``(s/s0)^-(1+θ)`` (θ ≈ 0.24 on Twitter). From the counts seen so far::

    exposure so far   N(t) = n0·Φ(t) + R·n*·Φ̄(t)
    infectiousness    p    = R / N(t)
    exposure to come  F(t) = n0·(1 − Φ(t)) + R·n*·(1 − Φ̄(t))
    expected final    R∞   = R + p·F(t) / (1 − γ·p·n*)        (γ·p·n* < 1)

with ``n0`` the author's followers, ``R`` reposts + quotes at age ``t``, Φ the kernel's
cumulative distribution, Φ̄(t) its mean over [0, t] (we see counts, not the time of
each repost, so reposts are taken as spread evenly since posting) and ``n*`` the
typical follower count of a reposter. When ``γ·p·n* ≥ 1`` every repost brings more
than one new one: the cascade is *supercritical*, and the estimate is capped at
``explosive_factor × R`` and flagged. Each new observation of the same post (same doc
id, newer counts) gives a new estimate, and :class:`EngagementTracker` measures the
repost velocity between two observations instead of since posting.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

THETA = 0.242
"""Power-law exponent of the memory kernel (SEISMIC's fit on Twitter)."""
S0_MINUTES = 5.0
"""Length of the kernel's flat start."""


def kernel_cdf(minutes: float, *, theta: float = THETA, s0: float = S0_MINUTES) -> float:
    """Φ(t): the share of a post's reposts expected within ``minutes`` of it."""
    if minutes <= 0:
        return 0.0
    c = theta / (s0 * (1 + theta))
    if minutes <= s0:
        return c * minutes
    return c * s0 + (1 / (1 + theta)) * (1 - math.pow(minutes / s0, -theta))


def kernel_cdf_mean(minutes: float, *, theta: float = THETA, s0: float = S0_MINUTES) -> float:
    """Φ̄(t) = (1/t)·∫₀ᵗ Φ(s) ds, in closed form."""
    if minutes <= 0:
        return 0.0
    c = theta / (s0 * (1 + theta))
    if minutes <= s0:
        return c * minutes / 2
    head = c * s0 * s0 / 2
    flat = (c * s0 + 1 / (1 + theta)) * (minutes - s0)
    tail = (1 / (1 + theta)) * s0 / (1 - theta) * (math.pow(minutes / s0, 1 - theta) - 1)
    return (head + flat - tail) / minutes


@dataclass(frozen=True, slots=True)
class ViralityEstimate:
    """Expected final reposts (+quotes) of a post, and how it was reached."""

    current: int
    expected_final: float
    infectiousness: float
    supercritical: bool


def expected_final_reposts(
    *,
    followers: int,
    shares: int,
    age_minutes: float,
    reposter_followers: float = 250.0,
    gamma: float = 0.7,
    explosive_factor: float = 20.0,
) -> ViralityEstimate | None:
    """SEISMIC estimate (see the module docstring); None when there is nothing to go on.

    >>> e = expected_final_reposts(followers=41_200, shares=24, age_minutes=120)
    >>> 24 < e.expected_final < 100 and not e.supercritical
    True
    """
    if age_minutes <= 0 or shares <= 0:
        return None
    seen = kernel_cdf(age_minutes)
    seen_mean = kernel_cdf_mean(age_minutes)
    exposure = followers * seen + shares * reposter_followers * seen_mean
    if exposure <= 0:
        return None
    p = min(1.0, shares / exposure)
    branching = gamma * p * reposter_followers
    if branching >= 1.0:
        return ViralityEstimate(shares, shares * explosive_factor, p, supercritical=True)
    future = followers * (1 - seen) + shares * reposter_followers * (1 - seen_mean)
    final = shares + p * future / (1 - branching)
    return ViralityEstimate(shares, min(final, shares * explosive_factor), p, supercritical=False)


class Observation(NamedTuple):
    """Engagement counts of one post at one moment (a tuple: made for every post)."""

    at: datetime
    reposts: int
    shares: int


class EngagementTracker:
    """The last engagement counts seen per doc id, to measure velocity between updates.

    Bounded (least recently seen posts are forgotten first), because a stream never
    ends; a forgotten post falls back to velocity since posting.
    """

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[str, Observation] = OrderedDict()
        self._priority: OrderedDict[str, str] = OrderedDict()

    def swap_priority(self, doc_id: str, priority: str) -> str | None:
        """Remember a post's priority; returns the one it had before, if it was scored."""
        before = self._priority.get(doc_id)
        self._priority[doc_id] = priority
        self._priority.move_to_end(doc_id)
        while len(self._priority) > self.capacity:
            self._priority.popitem(last=False)
        return before

    def previous(self, doc_id: str) -> Observation | None:
        """The last observation of ``doc_id``, if any."""
        return self._seen.get(doc_id)

    def remember(self, doc_id: str, observation: Observation) -> Observation:
        """Keep the newest observation; an older or lower one never replaces it.

        Returns the observation that is now current (the given one, or the kept one
        when the given one was stale).
        """
        current = self._seen.get(doc_id)
        if current is not None and (
            observation.at < current.at or observation.shares < current.shares
        ):
            return current
        self._seen[doc_id] = observation
        self._seen.move_to_end(doc_id)
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return observation

    def __len__(self) -> int:
        return len(self._seen)


def per_hour(delta: float, since: datetime, until: datetime) -> float | None:
    """``delta`` per hour between two moments (None when no time passed)."""
    hours = (until - since).total_seconds() / 3600
    if hours <= 0:
        return None
    return delta / hours


def log_scale(value: float, full: float) -> float:
    """0 at 0, 1 at ``full`` and beyond, logarithmic in between."""
    if value <= 0:
        return 0.0
    return min(1.0, math.log10(1 + value) / math.log10(1 + full))
