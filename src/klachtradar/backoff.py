"""The one backoff policy: how long to wait before the next try after a failure.

Waits grow from ``initial_s`` — doubling (``factor``), or by ``initial_s`` each time
(``linear``) — up to ``maximum_s``, optionally spread by ``±jitter`` so that N restarted
processes do not retry in step. Everything that retries uses it:

* the Kafka loops and topic creation (:mod:`klachtradar.runtime.streaming`,
  :mod:`klachtradar.runtime.stream_cli`): 0.2 s, 0.4 s, … up to 10 s, ±20 %;
* the listeners' reconnects (:class:`listener.backoff.ReconnectBackoff`): one policy
  per kind of failure, after X's guidance;
* the Elasticsearch bulk writer (:class:`sink.es.writer.RetryPolicy`, ±50 %) and the
  triage app's Elasticsearch mirror.

The policy only computes waits; sleeping is the caller's (an interruptible wait, or an
injected clock in tests).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

_MAX_EXPONENT = 64
"""Attempts beyond this wait as long as this one (``factor ** n`` would overflow)."""


@dataclass
class Backoff:
    """Waits that grow per failed attempt; :meth:`reset` after a success."""

    initial_s: float = 0.2
    maximum_s: float = 10.0
    factor: float = 2.0
    linear: bool = False
    jitter: float = 0.2
    _attempts: int = field(default=0, init=False, repr=False)

    def wait_for(self, attempt: int, rng: random.Random | None = None) -> float:
        """The wait before retry number ``attempt`` (0 for the first), without counting it.

        Without ``rng`` the jitter comes from the module-level generator.
        """
        if self.linear:
            grown = self.initial_s * (attempt + 1)
        else:
            grown = self.initial_s * self.factor ** min(attempt, _MAX_EXPONENT)
        wait = min(grown, self.maximum_s)
        if not self.jitter:
            return wait
        return wait * (rng or random).uniform(1.0 - self.jitter, 1.0 + self.jitter)

    def delay(self) -> float:
        """The next wait; counts the attempt."""
        wait = self.wait_for(self._attempts)
        self._attempts += 1
        return wait

    @property
    def attempts(self) -> int:
        """Failed attempts since the last :meth:`reset`."""
        return self._attempts

    def reset(self) -> None:
        """Forget earlier failures (the last try worked)."""
        self._attempts = 0
