"""Issue 23: incidents follow event time, deterministically, whatever the arrival pace.

Seen before: two clean runs of the same posts gave 590 and 548 incident alerts, and an
unpaced backlog opened ten times the incidents of the paced replay. Specified here:
the demo stream (with its ``storing`` story: ~50 Ziggo complaints in ten minutes)
gives the same incident alerts — brands, opening posts, times — in batches of 1 or
500, paced by a fake clock, or with neighbours arriving out of order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

import pytest

from klachtradar.contract import Alert, AlertKind, RawPost
from klachtradar.ports import PipelineOutput, Record
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.runtime.runner import run_embedded
from klachtradar.settings import load_settings
from listener.jsonl import JsonlReplay, read_jsonl
from tests.conftest import DEMO_FILE

IncidentKey = tuple[str, str | None, str | None, datetime, int | None]


class Collect:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def write(self, output: PipelineOutput) -> None:
        self.alerts.extend(output.alerts)


def fresh_pipeline() -> Pipeline:
    settings = load_settings()
    settings.history.backend = "memory"
    # Pinned, not the suite-wide env pin: the module fixture below is built before it.
    settings.pipeline.classifier = "linear"
    return Pipeline.from_settings(settings)


def incidents(batches: Iterable[Sequence[Record]]) -> list[IncidentKey]:
    """The incident alerts of one run from scratch: kind, brand, opening post, time, size."""
    out = Collect()
    run_embedded(batches, fresh_pipeline(), out)
    return [
        (a.kind.value, a.brand, a.doc_id, a.created_at, a.post_count)
        for a in out.alerts
        if a.kind is not AlertKind.POST
    ]


def demo_records() -> list[Record]:
    return list(read_jsonl(DEMO_FILE))


def in_batches(records: list[Record], size: int) -> Iterator[list[Record]]:
    for start in range(0, len(records), size):
        yield records[start : start + size]


class FakeClock:
    """Virtual time for a paced replay on a busy machine: every sleep oversleeps (five
    times as long, plus a second), so the posts due meanwhile arrive in one batch."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += 5 * seconds + 1.0


@pytest.fixture(scope="module")
def one_by_one() -> list[IncidentKey]:
    return incidents(in_batches(demo_records(), 1))


def test_the_storing_story_opens_a_ziggo_incident_at_one_of_its_posts(
    one_by_one: list[IncidentKey],
) -> None:
    opened = [key for key in one_by_one if key[0] == "incident" and key[1] == "Ziggo"]
    assert opened, one_by_one
    assert all(doc_id is not None for _, _, doc_id, _, _ in opened)


def test_batches_of_one_and_of_five_hundred_give_the_same_incidents(
    one_by_one: list[IncidentKey],
) -> None:
    assert incidents(in_batches(demo_records(), 500)) == one_by_one


def test_a_paced_replay_on_a_fake_clock_gives_the_same_incidents(
    one_by_one: list[IncidentKey],
) -> None:
    fake = FakeClock()
    replay = JsonlReplay(DEMO_FILE, speed=600.0, batch_size=50, clock=fake.clock, sleep=fake.sleep)
    batches = list(replay.batches())
    assert len({len(b) for b in batches}) > 2, "pacing cut the stream into uneven batches"
    assert incidents(batches) == one_by_one


def test_neighbours_arriving_out_of_order_within_the_lateness_change_nothing(
    one_by_one: list[IncidentKey],
) -> None:
    records = demo_records()
    lateness = load_settings().incidents.allowed_lateness_seconds
    swapped = 0
    for i in range(0, len(records) - 1, 2):
        a, b = records[i], records[i + 1]
        posts = isinstance(a, RawPost) and isinstance(b, RawPost)
        if posts and abs((b.created_at - a.created_at).total_seconds()) < lateness:  # type: ignore[union-attr]
            records[i], records[i + 1] = b, a
            swapped += 1
    assert swapped > 20
    assert incidents(in_batches(records, 7)) == one_by_one
