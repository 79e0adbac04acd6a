"""JSONL replay: bad lines become dead letters, pacing follows the posts' timestamps."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from klachtradar.contract import DeadLetter, RawPost
from klachtradar.errors import SourceError
from listener.jsonl import JsonlReplay, read_jsonl, time_span_seconds
from tests.conftest import PostFactory


def write_lines(path: Path, lines: list[str | bytes]) -> Path:
    path.write_bytes(b"\n".join(x if isinstance(x, bytes) else x.encode() for x in lines) + b"\n")
    return path


def test_malformed_lines_become_dead_letters_with_file_line_and_field(
    tmp_path: Path, make_post: PostFactory
) -> None:
    good = make_post().model_dump_json()
    path = write_lines(
        tmp_path / "in.jsonl",
        [good, "{not json", '{"source": "x"}', "", "[1, 2]", "café".encode("latin-1"), good],
    )
    records = list(read_jsonl(path))
    assert [type(r) for r in records] == [
        RawPost,
        DeadLetter,
        DeadLetter,
        DeadLetter,
        DeadLetter,
        RawPost,
    ]
    letters = [r for r in records if isinstance(r, DeadLetter)]
    assert [d.position for d in letters] == ["line 2", "line 3", "line 5", "line 6"]
    assert all(d.origin == str(path) for d in letters)
    assert "post_id" in letters[1].error and "text" in letters[1].error
    assert letters[3].error == "not UTF-8 at byte 3"
    assert letters[3].raw_base64 is not None
    assert base64.b64decode(letters[3].raw_base64) == "café".encode("latin-1"), "exact bytes"
    assert letters[0].raw == "{not json" and letters[0].raw_base64 is None


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_an_unreadable_file_is_one_clear_source_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "nope.jsonl" if kind == "missing" else tmp_path
    with pytest.raises(SourceError, match=str(path)):
        list(read_jsonl(path))


def test_fast_replay_batches_by_size(tmp_path: Path, make_post: PostFactory) -> None:
    path = write_lines(tmp_path / "in.jsonl", [make_post().model_dump_json() for _ in range(10)])
    sizes = [len(b) for b in JsonlReplay(path, speed=None, batch_size=4).batches()]
    assert sizes == [4, 4, 2]


def test_paced_replay_waits_according_to_event_time_and_speed(
    tmp_path: Path, make_post: PostFactory
) -> None:
    # Posts one minute apart at speed 60 → one second apart on the (virtual) wall clock.
    path = write_lines(tmp_path / "in.jsonl", [make_post().model_dump_json() for _ in range(3)])
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        now[0] += seconds

    replay = JsonlReplay(path, speed=60, clock=lambda: now[0], sleep=sleep)
    batches = list(replay.batches())
    assert slept == [1.0, 1.0]
    assert [len(b) for b in batches] == [1, 1, 1]


def test_time_span_covers_first_to_last_post(tmp_path: Path, make_post: PostFactory) -> None:
    path = write_lines(tmp_path / "in.jsonl", [make_post().model_dump_json() for _ in range(4)])
    assert time_span_seconds(path) == 180.0


def test_the_demo_stream_is_valid_but_for_its_deliberate_bad_lines() -> None:
    path = Path(__file__).resolve().parents[2] / "data" / "demo" / "stream.jsonl"
    records = list(read_jsonl(path))
    posts = [r for r in records if isinstance(r, RawPost)]
    assert len(posts) >= 1200
    assert len({p.doc_id for p in posts}) == len(posts)
    assert sum(isinstance(r, DeadLetter) for r in records) == 8
    followers = [p.author.followers for p in posts if p.author.followers is not None]
    assert min(followers) <= 10 and max(followers) >= 1_000_000
    assert json.loads(path.read_text(encoding="utf-8", errors="replace").splitlines()[0])
