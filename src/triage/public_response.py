"""The brand's public replies in the report: response rate, first response time, tone.

Webcare answers on the platform, often from other tools than ours, so the report does
not only count what agents resolved here: the pipeline links each brand reply to the
complaint it answers (:mod:`enrich.replies`) and stores the complaint's first public
reply as ``ScoredPost.response``. This module turns that into a manager's numbers, the
same in the HTML report and in ``report --json``:

* **response rate** — the share of the period's complaints with a public brand reply;
* **median / p90 first response minutes** — over the answered complaints; percentiles
  interpolate linearly between the nearest ranks (numpy's default), so with answers
  after 10, 20, 30 and 40 minutes the median is 25 and p90 37;
* **within 1 h / within 8 h** — the share of *all* complaints answered in public within
  60 / 480 minutes: an unanswered complaint is not answered within an hour, so the
  share cannot look better by answering fewer (the benchmarks count the same way: of
  all messages, how many got an answer within the hour);
* **replies by tone** — the brand's own replies posted in the period, per tone
  (``professioneel``, ``kortaf``, ``grof``); broadcasts have no tone and count only in
  ``replies``;
* **answered, not solved** — conversations (``thread_id``) among the period's complaints
  in which the customer complained again after a brand reply (UPC: a reply is not a
  solution).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from klachtradar.contract import Tone

HOUR_MINUTES = 60.0
EIGHT_HOURS_MINUTES = 480.0
DDP_2017_AVERAGE_MINUTES = 195.0
"""DDP 2017, Dutch webcare benchmark: the average public reply came after 3 h 15 min."""


@dataclass(frozen=True, slots=True)
class ComplaintResponse:
    """What the public-response numbers need of one complaint."""

    doc_id: str
    thread_id: str | None
    first_response_minutes: float | None
    """Minutes to the brand's first public reply; None while it has not replied."""
    answered_not_solved: bool


@dataclass(frozen=True, slots=True)
class PublicResponseStats:
    """The brand's public replies to the period's complaints; see the module docstring."""

    complaints: int
    minutes: tuple[float, ...]
    """First response minutes of the complaints answered in public, ascending."""
    replies: int
    replies_by_tone: dict[str, int] = field(default_factory=dict)
    answered_not_solved: int = 0
    """Conversations in which the customer complained again after a brand reply."""

    @property
    def answered(self) -> int:
        return len(self.minutes)

    @property
    def response_rate(self) -> float:
        return self.answered / self.complaints if self.complaints else 0.0

    @property
    def median_minutes(self) -> float | None:
        return statistics.median(self.minutes) if self.minutes else None

    @property
    def p90_minutes(self) -> float | None:
        return percentile(self.minutes, 0.9)

    @property
    def within_hour_share(self) -> float:
        return self._within(HOUR_MINUTES)

    @property
    def within_eight_hours_share(self) -> float:
        return self._within(EIGHT_HOURS_MINUTES)

    def _within(self, limit: float) -> float:
        if not self.complaints:
            return 0.0
        return sum(m <= limit for m in self.minutes) / self.complaints


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0–1) by linear interpolation between the nearest ranks.

    >>> percentile([10, 20, 30, 40], 0.9)
    37.0
    >>> percentile([7], 0.9)
    7.0
    """
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


def public_response_stats(
    complaints: Sequence[ComplaintResponse], reply_tones: Sequence[str | None]
) -> PublicResponseStats:
    """The numbers for ``complaints`` (the report's) and the brand's replies in the
    period (their tone, None for a broadcast)."""
    minutes = sorted(
        c.first_response_minutes for c in complaints if c.first_response_minutes is not None
    )
    by_tone = {tone.value: 0 for tone in Tone}
    for tone in reply_tones:
        if tone is not None:
            by_tone[tone] = by_tone.get(tone, 0) + 1
    threads = {c.thread_id or c.doc_id for c in complaints if c.answered_not_solved}
    return PublicResponseStats(
        complaints=len(complaints),
        minutes=tuple(minutes),
        replies=len(reply_tones),
        replies_by_tone=by_tone,
        answered_not_solved=len(threads),
    )
