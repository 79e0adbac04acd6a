"""One card per author and brand conversation; reasons that are true when shown."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from klachtradar.contract import ScoredPost
from klachtradar.settings import TriageSettings
from sink.conversations import group_conversations, raw_score
from tests.unit.triage_support import T0, FixedClock, fill_store, raw_post
from triage.database import TriageDatabase
from triage.sla import SlaPolicy
from triage.views import card_view, live_reasons
from triage.workflow import QueueFilter, Workflow

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
ANGRY = "@KPN internet alweer weg, al dagen geen verbinding, belachelijk slecht! {n}"


def _streak_store(path: Path) -> None:
    """Anna complains about KPN five times in five days; Bram once."""
    posts = [
        raw_post(str(i), ANGRY.format(n=i), handle="anna", at=T0 + timedelta(days=i))
        for i in range(5)
    ]
    posts.append(raw_post("b", ANGRY.format(n="b"), handle="bram", at=T0 + timedelta(days=4)))
    fill_store(path, posts)


def _workflow(path: Path, clock: FixedClock) -> Workflow:
    return Workflow(TriageDatabase(path), clock, SlaPolicy.from_settings(TriageSettings()))


def test_an_author_with_five_complaints_is_one_card_with_the_others_under_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "kr.db"
    _streak_store(path)
    workflow = _workflow(path, FixedClock(T0 + timedelta(days=5)))
    page = workflow.queue_page(QueueFilter())
    items = page.items
    assert (page.conversations, page.posts) == (2, 6)  # two cards for six posts
    anna = next(i for i in items if i.post.post.author.handle == "anna")
    assert anna.also_open == 4
    assert [o.post.doc_id for o in anna.others] == sorted(
        (o.post.doc_id for o in anna.others), reverse=True
    )  # newest first
    assert anna.post.doc_id not in [o.post.doc_id for o in anna.others]
    card = card_view(anna, now=T0 + timedelta(days=5), sla=workflow.sla)
    assert card.also_open == 4
    assert card.others_label in ("+4 eerdere berichten", "+4 andere berichten")


def test_ties_at_the_cap_are_broken_by_the_raw_score(tmp_path: Path) -> None:
    path = tmp_path / "kr.db"
    _streak_store(path)
    workflow = _workflow(path, FixedClock(T0 + timedelta(days=5)))
    items, _ = workflow.queue(QueueFilter(statuses=()))
    posts: list[ScoredPost] = [items[0].post, *(o.post for o in items[0].others)]
    capped = [p.risk.model_copy(update={"score": 100}) for p in posts]
    tied = [p.model_copy(update={"risk": r}) for p, r in zip(posts, capped, strict=True)]
    head = group_conversations(tied)[0].head
    assert raw_score(head) == max(raw_score(p) for p in tied)


def test_the_waiting_reason_is_computed_when_shown_not_when_scored(tmp_path: Path) -> None:
    path = tmp_path / "kr.db"
    _streak_store(path)
    clock = FixedClock(T0 + timedelta(days=4, hours=2))
    workflow = _workflow(path, clock)
    anna = next(i for i in workflow.queue(QueueFilter())[0] if i.post.post.author.id == "id-anna")
    first = live_reasons(anna, now=clock.now(), zone=AMSTERDAM, active=True)
    later = live_reasons(anna, now=clock.now() + timedelta(days=10), zone=AMSTERDAM, active=True)
    waiting_now = [r for r in first if r.startswith("wacht al")]
    waiting_later = [r for r in later if r.startswith("wacht al")]
    assert waiting_now and waiting_later and waiting_now != waiting_later
    assert "sinds 01-10 11:00" in waiting_later[0]  # T0 09:00 UTC is 11:00 in Amsterdam
    assert "2 weken" in waiting_later[0]  # 14 days since the first open complaint


def test_velocity_says_when_it_was_measured(tmp_path: Path) -> None:
    path = tmp_path / "kr.db"
    fill_store(path, [raw_post("v", ANGRY.format(n="v"), handle="viral", reposts=400)])
    workflow = _workflow(path, FixedClock(T0 + timedelta(hours=5)))
    item = workflow.queue(QueueFilter())[0][0]
    reasons = live_reasons(item, now=T0 + timedelta(hours=5), zone=AMSTERDAM, active=True)
    velocity = [r for r in reasons if r.startswith("reposts +")]
    assert velocity and velocity[0].endswith("om 01-10 12:00")  # observed 10:00 UTC


def _rescoring_workflow(path: Path, clock: FixedClock) -> Workflow:
    from klachtradar.runtime.rescore import ConversationRescorer
    from klachtradar.settings import load_settings

    return Workflow(
        TriageDatabase(path),
        clock,
        SlaPolicy.from_settings(TriageSettings()),
        rescorer=ConversationRescorer.from_settings(load_settings()),
    )


def test_resolving_re_scores_the_authors_other_open_posts_at_once(tmp_path: Path) -> None:
    path = tmp_path / "kr.db"
    _streak_store(path)
    workflow = _rescoring_workflow(path, FixedClock(T0 + timedelta(days=5)))
    anna = next(i for i in workflow.queue(QueueFilter())[0] if i.post.post.author.id == "id-anna")
    latest = max([anna, *anna.others], key=lambda i: i.post.post.created_at)
    before = workflow.item(latest.post.doc_id).post.risk
    assert any(r.endswith("geen reactie") for r in before.reasons)
    oldest = min(anna.others, key=lambda i: i.post.post.created_at)
    workflow.resolve(oldest.post.doc_id, "kim")  # the first complaint got its answer
    after = workflow.item(latest.post.doc_id).post.risk
    assert not any(r.endswith("geen reactie") for r in after.reasons)
    assert any("3 onbeantwoord" in r for r in after.reasons)
    assert after.features["total"] < before.features["total"]  # a shorter wait, too
    bram = workflow.item("x:b").post.risk
    assert bram == fill_store_risk(path, "x:b")  # another author: untouched


def fill_store_risk(path: Path, doc_id: str) -> object:
    import sqlite3

    with sqlite3.connect(path) as db:
        doc = db.execute("SELECT doc FROM posts WHERE doc_id = ?", (doc_id,)).fetchone()[0]
    return ScoredPost.model_validate_json(doc).risk


def test_a_post_relabelled_overig_leaves_p1_and_loses_its_complaint_reason(
    tmp_path: Path,
) -> None:
    from klachtradar.contract import Intent, Priority, Sentiment
    from triage.feedback import FeedbackStore

    path = tmp_path / "kr.db"
    fill_store(
        path,
        [
            raw_post(
                "p1",
                "@KPN internet alweer weg, belachelijk slecht, ik stap over!",
                handle="grote",
                followers=250_000,
                reposts=500,
            )
        ],
    )
    clock = FixedClock(T0 + timedelta(minutes=30))
    workflow = _rescoring_workflow(path, clock)
    before = workflow.item("x:p1").post
    assert before.risk.priority is Priority.P1, before.risk
    FeedbackStore(workflow.database, clock).correct(
        workflow, "x:p1", "kim", sentiment=Sentiment.NEUTRAAL, intent=Intent.OVERIG, cues=[]
    )
    after = workflow.item("x:p1").post
    assert after.classification is not None and after.classification.intent is Intent.OVERIG
    assert after.risk.priority is not Priority.P1 and after.risk.score < before.risk.score
    assert not any(r.startswith("klacht (") for r in after.risk.reasons)
    items, _ = workflow.queue(QueueFilter(intent=Intent.OVERIG))
    assert [i.post.doc_id for i in items] == ["x:p1"]  # the filter column follows the label


def test_a_claimed_post_stays_on_top_of_its_card(tmp_path: Path) -> None:
    path = tmp_path / "kr.db"
    _streak_store(path)
    workflow = _workflow(path, FixedClock(T0 + timedelta(days=5)))
    anna = next(i for i in workflow.queue(QueueFilter())[0] if i.post.post.author.id == "id-anna")
    oldest = min(anna.others, key=lambda i: i.post.post.created_at).post.doc_id
    workflow.claim(oldest, "kim")
    items, _ = workflow.queue(QueueFilter())
    anna = next(i for i in items if i.post.post.author.id == "id-anna")
    assert (anna.post.doc_id, anna.status, anna.also_open) == (oldest, "claimed", 4)
