"""Webhook intake: a real HTTP server on a free port, posted to with httpx."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import httpx
import pytest

from klachtradar.contract import DeadLetter, RawPost
from klachtradar.errors import SourceError
from listener.loop import ListenLoop
from listener.source import Record
from listener.webhook import WebhookOptions, WebhookSource

pytestmark = pytest.mark.integration

KEY = "s3cret-ingest-key"


def post_json(post_id: str, text: str = "KPN ligt er weer uit") -> dict[str, object]:
    return {
        "source": "crm",
        "post_id": post_id,
        "text": text,
        "created_at": "2026-11-23T09:00:00Z",
        "author": {"id": "klant-1", "handle": "klant1"},
    }


@pytest.fixture
def intake() -> Iterator[tuple[WebhookSource, list[Record], threading.Event]]:
    source = WebhookSource(WebhookOptions(port=0, api_key=KEY, idle_tick_s=0.02))
    records: list[Record] = []
    stop = threading.Event()

    def consume() -> None:
        for chunk in source.chunks(stop):
            records.extend(chunk)

    source.start()
    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    yield source, records, stop
    stop.set()
    thread.join(timeout=5)


def _wait_for(records: list[Record], n: int) -> None:
    for _ in range(200):
        if len(records) >= n:
            return
        threading.Event().wait(0.01)


def test_a_json_object_an_array_and_jsonl_are_all_accepted(
    intake: tuple[WebhookSource, list[Record], threading.Event],
) -> None:
    source, records, _ = intake
    headers = {"X-API-Key": KEY}
    one = httpx.post(source.url, json=post_json("1"), headers=headers)
    many = httpx.post(source.url, json=[post_json("2"), post_json("3")], headers=headers)
    lines = "\n".join(json.dumps(post_json(str(i))) for i in (4, 5)) + "\n"
    jsonl = httpx.post(
        source.url,
        content=lines,
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/x-ndjson"},
    )
    assert [r.status_code for r in (one, many, jsonl)] == [202, 202, 202]
    assert jsonl.json() == {"accepted": 2, "dead_letters": 0, "errors": []}
    _wait_for(records, 5)
    assert [r.post_id for r in records if isinstance(r, RawPost)] == ["1", "2", "3", "4", "5"]


def test_invalid_items_become_dead_letters_and_the_answer_says_why(
    intake: tuple[WebhookSource, list[Record], threading.Event],
) -> None:
    source, records, _ = intake
    bad = post_json("7")
    del bad["author"]
    response = httpx.post(source.url, json=[post_json("6"), bad], headers={"X-API-Key": KEY})
    assert response.status_code == 202
    assert response.json() == {
        "accepted": 1,
        "dead_letters": 1,
        "errors": ["item 2: author: Field required"],
    }
    _wait_for(records, 2)
    dead = [r for r in records if isinstance(r, DeadLetter)]
    assert dead[0].stage == "validate" and json.loads(dead[0].raw)["post_id"] == "7"


def test_a_wrong_api_key_is_refused_and_nothing_is_queued(
    intake: tuple[WebhookSource, list[Record], threading.Event],
) -> None:
    source, records, _ = intake
    response = httpx.post(source.url, json=post_json("8"), headers={"X-API-Key": "guess"})
    assert response.status_code == 401
    threading.Event().wait(0.1)
    assert records == []


def test_without_a_configured_api_key_the_intake_does_not_start() -> None:
    with pytest.raises(SourceError, match="no API key"):
        WebhookSource(WebhookOptions(port=0, api_key=None))


def test_posts_accepted_just_before_a_stop_are_still_published() -> None:
    source = WebhookSource(WebhookOptions(port=0, api_key=KEY, idle_tick_s=0.02))
    source.start()
    response = httpx.post(source.url, json=post_json("9"), headers={"X-API-Key": KEY})
    assert response.status_code == 202
    published: list[Record] = []
    stop = threading.Event()
    stop.set()  # SIGTERM arrives right after the 202
    ListenLoop(source, published.extend, None).run(stop)
    assert [r.post_id for r in published if isinstance(r, RawPost)] == ["9"]
