"""Judging in worker processes gives exactly what judging in-process gives."""

from __future__ import annotations

import json
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from klachtradar.judging import Judgement, JudgePool
from klachtradar.pipeline import Pipeline, PipelineOutput
from klachtradar.runner import run_embedded
from klachtradar.settings import Settings, load_settings
from listener.jsonl import JsonlReplay
from tests.conftest import DEMO_FILE, PostFactory

pytestmark = pytest.mark.integration


class Collect:
    def __init__(self) -> None:
        self.outputs: list[PipelineOutput] = []

    def write(self, output: PipelineOutput) -> None:
        self.outputs.append(output)

    def verdicts(self) -> dict[str, tuple[Any, ...]]:
        return {
            post.doc_id: (
                post.lang,
                post.classification.intent if post.classification else None,
                post.classification.sentiment if post.classification else None,
                post.risk.score,
                post.risk.priority,
                tuple(post.risk.reasons),
            )
            for output in self.outputs
            for post in output.scored
        }

    def alerts(self) -> list[str]:
        return [a.alert_id for o in self.outputs for a in o.alerts]


def demo_slice(tmp_path: Path, n: int) -> Path:
    lines = DEMO_FILE.read_bytes().splitlines()[:n]
    path = tmp_path / "slice.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def fresh_settings(tmp_path: Path, name: str) -> Settings:
    settings = load_settings()
    settings.store.path = tmp_path / f"{name}.db"  # independent author histories
    return settings


def test_worker_judging_matches_in_process_judging(tmp_path: Path) -> None:
    path = demo_slice(tmp_path, 900)
    alone, helped = Collect(), Collect()
    run_embedded(
        JsonlReplay(path, batch_size=100).batches(),
        Pipeline.from_settings(fresh_settings(tmp_path, "alone")),
        alone,
    )
    settings = fresh_settings(tmp_path, "helped")
    with JudgePool(settings, processes=1) as judges:
        stats = run_embedded(
            JsonlReplay(path, batch_size=100).batches(),
            Pipeline.from_settings(settings),
            helped,
            judges=judges,
        )
    assert stats.posts > 850
    assert helped.verdicts() == alone.verdicts()
    assert helped.alerts() == alone.alerts()


def test_a_failed_worker_batch_is_judged_in_process_with_poison_isolation(
    tmp_path: Path, make_post: PostFactory
) -> None:
    class BrokenPool:
        processes = 1

        def submit(self, posts: Any) -> Future[Judgement]:
            future: Future[Judgement] = Future()
            future.set_exception(RuntimeError("worker died"))
            return future

    pipeline = Pipeline.from_settings(fresh_settings(tmp_path, "broken"))
    real = pipeline.classifier

    class Exploding:
        model_ref = real.model_ref

        def predict_proba(self, texts: Any) -> Any:
            if any("BOEM" in t for t in texts):
                raise RuntimeError("model crashed")
            return real.predict_proba(texts)

    pipeline.classifier = Exploding()
    sink = Collect()
    batch = [make_post("@KPN storing"), make_post("BOEM @KPN"), make_post("@NS vertraging")]
    stats = run_embedded([batch], pipeline, sink, judges=BrokenPool())  # type: ignore[arg-type]
    assert stats.posts == 2 and stats.dead_letters == 1
    assert "model crashed" in sink.outputs[0].dead_letters[0].error


def test_replay_fast_of_a_file_large_enough_for_workers_loses_nothing(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    posts = []
    for line in DEMO_FILE.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "text" in record and "created_at" in record:
            posts.append(record)
    path = tmp_path / "big.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for copy in range(4):
            for post in posts:
                out.write(json.dumps({**post, "post_id": f"{post['post_id']}-{copy}"}) + "\n")
    from klachtradar.contract import RawPost
    from listener.jsonl import read_jsonl

    expected = sum(isinstance(r, RawPost) for r in read_jsonl(path))
    assert expected >= 20 * 256  # large enough for the worker path
    env = {**os.environ, "KLACHTRADAR_STORE__PATH": str(tmp_path / "s.db"), "COLUMNS": "120"}
    done = subprocess.run(
        [sys.executable, "-m", "klachtradar", "replay", str(path), "--fast", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    from sink.store import EmbeddedStore

    with EmbeddedStore(tmp_path / "s.db") as store:
        assert store.count() == expected
