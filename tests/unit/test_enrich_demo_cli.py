"""The demo end to end through the CLI: the Youp-like author tops the triage queue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from klachtradar.cli import app


def test_demo_puts_the_unanswered_well_followed_author_on_top(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLACHTRADAR_DEADLETTER__PATH", str(tmp_path / "dead.jsonl"))
    store = str(tmp_path / "kr.db")
    runner = CliRunner()
    demo = runner.invoke(app, ["demo", "--fast", "--quiet", "--store", store])
    assert demo.exit_code == 0, demo.output
    top = runner.invoke(app, ["top", "--json", "--limit", "5", "--store", store])
    assert top.exit_code == 0, top.output
    rows = [json.loads(line) for line in top.output.splitlines() if line.startswith("{")]
    assert rows[0]["priority"] == "P1"
    assert rows[0]["author"] == "jochemvandalen"
    assert "41.200 volgers" in rows[0]["reasons"]
    assert any(r.endswith("geen reactie") for r in rows[0]["reasons"])
    authors_brands = [(r["author"], r["brands"][0]) for r in rows]
    assert len(authors_brands) == len(set(authors_brands))  # one row per conversation
    assert rows[0]["also_open"] >= 5  # his other unanswered complaints, counted, not listed
    assert all(isinstance(r["also_open"], int) for r in rows)

    # An agent resolves his top post in the app: his conversation is re-scored at once.
    with _app_on(Path(store)) as client:
        resolved = client.post(
            "/api/actions/resolve",
            json={"doc_id": rows[0]["doc_id"]},
            headers={"X-Klachtradar-Request": "1", "X-Klachtradar-User": "Kim%20(webcare)"},
        )
        assert resolved.status_code == 200, resolved.text
    again = runner.invoke(app, ["top", "--json", "--limit", "10", "--store", store])
    rows = [json.loads(line) for line in again.output.splitlines() if line.startswith("{")]
    youp = next(r for r in rows if r["author"] == "jochemvandalen" and r["brands"][0] == "Odido")
    assert not any("geen reactie" in r for r in youp["reasons"]), youp["reasons"]


def _app_on(store: Path) -> TestClient:
    """The triage app on this store, wired as ``klachtradar serve`` wires it."""
    from klachtradar.settings import load_settings
    from triage.server import build_app

    settings = load_settings()
    settings.store.path = store
    from klachtradar.cli import _conversation_rescorer

    fastapi_app = build_app(
        settings, replay_files=[], duration_s=0, rescorer=_conversation_rescorer
    )
    return TestClient(fastapi_app)
