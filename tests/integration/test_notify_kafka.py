"""``klachtradar notify`` on a real Kafka-protocol broker (tansu): the alerts topic in its
own consumer group, a chat outage, and a SIGKILL in the middle of a delivery."""

from __future__ import annotations

import json
import signal
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from klachtradar.contract import Alert, AlertKind, Priority
from klachtradar.runtime.kafka_transport import KafkaTransport
from klachtradar.runtime.local_broker import LocalBroker
from klachtradar.runtime.transport import OutgoingMessage, encode
from klachtradar.settings import KafkaSettings
from tests.integration.kafka_support import (
    Processes,
    kafka_settings,
    process_env,
    tansu,
    unique_prefix,
)
from tests.integration.notify_support import SECRET, Recorder, chat_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]
__all__ = ["chat_server", "tansu"]


def alerts(count: int) -> list[Alert]:
    at = datetime.now(UTC) - timedelta(minutes=3)
    return [
        Alert(
            alert_id=f"post:doc{i}:P1",
            kind=AlertKind.POST,
            created_at=at,
            brand="KPN",
            priority=Priority.P1,
            risk=80,
            title=f"@klant{i}: storing",
            doc_id=f"doc{i}",
        )
        for i in range(count)
    ]


def publish(settings: KafkaSettings, batch: list[Alert]) -> None:
    transport = KafkaTransport(settings)
    try:
        transport.ensure_topics()
        messages = [OutgoingMessage(key=a.brand, value=encode(a)) for a in batch]
        transport.produce(transport.topics.alerts, messages)
        transport.flush()
    finally:
        transport.close()


def notify_env(settings: KafkaSettings, tmp_path: Path, server: Recorder) -> dict[str, str]:
    route = {"hook": {"channel": "webhook", "url": server.url("/hook"), "secret_env": "KR_HOOK"}}
    return process_env(
        settings,
        tmp_path / "store.db",
        KR_HOOK=SECRET,
        KLACHTRADAR_ALERTS__ROUTES=json.dumps(route),
        KLACHTRADAR_ALERTS__OUTBOX_PATH=str(tmp_path / "notify.db"),
        KLACHTRADAR_ALERTS__RETRY_INITIAL_S="0.05",
        KLACHTRADAR_ALERTS__RETRY_MAX_S="0.2",
    )


def test_a_notifier_killed_mid_delivery_loses_nothing_and_sends_nothing_twice(
    tansu: LocalBroker, tmp_path: Path, chat_server: Recorder
) -> None:
    settings = kafka_settings(tansu, unique_prefix("notify-kill"))
    publish(settings, alerts(12))
    chat_server.hold_after = 5  # the sixth request hangs: the notifier is killed in it
    procs = Processes(tmp_path, notify_env(settings, tmp_path, chat_server))
    try:
        victim = procs.start("notify-1", "notify")
        procs.wait_ready("notify-1")
        assert chat_server.held.wait(60), "the notifier reached the sixth delivery"
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        chat_server.hold_after = None
        chat_server.release.set()
        procs.start("notify-2", "notify")
        chat_server.wait_for(12, timeout=60)
        procs.terminate(procs.running[-1][1])
    finally:
        procs.stop_all()

    accepted = [r.headers["X-Klachtradar-Delivery"] for r in chat_server.accepted]
    assert sorted(accepted) == sorted(f"hook:post:doc{i}:P1" for i in range(12))
    assert len(set(accepted)) == len(accepted), "nothing accepted twice"
    seen = Counter(r.headers["X-Klachtradar-Delivery"] for r in chat_server.seen)
    # Only the message in flight at the kill went out again, under the same delivery id
    # (the receiver never answered it; one that had could drop the repeat by that id).
    assert [n for n in seen.values() if n > 1] == [2]
    assert accepted[:5] == [f"hook:post:doc{i}:P1" for i in range(5)]  # one partition: in order
    assert all(r.signature_ok() for r in chat_server.accepted)


def test_a_chat_outage_of_500s_and_429s_is_waited_out_and_each_alert_delivered_once(
    tansu: LocalBroker, tmp_path: Path, chat_server: Recorder
) -> None:
    settings = kafka_settings(tansu, unique_prefix("notify-outage"))
    chat_server.script = [500, 503, 429, 500, 429]
    publish(settings, alerts(4))
    procs = Processes(tmp_path, notify_env(settings, tmp_path, chat_server))
    try:
        procs.start("notify", "notify")
        procs.wait_ready("notify")
        chat_server.wait_for(4, timeout=60)
        assert procs.terminate(procs.running[0][1]) == 0
    finally:
        procs.stop_all()
    accepted = [r.headers["X-Klachtradar-Delivery"] for r in chat_server.accepted]
    assert accepted == [f"hook:post:doc{i}:P1" for i in range(4)]  # once each, in order
    assert len(chat_server.seen) == 4 + 5
    retries = [e for e in procs.log("notify") if e.get("event") == "delivery failed, retrying"]
    assert len(retries) == 5
