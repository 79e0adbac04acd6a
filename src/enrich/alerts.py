"""Post alerts: which scored posts a webcare agent must see now.

A post raises an alert when it names a watchlist brand and its priority is at or
above ``alerts.min_priority``. The alert id includes the priority, so a re-scored
post that climbs from P2 to P1 alerts again, while a redelivered one does not.

A complaint the brand already answered in public (``response``) raises no new post
alert: re-scored or redelivered after the reply, it must not page anyone again.

A brand's own reply whose tone is ``grof`` raises a ``toon`` alert for the webcare lead
(the Sanoma lesson: the reply, not the complaint, became the story). It is public, so
its priority follows the reach of the customer it went to and how far the reply itself
travels: P1 from ``toon_p1_followers`` followers or ``toon_p1_shares`` reposts + quotes,
else P2. Its id is the reply's doc id: a redelivered reply does not alert twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from klachtradar.contract import Alert, AlertKind, Priority, ScoredPost, Tone
from klachtradar.settings import RepliesSettings

_TITLE_CHARS = 120
TOON_MIN_PROBABILITY = 0.5
"""A ``grof`` verdict below this (a three-way near tie) raises no ``toon`` alert."""


def post_alerts(posts: Sequence[ScoredPost], *, min_priority: Priority) -> list[Alert]:
    """Alerts for the posts in a batch that are risky enough."""
    alerts: list[Alert] = []
    for post in posts:
        if not post.brands or post.risk.priority.rank > min_priority.rank:
            continue
        if post.response is not None:  # answered in public: its alert went out before
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


def tone_alerts(posts: Sequence[ScoredPost], settings: RepliesSettings) -> list[Alert]:
    """A ``toon`` alert for every brand reply in the batch judged ``grof``."""
    alerts: list[Alert] = []
    for post in posts:
        reply = post.reply
        if reply is None or reply.tone is None or reply.tone.tone is not Tone.GROF:
            continue
        if reply.tone.proba.get(Tone.GROF, 0.0) < TOON_MIN_PROBABILITY:
            continue
        eng = post.post.engagement
        shares = (eng.reposts or 0) + (eng.quotes or 0)
        followers = reply.to_followers
        p1 = (followers or 0) >= settings.toon_p1_followers or shares >= settings.toon_p1_shares
        reasons = [f"toon grof ({reply.tone.proba.get(Tone.GROF, 0.0):.0%})"]
        reasons += [f"«{phrase}»" for phrase in reply.tone.reasons]
        to = f"@{reply.to_handle}" if reply.to_handle else "een klant"
        reach = "bereik onbekend" if followers is None else f"{_count(followers)} volgers"
        reasons.append(f"publiek antwoord aan {to} ({reach})")
        if shares:
            reasons.append(f"de reactie zelf: {_count(shares)} reposts + quotes")
        text = " ".join(post.post.text.split())
        title = text if len(text) <= _TITLE_CHARS else text[: _TITLE_CHARS - 1] + "…"
        alerts.append(
            Alert(
                alert_id=f"toon:{post.doc_id}",
                kind=AlertKind.TOON,
                created_at=post.post.created_at,
                brand=reply.brand,
                priority=Priority.P1 if p1 else Priority.P2,
                title=f"Grove reactie van @{reply.handle}: {title}",
                reasons=reasons,
                doc_id=post.doc_id,
            )
        )
    return alerts


def _count(n: int) -> str:
    return f"{n:,}".replace(",", ".")
