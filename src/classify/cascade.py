"""The overload cascade: the accurate model while the stream keeps up, the fast one when not.

The model that holds on real Dutch text (the e5 encoder) judges tens of posts a second
on two cores; the linear model judges thousands. A storm — exactly when webcare most
needs alerts — can bring more posts than the encoder can take, and a queue that grows
without bound turns a one-second alert into a ten-minute one. So the pipeline measures
how far behind it is and, past ``[classify] overload_lag_seconds``, sends batches to
the fast model until it is back under ``resume_lag_seconds``. The two thresholds give
hysteresis, so a stream near the limit does not flap between models on every batch.

"How far behind" is a deadline, not only an age: the age of the batch's oldest post
since the listener received it *plus* what the primary model is expected to take for
this batch (and for a batch still queued before it in the judge worker), from
:class:`JudgeCost`, measured on the primary's own batches. A batch whose oldest post
waited 0.3 s looks fine by age, but if the encoder needs 0.4 s for its 40 posts its
alert leaves at 0.7 s; the gate sees 0.7 s before it commits to the slow path. Until
the primary has judged a batch, the expectation is zero (age only).

**Split batches** (``[classify] overload_split``, on by default). Sending a whole
batch to the fast model wastes the encoder: on a CPU where it judges 35 posts a second
and 50 arrive, whole-batch switching left 80 % of the posts to the fast model. Under
overload the gate instead gives the primary as many posts of the batch as its measured
cost fits before the deadline (:meth:`JudgeCost.posts_within` the slack left after the
batch's age and the queued batch), and the fast model the rest. Which posts: the fast
model judges the whole batch first (microseconds a post), and the primary re-judges
its likeliest complaints — a missed or false complaint is the verdict that costs a
webcare team, a misread compliment is not (:func:`classify.stage.predict_routed`).

Every verdict names the model that made it (:class:`~klachtradar.contract.ModelRef`)
and says whether it was the fallback (``Classification.fallback``); the triage card
shows "snel model" for those. Nothing is re-judged later: a fast verdict is a verdict,
marked as such.

Pure: the caller passes the posts' arrival times and ``now``; the gate keeps only a
boolean between batches.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from classify.base import TextClassifier

log = logging.getLogger(__name__)

SPLIT_MARGIN = 0.8
"""The share of the slack a split batch's primary part is sized to: the cost model is a
fit over recent batches, and a batch that overruns its deadline is a late alert."""


@dataclass(frozen=True)
class OverloadPolicy:
    """When to switch to the fast model and back (seconds of arrival lag)."""

    max_lag_seconds: float
    resume_lag_seconds: float

    def __post_init__(self) -> None:
        if self.max_lag_seconds <= 0:
            raise ValueError("overload_lag_seconds must be > 0")
        if not 0 <= self.resume_lag_seconds <= self.max_lag_seconds:
            raise ValueError("resume_lag_seconds must be between 0 and overload_lag_seconds")


def batch_lag_seconds(received: Sequence[datetime | None], now: datetime) -> float:
    """How long the oldest post of the batch has waited since it was received.

    Posts without ``received_at`` (a file replayed as fast as it goes) have not waited
    on anyone and count as no lag: a replay of last year's posts is not an overload.
    """
    waits = [(now - at).total_seconds() for at in received if at is not None]
    return max(waits, default=0.0)


@dataclass
class JudgeCost:
    """What the primary model takes for a batch of ``n`` posts: ``a + b·n`` seconds.

    Fitted by least squares over the primary's recent batches, each weighed down by
    ``decay`` per later batch, so the estimate follows the machine (a neighbour's load,
    a new model after a hot swap) within tens of batches. With too little spread in
    batch sizes to separate ``a`` from ``b`` it falls back to the mean seconds per post.
    Pure arithmetic; the caller times the batches.
    """

    decay: float = 0.9
    _w: float = 0.0
    _n: float = 0.0
    _t: float = 0.0
    _nn: float = 0.0
    _nt: float = 0.0

    def observe(self, posts: int, seconds: float) -> None:
        """One primary batch of ``posts`` posts took ``seconds`` (0: not timed, ignored)."""
        if posts <= 0 or seconds <= 0:
            return
        d = self.decay
        self._w = self._w * d + 1.0
        self._n = self._n * d + posts
        self._t = self._t * d + seconds
        self._nn = self._nn * d + posts * posts
        self._nt = self._nt * d + posts * seconds

    def estimate(self, posts: int) -> float:
        """Expected seconds for ``posts`` posts (0 before any batch was observed)."""
        fit = self._fit()
        if posts <= 0 or fit is None:
            return 0.0
        intercept, slope = fit
        return intercept + slope * posts

    def posts_within(self, seconds: float) -> int:
        """How many posts fit in ``seconds`` (0 before any batch was observed: the
        cost is unknown, so nothing is promised)."""
        fit = self._fit()
        if fit is None or seconds <= 0:
            return 0
        intercept, slope = fit
        if slope <= 0:
            return 0
        return max(0, int((seconds - intercept) / slope))

    def _fit(self) -> tuple[float, float] | None:
        """``(a, b)`` of ``a + b·n``, or ``None`` before any batch was observed."""
        if self._w == 0:
            return None
        mean_n, mean_t = self._n / self._w, self._t / self._w
        if mean_n <= 0:
            return None
        spread = self._nn / self._w - mean_n * mean_n
        if spread > 1e-6 * max(1.0, mean_n * mean_n):
            slope = (self._nt / self._w - mean_n * mean_t) / spread
            intercept = mean_t - slope * mean_n
            if slope > 0 and intercept >= 0:
                return intercept, slope
        return 0.0, mean_t / mean_n


SWITCH_LOG_SECONDS = 30.0
"""At most one overload line per this many seconds of stream time: a stream hovering at
the limit can switch a few times a second, and thirty WARNING lines in twenty seconds
bury the rest of the log without telling an operator more than one line with a count."""


@dataclass
class LagGate:
    """Hysteresis over the batch lag: ``True`` while the stream is overloaded.

    Every switch is counted (``switches``); the log gets the first switch at once and,
    while the gate keeps switching, one line per :data:`SWITCH_LOG_SECONDS` with the
    state it is in *now* and how many switches that line sums up. The last state of a
    burst is always reported (on the first batch after the interval), so the newest line
    never says "fast model" for a stream that is back on the primary.
    """

    policy: OverloadPolicy
    overloaded: bool = False
    switches: int = field(default=0)
    log_every_seconds: float = SWITCH_LOG_SECONDS
    _logged_at: datetime | None = None
    _unlogged: int = 0
    """Switches since the last line (not yet reported)."""

    def observe(
        self, lag_seconds: float, expected_seconds: float = 0.0, now: datetime | None = None
    ) -> bool:
        """Update the state with one batch's lag; whether that batch goes to the fast model.

        ``expected_seconds``: what the primary model would still take for it (see
        :class:`JudgeCost`). Entering overload judges the batch on the lag its alert
        would leave with (age + expected); leaving it needs the age alone under the
        resume mark. Leaving on age keeps the cost measured: were the primary slower
        than the deadline on any batch, an expectation-based exit would never hand it
        a batch again, and the estimate would never learn that the machine got faster.
        ``now``: the batch's clock, for the log's rate limit (``None``: every switch is
        logged).
        """
        was = self.overloaded
        if self.overloaded:  # caught up by age alone: the primary gets the next batch,
            self.overloaded = lag_seconds > self.policy.resume_lag_seconds  # and is re-timed
        else:
            lag_seconds += max(0.0, expected_seconds)
            self.overloaded = lag_seconds > self.policy.max_lag_seconds
        if self.overloaded != was:
            self.switches += 1
            self._unlogged += 1
        if self._unlogged and self._may_log(now):
            self._log(lag_seconds, now)
        return self.overloaded

    def _may_log(self, now: datetime | None) -> bool:
        if now is None or self._logged_at is None:
            return True
        return (now - self._logged_at).total_seconds() >= self.log_every_seconds

    def _log(self, lag_seconds: float, now: datetime | None) -> None:
        folded = self._unlogged
        since = f"; {folded} switches since the last line" if folded > 1 else ""
        log.warning(
            "overload: %s (batch lag %.1f s%s)",
            "fast model takes over" if self.overloaded else "back to the primary model",
            lag_seconds,
            since,
            extra={
                "fields": {
                    "lag_seconds": round(lag_seconds, 3),
                    "fast": self.overloaded,
                    "switches": self.switches,
                    "switches_in_line": folded,
                }
            },
        )
        self._logged_at = now
        self._unlogged = 0


@dataclass
class Cascade:
    """The primary classifier, the fast one, and the gate that picks between them."""

    primary: TextClassifier
    fast: TextClassifier
    gate: LagGate
    cost: JudgeCost = field(default_factory=JudgeCost)
    """The primary's measured cost per batch (fed by the pipeline, in or out of process)."""
    split: bool = True
    """Under overload, the primary still takes what fits the deadline (module doc)."""

    def overloaded(
        self, received: Sequence[datetime | None], now: datetime, *, queued: int = 0
    ) -> bool:
        """Whether this batch goes to the fast model. ``queued``: posts of an earlier
        batch still waiting in the judge worker, which this one would queue behind."""
        expected = self.cost.estimate(len(received) + queued)
        return self.gate.observe(batch_lag_seconds(received, now), expected, now)

    def quota(
        self, received: Sequence[datetime | None], now: datetime, *, queued: int = 0
    ) -> int | None:
        """How many of this batch's posts the primary judges: ``None`` for all (the
        stream keeps up), else ``0 … len(received)``, the rest going to the fast model.

        Without ``split`` an overloaded batch gets 0, as :meth:`overloaded` says. With
        it, the primary gets the posts its measured cost fits into the slack before the
        deadline: ``overload_lag_seconds`` minus the batch's age minus the queued batch's
        expected cost, times :data:`SPLIT_MARGIN` (the estimate is a fit, not a promise).
        """
        if not self.overloaded(received, now, queued=queued):
            return None
        if not self.split:
            return 0
        lag = batch_lag_seconds(received, now)
        slack = self.gate.policy.max_lag_seconds - lag - self.cost.estimate(queued)
        return min(len(received), self.cost.posts_within(slack * SPLIT_MARGIN))
