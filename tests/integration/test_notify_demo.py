"""The demo replay, notifying in process, to a local Slack webhook and a signed webhook:
the Youp-like P1 arrives once, the Ziggo storm as one incident with its posts and its
end in the thread, and past the rate limit one digest per brand — nothing lost."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from klachtradar.cli import app
from tests.integration.notify_support import SECRET, Recorder, chat_server

pytestmark = pytest.mark.integration
__all__ = ["chat_server"]

DIGEST = re.compile(r"^Nog (\d+) P\d-meldingen? over (.+)$")


def test_the_demo_notifies_once_threads_the_storm_and_digests_past_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chat_server: Recorder
) -> None:
    routes = {
        "webcare": {"channel": "slack", "url_env": "KR_TEST_SLACK_URL"},
        "hook": {
            "channel": "webhook",
            "url": chat_server.url("/hook"),
            "secret_env": "KR_TEST_HOOK_KEY",
        },
    }
    monkeypatch.setenv("KR_TEST_SLACK_URL", chat_server.url("/slack"))
    monkeypatch.setenv("KR_TEST_HOOK_KEY", SECRET)
    monkeypatch.setenv("KLACHTRADAR_ALERTS__ROUTES", json.dumps(routes))
    monkeypatch.setenv("KLACHTRADAR_ALERTS__OUTBOX_PATH", str(tmp_path / "notify.db"))
    monkeypatch.setenv("KLACHTRADAR_DEADLETTER__PATH", str(tmp_path / "dead.jsonl"))
    store = str(tmp_path / "kr.db")
    runner = CliRunner()
    demo = runner.invoke(app, ["demo", "--fast", "--quiet", "--store", store])
    assert demo.exit_code == 0, demo.output
    top = runner.invoke(app, ["top", "--json", "--limit", "1", "--store", store])
    youp = json.loads(next(line for line in top.output.splitlines() if line.startswith("{")))
    assert (youp["author"], youp["priority"]) == ("jochemvandalen", "P1")

    hook = chat_server.on("/hook")
    slack = chat_server.on("/slack")
    assert all(r.signature_ok() for r in hook)
    ids = [r.json["delivery_id"] for r in hook]
    assert len(ids) == len(set(ids)), "a message was sent twice"
    assert len(slack) == len(hook)  # the same messages, laid out as Block Kit
    assert len(chat_server.seen) == len(chat_server.accepted)

    # The Youp P1: once, with its reach, waiting time and the link to its card.
    [youp_message] = [r.json["message"] for r in hook if youp["doc_id"] in r.json["delivery_id"]]
    facts = dict(youp_message["facts"])
    assert youp_message["headline"] == "P1 melding over " + youp["brands"][0]
    assert "41.200 volgers" in facts["Auteur"] and "Wacht al" in facts
    assert youp_message["link"].endswith("#card-" + youp["doc_id"])

    # The storm: one incident message; its posts and its end are replies in its thread.
    openers = [r.json for r in hook if r.json["delivery_id"].startswith("hook:incident:")]
    assert [o["message"]["headline"].split(":")[0] for o in openers] == ["Incident bij Ziggo"]
    thread = [r.json for r in hook if r.json["in_reply_to"] == openers[0]["delivery_id"]]
    assert len(thread) >= 5
    assert thread[-1]["message"]["headline"].startswith("Incident bij Ziggo voorbij")
    assert all(t["message"]["reply_to"] == openers[0]["message"]["headline"] for t in thread)
    slack_replies = [r.json for r in slack if r.json["blocks"][1]["type"] == "context"]
    assert len(slack_replies) == len(thread)  # no thread_ts from an incoming webhook: a line

    # Past the rate limit: digests, and every post alert is either a message or counted.
    digests = [DIGEST.match(r.json["message"]["headline"]) for r in hook]
    counted = sum(int(m.group(1)) for m in digests if m)
    assert counted > 0
    first_messages = {
        r.json["delivery_id"].rsplit(":", 1)[0]
        for r in hook
        if r.json["delivery_id"].startswith("hook:post:")
        and not r.json["message"]["headline"].startswith("Prioriteit verhoogd")
    }
    with sqlite3.connect(store) as db:
        alerted = {
            row[0]
            for row in db.execute(
                "SELECT json_extract(doc, '$.doc_id') FROM alerts WHERE kind = 'post'"
            )
        }
    assert len(first_messages) + counted == len(alerted)

    listed = runner.invoke(app, ["alerts", "list", "--json", "--limit", "1000"])
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert {row["status"] for row in rows} == {"sent"}
    assert len(rows) == len(hook) + len(slack)
