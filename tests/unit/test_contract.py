"""The data contract: round trips, identity, compatibility and its JSON Schema."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import jsonschema
import pytest
from pydantic import ValidationError

from klachtradar.contract import (
    SCHEMA_VERSION,
    Alert,
    AlertKind,
    DeadLetter,
    DeletedPost,
    Priority,
    RawPost,
    Risk,
    ScoredPost,
    json_schemas,
    parse_raw_post,
    raw_fields,
)
from klachtradar.errors import ContractError
from tests.conftest import PostFactory


def test_raw_post_survives_a_json_round_trip(make_post: PostFactory) -> None:
    post = make_post(mentions=["KPNwebcare"], hashtags=["storing"], url="https://x.com/a/1")
    assert RawPost.model_validate_json(post.model_dump_json()) == post


def test_doc_id_is_source_and_post_id(make_post: PostFactory) -> None:
    post = make_post(source="bluesky", post_id="at://did:plc:abc/app.bsky.feed.post/3k")
    assert post.doc_id == "bluesky:at://did:plc:abc/app.bsky.feed.post/3k"


def test_unknown_fields_are_ignored_for_forward_compatibility(make_post: PostFactory) -> None:
    data = json.loads(make_post().model_dump_json())
    data["field_from_the_future"] = {"x": 1}
    data["schema_version"] = "1.7"
    assert parse_raw_post(json.dumps(data)).text == data["text"]


def test_a_newer_major_schema_version_is_refused(make_post: PostFactory) -> None:
    data = json.loads(make_post().model_dump_json())
    data["schema_version"] = "2.0"
    with pytest.raises(ContractError, match="schema_version"):
        parse_raw_post(json.dumps(data))


def test_naive_timestamps_are_taken_as_utc(make_post: PostFactory) -> None:
    post = make_post(created_at=datetime(2026, 10, 1, 12, 0))
    assert post.created_at.tzinfo is UTC


def test_handles_lose_their_at_sign(make_post: PostFactory) -> None:
    assert make_post(handle="@jochem").author.handle == "jochem"


def test_contract_errors_name_the_field_on_one_line() -> None:
    bad = '{"source": "x", "post_id": "1", "text": "hoi", "created_at": "2026-10-01T00:00:00Z",'
    bad += ' "author": {"id": "1", "handle": "a", "followers": "veel"}}'
    with pytest.raises(ContractError) as info:
        parse_raw_post(bad)
    assert "author.followers" in str(info.value)
    assert "\n" not in str(info.value)


def test_invalid_json_is_a_contract_error() -> None:
    with pytest.raises(ContractError):
        parse_raw_post('{"source": "x", ')


@pytest.mark.parametrize("bad", [b"\xe9", b"\xff\xfe", b"\xed\xa0\x80", b"\xc0\xaf", b"\xe2\x82"])
def test_bytes_that_are_not_utf8_are_refused_never_replaced(
    make_post: PostFactory, bad: bytes
) -> None:
    data = make_post("caf?").model_dump_json().encode().replace(b"caf?", b"caf" + bad)
    with pytest.raises(ContractError, match=r"^not UTF-8 at byte \d+$"):
        parse_raw_post(data)


def test_a_dead_letter_keeps_bytes_that_are_not_utf8_exactly() -> None:
    assert raw_fields(b"caf\xc3\xa9") == ("café", None), "valid UTF-8: raw is already exact"
    text, raw_base64 = raw_fields(b"caf\xe9")
    assert text == "caf\ufffd" and raw_base64 is not None
    assert base64.b64decode(raw_base64) == b"caf\xe9"


def test_scored_post_doc_id_must_match_its_post(make_post: PostFactory) -> None:
    post = make_post()
    risk = Risk(score=10, priority=Priority.P4, reasons=[])
    with pytest.raises(ValidationError, match="does not match"):
        ScoredPost(doc_id="x:other", post=post, risk=risk, scored_at=post.created_at)


def test_priority_ranks_order_most_urgent_first() -> None:
    assert sorted(Priority, key=lambda p: p.rank) == [
        Priority.P1,
        Priority.P2,
        Priority.P3,
        Priority.P4,
    ]


def test_json_schema_is_exported_for_every_model_and_validates_instances(
    make_post: PostFactory,
) -> None:
    schemas = json_schemas()
    assert set(schemas) == {
        "RawPost",
        "ClassifiedPost",
        "ScoredPost",
        "Alert",
        "DeadLetter",
        "DeletedPost",
    }
    post = make_post()
    jsonschema.validate(json.loads(post.model_dump_json()), schemas["RawPost"])
    alert = Alert(
        alert_id="post:x:1:P1",
        kind=AlertKind.POST,
        created_at=post.created_at,
        priority=Priority.P1,
        title="t",
    )
    jsonschema.validate(json.loads(alert.model_dump_json()), schemas["Alert"])
    letter = DeadLetter(origin="f.jsonl", position="line 3", stage="validate", error="e", raw="{")
    jsonschema.validate(json.loads(letter.model_dump_json()), schemas["DeadLetter"])
    gone = DeletedPost(source="mastodon", post_id="1131")
    jsonschema.validate(json.loads(gone.model_dump_json()), schemas["DeletedPost"])
    assert schemas["RawPost"]["properties"]["schema_version"]["default"] == SCHEMA_VERSION
