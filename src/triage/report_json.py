"""``klachtradar report --json``: the report's numbers as one JSON object.

The same numbers the HTML report shows, for scripts and dashboards that should not
parse HTML: the period, the complaints and what agents resolved here (``triage``), and
what the brand answered in public on the platform (``public_response``,
:mod:`triage.public_response`). Times are ISO 8601 in UTC, durations in minutes, shares
between 0 and 1; a number that does not exist yet (no answered complaint, so no median)
is ``null``.
"""

from __future__ import annotations

from typing import Any

from triage.report import BrandReport


def report_numbers(report: BrandReport) -> dict[str, Any]:
    """The JSON object ``report --json`` prints for ``report``."""
    public = report.public
    return {
        "brand": report.brand,
        "start": report.start.isoformat(),
        "end": report.end.isoformat(),
        "generated_at": report.generated_at.isoformat(),
        "posts": report.posts,
        "complaints": report.complaints,
        "triage": {
            "resolved": report.answered,
            "resolved_share": report.answered_share,
            "median_response_minutes": report.median_response_minutes,
            "sla_breaches": report.sla_breaches,
        },
        "public_response": {
            "answered": public.answered,
            "response_rate": public.response_rate,
            "median_first_response_minutes": _tenth(public.median_minutes),
            "p90_first_response_minutes": _tenth(public.p90_minutes),
            "within_1h_share": public.within_hour_share,
            "within_8h_share": public.within_eight_hours_share,
            "brand_replies": public.replies,
            "replies_by_tone": dict(public.replies_by_tone),
            "answered_not_solved_conversations": public.answered_not_solved,
        },
    }


def _tenth(minutes: float | None) -> float | None:
    """Minutes to a tenth, as the posts carry them (no 238.74000000000004 in the JSON)."""
    return None if minutes is None else round(minutes, 1)
