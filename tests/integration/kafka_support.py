"""What the Kafka integration tests share: brokers, generated posts, CLI processes.

Brokers come from the ``dev`` extra (see :mod:`klachtradar.runtime.local_broker`); every test
uses its own topic prefix and groups on a shared broker, so tests do not see each
other's messages.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from klachtradar.runtime.local_broker import LocalBroker, start_broker
from klachtradar.settings import KafkaSettings

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "demo" / "stream.jsonl"


@pytest.fixture(scope="session")
def tansu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A tansu broker on a free port for the whole session."""
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    broker = start_broker("tansu", log_path=log)
    yield broker
    broker.stop()


def kafka_settings(broker: LocalBroker, prefix: str, **overrides: object) -> KafkaSettings:
    """Settings for one test: its own topics, the quirk-friendly group timeouts."""
    values: dict[str, object] = {
        "bootstrap_servers": broker.bootstrap,
        "topic_prefix": prefix,
        "partitions": 4,
        "session_timeout_ms": 6000,
        "heartbeat_interval_ms": 1000,
        "poll_timeout_s": 0.5,
        "retry_backoff_max_s": 2.0,
        "process_group": f"{prefix}-process",
        "index_group": f"{prefix}-index",
        "incidents_group": f"{prefix}-incidents",
    }
    values.update(overrides)
    return KafkaSettings.model_validate(values)


def unique_prefix(name: str) -> str:
    return f"t{name}{uuid.uuid4().hex[:8]}"


def generate_posts(path: Path, count: int, *, spacing_s: float = 1.0) -> list[str]:
    """``count`` valid posts from the demo stream with fresh post ids; returns their doc ids.

    ``created_at`` is spaced ``spacing_s`` apart, so a paced replay takes
    ``count * spacing_s / speed`` seconds.
    """
    from klachtradar.contract import parse_raw_post

    start = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
    templates = []
    for line in DEMO.read_bytes().splitlines():
        try:
            post = parse_raw_post(line)
        except Exception:  # the demo's deliberate bad lines
            continue
        templates.append(json.loads(post.model_dump_json(exclude={"received_at"})))
    doc_ids = []
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            record = dict(templates[i % len(templates)])
            record["post_id"] = f"gen-{i:06d}"
            record["created_at"] = (start + timedelta(seconds=i * spacing_s)).isoformat()
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            doc_ids.append(f"{record['source']}:{record['post_id']}")
    return doc_ids


@dataclass
class Processes:
    """``klachtradar`` subprocesses of one test; all stopped (SIGTERM) at the end."""

    tmp: Path
    env: dict[str, str]
    running: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "klachtradar", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.tmp,
        )
        self.running.append((name, proc))
        return proc

    def wait_ready(self, *names: str, timeout: float = 90.0) -> None:
        """Until each named process logged ``ready`` (model loaded, group joined).

        A process that exits first fails the test at once, with the tail of its log,
        instead of after the timeout.
        """
        procs = dict(self.running)
        deadline = time.monotonic() + timeout
        for name in names:
            while not any(e.get("event") == "ready" for e in self.log(name)):
                code = procs[name].poll()
                if code is not None:
                    tail = (self.tmp / f"{name}.log").read_text(errors="replace")[-2000:]
                    raise AssertionError(f"{name} exited {code} before it was ready:\n{tail}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"{name} not ready after {timeout} s")
                time.sleep(0.1)

    def log(self, name: str) -> list[dict[str, object]]:
        """The JSON log lines a process wrote."""
        path = self.tmp / f"{name}.log"
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def terminate(self, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
        """SIGTERM, then wait for the graceful exit; its return code."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=timeout)

    def stop_all(self) -> None:
        for _, proc in self.running:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _, proc in self.running:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def descendants(pid: int) -> set[int]:
    """Every living process below ``pid`` (children, grandchildren, …), from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    """The ones of ``pids`` that still run (zombies count as gone)."""
    running = set()
    for pid in pids:
        try:
            state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            running.add(pid)
    return running


def process_env(settings: KafkaSettings, store: Path, **extra: str) -> dict[str, str]:
    """Environment that points the CLI at the test's broker, topics and store."""
    env = dict(os.environ)
    env["KLACHTRADAR_HOME"] = str(ROOT)
    env["KLACHTRADAR_STORE__PATH"] = str(store)
    for key, value in settings.model_dump(exclude_none=True).items():
        env[f"KLACHTRADAR_KAFKA__{key.upper()}"] = str(value)
    env.update(extra)
    return env


def stored_doc_ids(store: Path) -> list[str]:
    """Every doc id in the embedded store (an empty list before the first write)."""
    if not store.exists():
        return []
    try:
        with sqlite3.connect(store, timeout=5) as db:
            return [row[0] for row in db.execute("SELECT doc_id FROM posts")]
    except sqlite3.OperationalError:  # schema not created yet
        return []


def wait_for(condition: Callable[[], bool], timeout: float, what: str, poll_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def topic_doc_ids(settings: KafkaSettings, topic: str, *, deletes: bool = False) -> list[str]:
    """The doc id of every message on a topic (raw or scored), duplicates included;
    ``deletes``: of the delete records only (``record: delete`` header)."""
    from kafka import KafkaConsumer, TopicPartition

    from klachtradar.runtime.kafka_transport import client_config
    from klachtradar.runtime.runner import DELETE_RECORD, RECORD_HEADER

    consumer = KafkaConsumer(**client_config(settings), enable_auto_commit=False)
    tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    doc_ids: list[str] = []
    idle = 0
    while idle < 4:
        batches = consumer.poll(timeout_ms=500)
        idle = 0 if batches else idle + 1
        for records in batches.values():
            for record in records:
                if deletes and (RECORD_HEADER, DELETE_RECORD.encode()) not in record.headers:
                    continue
                body = json.loads(record.value)
                doc_ids.append(body.get("doc_id") or f"{body['source']}:{body['post_id']}")
    consumer.close()
    return doc_ids


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


@dataclass
class TailRecord:
    """One message a :class:`TopicTail` read: where it was, its key and JSON value."""

    partition: int
    offset: int
    key: str | None
    value: dict[str, object]


class TopicTail:
    """Reads a topic from the start, outside any group, and keeps every message it saw.

    Call :meth:`poll` (or :meth:`until`) as often as needed: it reads on from where it
    was, so waiting on a condition over a topic does not re-read it each time.
    """

    def __init__(self, settings: KafkaSettings, topic: str) -> None:
        from kafka import KafkaConsumer, TopicPartition

        from klachtradar.runtime.kafka_transport import client_config

        self.consumer = KafkaConsumer(**client_config(settings), enable_auto_commit=False)
        tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
        self.consumer.assign(tps)
        self.consumer.seek_to_beginning(*tps)
        self.records: list[TailRecord] = []
        self.next_offset: dict[int, int] = {}

    def poll(self) -> list[TailRecord]:
        """Everything read so far (reading what arrived since the last call)."""
        for tp, batch in self.consumer.poll(timeout_ms=200, max_records=5_000).items():
            for r in batch:
                key = r.key.decode() if r.key is not None else None
                value = json.loads(r.value) if r.value else {}
                self.records.append(TailRecord(tp.partition, r.offset, key, value))
                self.next_offset[tp.partition] = r.offset + 1
        return self.records

    def until(
        self, condition: Callable[[list[TailRecord]], bool], timeout: float, what: str
    ) -> list[TailRecord]:
        """Read on until ``condition`` holds for everything read; the records."""
        wait_for(lambda: condition(self.poll()), timeout, what, poll_s=0.05)
        return self.records

    def close(self) -> None:
        self.consumer.close()


def committed_offsets(settings: KafkaSettings, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset per partition of ``topic`` (absent: none yet)."""
    from kafka import KafkaConsumer, TopicPartition

    from klachtradar.runtime.kafka_transport import client_config

    consumer = KafkaConsumer(**client_config(settings), group_id=group, enable_auto_commit=False)
    try:
        found = {}
        for p in range(settings.partitions):
            offset = consumer.committed(TopicPartition(topic, p))
            if offset is not None:
                found[p] = offset
        return found
    finally:
        consumer.close()


def assigned_partitions(procs: Processes, name: str, topic: str) -> list[int]:
    """The partitions of ``topic`` a process was last assigned (from its log)."""
    assigned = [
        e
        for e in procs.log(name)
        if e.get("event") == "partitions assigned" and e.get("topic") == topic
    ]
    return list(assigned[-1]["partitions"]) if assigned else []  # type: ignore[call-overload]
