"""The queue puts complaints the brand answered in public below the unanswered ones of
their priority (``[triage] answered_below_unanswered``), and never out of the queue."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from klachtradar.cli import app
from klachtradar.contract import Priority, PublicResponse, ScoredPost
from klachtradar.settings import TriageSettings, load_settings
from sink.conversations import group_conversations
from sink.store import EmbeddedStore
from tests.unit.triage_support import T0, FixedClock, fill_store, raw_post
from triage.database import TriageDatabase
from triage.sla import SlaPolicy
from triage.workflow import QueueFilter, Workflow

ANGRY = "@KPN internet alweer weg, al dagen geen verbinding, belachelijk slecht! {n}"
ANSWER = PublicResponse(
    responded_at=T0 + timedelta(minutes=25),
    first_response_minutes=25.0,
    by="KPN",
    reply_doc_id="x:reply",
)
QUEUE_BY_RISK = ["x:cees", "x:anna", "x:bram", "x:dirk"]
QUEUE_ANSWERED_BELOW = ["x:cees", "x:bram", "x:anna", "x:dirk"]


def _set(post: ScoredPost, priority: Priority, risk: int, *, answered: bool) -> ScoredPost:
    scored = post.risk.model_copy(
        update={"priority": priority, "score": risk, "features": {"total": float(risk)}}
    )
    return post.model_copy(update={"risk": scored, "response": ANSWER if answered else None})


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """Four complainants about KPN, priorities and risks pinned:

    cees P1 80 answered · anna P2 65 answered · bram P2 55 waiting · dirk P3 40 waiting.
    """
    path = tmp_path / "kr.db"
    names = ("anna", "bram", "cees", "dirk")
    fill_store(path, [raw_post(n, ANGRY.format(n=n), handle=n) for n in names])
    pinned = {
        "x:anna": (Priority.P2, 65, True),
        "x:bram": (Priority.P2, 55, False),
        "x:cees": (Priority.P1, 80, True),
        "x:dirk": (Priority.P3, 40, False),
    }
    with EmbeddedStore(path) as store:
        posts = [store.get(doc_id) for doc_id in pinned]
        store.write_posts(
            [_set(p, *pinned[p.doc_id][:2], answered=pinned[p.doc_id][2]) for p in posts if p]
        )
    return path


def _queue(path: Path, *, answered_below_unanswered: bool) -> list[str]:
    workflow = Workflow(
        TriageDatabase(path),
        FixedClock(T0 + timedelta(hours=1)),
        SlaPolicy.from_settings(TriageSettings()),
        answered_below_unanswered=answered_below_unanswered,
    )
    return [item.post.doc_id for item in workflow.queue_page(QueueFilter()).items]


def test_an_answered_complaint_ranks_below_the_unanswered_ones_of_its_priority(
    store_path: Path,
) -> None:
    assert _queue(store_path, answered_below_unanswered=True) == QUEUE_ANSWERED_BELOW


def test_an_answered_complaint_keeps_its_priority_and_stays_in_the_queue(
    store_path: Path,
) -> None:
    queue = _queue(store_path, answered_below_unanswered=True)
    assert queue[0] == "x:cees"  # answered P1 still above every P2
    assert queue.index("x:anna") < queue.index("x:dirk")  # answered P2 above the P3
    assert sorted(queue) == sorted(QUEUE_BY_RISK)  # nobody left the queue


def test_with_the_setting_off_the_queue_ranks_by_risk_alone(store_path: Path) -> None:
    assert _queue(store_path, answered_below_unanswered=False) == QUEUE_BY_RISK


def test_a_complaint_after_the_answer_heads_its_conversation_as_unanswered(
    store_path: Path,
) -> None:
    """Anna's answered complaint and her later, unanswered one are one card: the later
    one on top, and the card ranks as unanswered (above Bram's lower risk)."""
    with EmbeddedStore(store_path) as store:
        anna = store.get("x:anna")
    assert anna is not None
    again = anna.model_copy(
        update={
            "doc_id": "x:anna2",
            "post": anna.post.model_copy(
                update={"post_id": "anna2", "created_at": T0 + timedelta(minutes=40)}
            ),
        }
    )
    follow_up = _set(again, Priority.P2, 60, answered=False)
    conversations = group_conversations([anna, follow_up, *_others(store_path)])
    assert [c.head.doc_id for c in conversations] == ["x:cees", "x:anna2", "x:bram", "x:dirk"]
    assert [p.doc_id for p in conversations[1].others] == ["x:anna"]


def _others(path: Path) -> list[ScoredPost]:
    with EmbeddedStore(path) as store:
        return [p for d in ("x:bram", "x:cees", "x:dirk") if (p := store.get(d)) is not None]


@pytest.mark.parametrize(
    ("setting", "expected"), [("true", QUEUE_ANSWERED_BELOW), ("false", QUEUE_BY_RISK)]
)
def test_top_lists_the_queue_in_the_triage_apps_order(
    store_path: Path, setting: str, expected: list[str]
) -> None:
    result = CliRunner().invoke(
        app,
        ["top", "--json", "--store", str(store_path)],
        env={"KLACHTRADAR_TRIAGE__ANSWERED_BELOW_UNANSWERED": setting},
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["doc_id"] for line in lines] == expected
    answered = {line["doc_id"]: line["first_response_minutes"] for line in lines}
    assert answered == {"x:anna": 25.0, "x:bram": None, "x:cees": 25.0, "x:dirk": None}


@pytest.mark.parametrize(
    ("setting", "expected"), [(True, QUEUE_ANSWERED_BELOW), (False, QUEUE_BY_RISK)]
)
def test_serve_orders_the_queue_by_the_setting(
    store_path: Path, setting: bool, expected: list[str]
) -> None:
    from triage.server import build_app

    settings = load_settings()
    settings.store.path = store_path
    settings.elasticsearch.url = ""
    settings.triage.answered_below_unanswered = setting
    with TestClient(build_app(settings, replay_files=[], duration_s=0)) as client:
        body = client.get("/api/queue").json()
    assert [p["doc_id"] for p in body["posts"]] == expected
