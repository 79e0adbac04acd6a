"""``klachtradar alerts test --route NAME`` against a local server, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from klachtradar.cli import app
from klachtradar.errors import ConfigError
from tests.integration.notify_support import SECRET, Recorder, chat_server

pytestmark = pytest.mark.integration
__all__ = ["chat_server"]


@pytest.fixture
def routed(monkeypatch: pytest.MonkeyPatch, chat_server: Recorder, tmp_path: Path) -> Recorder:
    routes = {
        "hook": {"channel": "webhook", "url": chat_server.url("/hook"), "secret_env": "KR_K"},
        "webcare": {"channel": "slack", "url_env": "KR_SLACK"},
    }
    monkeypatch.setenv("KLACHTRADAR_ALERTS__ROUTES", json.dumps(routes))
    monkeypatch.setenv("KLACHTRADAR_ALERTS__OUTBOX_PATH", str(tmp_path / "notify.db"))
    monkeypatch.setenv("KR_K", SECRET)
    monkeypatch.setenv("KR_SLACK", chat_server.url("/slack"))
    return chat_server


def test_alerts_test_sends_a_sample_through_the_named_route_only(routed: Recorder) -> None:
    result = CliRunner().invoke(app, ["alerts", "test", "--route", "hook"])
    assert result.exit_code == 0, result.output
    assert "test alert sent through route hook (webhook)" in result.output
    [request] = routed.accepted
    assert request.path == "/hook" and request.signature_ok()
    assert request.json["message"]["headline"] == "Testmelding van klachtradar (route hook)"


def test_alerts_test_names_an_unknown_route_and_a_refusing_endpoint(routed: Recorder) -> None:
    unknown = CliRunner().invoke(app, ["alerts", "test", "--route", "nope"])
    assert isinstance(unknown.exception, ConfigError)
    assert "no such route in [alerts.routes] (hook, webcare)" in str(unknown.exception)
    routed.script = [404]
    refused = CliRunner().invoke(app, ["alerts", "test", "--route", "webcare"])
    assert isinstance(refused.exception, ConfigError)
    assert str(refused.exception) == "test alert not delivered: route webcare: HTTP 404"
    assert "127.0.0.1" not in str(refused.exception)  # the webhook URL is a secret


def test_alerts_list_without_an_outbox_says_so(routed: Recorder) -> None:
    result = CliRunner().invoke(app, ["alerts", "list"])
    assert isinstance(result.exception, ConfigError)
    assert "no outbox yet" in str(result.exception)
