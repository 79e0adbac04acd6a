"""Parsing webhook bodies: JSON object, JSON array, JSONL; bad items become dead letters."""

from __future__ import annotations

import json

from klachtradar.contract import DeadLetter, RawPost
from listener.webhook import parse_body

GOOD = {
    "source": "crm",
    "post_id": "1",
    "text": "t",
    "created_at": "2026-11-23T09:00:00Z",
    "author": {"id": "a", "handle": "a"},
}


def test_jsonl_sent_as_application_json_is_still_read_line_by_line() -> None:
    body = (json.dumps(GOOD) + "\n" + json.dumps({**GOOD, "post_id": "2"})).encode()
    records = parse_body(body, "application/json", "webhook")
    assert [r.post_id for r in records if isinstance(r, RawPost)] == ["1", "2"]


def test_a_bad_line_is_a_dead_letter_naming_the_line_and_field() -> None:
    body = (json.dumps(GOOD) + "\n" + '{"source": "crm"}\n').encode()
    records = parse_body(body, "application/x-ndjson", "webhook 127.0.0.1")
    dead = [r for r in records if isinstance(r, DeadLetter)]
    assert dead[0].position == "line 2"
    assert "post_id: Field required" in dead[0].error


def test_an_empty_body_is_nothing() -> None:
    assert parse_body(b"  \n", "application/json", "webhook") == []
