"""The triage app in a real browser: headless Debian Chromium driven by Playwright.

One server (``klachtradar serve --demo``) replays the demo stream through the real
pipeline while the test watches the queue like an agent: the Youp-like card must reach
the top within a second of its arrival (timestamps: the server's write time on the card
vs. the browser's first render), be claimed and resolved, relabelled and exported; then
attacker-controlled posts, injected through the pipeline by a second process, must
render as inert text. Screenshots go to ``test-artifacts/triage/``.

Chromium comes from Debian (``scripts/install-system-deps.sh``); ``playwright install``
is never used.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "triage"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEMO_SECONDS = 24
AGENT = "Anna de Vries"
MARK = "xsstest"
XSS_TEXT = f"@bol {MARK} pakket kwijt, waardeloos <script>window.__xss=1</script>"
XSS_IMG = f'@bol {MARK} alweer niet bezorgd, belachelijk <img src=x onerror="window.__xss=2">'
XSS_HANDLE = "<script>window.__xss=3</script>"
XSS_NAME = '<img src=x onerror="window.__xss=4">'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _xss_stream(path: Path) -> None:
    """Ten complaints about bol in two minutes (an incident), every field hostile."""
    start = datetime(2026, 11, 9, 7, 0, tzinfo=UTC)
    lines = []
    for i in range(10):
        at = start + timedelta(seconds=12 * i)
        lines.append(
            {
                "source": "x",
                "post_id": f"xss-{i}",
                "url": "javascript:window.__xss=5" if i % 2 else f"https://x.com/h/status/{i}",
                "text": XSS_TEXT if i % 2 else XSS_IMG,
                "created_at": at.isoformat(),
                "author": {
                    "id": f"evil-{i}",
                    "handle": XSS_HANDLE if i == 0 else f"evil{i}",
                    "name": XSS_NAME,
                    "followers": 90_000 + i,
                },
            }
        )
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``klachtradar serve --demo`` on a free port, with its own store; stopped afterwards."""
    work = tmp_path_factory.mktemp("triage-browser")
    port = _free_port()
    env = {
        **os.environ,
        "KLACHTRADAR_STORE__PATH": str(work / "kr.db"),
        "KLACHTRADAR_DEMO__STORE": str(work / "kr.db"),  # serve --demo's own store
        "KLACHTRADAR_DEADLETTER__PATH": str(work / "dead.jsonl"),
        "KLACHTRADAR_HOME": str(ROOT),
    }
    log = (work / "server.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "klachtradar",
            "serve",
            "--demo",
            "--duration",
            str(DEMO_SECONDS),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60  # a cold machine imports the web stack slowly
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"server did not start: {(work / 'server.log').read_text()}")
            time.sleep(0.1)
    first = {"url": url}
    early_total = _get_json(first, "/api/queue", status="all")["total"]
    yield {
        "url": url,
        "env": env,
        "work": work,
        "early_total": early_total,
        "log": work / "server.log",
    }
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail("no /usr/bin/chromium: run scripts/install-system-deps.sh")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1360, "height": 1000},
            locale="nl-NL",
            timezone_id="UTC",
        )
        yield context
        context.close()


@pytest.fixture(scope="module")
def page(browser: Any, server: dict[str, Any]) -> Iterator[Any]:
    page = browser.new_page()
    page.problems = []  # CSP violations, script errors and dialogs: none may happen
    page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.on("dialog", lambda d: (page.problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.goto(f"{server['url']}/?priority=P1,P2")
    page.wait_for_selector("#conn.live", timeout=10_000)
    page.evaluate(INCIDENT_WATCH)
    page.fill("#agent", AGENT)
    yield page
    page.close()


INCIDENT_WATCH = """() => {
  // Records when an incident banner was first and last on screen, on every DOM change.
  const seen = (window.__incident = { first: 0, last: 0, brand: null });
  new MutationObserver(() => {
    const banner = document.querySelector('#incidents .incident');
    if (!banner) return;
    const now = Date.now();
    if (!seen.first) { seen.first = now; seen.brand = banner.dataset.brand; }
    seen.last = now;
  }).observe(document.querySelector('#live'), { childList: true, subtree: true });
}"""


def _top_card(page: Any) -> dict[str, Any]:
    return page.evaluate(
        """() => { const c = document.querySelector('#queue .card');
                   return c ? {...c.dataset} : null; }"""
    )


def test_youp_like_card_reaches_the_top_within_a_second_of_arriving(page: Any) -> None:
    loaded_ms = page.evaluate("Date.now()")
    deadline = time.monotonic() + DEMO_SECONDS + 10
    top = None
    while time.monotonic() < deadline:
        top = _top_card(page)
        if (
            top
            and top.get("author") == "jochemvandalen"
            and top.get("arrivedAt")
            and int(top["arrivedAt"]) > loaded_ms
        ):
            break
        page.wait_for_timeout(50)
    else:
        pytest.fail(f"no live jochemvandalen card at the top; last top card: {top}")
    latency_ms = int(top["renderedAt"]) - int(top["arrivedAt"])
    page.screenshot(path=str(ARTIFACTS / "01-youp-on-top.png"))
    (ARTIFACTS / "latency.json").write_text(
        json.dumps({"arrival_to_render_ms": latency_ms, "doc_id": top["docId"]})
    )
    assert top["brand"] == "Odido"
    assert 0 <= latency_ms < 1000, f"arrival → render took {latency_ms} ms"
    page.youp = top["docId"]


def test_agent_claims_and_resolves_the_youp_card(page: Any, server: dict[str, Any]) -> None:
    doc_id = page.youp
    others = page.evaluate(
        """youp => [...document.querySelectorAll('#queue .card')]
                     .filter(c => c.dataset.docId !== youp)
                     .map(c => { c.__kept = true; return c.dataset.docId; })""",
        doc_id,
    )
    card = page.locator(f'.card[data-doc-id="{doc_id}"]')
    card.locator('button[data-action="claim"]').click()
    page.wait_for_selector(f'.card[data-doc-id="{doc_id}"][data-status="claimed"]')
    replaced = page.evaluate(
        """ids => ids.filter(id => {
               const c = document.querySelector(`.card[data-doc-id="${CSS.escape(id)}"]`);
               return c && !c.__kept; })""",
        others,
    )
    assert replaced == []  # unchanged cards keep their DOM node: no click lands in the void
    assert AGENT in card.locator(".status-badge").inner_text()
    page.screenshot(path=str(ARTIFACTS / "02-claimed.png"))
    card.locator('button[data-action="resolve"]').click()
    form = card.locator("form.resolve-form")
    form.locator('input[name="note"]').fill("DM gestuurd, monteur ingepland")
    page.screenshot(path=str(ARTIFACTS / "03-resolve-form.png"))
    form.locator('button[type="submit"]').click()
    page.wait_for_selector(f'.card[data-doc-id="{doc_id}"]', state="detached")
    history = _get_json(server, "/api/posts/history", doc_id=doc_id)
    assert [(h["action"], h["user"]) for h in history] == [("claim", AGENT), ("resolve", AGENT)]
    assert history[1]["detail"]["note"] == "DM gestuurd, monteur ingepland"
    resolved = _get_json(server, "/api/queue", status="resolved", q="")
    assert doc_id in [p["doc_id"] for p in resolved["posts"]]
    assert next(p for p in resolved["posts"] if p["doc_id"] == doc_id)["responded_at"]


def test_agent_corrects_a_label_and_it_is_exported_for_training(
    page: Any, server: dict[str, Any]
) -> None:
    doc_id = page.locator("#queue .card").first.get_attribute("data-doc-id")
    card = page.locator(f'.card[data-doc-id="{doc_id}"]')  # the queue keeps moving
    card.locator('button[data-action="label"]').click()
    form = card.locator("form.label-form")
    form.locator('select[name="sentiment"]').select_option("negatief")
    form.locator('select[name="intent"]').select_option("klacht")
    for box in form.locator('input[name="cues"]').all():
        box.set_checked(box.get_attribute("value") in ("media", "churn"))
    page.screenshot(path=str(ARTIFACTS / "04-label-form.png"))
    form.locator('button[type="submit"]').click()
    page.wait_for_selector(f'.card[data-doc-id="{doc_id}"] .correction')
    out = server["work"] / "feedback.jsonl"
    subprocess.run(
        [sys.executable, "-m", "klachtradar", "feedback", "export", "--out", str(out)],
        env=server["env"],
        check=True,
        capture_output=True,
    )
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    record = next(r for r in records if r["id"] == doc_id)
    assert record["sentiment"] == "negatief"
    assert record["intent"] == "klacht"
    assert sorted(record["cues"]) == ["churn", "media"]
    assert record["brand"] and record["text"]
    assert set(record) == {"id", "text", "sentiment", "intent", "cues", "brand"}


def test_hostile_posts_from_the_pipeline_render_as_inert_text(
    page: Any, server: dict[str, Any]
) -> None:
    stream = server["work"] / "xss.jsonl"
    _xss_stream(stream)
    subprocess.run(
        [sys.executable, "-m", "klachtradar", "replay", str(stream), "--fast", "--quiet"],
        env=server["env"],
        check=True,
        capture_output=True,
    )
    page.select_option('select[name="priority"]', "")
    page.fill("#q", MARK)
    page.wait_for_function(
        """mark => { const cards = [...document.querySelectorAll('#queue .card')];
                     return cards.length === 10
                       && cards.every(c =>
                            c.querySelector('.text').textContent.includes(mark)); }""",
        arg=MARK,
        timeout=10_000,
    )
    page.wait_for_selector('.incident[data-brand="bol"]', timeout=10_000)
    page.screenshot(path=str(ARTIFACTS / "05-xss-inert.png"))
    assert page.evaluate("window.__xss") is None
    texts = page.locator("#queue .card .text").all_inner_texts()
    assert any("<script>window.__xss=1</script>" in t for t in texts)
    assert any('<img src=x onerror="window.__xss=2">' in t for t in texts)
    authors = page.locator("#queue .card .author").all_inner_texts()
    assert "@" + XSS_HANDLE in authors
    assert XSS_NAME in page.locator("#queue .card .name").all_inner_texts()
    assert page.locator('a[href^="javascript"]').count() == 0
    assert page.locator("#queue script, #queue img, #incidents script, #incidents img").count() == 0
    banner = page.locator('.incident[data-brand="bol"]').inner_text()
    assert "Incident bij bol" in banner
    assert MARK in banner  # its examples, as text
    assert page.problems == []


def test_report_page_renders_its_plots(page: Any, server: dict[str, Any]) -> None:
    page.goto(f"{server['url']}/report?brand=Odido&since=6w")
    images = page.locator("figure img")
    assert images.count() == 4
    for i in range(4):
        assert images.nth(i).evaluate("img => img.complete && img.naturalWidth > 100")
    complaints = int(page.locator("#kpi-complaints").inner_text())
    assert complaints > 5
    assert int(page.locator("#kpi-answered").inner_text()) >= 1  # the Youp card
    page.screenshot(path=str(ARTIFACTS / "06-report.png"), full_page=True)
    assert page.problems == []


@pytest.fixture(scope="module")
def es_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The demo indexed into a real ES-API server (noida-db); ``serve --backend
    elasticsearch`` on it with an empty working copy."""
    pytest.importorskip("elasticsearch")
    from elasticsearch import Elasticsearch

    from tests.integration import triage_es_support as support
    from tests.integration.noida_es import NoidaElasticsearch, noida_binary

    if noida_binary() is None:
        pytest.fail("noida-db is not installed (pip install -e '.[dev]')")
    with (
        NoidaElasticsearch(tmp_path_factory.mktemp("noida-browser")) as es_url,
        Elasticsearch(es_url, max_retries=0) as client,
    ):
        work = tmp_path_factory.mktemp("triage-es-browser")
        settings = support.indexed(es_url, client, support.demo_output(), work)
        with support.es_server(settings, es_url, work) as server:
            yield server


def test_elasticsearch_backed_queue_shows_the_youp_card_on_top(
    browser: Any, es_server: dict[str, Any]
) -> None:
    deadline = time.monotonic() + 20
    while _get_json(es_server, "/api/queue", status="all")["total"] < 1500:  # first sync
        assert time.monotonic() < deadline, "the working copy did not fill from Elasticsearch"
        time.sleep(0.2)
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{es_server['url']}/?priority=P1,P2")
    page.wait_for_selector("#conn.live", timeout=10_000)
    top = _top_card(page)
    assert top["author"] == "jochemvandalen"
    assert top["brand"] == "Odido"
    assert page.locator("#backend-notice").count() == 0  # Elasticsearch is reachable
    page.screenshot(path=str(ARTIFACTS / "07-elasticsearch-youp-on-top.png"))
    assert problems == []
    page.close()


def _get_json(server: dict[str, Any], path: str, **params: str) -> Any:
    from urllib.parse import urlencode

    with urllib.request.urlopen(f"{server['url']}{path}?{urlencode(params)}", timeout=5) as r:
        return json.loads(r.read())
