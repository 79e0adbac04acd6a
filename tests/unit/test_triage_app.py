"""The triage web app over HTTP (FastAPI TestClient): escaping, headers, auth, actions."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from klachtradar.settings import TriageSettings
from tests.unit.triage_support import T0, FixedClock, fill_store, raw_post
from triage.app import TriageApp, create_app
from triage.database import TriageDatabase
from triage.feedback import FeedbackStore
from triage.live import ChangeFeed
from triage.report_html import report_view
from triage.sla import SlaPolicy
from triage.workflow import Workflow

SCRIPT = "<script>alert('xss')</script>"
IMG = '<img src=x onerror="alert(1)">'
ACT = {"X-Klachtradar-Request": "1", "X-Klachtradar-User": "anna"}


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "kr.db"
    fill_store(
        path,
        [
            raw_post("1", f"@KPN internet alweer weg, belachelijk! {SCRIPT}", handle="anna"),
            raw_post(
                "2",
                f"@KPN storing, waardeloos {IMG}",
                handle="<b>bold</b>",
                url="javascript:alert(document.cookie)",
            ),
            raw_post("3", "@KPN geen internet, al weken, waardeloos", handle="jan"),
        ],
    )
    return path


def client_for(store_path: Path, **settings: object) -> TestClient:
    triage = TriageSettings(**settings)  # type: ignore[arg-type]
    clock = FixedClock(T0 + timedelta(minutes=10))
    database = TriageDatabase(store_path)
    workflow = Workflow(database, clock, SlaPolicy.from_settings(triage))
    app = TriageApp(
        triage,
        workflow,
        FeedbackStore(database, clock),
        ChangeFeed(store_path),
        clock,
        report_view=report_view(store_path, triage, clock),
    )
    return TestClient(create_app(app))


@pytest.fixture
def client(store_path: Path) -> Iterator[TestClient]:
    with client_for(store_path) as c:
        yield c


def test_every_page_has_a_strict_content_security_policy(client: TestClient) -> None:
    for path in ("/", "/fragments/live", "/report?brand=KPN&since=7d&until=2026-10-02"):
        response = client.get(path)
        assert response.status_code == 200, path
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"


def test_post_text_and_author_are_escaped_and_script_links_are_not_links(
    client: TestClient,
) -> None:
    html = client.get("/?status=all").text
    assert SCRIPT not in html
    assert IMG not in html
    assert "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    assert "javascript:" not in html
    assert 'href="https://x.com/anna/status/1"' in html


def test_the_page_loads_its_script_from_a_file_never_inline(client: TestClient) -> None:
    html = client.get("/").text
    assert '<script src="/static/app.js" defer></script>' in html
    assert html.count("<script") == 1


def test_claim_and_resolve_over_the_api_change_the_queue(client: TestClient) -> None:
    assert (
        client.post("/api/actions/claim", json={"doc_id": "x:1"}, headers=ACT).json()["status"]
        == "claimed"
    )
    resolved = client.post(
        "/api/actions/resolve",
        headers=ACT,
        json={"doc_id": "x:1", "responded_at": (T0 + timedelta(minutes=5)).isoformat()},
    )
    assert resolved.json()["status"] == "resolved"
    queue = client.get("/api/queue").json()
    assert "x:1" not in [p["doc_id"] for p in queue["posts"]]
    history = client.get("/api/posts/history", params={"doc_id": "x:1"}).json()
    assert [(h["action"], h["user"]) for h in history] == [("claim", "anna"), ("resolve", "anna")]


def test_actions_need_the_csrf_header_and_a_name(client: TestClient) -> None:
    no_header = client.post(
        "/api/actions/claim", json={"doc_id": "x:1"}, headers={"X-Klachtradar-User": "anna"}
    )
    assert no_header.status_code == 403
    no_name = client.post(
        "/api/actions/claim", json={"doc_id": "x:1"}, headers={"X-Klachtradar-Request": "1"}
    )
    assert no_name.status_code == 400
    unknown = client.post("/api/actions/claim", json={"doc_id": "x:404"}, headers=ACT)
    assert unknown.status_code == 404
    client.post("/api/actions/resolve", json={"doc_id": "x:1"}, headers=ACT)
    again = client.post("/api/actions/claim", json={"doc_id": "x:1"}, headers=ACT)
    assert again.status_code == 409


def test_any_printable_agent_name_is_accepted_and_control_characters_are_not(
    client: TestClient,
) -> None:
    from urllib.parse import quote

    name = "Kim (webcare) – Zoë/2 #1"
    claimed = client.post(
        "/api/actions/claim",
        json={"doc_id": "x:1"},
        headers={"X-Klachtradar-Request": "1", "X-Klachtradar-User": quote(name)},
    )
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["assignee"] == name
    forged = client.post(
        "/api/actions/release",
        json={"doc_id": "x:1"},
        headers={"X-Klachtradar-Request": "1", "X-Klachtradar-User": quote("kim\nadmin")},
    )
    assert forged.status_code == 400


def test_server_errors_are_dutch(client: TestClient) -> None:
    errors = [
        client.post(
            "/api/actions/claim", json={"doc_id": "x:1"}, headers={"X-Klachtradar-User": "a"}
        ),
        client.post(
            "/api/actions/claim", json={"doc_id": "x:1"}, headers={"X-Klachtradar-Request": "1"}
        ),
        client.post("/api/actions/claim", json={"doc_id": "x:404"}, headers=ACT),
        client.post("/api/actions/fly", json={"doc_id": "x:1"}, headers=ACT),
        client.post("/api/actions/claim", json={"nope": 1}, headers=ACT),
        client.post("/api/actions/snooze", json={"doc_id": "x:1", "minutes": 99999}, headers=ACT),
    ]
    client.post("/api/actions/resolve", json={"doc_id": "x:1"}, headers=ACT)
    errors.append(client.post("/api/actions/claim", json={"doc_id": "x:1"}, headers=ACT))
    messages = [e.json()["error"] for e in errors]
    assert [e.status_code for e in errors] == [403, 400, 404, 404, 422, 409, 409]
    assert messages[1] == "vul eerst je naam in (rechtsboven, bij Agent)"
    assert messages[-1] == "deze post is al afgehandeld; dat kan nu niet"
    english = ("who are you", "cannot", "unknown", "missing", "Field required", "Input should")
    for message in messages:
        assert not any(word in message for word in english), message


def test_read_only_mode_hides_actions_and_refuses_them(store_path: Path) -> None:
    with client_for(store_path, read_only=True) as client:
        assert 'data-action="claim"' not in client.get("/").text
        refused = client.post("/api/actions/claim", json={"doc_id": "x:1"}, headers=ACT)
        assert refused.status_code == 403


def test_token_mode_needs_the_token_and_never_shows_it(store_path: Path) -> None:
    secret = "s3cret-team-token-123"
    with client_for(store_path, auth="token", token=secret) as client:
        assert client.get("/api/queue").status_code == 401
        assert client.get("/", follow_redirects=False).headers["location"] == "/login"
        bearer = {"Authorization": f"Bearer {secret}"}
        assert client.get("/api/queue", headers=bearer).status_code == 200
        assert client.post("/login", data={"token": "wrong"}).status_code == 401
        logged_in = client.post("/login", data={"token": secret}, follow_redirects=False)
        assert logged_in.status_code == 303
        assert secret not in logged_in.headers["set-cookie"]
        page = client.get("/")
        assert page.status_code == 200
        assert secret not in page.text


def test_basic_auth_names_the_actor(store_path: Path) -> None:
    with client_for(store_path, auth="basic", users={"anna": "pw1"}) as client:
        assert client.get("/").status_code == 401
        good = "Basic " + base64.b64encode(b"anna:pw1").decode()
        bad = "Basic " + base64.b64encode(b"anna:nope").decode()
        assert client.get("/", headers={"Authorization": bad}).status_code == 401
        headers = {
            "Authorization": good,
            "X-Klachtradar-Request": "1",
            "X-Klachtradar-User": "someone-else",
        }
        client.post("/api/actions/claim", json={"doc_id": "x:3"}, headers=headers)
        history = client.get(
            "/api/posts/history", params={"doc_id": "x:3"}, headers={"Authorization": good}
        ).json()
        assert history[0]["user"] == "anna"


def test_label_corrections_are_exported_in_the_labels_format(
    client: TestClient, store_path: Path, tmp_path: Path
) -> None:
    body = {"doc_id": "x:3", "sentiment": "negatief", "intent": "klacht", "cues": ["herhaald"]}
    assert client.post("/api/feedback", json=body, headers=ACT).status_code == 200
    body["cues"] = ["herhaald", "churn"]
    client.post("/api/feedback", json=body, headers=ACT)
    out = tmp_path / "labels.jsonl"
    database = TriageDatabase(store_path)
    count = FeedbackStore(database, FixedClock(T0)).export(out)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert count == 1
    assert records == [
        {
            "id": "x:3",
            "text": "@KPN geen internet, al weken, waardeloos",
            "sentiment": "negatief",
            "intent": "klacht",
            "cues": ["herhaald", "churn"],
            "brand": "KPN",
            "lang": "nl",
        }
    ]


def test_invalid_labels_are_refused(client: TestClient) -> None:
    body = {"doc_id": "x:3", "sentiment": "boos", "intent": "klacht"}
    assert client.post("/api/feedback", json=body, headers=ACT).status_code == 422


def test_a_verdict_of_the_fast_model_shows_snel_model_on_its_card(tmp_path: Path) -> None:
    """Under overload the cascade's fast model judges (``Classification.fallback``); the
    agent sees which cards it judged, and which model, and the others carry no badge."""
    from sink.store import EmbeddedStore

    path = tmp_path / "kr.db"
    fill_store(
        path,
        [
            raw_post("1", "@KPN internet alweer weg, belachelijk!", handle="anna"),
            raw_post("2", "@KPN geen internet, al weken, waardeloos", handle="jan"),
        ],
    )
    with EmbeddedStore(path) as store:
        post = store.get("x:1")
        assert post is not None and post.classification is not None
        fast = post.classification.model_copy(update={"fallback": True})
        store.write_posts([post.model_copy(update={"classification": fast})])
    with client_for(path) as client:
        html = client.get("/").text
    cards = {c.split('"', 1)[0]: c for c in html.split('data-doc-id="')[1:]}
    assert "snel model" in cards["x:1"] and "snel model" not in cards["x:2"]
    assert "beoordeeld door lexicon@" in cards["x:1"]
