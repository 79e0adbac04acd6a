"""Issue 23: a judge worker killed under ``process --judges 1`` is replaced, and no post
is lost or stored twice meanwhile.

Seen before: ``process`` carried on judging in-process for good (62 % throughput), with
no log line and no new worker.
"""

from __future__ import annotations

import os
import signal
import time
import urllib.request
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
    unique_prefix,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

__all__ = ["tansu"]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def judge_workers(owner: int) -> set[int]:
    """The owner's judge workers: ``multiprocessing`` descendants that are neither the
    forkserver nor the resource tracker. A forkserver child inherits the forkserver's
    command line, so a worker is told apart by its parent: the forkserver."""
    found = alive(descendants(owner))
    mp = {pid for pid in found if "multiprocessing" in _cmdline(pid)}
    servers = {pid for pid in mp if _parent(pid) == owner and "forkserver" in _cmdline(pid)}
    return {pid for pid in mp if _parent(pid) in servers}


def test_a_killed_judge_worker_is_replaced_and_posts_keep_flowing(
    tansu: LocalBroker, tmp_path: Path
) -> None:
    first_half, second_half = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    expected = generate_posts(first_half, 600)
    later = generate_posts(second_half, 1200)[600:]
    second_half.write_text(
        "".join(second_half.read_text(encoding="utf-8").splitlines(keepends=True)[600:]),
        encoding="utf-8",
    )
    kafka = kafka_settings(tansu, unique_prefix("judge"), batch_size=100)
    store = tmp_path / "store.db"
    procs = Processes(tmp_path, process_env(kafka, store))
    port = free_port()
    try:
        process = procs.start("process", "process", "--judges", "1", "--metrics-port", str(port))
        procs.start("index", "index")
        procs.wait_ready("process", "index")
        (worker,) = judge_workers(process.pid)

        listen = procs.start("listen", "listen", "--to", "kafka", "--file", str(first_half))
        assert listen.wait(timeout=60) == 0
        wait_for(lambda: len(stored_doc_ids(store)) >= 100, 60, "the flow under way")

        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 5
        replaced: set[int] = set()
        while time.monotonic() < deadline and not replaced:
            replaced = judge_workers(process.pid) - {worker}
            time.sleep(0.05)
        assert replaced, "no new judge worker within 5 s"

        listen = procs.start("listen-2", "listen", "--to", "kafka", "--file", str(second_half))
        assert listen.wait(timeout=60) == 0
        wait_for(lambda: len(stored_doc_ids(store)) >= 1200, 120, "every post stored")
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
        still_there = judge_workers(process.pid)
    finally:
        procs.stop_all()

    stored = stored_doc_ids(store)
    assert len(stored) == len(set(stored)) and set(stored) == set(expected) | set(later)
    events = [e.get("event") for e in procs.log("process")]
    assert "judge worker died, restarting" in events
    assert "klachtradar_judge_restarts_total 1.0" in metrics
    assert still_there == replaced, "the new worker judged the second half"
