"""Kafka throughput and latency, against a baseline run in the same process and broker.

    python benchmarks/bench_kafka.py [--posts 20000] [--broker tansu|noida] [--rate 200]

1. **Baseline** — the plainest kafka-python loop: poll raw → produce each value to an
   output topic → flush → commit. What the broker and client cost on their own.
2. **process** — :func:`klachtradar.runner.process_step` with the default classifier
   over the same raw messages (decode, classify, enrich, score, alerts, produce
   scored + alerts, flush, commit) as ``process --judges 0``, then as ``klachtradar
   process`` runs by default (``judge_workers = 1``,
   :class:`~klachtradar.runner.LookaheadProcessStep`: language, classification and
   brand mentions one batch ahead in a worker process). Target ≥ 0.5× the baseline and
   ≥ 5,000 posts/s. Each loop runs ``--repeat`` times in its own group; medians.
   The stages alone in one process (no Kafka) are timed too.
3. **Latency** — a real ``klachtradar process`` subprocess; posts that raise an alert
   are produced on raw at ``--rate`` posts/s; for each, the time from produce on raw to
   its alert on the alerts topic. Target p99 ≤ 1 s at 200 posts/s.

Throughput is timed from the first non-empty poll to the last message, so the group
join (seconds on tansu) is not counted. Numbers depend on the 2 shared cores here.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import OffsetAndMetadata

from klachtradar.contract import RawPost
from klachtradar.gc_policy import streaming_gc
from klachtradar.judging import JudgePool
from klachtradar.kafka_transport import KafkaTransport, client_config
from klachtradar.local_broker import LocalBroker, start_broker
from klachtradar.pipeline import Pipeline
from klachtradar.runner import LookaheadProcessStep, listen_step, process_step
from klachtradar.settings import KafkaSettings, load_settings
from listener.jsonl import read_jsonl

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo" / "stream.jsonl"


def demo_posts() -> list[RawPost]:
    return [r for r in read_jsonl(DEMO) if isinstance(r, RawPost)]


def fresh_posts(count: int, tag: str, templates: list[RawPost]) -> list[RawPost]:
    return [
        templates[i % len(templates)].model_copy(update={"post_id": f"{tag}-{i:07d}"})
        for i in range(count)
    ]


def kafka_settings(broker: LocalBroker, prefix: str) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=broker.bootstrap,
        topic_prefix=prefix,
        partitions=4,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        batch_size=500,
        poll_timeout_s=0.5,
    )


def fill_raw(settings: KafkaSettings, posts: list[RawPost]) -> None:
    transport = KafkaTransport(settings)
    transport.ensure_topics()
    for start in range(0, len(posts), 1000):
        listen_step(posts[start : start + 1000], transport, transport.topics)
    transport.close()


def baseline(settings: KafkaSettings, count: int, run: int = 0) -> float:
    """Raw kafka-python consume → produce → flush → commit; posts/s."""
    raw = f"{settings.topic_prefix}.posts.raw"
    out = f"{settings.topic_prefix}.baseline.out"
    consumer = KafkaConsumer(
        raw,
        **client_config(settings),
        group_id=f"{settings.topic_prefix}-baseline-{run}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=settings.batch_size,
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
    )
    producer = KafkaProducer(**client_config(settings), acks="all", linger_ms=settings.linger_ms)
    seen, started = 0, 0.0
    while seen < count:
        batches = consumer.poll(timeout_ms=500)
        if not batches:
            continue
        started = started or time.perf_counter()
        for records in batches.values():
            for record in records:
                producer.send(out, key=record.key, value=record.value, headers=record.headers)
            seen += len(records)
        producer.flush()
        consumer.commit(
            {tp: OffsetAndMetadata(rs[-1].offset + 1, "", -1) for tp, rs in batches.items()}
        )
    elapsed = time.perf_counter() - started
    consumer.close()
    producer.close()
    return count / elapsed


def klachtradar_process(
    settings: KafkaSettings, count: int, *, judges: int = 0, run: int = 0
) -> float:
    """``process_step`` with the default classifier over the same raw topic; posts/s.

    ``judges=1``: :class:`LookaheadProcessStep` (``klachtradar process --judges 1``),
    language and classification one batch ahead in a worker process. Its start-up
    (model loading in the worker) is not timed, like the group join.
    """
    app_settings = load_settings()
    app_settings.history.backend = "memory"
    pipeline = Pipeline.from_settings(app_settings)
    transport = KafkaTransport(settings)
    group = f"{settings.topic_prefix}-bench-process-{judges}-{run}"
    pool = JudgePool(app_settings, processes=judges) if judges else None
    step: Callable[[], int]
    if pool is not None:
        step = LookaheadProcessStep(
            transport, pipeline, transport.topics, pool, group=group,
            max_records=settings.batch_size, timeout_s=0.5,
        )  # fmt: skip
    else:

        def step() -> int:
            return process_step(
                transport, pipeline, transport.topics, group=group,
                max_records=settings.batch_size, timeout_s=0.5,
            )  # fmt: skip

    seen, started = 0, 0.0
    with streaming_gc():  # as `klachtradar process` runs once its pipeline is built
        while seen < count:
            before = time.perf_counter()
            handled = step()
            holding = isinstance(step, LookaheadProcessStep) and step.holding
            if (handled or holding) and not started:
                started = before  # the call that first got data: its work counts
            seen += handled
    elapsed = time.perf_counter() - started
    transport.close()
    if pool is not None:
        pool.close()
    return count / elapsed


def pipeline_alone(posts: list[RawPost], batch_size: int) -> float:
    """The stages without Kafka (no decode, no produce): the ceiling ``process`` can reach."""
    settings = load_settings()
    settings.history.backend = "memory"
    pipeline = Pipeline.from_settings(settings)
    with streaming_gc():
        started = time.perf_counter()
        for start in range(0, len(posts), batch_size):
            pipeline.process(posts[start : start + batch_size])
        return len(posts) / (time.perf_counter() - started)


def alerting_templates(templates: list[RawPost]) -> list[RawPost]:
    """Demo posts that raise a post alert whatever the author history says.

    A post alerts at P2 or above; history and time waiting move a score by a few
    points between runs, so only posts at least 10 points above the P2 line are used:
    otherwise "missing" alerts would measure scoring context, not delivery.
    """
    settings = load_settings()
    settings.history.backend = "memory"
    output = Pipeline.from_settings(settings).process(templates)
    margin = settings.priority.p2 + 10
    return [p.post for p in output.scored if p.brands and p.risk.score >= margin]


def latency(broker: LocalBroker, rate: float, seconds: float, templates: list[RawPost]) -> None:
    settings = kafka_settings(broker, f"benchlat{os.getpid()}")
    KafkaTransport(settings).ensure_topics()
    env = dict(os.environ)
    env["KLACHTRADAR_HOME"] = str(ROOT)
    for key, value in settings.model_dump(exclude_none=True).items():
        env[f"KLACHTRADAR_KAFKA__{key.upper()}"] = str(value)
    env["KLACHTRADAR_KAFKA__LINGER_MS"] = "0"
    env["KLACHTRADAR_HISTORY__BACKEND"] = "memory"  # never the repo's store
    log_path = Path(tempfile.gettempdir()) / f"bench-process-{os.getpid()}.log"
    with log_path.open("wb") as log:  # the child keeps its own handle
        proc = subprocess.Popen(
            [sys.executable, "-m", "klachtradar", "process"], env=env, stdout=log, stderr=log
        )
    alerts_topic = f"{settings.topic_prefix}.alerts"
    arrived: dict[str, float] = {}
    consumer = KafkaConsumer(
        alerts_topic,
        **client_config(settings),
        group_id=f"{settings.topic_prefix}-watch",
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            for records in consumer.poll(timeout_ms=100).values():
                now = time.time()
                for record in records:
                    doc = json.loads(record.value).get("doc_id")
                    if doc:
                        arrived.setdefault(doc, now)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    producer = KafkaProducer(**client_config(settings), acks="all", linger_ms=0)
    warm = fresh_posts(20, "warm", templates)
    for post in warm:  # until the process and the watcher have joined their groups
        producer.send(f"{settings.topic_prefix}.posts.raw", value=post.model_dump_json().encode())
    producer.flush()
    deadline = time.time() + 60
    while time.time() < deadline and not all(p.doc_id in arrived for p in warm):
        time.sleep(0.1)
    sent: dict[str, float] = {}
    posts = fresh_posts(int(rate * seconds), "lat", templates)
    begin = time.perf_counter()
    for i, post in enumerate(posts):
        pause = begin + i / rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        sent[post.doc_id] = time.time()
        producer.send(
            f"{settings.topic_prefix}.posts.raw",
            key=post.author.id.encode(),
            value=post.model_dump_json().encode(),
        )
    producer.flush()
    deadline = time.time() + 10
    while time.time() < deadline and not all(d in arrived for d in sent):
        time.sleep(0.1)
    stop.set()
    watcher.join()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    consumer.close()
    producer.close()
    lat = sorted(arrived[d] - t for d, t in sent.items() if d in arrived)
    missing = len(sent) - len(lat)
    p50 = statistics.median(lat)
    p99 = lat[int(0.99 * (len(lat) - 1))]
    print(f"latency @ {rate:.0f} posts/s for {seconds:.0f} s: {len(lat)} alerts, {missing} missing")
    print(f"  p50 {p50 * 1000:.0f} ms   p99 {p99 * 1000:.0f} ms   max {lat[-1] * 1000:.0f} ms")
    print(f"  target p99 <= 1000 ms: {'met' if p99 <= 1.0 and not missing else 'NOT met'}")


def _rates(rates: list[float]) -> str:
    return ", ".join(f"{r:,.0f}" for r in rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--broker", choices=["tansu", "noida"], default="tansu")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each loop (median)")
    args = parser.parse_args()

    templates = demo_posts()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "noida" if args.broker == "noida" else None
        with start_broker(args.broker, data_dir=data_dir) as broker:
            print(
                f"broker: {args.broker} on {broker.bootstrap}; {args.posts:,} posts; 4 partitions"
            )
            settings = kafka_settings(broker, f"benchtp{os.getpid()}")
            posts = fresh_posts(args.posts, "tp", templates)
            fill_raw(settings, posts)
            # Every loop runs with the collector settings `klachtradar process` uses
            # (klachtradar.gc_policy), the baseline too, so the ratio compares code.
            # Each loop reads the same topic in its own group, --repeat times, interleaved
            # (the broker's speed drifts); the medians are compared.
            bases, singles, ahead = [], [], []
            for run in range(args.repeat):
                with streaming_gc():
                    bases.append(baseline(settings, args.posts, run))
                singles.append(klachtradar_process(settings, args.posts, run=run))
                ahead.append(klachtradar_process(settings, args.posts, judges=1, run=run))
            base, single, ours = (statistics.median(r) for r in (bases, singles, ahead))
            print(f"runs (posts/s): baseline {_rates(bases)}; --judges 0 {_rates(singles)}; "
                  f"process {_rates(ahead)}")  # fmt: skip
            stages = pipeline_alone(posts, settings.batch_size)
            ratio = ours / base
            print(f"baseline consume→produce : {base:10,.0f} posts/s")
            print(
                f"process --judges 0       : {single:10,.0f} posts/s   "
                f"({single / base:.2f}× baseline; every stage in the consumer process)"
            )
            print(
                f"klachtradar process      : {ours:10,.0f} posts/s   ({ratio:.2f}× baseline; "
                "default judge_workers = 1)"
            )
            print(
                f"stages alone, no Kafka   : {stages:10,.0f} posts/s   "
                f"(process = {ours / stages:.2f}× of it)"
            )
            print(
                f"  target ≥0.5× and ≥5,000 posts/s: "
                f"{'met' if ratio >= 0.5 and ours >= 5000 else 'NOT met'}"
            )
            latency(broker, args.rate, args.seconds, alerting_templates(templates))


if __name__ == "__main__":
    main()
