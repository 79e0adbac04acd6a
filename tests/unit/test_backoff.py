"""The one backoff policy (klachtradar.backoff) every retrying part uses."""

from __future__ import annotations

import random

from klachtradar.backoff import Backoff


def test_exponential_waits_double_up_to_the_maximum() -> None:
    backoff = Backoff(initial_s=5.0, maximum_s=320.0, jitter=0.0)
    assert [backoff.delay() for _ in range(8)] == [5, 10, 20, 40, 80, 160, 320, 320]
    assert backoff.attempts == 8


def test_linear_waits_grow_by_the_initial_wait() -> None:
    backoff = Backoff(initial_s=0.25, maximum_s=1.0, linear=True, jitter=0.0)
    assert [backoff.delay() for _ in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_reset_starts_over() -> None:
    backoff = Backoff(initial_s=1.0, jitter=0.0)
    backoff.delay()
    backoff.delay()
    backoff.reset()
    assert backoff.attempts == 0 and backoff.delay() == 1.0


def test_jitter_stays_in_its_band_and_a_seeded_generator_repeats() -> None:
    backoff = Backoff(initial_s=1.0, maximum_s=4.0, jitter=0.5)
    waits = [backoff.wait_for(n, random.Random(3)) for n in range(4)]
    assert waits == [backoff.wait_for(n, random.Random(3)) for n in range(4)]
    for wait, base in zip(waits, [1, 2, 4, 4], strict=True):
        assert 0.5 * base <= wait <= 1.5 * base


def test_many_failures_do_not_overflow() -> None:
    assert Backoff(initial_s=0.2, maximum_s=10.0, jitter=0.0).wait_for(5000) == 10.0
