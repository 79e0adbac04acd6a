"""Kafka throughput and latency, against a baseline run in the same process and broker.

    python benchmarks/bench_kafka.py [--posts 20000] [--broker tansu|noida] [--rate 50]

1. **Baseline** — the plainest kafka-python loop: poll raw → produce each value to an
   output topic → flush → commit. What the broker and client cost on their own.
2. **process** — :func:`klachtradar.runtime.runner.process_step` with the default classifier
   over the same raw messages (decode, classify, enrich, score, alerts, produce
   scored + alerts, flush, commit) as ``process --judges 0``, then as ``klachtradar
   process`` runs by default (``judge_workers = 1``,
   :class:`~klachtradar.runtime.runner.LookaheadProcessStep`: language, classification and
   brand mentions one batch ahead in a worker process). Target ≥ 0.5× the baseline and
   ≥ 5,000 posts/s. Each loop runs ``--repeat`` times in its own group; medians.
   The stages alone in one process (no Kafka) are timed too.
3. **Start-up and memory** — real ``klachtradar process`` and ``index`` subprocesses:
   seconds from launch to their ``ready`` line (model loaded, judges started,
   partitions assigned: the line says when each was met), against the baseline of a
   bare kafka-python consumer subprocess joining a group on the same broker (what
   the broker's join costs anyone). Then ``--posts`` posts through both, and the peak
   RSS (``VmHWM``) of each process of each role, the judge worker included. Targets:
   ready ≤5 s; ``process`` ≤500 MB with the linear model.
4. **State** (``--only state``) — ``process`` (default: one judge worker) with the
   author history changelogged per raw partition and complaints repartitioned for the
   ``incidents`` step (``[kafka] state = "changelog"``), against today's in-memory
   state in each member (``"local"``), same topic, interleaved runs; target ≥0.8×.
   Then the time to restore the whole changelog it wrote, and real ``klachtradar
   process`` subprocesses (changelog state), one vs two members on 4 partitions:
   posts/s from the first post produced to the group's last commit.
5. **Latency** — a real ``klachtradar process`` subprocess; posts that raise an alert
   are produced on raw at ``--rate`` posts/s; for each, the time from produce on raw to
   its alert on the alerts topic. Target (issue 16): p99 ≤ 1 s at 50 posts/s with the default model.
   ``--quiet-share 0.7`` mixes in posts that raise no alert, as a real brand stream has.

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

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from klachtradar.contract import RawPost, utc_now
from klachtradar.runtime.changelog import ChangelogReader
from klachtradar.runtime.gc_policy import streaming_gc
from klachtradar.runtime.history_state import PartitionedHistory
from klachtradar.runtime.judging import JudgePool
from klachtradar.runtime.kafka_transport import KafkaTransport, client_config
from klachtradar.runtime.local_broker import LocalBroker, start_broker
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.runtime.process_state import ProcessState
from klachtradar.runtime.runner import LookaheadProcessStep, listen_step, process_step
from klachtradar.runtime.transport import Topics
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
    settings: KafkaSettings,
    count: int,
    *,
    judges: int = 0,
    run: int = 0,
    changelog: bool = False,
    classifier: str = "",
) -> float:
    """``process_step`` with the default classifier over the same raw topic; posts/s.

    ``judges=1``: :class:`LookaheadProcessStep` (``klachtradar process --judges 1``),
    language and classification one batch ahead in a worker process. Its start-up
    (model loading in the worker) is not timed, like the group join.
    """
    app_settings = load_settings()
    app_settings.history.backend = "memory"
    if classifier:
        app_settings.pipeline.classifier = classifier
    pipeline = Pipeline.from_settings(app_settings)
    transport = KafkaTransport(settings)
    group = f"{settings.topic_prefix}-bench-process-{judges}-{run}-{int(changelog)}"
    state = _changelog_state(transport, pipeline, group, run) if changelog else None
    pool = JudgePool(app_settings, processes=judges) if judges else None
    step: Callable[[], int]
    if pool is not None:
        step = LookaheadProcessStep(
            transport, pipeline, transport.topics, pool, group=group,
            max_records=settings.batch_size, timeout_s=0.5, state=state,
        )  # fmt: skip
    else:

        def step() -> int:
            return process_step(
                transport, pipeline, transport.topics, group=group,
                max_records=settings.batch_size, timeout_s=0.5, state=state,
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


def _changelog_state(
    transport: KafkaTransport, pipeline: Pipeline, group: str, run: int
) -> ProcessState:
    """What ``process`` wires with ``[kafka] state = "changelog"``: the history per raw
    partition, changelogged, and the complaints repartition. Each run writes its own
    state topics, so no run restores another's changelog."""
    topics = Topics(f"{transport.topics.prefix}-state{run}")
    transport.ensure_topics([topics.history_changelog, topics.complaints])
    reader = ChangelogReader(transport.settings, topics.history_changelog)
    history = PartitionedHistory(pipeline.history, reader)
    transport.member(transport.topics.raw, group).watchers.append(history)
    pipeline.detect_incidents = False
    return ProcessState(topics, history, complaint_partitions=transport.settings.partitions)


def restore_rate(settings: KafkaSettings, run: int) -> tuple[int, float]:
    """Records of the history changelog a changelog run wrote, and seconds to restore all."""
    topic = Topics(f"{settings.topic_prefix}-state{run}").history_changelog
    reader = ChangelogReader(settings, topic)
    try:
        restored = reader.restore(range(settings.partitions))
    finally:
        reader.close()
    return sum(r.records_read for r in restored), restored[0].seconds


def members_throughput(
    broker: LocalBroker, posts: list[RawPost], members: int, classifier: str
) -> float:
    """Posts/s of ``members`` real ``klachtradar process`` subprocesses (changelog state,
    one judge worker each) on 4 partitions: from the first post produced to the last
    offset committed by the group. Members are ready (joined) before the posts come."""
    settings = kafka_settings(broker, f"benchm{members}{os.getpid()}")
    group = settings.process_group
    with tempfile.TemporaryDirectory() as tmp:
        env = _role_env(settings, Path(tmp) / "store.db")
        if classifier:
            env["KLACHTRADAR_PIPELINE__CLASSIFIER"] = classifier
        procs = []
        for n in range(members):
            log_path = Path(tmp) / f"process-{n}.log"
            with log_path.open("wb") as out:
                cmd = [sys.executable, "-m", "klachtradar", "process"]
                procs.append(
                    (subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT), log_path)
                )
        try:
            for proc, log_path in procs:
                _wait_ready(proc, log_path)
            _wait_for_assignment(procs, members)
            started = time.perf_counter()
            fill_raw(settings, posts)
            reader = KafkaConsumer(
                **client_config(settings), group_id=group, enable_auto_commit=False
            )
            try:
                while _committed(reader, settings) < len(posts):
                    time.sleep(0.05)
            finally:
                reader.close()
            elapsed = time.perf_counter() - started
        finally:
            for proc, _ in procs:
                proc.send_signal(signal.SIGTERM)
            for proc, _ in procs:
                proc.wait(timeout=60)
    return len(posts) / elapsed


def _wait_for_assignment(procs: list[tuple[subprocess.Popen[bytes], Path]], members: int) -> None:
    """Until the group has settled: every member's last assignment is its share."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        last = []
        for _, log_path in procs:
            entries = [
                json.loads(line)
                for line in log_path.read_text(errors="replace").splitlines()
                if line.startswith("{")
            ]
            lines = [e for e in entries if e.get("event") == "partitions assigned"]
            last.append(len(lines[-1]["partitions"]) if lines else -1)
        if sum(last) == 4 and all(n == 4 // members for n in last):
            return
        time.sleep(0.1)
    raise RuntimeError("the group did not settle")


def _committed(reader: KafkaConsumer, settings: KafkaSettings) -> int:
    """Offsets the reader's group committed on the raw topic, summed over partitions."""
    raw = f"{settings.topic_prefix}.posts.raw"
    found = (reader.committed(TopicPartition(raw, p)) for p in range(settings.partitions))
    return sum(offset or 0 for offset in found)


def state_section(
    broker: LocalBroker, templates: list[RawPost], count: int, repeat: int, classifier: str
) -> None:
    """Changelog state against in-memory state, restore time, one vs two members."""
    settings = kafka_settings(broker, f"benchst{os.getpid()}")
    posts = fresh_posts(count, "st", templates)
    fill_raw(settings, posts)
    local, logged = [], []
    for run in range(repeat):
        local.append(klachtradar_process(settings, count, judges=1, run=run, classifier=classifier))
        logged.append(
            klachtradar_process(
                settings, count, judges=1, run=run, changelog=True, classifier=classifier
            )
        )
    mem, log_ = statistics.median(local), statistics.median(logged)
    print(f"runs (posts/s): in-memory state {_rates(local)}; changelog state {_rates(logged)}")
    print(f"process, in-memory state (today)   : {mem:10,.0f} posts/s")
    print(
        f"process, changelog state           : {log_:10,.0f} posts/s   ({log_ / mem:.2f}× "
        f"in-memory; target ≥0.8×: {'met' if log_ >= 0.8 * mem else 'NOT met'})"
    )
    records, seconds = restore_rate(settings, 0)
    print(
        f"restore, whole history changelog   : {records:,} records in {seconds:.3f} s "
        f"({records / max(seconds, 1e-9):,.0f} records/s)"
    )
    one = members_throughput(broker, fresh_posts(count, "m1", templates), 1, classifier)
    two = members_throughput(broker, fresh_posts(count, "m2", templates), 2, classifier)
    print(f"klachtradar process ×1 (4 partitions): {one:10,.0f} posts/s")
    print(f"klachtradar process ×2 (4 partitions): {two:10,.0f} posts/s   ({two / one:.2f}×)")


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
    margin = settings.priority.p2 + 10
    story = Pipeline.from_settings(settings)
    output = story.process(templates)
    chosen = [p.post for p in output.scored if p.brands and p.risk.score >= margin]
    # Without the demo's brand replies and earlier posts around them: a follow-up that
    # alerts only as "beantwoord, niet opgelost" in its story does not alert on its own.
    # A fresh pipeline (no history), the classifier already loaded.
    alone = Pipeline.from_settings(settings, classifier=story.classifier).process(chosen)
    return [p.post for p in alone.scored if p.brands and p.risk.score >= margin]


def quiet_templates(templates: list[RawPost]) -> list[RawPost]:
    """Demo posts that name a brand and raise no alert (a question, praise, news): the
    bulk of a real brand stream, which the overload cascade's split leaves to the fast
    model so the encoder's time goes to the complaints."""
    settings = load_settings()
    settings.history.backend = "memory"
    output = Pipeline.from_settings(settings).process(templates)
    alerted = {a.doc_id for a in output.alerts if getattr(a, "doc_id", None)}
    margin = settings.priority.p2 - 10
    return [
        p.post
        for p in output.scored
        if p.brands and p.risk.score < margin and p.doc_id not in alerted
    ]


def latency(
    broker: LocalBroker,
    rate: float,
    seconds: float,
    templates: list[RawPost],
    classifier: str = "",
    quiet: list[RawPost] | None = None,
    quiet_share: float = 0.0,
) -> None:
    """Produce → alert latency of a real ``process``; each post is stamped ``received_at``
    when it is sent, as a listener stamps it, so the overload cascade sees the true lag.

    ``quiet_share`` of the stream (0–1) are ``quiet`` posts that raise no alert,
    interleaved evenly; latency is measured on the alerting posts, and the report says
    which model judged them (the cascade's split gives the encoder the likeliest
    complaints)."""
    settings = kafka_settings(broker, f"benchlat{os.getpid()}")
    KafkaTransport(settings).ensure_topics()
    env = dict(os.environ)
    env["KLACHTRADAR_HOME"] = str(ROOT)
    for key, value in settings.model_dump(exclude_none=True).items():
        env[f"KLACHTRADAR_KAFKA__{key.upper()}"] = str(value)
    env["KLACHTRADAR_KAFKA__LINGER_MS"] = "0"
    env["KLACHTRADAR_HISTORY__BACKEND"] = "memory"  # never the repo's store
    if classifier:
        env["KLACHTRADAR_PIPELINE__CLASSIFIER"] = classifier
    log_path = Path(tempfile.gettempdir()) / f"bench-process-{os.getpid()}.log"
    with log_path.open("wb") as log:  # the child keeps its own handle
        proc = subprocess.Popen(
            [sys.executable, "-m", "klachtradar", "process"], env=env, stdout=log, stderr=log
        )
    alerts_topic = f"{settings.topic_prefix}.alerts"
    scored_topic = f"{settings.topic_prefix}.posts.scored"
    arrived: dict[str, float] = {}
    scored_fast: dict[str, bool] = {}  # doc id → judged by the fast model
    consumer = KafkaConsumer(
        alerts_topic,
        scored_topic,
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
                    value = json.loads(record.value)
                    doc = value.get("doc_id")
                    if not doc:
                        continue
                    if record.topic == scored_topic:
                        verdict = value.get("classification") or {}
                        scored_fast[doc] = bool(verdict.get("fallback"))
                    else:
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
    total = int(rate * seconds)
    n_quiet = int(total * quiet_share) if quiet else 0
    loud = iter(fresh_posts(total - n_quiet, "lat", templates))
    calm = iter(fresh_posts(n_quiet, "calm", quiet or templates))
    posts = [  # the quiet posts spread evenly through the stream
        next(calm) if (i + 1) * n_quiet // total > i * n_quiet // total else next(loud)
        for i in range(total)
    ]
    begin = time.perf_counter()
    for i, post in enumerate(posts):
        pause = begin + i / rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        if post.post_id.startswith("lat-"):
            sent[post.doc_id] = time.time()
        stamped = post.model_copy(update={"received_at": utc_now()})
        producer.send(
            f"{settings.topic_prefix}.posts.raw",
            key=post.author.id.encode(),
            value=stamped.model_dump_json().encode(),
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
    unalerted = [d for d in sent if d not in arrived]
    by_fast = sum(1 for d in unalerted if scored_fast.get(d) is True)
    by_primary = sum(1 for d in unalerted if scored_fast.get(d) is False)
    lost = len(unalerted) - by_fast - by_primary
    every = [p.doc_id for p in posts]
    fast_share = sum(1 for d in every if scored_fast.get(d)) / max(1, len(every))
    alert_fast = sum(1 for d in sent if scored_fast.get(d)) / max(1, len(sent))
    p50 = statistics.median(lat)
    p99 = lat[int(0.99 * (len(lat) - 1))]
    print(
        f"latency @ {rate:.0f} posts/s for {seconds:.0f} s ({n_quiet} of {total} posts raise "
        f"no alert): {len(lat)} alerts, {missing} missing"
    )
    print(f"  p50 {p50 * 1000:.0f} ms   p99 {p99 * 1000:.0f} ms   max {lat[-1] * 1000:.0f} ms")
    print(
        f"  without an alert: {by_fast} judged by the fast model (no alert from its verdict), "
        f"{by_primary} by the primary model, {lost} never scored (lost or late)"
    )
    print(
        f"  {fast_share:.0%} of the posts were judged by the fast model; "
        f"of the alerting posts {alert_fast:.0%}"
    )
    print(f"  target p99 <= 1000 ms: {'met' if p99 <= 1.0 and not lost else 'NOT met'}")
    switches, lines = overload_switches(log_path)
    served = classifier or "the configured default"
    print(
        f"  classifier: {served}; overload cascade switched {switches}× "
        f"({(switches + 1) // 2}× to the fast model), in {lines} log lines (log: {log_path})"
    )


def overload_switches(log_path: Path) -> tuple[int, int]:
    """The gate's switch count and how many log lines reported them.

    The gate folds a burst of switches into one line per 30 s, each carrying the running
    total (``switches``), so the count comes from that field, not from counting lines.
    """
    total = lines = 0
    for raw in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if isinstance(entry, dict) and str(entry.get("event", "")).startswith("overload:"):
            lines += 1
            total = max(total, int(entry.get("switches", 0)))
    return total, lines


BARE_JOIN = """
import sys, time
from kafka import KafkaConsumer
from kafka.consumer.subscription_state import ConsumerRebalanceListener
class Joined(ConsumerRebalanceListener):
    def on_partitions_revoked(self, revoked): pass
    def on_partitions_assigned(self, assigned):
        print("joined", flush=True)
consumer = KafkaConsumer(bootstrap_servers=sys.argv[1], group_id=sys.argv[2],
                         session_timeout_ms=int(sys.argv[4]), heartbeat_interval_ms=1000)
consumer.subscribe([sys.argv[3]], listener=Joined())
while True:
    consumer.poll(timeout_ms=200)
"""


def _launch_seconds(pid: int) -> float:
    """Seconds since ``pid`` was launched (kernel start time against CLOCK_BOOTTIME)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return time.clock_gettime(time.CLOCK_BOOTTIME) - int(fields[19]) / os.sysconf("SC_CLK_TCK")


def bare_join_seconds(settings: KafkaSettings, group: str) -> float:
    """Launch → partitions assigned for a bare kafka-python consumer subprocess."""
    proc = subprocess.Popen(
        [sys.executable, "-c", BARE_JOIN, settings.bootstrap_servers, group,
         f"{settings.topic_prefix}.posts.raw", str(settings.session_timeout_ms)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    seconds = _launch_seconds(proc.pid)
    proc.kill()
    proc.wait()
    if line.strip() != "joined":
        raise RuntimeError("the bare consumer never joined")
    return seconds


def _descendants(pid: int) -> list[int]:
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
    found: list[int] = []
    frontier = [pid]
    while frontier:
        frontier = [c for c, p in parents.items() if p in frontier and c not in found]
        found += frontier
    return found


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _role_env(settings: KafkaSettings, store: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["KLACHTRADAR_HOME"] = str(ROOT)
    env["KLACHTRADAR_STORE__PATH"] = str(store)
    env["KLACHTRADAR_HISTORY__BACKEND"] = "memory"  # never the repo's store
    for key, value in settings.model_dump(exclude_none=True).items():
        env[f"KLACHTRADAR_KAFKA__{key.upper()}"] = str(value)
    return env


def _wait_ready(proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log_path.read_text(errors="replace").splitlines():
            if '"event": "ready"' in line:
                return dict(json.loads(line))
        if proc.poll() is not None:
            raise RuntimeError(f"{log_path.name} exited: {log_path.read_text()[-2000:]}")
        time.sleep(0.05)
    raise RuntimeError(f"{log_path.name} not ready after {timeout} s")


def startup_and_memory(
    broker: LocalBroker, templates: list[RawPost], count: int, runs: int, classifier: str
) -> None:
    """Section 3 of the module docstring (``classifier``: what ``process`` serves)."""
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    bare: list[float] = []
    ready: dict[str, list[dict]] = {"process": [], "index": []}
    peaks: dict[str, list[float]] = {}
    for run in range(runs):
        settings = kafka_settings(broker, f"benchup{os.getpid()}r{run}")
        settings.process_group = f"{settings.topic_prefix}-process"
        settings.index_group = f"{settings.topic_prefix}-index"
        KafkaTransport(settings).ensure_topics()
        bare.append(bare_join_seconds(settings, f"{settings.topic_prefix}-bare"))
        env = _role_env(settings, work / f"store{run}.db")
        if classifier:
            env["KLACHTRADAR_PIPELINE__CLASSIFIER"] = classifier
        procs = {}
        for role in ("process", "index"):
            log_path = work / f"{role}{run}.log"
            with log_path.open("wb") as log:
                procs[role] = subprocess.Popen(
                    [sys.executable, "-m", "klachtradar", role], env=env, stdout=log, stderr=log
                )
        for role, proc in procs.items():
            ready[role].append(_wait_ready(proc, work / f"{role}{run}.log"))
        if run == runs - 1:  # the last run also carries the load
            fill_raw(settings, fresh_posts(count, f"mem{run}", templates))
            store = work / f"store{run}.db"
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and _stored(store) < count:
                time.sleep(0.5)
            for role, proc in procs.items():
                peaks[role] = [_peak_rss_mb(proc.pid)]
                peaks[f"{role} children"] = [_peak_rss_mb(c) for c in _descendants(proc.pid)]
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    base = statistics.median(bare)
    print(f"start-up, launch → ready (median of {runs}; broker session timeout "
          f"{settings.session_timeout_ms} ms; classifier {classifier or 'default'}):")  # fmt: skip
    print(f"  bare kafka-python consumer joining : {base:5.2f} s   (baseline: the broker's join)")
    for role, lines in ready.items():
        seconds = statistics.median(float(line["seconds"]) for line in lines)
        met = lines[len(lines) // 2]["met"]
        parts = ", ".join(f"{k} {v:.2f} s" for k, v in met.items())
        verdict = "met" if seconds <= 5.0 else "NOT met"
        print(f"  klachtradar {role:<8}             : {seconds:5.2f} s   "
              f"({seconds / base:.2f}× baseline; {parts}); target ≤5 s: {verdict}")  # fmt: skip
    print(f"peak RSS (VmHWM) after {count:,} posts through process and index:")
    for role, values in peaks.items():
        shown = ", ".join(f"{v:,.0f} MB" for v in values) or "none"
        print(f"  {role:<18}: {shown}")
    total = peaks["process"][0] + sum(peaks["process children"])
    limit = 1500 if classifier in ("e5", "transformer", "embedding") else 500
    print(f"  process, all its processes: {total:,.0f} MB; "
          f"target ≤{limit} MB: {'met' if total <= limit else 'NOT met'}")  # fmt: skip


def _stored(store: Path) -> int:
    import sqlite3

    if not store.exists():
        return 0
    try:
        with sqlite3.connect(store, timeout=5) as db:
            return int(db.execute("SELECT count(*) FROM posts").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def _rates(rates: list[float]) -> str:
    return ", ".join(f"{r:,.0f}" for r in rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--broker", choices=["tansu", "noida"], default="tansu")
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each loop (median)")
    parser.add_argument(
        "--only", choices=["throughput", "startup", "latency", "state"], action="append",
        help="run only these sections (repeatable; default: all)",
    )  # fmt: skip
    parser.add_argument(
        "--classifier", default="", help="classifier `process` serves (start-up, latency runs)"
    )
    parser.add_argument(
        "--quiet-share",
        type=float,
        default=0.0,
        help="latency: share of the stream (0-1) that raises no alert, as on a real brand stream",
    )
    args = parser.parse_args()
    sections = set(args.only or ["throughput", "startup", "latency", "state"])

    templates = demo_posts()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "noida" if args.broker == "noida" else None
        with start_broker(args.broker, data_dir=data_dir) as broker:
            print(
                f"broker: {args.broker} on {broker.bootstrap}; {args.posts:,} posts; 4 partitions"
            )
            if "startup" in sections:
                startup_and_memory(broker, templates, args.posts, args.repeat, args.classifier)
            if "state" in sections:
                state_section(broker, templates, args.posts, args.repeat, args.classifier)
            if "latency" in sections:
                latency(
                    broker,
                    args.rate,
                    args.seconds,
                    alerting_templates(templates),
                    args.classifier,
                    quiet=quiet_templates(templates) if args.quiet_share else None,
                    quiet_share=args.quiet_share,
                )
            if "throughput" not in sections:
                return
            settings = kafka_settings(broker, f"benchtp{os.getpid()}")
            posts = fresh_posts(args.posts, "tp", templates)
            fill_raw(settings, posts)
            # Every loop runs with the collector settings `klachtradar process` uses
            # (klachtradar.runtime.gc_policy), the baseline too, so the ratio compares code.
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


if __name__ == "__main__":
    main()
