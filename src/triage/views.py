"""What a card shows, computed once on the server: formatting and link safety.

Everything attacker-controlled (post text, author handle and name, URLs) leaves here as
plain strings; the templates escape them (Jinja autoescape), and :func:`safe_link`
turns a post URL into a link only when it is plain ``http(s)://host…`` — a
``javascript:`` or ``data:`` URL is shown as nothing at all.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from klachtradar.contract import ScoredPost
from triage.feedback import Correction
from triage.sla import SlaPolicy, SlaState
from triage.workflow import Escalation, QueueItem

_STATUS_LABEL = {
    "open": "open",
    "claimed": "opgepakt",
    "snoozed": "gesnoozed",
    "resolved": "afgehandeld",
    "not_complaint": "geen klacht",
}


def safe_link(url: str | None) -> str | None:
    """The URL if it is a plain http(s) link to a host, else None (never a script link)."""
    if not url or url != url.strip() or any(ord(c) < 0x21 for c in url):
        return None
    if not url.lower().startswith(("http://", "https://")):
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def format_count(n: int | None) -> str:
    """Dutch thousands: 41200 → '41.200'; unknown → '?'."""
    return "?" if n is None else f"{n:,}".replace(",", ".")


def format_duration(delta: timedelta) -> str:
    """Compact Dutch duration: '45 s', '12 min', '2 u 05 min', '3 d 4 u'."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} u" if minutes == 0 else f"{hours} u {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d" if hours == 0 else f"{days} d {hours} u"


def epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def waiting_words(delta: timedelta) -> str:
    """'40 min', '3 uur', '5 dagen', '6 weken': the words of the risk reasons."""
    hours = delta.total_seconds() / 3600
    if hours < 1:
        return f"{max(1, round(hours * 60))} min"
    if hours < 48:
        return f"{round(hours)} uur"
    days = hours / 24
    return f"{round(days)} dagen" if days < 14 else f"{round(days / 7)} weken"


_WAITING = "wacht al "
_AT_OBSERVATION = ("reposts +", "gaat viraal", "verwacht ~")


def live_reasons(item: QueueItem, *, now: datetime, zone: ZoneInfo, active: bool) -> list[str]:
    """The post's risk reasons as true *now*, not when it was scored.

    The score is computed once, when a post arrives; a reason such as "wacht al 2 uur op
    antwoord" is then frozen while the card's timer runs on, and after a replay the two
    disagree by weeks. So the waiting reason is recomputed here from the conversation's
    oldest open post (the author has waited since then) until the first answer (the
    agent's resolve or the brand's public reply), and reasons about engagement
    (velocity, the virality estimate) say when they were measured ("om 14:05").
    The prefixes are those :mod:`enrich.risk` writes.
    """
    post = item.post
    raw = post.post
    since = min(item.conversation_since or raw.created_at, raw.created_at)
    observed = raw.engagement.observed_at or raw.received_at or raw.created_at
    answered = first_response_at(item)  # a public brand reply ends the wait as well
    if answered is not None:
        end, still = answered, False
    else:
        end, still = (now if active else (item.responded_at or now)), active
    waiting = None
    if end - since >= timedelta(hours=1):
        verb = "wacht al" if still else "wachtte"
        waiting = f"{verb} {waiting_words(end - since)} op antwoord"
        if since < raw.created_at:
            waiting += f" (sinds {since.astimezone(zone).strftime('%d-%m %H:%M')})"
    out: list[str] = []
    for reason in post.risk.reasons:
        if reason.startswith(_WAITING):
            if waiting is not None:
                out.append(waiting)
                waiting = None
        elif reason.startswith(_AT_OBSERVATION):
            out.append(f"{reason} om {observed.astimezone(zone).strftime('%d-%m %H:%M')}")
        else:
            out.append(reason)
    if waiting is not None and post.risk.features.get("waiting", 0.0) > 0:
        out.append(waiting)  # scored before the first hour was up: true now
    return out


@dataclass(frozen=True, slots=True)
class CardView:
    """One queue card, ready to render."""

    doc_id: str
    text: str
    handle: str
    name: str | None
    followers: str
    verified: bool
    brands: list[str]
    priority: str
    risk: int
    sentiment: str | None
    intent: str | None
    complaint_pct: int | None
    cues: list[str]
    reasons: list[str]
    created_at: datetime
    created_ms: int
    link: str | None
    status: str
    status_label: str
    assignee: str | None
    sla_target_ms: int
    sla_target_text: str
    sla_state: SlaState
    waiting_text: str
    responded_ms: int | None
    snoozed_until: datetime | None
    arrived_ms: int | None
    correction: Correction | None
    lang: str | None
    sig: str
    reasons_sig: str
    """Changes when the reasons' words change; the browser then swaps only the reasons,
    keeping the card (and the button under the agent's pointer)."""
    others: list[OtherPost]
    also_open: int
    others_label: str
    escalation: Escalation | None = None
    model: str = ""
    """``name@version`` of the classifier that judged the post."""
    fast_model: bool = False
    """Judged by the overload cascade's fast model (``Classification.fallback``)."""
    public_response: str = ""
    """"publiek beantwoord na 25 min door @PostNL": the brand answered on the platform
    (``ScoredPost.response``), whoever pressed resolve or not."""


@dataclass(frozen=True, slots=True)
class OtherPost:
    """One of the author's other posts about the brand, listed under the card."""

    doc_id: str
    text: str
    created_at: datetime
    priority: str
    risk: int
    status_label: str
    link: str | None
    public_response: str = ""
    """The brand's public answer to this earlier post ('' if none): an agent sees which
    of the author's posts the brand already answered, not only the top one's."""


def _signature(
    post: ScoredPost,
    item: QueueItem,
    correction: Correction | None,
    escalation: Escalation | None = None,
) -> str:
    """Changes whenever what the card shows changes, except what changes with time alone
    (the ticking timer, the reasons worded at render time: see ``reasons_sig``)."""
    parts = (
        post.model_dump_json(exclude={"scored_at"}),
        item.also_open,
        [(o.post.doc_id, o.status, o.post.risk.score, o.post.response) for o in item.others],
        item.status,
        item.assignee,
        item.snoozed_until,
        item.responded_at,
        correction.at if correction else None,
        escalation,
    )
    return hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()


def card_view(
    item: QueueItem,
    *,
    now: datetime,
    sla: SlaPolicy,
    arrived_ms: int | None = None,
    correction: Correction | None = None,
    zone: ZoneInfo | None = None,
    escalation: Escalation | None = None,
) -> CardView:
    """Build a card from a queue item (times in words use ``zone``, default Amsterdam)."""
    zone = zone or ZoneInfo("Europe/Amsterdam")
    post: ScoredPost = item.post
    raw = post.post
    cls = post.classification
    brand = post.brand_names[0] if post.brands else None
    target = sla.target(brand, post.risk.priority)
    responded = first_response_at(item)
    end = responded or now
    waited = end - raw.created_at
    reasons = live_reasons(
        item, now=now, zone=zone, active=item.status in ("open", "claimed", "snoozed")
    )
    others = [
        OtherPost(
            doc_id=o.post.doc_id,
            text=o.post.post.text,
            created_at=o.post.post.created_at,
            priority=o.post.risk.priority.value,
            risk=o.post.risk.score,
            status_label=_STATUS_LABEL.get(o.status, o.status),
            link=safe_link(o.post.post.url),
            public_response=public_response_line(o.post),
        )
        for o in item.others
    ]
    earlier = all(o.created_at <= raw.created_at for o in others)
    noun = "bericht" if item.also_open == 1 else "berichten"
    return CardView(
        sig=_signature(post, item, correction, escalation),
        reasons_sig=hashlib.blake2b(repr(reasons).encode(), digest_size=8).hexdigest(),
        others=others,
        also_open=item.also_open,
        others_label=f"+{item.also_open} {'eerdere' if earlier else 'andere'} {noun}",
        doc_id=post.doc_id,
        text=raw.text,
        handle=raw.author.handle,
        name=raw.author.name,
        followers=format_count(raw.author.followers),
        verified=raw.author.verified,
        brands=post.brand_names,
        priority=post.risk.priority.value,
        risk=post.risk.score,
        sentiment=cls.sentiment.value if cls else None,
        intent=cls.intent.value if cls else None,
        complaint_pct=round(cls.complaint_probability * 100) if cls else None,
        cues=[c.value for c in cls.cues] if cls else [],
        reasons=reasons,
        created_at=raw.created_at,
        created_ms=epoch_ms(raw.created_at),
        link=safe_link(raw.url),
        status=item.status,
        status_label=_STATUS_LABEL.get(item.status, item.status),
        assignee=item.assignee,
        sla_target_ms=int(target.total_seconds() * 1000) if target else 0,
        sla_target_text=format_duration(target) if target else "geen",
        sla_state=sla.state(brand, post.risk.priority, waited),
        waiting_text=format_duration(waited),
        responded_ms=epoch_ms(responded) if responded else None,
        snoozed_until=item.snoozed_until,
        arrived_ms=arrived_ms,
        correction=correction,
        lang=post.lang,
        model=f"{cls.model.name}@{cls.model.version}" if cls else "",
        fast_model=bool(cls and cls.fallback),
        escalation=escalation,
        public_response=public_response_line(post),
    )


def first_response_at(item: QueueItem) -> datetime | None:
    """When the author got a first answer: the agent's resolve, or the brand's public
    reply on the platform, whichever came first (``None``: still waiting).

    The SLA is a first-response target, and webcare often answers from other tools: a
    complaint the brand answered in public 25 minutes after it was posted met a 1-hour
    target, even while it stays open in the queue.
    """
    times = [item.responded_at] if item.status == "resolved" and item.responded_at else []
    if item.post.response is not None:
        times.append(item.post.response.responded_at)
    return min(times) if times else None


def public_response_line(post: ScoredPost) -> str:
    """The card's line for a complaint the brand answered in public ('' if it did not)."""
    response = post.response
    if response is None:
        return ""
    after = waiting_words(timedelta(minutes=response.first_response_minutes))
    return f"publiek beantwoord na {after} door @{response.by}"  # as enrich.risk words it
