"""Issue 23: ``klachtradar_arrival_to_alert_seconds`` — a post's arrival to its alert produced."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client import generate_latest

from klachtradar.contract import AlertKind, RawPost, utc_now
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.runtime.runner import listen_step, process_step
from klachtradar.runtime.stream_metrics import StreamMetrics
from klachtradar.runtime.transport import InMemoryTransport, Topics
from klachtradar.settings import load_settings
from listener.jsonl import read_jsonl
from tests.conftest import DEMO_FILE

TOPICS = Topics("lat")


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    settings = load_settings()
    settings.history.backend = "memory"
    return Pipeline.from_settings(settings)


def test_process_observes_the_time_from_arrival_to_each_post_alert(pipeline: Pipeline) -> None:
    arrived = utc_now() - timedelta(seconds=3)
    posts = [
        r.model_copy(update={"received_at": arrived})
        for r in read_jsonl(DEMO_FILE)
        if isinstance(r, RawPost)
    ]
    transport = InMemoryTransport()
    listen_step(posts, transport, TOPICS)
    metrics = StreamMetrics()
    while process_step(
        transport,
        pipeline,
        TOPICS,
        max_records=500,
        on_alert_latency=metrics.observe_arrival_to_alert,
    ):
        pass
    post_alerts = [
        m for m in transport.messages(TOPICS.alerts) if m.headers["kind"] == AlertKind.POST.value
    ]
    assert post_alerts, "the demo stream raises post alerts"
    sample = metrics.registry.get_sample_value
    count = sample("klachtradar_arrival_to_alert_seconds_count", {"kind": "post"})
    total = sample("klachtradar_arrival_to_alert_seconds_sum", {"kind": "post"})
    assert count == len(post_alerts)
    assert total is not None and total >= 3 * len(post_alerts)
    assert b"klachtradar_arrival_to_alert_seconds_bucket" in generate_latest(metrics.registry)
