"""The triage app on Elasticsearch: a real ES-API server (noida-db), the real app, an empty
working copy.

The demo corpus goes through the real pipeline into Elasticsearch through the real ES
sink; ``klachtradar serve --backend elasticsearch`` starts on 127.0.0.1 with an empty
local store and must show what Elasticsearch holds, write statuses back, pick up new
posts, survive an outage (through a proxy we can switch off) and report the same
numbers as the embedded store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

pytest.importorskip("elasticsearch")

from elasticsearch import Elasticsearch

from klachtradar.contract import Author, RawPost
from klachtradar.ports import PipelineOutput
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.settings import Settings, load_settings
from sink.store import EmbeddedStore
from tests.integration import triage_es_support as support
from tests.integration.flaky_proxy import FlakyProxy
from tests.integration.noida_es import NoidaElasticsearch, free_port, noida_binary
from triage.report import BrandReport, build_report
from triage.triage_cli import _sync_working_copy

pytestmark = pytest.mark.integration

ROOT = support.ROOT
YOUP = support.YOUP
AGENT = "Anna de Vries"
START, END = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 11, 10, tzinfo=UTC)


class SwitchableProxy(FlakyProxy):
    """Passes everything through, or — while ``down`` — drops every connection."""

    down = False

    def _next_behaviour(self, path: str, size: int) -> str:
        return "drop" if self.down else "pass"


@pytest.fixture(scope="module")
def es_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if noida_binary() is None:
        pytest.skip("noida-db is not installed (pip install -e '.[dev]')")
    with NoidaElasticsearch(tmp_path_factory.mktemp("noida-triage")) as url:
        yield url


@pytest.fixture(scope="module")
def client(es_url: str) -> Iterator[Elasticsearch]:
    with Elasticsearch(es_url, max_retries=0) as es:
        yield es


@pytest.fixture(scope="module")
def demo_output() -> PipelineOutput:
    return support.demo_output()


@pytest.fixture(scope="module")
def indexed(
    es_url: str,
    client: Elasticsearch,
    demo_output: PipelineOutput,
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    return support.indexed(es_url, client, demo_output, tmp_path_factory.mktemp("es-indexed"))


@pytest.fixture(scope="module")
def proxy(es_url: str) -> Iterator[SwitchableProxy]:
    proxy = SwitchableProxy(es_url, [])
    with proxy:
        yield proxy


@pytest.fixture(scope="module")
def server(
    indexed: Settings, proxy: SwitchableProxy, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """``klachtradar serve --backend elasticsearch`` through the proxy, empty working copy."""
    with support.es_server(indexed, proxy.url, tmp_path_factory.mktemp("triage-es")) as server:
        yield server


def _get(server: dict[str, Any], path: str, **params: str) -> Any:
    query = f"?{urlencode(params)}" if params else ""
    with urllib.request.urlopen(f"{server['url']}{path}{query}", timeout=5) as response:
        body = response.read().decode()
    return json.loads(body) if path.startswith("/api/") else body


def _act(server: dict[str, Any], action: str, doc_id: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{server['url']}/api/actions/{action}",
        data=json.dumps({"doc_id": doc_id}).encode(),
        headers={
            "Content-Type": "application/json",
            "X-Klachtradar-Request": "1",
            "X-Klachtradar-User": AGENT,
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        result: dict[str, Any] = json.loads(response.read())
    return result


def _eventually(check: Callable[[], Any], what: str, timeout_s: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    pytest.fail(f"{what}: not within {timeout_s}s (last: {last!r})")


def _es_status(client: Elasticsearch, settings: Settings, doc_id: str) -> str | None:
    hits = client.search(
        index=settings.elasticsearch.posts_index, query={"ids": {"values": [doc_id]}}
    )["hits"]["hits"]
    return hits[0]["_source"].get("status") if hits else None


def _complaint(post_id: str, text: str) -> RawPost:
    at = datetime(2026, 11, 9, 8, 0, tzinfo=UTC)
    return RawPost(
        source="x",
        post_id=post_id,
        url=f"https://x.com/nieuwe_klant/status/{post_id}",
        text=text,
        created_at=at,
        received_at=at,
        author=Author(id=f"id-{post_id}", handle="nieuwe_klant", name="Nieuwe Klant", followers=40),
    )


# -- the working copy in the running app -------------------------------------------------------


def test_es_backed_queue_shows_the_youp_card_at_the_top(
    server: dict[str, Any], demo_output: PipelineOutput
) -> None:
    brand_posts = sum(1 for p in demo_output.scored if p.brands)
    _eventually(
        lambda: _get(server, "/api/queue", status="all")["total"] == brand_posts,
        "every brand post of the demo in the working copy",
    )
    queue = _get(server, "/api/queue", priority="P1,P2")
    assert queue["posts"][0]["author"] == YOUP
    assert queue["posts"][0]["brands"] == ["Odido"]


def test_claim_and_resolve_are_written_back_to_elasticsearch(
    server: dict[str, Any], client: Elasticsearch, indexed: Settings
) -> None:
    doc_id = _eventually(
        lambda: next(iter(_get(server, "/api/queue", priority="P1")["posts"]), None),
        "a P1 post",
    )["doc_id"]
    assert _act(server, "claim", doc_id)["status"] == "claimed"
    _eventually(lambda: _es_status(client, indexed, doc_id) == "claimed", "claimed in ES")
    assert _act(server, "resolve", doc_id)["status"] == "resolved"
    _eventually(lambda: _es_status(client, indexed, doc_id) == "resolved", "resolved in ES")
    time.sleep(1.0)  # several syncs re-read the post (overlap): the local state must hold
    resolved = _get(server, "/api/queue", status="resolved")["posts"]
    mine = next(p for p in resolved if p["doc_id"] == doc_id)
    assert mine["assignee"] == AGENT and mine["responded_at"]


def test_a_complaint_indexed_later_appears_in_the_queue(
    server: dict[str, Any], client: Elasticsearch, indexed: Settings
) -> None:
    settings = load_settings()
    settings.history.backend = "memory"
    post = _complaint("es-late-1", "@Odido zwolftuig storing, al drie dagen geen internet!")
    output = Pipeline.from_settings(settings).process([post])
    assert output.scored[0].brands
    support.write(indexed, client, output)
    found = _eventually(
        lambda: _get(server, "/api/queue", status="all", q="zwolftuig")["posts"],
        "the new complaint in the queue",
    )
    assert [p["doc_id"] for p in found] == [output.scored[0].doc_id]


def test_while_elasticsearch_is_down_the_app_serves_its_copy_and_catches_up(
    server: dict[str, Any], client: Elasticsearch, indexed: Settings, proxy: SwitchableProxy
) -> None:
    doc_id = _get(server, "/api/queue", priority="P2")["posts"][0]["doc_id"]
    proxy.down = True
    try:
        _eventually(
            lambda: "Elasticsearch onbereikbaar" in _get(server, "/fragments/live"),
            "the unreachable notice",
        )
        page = _get(server, "/")
        assert "Elasticsearch onbereikbaar sinds" in page
        assert proxy.url not in page and "127.0.0.1:" not in page
        assert _act(server, "claim", doc_id)["status"] == "claimed"  # the action is not lost
        assert _get(server, "/api/queue", status="all")["total"] > 100  # the last copy
    finally:
        proxy.down = False
    _eventually(lambda: _es_status(client, indexed, doc_id) == "claimed", "outbox sent", 30)
    _eventually(
        lambda: "onbereikbaar" not in _get(server, "/fragments/live"), "the notice gone", 30
    )


# -- the report ------------------------------------------------------------------------------


def _numbers(report: BrandReport) -> dict[str, Any]:
    """What the report shows, without the generation time and float noise."""
    return {
        "posts": report.posts,
        "rows": sorted((r.doc_id, r.status, r.priority.value, r.risk) for r in report.rows),
        "per_day": report.per_day,
        "sla": {p: asdict(c) for p, c in report.sla_by_priority.items()},
        "themes": report.top_themes,
        "cues": report.cues,
        "repeat": [asdict(r) for r in report.repeat_unanswered],
        "reach": [r.doc_id for r in report.biggest_reach],
        "answered_share": report.answered_share,
        "public": asdict(report.public),  # brand replies and their tone: copied too
    }


def test_report_from_elasticsearch_equals_the_report_from_the_embedded_store(
    es_url: str, client: Elasticsearch, demo_output: PipelineOutput, tmp_path: Path
) -> None:
    settings = support.indexed(es_url, client, demo_output, tmp_path)  # untouched
    embedded = tmp_path / "embedded.db"
    with EmbeddedStore(embedded) as store:
        store.write_posts(demo_output.scored)
        store.write_alerts(demo_output.alerts)
    copy = tmp_path / "copy.db"
    settings.triage.es_window_days = 1  # a new copy is filled back to the report's start
    _sync_working_copy(settings, copy, start=START)
    with EmbeddedStore(copy) as synced:
        copied = sum(1 for p in demo_output.scored if p.brands or p.reply is not None)
        assert synced.count() == copied
        alerts = synced.alerts(limit=10_000)
    assert sorted(a.alert_id for a in alerts) == sorted({a.alert_id for a in demo_output.alerts})
    for brand in ("Odido", "KPN", "PostNL"):
        expected = build_report(
            embedded, brand=brand, start=START, end=END, triage=settings.triage, now=END
        )
        got = build_report(copy, brand=brand, start=START, end=END, triage=settings.triage, now=END)
        assert expected.complaints > 5
        assert _numbers(got) == _numbers(expected)
    postnl = build_report(copy, brand="PostNL", start=START, end=END, triage=settings.triage)
    assert postnl.public.replies_by_tone["grof"] >= 1  # the grof story's reply, from ES
    cli_lines = [
        _report_cli(settings, tmp_path, backend, store)
        for backend, store in (("embedded", embedded), ("elasticsearch", tmp_path / "cli.db"))
    ]
    assert cli_lines[0] == cli_lines[1]
    assert "klachten" in cli_lines[0]


def _report_cli(settings: Settings, work: Path, backend: str, store: Path) -> str:
    """``klachtradar report`` on a backend; its summary line without the file name."""
    es = settings.elasticsearch
    env = {
        **os.environ,
        "KLACHTRADAR_HOME": str(ROOT),
        "KLACHTRADAR_ELASTICSEARCH__URL": es.url,
        "KLACHTRADAR_ELASTICSEARCH__POSTS_INDEX": es.posts_index,
        "KLACHTRADAR_ELASTICSEARCH__ALERTS_INDEX": es.alerts_index,
    }  # the default 30-day window: a new copy is filled back to --since
    done = subprocess.run(
        [
            *(sys.executable, "-m", "klachtradar", "report", "--brand", "Odido"),
            *("--since", START.date().isoformat(), "--until", END.date().isoformat()),
            *("--backend", backend, "--store", str(store), "--out", str(work / "r.html")),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip().split(": ", 1)[1]


def test_serve_refuses_to_start_when_elasticsearch_is_unreachable(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "KLACHTRADAR_HOME": str(ROOT),
        "KLACHTRADAR_STORE__PATH": str(tmp_path / "copy.db"),
        "KLACHTRADAR_ELASTICSEARCH__URL": f"http://elastic:s3cr3t@127.0.0.1:{free_port()}",
        "COLUMNS": "1000",  # the CLI's console wraps at the terminal width
    }
    done = subprocess.run(
        [sys.executable, "-m", "klachtradar", "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Elasticsearch unreachable" in lines[0]
    assert "127.0.0.1" in lines[0] and "s3cr3t" not in lines[0]
