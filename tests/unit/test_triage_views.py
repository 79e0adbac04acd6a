"""Card formatting and link safety."""

from __future__ import annotations

from datetime import timedelta

import pytest

from triage.views import format_count, format_duration, safe_link


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "//evil.example/x",
        "https://",
        "http:/x.com",
        "https://x.com/a b",
        "",
        None,
    ],
)
def test_only_plain_http_links_become_links(url: str | None) -> None:
    assert safe_link(url) is None


@pytest.mark.parametrize("url", ["https://x.com/jochem/status/1", "http://bsky.app/profile/a"])
def test_http_and_https_links_are_kept_as_given(url: str) -> None:
    assert safe_link(url) == url


def test_durations_read_like_a_webcare_agent_says_them() -> None:
    assert format_duration(timedelta(seconds=42)) == "42 s"
    assert format_duration(timedelta(minutes=12)) == "12 min"
    assert format_duration(timedelta(hours=1)) == "1 u"
    assert format_duration(timedelta(hours=2, minutes=5)) == "2 u 05 min"
    assert format_duration(timedelta(days=3, hours=4, minutes=59)) == "3 d 4 u"
    assert format_duration(timedelta(seconds=-5)) == "0 s"


def test_follower_counts_use_dutch_thousands_and_unknown_is_a_question_mark() -> None:
    assert format_count(41200) == "41.200"
    assert format_count(None) == "?"
