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
from klachtradar.runtime.dlq import SkipReason, original_bytes, read_all, replay
from klachtradar.runtime.kafka_transport import KafkaTransport
from klachtradar.runtime.local_broker import LocalBroker
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.runtime.runner import TRACE_HEADER, listen_step, process_step
from klachtradar.runtime.transport import Message, OutgoingMessage, Topics
from klachtradar.settings import KafkaSettings, load_settings
from listener.jsonl import read_jsonl
from tests.integration.kafka_support import (
    Processes,
    generate_posts,
    kafka_settings,
    process_env,
    tansu,
    topic_doc_ids,
    unique_prefix,
    wait_for,
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
    assert report.skipped == {SkipReason.STAGE: 3}
    assert report.complete
    fixed = Pipeline.from_settings(settings)
    assert _drain(transport, fixed, topics, f"{kafka.topic_prefix}-process") == 1
    assert "x:poison-1" in {p.doc_id for p in _scored(transport, "check")}
    again = replay(transport, group=f"{kafka.topic_prefix}-replay", idle_s=1.0, join_s=1.0)
    assert again.replayed == {}, "a letter is replayed once per replay group"
    transport.close()


BAD_UTF8 = 20
BAD_CONTRACT = 180


def _poison_file(path: Path, good: Path) -> list[bytes]:
    """Good posts with 200 poison lines between them; returns the lines that are not UTF-8.

    The non-UTF-8 lines are complete posts but for one byte, so decoding them with
    replacement (the old bug) would make them documents.
    """
    template = json.loads(good.read_text(encoding="utf-8").splitlines()[0])
    not_utf8 = []
    for i in range(BAD_UTF8):
        post = {**template, "post_id": f"bad-utf8-{i}", "text": f"caf@ {i}"}
        not_utf8.append(json.dumps(post).encode().replace(b"caf@", b"caf\xe9"))
    contract = [
        f'{{"not json {i}'.encode() if i % 2 else json.dumps({"source": "x", "n": i}).encode()
        for i in range(BAD_CONTRACT)
    ]
    lines = good.read_bytes().splitlines()
    poison = not_utf8 + contract
    mixed = [line for pair in zip(lines, poison, strict=False) for line in pair]
    mixed += lines[len(poison) :] + poison[len(lines) :]
    path.write_bytes(b"\n".join(mixed) + b"\n")
    return not_utf8


def _size(settings: KafkaSettings, topic: str) -> int:
    """Messages on a topic now (end offsets as a fetch reports them: tansu lists them low)."""
    from kafka import KafkaConsumer, TopicPartition

    from klachtradar.runtime.dlq import end_offsets
    from klachtradar.runtime.kafka_transport import client_config

    consumer = KafkaConsumer(**client_config(settings), fetch_max_wait_ms=100)
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
        consumer.assign(tps)
        return sum(end_offsets(consumer, tps, dict.fromkeys(tps, 0), timeout_s=10).values())
    finally:
        consumer.close()


class WaitsForProcess(KafkaTransport):
    """A replay's transport that, after its first batch of re-drives, waits for ``process``.

    Once that batch is committed, it waits (on the DLQ growing, with a deadline) until
    the running ``process`` has failed the re-driven lines again, so the rest of the
    pass certainly runs while its own letters are coming back to the DLQ.
    """

    def __init__(self, settings: KafkaSettings) -> None:
        super().__init__(settings)
        self.redriven = False
        self.came_back_during_pass = False
        self._dlq_at_start = _size(settings, self.topics.dlq)

    def produce(self, topic: str, messages: Sequence[OutgoingMessage]) -> None:
        self.redriven = self.redriven or (topic == self.topics.raw and bool(messages))
        super().produce(topic, messages)

    def commit(self, topic: str, group: str, messages: Sequence[Message]) -> None:
        super().commit(topic, group, messages)
        if self.redriven and not self.came_back_during_pass:
            wait_for(
                lambda: _size(self.settings, self.topics.dlq) > self._dlq_at_start,
                60,
                "process to dead-letter re-driven lines again during the pass",
            )
            self.came_back_during_pass = True


def _dlq_replay(env: dict[str, str]) -> list[str]:
    """``klachtradar dlq replay`` to its end (a pass that never ends fails the timeout)."""
    done = subprocess.run(
        [sys.executable, "-m", "klachtradar", "dlq", "replay"],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done.stdout.decode().splitlines()


def test_a_replay_of_permanently_bad_letters_is_one_pass_while_process_fails_them_again(
    tansu: LocalBroker, tmp_path: Path
) -> None:
    kafka = kafka_settings(
        tansu, unique_prefix("dlqpass"), session_timeout_ms=3000, heartbeat_interval_ms=500
    )
    topics = Topics(kafka.topic_prefix)
    good = tmp_path / "good.jsonl"
    good_ids = generate_posts(good, 100)
    posts = tmp_path / "posts.jsonl"
    not_utf8 = _poison_file(posts, good)
    env = process_env(kafka, tmp_path / "unused.db")
    procs = Processes(tmp_path, env)
    try:
        procs.start("process", "process")
        listen = procs.start(
            "listen", "listen", "--to", "kafka", "--source", "jsonl", "--file", str(posts)
        )
        assert listen.wait(timeout=60) == 0
        wait_for(lambda: len(set(topic_doc_ids(kafka, topics.scored))) == 100, 90, "100 scored")
        assert _size(kafka, topics.dlq) == BAD_UTF8 + BAD_CONTRACT

        # Small batches: many produce → flush → commit rounds, most after letters came back.
        replaying = WaitsForProcess(kafka.model_copy(update={"batch_size": 10}))
        try:
            first = replay(replaying, group=f"{kafka.topic_prefix}-dlq-replay", join_s=30)
        finally:
            replaying.close()
        assert replaying.came_back_during_pass
        # process fails every re-driven line again: each comes back exactly once.
        wait_for(
            lambda: _size(kafka, topics.dlq) == BAD_UTF8 + 2 * BAD_CONTRACT,
            60,
            "every re-driven line dead-lettered again",
        )
        second = _dlq_replay(env)
        raw_after_second = _size(kafka, topics.raw)
        letters = [s.letter for s in read_all(KafkaTransport(kafka), idle_s=1.5)]
    finally:
        procs.stop_all()

    assert first.complete, "the pass reached the end offsets it started with"
    assert first.lines() == [
        f"replayed {BAD_CONTRACT} → {topics.raw}",
        f"skipped {BAD_UTF8}",
        f"  {BAD_UTF8} invalid bytes",
    ], "none of the letters that came back during the pass was read by it"
    assert second == [
        "replayed 0",
        f"skipped {BAD_CONTRACT}",
        f"  {BAD_CONTRACT} max attempts reached",
    ]
    assert raw_after_second == 100 + BAD_CONTRACT, "the second replay re-drove nothing"

    assert len(letters) == BAD_UTF8 + 2 * BAD_CONTRACT <= 2 * (BAD_UTF8 + BAD_CONTRACT)
    again = [x for x in letters if x.attempts == 2]
    assert len(again) == BAD_CONTRACT
    assert all(x.origin == topics.raw and x.stage == "decode" for x in again)

    utf8_letters = [x for x in letters if x.error.startswith("not UTF-8")]
    assert sorted(original_bytes(x) for x in utf8_letters) == sorted(not_utf8), "exact bytes"
    assert all(x.raw_base64 is not None and x.attempts == 1 for x in utf8_letters)
    scored = set(topic_doc_ids(kafka, topics.scored))
    assert scored == set(good_ids), "no line that is not UTF-8 became a document"
