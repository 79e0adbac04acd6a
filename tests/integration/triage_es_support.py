"""Shared by the ES-backed triage tests: the demo indexed into a real ES-API server
(noida-db) through the real ES sink, and ``klachtradar serve --backend elasticsearch``
started on a free local port with an empty working copy."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

from klachtradar.contract import RawPost
from klachtradar.ports import PipelineOutput
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.settings import Settings, load_settings
from listener.jsonl import read_jsonl
from sink.es.outputs import ElasticsearchOutputs
from sink.es.templates import install
from tests.integration.browser_support import stop
from tests.integration.noida_es import free_port

ROOT = Path(__file__).resolve().parents[2]
YOUP = "jochemvandalen"
WINDOW_DAYS = 400  # the demo corpus is from autumn 2026: keep all of it in the window
_names = itertools.count()


def demo_output() -> PipelineOutput:
    """The shipped demo stream through the real pipeline (history in memory)."""
    settings = load_settings()
    settings.history.backend = "memory"
    posts = [r for r in read_jsonl(settings.resolve(settings.demo.file)) if isinstance(r, RawPost)]
    return Pipeline.from_settings(settings).process(posts)


def write(settings: Settings, client: Elasticsearch, output: PipelineOutput) -> None:
    """Posts and alerts through the real ES sink, searchable when it returns."""
    outputs = ElasticsearchOutputs.from_settings(settings, client)
    outputs.writer.refresh = "wait_for"
    outputs.write(output)


def indexed(es_url: str, client: Elasticsearch, output: PipelineOutput, work: Path) -> Settings:
    """Fresh index names, templates installed (``es setup``), ``output`` written."""
    n = next(_names)
    settings = load_settings()
    es = settings.elasticsearch
    es.url, es.posts_index, es.alerts_index = es_url, f"tri{n}-posts", f"tri{n}-alerts"
    settings.deadletter.path = work / "dead.jsonl"
    settings.triage.es_window_days = WINDOW_DAYS
    install(client, settings.root, es)
    write(settings, client, output)
    return settings


@contextmanager
def es_server(settings: Settings, es_url: str, work: Path) -> Iterator[dict[str, Any]]:
    """``klachtradar serve --backend elasticsearch`` reading ``es_url``; stopped afterwards."""
    port = free_port()
    es = settings.elasticsearch
    env = {
        **os.environ,
        "KLACHTRADAR_HOME": str(ROOT),
        "KLACHTRADAR_STORE__PATH": str(work / "copy.db"),
        "KLACHTRADAR_DEADLETTER__PATH": str(work / "dead.jsonl"),
        "KLACHTRADAR_ELASTICSEARCH__URL": es_url,
        "KLACHTRADAR_ELASTICSEARCH__POSTS_INDEX": es.posts_index,
        "KLACHTRADAR_ELASTICSEARCH__ALERTS_INDEX": es.alerts_index,
        "KLACHTRADAR_TRIAGE__ES_WINDOW_DAYS": str(WINDOW_DAYS),
        "KLACHTRADAR_TRIAGE__ES_POLL_S": "0.3",
    }
    assert not (work / "copy.db").exists()  # the working copy starts empty
    log_path = work / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "klachtradar", "serve", "--backend", "elasticsearch"),
                *("--host", "127.0.0.1", "--port", str(port)),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60  # readiness, not a pace: a cold start is slow
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                        break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(
                            f"server did not start: {log_path.read_text()}"
                        ) from None
                    time.sleep(0.1)
            yield {"url": url, "env": env, "work": work}
        finally:
            stop(process)
