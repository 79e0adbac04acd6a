"""The triage card says when the brand answered a complaint in public."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from klachtradar.contract import RawPost
from tests.unit.test_triage_app import client_for
from tests.unit.triage_support import T0, fill_store, raw_post


def postnl_reply(handle: str, *, at: datetime) -> RawPost:
    """PostNL's polite public answer to ``@handle`` (post "2"), as webcare writes it."""
    return raw_post(
        "2",
        f"@{handle} Hoi Sanne, vervelend! Stuur je ons een DM met je barcode? ^Jeroen",
        at=at,
        handle="PostNL",
        followers=121_000,
    )


def test_the_card_shows_the_public_response_time(tmp_path: Path) -> None:
    store = tmp_path / "kr.db"
    complaint = raw_post(
        "1",
        "@PostNL mijn pakket is nooit aangekomen, dit is echt slechte service!",
        handle="sanne_vd_berg",
        followers=900,
    )
    reply = postnl_reply("sanne_vd_berg", at=T0 + timedelta(minutes=25))
    fill_store(store, [complaint, reply])
    html = client_for(store).get("/?status=all").text
    assert "publiek beantwoord na 25 min door @PostNL" in html
    assert 'class="public-response"' in html


def test_an_earlier_post_under_the_card_says_the_brand_answered_it(tmp_path: Path) -> None:
    """Sanne complains again after PostNL's reply: the new complaint heads her card, and
    the answered one under it still says when the brand answered it in public."""
    import re

    store = tmp_path / "kr.db"
    complaint = raw_post(
        "1",
        "@PostNL mijn pakket is nooit aangekomen, dit is echt slechte service!",
        handle="sanne_vd_berg",
        followers=900,
    )
    reply = postnl_reply("sanne_vd_berg", at=T0 + timedelta(minutes=25))
    again = raw_post(
        "3",
        "@PostNL nog steeds geen pakket en geen antwoord op mijn DM, belachelijk!",
        at=T0 + timedelta(hours=3),
        handle="sanne_vd_berg",
        followers=900,
    )
    fill_store(store, [complaint, reply, again])
    html = client_for(store).get("/?status=all").text
    thread = re.search(r'<li class="thread-post" data-doc-id="x:1">(.*?)</li>', html, re.S)
    assert thread is not None, "the first complaint is listed under the card"
    assert "publiek beantwoord na 25 min door @PostNL" in thread.group(1)


def test_a_public_reply_stops_the_sla_clock_on_the_card_and_in_the_breach_count(
    tmp_path: Path,
) -> None:
    """The SLA is a first-response target: PostNL answered Sanne in public after 10
    minutes, so five hours later her open complaint is no breach; Piet's, unanswered,
    is one."""
    from klachtradar.settings import TriageSettings
    from tests.unit.triage_support import FixedClock
    from triage.database import TriageDatabase
    from triage.sla import SlaPolicy
    from triage.views import card_view
    from triage.workflow import Workflow

    store = tmp_path / "kr.db"
    answered = raw_post("1", "@PostNL pakket nooit aangekomen, slechte service!", handle="sanne")
    reply = postnl_reply("sanne", at=T0 + timedelta(minutes=10))
    waiting = raw_post("3", "@PostNL mijn pakket is kwijt, echt slechte service!", handle="piet")
    fill_store(store, [answered, reply, waiting])
    sla = SlaPolicy.from_settings(TriageSettings())
    workflow = Workflow(TriageDatabase(store), FixedClock(T0 + timedelta(hours=5)), sla)

    assert workflow.stats().breaches_open == 1
    now = T0 + timedelta(hours=5)
    card = card_view(workflow.item(answered.doc_id), now=now, sla=sla)
    assert card.waiting_text == "10 min" and card.sla_state != "red"
    assert card.responded_ms == int((T0 + timedelta(minutes=10)).timestamp() * 1000)
    late = card_view(workflow.item(waiting.doc_id), now=now, sla=sla)
    assert late.sla_state == "red" and late.responded_ms is None


def test_a_public_reply_ends_the_waiting_reason_too(tmp_path: Path) -> None:
    """The reason line agrees with the stopped timer. A score written before the reply
    was linked (an older record, a copy indexed earlier) still says "wacht al 1 uur";
    PostNL answered Sanne after two hours, so three hours on her card says she *waited*
    two hours, while Piet, unanswered, still waits five."""
    from dataclasses import replace

    from klachtradar.settings import TriageSettings
    from tests.unit.triage_support import FixedClock
    from triage.database import TriageDatabase
    from triage.sla import SlaPolicy
    from triage.views import card_view
    from triage.workflow import Workflow

    store = tmp_path / "kr.db"
    earlier = T0 - timedelta(hours=2)
    answered = raw_post(
        "1", "@PostNL pakket nooit aangekomen, slechte service!", handle="sanne", at=earlier
    )
    reply = postnl_reply("sanne", at=T0)
    fill_store(store, [answered, reply])
    sla = SlaPolicy.from_settings(TriageSettings())
    now = T0 + timedelta(hours=3)
    workflow = Workflow(TriageDatabase(store), FixedClock(now), sla)

    item = workflow.item(answered.doc_id)
    assert item.post.response is not None, "the reply is linked"
    stale = item.post.risk.model_copy(
        update={
            "reasons": [*item.post.risk.reasons, "wacht al 1 uur op antwoord"],
            "features": {**item.post.risk.features, "waiting": 0.5},
        }
    )
    item = replace(item, post=item.post.model_copy(update={"risk": stale}))
    card = card_view(item, now=now, sla=sla)
    assert "wachtte 2 uur op antwoord" in card.reasons, card.reasons
    assert not any(r.startswith("wacht al") for r in card.reasons), card.reasons
    unanswered = replace(item, post=item.post.model_copy(update={"risk": stale, "response": None}))
    late = card_view(unanswered, now=now, sla=sla)
    assert "wacht al 5 uur op antwoord" in late.reasons, late.reasons


def test_the_card_line_reads_the_wait_as_the_risk_reasons_do() -> None:
    """Past two days an answer "na 3 dagen" reads as the risk reason says it, not as
    "72 uur"; under an hour in minutes."""
    from datetime import UTC, datetime
    from types import SimpleNamespace
    from typing import Any

    from klachtradar.contract import PublicResponse
    from triage.views import public_response_line

    def line(minutes: float) -> str:
        response = PublicResponse(
            reply_doc_id="x:9",
            by="PostNL",
            responded_at=datetime(2026, 11, 9, tzinfo=UTC),
            first_response_minutes=minutes,
        )
        post: Any = SimpleNamespace(response=response)  # the line reads only this
        return public_response_line(post)

    assert line(24.9) == "publiek beantwoord na 25 min door @PostNL"
    assert line(292) == "publiek beantwoord na 5 uur door @PostNL"
    assert line(72 * 60) == "publiek beantwoord na 3 dagen door @PostNL"
