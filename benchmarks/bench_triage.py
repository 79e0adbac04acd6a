"""How long one live refresh of the triage queue takes, against the store's own top().

Every SSE change makes each open browser fetch ``/fragments/live``: the queue query
with workflow state, header stats (SLA over all open posts), open incidents, label
corrections and the Jinja render of 60 cards. The baseline is ``EmbeddedStore.top``
for the same 60 posts, measured in the same process on the same store, so the ratio
says what triage adds on top of reading the queue.

    .venv/bin/python benchmarks/bench_triage.py [--copies 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from klachtradar.contract import RawPost
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.settings import load_settings
from listener.jsonl import read_jsonl
from sink.store import EmbeddedStore
from triage.app import TriageApp
from triage.clock import StreamClock
from triage.database import TriageDatabase
from triage.feedback import FeedbackStore
from triage.live import ChangeFeed
from triage.sla import SlaPolicy
from triage.workflow import Workflow


def _timed(fn: Callable[[], object], repeat: int) -> list[float]:
    fn()  # warm up
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def _fill(path: Path, copies: int) -> int:
    settings = load_settings()
    posts = [r for r in read_jsonl(settings.resolve(settings.demo.file)) if isinstance(r, RawPost)]
    pipeline = Pipeline.from_settings(settings)
    total = 0
    with EmbeddedStore(path) as store:
        for copy in range(copies):
            batch = [
                p.model_copy(update={"post_id": f"{p.post_id}-{copy}"}) if copy else p
                for p in posts
            ]
            output = pipeline.process(batch, now=max(p.created_at for p in batch))
            store.write_posts(output.scored)
            store.write_alerts(output.alerts)
            total += len(batch)
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=1, help="demo stream copies in the store")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    settings = load_settings()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kr.db"
        posts = _fill(path, args.copies)
        store = EmbeddedStore(path)
        last = max(p.post.created_at for p in store.top(limit=1, status=None))
        clock = StreamClock(last + timedelta(hours=1))
        database = TriageDatabase(path)
        workflow = Workflow(database, clock, SlaPolicy.from_settings(settings.triage))
        app = TriageApp(
            settings.triage, workflow, FeedbackStore(database, clock), ChangeFeed(path), clock
        )
        limit = settings.triage.queue_limit
        baseline = _timed(lambda: store.top(limit=limit), args.repeat)
        fragment = _timed(lambda: app.render("_live.html", app.live_context({})), args.repeat)
        size = len(app.render("_live.html", app.live_context({})).encode())
    base, frag = statistics.median(baseline), statistics.median(fragment)
    print(f"store: {posts} posts; queue of {limit} cards; {args.repeat} runs each (median)")
    print(f"baseline EmbeddedStore.top({limit})     {base:8.2f} ms")
    print(f"triage /fragments/live (query+render) {frag:8.2f} ms  ({size / 1024:.0f} KiB)")
    print(f"ratio fragment / top                  {frag / base:8.1f}x")
    print(f"refreshes per second one core can serve  ~{1000 / frag:.0f}")


if __name__ == "__main__":
    main()
