"""`klachtradar listen` as a real process against local fixture servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from klachtradar.contract import RawPost, parse_raw_post
from klachtradar.runtime.streaming import TransportPublisher
from klachtradar.runtime.transport import InMemoryTransport, Topics
from klachtradar.settings import load_settings
from listener.checkpoint import CheckpointStore
from listener.fixtures import payloads as p
from listener.fixtures.bluesky_server import AppViewFixtureServer, JetstreamFixtureServer
from listener.fixtures.mastodon_server import MastodonFixtureServer
from listener.fixtures.x_server import XFixtureServer
from listener.listen_command import run_listen

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BRAND = [i for i, e in enumerate(p.EXAMPLES) if e.brand]
N = len(p.EXAMPLES)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLACHTRADAR_")}
    env.update(
        KLACHTRADAR_HOME=str(ROOT),
        KLACHTRADAR_LISTEN__CHECKPOINT_PATH=str(tmp_path / "listener.db"),
        KLACHTRADAR_LISTEN__IDLE_TICK_SECONDS="0.05",
        KLACHTRADAR_LISTEN__FLUSH_INTERVAL_SECONDS="0.1",
        **extra,
    )
    return env


def _listen(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "klachtradar", "listen", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _frames() -> list[tuple[int, dict[str, Any] | str]]:
    return [(p.jetstream_time_us(i), p.jetstream_post(i)) for i in range(N)]


def test_dry_run_bluesky_prints_normalised_posts_as_json_lines(tmp_path: Path) -> None:
    profiles = {p.did(i): p.bluesky_profile(i) for i in range(N)}
    with JetstreamFixtureServer(_frames()) as js, AppViewFixtureServer(profiles=profiles) as av:
        env = _env(
            tmp_path,
            KLACHTRADAR_LISTEN__BLUESKY__JETSTREAM_URL=js.url,
            KLACHTRADAR_LISTEN__BLUESKY__APPVIEW_URL=av.base_url,
        )
        done = _listen(["--source", "bluesky", "--dry-run", "--max-posts", str(len(BRAND))], env)
    assert done.returncode == 0, done.stderr
    posts = [parse_raw_post(line) for line in done.stdout.splitlines()]
    assert [post.author.handle for post in posts] == [
        f"{p.EXAMPLES[i].handle}.bsky.social" for i in BRAND
    ]
    assert f"listen bluesky: {len(BRAND)} posts" in done.stderr


def test_dry_run_x_and_mastodon_print_posts_too(tmp_path: Path) -> None:
    messages = [p.stream_message(i) for i in BRAND]
    statuses = [("update", p.mastodon_status(i)) for i in range(N)]
    with (
        XFixtureServer(connections=[messages], token="tok") as x,
        MastodonFixtureServer(connections=[statuses], token="tok") as masto,
    ):
        env = _env(
            tmp_path,
            KLACHTRADAR_LISTEN__X__API_BASE_URL=x.base_url,
            KLACHTRADAR_LISTEN__MASTODON__BASE_URL=masto.base_url,
            X_BEARER_TOKEN="tok",
            MASTODON_ACCESS_TOKEN="tok",
        )
        from_x = _listen(["--source", "x", "--dry-run", "--max-posts", "3"], env)
        from_mastodon = _listen(["--source", "mastodon", "--dry-run", "--max-posts", "3"], env)
    for done, source in ((from_x, "x"), (from_mastodon, "mastodon")):
        assert done.returncode == 0, done.stderr
        posts = [parse_raw_post(line) for line in done.stdout.splitlines()]
        assert len(posts) >= 3 and {post.source for post in posts} == {source}
    assert "tok" not in from_x.stderr


def test_an_auth_failure_exits_with_one_clear_line(tmp_path: Path) -> None:
    with XFixtureServer(connections=[[]], token="right") as x:
        env = _env(tmp_path, KLACHTRADAR_LISTEN__X__API_BASE_URL=x.base_url, X_BEARER_TOKEN="bad")
        done = _listen(["--source", "x", "--dry-run"], env)
    assert done.returncode == 2
    assert "refused the bearer token (401)" in done.stderr
    assert "Traceback" not in done.stderr


def test_sigterm_flushes_and_saves_the_checkpoint(tmp_path: Path) -> None:
    with JetstreamFixtureServer(_frames()) as js:
        env = _env(
            tmp_path,
            KLACHTRADAR_LISTEN__BLUESKY__JETSTREAM_URL=js.url,
            KLACHTRADAR_LISTEN__BLUESKY__APPVIEW_URL="",
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "klachtradar", "listen", "--source", "bluesky", "--dry-run"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in BRAND]
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert len([json.loads(line) for line in lines]) == len(BRAND)
    with CheckpointStore(tmp_path / "listener.db") as store:
        state = store.load("bluesky")
    assert state is not None and state["cursor"] == p.jetstream_time_us(N - 1)


def test_listen_publishes_posts_to_the_transport_keyed_by_author(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames = _frames()
    frames.insert(1, (p.jetstream_time_us(0), "not json"))
    transport = InMemoryTransport()
    topics = Topics()
    with JetstreamFixtureServer(frames) as js:
        for key, value in _env(
            tmp_path,
            KLACHTRADAR_LISTEN__BLUESKY__JETSTREAM_URL=js.url,
            KLACHTRADAR_LISTEN__BLUESKY__APPVIEW_URL="",
        ).items():
            monkeypatch.setenv(key, value)
        settings = load_settings()
        stats = run_listen(
            "bluesky",
            settings,
            TransportPublisher(transport, topics),
            max_posts=len(BRAND),
            stop=threading.Event(),
        )
    raw = transport.messages(topics.raw)
    assert stats.posts == len(BRAND) == len(raw)
    assert raw[0].key == p.did(0)
    assert isinstance(parse_raw_post(raw[0].value), RawPost)
    assert [json.loads(m.value)["stage"] for m in transport.messages(topics.dlq)] == ["decode"]


def test_without_dry_run_posts_go_through_the_pipeline_into_the_store(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    with JetstreamFixtureServer(_frames()) as js:
        env = _env(
            tmp_path,
            KLACHTRADAR_LISTEN__BLUESKY__JETSTREAM_URL=js.url,
            KLACHTRADAR_LISTEN__BLUESKY__APPVIEW_URL="",
            KLACHTRADAR_DEADLETTER__PATH=str(tmp_path / "dead.jsonl"),
        )
        listened = _listen(
            ["--source", "bluesky", "--max-posts", str(len(BRAND)), "--store", str(store)], env
        )
    assert listened.returncode == 0, listened.stderr
    top = subprocess.run(
        [
            sys.executable,
            "-m",
            "klachtradar",
            "top",
            "--json",
            "--limit",
            "50",
            "--store",
            str(store),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    stored = [json.loads(line) for line in top.stdout.splitlines()]
    assert stored and all(row["doc_id"].startswith("bluesky:at://") for row in stored)
    assert {"KPN", "Odido"} <= {brand for row in stored for brand in row["brands"]}
