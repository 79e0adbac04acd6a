"""The Dutch message of an alert, independent of the channel that carries it.

A webcare agent decides from the message alone whether to drop what they are doing:
who wrote it and how many people read them, what they wrote, how risky it is and why,
how long it has waited, and one click to the card in the triage app. Channels only
lay this out (Block Kit, an Adaptive Card, an e-mail); the words are decided here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from klachtradar.contract import Alert, AlertKind, ScoredPost

KIND_LABEL = {
    AlertKind.POST: "Melding",
    AlertKind.INCIDENT: "Incident",
    AlertKind.INCIDENT_OVER: "Incident voorbij",
}


@dataclass(frozen=True, slots=True)
class Message:
    """What every channel sends: a headline, labelled facts, a body text and a link.

    ``reply_to`` is the headline of the message this one follows up (an incident's
    update, a raised priority); channels that cannot thread show it as a line.
    """

    headline: str
    text: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    link: str = ""
    reply_to: str = ""
    priority: str = ""
    brand: str = ""

    def plain(self) -> str:
        """The message as plain text: the e-mail body and the chat fallback text."""
        lines = [self.headline]
        if self.reply_to:
            lines.append(f"↳ vervolg op: {self.reply_to}")
        if self.text:
            lines += ["", self.text]
        if self.facts:
            lines.append("")
            lines += [f"{label}: {value}" for label, value in self.facts]
        if self.link:
            lines += ["", f"Open in triage: {self.link}"]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Message:
        facts = [(str(label), str(value)) for label, value in data.get("facts", [])]
        return cls(**{**data, "facts": facts})


def dutch_number(value: int) -> str:
    """41200 → ``41.200``: Dutch thousands separators."""
    return f"{value:,}".replace(",", ".")


def waiting(since: datetime, now: datetime) -> str:
    """How long a post has waited, the way an agent says it: ``12 min``, ``3 u 5 min``."""
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} u {rest} min" if rest else f"{hours} u"
    return f"{hours // 24} dagen"


def card_link(triage_url: str, alert: Alert) -> str:
    """The triage queue filtered to the alert's brand, anchored at its card."""
    base = triage_url.rstrip("/")
    brand = f"?brand={quote(alert.brand)}" if alert.brand else ""
    anchor = f"#card-{quote(alert.doc_id, safe=':/@')}" if alert.doc_id else ""
    return f"{base}/{brand}{anchor}"


def alert_message(
    alert: Alert,
    post: ScoredPost | None,
    *,
    now: datetime,
    triage_url: str,
    raised_from: str = "",
    reply_to: str = "",
) -> Message:
    """The message of a post or incident alert; ``raised_from``: the earlier priority."""
    label = KIND_LABEL.get(alert.kind, "Melding")
    brand = alert.brand or "onbekend merk"
    if alert.kind not in KIND_LABEL:  # a kind added later: its own title says what it is
        headline = f"{label} over {brand}: {alert.title}"
    elif alert.kind is AlertKind.POST:
        headline = f"{alert.priority.value} {label.lower()} over {brand}"
        if raised_from:
            headline = f"Prioriteit verhoogd van {raised_from} naar {alert.priority.value}: {brand}"
    elif alert.kind is AlertKind.INCIDENT:
        headline = f"Incident bij {brand}: {alert.post_count or '?'} klachten in korte tijd"
    else:
        headline = f"Incident bij {brand} voorbij ({alert.post_count or '?'} klachten)"
    facts: list[tuple[str, str]] = []
    text = alert.title
    if post is not None and alert.kind is AlertKind.POST:
        author = post.post.author
        reach = f"{dutch_number(author.followers)} volgers" if author.followers else "onbekend"
        facts.append(("Auteur", f"@{author.handle} ({reach})"))
        text = " ".join(post.post.text.split())
    elif alert.kind is AlertKind.POST and alert.title.startswith("@"):
        # Only the alert (``klachtradar notify`` on Kafka): its title is "@handle: text",
        # and a reach worth mentioning is among its reasons.
        handle, _, text = alert.title.partition(": ")
        reach = next((r for r in alert.reasons if r.endswith(" volgers")), "bereik onbekend")
        facts.append(("Auteur", f"{handle} ({reach})"))
    if alert.risk is not None:
        facts.append(("Risico", f"{alert.risk}/100 ({alert.priority.value})"))
    if alert.reasons:
        facts.append(("Waarom", ", ".join(alert.reasons)))
    if alert.top_terms:
        facts.append(("Veelgenoemd", ", ".join(alert.top_terms)))
    facts.append(("Wacht al", waiting(alert.created_at, now)))
    return Message(
        headline=headline,
        text=text,
        facts=facts,
        link=card_link(triage_url, alert),
        reply_to=reply_to,
        priority=alert.priority.value,
        brand=alert.brand or "",
    )


def digest_message(
    brand: str, priority: str, count: int, *, reason: str, triage_url: str
) -> Message:
    """``Nog 14 P3-meldingen over KPN``: what a rate limit or quiet hours held back."""
    noun = "melding" if count == 1 else "meldingen"
    base = triage_url.rstrip("/")
    return Message(
        headline=f"Nog {count} {priority}-{noun} over {brand}",
        text=f"Niet los verstuurd: {reason}. Ze staan in de triage-wachtrij.",
        link=f"{base}/?brand={quote(brand)}&priority={priority}",
        priority=priority,
        brand=brand,
    )


def escalation_message(
    alert: Alert,
    post: ScoredPost | None,
    *,
    step: int,
    minutes: float,
    now: datetime,
    triage_url: str,
) -> Message:
    """A P1 nobody claimed: said plainly, with the original facts."""
    base = alert_message(alert, post, now=now, triage_url=triage_url)
    return Message(
        headline=f"Escalatie {step}: P1 over {alert.brand or 'onbekend merk'} "
        f"al {minutes:g} min niet opgepakt",
        text=base.text,
        facts=base.facts,
        link=base.link,
        priority=base.priority,
        brand=base.brand,
    )


def sample_alert_message(route: str, *, triage_url: str) -> Message:
    """What ``klachtradar alerts test`` sends: recognisably a test."""
    return Message(
        headline=f"Testmelding van klachtradar (route {route})",
        text="Deze route werkt. Zo ziet een melding eruit.",
        facts=[("Auteur", "@voorbeeld (1.234 volgers)"), ("Risico", "72/100 (P1)")],
        link=triage_url.rstrip("/") + "/",
        priority="P1",
    )
