"""The ``notify`` step on the in-memory transport (Kafka's delivery semantics): its own
group, bad messages to the dead letters, redelivery absorbed by the outbox's dedup."""

from __future__ import annotations

from pathlib import Path

from klachtradar.contract import DeadLetter, Priority
from klachtradar.runtime.notify_stream import notify_step
from klachtradar.runtime.transport import InMemoryTransport, OutgoingMessage, Topics, encode
from klachtradar.settings import AlertRoute, AlertSettings
from notify.dispatch import AlertDispatch
from notify.outbox import Outbox
from tests.unit.test_notify_dispatch import T0, Clock, Recorder, post_alert

TOPICS = Topics("kr")


def test_notify_step_queues_commits_and_sends_and_a_redelivery_sends_nothing(
    tmp_path: Path,
) -> None:
    transport = InMemoryTransport()
    chat = Recorder()
    dispatch = AlertDispatch(
        AlertSettings(routes={"chat": AlertRoute(channel="teams", url="http://x")}),
        Outbox(tmp_path / "n.db"),
        {"chat": chat},
        clock=Clock(T0),
    )
    batch = [OutgoingMessage(key="KPN", value=encode(post_alert(d, Priority.P1))) for d in "ab"]
    transport.produce(TOPICS.alerts, [*batch, OutgoingMessage(key=None, value=b"{not json")])
    dead: list[DeadLetter] = []
    assert notify_step(transport, dispatch, TOPICS, group="g", dead_letters=dead.extend) == 3
    assert chat.headlines == ["P1 melding over KPN"] * 2
    assert transport.lag(TOPICS.alerts, "g") == 0  # committed
    assert transport.lag(TOPICS.alerts, "process-group") == 3  # its own group
    [letter] = dead
    assert (letter.stage, letter.position) == ("notify", "2")
    transport.produce(TOPICS.alerts, batch)  # as Kafka redelivers after a crash
    assert notify_step(transport, dispatch, TOPICS, group="g", dead_letters=dead.extend) == 2
    assert len(chat.sent) == 2 and len(dead) == 1
