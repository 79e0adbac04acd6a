"""The dispatcher's rules on a recording channel and a test clock: dedup, updates,
threads, digests, quiet hours, retries, dead letters and the escalation ladder."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from klachtradar.contract import Alert, AlertKind, DeadLetter, Priority
from klachtradar.settings import AlertRoute, AlertSettings, TriageSettings
from notify.channels import DeliveryError
from notify.dispatch import AlertDispatch
from notify.message import Message
from notify.outbox import Outbox


@dataclass
class Recorder:
    """A channel that records what it was given; ``failures`` raise first, in order."""

    name: str = "chat"
    sent: list[tuple[Message, str, str | None]] = field(default_factory=list)
    failures: list[DeliveryError] = field(default_factory=list)

    def send(self, message: Message, *, delivery_id: str, thread: str | None) -> str | None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((message, delivery_id, thread))
        return f"ref-{delivery_id}"

    @property
    def headlines(self) -> list[str]:
        return [m.headline for m, _, _ in self.sent]


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **kw: float) -> None:
        self.at += timedelta(**kw)


T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # 13:00 in Amsterdam


def post_alert(
    doc: str, priority: Priority = Priority.P2, brand: str = "KPN", minutes_ago: float = 12
) -> Alert:
    return Alert(
        alert_id=f"post:{doc}:{priority.value}",
        kind=AlertKind.POST,
        created_at=T0 - timedelta(minutes=minutes_ago),
        brand=brand,
        priority=priority,
        risk=75 if priority is Priority.P1 else 55,
        title=f"@klant: storing bij {brand}",
        reasons=["41.200 volgers", "klacht"],
        doc_id=doc,
    )


def incident(kind: AlertKind = AlertKind.INCIDENT) -> Alert:
    prefix = "incident" if kind is AlertKind.INCIDENT else "incident_over"
    return Alert(
        alert_id=f"{prefix}:KPN:20260302T115500",
        kind=kind,
        created_at=T0,
        brand="KPN",
        priority=Priority.P1,
        title="Storing KPN",
        post_count=30,
        doc_id="d-open",
    )


def dispatch(
    tmp_path: Path, clock: Clock, chat: Recorder, **route: object
) -> tuple[AlertDispatch, list[DeadLetter]]:
    settings = AlertSettings(
        routes={"chat": AlertRoute(channel="webhook", url="http://x", **route)},  # type: ignore[arg-type]
        retry_initial_s=1.0,
        max_attempts=3,
    )
    dead: list[DeadLetter] = []
    return (
        AlertDispatch(
            settings, Outbox(tmp_path / "n.db"), {"chat": chat}, clock=clock, on_dead=dead.append
        ),
        dead,
    )


def test_a_redelivered_alert_is_sent_once_and_a_raised_priority_once_more(tmp_path: Path) -> None:
    clock, chat = Clock(T0), Recorder()
    d, _ = dispatch(tmp_path, clock, chat)
    d.enqueue([post_alert("a")])
    d.enqueue([post_alert("a")])  # redelivered
    d.deliver()
    d.enqueue([post_alert("a", Priority.P1), post_alert("a", Priority.P1)])
    d.enqueue([post_alert("a", Priority.P2)])  # back down: nothing to say
    d.deliver()
    assert chat.headlines == [
        "P2 melding over KPN",
        "Prioriteit verhoogd van P2 naar P1: KPN",
    ]
    first, update = chat.sent
    assert update[2] == f"ref-{first[1]}"  # threaded under the first message
    assert update[0].reply_to == "P2 melding over KPN"


def test_the_message_is_dutch_with_reach_risk_reasons_waiting_time_and_a_link(
    tmp_path: Path,
) -> None:
    clock, chat = Clock(T0), Recorder()
    d, _ = dispatch(tmp_path, clock, chat)
    d.enqueue([post_alert("a", Priority.P1)])
    d.deliver()
    message = chat.sent[0][0]
    facts = dict(message.facts)
    assert facts["Auteur"] == "@klant (41.200 volgers)"  # from the alert alone, as on Kafka
    assert message.text == "storing bij KPN"
    assert facts["Risico"] == "75/100 (P1)"
    assert "41.200 volgers" in facts["Waarom"]
    assert facts["Wacht al"] == "12 min"
    assert message.link == "http://127.0.0.1:8080/?brand=KPN#card-a"


def test_an_incident_is_one_message_with_its_posts_and_its_end_in_its_thread(
    tmp_path: Path,
) -> None:
    clock, chat = Clock(T0), Recorder()
    d, _ = dispatch(tmp_path, clock, chat, rate_limit=1)
    storm = [post_alert(f"s{i}", minutes_ago=5 - i) for i in range(4)]
    before = post_alert("old", minutes_ago=60)  # written before the storm: not part of it
    d.enqueue([before, storm[0], incident()])  # the incident waited for the watermark
    d.enqueue([incident(), *storm[1:]])
    d.enqueue([incident(AlertKind.INCIDENT_OVER)])
    d.enqueue([post_alert("after", minutes_ago=0)])  # after the incident: on its own
    clock.advance(minutes=10)
    d.deliver()
    opener = chat.sent[0]  # in a batch the incident comes first, opening its thread
    assert opener[0].headline == "Incident bij KPN: 30 klachten in korte tijd"
    assert chat.sent[1][1:] == ("chat:post:old:P2", None)  # on its own, the one the limit allows
    replies = chat.sent[2:7]
    assert [t for _, _, t in replies] == [f"ref-{opener[1]}"] * 5  # 4 storm posts + the end
    assert [i for _, i, _ in replies[:4]] == [f"chat:post:s{i}:P2" for i in range(4)]
    assert replies[-1][0].headline == "Incident bij KPN voorbij (30 klachten)"
    assert all(m.reply_to == opener[0].headline for m, _, _ in replies)
    assert chat.headlines[7:] == ["Nog 1 P2-melding over KPN"]  # "after": past the limit


def test_past_the_rate_limit_the_rest_becomes_one_dutch_digest(tmp_path: Path) -> None:
    clock, chat = Clock(T0), Recorder()
    d, _ = dispatch(tmp_path, clock, chat, rate_limit=3, rate_window_minutes=10)
    d.enqueue([post_alert(f"d{i}") for i in range(17)] + [post_alert("p1", Priority.P1)])
    d.deliver()
    assert len(chat.sent) == 4  # three P2s and the P1, which is never held
    clock.advance(minutes=10)
    d.deliver()
    assert chat.headlines[-1] == "Nog 14 P2-meldingen over KPN"
    assert "limiet van 3 meldingen per 10 min bereikt" in chat.sent[-1][0].text
    d.deliver()
    assert len(chat.sent) == 5


def test_quiet_hours_hold_everything_below_p1_until_they_end(tmp_path: Path) -> None:
    night = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)  # 00:30 in Amsterdam
    clock, chat = Clock(night), Recorder()
    d, _ = dispatch(tmp_path, clock, chat, quiet_hours="22:00-07:00")
    d.enqueue([post_alert("a"), post_alert("b"), post_alert("c", Priority.P1)])
    d.deliver()
    assert chat.headlines == ["P1 melding over KPN"]
    clock.advance(hours=5)  # 05:30 local: still quiet
    d.deliver()
    assert len(chat.sent) == 1
    clock.advance(hours=1, minutes=31)  # 07:01 local
    d.deliver()
    assert chat.headlines[-1] == "Nog 2 P2-meldingen over KPN"


def test_an_incident_deferred_by_quiet_hours_does_not_hold_back_a_p1(tmp_path: Path) -> None:
    night = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    clock, chat = Clock(night), Recorder()
    d, _ = dispatch(tmp_path, clock, chat, quiet_hours="22:00-07:00")
    quiet_incident = incident().model_copy(update={"priority": Priority.P2})
    d.enqueue([quiet_incident])
    d.enqueue([post_alert("p1", Priority.P1, minutes_ago=-60)])  # not part of the incident
    d.deliver()
    assert chat.headlines == ["P1 melding over KPN"]
    assert d.next_due_in() == pytest.approx(6.5 * 3600)  # 07:00 in Amsterdam (UTC+1)
    clock.advance(hours=6, minutes=29)
    d.deliver()
    assert len(chat.sent) == 1
    clock.advance(minutes=1)
    d.deliver()
    assert chat.headlines[-1] == "Incident bij KPN: 30 klachten in korte tijd"


def test_a_failing_endpoint_is_retried_with_backoff_then_delivered_once(tmp_path: Path) -> None:
    clock, chat = Clock(T0), Recorder()
    chat.failures = [
        DeliveryError("HTTP 500", retryable=True),
        DeliveryError("HTTP 429", retryable=True, retry_after_s=30),
    ]
    d, dead = dispatch(tmp_path, clock, chat)
    d.enqueue([post_alert("a"), post_alert("b")])
    assert d.deliver().retried == 1
    assert d.next_due_in() == pytest.approx(1.0)
    clock.advance(seconds=1)
    d.deliver()  # the 429 asks for 30 s
    clock.advance(seconds=29)
    assert d.deliver().sent == 0
    clock.advance(seconds=1)
    assert d.deliver().sent == 2
    assert [i for _, i, _ in chat.sent] == ["chat:post:a:P2", "chat:post:b:P2"]  # order kept
    assert not dead and d.next_due_in() is None


def test_a_permanent_failure_becomes_a_dead_letter_with_the_reason(tmp_path: Path) -> None:
    clock, chat = Clock(T0), Recorder()
    chat.failures = [DeliveryError("route chat: HTTP 404", retryable=False)]
    d, dead = dispatch(tmp_path, clock, chat)
    d.enqueue([post_alert("a"), post_alert("b")])
    stats = d.deliver()
    assert (stats.dead, stats.sent) == (1, 1)
    assert dead[0].stage == "notify" and "HTTP 404" in dead[0].error
    assert dead[0].position == "chat:post:a:P2"


def test_a_restarted_dispatcher_resends_only_what_was_not_marked_sent(tmp_path: Path) -> None:
    clock, chat = Clock(T0), Recorder()
    d, _ = dispatch(tmp_path, clock, chat)
    d.enqueue([post_alert("a"), post_alert("b")])
    d.deliver()
    d.enqueue([post_alert("c")])
    d.outbox.close()  # "crash" before c was sent
    again, _ = dispatch(tmp_path, clock, chat)
    again.enqueue([post_alert("a"), post_alert("c")])  # Kafka redelivers
    again.deliver()
    assert [i for _, i, _ in chat.sent] == ["chat:post:a:P2", "chat:post:b:P2", "chat:post:c:P2"]


def ladder(tmp_path: Path, clock: Clock) -> tuple[AlertDispatch, dict[str, Recorder]]:
    chans = {n: Recorder(n) for n in ("team", "lead", "oncall")}
    settings = AlertSettings(
        routes={
            "team": AlertRoute(channel="slack", url="http://x"),
            "lead": AlertRoute(channel="teams", url="http://y", kinds=[]),
            "oncall": AlertRoute(channel="email", to=["oncall@example.nl"], kinds=[]),
        },
        escalation=["lead", "oncall"],
    )
    triage = TriageSettings(escalate_after_minutes=10, brand_escalate_after_minutes={"Odido": 5})
    return AlertDispatch(
        settings, Outbox(tmp_path / "n.db"), chans, triage=triage, clock=clock
    ), chans


def test_an_unclaimed_p1_climbs_the_ladder_and_a_claimed_one_stops(tmp_path: Path) -> None:
    clock = Clock(T0)
    d, chans = ladder(tmp_path, clock)
    claimed: set[str] = set()
    escalated: list[tuple[str, str, int]] = []
    d.on_escalated = lambda doc, route, step, at: escalated.append((doc, route, step))
    d.enqueue([post_alert("kpn", Priority.P1), post_alert("odido", Priority.P1, "Odido")])
    d.enqueue([post_alert("quiet", Priority.P2)])  # P2s are not escalated
    clock.advance(minutes=4, seconds=59)
    assert d.escalate(claimed.__contains__) == 0
    clock.advance(seconds=1)
    assert d.escalate(claimed.__contains__) == 1  # Odido: 5 minutes per rung
    claimed.add("odido")
    clock.advance(minutes=5)
    assert d.escalate(claimed.__contains__) == 1  # KPN after 10; Odido claimed: stops
    clock.advance(minutes=60)
    assert d.escalate(claimed.__contains__) == 1  # KPN's second and last rung
    assert d.escalate(claimed.__contains__) == 0
    d.deliver()
    assert escalated == [("odido", "lead", 1), ("kpn", "lead", 1), ("kpn", "oncall", 2)]
    assert chans["lead"].headlines == [
        "Escalatie 1: P1 over Odido al 5 min niet opgepakt",
        "Escalatie 1: P1 over KPN al 10 min niet opgepakt",
    ]
    assert chans["oncall"].headlines == ["Escalatie 2: P1 over KPN al 20 min niet opgepakt"]
    assert len(chans["team"].sent) == 3


def test_a_channel_that_raises_something_else_is_retried_then_dead_lettered_without_its_text(
    tmp_path: Path,
) -> None:
    clock = Clock(T0)

    class Broken(Recorder):
        def send(self, message: Message, *, delivery_id: str, thread: str | None) -> str | None:
            raise ValueError("unknown url type: 'htp://hooks.example/SECRET'")

    d, dead = dispatch(tmp_path, clock, Broken())
    d.enqueue([post_alert("a")])
    for _ in range(3):  # max_attempts = 3
        d.deliver()
        clock.advance(minutes=5)
    assert [letter.error for letter in dead] == [
        "route chat: ValueError in the channel (after 3 attempts)"
    ]


def test_a_route_that_is_down_holds_back_only_its_own_messages(tmp_path: Path) -> None:
    clock = Clock(T0)
    down, up = Recorder("down"), Recorder("up")
    down.failures = [DeliveryError("HTTP 503", retryable=True) for _ in range(10)]
    settings = AlertSettings(
        routes={
            "down": AlertRoute(channel="teams", url="http://x", brands=["KPN"], rate_limit=10**4),
            "up": AlertRoute(channel="teams", url="http://y", brands=["Odido"]),
        }
    )
    d = AlertDispatch(settings, Outbox(tmp_path / "n.db"), {"down": down, "up": up}, clock=clock)
    d.enqueue([post_alert(f"k{i}") for i in range(1200)])  # a backlog on the route that is down
    d.enqueue([post_alert(f"o{i}", brand="Odido") for i in range(3)])
    stats = d.deliver()
    assert (len(up.sent), len(down.sent), stats.retried) == (3, 0, 1)
