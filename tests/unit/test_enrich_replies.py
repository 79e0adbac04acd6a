"""Brand replies: threading by reply id and by handle, the window, other brands,
re-delivery, the public response time and "beantwoord, niet opgelost"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from classify.lexicon import LexiconClassifier
from classify.stage import classify_batch
from enrich.alerts import post_alerts, tone_alerts
from enrich.brand_match import BrandMatcher
from enrich.history import AuthorHistory
from enrich.replies import ThreadTracker, leading_handle
from enrich.risk import ANSWERED_NOT_SOLVED, RiskModel
from enrich.stage import score_batch
from klachtradar.contract import (
    Author,
    ModelRef,
    Priority,
    RawPost,
    ScoredPost,
    Tone,
    ToneJudgement,
)
from klachtradar.settings import RepliesSettings, Settings, load_settings

T0 = datetime(2026, 10, 17, 10, 0, tzinfo=UTC)
CUSTOMER = Author(id="c1", handle="sanne_vd_berg", followers=900)
POSTNL = Author(id="b1", handle="PostNL", followers=121_000, verified=True)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings()


def _post(pid: str, author: Author, text: str, minutes: float, **kw: object) -> RawPost:
    return RawPost(
        source="x",
        post_id=pid,
        text=text,
        created_at=T0 + timedelta(minutes=minutes),
        author=author,
        **kw,  # type: ignore[arg-type]
    )


def _run(
    settings: Settings,
    posts: list[RawPost],
    threads: ThreadTracker | None = None,
    tones: dict[str, ToneJudgement] | None = None,
) -> list[ScoredPost]:
    matcher = BrandMatcher.from_file(settings.resolve(settings.watchlist.path))
    classified = classify_batch(posts, LexiconClassifier())
    return score_batch(
        classified,
        matcher=matcher,
        risk_model=RiskModel(settings.risk, settings.priority),
        history=AuthorHistory(),
        now=T0,
        threads=threads if threads is not None else ThreadTracker(),
        tones=tones,
    )


COMPLAINT = "Hoi @PostNL, mijn pakket is nooit aangekomen en staat op bezorgd. Slechte service!"


def test_leading_handle_is_read_without_at_and_lower_case() -> None:
    assert leading_handle("@Sanne_vd_Berg Hoi!") == "sanne_vd_berg"
    assert leading_handle("Hoi @sanne") is None


def test_a_reply_starting_with_the_handle_answers_the_complaint(settings: Settings) -> None:
    complaint = _post("1", CUSTOMER, COMPLAINT, 0)
    reply = _post("2", POSTNL, "@sanne_vd_berg Hoi Sanne, stuur je ons een DM? ^Jeroen", 25)
    out = _run(settings, [complaint, reply])
    by_id = {p.doc_id: p for p in out}
    answered = out[-1]
    assert answered.doc_id == "x:1" and answered.response is not None
    assert answered.response.first_response_minutes == 25.0
    assert answered.response.by == "PostNL"
    assert "publiek beantwoord na 25 min door @PostNL" in answered.risk.reasons
    assert not any(r.startswith("wacht al") for r in answered.risk.reasons)
    brand_reply = by_id["x:2"]
    assert brand_reply.reply is not None
    assert brand_reply.reply.in_reply_to == "x:1" and brand_reply.reply.linked_by == "handle"
    assert brand_reply.thread_id == "x:1" == answered.thread_id
    assert brand_reply.brands == [] and brand_reply.risk.priority is Priority.P4


def test_a_platform_reply_id_links_even_without_the_handle(settings: Settings) -> None:
    complaint = _post("1", CUSTOMER, COMPLAINT, 0)
    reply = _post("2", POSTNL, "Vervelend! We zoeken het uit.", 10, reply_to="1")
    out = _run(settings, [complaint, reply])
    brand_reply = next(p for p in out if p.doc_id == "x:2")
    assert brand_reply.reply is not None and brand_reply.reply.linked_by == "reply_id"
    assert brand_reply.reply.response_minutes == 10.0
    assert out[-1].response is not None and out[-1].response.reply_doc_id == "x:2"


def test_a_reply_outside_the_window_answers_nothing(settings: Settings) -> None:
    complaint = _post("1", CUSTOMER, COMPLAINT, 0)
    reply = _post("2", POSTNL, "@sanne_vd_berg Hoi Sanne, sorry!", 60 * 24 * 3)
    out = _run(settings, [complaint, reply], ThreadTracker(window=timedelta(hours=48)))
    assert [p.doc_id for p in out] == ["x:1", "x:2"]
    assert out[1].reply is not None and out[1].reply.in_reply_to is None
    assert out[0].response is None


def test_held_complaints_are_capped_and_the_oldest_is_forgotten_first(
    settings: Settings,
) -> None:
    other = Author(id="c2", handle="piet_p", followers=50)
    third = Author(id="c3", handle="kim_k", followers=50)
    threads = ThreadTracker(max_complaints=2)
    complaints = [
        _post("1", CUSTOMER, COMPLAINT, 0),
        _post("2", other, COMPLAINT.replace("Hoi", "Hee"), 1),
        _post("3", third, COMPLAINT.replace("Hoi", "Zeg"), 2),
    ]
    _run(settings, complaints, threads)
    assert threads.held_complaints() == 2
    late = _post("4", POSTNL, "@sanne_vd_berg Hoi Sanne, sorry!", 10)
    fresh = _post("5", POSTNL, "@kim_k Hoi Kim, we kijken mee! ^Jeroen", 11)
    out = _run(settings, [late, fresh], threads)
    by_id = {p.doc_id: p for p in out}
    assert by_id["x:4"].reply is not None and by_id["x:4"].reply.in_reply_to is None
    assert by_id["x:5"].reply is not None and by_id["x:5"].reply.in_reply_to == "x:3"
    answered = out[-1]
    assert answered.doc_id == "x:3" and answered.response is not None
    assert answered.post.text == complaints[2].text, "the held copy round-trips whole"
    assert answered.classification == _run(settings, [complaints[2]])[0].classification


def test_a_brand_reply_naming_another_brand_is_no_mention_of_it(settings: Settings) -> None:
    reply = _post("2", POSTNL, "@sanne_vd_berg Dit pakket is door DHL bezorgd, niet door ons.", 5)
    out = _run(settings, [reply])
    assert out[0].brands == [] and out[0].reply is not None
    assert out[0].reply.brand == "PostNL"
    assert post_alerts(out, min_priority=Priority.P4) == []


def test_a_redelivered_reply_is_not_counted_twice(settings: Settings) -> None:
    threads = ThreadTracker()
    complaint = _post("1", CUSTOMER, COMPLAINT, 0)
    reply = _post("2", POSTNL, "@sanne_vd_berg Hoi Sanne, stuur je ons een DM? ^Jeroen", 25)
    first = _run(settings, [complaint, reply], threads)
    again = _run(settings, [reply], threads)
    assert len(first) == 3 and len(again) == 1  # no second "answered" copy
    assert again[0].reply == next(p for p in first if p.doc_id == "x:2").reply
    assert threads.response_of("x:1") is not None
    assert threads.response_of("x:1").reply_doc_id == "x:2"  # type: ignore[union-attr]


def test_a_complaint_after_a_reply_is_answered_not_solved(settings: Settings) -> None:
    threads = ThreadTracker()
    posts = [
        _post("1", CUSTOMER, COMPLAINT, 0),
        _post("2", POSTNL, "@sanne_vd_berg Stuur je ons een DM? ^Jeroen", 25),
        _post("3", CUSTOMER, "@PostNL nog steeds niks gehoord, mijn pakket is weg! Slecht!", 150),
    ]
    out = _run(settings, posts, threads)
    again = out[-1]
    assert again.doc_id == "x:3" and again.answered_not_solved
    assert ANSWERED_NOT_SOLVED in again.risk.reasons
    assert again.risk.features["answered"] > 0
    assert again.thread_id == "x:1"
    assert not any("geen reactie" in r for r in again.risk.reasons)


def test_a_grof_reply_raises_a_toon_alert_with_the_customers_reach(settings: Settings) -> None:
    complaint = _post("1", CUSTOMER, COMPLAINT, 0)
    reply = _post("2", POSTNL, "@sanne_vd_berg Niet zo zeuren. ^Jeroen", 25)
    tone = ToneJudgement(
        tone=Tone.GROF,
        proba={Tone.GROF: 0.9, Tone.KORTAF: 0.05, Tone.PROFESSIONEEL: 0.05},
        reasons=["zeuren"],
        model=ModelRef(name="tone", version="test"),
    )
    out = _run(settings, [complaint, reply], tones={"x:2": tone})
    alerts = tone_alerts(out, RepliesSettings())
    assert len(alerts) == 1 and alerts[0].kind.value == "toon"
    assert alerts[0].brand == "PostNL" and alerts[0].doc_id == "x:2"
    assert "«zeuren»" in alerts[0].reasons
    assert "publiek antwoord aan @sanne_vd_berg (900 volgers)" in alerts[0].reasons
