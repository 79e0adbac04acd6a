"""A post deleted at its source leaves the triage queue live, in a real browser.

``klachtradar serve`` shows the stored queue in headless Chromium; a second process
replays a Mastodon recording whose ``delete`` event names the post on screen. The card
must disappear without a reload: the store's tombstone reaches the browser over the
SSE feed (``removed``) and the queue refetch no longer holds the post.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from klachtradar.contract import Author, Engagement, RawPost
from tests.integration.browser_support import ARTIFACTS, ROOT, chromium, free_port, stop

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
COMPLAINT = "@KPNwebcare al 3 dagen geen internet, belachelijk. Ik zeg mijn abonnement op!"


def post(post_id: str, handle: str) -> RawPost:
    return RawPost(
        source="mastodon",
        post_id=post_id,
        url=f"https://mastodon.nl/@{handle}/{post_id}",
        text=COMPLAINT,
        lang="nl",
        created_at=NOW,
        author=Author(id=f"id-{handle}", handle=handle, followers=90_000),
        engagement=Engagement(reposts=40, likes=300),
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A store with two complaints, and ``klachtradar serve`` on it; stopped afterwards."""
    work = tmp_path_factory.mktemp("triage-delete")
    env = {
        **os.environ,
        "KLACHTRADAR_STORE__PATH": str(work / "kr.db"),
        "KLACHTRADAR_DEADLETTER__PATH": str(work / "dead.jsonl"),
        "KLACHTRADAR_LISTEN__CHECKPOINT_PATH": str(work / "listener.db"),
        "KLACHTRADAR_HOME": str(ROOT),
    }
    posts = work / "posts.jsonl"
    posts.write_text(
        "".join(p.model_dump_json() + "\n" for p in (post("801", "youp"), post("802", "anna"))),
        encoding="utf-8",
    )
    cli = [sys.executable, "-m", "klachtradar"]
    subprocess.run([*cli, "replay", str(posts), "--fast", "--quiet"], env=env, check=True)
    port = free_port()
    log = (work / "server.log").open("w")
    args = [*cli, "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"server did not start: {(work / 'server.log').read_text()}")
            time.sleep(0.1)
    yield {"url": url, "env": env, "work": work}
    stop(process)
    log.close()


def card_ids(page: Any) -> list[str]:
    ids: list[str] = page.evaluate(
        "() => [...document.querySelectorAll('#queue .card')].map(c => c.dataset.docId)"
    )
    return ids


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as context:
        yield context


def test_a_deleted_post_disappears_from_the_open_queue_without_a_reload(
    browser: Any, server: dict[str, Any]
) -> None:
    page = browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        page.goto(server["url"] + "/")
        page.wait_for_selector("#conn.live", timeout=10_000)
        page.wait_for_function(
            "() => document.querySelectorAll('#queue .card').length === 2", timeout=10_000
        )
        assert sorted(card_ids(page)) == ["mastodon:801", "mastodon:802"]
        page.evaluate("window.__notReloaded = true")

        recording = server["work"] / "delete.sse"
        recording.write_text(":thump\n\nevent: delete\ndata: 801\n\n", encoding="utf-8")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "klachtradar",
                "listen",
                "--source",
                "mastodon",
                "--file",
                str(recording),
            ],
            env=server["env"],
            check=True,
            capture_output=True,
        )
        page.wait_for_function(
            "() => [...document.querySelectorAll('#queue .card')].length === 1", timeout=10_000
        )
        page.screenshot(path=str(ARTIFACTS / "06-deleted-post-gone.png"))
        assert card_ids(page) == ["mastodon:802"]
        assert page.evaluate("window.__notReloaded") is True, "no reload: the SSE feed did it"
        with urllib.request.urlopen(f"{server['url']}/fragments/live") as response:
            assert "mastodon:801" not in response.read().decode()
        assert problems == []
    finally:
        page.close()
