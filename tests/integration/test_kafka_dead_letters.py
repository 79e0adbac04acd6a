"""Poison messages end in the DLQ with the reason while good ones flow; replay re-drives them."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from classify.base import Prediction
from classify.lexicon import LexiconClassifier
from klachtradar.contract import ModelRef, ScoredPost
from klachtradar.runtime.dlq import read_all, replay
from klachtradar.runtime.kafka_transport import KafkaTransport
from klachtradar.runtime.local_broker import LocalBroker
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.runtime.runner import TRACE_HEADER, listen_step, process_step
from klachtradar.runtime.transport import OutgoingMessage, Topics
from klachtradar.settings import load_settings
from listener.jsonl import read_jsonl
from tests.integration.kafka_support import (
    generate_posts,
    kafka_settings,
    process_env,
    tansu,
    unique_prefix,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

__all__ = ["tansu"]

POISON_WORD = "GIFTIG"


class ExplodingClassifier:
    """The lexicon classifier, except that it raises on any batch holding the poison word."""

    def __init__(self) -> None:
        self._inner = LexiconClassifier()

    @property
    def model_ref(self) -> ModelRef:
        return self._inner.model_ref

    def predict_proba(self, texts: Sequence[str]) -> list[Prediction]:
        if any(POISON_WORD in text for text in texts):
            raise RuntimeError("classifier exploded")
        return self._inner.predict_proba(texts)


def _drain(transport: KafkaTransport, pipeline: Pipeline, topics: Topics, group: str) -> int:
    """Process until the raw topic is quiet (a first group join takes a few seconds)."""
    handled, idle = 0, 0
    while idle < (4 if handled else 40):
        n = process_step(transport, pipeline, topics, group=group, max_records=200, timeout_s=0.5)
        handled += n
        idle = 0 if n else idle + 1
    return handled


def _scored(transport: KafkaTransport, group: str) -> list[ScoredPost]:
    out: list[ScoredPost] = []
    idle = 0
    while idle < (3 if out else 40):
        messages = transport.poll(transport.topics.scored, group, max_records=500, timeout_s=0.5)
        idle = 0 if messages else idle + 1
        out.extend(ScoredPost.model_validate_json(m.value) for m in messages)
        if messages:
            assert all(m.headers.get(TRACE_HEADER) for m in messages), "trace ids travel along"
    return out


def test_poison_messages_go_to_the_dlq_with_the_reason_while_good_posts_flow(
    tansu: LocalBroker, tmp_path: Path
) -> None:
    settings = load_settings()
    # One process, no other members: short sessions make tansu's join hold short too.
    kafka = kafka_settings(
        tansu, unique_prefix("dlq"), session_timeout_ms=3000, heartbeat_interval_ms=500
    )
    transport = KafkaTransport(kafka)
    topics = transport.topics
    transport.ensure_topics()

    posts_file = tmp_path / "good.jsonl"
    good_ids = generate_posts(posts_file, 300)
    good = [r for r in read_jsonl(posts_file)]
    poison_post = good[0].model_copy(update={"post_id": "poison-1", "text": f"{POISON_WORD} !"})
    listen_step([*good, poison_post], transport, topics)
    not_utf8 = b'{"text": "caf\xe9"}'
    transport.produce(
        topics.raw,
        [
            OutgoingMessage(key="x", value=b"{this is not json"),
            OutgoingMessage(key="x", value=json.dumps({"source": "x", "text": "hoi"}).encode()),
            OutgoingMessage(key="x", value=not_utf8),
        ],
    )
    transport.flush()

    pipeline = Pipeline.from_settings(settings, classifier=ExplodingClassifier())
    handled = _drain(transport, pipeline, topics, f"{kafka.topic_prefix}-process")
    assert handled == 300 + 1 + 3

    scored_ids = {p.doc_id for p in _scored(transport, "check")}
    assert scored_ids == set(good_ids), "every good post flowed, the poison one did not"

    letters = [s.letter for s in read_all(transport, idle_s=1.5)]
    assert len(letters) == 4
    by_stage: dict[str, list[str]] = {}
    for letter in letters:
        assert letter.origin == topics.raw
        partition, _, offset = letter.position.partition("/")
        assert partition.isdigit() and offset.isdigit(), "position is partition/offset"
        by_stage.setdefault(letter.stage, []).append(letter.error)
    assert sorted(by_stage) == ["decode", "pipeline"]
    decode_errors = " | ".join(by_stage["decode"])
    assert "Invalid JSON" in decode_errors
    assert "author: Field required" in decode_errors
    assert "not UTF-8" in decode_errors
    assert by_stage["pipeline"] == ["RuntimeError: classifier exploded"]

    undecodable = next(x for x in letters if "not UTF-8" in x.error)
    assert undecodable.raw_base64 is not None
    assert base64.b64decode(undecodable.raw_base64) == not_utf8, "original bytes kept"
    exploded = next(x for x in letters if x.stage == "pipeline")
    assert json.loads(exploded.raw)["post_id"] == "poison-1"

    listed = subprocess.run(
        [sys.executable, "-m", "klachtradar", "dlq", "list", "--json", "--idle", "1"],
        env=process_env(kafka, tmp_path / "unused.db"),
        capture_output=True,
        check=True,
        timeout=60,
    )
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert sorted(r["stage"] for r in rows) == ["decode", "decode", "decode", "pipeline"]
    assert all(r["dlq_position"] and r["failed_at"] for r in rows)

    # Cause fixed (a classifier that does not explode): replay re-drives the letters once.
    report = replay(transport, group=f"{kafka.topic_prefix}-replay", stages=["pipeline"])
    assert report.replayed == {topics.raw: 1}
    assert report.skipped == 3
    fixed = Pipeline.from_settings(settings)
    assert _drain(transport, fixed, topics, f"{kafka.topic_prefix}-process") == 1
    assert "x:poison-1" in {p.doc_id for p in _scored(transport, "check")}
    again = replay(transport, group=f"{kafka.topic_prefix}-replay", idle_s=1.0, join_s=1.0)
    assert again.replayed == {}, "a letter is replayed once per replay group"
    transport.close()
