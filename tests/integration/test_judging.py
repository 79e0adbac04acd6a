"""Judging in worker processes gives exactly what judging in-process gives."""

from __future__ import annotations

import json
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from klachtradar.ports import PipelineOutput
from klachtradar.runtime.judging import Judgement, JudgePool
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.runtime.runner import run_embedded
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

        def submit(self, posts: Any, *, quota: int | None = None) -> Future[Judgement]:
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


def _raw_topic(posts: Path) -> tuple[Any, Any]:
    from klachtradar.contract import RawPost
    from klachtradar.runtime.runner import listen_step
    from klachtradar.runtime.transport import InMemoryTransport, Topics
    from listener.jsonl import read_jsonl

    transport, topics = InMemoryTransport(), Topics("t")
    listen_step([r for r in read_jsonl(posts) if isinstance(r, RawPost)], transport, topics)
    return transport, topics


def _scored(transport: Any, topics: Any) -> dict[str, tuple[Any, ...]]:
    from klachtradar.contract import ScoredPost

    out: dict[str, tuple[Any, ...]] = {}
    for message in transport.messages(topics.scored):
        post = ScoredPost.model_validate_json(message.value)
        label = post.classification.intent if post.classification else None
        out[post.doc_id] = (post.lang, label, post.risk.score, post.risk.priority)
    return out


def test_look_ahead_process_step_scores_like_process_step_and_commits_everything(
    tmp_path: Path,
) -> None:
    from klachtradar.runtime.runner import LookaheadProcessStep, process_step

    path = demo_slice(tmp_path, 700)
    plain, topics = _raw_topic(path)
    pipeline = Pipeline.from_settings(fresh_settings(tmp_path, "plain"))
    while process_step(plain, pipeline, topics, max_records=100, timeout_s=0):
        pass

    ahead, _ = _raw_topic(path)
    settings = fresh_settings(tmp_path, "ahead")
    with JudgePool(settings, processes=1) as judges:
        step = LookaheadProcessStep(
            ahead, Pipeline.from_settings(settings), topics, judges, max_records=100, timeout_s=0
        )
        handled = [step() for _ in range(20)]
        handled.append(step.drain())
    assert handled[0] == 0, "the first call only polls ahead"
    assert sum(handled) == len(plain.messages(topics.raw)) > 600
    assert ahead.lag(topics.raw, "klachtradar-process") == 0
    assert _scored(ahead, topics) == _scored(plain, topics)
    assert len(ahead.messages(topics.alerts)) == len(plain.messages(topics.alerts))


def test_look_ahead_drops_the_batch_in_hand_on_a_failure_and_the_rewind_redoes_it(
    tmp_path: Path,
) -> None:
    from klachtradar.contract import RawPost
    from klachtradar.errors import TransportError
    from klachtradar.runtime.runner import LookaheadProcessStep

    path = demo_slice(tmp_path, 500)
    transport, topics = _raw_topic(path)
    expected = {RawPost.model_validate_json(m.value).doc_id for m in transport.messages(topics.raw)}
    real_flush = transport.flush
    calls = {"flush": 0}

    def failing_flush() -> None:
        calls["flush"] += 1
        if calls["flush"] == 2:
            raise TransportError("broker gone", retryable=True)
        real_flush()

    transport.flush = failing_flush  # type: ignore[method-assign]
    settings = fresh_settings(tmp_path, "fail")
    with JudgePool(settings, processes=1) as judges:
        step = LookaheadProcessStep(
            transport, Pipeline.from_settings(settings), topics, judges, max_records=100
        )
        failures = 0
        for _ in range(20):
            try:
                step()
            except TransportError:
                failures += 1
                transport.rewind(topics.raw, "klachtradar-process")
        step.drain()
    assert failures == 1
    assert transport.lag(topics.raw, "klachtradar-process") == 0
    assert set(_scored(transport, topics)) == expected  # the dropped batches were redone
    assert len(transport.messages(topics.scored)) > len(expected)  # as redeliveries


def test_look_ahead_with_a_broken_pool_judges_in_process(tmp_path: Path) -> None:
    from klachtradar.runtime.runner import LookaheadProcessStep

    class BrokenPool:
        processes = 1

        def submit(self, posts: Any, *, quota: int | None = None) -> Future[Judgement]:
            raise RuntimeError("pool is broken")

    path = demo_slice(tmp_path, 300)
    transport, topics = _raw_topic(path)
    pipeline = Pipeline.from_settings(fresh_settings(tmp_path, "broken-pool"))
    step = LookaheadProcessStep(transport, pipeline, topics, BrokenPool(), max_records=100)  # type: ignore[arg-type]
    total = sum(step() for _ in range(6)) + step.drain()
    assert total == len(transport.messages(topics.raw))
    assert len(_scored(transport, topics)) == total - len(transport.messages(topics.dlq))


def test_a_workers_brand_mentions_are_used_only_under_the_same_watchlist(
    tmp_path: Path, make_post: PostFactory
) -> None:
    pipeline = Pipeline.from_settings(fresh_settings(tmp_path, "brands"))
    version = pipeline.matcher.version
    found = [[("KPN", "@KPN", "handle")], []]

    def judged(watchlist: str) -> Judgement:
        return Judgement(
            ["nl", "nl"], [None, None], pipeline.classifier.model_ref, found, watchlist
        )

    same = pipeline._brands_found(judged(version))
    assert same is not None and [[m.brand for m in post] for post in same] == [["KPN"], []]
    assert pipeline._brands_found(judged("another watchlist")) is None
    assert pipeline._brands_found(None) is None

    # Through the pipeline: a worker's stale verdict on brands is never used.
    post = make_post("@KPN al drie dagen geen internet")
    stale = Judgement(["nl"], [None], pipeline.classifier.model_ref, [[]], "another watchlist")
    [scored] = pipeline.process([post], judged=stale).scored
    assert [m.brand for m in scored.brands] == ["KPN"]


def test_a_worker_splits_a_batch_between_the_two_models(
    tmp_path: Path, make_post: PostFactory
) -> None:
    """The overload cascade's split in a real judge worker: linear serves, the lexicon is
    the fast model; with a quota of 1 the worker's linear model judges the likeliest
    complaint, the lexicon the rest, and the verdicts say so post by post."""
    settings = fresh_settings(tmp_path, "split")
    settings.classify.fallback_model = "lexicon"
    posts = [
        make_post("mooi weer vandaag in utrecht"),
        make_post("@KPN al 3 dagen geen internet, belachelijk slecht!! ik zeg op"),
        make_post("@KPN tot hoe laat is de winkel open?"),
    ]
    with JudgePool(settings, processes=1) as judges:
        judged = judges.submit(posts, quota=1).result(timeout=120)
        everyone = judges.submit(posts).result(timeout=120)
    assert judged.model.name == "linear" and judged.primary_posts == 1
    assert judged.fast == (0, 2)
    assert judged.fast_model is not None and judged.fast_model.name == "lexicon"
    assert everyone.fast == () and everyone.primary_posts == 3
    pipeline = Pipeline.from_settings(settings)
    scored = {p.post.post_id: p for p in pipeline.process(posts, judged=judged).scored}
    verdicts = [
        (c.model.name, c.fallback)
        for p in posts
        if (c := scored[p.post_id].classification) is not None
    ]
    assert verdicts == [("lexicon", True), ("linear", False), ("lexicon", True)]
