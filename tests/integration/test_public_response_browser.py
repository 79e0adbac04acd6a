"""The brand's public replies in a real browser: the PostNL ``grof`` story of the demo.

``klachtradar serve --demo --replay`` plays the story (Sanne's lost parcel, PostNL's
polite reply, the rude one, the apology) through the real pipeline; once the replay has
played to the end (``/healthz`` says ``done``), the complainant's card must say when
PostNL answered in public — on the card and on her earlier complaint under it — and the
report for PostNL must show the public-response numbers and the first-response plot.
Screenshots go where the other browser tests put theirs (``test-artifacts/triage/``).
Chromium is Debian's (``scripts/install-system-deps.sh``), never ``playwright install``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.browser_support import (
    ARTIFACTS,
    ROOT,
    chromium,
    free_port,
    stop,
    watch_problems,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COMPLAINANT = "sanne_vd_berg"
CARD_LINE = re.compile(r"^publiek beantwoord na \d+ (min|uur) door @PostNL$")
FIRST_ANSWER = "publiek beantwoord na 25 min door @PostNL"  # 10:05 → 10:30 (24.9 min)


def _story(path: Path) -> int:
    """The demo's lines of the PostNL grof story (everything naming Sanne), in order."""
    demo = (ROOT / "data" / "demo" / "stream.jsonl").read_bytes().splitlines()
    lines = [line for line in demo if COMPLAINANT.encode() in line]  # the file holds a bad line
    path.write_bytes(b"\n".join(lines) + b"\n")
    return len(lines)


def _health(url: str) -> dict[str, str] | None:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
            return dict(json.loads(response.read()))
    except OSError:
        return None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``serve --demo --replay story.jsonl`` on a free port; yields its URL once the
    replay has played to the end."""
    work = tmp_path_factory.mktemp("public-response-browser")
    story = work / "story.jsonl"
    assert _story(story) >= 5
    port = free_port()
    env = {
        **os.environ,
        "KLACHTRADAR_STORE__PATH": str(work / "kr.db"),
        "KLACHTRADAR_DEMO__STORE": str(work / "kr.db"),
        "KLACHTRADAR_DEADLETTER__PATH": str(work / "dead.jsonl"),
        "KLACHTRADAR_HOME": str(ROOT),
        "KLACHTRADAR_PIPELINE__CLASSIFIER": "linear",  # the UI on the fast model, as elsewhere
    }
    log = (work / "server.log").open("w")
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "klachtradar", "serve", "--demo"),
            *("--replay", str(story), "--duration", "2"),
            *("--host", "127.0.0.1", "--port", str(port)),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90  # a cold machine imports the web stack and models slowly
    try:
        while (health := _health(url)) is None or health.get("demo") != "done":
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"replay did not finish: {health}\n{(work / 'server.log').read_text()}")
            time.sleep(0.1)  # polling the readiness signal, not waiting for a guess
        yield url
    finally:
        stop(process)
        log.close()


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[Any]:
    with chromium() as context:
        yield watch_problems(context.new_page())  # none may happen


def test_the_complainants_card_says_when_postnl_answered_in_public(page: Any, server: str) -> None:
    page.goto(f"{server}/?status=all&brand=PostNL")
    card = page.locator(f'#queue .card[data-author="{COMPLAINANT}"]')
    card.wait_for(state="visible", timeout=10_000)
    assert card.count() == 1  # one card for her conversation
    line = card.locator("p.public-response").inner_text()  # the card's own line
    assert CARD_LINE.match(line), line
    card.locator("details.thread > summary").click()
    earlier = card.locator(".thread-post .public-response")
    earlier.first.wait_for(state="visible")
    assert FIRST_ANSWER in earlier.all_inner_texts()
    card.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "08-public-response-card.png"))
    assert page.problems == []


def test_the_postnl_report_shows_the_public_response_and_its_plot(page: Any, server: str) -> None:
    page.goto(f"{server}/report?brand=PostNL&since=7d")
    section = page.locator("#public-response")
    plot = section.locator("#plot-first-response img")
    plot.wait_for(state="visible", timeout=10_000)
    assert (
        page.evaluate("() => document.querySelector('#plot-first-response img').naturalWidth") > 0
    )  # the SVG decoded and drew
    rate = section.locator("#kpi-public-rate").inner_text()
    assert re.fullmatch(r"\d+%", rate) and rate != "0%"
    assert section.locator("#kpi-public-median").inner_text() != "—"
    tones = {
        row.get_attribute("class").removeprefix("tone-"): int(row.locator("td.num").inner_text())
        for row in section.locator("#tones tr").all()
    }
    assert tones["grof"] >= 1 and tones["professioneel"] >= 2  # the rude reply, the polite two
    section.scroll_into_view_if_needed()
    section.screenshot(path=str(ARTIFACTS / "09-report-public-response.png"))
    page.screenshot(path=str(ARTIFACTS / "09b-report-postnl.png"), full_page=True)
    assert page.problems == []
