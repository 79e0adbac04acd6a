"""The live feed and the stream clock behind the SSE endpoint."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from tests.unit.triage_support import T0, fill_store, raw_post
from triage.clock import StreamClock
from triage.live import ChangeFeed

COMPLAINT = "@KPN mijn internet is alweer weg, al drie dagen geen verbinding. Belachelijk slecht!"


def test_feed_reports_alerts_written_by_another_connection(tmp_path: Path) -> None:
    path = tmp_path / "kr.db"
    fill_store(path, [raw_post("0", "Leuk weer vandaag", handle="dirk")])
    feed = ChangeFeed(path)
    assert feed.check() is None  # nothing new since the feed opened
    fill_store(path, [raw_post("1", COMPLAINT, handle="anna", followers=900_000, reposts=300)])
    change = feed.check()
    assert change is not None
    assert [a["doc_id"] for a in change.alerts if a["kind"] == "post"] == ["x:1"]
    assert feed.arrival_ms("x:1") == change.arrived_ms
    assert feed.check() is None  # each change is reported once


def test_a_local_writers_notify_time_is_the_arrival_time(tmp_path: Path) -> None:
    path = tmp_path / "kr.db"
    fill_store(path, [raw_post("0", "Leuk weer vandaag", handle="dirk")])
    feed = ChangeFeed(path)
    written = time.time() - 0.5
    fill_store(path, [raw_post("1", COMPLAINT, handle="anna", followers=900_000, reposts=300)])
    feed.notify(written)
    change = feed.check()
    assert change is not None
    assert change.arrived_ms == int(written * 1000)


def test_sse_events_carry_ids_never_post_text(tmp_path: Path) -> None:
    path = tmp_path / "kr.db"
    fill_store(path, [raw_post("0", "Leuk weer vandaag", handle="dirk")])
    feed = ChangeFeed(path)
    fill_store(path, [raw_post("1", COMPLAINT, handle="anna", followers=900_000, reposts=300)])
    change = feed.check()
    assert change is not None
    event = change.as_sse()
    assert event.startswith("event: change\ndata: ")
    assert "internet" not in event


def test_stream_clock_follows_the_newest_event_and_never_goes_back() -> None:
    clock = StreamClock(T0)
    clock.advance_to(T0 + timedelta(days=3))
    assert clock.now() - (T0 + timedelta(days=3)) < timedelta(seconds=1)
    clock.advance_to(T0 + timedelta(days=1))
    assert clock.now() >= T0 + timedelta(days=3)
