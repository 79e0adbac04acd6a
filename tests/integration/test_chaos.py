"""Chaos runs, bounded: crashes, an Elasticsearch outage, poison input and overload.

Each scenario drives the real ``klachtradar`` processes over a real Kafka-protocol
broker (tansu) and acts on what it observes — a kill after so many stored posts, an
outage once posts are indexed — never on fixed sleeps, so a slow, loaded machine
makes a run longer, not flaky. Every wait has a generous deadline.
"""

from __future__ import annotations

import base64
import json
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from klachtradar.contract import DeadLetter
from klachtradar.dlq import read_all
from klachtradar.kafka_transport import KafkaTransport, client_config
from klachtradar.local_broker import LocalBroker, free_port
from klachtradar.settings import KafkaSettings
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

# Short sessions: a SIGKILLed member leaves the group after 3 s, not 6 s.
FAST_GROUPS: dict[str, object] = {"session_timeout_ms": 3000, "heartbeat_interval_ms": 500}


# -- helpers ---------------------------------------------------------------------------------


def replay(procs: Processes, name: str, posts: Path, count: int, seconds: float) -> Any:
    """``listen --to kafka --file posts`` paced so ``count`` posts (1 s apart) take ``seconds``."""
    speed = str(count / seconds)
    return procs.start(name, "listen", "--to", "kafka", "--file", str(posts), "--speed", speed)


def topic_values(settings: KafkaSettings, topic: str) -> list[dict[str, Any]]:
    """Every message on ``topic`` as JSON, duplicates included (read until 2 s of quiet)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**client_config(settings), enable_auto_commit=False)
    tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    values: list[dict[str, Any]] = []
    idle = 0
    while idle < 4:
        batches = consumer.poll(timeout_ms=500)
        idle = 0 if batches else idle + 1
        values.extend(json.loads(r.value) for records in batches.values() for r in records)
    consumer.close()
    return values


def dead_letters(settings: KafkaSettings) -> list[DeadLetter]:
    """Every letter on the test's DLQ topic."""
    transport = KafkaTransport(settings)
    try:
        return [stored.letter for stored in read_all(transport, idle_s=2.0)]
    finally:
        transport.close()


def events(procs: Processes, prefix: str, event: str) -> list[dict[str, object]]:
    """Log lines with ``event`` from every process whose name starts with ``prefix``."""
    names = sorted({name for name, _ in procs.running if name.startswith(prefix)})
    return [e for name in names for e in procs.log(name) if e.get("event") == event]


@dataclass
class Kill:
    """One SIGKILL: whom, when (stored posts, replay still running) and what it left."""

    role: str
    stored_before: int
    mid_replay: bool
    children: set[int] = field(default_factory=set)


def sigkill_and_reap(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> set[int]:
    """SIGKILL ``proc``, then wait until none of its descendants runs; returns them.

    The descendants are listed before the kill: afterwards they would be re-parented
    and no longer found under the dead pid.
    """
    children = descendants(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=timeout)
    wait_for(lambda: not alive(children), timeout, f"no orphan of pid {proc.pid}: {children}")
    return children


# -- 1. SIGKILL loop -------------------------------------------------------------------------

KILL_POSTS = 4_000
KILL_REPLAY_S = 30.0
KILL_BATCH = 100
KILL_PLAN: list[tuple[int, str]] = [
    (300, "process"),
    (800, "index"),
    (1_300, "process"),
    (1_900, "process"),
    (2_500, "index"),
    (3_100, "process"),
]
"""(stored posts, whom to kill): 4 × process, 2 × index, chosen by progress."""


def test_sigkilled_process_and_index_members_lose_nothing_duplicate_nothing_and_leave_no_orphans(
    tansu: LocalBroker, tmp_path: Path
) -> None:
    posts = tmp_path / "posts.jsonl"
    expected = generate_posts(posts, KILL_POSTS)
    settings = kafka_settings(tansu, unique_prefix("chaos"), batch_size=KILL_BATCH, **FAST_GROUPS)
    store = tmp_path / "store.db"
    procs = Processes(tmp_path, process_env(settings, store))
    starts = {"process": ("process", "--judges", "1"), "index": ("index",)}
    generation = {"process": 1, "index": 1}
    kills: list[Kill] = []
    try:
        current = {role: procs.start(f"{role}-1", *args) for role, args in starts.items()}
        procs.wait_ready("process-1", "index-1")
        listen = replay(procs, "listen", posts, KILL_POSTS, KILL_REPLAY_S)
        for threshold, role in KILL_PLAN:
            wait_for(
                lambda: len(stored_doc_ids(store)) >= threshold, 90, f"{threshold} stored posts"
            )
            kill = Kill(role, len(stored_doc_ids(store)), listen.poll() is None)
            kill.children = sigkill_and_reap(current[role])
            kills.append(kill)
            generation[role] += 1
            name = f"{role}-{generation[role]}"
            current[role] = procs.start(name, *starts[role])
            procs.wait_ready(name)
        assert listen.wait(timeout=90) == 0
        wait_for(lambda: len(stored_doc_ids(store)) >= KILL_POSTS, 120, "every post stored")
        exit_codes = [procs.terminate(p) for p in current.values()]
    finally:
        procs.stop_all()

    stored = stored_doc_ids(store)
    assert len(stored) == len(set(stored)) == KILL_POSTS, "each post stored once"
    assert set(stored) == set(expected)
    assert exit_codes == [0, 0], "the last generation stops gracefully"

    assert [k.role for k in kills].count("process") == 4
    assert all(k.stored_before < KILL_POSTS for k in kills), "every kill was mid-run"
    first = {role: next(k for k in kills if k.role == role) for role in starts}
    assert all(k.mid_replay for k in first.values()), "the first kills hit a running replay"
    for kill in kills:
        if kill.role == "process":
            assert len(kill.children) >= 1, "the judge worker ran (and is gone: checked)"

    scored = topic_doc_ids(settings, f"{settings.topic_prefix}.posts.scored")
    assert set(scored) == set(expected), "every post was scored"
    redone = len(scored) - len(set(scored))
    # Only uncommitted work is redone: per process kill, the batch in hand and the next.
    assert redone <= 4 * 2 * KILL_BATCH

    alert_ids: dict[str, set[str]] = defaultdict(set)
    for alert in topic_values(settings, f"{settings.topic_prefix}.alerts"):
        if alert["kind"] == "post":
            alert_ids[alert["doc_id"]].add(alert["alert_id"])
    assert alert_ids, "the run raised post alerts"
    assert set(alert_ids) <= set(expected)
    twice = {doc: ids for doc, ids in alert_ids.items() if len(ids) > 1}
    assert not twice, f"a redelivered post raised a second, different alert: {twice}"
