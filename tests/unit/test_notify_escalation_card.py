"""The escalation ladder against the real store and triage app: an unclaimed P1 climbs
after the configured minutes and its card says so; claiming in the app stops it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from klachtradar.contract import Alert, AlertKind, Priority
from klachtradar.settings import AlertRoute, AlertSettings, TriageSettings
from notify.dispatch import AlertDispatch
from notify.outbox import Outbox
from sink.store import EmbeddedStore
from tests.unit.test_notify_dispatch import Clock, Recorder
from tests.unit.test_triage_app import ACT, client_for
from tests.unit.triage_support import T0, fill_store, raw_post


def p1(doc_id: str) -> Alert:
    return Alert(
        alert_id=f"post:{doc_id}:P1",
        kind=AlertKind.POST,
        created_at=T0,
        brand="KPN",
        priority=Priority.P1,
        risk=80,
        title="@klant: storing",
        doc_id=doc_id,
    )


def card_html(page: str, doc_id: str) -> str:
    start = page.index(f'id="card-{doc_id}"')
    end = page.find('<li id="card-', start + 1)
    return page[start : end if end > 0 else len(page)]


def test_an_unclaimed_p1_escalates_on_its_card_and_a_claimed_one_does_not(
    tmp_path: Path,
) -> None:
    path = tmp_path / "kr.db"
    fill_store(
        path,
        [
            raw_post("1", "@KPN internet alweer weg, belachelijk!", handle="anna"),
            raw_post("3", "@KPN geen internet, al weken, waardeloos", handle="jan"),
        ],
    )
    clock = Clock(T0 + timedelta(minutes=1))
    lead = Recorder("lead")
    store = EmbeddedStore(path)
    dispatch = AlertDispatch(
        AlertSettings(
            routes={"lead": AlertRoute(channel="teams", url="http://x", kinds=[])},
            escalation=["lead"],
        ),
        Outbox(tmp_path / "notify.db"),
        {"lead": lead},
        triage=TriageSettings(escalate_after_minutes=7),
        clock=clock,
        on_escalated=store.record_escalation,
    )
    dispatch.enqueue([p1("x:1"), p1("x:3")])
    with client_for(path) as client:
        claimed = client.post("/api/actions/claim", json={"doc_id": "x:3"}, headers=ACT)
        assert claimed.json()["status"] == "claimed"
        clock.advance(minutes=6, seconds=59)
        assert dispatch.escalate(store.is_handled) == 0
        clock.advance(seconds=1)
        assert dispatch.escalate(store.is_handled) == 1
        clock.advance(hours=2)
        assert dispatch.escalate(store.is_handled) == 0  # a one-rung ladder: done
        page = client.get("/").text
    dispatch.deliver()
    assert "Geëscaleerd naar lead (stap 1)" in card_html(page, "x:1")
    assert "Geëscaleerd" not in card_html(page, "x:3")
    assert lead.headlines == ["Escalatie 1: P1 over KPN al 7 min niet opgepakt"]
    store.close()
