"""Wiring for ``klachtradar serve``: store, clock, live feed, optional demo replay, uvicorn.

With Elasticsearch (``[elasticsearch] url`` or ``--backend elasticsearch``) the store
file is a working copy that :class:`~triage.es_mirror.MirrorLoop` keeps in sync in
a background thread; the demo replay is embedded-only.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from klachtradar.settings import Settings
from triage.clock import Clock, StreamClock, SystemClock
from triage.database import TriageDatabase
from triage.feedback import FeedbackStore
from triage.live import ChangeFeed
from triage.sla import SlaPolicy
from triage.workflow import Workflow

if TYPE_CHECKING:
    from collections.abc import Callable

    from fastapi import FastAPI

    from triage.demo_feed import DemoPipelineFactory
    from triage.es_mirror import EsMirror, StatusSink
    from triage.rescoring import RescorerFactory


def _first_event(path: Path) -> datetime | None:
    from klachtradar.contract import RawPost
    from listener.jsonl import read_jsonl

    for record in read_jsonl(path):
        if isinstance(record, RawPost):
            return record.created_at
    return None


def open_mirror(settings: Settings, database: TriageDatabase) -> EsMirror:
    """The Elasticsearch working copy of ``database``; one-line :class:`SinkError` if the
    cluster does not answer (the message names the host, never a password)."""
    from klachtradar.errors import SinkError
    from sink.es.connection import describe
    from sink.es.queries import ElasticsearchQueries
    from triage.es_mirror import EsMirror

    triage = settings.triage
    mirror = EsMirror(
        database,
        ElasticsearchQueries.from_settings(settings),
        window_days=triage.es_window_days,
        page_size=triage.es_page_size,
        overlap_s=triage.es_overlap_s,
        status_sink=_status_sink(settings),
    )
    try:
        mirror.check()
    except SinkError as exc:
        mirror.close()
        raise SinkError(
            f"{exc} at {describe(settings.elasticsearch)}; start it, or serve the embedded "
            "store with --backend embedded",
            retryable=exc.retryable,
        ) from exc
    return mirror


def _status_sink(settings: Settings) -> StatusSink | None:
    """With ``[triage] status_to_kafka``: status write-backs also go to the raw topic."""
    if not settings.triage.status_to_kafka:
        return None
    from triage.status_topic import KafkaStatusSink

    return KafkaStatusSink(settings.kafka)


def empty_store(path: Path) -> None:
    """Remove a demo store and its journal files: the queue then fills as the replay
    runs, instead of starting with the weeks of posts ``klachtradar demo`` wrote."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def demo_settings(settings: Settings, first_file: Path, duration_s: float) -> Settings:
    """The pipeline's settings for a paced replay: the incident cool-down (event time)
    stretched so a banner stays up ``[demo] incident_visible_seconds`` of wall time.

    At six weeks in twenty seconds, 30 minutes of event time pass in 10 ms: the banner
    would open and close between two refreshes of the page.
    """
    from listener.jsonl import time_span_seconds

    span = time_span_seconds(first_file)
    if duration_s <= 0 or span <= 0:
        return settings
    speed = span / duration_s  # event seconds per wall second
    visible_minutes = settings.demo.incident_visible_seconds * speed / 60
    incidents = settings.incidents
    if visible_minutes <= incidents.cooldown_minutes:
        return settings
    scaled = incidents.model_copy(update={"cooldown_minutes": visible_minutes})
    return settings.model_copy(update={"incidents": scaled})


def build_app(
    settings: Settings,
    *,
    replay_files: list[Path],
    duration_s: float,
    backend: str = "auto",
    demo_pipeline: DemoPipelineFactory | None = None,
    served_model: Callable[[Settings], str] | None = None,
    rescorer: RescorerFactory | None = None,
) -> FastAPI:
    """The FastAPI app, wired from settings; a demo replay starts with the server.

    ``demo_pipeline`` builds the pipeline the replay runs through (the CLI passes the
    runtime's); it is needed only with ``replay_files``. ``served_model`` names the model
    the pipeline serves (``name@version``, from the registry as the pipeline reads it;
    the CLI passes it, since this app does not import the classifiers): the page header
    shows it. ``rescorer`` builds what re-scores a conversation after an action
    (without it, scores stay as stored).
    """
    from klachtradar.errors import KlachtradarError
    from sink.queries import uses_elasticsearch
    from triage.app import TriageApp, create_app
    from triage.demo_feed import DemoFeed
    from triage.es_mirror import MirrorLoop
    from triage.report_html import report_view

    elasticsearch = uses_elasticsearch(settings, backend)
    if elasticsearch and replay_files:
        raise KlachtradarError(
            "serve --demo replays into the embedded store and cannot be combined with "
            "Elasticsearch: use --backend embedded (or unset [elasticsearch] url)"
        )
    if replay_files and demo_pipeline is None:
        raise KlachtradarError("serve --demo needs the pipeline to replay through")
    path = settings.resolve(settings.store.path)
    if replay_files:
        empty_store(path)
        print(f"demo: replaying onto a fresh store {path} (emptied at every start)", flush=True)
    database = TriageDatabase(path)
    feed = ChangeFeed(path)
    loop: MirrorLoop | None = None
    if elasticsearch:
        loop = MirrorLoop(
            open_mirror(settings, database), poll_s=settings.triage.es_poll_s, on_change=feed.notify
        )
    clock: Clock
    demo: DemoFeed | None = None
    if replay_files and demo_pipeline is not None:
        stream_clock = StreamClock(_first_event(replay_files[0]))
        clock = stream_clock
        demo = DemoFeed(
            settings,
            replay_files,
            duration_s=duration_s,
            clock=stream_clock,
            feed=feed,
            pipeline=demo_pipeline(demo_settings(settings, replay_files[0], duration_s)),
        )
    else:
        clock = SystemClock()
    sla = SlaPolicy.from_settings(settings.triage)
    workflow = Workflow(
        database,
        clock,
        sla,
        on_resolved=demo.mark_resolved if demo is not None else None,
        on_status=loop.mirror.enqueue_status if loop is not None else None,
        rescorer=rescorer(settings) if rescorer is not None else None,
        answered_below_unanswered=settings.triage.answered_below_unanswered,
    )
    on_startup = demo.start if demo is not None else loop.start if loop is not None else None
    triage = TriageApp(
        settings.triage,
        workflow,
        FeedbackStore(database, clock),
        feed,
        clock,
        report_view=report_view(path, settings.triage, clock),
        demo=demo is not None,
        on_startup=on_startup,
        on_shutdown=loop.close if loop is not None else None,
        notice=loop.notice if loop is not None else None,
        served_model=(lambda: served_model(settings)) if served_model is not None else None,
        demo_done=demo.done.is_set if demo is not None else None,
    )
    return create_app(triage)


def run_server(
    settings: Settings,
    *,
    host: str,
    port: int,
    replay_files: list[Path],
    duration_s: float,
    backend: str = "auto",
    demo_pipeline: DemoPipelineFactory | None = None,
    served_model: Callable[[Settings], str] | None = None,
    rescorer: RescorerFactory | None = None,
) -> None:
    """Serve until interrupted; the demo replay (if any) starts once the server is up."""
    import uvicorn

    app = build_app(
        settings,
        replay_files=replay_files,
        duration_s=duration_s,
        backend=backend,
        demo_pipeline=demo_pipeline,
        served_model=served_model,
        rescorer=rescorer,
    )
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    print(f"klachtradar triage on http://{host}:{port}/", flush=True)
    server.run()
