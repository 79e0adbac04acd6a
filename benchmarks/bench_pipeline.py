"""Embedded pipeline throughput: JSONL replay → classify → enrich → SQLite store.

Reports posts/s of the full embedded path and, as the baseline measured in the same
process on the same file, bare JSONL parsing (``json.loads`` per line), plus the
ratio between them. The demo file is repeated (with fresh post ids) to get a stable
measurement.

    python benchmarks/bench_pipeline.py [--copies 6] [--classifier lexicon]

Target (issue 3): ≥ 5,000 posts/s with the lexicon classifier on a 2-core machine.
``--processes N`` judges (language + classification) in N worker processes, as
``klachtradar replay --fast`` does; both modes are reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from klachtradar.runtime.gc_policy import streaming_gc
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.runtime.runner import run_embedded
from klachtradar.settings import load_settings
from listener.jsonl import JsonlReplay
from sink.deadletter import DeadLetterFile
from sink.embedded import EmbeddedOutputs
from sink.store import EmbeddedStore


def build_input(source: Path, copies: int, out: Path) -> int:
    """Repeat the valid posts of ``source`` ``copies`` times with unique post ids."""
    lines = []
    for raw in source.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            post = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if isinstance(post, dict) and "text" in post and "created_at" in post:
            lines.append(post)
    n = 0
    with out.open("w", encoding="utf-8") as handle:
        for copy in range(copies):
            for post in lines:
                handle.write(
                    json.dumps(
                        {**post, "post_id": f"{post.get('post_id')}-{copy}"}, ensure_ascii=False
                    )
                    + "\n"
                )
                n += 1
    return n


def bare_parse(path: Path) -> float:
    with streaming_gc():  # the same collector settings as the pipeline runs get
        started = time.perf_counter()
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                json.loads(line)
        return time.perf_counter() - started


def embedded(path: Path, classifier: str, workdir: Path, run: int, processes: int) -> float:
    """One timed run; models and worker processes are loaded before the clock starts."""
    from klachtradar.runtime.judging import JudgePool

    settings = load_settings()
    settings.pipeline.classifier = classifier
    settings.store.path = workdir / f"bench-{run}.db"
    pipeline = Pipeline.from_settings(settings)
    store = EmbeddedStore(settings.store.path)
    outputs = EmbeddedOutputs(store, DeadLetterFile(workdir / f"dlq-{run}.jsonl"))
    judges = JudgePool(settings, processes) if processes else None
    with streaming_gc():  # as `klachtradar replay` runs once its pipeline is built
        started = time.perf_counter()
        run_embedded(
            JsonlReplay(path, speed=None, batch_size=256).batches(),
            pipeline,
            outputs,
            judges=judges,
        )
        elapsed = time.perf_counter() - started
    if judges is not None:
        judges.close()
    store.close()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--classifier", default="lexicon")
    parser.add_argument(
        "--processes", type=int, default=1, help="judge worker processes (0: all in one)"
    )
    args = parser.parse_args(argv)
    settings = load_settings()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        data = workdir / "posts.jsonl"
        n = build_input(settings.resolve(settings.demo.file), args.copies, data)
        bare = [bare_parse(data) for _ in range(args.repeat)]
        single = [embedded(data, args.classifier, workdir, i, 0) for i in range(args.repeat)]
        full = [
            embedded(data, args.classifier, workdir, args.repeat + i, args.processes)
            for i in range(args.repeat)
        ]
    bare_rate = n / statistics.median(bare)
    single_rate = n / statistics.median(single)
    full_rate = n / statistics.median(full)
    print(f"posts: {n}  (demo corpus × {args.copies}), classifier: {args.classifier}")
    print(f"baseline  bare JSONL parse : {bare_rate:>10,.0f} posts/s")
    print(f"embedded, one process      : {single_rate:>10,.0f} posts/s")
    print(
        f"embedded, +{args.processes} judge process : {full_rate:>10,.0f} posts/s  (replay --fast)"
    )
    print(f"ratio embedded / bare parse: {full_rate / bare_rate:.3f}")
    print(f"target ≥ 5,000 posts/s     : {'met' if full_rate >= 5000 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
