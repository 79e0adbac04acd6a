"""Partition-scoped state: the history and incident detectors restored from their
changelogs give the answers an uninterrupted single process gives."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from enrich.history import AuthorHistory
from enrich.incidents import IncidentDetector
from klachtradar.contract import Alert, AlertKind
from klachtradar.runtime.changelog import Restored
from klachtradar.runtime.history_state import PartitionedHistory
from klachtradar.runtime.incident_stream import IncidentState
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.runtime.runner import listen_step, process_step, status_message
from klachtradar.runtime.transport import InMemoryTransport, Message, OutgoingMessage, Topics
from klachtradar.settings import IncidentSettings, Settings
from klachtradar.stream_events import ComplaintEvent, StatusChange, StreamTick
from tests.conftest import PostFactory

T0 = datetime(2026, 10, 29, 18, 0, tzinfo=UTC)
"""A storm's evening (any fixed time: every test here runs on event time)."""


class FakeChangelog:
    """A changelog topic in memory: partition → messages; restore folds the last value."""

    def __init__(self, topic: str = "c") -> None:
        self.topic = topic
        self.partitions: dict[int, list[OutgoingMessage]] = {}

    def write(self, messages: Iterable[OutgoingMessage]) -> None:
        for m in messages:
            assert m.partition is not None, "changelog writes name their partition"
            self.partitions.setdefault(m.partition, []).append(m)

    def restore(self, partitions: Iterable[int]) -> list[Restored]:
        out = []
        for p in sorted(partitions):
            values: dict[str, bytes] = {}
            for m in self.partitions.get(p, []):
                if m.value:
                    values[m.key or ""] = m.value
                else:
                    values.pop(m.key or "", None)
            out.append(Restored(p, values, len(self.partitions.get(p, [])), 0.0))
        return out


def msg(partition: int, offset: int, key: str | None, value: bytes = b"{}") -> Message:
    return Message(topic="t", key=key, value=value, position=f"{partition}/{offset}")


def test_a_partition_restored_from_the_changelog_has_the_authors_complaints_and_resolutions() -> (
    None
):
    changelog = FakeChangelog()
    first = PartitionedHistory(AuthorHistory(), changelog)  # type: ignore[arg-type]
    first.assigned([0, 1])
    first.prepare([msg(0, 0, "youp"), msg(1, 0, "other")])
    for day in range(4):
        first.history.record("youp", "Odido", f"x:{day}", T0 + timedelta(days=day))
    first.history.record("other", "Odido", "x:o", T0)
    first.history.mark_resolved("x:0")
    changelog.write(first.changelog())

    second = PartitionedHistory(AuthorHistory(), changelog)  # type: ignore[arg-type]
    second.assigned([0])
    kept = second.prepare([msg(0, 1, "youp"), msg(1, 1, "other")])
    assert [m.position for m in kept] == ["0/1"], "partition 1 is not ours"
    later = T0 + timedelta(days=10)
    assert second.history.summary("youp", "Odido", later) == first.history.summary(
        "youp", "Odido", later
    )
    assert second.history.summary("other", "Odido", later).earlier_complaints == 0


def test_a_redelivered_complaint_after_restore_is_not_counted_twice() -> None:
    changelog = FakeChangelog()
    member = PartitionedHistory(AuthorHistory(), changelog)  # type: ignore[arg-type]
    member.assigned([0])
    member.prepare([msg(0, 0, "a")])
    member.history.record("a", "KPN", "x:1", T0)
    changelog.write(member.changelog())
    successor = PartitionedHistory(AuthorHistory(), changelog)  # type: ignore[arg-type]
    successor.assigned([0])
    successor.prepare([msg(0, 0, "a")])
    successor.history.record("a", "KPN", "x:1", T0)  # the same post, redelivered
    assert successor.changelog() == [], "nothing changed"
    assert successor.history.summary("a", "KPN", T0 + timedelta(hours=1)).earlier_complaints == 1


def test_revoking_a_partition_drops_its_authors_and_a_deleted_complaint_is_a_tombstone() -> None:
    changelog = FakeChangelog()
    member = PartitionedHistory(AuthorHistory(), changelog)  # type: ignore[arg-type]
    member.assigned([0])
    member.prepare([msg(0, 0, "a")])
    member.history.record("a", "KPN", "x:1", T0)
    member.history.record("a", "KPN", "x:2", T0 + timedelta(minutes=1))
    member.history.forget(["x:2"])
    changelog.write(member.changelog())
    assert changelog.partitions[0][-1].value == b"", "a removal is a null value"
    member.revoked([0])
    member.prepare([])
    assert member.history.summary("a", "KPN", T0 + timedelta(days=1)).earlier_complaints == 0
    restored = changelog.restore([0])[0]
    assert len(restored.values) == 1


# -- incidents ---------------------------------------------------------------------------------


def storm() -> list[tuple[int, ComplaintEvent]]:
    """(raw partition, event): a quiet baseline, a burst of 20 in five minutes, quiet again."""
    times = [T0 + timedelta(minutes=20 * i) for i in range(3)]
    times += [T0 + timedelta(hours=1, seconds=15 * i) for i in range(20)]
    times += [T0 + timedelta(hours=2, minutes=10 * i) for i in range(8)]
    return [
        (
            i % 2,
            ComplaintEvent(
                brand="Ziggo",
                doc_id=f"x:{i:03d}",
                created_at=at,
                text=f"storing internet weer {i}",
                risk=40,
                raw_partition=i % 2,
            ),
        )
        for i, at in enumerate(times)
    ]


def reference(settings: IncidentSettings) -> list[Alert]:
    detector = IncidentDetector(settings)
    alerts: list[Alert] = []
    for _, event in storm():
        detector.take(event.created_at, event.doc_id, [event.brand], event.text, event.risk)
        alerts += detector.advance_to(event.created_at)
    return alerts


def stream_messages(lag_partition_1: int) -> list[Message]:
    """The storm as the complaints partition sees it from two process members, the member
    of raw partition 1 running ``lag_partition_1`` events behind; each event is followed
    by its raw partition's tick."""
    by_raw: dict[int, list[ComplaintEvent]] = {0: [], 1: []}
    for raw, event in storm():
        by_raw[raw].append(event)
    order: list[ComplaintEvent] = []
    zero, one = by_raw[0], by_raw[1]
    order += zero[:lag_partition_1]
    for i in range(max(len(zero), len(one))):
        if i < len(one):
            order.append(one[i])
        if i + lag_partition_1 < len(zero):
            order.append(zero[i + lag_partition_1])
    out: list[Message] = []
    for event in order:
        tick = StreamTick(raw_partition=event.raw_partition, latest=event.created_at)
        for value in (event.model_dump_json(), tick.model_dump_json()):
            out.append(msg(0, len(out), "Ziggo", value.encode()))
    return out


def run(state: IncidentState, messages: list[Message], changelog: FakeChangelog) -> list[Alert]:
    alerts, dead = state.observe(state.prepare(messages))
    assert not dead
    changelog.write(state.changelog())
    return alerts


def test_the_minimum_watermark_gives_a_single_process_incidents_whatever_the_pace() -> None:
    settings = IncidentSettings()
    expected = reference(settings)
    assert [a.kind for a in expected] == [AlertKind.INCIDENT, AlertKind.INCIDENT_OVER]
    changelog = FakeChangelog()
    state = IncidentState(settings, {}, changelog, raw_partitions=2)  # type: ignore[arg-type]
    state.assigned([0])
    got = run(state, stream_messages(lag_partition_1=6), changelog)
    assert [(a.alert_id, a.doc_id, a.post_count) for a in got] == [
        (a.alert_id, a.doc_id, a.post_count) for a in expected
    ]


def test_a_rebalance_during_a_storm_neither_loses_nor_double_counts_complaints() -> None:
    settings = IncidentSettings()
    expected = reference(settings)
    messages = stream_messages(lag_partition_1=3)
    cut, committed = 30, 24  # the old owner flushed its state at 30; its commit was at 24
    changelog = FakeChangelog()
    old = IncidentState(settings, {}, changelog, raw_partitions=2)  # type: ignore[arg-type]
    old.assigned([0])
    alerts = run(old, messages[:cut], changelog)
    old.revoked([0])
    new = IncidentState(settings, {}, changelog, raw_partitions=2)  # type: ignore[arg-type]
    new.assigned([0])
    alerts += run(new, messages[committed:], changelog)  # redelivered from the last commit
    unique = {a.alert_id: a for a in alerts}
    assert [(a.alert_id, a.doc_id, a.post_count) for a in unique.values()] == [
        (a.alert_id, a.doc_id, a.post_count) for a in expected
    ]
    over = json.loads(changelog.partitions[0][-1].value or b"{}")
    assert over, "the state was changelogged"


# -- status records ------------------------------------------------------------------------------


def test_a_resolve_on_the_raw_topic_ends_the_authors_unanswered_streak(
    settings: Settings, make_post: PostFactory
) -> None:
    settings.history.backend = "memory"
    text = "@KPNwebcare al 3 dagen geen internet, belachelijk. Ik zeg mijn abonnement op!"
    first = make_post(text, author_id="youp", created_at=T0)
    second = make_post(text, author_id="youp", created_at=T0 + timedelta(days=1))
    transport, topics = InMemoryTransport(), Topics("t")
    pipeline = Pipeline.from_settings(settings)
    listen_step([first], transport, topics)
    process_step(transport, pipeline, topics)
    change = StatusChange(doc_id=first.doc_id, author_id="youp", status="resolved", changed_at=T0)
    transport.produce(topics.raw, [status_message(change)])
    listen_step([second], transport, topics)
    assert process_step(transport, pipeline, topics) == 2
    summary = pipeline.history.summary("youp", "KPN", T0 + timedelta(days=2))
    assert summary.earlier_complaints == 2 and summary.unanswered == 1
    assert summary.first_unanswered_at == second.created_at, "the streak restarted"
