"""Reconnect delays per X's guidance, and reading rate-limit reset headers."""

from __future__ import annotations

import pytest

from listener.backoff import Failure, ReconnectBackoff, seconds_until_reset


def test_network_errors_back_off_linearly_up_to_16_seconds() -> None:
    backoff = ReconnectBackoff()
    delays = [backoff.next_delay(Failure.NETWORK) for _ in range(70)]
    assert delays[:3] == [0.25, 0.5, 0.75]
    assert max(delays) == 16.0


def test_http_errors_back_off_exponentially_from_5_up_to_320_seconds() -> None:
    backoff = ReconnectBackoff()
    delays = [backoff.next_delay(Failure.HTTP) for _ in range(8)]
    assert delays == [5, 10, 20, 40, 80, 160, 320, 320]


def test_a_rate_limit_waits_for_the_named_reset_else_from_a_minute() -> None:
    backoff = ReconnectBackoff()
    assert backoff.next_delay(Failure.RATE_LIMIT, reset_in_s=3.5) == 3.5
    assert ReconnectBackoff().next_delay(Failure.RATE_LIMIT) == 60.0


def test_reset_forgets_earlier_failures() -> None:
    backoff = ReconnectBackoff()
    backoff.next_delay(Failure.HTTP)
    backoff.reset()
    assert backoff.next_delay(Failure.HTTP) == 5


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("1000", 10.0),  # X / Bluesky: Unix seconds
        ("1970-01-01T00:16:40Z", 10.0),  # Mastodon: ISO 8601
        ("1970-01-01T00:16:40.000+00:00", 10.0),
        ("900", 0.0),  # already past
        (None, None),
        ("soon", None),
    ],
)
def test_reset_headers_in_epoch_or_iso_form(header: str | None, expected: float | None) -> None:
    assert seconds_until_reset(header, now_epoch_s=990.0) == expected
