"""``serve --demo``: its own emptied store, and an incident cool-down a person can see."""

from __future__ import annotations

import json
from pathlib import Path

from klachtradar.settings import load_settings
from triage.server import demo_settings, empty_store


def _stream(path: Path, hours: float) -> Path:
    times = ["2026-10-01T00:00:00+00:00", f"2026-10-01T{int(hours):02d}:00:00+00:00"]
    lines = [
        {
            "source": "x",
            "post_id": str(i),
            "text": "@KPN storing",
            "created_at": at,
            "author": {"id": "a", "handle": "a"},
        }
        for i, at in enumerate(times)
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    return path


def test_a_fast_replay_stretches_the_incident_cool_down_to_seconds_of_wall_time(
    tmp_path: Path,
) -> None:
    settings = load_settings()
    settings.demo.incident_visible_seconds = 4.0
    stream = _stream(tmp_path / "s.jsonl", hours=20)  # 20 h of events in 20 s: 3600x
    scaled = demo_settings(settings, stream, duration_s=20.0)
    assert scaled.incidents.cooldown_minutes == 4.0 * 3600 / 60  # 4 s wall = 4 h of events
    assert settings.incidents.cooldown_minutes == 30.0  # the caller's settings untouched
    slow = demo_settings(settings, stream, duration_s=20 * 3600.0)  # real time
    assert slow.incidents.cooldown_minutes == 30.0  # never shorter than configured


def test_the_demo_store_is_emptied_with_its_journal_files(tmp_path: Path) -> None:
    store = tmp_path / "var" / "demo-serve.db"
    store.parent.mkdir()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store}{suffix}").write_text("old")
    other = tmp_path / "var" / "klachtradar.db"
    other.write_text("keep")
    empty_store(store)
    assert list(store.parent.iterdir()) == [other]
