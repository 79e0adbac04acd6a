"""The overload cascade: the accurate model while the stream keeps up, the fast one when not.

The model that holds on real Dutch text (the e5 encoder) judges tens of posts a second
on two cores; the linear model judges thousands. A storm — exactly when webcare most
needs alerts — can bring more posts than the encoder can take, and a queue that grows
without bound turns a one-second alert into a ten-minute one. So the pipeline measures
how far behind it is (the age of the oldest post of a batch since the listener
received it) and, past ``[classify] overload_lag_seconds``, sends batches to the fast
model until the lag is back under ``resume_lag_seconds``. The two thresholds give
hysteresis, so a stream near the limit does not flap between models on every batch.

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
class LagGate:
    """Hysteresis over the batch lag: ``True`` while the stream is overloaded."""

    policy: OverloadPolicy
    overloaded: bool = False
    switches: int = field(default=0)

    def observe(self, lag_seconds: float) -> bool:
        """Update the state with one batch's lag; whether that batch goes to the fast model."""
        was = self.overloaded
        if self.overloaded:
            self.overloaded = lag_seconds > self.policy.resume_lag_seconds
        else:
            self.overloaded = lag_seconds > self.policy.max_lag_seconds
        if self.overloaded != was:
            self.switches += 1
            log.warning(
                "overload: %s (batch lag %.1f s)",
                "fast model takes over" if self.overloaded else "back to the primary model",
                lag_seconds,
                extra={"fields": {"lag_seconds": round(lag_seconds, 3), "fast": self.overloaded}},
            )
        return self.overloaded


@dataclass
class Cascade:
    """The primary classifier, the fast one, and the gate that picks between them."""

    primary: TextClassifier
    fast: TextClassifier
    gate: LagGate

    def choose(
        self, received: Sequence[datetime | None], now: datetime
    ) -> tuple[TextClassifier, bool]:
        """The classifier for this batch, and whether it is the fallback."""
        if self.gate.observe(batch_lag_seconds(received, now)):
            return self.fast, True
        return self.primary, False
