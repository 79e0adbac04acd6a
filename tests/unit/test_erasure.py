"""Forget an author, retention pruning and pseudonymised feedback (issue 18)."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from enrich.history import AuthorHistory
from klachtradar.cli import app
from klachtradar.contract import Cue, Intent, Sentiment
from klachtradar.settings import TriageSettings
from sink.erasure import append_audit, author_fingerprint, forget_author
from sink.history_store import SqliteHistoryBackend
from sink.store import EmbeddedStore
from tests.unit.triage_support import T0, FixedClock, fill_store, raw_post
from triage.database import TriageDatabase
from triage.feedback import FeedbackStore
from triage.pseudonym import export_pseudonymised, pseudonymise_text
from triage.sla import SlaPolicy
from triage.workflow import Workflow

COMPLAINT = "@KPN mijn internet is alweer weg, al drie dagen geen verbinding. Belachelijk slecht!"
SALT = "a-very-secret-salt-for-tests"


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """Two complaints by @Youp (one agents acted on and relabelled), one by someone else."""
    path = tmp_path / "kr.db"
    fill_store(
        path,
        [
            raw_post("1", COMPLAINT, handle="Youp", followers=900_000, reposts=300),
            raw_post("2", COMPLAINT + " Nog steeds!", handle="Youp", at=T0 + timedelta(hours=1)),
            raw_post("3", COMPLAINT, handle="anna", followers=900_000, reposts=300),
        ],
    )
    workflow = Workflow(
        TriageDatabase(path),
        FixedClock(T0 + timedelta(hours=2)),
        SlaPolicy.from_settings(TriageSettings()),
    )
    workflow.claim("x:1", "agent-sanne")
    workflow.claim("x:3", "agent-sanne")
    feedback = FeedbackStore(workflow.database, FixedClock(T0 + timedelta(hours=2)))
    for doc in ("x:1", "x:3"):
        feedback.correct(
            workflow,
            doc,
            "agent-sanne",
            sentiment=Sentiment.NEGATIEF,
            intent=Intent.KLACHT,
            cues=[Cue.HERHAALD],
        )
    workflow.database.close()
    return path


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


def test_forget_leaves_no_trace_of_the_author_in_store_history_alerts_triage_or_feedback(
    store_path: Path,
) -> None:
    assert any("x:1" in str(r) for r in rows(store_path, "SELECT doc FROM alerts"))
    with EmbeddedStore(store_path) as store:
        report, deletes = forget_author("x", "@youp", store=store, by="dpo@bedrijf")
        assert sorted(d.doc_id for d in deletes) == ["x:1", "x:2"]
        assert {d.reason for d in deletes} == {"forgotten"}
        assert (report.posts, report.store_posts, report.feedback) == (2, 2, 1)
        assert report.triage_actions == 2  # the claim and the relabel of post 1
        assert report.alerts >= 1

        assert store.author_doc_ids("x", "Youp") == []
        assert store.search("Youp") == []
        assert [p.doc_id for p in store.search("internet")] == ["x:3"]
    everything = " ".join(
        str(r)
        for table in ("posts", "alerts", "triage_state", "triage_actions", "triage_feedback")
        for r in rows(store_path, f"SELECT * FROM {table}")
    )
    assert "Youp" not in everything and "x:1" not in everything and "x:2" not in everything
    assert "anna" in everything, "the other author is untouched"
    assert rows(store_path, "SELECT doc_id, reason FROM tombstones ORDER BY doc_id") == [
        ("x:1", "forgotten"),
        ("x:2", "forgotten"),
    ]
    history = AuthorHistory(backend=SqliteHistoryBackend(store_path)).open()
    assert history.summary("id-Youp", "KPN", T0 + timedelta(days=1)).earlier_complaints == 0
    assert history.summary("id-anna", "KPN", T0 + timedelta(days=1)).earlier_complaints == 1


def test_the_audit_line_says_who_when_and_how_many_never_the_content(
    store_path: Path, tmp_path: Path
) -> None:
    with EmbeddedStore(store_path) as store:
        report, _ = forget_author("x", "Youp", store=store, by="dpo@bedrijf")
    audit = tmp_path / "audit" / "erasure.jsonl"
    append_audit(audit, report)
    line = audit.read_text(encoding="utf-8")
    entry = json.loads(line)
    assert entry["by"] == "dpo@bedrijf" and entry["action"] == "forget" and entry["posts"] == 2
    assert entry["at"] and entry["author_sha256"] == author_fingerprint("x", "@YOUP")
    assert "youp" not in line.lower() and "internet" not in line and "x:1" not in line


def test_forget_from_the_command_line_erases_and_audits(
    store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    audit = tmp_path / "audit.jsonl"
    monkeypatch.setenv("KLACHTRADAR_STORE__AUDIT_PATH", str(audit))
    result = CliRunner().invoke(
        app,
        ["forget", "--source", "x", "--author", "Youp", "--by", "dpo", "--store", str(store_path)],
    )
    assert result.exit_code == 0, result.output
    assert "2 posts" in result.output
    assert json.loads(audit.read_text())["posts"] == 2
    assert rows(store_path, "SELECT count(*) FROM posts WHERE author_handle = 'Youp'") == [(0,)]


def test_a_forgotten_authors_post_arriving_again_stays_out(store_path: Path) -> None:
    with EmbeddedStore(store_path) as store:
        forget_author("x", "Youp", store=store, by="dpo")
    fill_store(
        store_path, [raw_post("1", COMPLAINT, handle="Youp", followers=900_000, reposts=300)]
    )
    assert rows(store_path, "SELECT count(*) FROM posts WHERE author_handle = 'Youp'") == [(0,)]
    assert not any("x:1" in str(r) for r in rows(store_path, "SELECT doc FROM alerts"))


def test_retention_prunes_old_posts_with_their_rows_and_tombstones(store_path: Path) -> None:
    with EmbeddedStore(store_path, retention_days=30) as store:
        assert store.prune_if_due(T0 + timedelta(days=30, minutes=30)) == 2  # posts 1 and 3
        assert store.prune_if_due(T0 + timedelta(days=30, minutes=80)) == 0  # once an hour
        assert store.count() == 1 and store.get("x:2") is not None
    assert rows(store_path, "SELECT count(*) FROM triage_feedback") == [(0,)]
    assert rows(store_path, "SELECT count(*) FROM triage_actions") == [(0,)]


def test_without_retention_nothing_is_pruned(store_path: Path) -> None:
    with EmbeddedStore(store_path) as store:
        assert store.prune_if_due(T0 + timedelta(days=3650)) == 0
        assert store.count() == 3


def test_pseudonymised_feedback_hashes_handles_and_ids_and_drops_urls(
    store_path: Path, tmp_path: Path
) -> None:
    database = TriageDatabase(store_path)
    out = tmp_path / "train.jsonl"
    try:
        assert export_pseudonymised(FeedbackStore(database, FixedClock(T0)), out, SALT) == 2
    finally:
        database.close()
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert all(r["id"].startswith("p_") and "x:" not in r["id"] for r in records)
    assert all(r["intent"] == "klacht" and "@KPN" not in r["text"] for r in records)
    assert (
        records[0]["text"].startswith("@user_") and "internet is alweer weg" in records[0]["text"]
    )
    text = pseudonymise_text(
        "@Youp en @youp: zie https://x.com/youp/status/1 of www.kpn.com/x", SALT
    )
    first, second = text.split(" en ")[0], text.split(" en ")[1].split(":")[0]
    assert first == second, "one author, one pseudonym"
    assert "youp" not in text.lower() and "http" not in text and "www" not in text
    assert pseudonymise_text("@Youp", SALT) != pseudonymise_text("@Youp", SALT + "!")


def test_the_pseudonymised_export_needs_a_secret_salt(
    store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "train.jsonl"
    args = ["feedback", "export", "--pseudonymise", "--out", str(out), "--store", str(store_path)]
    monkeypatch.delenv("FEEDBACK_PSEUDONYM_SALT", raising=False)
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code != 0 and "FEEDBACK_PSEUDONYM_SALT" in str(refused.exception)
    monkeypatch.setenv("FEEDBACK_PSEUDONYM_SALT", SALT)
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "Youp" not in out.read_text(encoding="utf-8")
