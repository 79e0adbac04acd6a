"""Wiring for ``klachtradar serve``: store, clock, live feed, optional demo replay, uvicorn."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from klachtradar.settings import Settings
from sink.triage.clock import Clock, StreamClock, SystemClock
from sink.triage.database import TriageDatabase
from sink.triage.feedback import FeedbackStore
from sink.triage.live import ChangeFeed
from sink.triage.sla import SlaPolicy
from sink.triage.workflow import Workflow

if TYPE_CHECKING:
    from fastapi import FastAPI


def _first_event(path: Path) -> datetime | None:
    from klachtradar.contract import RawPost
    from listener.jsonl import read_jsonl

    for record in read_jsonl(path):
        if isinstance(record, RawPost):
            return record.created_at
    return None


def build_app(settings: Settings, *, replay_files: list[Path], duration_s: float) -> FastAPI:
    """The FastAPI app, wired from settings; a demo replay starts with the server."""
    from sink.triage.app import TriageApp, create_app
    from sink.triage.demo_feed import DemoFeed
    from sink.triage.report_html import report_view

    path = settings.resolve(settings.store.path)
    database = TriageDatabase(path)
    feed = ChangeFeed(path)
    clock: Clock
    demo: DemoFeed | None = None
    if replay_files:
        stream_clock = StreamClock(_first_event(replay_files[0]))
        clock = stream_clock
        demo = DemoFeed(
            settings, replay_files, duration_s=duration_s, clock=stream_clock, feed=feed
        )
    else:
        clock = SystemClock()
    sla = SlaPolicy.from_settings(settings.triage)
    workflow = Workflow(
        database, clock, sla, on_resolved=demo.mark_resolved if demo is not None else None
    )
    triage = TriageApp(
        settings.triage,
        workflow,
        FeedbackStore(database, clock),
        feed,
        clock,
        report_view=report_view(path, settings.triage, clock),
        demo=demo is not None,
        on_startup=demo.start if demo is not None else None,
    )
    return create_app(triage)


def run_server(
    settings: Settings, *, host: str, port: int, replay_files: list[Path], duration_s: float
) -> None:
    """Serve until interrupted; the demo replay (if any) starts once the server is up."""
    import uvicorn

    app = build_app(settings, replay_files=replay_files, duration_s=duration_s)
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    print(f"klachtradar triage on http://{host}:{port}/", flush=True)
    server.run()
