"""Readiness of a stream process, and the port that reports it (/ready, /healthz, /metrics)."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from klachtradar.runtime.readiness import Readiness, process_started
from klachtradar.runtime.stream_metrics import StreamMetrics, serve_metrics


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_ready_only_once_every_condition_is_met_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ready = Readiness("process", ["model loaded", "partitions assigned"])
    with caplog.at_level(logging.INFO, logger="klachtradar.ready"):
        ready.mark("model loaded")
        ready.mark("model loaded")
        assert not ready.is_ready and ready.status()["waiting_for"] == ["partitions assigned"]
        ready.mark("partitions assigned")
        ready.mark("partitions assigned")
    assert ready.is_ready and ready.wait(0)
    assert [r.getMessage() for r in caplog.records] == ["ready"]
    status = ready.status()
    assert status["ready"] and set(status["met"]) == {"model loaded", "partitions assigned"}
    assert status["seconds"] == max(status["met"].values())


def test_an_unknown_condition_is_a_bug_not_a_silent_no_op() -> None:
    with pytest.raises(ValueError, match="unknown readiness condition"):
        Readiness("index", ["sinks opened"]).mark("sinks openned")


def test_process_start_is_taken_from_the_kernel_not_from_the_first_line_of_main() -> None:
    probe = (
        "import time; time.sleep(0.3)\n"
        "from klachtradar.runtime.readiness import process_started\n"
        "print(time.monotonic() - process_started())\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert 0.3 <= float(out.stdout) < 30
    assert process_started() <= time.monotonic()


def test_the_metrics_port_answers_ready_healthz_and_metrics_on_loopback() -> None:
    ready = Readiness("index", ["sinks opened"])
    port = _free_port()
    server = serve_metrics(StreamMetrics(), port, readiness=ready)
    assert server is not None
    try:
        assert server.server_address[0] == "127.0.0.1"
        with pytest.raises(urllib.error.HTTPError) as not_yet:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5)
        assert not_yet.value.code == 503
        assert json.loads(not_yet.value.read())["waiting_for"] == ["sinks opened"]
        ready.mark("sinks opened")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as answer:
            assert json.loads(answer.read())["ready"] is True
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            assert answer.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            assert b"klachtradar_messages_consumed" in answer.read()
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/admin", timeout=5)
        assert missing.value.code == 404
    finally:
        server.shutdown()
        server.server_close()
