"""The Kafka commands: ``listen``, ``process``, ``index``, ``notify`` and ``dlq list|replay``.

Each of ``listen``/``process``/``index`` is one long-running process; run as many of
each as there are partitions to share. They read ``[kafka]`` settings (env
``KLACHTRADAR_KAFKA__*``), create missing topics, log JSON lines on stderr, serve
``/metrics`` when given a port, and stop gracefully on SIGTERM or Ctrl-C.

This module imports only typer and the settings; kafka-python and the pipeline are
imported inside the commands, so ``klachtradar --help`` stays fast.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from klachtradar.errors import ConfigError, TransportError
from klachtradar.runtime.gc_policy import streaming_gc
from klachtradar.settings import Settings, load_settings

if TYPE_CHECKING:
    from concurrent.futures import Future

    from klachtradar.runtime.judging import JudgePool
    from klachtradar.runtime.kafka_transport import GroupConsumer, KafkaTransport
    from klachtradar.runtime.pipeline import Pipeline
    from klachtradar.runtime.process_state import ProcessState
    from klachtradar.runtime.readiness import Readiness
    from klachtradar.runtime.stream_metrics import StreamMetrics
    from klachtradar.runtime.streaming import StopSignal

app = typer.Typer(add_completion=False)
dlq_app = typer.Typer(help="Inspect and re-drive the dead-letter topic.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")

log = logging.getLogger("klachtradar.cli")

MetricsPort = Annotated[
    int | None, typer.Option("--metrics-port", help="Serve /metrics here (0: off).")
]
Group = Annotated[str | None, typer.Option(help="Consumer group (default: from settings).")]
IdleExit = Annotated[
    float | None,
    typer.Option("--exit-when-idle", help="Exit after this many seconds without messages."),
]


def _start(
    name: str,
    metrics_port: int | None,
    conditions: list[str] | None = None,
    *,
    group: str | None = None,
    settings: Settings | None = None,
) -> tuple[Settings, KafkaTransport, StreamMetrics, Readiness]:
    """Settings, logging, metrics (+ ``/ready``) and a transport whose topics exist.

    ``conditions`` are what the process must do before it is ready; ``"partitions
    assigned"`` is marked by the transport when ``group`` (default: any) first joins.
    """
    from klachtradar.runtime.jsonlog import configure_logging
    from klachtradar.runtime.kafka_transport import KafkaTransport
    from klachtradar.runtime.readiness import Readiness, process_started
    from klachtradar.runtime.stream_metrics import StreamMetrics, serve_metrics

    started = process_started()
    settings = settings or load_settings()
    configure_logging(name)
    readiness = Readiness(name, conditions or ["started"], started=started)
    metrics = StreamMetrics()
    port = settings.kafka.metrics_port if metrics_port is None else metrics_port
    serve_metrics(metrics, port, host=settings.kafka.metrics_host, readiness=readiness)

    def assigned(topic: str, joined: str, partitions: list[int]) -> None:
        if "partitions assigned" in (conditions or []) and group in (None, joined):
            readiness.mark("partitions assigned")

    transport = KafkaTransport(
        settings.kafka,
        on_commit=metrics.on_commit,
        on_produced=metrics.on_produced,
        on_assigned=assigned,
    )
    return settings, transport, metrics, readiness


def _ensure_topics(transport: KafkaTransport, stop: StopSignal) -> None:
    """Create missing topics, waiting with backoff while the broker is unreachable."""
    from klachtradar.backoff import Backoff

    backoff = Backoff(maximum_s=transport.settings.retry_backoff_max_s)
    while not stop.is_set():
        try:
            transport.ensure_topics()
            return
        except TransportError as exc:
            if not exc.retryable:
                raise
            delay = backoff.delay()
            log.warning(
                "broker unreachable, retrying",
                extra={"fields": {"error": str(exc), "retry_in_s": round(delay, 2)}},
            )
            stop.wait(delay)


def _stop_signal() -> StopSignal:
    from klachtradar.runtime.streaming import StopSignal

    stop = StopSignal()
    stop.install()
    return stop


def _parse_options(pairs: list[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--option {pair!r}: expected KEY=VALUE")
        options[key] = value
    return options


def publish_file_to_kafka(
    source: str,
    file: Path | None,
    speed: float | None,
    option: list[str] | None,
    metrics_port: int | None,
) -> None:
    """Publish a file source's posts to <prefix>.posts.raw (bad input to the DLQ).

    Called by ``klachtradar listen --to kafka`` for the sources of
    :mod:`klachtradar.runtime.sources`; live network sources go through ``listener.loop``.
    """
    from klachtradar.backoff import Backoff
    from klachtradar.runtime.sources import open_source
    from klachtradar.runtime.streaming import run_listen

    options = _parse_options(option or [])
    if file is not None:
        options["file"] = str(file)
    if speed is not None:
        options["speed"] = str(speed)
    stop = _stop_signal()
    settings, transport, metrics, readiness = _start("listen", metrics_port, ["topics ready"])
    batches = open_source(source, settings, options)
    try:
        _ensure_topics(transport, stop)
        readiness.mark("topics ready")
        stats = run_listen(
            batches,
            transport,
            transport.topics,
            stop=stop,
            metrics=metrics,
            backoff=Backoff(maximum_s=settings.kafka.retry_backoff_max_s),
        )
    finally:
        transport.close()
    log.info(
        "listen done",
        extra={
            "fields": {
                "records": stats.messages,
                "retries": stats.retries,
                "seconds": round(stats.elapsed_s, 3),
            }
        },
    )


@app.command()
def process(
    group: Group = None,
    metrics_port: MetricsPort = None,
    exit_when_idle: IdleExit = None,
    judges: Annotated[
        int | None,
        typer.Option(
            "--judges",
            min=0,
            max=8,
            help="Worker processes judging (language + classify) one batch ahead "
            "(default: \\[kafka] judge_workers; 0: in this process).",
        ),
    ] = None,
) -> None:
    """Consume <prefix>.posts.raw, classify and enrich, produce scored posts and alerts.

    Ready (log line ``ready``, ``/ready`` 200) once the model is loaded, the judge
    workers run and the group has assigned this member its partitions.
    """
    from concurrent.futures import ThreadPoolExecutor

    from klachtradar.runtime.runner import LookaheadProcessStep, process_step

    stop = _stop_signal()
    base = load_settings()
    group = group or base.kafka.process_group
    workers = base.kafka.judge_workers if judges is None else judges
    conditions = ["model loaded", *(["judges started"] if workers else []), "partitions assigned"]
    settings, transport, metrics, readiness = _start(
        "process", metrics_port, conditions, group=group, settings=base
    )
    topics = transport.topics
    # The group join waits seconds on the broker; the model and the workers load
    # meanwhile, so start-up costs the longer of the two, not their sum.
    if settings.kafka.state == "changelog":  # the changelog is the history, not a local file
        settings = settings.model_copy(deep=True)
        settings.history.backend = "memory"
    with ThreadPoolExecutor(1, thread_name_prefix="load") as loader:
        loading = loader.submit(_load_judging, settings, workers, readiness, metrics)
        state_ready: list[ProcessState | None] = []

        def watch(member: GroupConsumer) -> None:
            state_ready.append(_process_state(settings, transport, loading, member))

        try:
            _join_early(transport, topics.raw, group, stop, watch=watch)
        finally:
            pipeline, pool = loading.result()
    state = state_ready[0] if state_ready else None
    if state is not None and state.history is not None:
        state.history.adopt(pipeline.history)
        pipeline.detect_incidents = False  # the incidents step sees the whole brand
    options: dict[str, Any] = {
        "group": group,
        "max_records": settings.kafka.batch_size,
        "timeout_s": settings.kafka.poll_timeout_s,
        "max_post_bytes": settings.listen.max_post_bytes,
        "on_alert_latency": metrics.observe_arrival_to_alert,
        "state": state,
    }
    if pool is None:

        def step() -> int:
            return process_step(transport, pipeline, topics, **options)

        _consume("process", step, transport, metrics, stop, topics.raw, group, exit_when_idle)
        return
    try:
        lookahead = LookaheadProcessStep(transport, pipeline, topics, pool, **options)

        def finish_in_hand() -> None:
            try:
                lookahead.drain()
            except Exception as exc:  # not committed: the group redelivers it
                log.warning("last batch not finished", extra={"fields": {"error": str(exc)}})

        _consume(
            "process", lookahead, transport, metrics, stop, topics.raw, group, exit_when_idle,
            before_close=finish_in_hand,
        )  # fmt: skip
    finally:
        pool.close()  # on every way out: no worker outlives this process's run


def _process_state(
    settings: Settings,
    transport: KafkaTransport,
    loading: Future[tuple[Pipeline, JudgePool | None]],
    member: GroupConsumer,
) -> ProcessState | None:
    """With ``[kafka] state = "changelog"``: the partition-scoped history over the
    pipeline's history (watching ``member``'s partitions) and the complaints repartition.

    The watcher is registered before the member joins, so no assignment is missed;
    the pipeline's own history is adopted once it is built (moves are only noted until
    the first batch, which comes after that).
    """
    from enrich.history import AuthorHistory
    from klachtradar.runtime.changelog import ChangelogReader
    from klachtradar.runtime.history_state import PartitionedHistory
    from klachtradar.runtime.process_state import ProcessState

    if settings.kafka.state != "changelog":
        return None
    topics = transport.topics
    reader = ChangelogReader(settings.kafka, topics.history_changelog)
    history = PartitionedHistory(AuthorHistory(), reader)  # the pipeline's, once built
    member.watchers.append(history)
    complaints = _topic_partitions(transport, topics.complaints)
    return ProcessState(topics, history, complaint_partitions=complaints)


def _topic_partitions(transport: KafkaTransport, topic: str) -> int:
    """How many partitions ``topic`` has (it exists: topics are ensured first)."""
    from kafka import KafkaConsumer

    from klachtradar.runtime.kafka_transport import client_config

    consumer = KafkaConsumer(**client_config(transport.settings))
    try:
        found = consumer.partitions_for_topic(topic)
    finally:
        consumer.close()
    return len(found) if found else transport.settings.partitions


def _load_judging(
    settings: Settings, workers: int, readiness: Readiness, metrics: StreamMetrics
) -> tuple[Pipeline, JudgePool | None]:
    """The pipeline and, with ``workers``, the judge pool whose workers hold the model.

    With workers, the pipeline's own classifier is deferred: it is loaded only if a
    batch ever has to be judged in this process (see :mod:`classify.deferred`).
    """
    from classify.registry import configured_classifier
    from klachtradar.runtime.pipeline import Pipeline

    if not workers:
        pipeline = Pipeline.from_settings(settings)
        readiness.mark("model loaded")
        return pipeline, None
    from classify.deferred import DeferredClassifier
    from klachtradar.runtime.judging import JudgePool

    # returns once each worker has its model; a worker that dies later is replaced
    pool = JudgePool(settings, processes=workers, on_restart=metrics.judge_restarts.inc)
    readiness.mark("judges started")
    deferred = DeferredClassifier(
        lambda: configured_classifier(settings), name=settings.pipeline.classifier
    )
    pipeline = Pipeline.from_settings(settings, classifier=deferred)
    readiness.mark("model loaded")
    return pipeline, pool


def _join_early(
    transport: KafkaTransport,
    topic: str,
    group: str,
    stop: StopSignal,
    *,
    watch: Callable[[GroupConsumer], None] | None = None,
) -> None:
    """Create missing topics and join ``group`` on ``topic`` before the loop starts
    (best effort: see :meth:`~klachtradar.runtime.kafka_transport.GroupConsumer.join`).

    ``watch`` is handed the member before it joins: partition-scoped state registers
    its watcher there, so it hears of the very first assignment."""
    _ensure_topics(transport, stop)
    s = transport.settings
    member = transport.member(topic, group)
    if watch is not None:
        watch(member)
    member.join(max_records=s.batch_size, timeout_s=s.poll_timeout_s, give_up=stop.is_set)


@app.command()
def incidents(
    group: Group = None,
    metrics_port: MetricsPort = None,
    exit_when_idle: IdleExit = None,
) -> None:
    """Consume <prefix>.complaints (keyed by brand): detect brand incidents over the whole
    brand, produce incident alerts. Run beside ``process`` with ``\\[kafka] state = changelog``.

    Ready once the watchlist is loaded and the group has assigned this member its
    partitions (their state is restored before their first batch).
    """
    from enrich.brand_match import BrandMatcher
    from klachtradar.runtime.changelog import ChangelogReader
    from klachtradar.runtime.incident_stream import IncidentState, incidents_step
    from klachtradar.runtime.pipeline import watchlist_terms

    stop = _stop_signal()
    base = load_settings()
    group = group or base.kafka.incidents_group
    settings, transport, metrics, readiness = _start(
        "incidents", metrics_port, ["watchlist loaded", "partitions assigned"], group=group,
        settings=base,
    )  # fmt: skip
    topics = transport.topics
    _ensure_topics(transport, stop)
    matcher = BrandMatcher.from_file(
        settings.resolve(settings.watchlist.path), backend=settings.enrich.brand_backend
    )
    state = IncidentState(
        settings.incidents,
        watchlist_terms(matcher),
        ChangelogReader(settings.kafka, topics.incidents_changelog),
        raw_partitions=_topic_partitions(transport, topics.raw),
    )
    readiness.mark("watchlist loaded")
    transport.member(topics.complaints, group).watchers.append(state)

    def step() -> int:
        return incidents_step(
            transport,
            state,
            topics,
            group=group,
            max_records=settings.kafka.batch_size,
            timeout_s=settings.kafka.poll_timeout_s,
        )

    try:
        _consume(
            "incidents", step, transport, metrics, stop, topics.complaints, group, exit_when_idle
        )
    finally:
        state.reader.close()


@app.command()
def index(
    sink: Annotated[
        list[str] | None,
        typer.Option(
            "--sink",
            help="Sink, repeatable: embedded, elasticsearch "
            "(default: embedded, plus elasticsearch when \\[elasticsearch] url is set).",
        ),
    ] = None,
    store: Annotated[
        Path | None, typer.Option("--store", help="SQLite store (default: \\[store] path).")
    ] = None,
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="Sink option KEY=VALUE.")
    ] = None,
    group: Group = None,
    metrics_port: MetricsPort = None,
    exit_when_idle: IdleExit = None,
) -> None:
    """Consume <prefix>.posts.scored into the sinks (default: the embedded store)."""
    from klachtradar.runtime.post_sinks import default_sinks, open_sink
    from klachtradar.runtime.runner import index_step
    from klachtradar.runtime.streaming import IndexOutputs, TopicDeadLetters

    options = _parse_options(option or [])
    if store is not None:
        options["store"] = str(store)
    stop = _stop_signal()
    base = load_settings()
    group = group or base.kafka.index_group
    settings, transport, metrics, readiness = _start(
        "index", metrics_port, ["sinks opened", "partitions assigned"], group=group, settings=base
    )
    topics = transport.topics
    sinks = [open_sink(name, settings, options) for name in sink or default_sinks(settings)]
    readiness.mark("sinks opened")
    outputs = IndexOutputs(sinks, TopicDeadLetters(transport, topics))

    def step() -> int:
        return index_step(
            transport,
            outputs,
            topics,
            group=group,
            max_records=settings.kafka.batch_size,
            timeout_s=settings.kafka.poll_timeout_s,
        )

    try:
        _consume("index", step, transport, metrics, stop, topics.scored, group, exit_when_idle)
    finally:
        for opened in sinks:
            opened.close()


@app.command()
def notify(
    store: Annotated[
        Path | None,
        typer.Option(
            "--store", help="Store whose triage claims stop escalations (\\[store] path)."
        ),
    ] = None,
    group: Group = None,
    metrics_port: MetricsPort = None,
    exit_when_idle: IdleExit = None,
) -> None:
    """Consume <prefix>.alerts and send them to Slack, Teams, e-mail and webhooks."""
    from klachtradar.runtime.notify_stream import notify_step
    from klachtradar.runtime.streaming import TopicDeadLetters
    from notify.commands import open_dispatch
    from sink.store import EmbeddedStore

    stop = _stop_signal()
    base = load_settings()
    if store is not None:
        base.store.path = store
    group = group or base.kafka.notify_group
    settings, transport, metrics, readiness = _start(
        "notify", metrics_port, ["outbox opened", "partitions assigned"], group=group, settings=base
    )
    topics = transport.topics
    dead = TopicDeadLetters(transport, topics)
    claims = EmbeddedStore(settings.resolve(settings.store.path))
    dispatch = open_dispatch(
        settings, on_dead=lambda letter: dead.write([letter]), on_escalated=claims.record_escalation
    )
    readiness.mark("outbox opened")

    def step() -> int:
        return notify_step(
            transport,
            dispatch,
            topics,
            group=group,
            dead_letters=dead.write,
            is_claimed=claims.is_handled if settings.alerts.escalation else None,
            max_records=settings.kafka.batch_size,
            timeout_s=settings.kafka.poll_timeout_s,
        )

    try:
        _consume("notify", step, transport, metrics, stop, topics.alerts, group, exit_when_idle)
    finally:
        dispatch.outbox.close()
        claims.close()


def _consume(
    name: str,
    step: Callable[[], int],
    transport: KafkaTransport,
    metrics: StreamMetrics,
    stop: StopSignal,
    topic: str,
    group: str,
    exit_when_idle: float | None,
    *,
    before_close: Callable[[], None] | None = None,
) -> None:
    from klachtradar.backoff import Backoff
    from klachtradar.runtime.streaming import run_consumer

    try:
        _ensure_topics(transport, stop)
        with streaming_gc():  # start-up is done: see klachtradar.runtime.gc_policy
            stats = run_consumer(
                step,
                transport,
                name=name,
                topic=topic,
                group=group,
                stop=stop,
                metrics=metrics,
                backoff=Backoff(maximum_s=transport.settings.retry_backoff_max_s),
                lag_probe=lambda: transport.member(topic, group).lag(),
                exit_when_idle_s=exit_when_idle,
            )
    finally:
        if before_close is not None:
            before_close()
        transport.close()
    log.info(
        f"{name} stopped",
        extra={
            "fields": {
                "messages": stats.messages,
                "batches": stats.batches,
                "retries": stats.retries,
                "seconds": round(stats.elapsed_s, 3),
            }
        },
    )


@dlq_app.command("list")
def dlq_list(
    limit: Annotated[int, typer.Option(min=1, help="At most this many letters.")] = 100,
    stage: Annotated[str | None, typer.Option(help="Only letters of this stage.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    idle: Annotated[float, typer.Option(help="Stop reading after this much silence (s).")] = 2.0,
) -> None:
    """Show the dead letters: where they came from, which stage failed, and why."""
    from klachtradar.runtime.dlq import read_all
    from klachtradar.runtime.kafka_transport import KafkaTransport

    transport = KafkaTransport(load_settings().kafka)
    shown = 0
    for stored in read_all(transport, idle_s=idle):
        if stage is not None and stored.letter.stage != stage:
            continue
        if as_json:
            entry = {"dlq_position": stored.position, **stored.letter.model_dump(mode="json")}
            typer.echo(json.dumps(entry, ensure_ascii=False))
        else:
            letter = stored.letter
            typer.echo(
                f"{stored.position:>10}  {letter.failed_at:%Y-%m-%d %H:%M:%S}  {letter.stage:<8} "
                f"{letter.origin}@{letter.position}  {letter.error[:120]}"
            )
        shown += 1
        if shown >= limit:
            break
    if not as_json:
        typer.echo(f"{shown} dead letter(s)", err=True)


@dlq_app.command("replay")
def dlq_replay(
    stage: Annotated[
        list[str] | None, typer.Option(help="Only letters of this stage (repeatable).")
    ] = None,
    group: Annotated[
        str | None, typer.Option(help="Replay group (default: <prefix>-dlq-replay).")
    ] = None,
    max_attempts: Annotated[
        int,
        typer.Option(
            min=1,
            help="Replays an input gets: letters that failed again after this many are skipped.",
        ),
    ] = 1,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be replayed; send nothing.")
    ] = False,
    idle: Annotated[float, typer.Option(help="Stop after this much silence (s).")] = 2.0,
) -> None:
    """Re-drive dead letters not replayed before, in one pass up to the DLQ's current end.

    Letters dead-lettered while the replay runs (a re-driven input failing again) are
    left for the next replay, so a replay always ends.
    """
    from klachtradar.runtime.dlq import replay
    from klachtradar.runtime.kafka_transport import KafkaTransport

    settings = load_settings()
    transport = KafkaTransport(settings.kafka)
    try:
        report = replay(
            transport,
            group=group or f"{settings.kafka.topic_prefix}-dlq-replay",
            stages=stage or (),
            max_attempts=max_attempts,
            dry_run=dry_run,
            idle_s=idle,
        )
    finally:
        transport.close()
    for line in report.lines():
        typer.echo(line)
