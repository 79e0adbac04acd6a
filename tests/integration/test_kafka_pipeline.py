"""listen → process (×2, one group) → index over a real Kafka-protocol broker (tansu)."""

from __future__ import annotations

import json
import signal
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from klachtradar.runtime.local_broker import LocalBroker, free_port
from tests.integration.kafka_support import (
    Processes,
    alive,
    descendants,
    generate_posts,
    kafka_settings,
    process_env,
    stored_doc_ids,
    tansu,
    topic_doc_ids,
    unique_prefix,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

__all__ = ["tansu"]  # the fixture, re-exported for pytest


def test_ten_thousand_posts_flow_through_two_process_consumers_without_loss_or_duplicates(
    tansu: LocalBroker, tmp_path: Path
) -> None:
    posts = tmp_path / "posts.jsonl"
    expected = generate_posts(posts, 10_000)
    settings = kafka_settings(tansu, unique_prefix("flow"), batch_size=500)
    store = tmp_path / "store.db"
    procs = Processes(tmp_path, process_env(settings, store))
    metrics_port = free_port()
    try:
        first = procs.start("process-1", "process", "--metrics-port", str(metrics_port))
        second = procs.start("process-2", "process")
        index = procs.start("index", "index")
        procs.wait_ready("process-1", "process-2", "index")
        ready = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/ready").read()
        assert json.loads(ready)["met"].keys() >= {"model loaded", "partitions assigned"}
        listen = procs.start(
            "listen", "listen", "--to", "kafka", "--source", "jsonl", "--file", str(posts)
        )
        assert listen.wait(timeout=60) == 0

        wait_for(lambda: len(stored_doc_ids(store)) >= 10_000, 90, "10,000 stored posts")
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics").read()
        exit_codes = [procs.terminate(p) for p in (first, second, index)]
    finally:
        procs.stop_all()

    stored = stored_doc_ids(store)
    assert len(stored) == len(set(stored)) == 10_000
    assert set(stored) == set(expected)
    assert exit_codes == [0, 0, 0], "SIGTERM is a graceful stop"

    handled = {name: _messages_handled(procs, name) for name in ("process-1", "process-2")}
    assert all(count > 0 for count in handled.values()), f"both members got work: {handled}"
    assert sum(handled.values()) >= 10_000

    text = metrics.decode()
    assert 'klachtradar_messages_consumed_total{group="' in text
    assert "klachtradar_consumer_lag" in text
    assert "klachtradar_batch_seconds_bucket" in text


def _messages_handled(procs: Processes, name: str) -> int:
    stopped = [e for e in procs.log(name) if e.get("event") == "process stopped"]
    assert stopped, f"{name} logged no graceful stop"
    return int(str(stopped[-1]["messages"]))


@pytest.mark.parametrize("judges", ["0", "1"], ids=["in-process", "look-ahead-worker"])
def test_a_process_killed_mid_batch_is_redone_by_its_successor_and_ids_absorb_redelivery(
    tansu: LocalBroker, tmp_path: Path, judges: str
) -> None:
    posts = tmp_path / "posts.jsonl"
    expected = generate_posts(posts, 3_000)
    batch = 100
    settings = kafka_settings(tansu, unique_prefix("kill"), batch_size=batch)
    store = tmp_path / "store.db"
    procs = Processes(tmp_path, process_env(settings, store))
    try:
        procs.start("index", "index")
        assert (
            procs.start("listen", "listen", "--to", "kafka", "--file", str(posts)).wait(timeout=60)
            == 0
        )
        victim = procs.start("process-1", "process", "--judges", judges)
        wait_for(lambda: len(stored_doc_ids(store)) >= 300, 60, "the first stored posts")
        children = descendants(victim.pid)
        assert len(children) >= (2 if judges == "1" else 0), "the judge worker runs"
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        killed_at = len(stored_doc_ids(store))
        wait_for(lambda: not alive(children), 10, f"no orphan of the killed process {children}")
        procs.start("process-2", "process", "--judges", judges)
        wait_for(lambda: len(stored_doc_ids(store)) >= 3_000, 90, "all 3,000 stored posts")
    finally:
        procs.stop_all()

    stored = stored_doc_ids(store)
    assert killed_at < 3_000, "the kill happened mid-run"
    assert len(stored) == len(set(stored)) == 3_000
    assert set(stored) == set(expected)

    scored = topic_doc_ids(settings, f"{settings.topic_prefix}.posts.scored")
    copies = Counter(scored)
    assert set(copies) == set(expected), "every post was scored"
    redelivered = sum(n - 1 for n in copies.values())
    # Only uncommitted work is redone: at most the batch in hand and the one polled ahead.
    assert redelivered <= 2 * batch
