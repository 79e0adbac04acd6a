"""Parsing webhook bodies: JSON object, JSON array, JSONL; bad items become dead letters."""

from __future__ import annotations

import base64
import json

import pytest

from klachtradar.contract import DeadLetter, RawPost
from listener.webhook import Framing, RequestRefusedError, parse_body, request_framing

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


def test_a_leading_byte_order_mark_is_dropped() -> None:
    for content_type in ("application/json", "application/x-ndjson"):
        body = b"\xef\xbb\xbf" + json.dumps(GOOD).encode()
        records = parse_body(body, content_type, "webhook")
        assert [r.post_id for r in records if isinstance(r, RawPost)] == ["1"], content_type


def test_an_undecodable_line_is_a_dead_letter_keeping_its_exact_bytes() -> None:
    bad = b'{"source": "crm", "text": "caf\xe9"}'
    body = json.dumps(GOOD).encode() + b"\n" + bad + b"\n"
    records = parse_body(body, "application/json", "webhook")
    assert isinstance(records[0], RawPost)
    dead = records[1]
    assert isinstance(dead, DeadLetter)
    assert (dead.position, dead.stage) == ("line 2", "decode")
    assert dead.raw_base64 is not None and base64.b64decode(dead.raw_base64) == bad
    assert "\ufffd" in dead.raw  # readable, but lossy: hence raw_base64


def test_a_line_separator_inside_a_json_string_does_not_split_the_line() -> None:
    body = (json.dumps({**GOOD, "text": "a\u2028b"}, ensure_ascii=False) + "\n").encode()
    records = parse_body(body, "application/x-ndjson", "webhook")
    assert [r.text for r in records if isinstance(r, RawPost)] == ["a\u2028b"]


@pytest.mark.parametrize(
    ("transfer_encoding", "content_length", "status"),
    [
        (None, None, 411),
        (None, "-1", 400),
        (None, "+5", 400),
        (None, "1e3", 400),
        (None, "\uff15", 400),  # a full-width digit: isdigit() alone would let it through
        (None, "9" * 5000, 413),  # longer than int() accepts by default
        (None, "1001", 413),
        ("chunked", "5", 400),  # both: the classic request-smuggling ambiguity
        ("gzip, chunked", None, 501),
    ],
)
def test_bad_framing_is_refused_from_the_headers_alone(
    transfer_encoding: str | None, content_length: str | None, status: int
) -> None:
    with pytest.raises(RequestRefusedError) as refused:
        request_framing(transfer_encoding, content_length, limit=1000)
    assert refused.value.status == status


def test_good_framing_is_a_length_or_chunked() -> None:
    assert request_framing(None, " 1000 ", limit=1000) == Framing(chunked=False, length=1000)
    assert request_framing("Chunked", None, limit=1000) == Framing(chunked=True)
