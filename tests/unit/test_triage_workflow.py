"""The triage workflow: actions, audit log, queue filters, snooze, author history."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from klachtradar.contract import Intent, Priority
from klachtradar.settings import TriageSettings
from sink.store import EmbeddedStore
from tests.unit.triage_support import T0, FixedClock, fill_store, raw_post
from triage.database import TriageDatabase
from triage.sla import SlaPolicy
from triage.workflow import QueueFilter, Workflow, WorkflowError

COMPLAINT = "@KPN mijn internet is alweer weg, al drie dagen geen verbinding. Belachelijk slecht!"
QUESTION = "Kan ik mijn abonnement bij KPN ook online verlengen?"


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "kr.db"
    fill_store(
        path,
        [
            raw_post("1", COMPLAINT, handle="anna", followers=40_000),
            raw_post("2", QUESTION, handle="bram", at=T0 + timedelta(minutes=1)),
            raw_post(
                "3",
                "Storing bij @ziggo, geen tv en geen internet, waardeloos",
                handle="cor",
                at=T0 + timedelta(minutes=2),
            ),
            raw_post("4", "Leuk weer vandaag", handle="dirk"),
        ],
    )
    return path


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0 + timedelta(minutes=5))


@pytest.fixture
def workflow(store_path: Path, clock: FixedClock) -> Workflow:
    return Workflow(TriageDatabase(store_path), clock, SlaPolicy.from_settings(TriageSettings()))


def test_queue_holds_brand_posts_by_priority_then_risk(workflow: Workflow) -> None:
    items, total = workflow.queue(QueueFilter())
    assert total == 3  # the post without a brand is not triage work
    keys = [(i.post.risk.priority.rank, -i.post.risk.score) for i in items]
    assert keys == sorted(keys)
    assert items[0].post.doc_id == "x:1"


def test_filters_by_brand_intent_priority_and_text(workflow: Workflow) -> None:
    by_brand, _ = workflow.queue(QueueFilter(brand="Ziggo"))
    assert [i.post.doc_id for i in by_brand] == ["x:3"]
    questions, _ = workflow.queue(QueueFilter(intent=Intent.VRAAG))
    assert [i.post.doc_id for i in questions] == ["x:2"]
    text, _ = workflow.queue(QueueFilter(text="verbinding"))
    assert [i.post.doc_id for i in text] == ["x:1"]
    top = workflow.item("x:1").post.risk.priority
    same, _ = workflow.queue(QueueFilter(priorities=(top,)))
    assert all(i.post.risk.priority is top for i in same)


def test_claim_then_resolve_stores_every_action_with_user_and_time(
    workflow: Workflow, clock: FixedClock
) -> None:
    workflow.claim("x:1", "anna")
    clock.current += timedelta(minutes=3)
    responded = clock.current - timedelta(minutes=1)
    item = workflow.resolve("x:1", "anna", responded_at=responded, note="gebeld")
    assert item.status == "resolved"
    assert item.responded_at == responded
    log = workflow.history("x:1")
    assert [(a.action, a.user) for a in log] == [("claim", "anna"), ("resolve", "anna")]
    assert log[1].at == clock.current
    assert log[1].detail["note"] == "gebeld"


def test_claiming_a_colleagues_post_is_a_logged_take_over(workflow: Workflow) -> None:
    workflow.claim("x:1", "anna")
    item = workflow.claim("x:1", "bram")
    assert item.assignee == "bram"
    assert workflow.history("x:1")[-1].detail == {"took_over_from": "anna"}


def test_resolved_and_not_complaint_posts_leave_the_active_queue(workflow: Workflow) -> None:
    workflow.resolve("x:1", "anna")
    workflow.not_complaint("x:3", "anna")
    active, _ = workflow.queue(QueueFilter())
    assert [i.post.doc_id for i in active] == ["x:2"]
    resolved, _ = workflow.queue(QueueFilter(statuses=("resolved",)))
    assert [i.post.doc_id for i in resolved] == ["x:1"]


def test_a_snoozed_post_returns_as_open_when_the_snooze_ends(
    workflow: Workflow, clock: FixedClock
) -> None:
    workflow.snooze("x:1", "anna", 30)
    assert "x:1" not in [i.post.doc_id for i in workflow.queue(QueueFilter())[0]]
    clock.current += timedelta(minutes=31)
    assert workflow.item("x:1").status == "open"
    assert "x:1" in [i.post.doc_id for i in workflow.queue(QueueFilter())[0]]


def test_impossible_actions_are_refused_with_a_reason(
    workflow: Workflow, clock: FixedClock
) -> None:
    with pytest.raises(WorkflowError) as unknown:
        workflow.claim("x:404", "anna")
    assert unknown.value.not_found
    with pytest.raises(WorkflowError, match="vóór het moment van de post"):
        workflow.resolve("x:1", "anna", responded_at=T0 - timedelta(minutes=1))
    with pytest.raises(WorkflowError, match="in de toekomst"):
        workflow.resolve("x:1", "anna", responded_at=clock.current + timedelta(hours=1))
    workflow.resolve("x:1", "anna")
    with pytest.raises(WorkflowError, match=r"^deze post is al afgehandeld; dat kan nu niet$"):
        workflow.claim("x:1", "anna")
    assert workflow.reopen("x:1", "anna").status == "open"


def test_resolving_ends_the_unanswered_streak_in_store_and_live_history(
    store_path: Path, clock: FixedClock
) -> None:
    resolved: list[str] = []
    workflow = Workflow(
        TriageDatabase(store_path),
        clock,
        SlaPolicy.from_settings(TriageSettings()),
        on_resolved=resolved.append,
    )
    workflow.resolve("x:1", "anna")
    assert resolved == ["x:1"]
    with EmbeddedStore(store_path) as store:
        rows = {doc: done for _, _, doc, _, done in store.complaint_history()}
    assert rows["x:1"] is True


def test_stats_count_open_work_and_sla_breaches(workflow: Workflow, clock: FixedClock) -> None:
    top = workflow.item("x:1").post.risk.priority
    assert top in (Priority.P1, Priority.P2)
    clock.current = T0 + timedelta(days=1)  # every open P1–P3 post is past its target now
    stats = workflow.stats()
    assert sum(stats.active_by_priority.values()) == 3
    with_target = [
        i
        for i in workflow.queue(QueueFilter())[0]
        if workflow.sla.target(i.post.brand_names[0], i.post.risk.priority)
    ]
    assert stats.breaches_open == len(with_target)
    workflow.resolve("x:1", "anna", responded_at=T0 + timedelta(minutes=2))
    after = workflow.stats()
    assert after.resolved == 1
    assert after.breaches_answered == 0
    assert after.breaches_open == stats.breaches_open - 1


def test_a_resolved_complaint_no_longer_counts_against_the_author_in_the_live_pipeline(
    tmp_path: Path,
) -> None:
    path = tmp_path / "kr.db"
    first = raw_post("10", COMPLAINT, handle="eva")
    pipeline = fill_store(path, [first])
    clock = FixedClock(T0 + timedelta(minutes=30))
    workflow = Workflow(
        TriageDatabase(path),
        clock,
        SlaPolicy.from_settings(TriageSettings()),
        on_resolved=pipeline.history.mark_resolved,
    )
    again = raw_post("11", COMPLAINT + " Nog steeds!", handle="eva", at=T0 + timedelta(hours=1))
    unanswered = pipeline.history.summary("id-eva", "KPN", before=again.created_at)
    assert unanswered.unanswered == 1
    workflow.resolve("x:10", "anna")
    after = pipeline.history.summary("id-eva", "KPN", before=again.created_at)
    assert after.earlier_complaints == 1
    assert after.unanswered == 0
