"""Issue 23: a 2 MiB post in a file is one dead letter; every other post goes on, once.

Seen before: the producer's ``MessageSizeTooLargeError`` was retried for good, each
retry re-sent the batch's earlier records, and the rest of the file never arrived.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from klachtradar.contract import DeadLetter
from klachtradar.runtime.dlq import read_all
from klachtradar.runtime.kafka_transport import KafkaTransport
from klachtradar.runtime.local_broker import LocalBroker
from klachtradar.runtime.transport import Topics
from klachtradar.settings import KafkaSettings
from tests.integration.kafka_support import (
    ROOT,
    Processes,
    generate_posts,
    kafka_settings,
    process_env,
    stored_doc_ids,
    tansu,
    topic_doc_ids,
    unique_prefix,
)

pytestmark = [pytest.mark.integration]

__all__ = ["tansu"]

TWO_MIB = 2 * 1024 * 1024


def file_with_a_huge_post(path: Path, count: int) -> list[str]:
    """``count`` ordinary posts with one valid 2 MiB post in the middle; their doc ids."""
    doc_ids = generate_posts(path, count)
    lines = path.read_text(encoding="utf-8").splitlines()
    huge = json.loads(lines[0])
    huge["post_id"] = "huge-0001"
    huge["text"] = "storing bij Ziggo " + "x" * TWO_MIB
    lines.insert(count // 2, json.dumps(huge, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return doc_ids


def only_letter(letters: list[DeadLetter]) -> DeadLetter:
    assert len(letters) == 1, [letter.error[:80] for letter in letters]
    letter = letters[0]
    assert letter.error.startswith("post too large: ")
    assert letter.truncated and letter.raw_size is not None and letter.raw_size > TWO_MIB
    return letter


def test_replay_stores_every_other_post_once_and_dead_letters_the_huge_one(
    tmp_path: Path,
) -> None:
    posts = tmp_path / "posts.jsonl"
    expected = file_with_a_huge_post(posts, 300)
    store, dead = tmp_path / "store.db", tmp_path / "dlq.jsonl"
    env = {
        **process_env(KafkaSettings(), store),
        "KLACHTRADAR_DEADLETTER__PATH": str(dead),
    }
    done = subprocess.run(
        [sys.executable, "-m", "klachtradar", "replay", str(posts), "--fast", "--quiet"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    stored = stored_doc_ids(store)
    assert sorted(stored) == sorted(expected)
    letters = [DeadLetter.model_validate_json(line) for line in dead.read_text().splitlines()]
    assert only_letter(letters).position == f"line {300 // 2 + 1}"


@pytest.mark.slow
def test_listen_to_kafka_publishes_every_other_post_once_and_dead_letters_the_huge_one(
    tansu: LocalBroker, tmp_path: Path
) -> None:
    posts = tmp_path / "posts.jsonl"
    expected = file_with_a_huge_post(posts, 400)
    kafka = kafka_settings(tansu, unique_prefix("huge"))
    topics = Topics(kafka.topic_prefix)
    procs = Processes(tmp_path, process_env(kafka, tmp_path / "unused.db"))
    try:
        listen = procs.start(
            "listen", "listen", "--to", "kafka", "--source", "jsonl", "--file", str(posts)
        )
        assert listen.wait(timeout=90) == 0, (tmp_path / "listen.log").read_text()[-2000:]
    finally:
        procs.stop_all()
    raw = topic_doc_ids(kafka, topics.raw)
    assert sorted(raw) == sorted(expected), "every other post published exactly once"
    letters = [s.letter for s in read_all(KafkaTransport(kafka), idle_s=1.5)]
    assert only_letter(letters).origin == str(posts)
    retries = [e for e in procs.log("listen") if e.get("event") == "batch failed, retrying"]
    assert retries == []
