"""Post alerts: which scored posts a webcare agent must see now.

A post raises an alert when it names a watchlist brand and its priority is at or
above ``alerts.min_priority``. The alert id includes the priority, so a re-scored
post that climbs from P2 to P1 alerts again, while a redelivered one does not.
"""

from __future__ import annotations

from collections.abc import Sequence

from klachtradar.contract import Alert, AlertKind, Priority, ScoredPost

_TITLE_CHARS = 120


def post_alerts(posts: Sequence[ScoredPost], *, min_priority: Priority) -> list[Alert]:
    """Alerts for the posts in a batch that are risky enough."""
    alerts: list[Alert] = []
    for post in posts:
        if not post.brands or post.risk.priority.rank > min_priority.rank:
            continue
        text = " ".join(post.post.text.split())
        title = text if len(text) <= _TITLE_CHARS else text[: _TITLE_CHARS - 1] + "…"
        alerts.append(
            Alert(
                alert_id=f"post:{post.doc_id}:{post.risk.priority.value}",
                kind=AlertKind.POST,
                created_at=post.post.created_at,
                brand=post.brand_names[0],
                priority=post.risk.priority,
                risk=post.risk.score,
                title=f"@{post.post.author.handle}: {title}",
                reasons=post.risk.reasons,
                doc_id=post.doc_id,
            )
        )
    return alerts
