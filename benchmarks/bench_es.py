"""Bulk writer vs bare ``helpers.streaming_bulk``: same documents, same server, one run.

    python benchmarks/bench_es.py                 # starts noida-db on a free port
    python benchmarks/bench_es.py --url http://localhost:9200 --copies 10

The demo corpus goes through the real pipeline once; its scored posts are copied with
new ids until there are enough documents. Each round indexes every document into fresh
indices twice, once per contender, alternating who goes first; the report gives the
median throughput and the ratio writer / bare (target ≥ 0.9). A second ratio includes
building the documents from the contract models (``ElasticsearchOutputs.write``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from elasticsearch import Elasticsearch, helpers

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from noida_es import NoidaElasticsearch  # noqa: E402

from klachtradar.contract import RawPost, ScoredPost  # noqa: E402
from klachtradar.ports import PipelineOutput  # noqa: E402
from klachtradar.runtime.pipeline import Pipeline  # noqa: E402
from klachtradar.settings import load_settings  # noqa: E402
from listener.jsonl import read_jsonl  # noqa: E402
from sink.deadletter import DeadLetterFile  # noqa: E402
from sink.es.outputs import ElasticsearchOutputs, post_actions  # noqa: E402
from sink.es.writer import BulkAction, BulkWriter  # noqa: E402

MAX_DOCS, MAX_BYTES = 500, 5_000_000


def corpus(copies: int) -> list[ScoredPost]:
    settings = load_settings()
    posts = [r for r in read_jsonl(settings.resolve(settings.demo.file)) if isinstance(r, RawPost)]
    scored = Pipeline.from_settings(settings).process(posts).scored
    out = []
    for copy in range(copies):
        for post in scored:
            raw = post.post.model_copy(update={"post_id": f"{post.post.post_id}-{copy}"})
            out.append(post.model_copy(update={"post": raw, "doc_id": raw.doc_id}))
    return out


def bare(client: Elasticsearch, actions: list[BulkAction]) -> int:
    ok = 0
    for success, _ in helpers.streaming_bulk(
        client,
        (a.as_bulk() for a in actions),
        chunk_size=MAX_DOCS,
        max_chunk_bytes=MAX_BYTES,
        raise_on_error=False,
    ):
        ok += success
    return ok


@dataclass
class Run:
    seconds: float
    cpu_seconds: float
    done: int


def timed(run: Callable[[], int]) -> Run:
    """Wall time (throughput) and this process's CPU time (the client's own overhead)."""
    wall, cpu = time.perf_counter(), time.process_time()
    done = run()
    return Run(time.perf_counter() - wall, time.process_time() - cpu, done)


def settle(client: Elasticsearch) -> None:
    """Let the server finish the previous contender's work before the next one starts."""
    client.indices.refresh()
    time.sleep(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="An Elasticsearch-API server (default: start noida-db).")
    parser.add_argument("--copies", type=int, default=1, help="Copies of the demo corpus.")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()

    posts = corpus(args.copies)
    with ExitStack() as stack:
        url = args.url or stack.enter_context(NoidaElasticsearch(Path(tempfile.mkdtemp())))
        client = stack.enter_context(Elasticsearch(url, max_retries=0, request_timeout=120))

        def run_bare(prefix: str) -> int:
            return bare(client, post_actions(posts, prefix))

        def run_writer(prefix: str) -> int:
            writer = BulkWriter(client, max_docs=MAX_DOCS, max_bytes=MAX_BYTES)
            return writer.write(post_actions(posts, prefix)).accepted

        def run_outputs(prefix: str) -> int:
            return _outputs(client, prefix, posts)

        contenders = {"bare": run_bare, "writer": run_writer, "outputs": run_outputs}
        runs: dict[str, list[Run]] = {name: [] for name in contenders}
        for round_ in range(args.rounds):
            # bare and writer swap places every round, so neither always follows the other
            pair = ["bare", "writer"] if round_ % 2 == 0 else ["writer", "bare"]
            for name in [*pair, "outputs"]:
                prefix = f"bench{round_}-{name}"
                settle(client)
                run = timed(partial(contenders[name], prefix))
                assert run.done == len(posts), f"{name}: {run.done} of {len(posts)} indexed"
                runs[name].append(run)
                created = client.indices.get(index=f"{prefix}-*", allow_no_indices=True)
                client.indices.delete(index=",".join(created.body))
        _report(runs, len(posts), url)


def _outputs(client: Elasticsearch, prefix: str, posts: list[ScoredPost]) -> int:
    """The whole sink path: documents built from contract models, then the writer."""
    with tempfile.TemporaryDirectory() as folder:
        outputs = ElasticsearchOutputs(
            BulkWriter(client, max_docs=MAX_DOCS, max_bytes=MAX_BYTES),
            DeadLetterFile(Path(folder) / "dead.jsonl"),
            posts_prefix=prefix,
            alerts_index=f"{prefix}-alerts",
        )
        outputs.write(PipelineOutput(scored=posts))
        return outputs.last_reports[0].accepted


def _report(runs: dict[str, list[Run]], documents: int, url: str) -> None:
    rates = {name: [documents / r.seconds for r in rs] for name, rs in runs.items()}
    median = {name: statistics.median(values) for name, values in rates.items()}
    cpu = {name: statistics.median(r.cpu_seconds for r in rs) for name, rs in runs.items()}
    print(f"bench_es: {documents} documents per run, {len(runs['bare'])} rounds, {url}")
    for name, value in median.items():
        spread = ", ".join(f"{v:,.0f}" for v in rates[name])
        print(f"  {name:8s} {value:8,.0f} docs/s  client CPU {cpu[name]:.2f}s  (rounds: {spread})")
    paired = [w / b for w, b in zip(rates["writer"], rates["bare"], strict=True)]
    print(f"  ratio writer / bare (median of medians) {median['writer'] / median['bare']:.3f}")
    print(f"  ratio writer / bare (median per round)  {statistics.median(paired):.3f}  (≥ 0.9)")
    print(f"  ratio outputs / bare                    {median['outputs'] / median['bare']:.3f}")
    print(f"  client CPU writer / bare                {cpu['writer'] / cpu['bare']:.3f}")


if __name__ == "__main__":
    main()
