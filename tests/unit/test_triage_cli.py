"""The triage commands: report and feedback export write files; serve refuses bad auth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from klachtradar.cli import app
from klachtradar.contract import Intent, Sentiment
from klachtradar.settings import TriageSettings
from tests.unit.triage_support import T0, FixedClock, fill_store, raw_post
from triage.database import TriageDatabase
from triage.feedback import FeedbackStore
from triage.sla import SlaPolicy
from triage.workflow import Workflow

runner = CliRunner()
COMPLAINT = "@KPN mijn internet is alweer weg, al drie dagen geen verbinding. Belachelijk slecht!"


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "kr.db"
    fill_store(
        path,
        [raw_post("1", COMPLAINT, handle="anna"), raw_post("2", COMPLAINT + "!", handle="bob")],
    )
    return path


def test_report_command_writes_an_html_report_with_plots(store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "kpn.html"
    result = runner.invoke(
        app,
        [
            "report",
            "--brand",
            "KPN",
            "--since",
            "2026-09-30",
            "--until",
            "2026-10-02",
            "--out",
            str(out),
            "--store",
            str(store_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "2 klachten" in result.output
    html = out.read_text(encoding="utf-8")
    assert html.count("data:image/svg+xml;base64,") >= 3
    assert '<b id="kpi-complaints">2</b>' in html


def test_report_without_out_writes_under_var_reports_not_the_working_directory(
    store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from triage import triage_cli

    assert Path("var/reports") == triage_cli.REPORTS_DIR  # under the project home
    monkeypatch.setattr(triage_cli, "REPORTS_DIR", tmp_path / "var" / "reports")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["report", "--brand", "KPN", "--store", str(store_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "var" / "reports" / "report-KPN.html").is_file()
    assert not (tmp_path / "report-KPN.html").exists()


def test_report_of_an_unknown_brand_is_an_error_naming_the_known_ones(store_path: Path) -> None:
    result = runner.invoke(app, ["report", "--brand", "KPM", "--store", str(store_path)])
    assert result.exit_code != 0
    message = str(result.exception)
    assert "'KPM'" in message and "did you mean 'KPN'" in message and "known: KPN" in message


def test_report_command_explains_a_bad_period(store_path: Path) -> None:
    result = runner.invoke(
        app, ["report", "--brand", "KPN", "--since", "vorige week", "--store", str(store_path)]
    )
    assert result.exit_code != 0
    assert "7d" in str(result.exception)


def test_feedback_export_command_writes_the_latest_label_per_post(
    store_path: Path, tmp_path: Path
) -> None:
    database = TriageDatabase(store_path)
    clock = FixedClock(T0)
    workflow = Workflow(database, clock, SlaPolicy.from_settings(TriageSettings()))
    feedback = FeedbackStore(database, clock)
    feedback.correct(
        workflow, "x:1", "anna", sentiment=Sentiment.NEUTRAAL, intent=Intent.VRAAG, cues=[]
    )
    feedback.correct(
        workflow, "x:1", "bram", sentiment=Sentiment.NEGATIEF, intent=Intent.KLACHT, cues=[]
    )
    out = tmp_path / "labels.jsonl"
    result = runner.invoke(
        app, ["feedback", "export", "--out", str(out), "--store", str(store_path)]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["id"], r["intent"]) for r in lines] == [("x:1", "klacht")]


def test_serve_refuses_token_auth_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLACHTRADAR_TRIAGE__AUTH", "token")
    monkeypatch.setenv("KLACHTRADAR_TRIAGE__TOKEN", "")
    result = runner.invoke(app, ["serve", "--port", "0"])
    assert result.exit_code != 0
    assert "needs a token" in str(result.exception)


def test_serve_demo_is_embedded_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLACHTRADAR_ELASTICSEARCH__URL", "http://127.0.0.1:9")
    result = runner.invoke(app, ["serve", "--demo", "--port", "0"])
    assert result.exit_code != 0
    assert "cannot be combined with Elasticsearch" in str(result.exception)
    assert "--backend embedded" in str(result.exception)


def test_serve_names_the_backends_when_given_an_unknown_one() -> None:
    result = runner.invoke(app, ["serve", "--backend", "mongodb", "--port", "0"])
    assert "auto, embedded or elasticsearch" in str(result.exception)


def test_report_with_elasticsearch_unreachable_is_one_line_without_the_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("KLACHTRADAR_ELASTICSEARCH__URL", f"http://elastic:s3cr3t@127.0.0.1:{port}")
    result = runner.invoke(app, ["report", "--brand", "KPN", "--store", str(tmp_path / "copy.db")])
    message = str(result.exception)
    assert "Elasticsearch unreachable" in message and f"127.0.0.1:{port}" in message
    assert "s3cr3t" not in message and "\n" not in message
