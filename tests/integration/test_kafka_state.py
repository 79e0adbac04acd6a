"""Scale-out without wrong answers, on a real broker (tansu): author history and
incidents survive SIGKILLed members and rebalances, and match one process.

One scenario, three ``process`` members and two ``incidents`` members, the demo stream
published in three segments (no pacing, no sleeps: each cut is where the story is):

1. up to the Youp-like author's third complaint; then the member owning his raw
   partition is SIGKILLed and a fourth member started;
2. up to the middle of the Ziggo outage storm; once the ``incidents`` group has
   committed everything, the member owning Ziggo's complaints partition is SIGKILLed
   and a third one started;
3. the rest.

The reference is the same stages in one process (the embedded runner, memory history).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from klachtradar.contract import Alert, AlertKind, Priority, ScoredPost, parse_raw_post
from klachtradar.ports import PipelineOutput
from klachtradar.runtime.local_broker import LocalBroker
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.runtime.runner import run_embedded
from klachtradar.settings import KafkaSettings, load_settings
from tests.integration.kafka_support import (
    DEMO,
    Processes,
    TailRecord,
    TopicTail,
    assigned_partitions,
    committed_offsets,
    kafka_settings,
    process_env,
    sigkill_and_reap,
    tansu,
    unique_prefix,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

__all__ = ["tansu"]  # the fixture, re-exported for pytest

YOUP = "jochemvandalen"
STORM_BRAND = "Ziggo"
STORM_MIDDLE = "2026-10-29T20:00:00+00:00"
"""Between the incident's opening (19:44 in one process) and its close (20:30)."""
FAST_GROUPS: dict[str, object] = {"session_timeout_ms": 3000, "heartbeat_interval_ms": 500}
LINEAR = {"KLACHTRADAR_PIPELINE__CLASSIFIER": "linear"}


@dataclass
class Collected:
    """What the embedded reference run produced."""

    scored: list[ScoredPost] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)

    def write(self, output: PipelineOutput) -> None:
        self.scored += output.scored
        self.alerts += output.alerts


@dataclass
class Scenario:
    reference: Collected
    scored: list[TailRecord]
    alerts: list[TailRecord]
    youp_partition: int
    killed_process: str
    killed_incidents: str
    restore_logs: list[dict[str, object]]
    storm_alerts_at_kill: list[str]
    """The storm's incident alerts already out when its incidents member was killed."""


def demo_lines() -> list[tuple[datetime | None, bytes]]:
    """The demo's lines with their post's time (``None``: a deliberately bad line)."""
    out: list[tuple[datetime | None, bytes]] = []
    for line in DEMO.read_bytes().splitlines():
        try:
            out.append((parse_raw_post(line).created_at, line))
        except Exception:
            out.append((None, line))
    return out


def single_process_reference() -> Collected:
    settings = load_settings()
    settings.pipeline.classifier = "linear"
    settings.history.backend = "memory"
    posts = [parse_raw_post(line) for at, line in demo_lines() if at is not None]
    collected = Collected()
    pipeline = Pipeline.from_settings(settings)
    run_embedded([posts[i : i + 200] for i in range(0, len(posts), 200)], pipeline, collected)
    return collected


def incident_alerts(alerts: list[Alert]) -> set[tuple[str, object, object]]:
    kinds = (AlertKind.INCIDENT, AlertKind.INCIDENT_OVER)
    return {(a.alert_id, a.doc_id, a.post_count) for a in alerts if a.kind in kinds}


@pytest.fixture(scope="module")
def scenario(tansu: LocalBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    tmp = tmp_path_factory.mktemp("state")
    reference = single_process_reference()
    youp = [p for p in reference.scored if p.post.author.handle == YOUP]
    youp_author = youp[0].post.author.id
    cut_youp = youp[3].post.created_at  # segment 1 ends after his third complaint
    cut_storm = datetime.fromisoformat(STORM_MIDDLE)
    lines = demo_lines()
    segments: list[list[bytes]] = [[], [], []]
    for at, line in lines:
        index = 0 if at is None or at < cut_youp else 1 if at < cut_storm else 2
        segments[index].append(line)
    paths = []
    for number, segment in enumerate(segments):
        path = tmp / f"segment{number}.jsonl"
        path.write_bytes(b"\n".join(segment) + b"\n")
        paths.append(path)
    expected_posts = [
        sum(1 for at, _ in lines if at is not None and at < cut) for cut in (cut_youp, cut_storm)
    ] + [len({p.doc_id for p in reference.scored})]  # a re-emitted (answered) post counts once

    settings = kafka_settings(tansu, unique_prefix("state"), batch_size=200, **FAST_GROUPS)
    topics = f"{settings.topic_prefix}"
    procs = Processes(tmp, process_env(settings, tmp / "store.db", **LINEAR))
    scored = TopicTail(settings, f"{topics}.posts.scored")
    alerts = TopicTail(settings, f"{topics}.alerts")
    raw = TopicTail(settings, f"{topics}.posts.raw")
    try:
        for n in (1, 2, 3):
            procs.start(f"process-{n}", "process", "--judges", "0")
        for n in (1, 2):
            procs.start(f"incidents-{n}", "incidents")
        procs.wait_ready("process-1", "process-2", "process-3", "incidents-1", "incidents-2")

        publish(procs, "listen-1", paths[0])
        scored.until(distinct_at_least(expected_posts[0]), 120, "segment 1 scored")
        youp_partition = next(r.partition for r in raw.poll() if r.key == youp_author)
        victim = owner(procs, "process", (1, 2, 3), f"{topics}.posts.raw", youp_partition)
        sigkill_and_reap(procs_by_name(procs, victim))
        procs.start("process-4", "process", "--judges", "0")

        publish(procs, "listen-2", paths[1])
        scored.until(distinct_at_least(expected_posts[1]), 120, "segment 2 scored")
        complaints = f"{topics}.complaints"
        wait_for(
            lambda: caught_up(settings, f"{topics}-incidents", complaints),
            60,
            "incidents caught up mid-storm",
        )
        at_kill = sorted(
            str(r.value["kind"])
            for r in alerts.poll()
            if r.value.get("brand") == STORM_BRAND and str(r.value["kind"]).startswith("incident")
        )
        storm_partition = storm_partition_of(settings, complaints)
        incidents_victim = owner(procs, "incidents", (1, 2), complaints, storm_partition)
        sigkill_and_reap(procs_by_name(procs, incidents_victim))
        procs.start("incidents-3", "incidents")

        publish(procs, "listen-3", paths[2])
        scored.until(distinct_at_least(expected_posts[2]), 120, "every post scored")
        expected_incidents = incident_alerts(reference.alerts)
        alerts.until(
            lambda records: expected_incidents <= alert_keys(records),
            90,
            "the reference's incident alerts",
        )
        restore_logs = [
            e
            for name, _ in procs.running
            for e in procs.log(name)
            if e.get("event") in ("history restored", "incident state restored")
        ]
        yield Scenario(
            reference,
            scored.poll(),
            alerts.poll(),
            youp_partition,
            victim,
            incidents_victim,
            restore_logs,
            at_kill,
        )
    finally:
        for tail in (scored, alerts, raw):
            tail.close()
        procs.stop_all()


def publish(procs: Processes, name: str, path: Path) -> None:
    listen = procs.start(name, "listen", "--to", "kafka", "--source", "jsonl", "--file", str(path))
    assert listen.wait(timeout=60) == 0


def distinct_at_least(count: int) -> Callable[[list[TailRecord]], bool]:
    """A tail condition: ``count`` distinct doc ids read (redelivered copies count once)."""
    return lambda records: len({r.value.get("doc_id") for r in records}) >= count


def procs_by_name(procs: Processes, name: str) -> subprocess.Popen[bytes]:
    return dict(procs.running)[name]


def alert_keys(records: list[TailRecord]) -> set[tuple[str, object, object]]:
    """(alert id, doc id, post count) of each alert read."""
    return {
        (str(r.value["alert_id"]), r.value.get("doc_id"), r.value.get("post_count"))
        for r in records
    }


def owner(procs: Processes, kind: str, numbers: tuple[int, ...], topic: str, partition: int) -> str:
    """The living member of ``kind`` last assigned ``partition`` of ``topic``."""
    for n in numbers:
        name = f"{kind}-{n}"
        if partition in assigned_partitions(procs, name, topic):
            return name
    raise AssertionError(f"no {kind} member owns {topic}/{partition}")


def caught_up(settings: KafkaSettings, group: str, topic: str) -> bool:
    tail = TopicTail(settings, topic)
    try:
        tail.until(lambda r: bool(r), 10, "complaints")
        for _ in range(5):
            tail.poll()
        ends = tail.next_offset
    finally:
        tail.close()
    committed = committed_offsets(settings, group, topic)
    return all(committed.get(p, 0) >= end for p, end in ends.items())


def storm_partition_of(settings: KafkaSettings, topic: str) -> int:
    tail = TopicTail(settings, topic)
    try:
        records = tail.until(
            lambda rs: any(r.key == STORM_BRAND for r in rs), 10, "a storm complaint"
        )
        return next(r.partition for r in records if r.key == STORM_BRAND)
    finally:
        tail.close()


# -- the specification --------------------------------------------------------------------------


def test_the_youp_story_after_a_sigkill_and_a_new_member_scores_as_in_one_process(
    scenario: Scenario,
) -> None:
    expected = {
        p.doc_id: (p.risk.score, p.risk.priority.value, p.risk.reasons)
        for p in scenario.reference.scored
        if p.post.author.handle == YOUP
    }
    copies = [r.value for r in scenario.scored if r.value.get("doc_id") in expected]
    assert {c["doc_id"] for c in copies} == set(expected)
    for copy in copies:  # every copy, redelivered ones included
        risk = copy["risk"]
        assert isinstance(risk, dict)
        assert (risk["score"], risk["priority"], risk["reasons"]) == expected[str(copy["doc_id"])]
    reasons = " | ".join(expected[max(expected)][2])
    assert "klacht in" in reasons and "geen reactie" in reasons


def test_the_youp_p1_fires_on_the_same_post_as_in_one_process(scenario: Scenario) -> None:
    ref = [p for p in scenario.reference.scored if p.post.author.handle == YOUP]
    first_p1 = next(p.doc_id for p in ref if p.risk.priority is Priority.P1)
    docs = {p.doc_id: p.post.created_at for p in ref}
    p1 = [
        str(r.value["doc_id"])
        for r in scenario.alerts
        if r.value.get("doc_id") in docs and r.value.get("priority") == "P1"
    ]
    assert p1 and min(p1, key=lambda d: docs[d]) == first_p1


def test_the_storm_opens_one_incident_at_the_same_post_and_closes_it_after_a_rebalance(
    scenario: Scenario,
) -> None:
    ref = incident_alerts(scenario.reference.alerts)
    kinds = (AlertKind.INCIDENT, AlertKind.INCIDENT_OVER)
    storm = [a for a in scenario.reference.alerts if a.brand == STORM_BRAND and a.kind in kinds]
    assert [a.kind for a in storm] == [AlertKind.INCIDENT, AlertKind.INCIDENT_OVER]
    assert set(scenario.storm_alerts_at_kill) == {"incident"}, "killed while it was open"
    got = alert_keys([r for r in scenario.alerts if r.value.get("kind") in kinds])
    assert got == ref, "same incidents, same opening post, same counts: none lost or doubled"


def test_partitions_that_moved_were_restored_from_their_changelogs(scenario: Scenario) -> None:
    kinds = {str(e["event"]) for e in scenario.restore_logs}
    assert kinds == {"history restored", "incident state restored"}
    assert any(int(str(e["changelog_records"])) > 0 for e in scenario.restore_logs)
    print(json.dumps(scenario.restore_logs[-3:]))
