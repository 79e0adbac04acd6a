"""What goes on the wire: trace ids, dead letters with origin and bytes, re-drive, config."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import pytest
from pydantic import SecretStr

from classify.base import Prediction
from classify.lexicon import LexiconClassifier
from klachtradar.contract import DeadLetter, ModelRef, RawPost
from klachtradar.errors import ConfigError, TransportError
from klachtradar.runtime.dlq import original_bytes, redrive_message
from klachtradar.runtime.jsonlog import JsonFormatter
from klachtradar.runtime.kafka_transport import client_config
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.runtime.runner import TRACE_HEADER, listen_step, process_step
from klachtradar.runtime.sources import open_source
from klachtradar.runtime.transport import InMemoryTransport, OutgoingMessage, Topics
from klachtradar.settings import KafkaSettings, load_settings
from listener.jsonl import read_jsonl

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo" / "stream.jsonl"
TOPICS = Topics("t")


class RaisesOnWord:
    def __init__(self, word: str) -> None:
        self.word = word
        self.inner = LexiconClassifier()

    @property
    def model_ref(self) -> ModelRef:
        return self.inner.model_ref

    def predict_proba(self, texts: Sequence[str]) -> list[Prediction]:
        if any(self.word in t for t in texts):
            raise ValueError("boom")
        return self.inner.predict_proba(texts)


def demo_posts(count: int) -> list[RawPost]:
    return [r for r in read_jsonl(DEMO) if isinstance(r, RawPost)][:count]


def test_scored_posts_and_their_alerts_carry_the_trace_id_of_the_raw_message() -> None:
    transport = InMemoryTransport()
    listen_step(demo_posts(200), transport, TOPICS)
    traces = {
        json.loads(m.value)["post_id"]: m.headers[TRACE_HEADER]
        for m in transport.messages(TOPICS.raw)
    }
    process_step(transport, Pipeline.from_settings(load_settings()), TOPICS, max_records=500)
    scored = transport.messages(TOPICS.scored)
    assert len(scored) == 200
    for message in scored:
        assert message.headers[TRACE_HEADER] == traces[json.loads(message.value)["post"]["post_id"]]
    post_alerts = [m for m in transport.messages(TOPICS.alerts) if m.headers["kind"] == "post"]
    assert post_alerts and all(m.headers.get(TRACE_HEADER) for m in post_alerts)


def test_a_stage_failure_dead_letter_points_at_the_consumed_message_and_its_bytes() -> None:
    transport = InMemoryTransport()
    good, bad = demo_posts(2)
    bad = bad.model_copy(update={"text": "dit is GIFTIG"})
    listen_step([good, bad], transport, TOPICS)
    original = transport.messages(TOPICS.raw)[1].value
    pipeline = Pipeline.from_settings(load_settings(), classifier=RaisesOnWord("GIFTIG"))
    process_step(transport, pipeline, TOPICS)
    (dlq,) = transport.messages(TOPICS.dlq)
    letter = DeadLetter.model_validate_json(dlq.value)
    assert (letter.origin, letter.position, letter.stage) == (TOPICS.raw, "1", "pipeline")
    assert letter.error == "ValueError: boom"
    assert letter.raw.encode() == original
    assert len(transport.messages(TOPICS.scored)) == 1


def test_undecodable_bytes_keep_their_exact_original_for_replay() -> None:
    transport = InMemoryTransport()
    value = b'{"text": "caf\xe9"}'
    transport.produce(TOPICS.raw, [OutgoingMessage(key=None, value=value)])
    process_step(transport, Pipeline.from_settings(load_settings()), TOPICS)
    letter = DeadLetter.model_validate_json(transport.messages(TOPICS.dlq)[0].value)
    assert letter.stage == "decode" and "not UTF-8" in letter.error
    assert letter.raw_base64 == base64.b64encode(value).decode()
    assert original_bytes(letter) == value


def test_a_redriven_letter_is_keyed_by_its_author_and_gets_a_new_trace() -> None:
    post = demo_posts(1)[0]
    letter = DeadLetter(
        origin="t.posts.raw",
        position="0/1",
        stage="pipeline",
        error="x",
        raw=post.model_dump_json(),
    )
    message = redrive_message(letter)
    assert message.key == post.author.id
    assert message.value == post.model_dump_json().encode()
    assert message.headers["replayed_from"] == "pipeline" and message.headers[TRACE_HEADER]


def test_scram_over_tls_settings_become_kafka_python_options() -> None:
    settings = KafkaSettings(
        bootstrap_servers="a:9093, b:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="klachtradar",
        sasl_password=SecretStr("geheim"),
        ssl_cafile=Path("/etc/ca.pem"),
    )
    config = client_config(settings)
    assert config["bootstrap_servers"] == ["a:9093", "b:9093"]
    assert config["security_protocol"] == "SASL_SSL"
    assert config["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (config["sasl_plain_username"], config["sasl_plain_password"]) == (
        "klachtradar",
        "geheim",
    )
    assert config["ssl_cafile"] == "/etc/ca.pem"


def test_sasl_without_a_user_is_a_clear_non_retryable_error() -> None:
    settings = KafkaSettings(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN")
    with pytest.raises(TransportError, match="sasl_username") as failure:
        client_config(settings)
    assert not failure.value.retryable


def test_kafka_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLACHTRADAR_KAFKA__BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("KLACHTRADAR_KAFKA__SASL_PASSWORD", "s3cret")
    monkeypatch.setenv("KLACHTRADAR_KAFKA__PARTITIONS", "12")
    kafka = load_settings().kafka
    assert kafka.bootstrap_servers == "k1:9092,k2:9092"
    assert kafka.partitions == 12
    assert kafka.sasl_password is not None and kafka.sasl_password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(kafka)


def test_sources_are_chosen_by_name_and_unknown_ones_are_refused() -> None:
    settings = load_settings()
    batches = list(open_source("jsonl", settings, {"file": str(DEMO)}))
    assert sum(len(b) for b in batches) == 1741
    with pytest.raises(ConfigError, match="available: jsonl"):
        open_source("carrier-pigeon", settings, {})
    with pytest.raises(ConfigError, match="needs a file"):
        open_source("jsonl", settings, {})


def test_log_records_are_one_json_object_with_their_fields() -> None:
    record = logging.LogRecord(
        "klachtradar.kafka", logging.INFO, __file__, 1, "committed", None, None
    )
    record.fields = {"topic": "t.posts.raw", "partitions": [0, 1]}
    entry = json.loads(JsonFormatter("process").format(record))
    assert entry["event"] == "committed" and entry["level"] == "info"
    assert entry["process"] == "process" and entry["partitions"] == [0, 1]


def test_sinks_are_chosen_by_name_and_unknown_ones_are_refused(tmp_path: Path) -> None:
    from klachtradar.runtime.post_sinks import open_sink

    sink = open_sink("embedded", load_settings(), {"store": str(tmp_path / "s.db")})
    sink.write_posts([])
    sink.close()
    assert (tmp_path / "s.db").exists()
    with pytest.raises(ConfigError, match="available: elasticsearch, embedded"):
        open_sink("punch-cards", load_settings(), {})
