"""``klachtradar replies --json`` on the demo's ``grof`` story (PostNL and Sanne)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from klachtradar.cli import app
from klachtradar.contract import parse_raw_post
from sink.store import EmbeddedStore

ROOT = Path(__file__).resolve().parents[2]


def _story(tmp_path: Path) -> Path:
    lines = []
    for raw in (ROOT / "data" / "demo" / "stream.jsonl").read_bytes().splitlines():
        try:
            post = parse_raw_post(raw)
        except Exception:
            continue
        if post.author.handle in ("sanne_vd_berg", "PostNL") and "2026-10-17" in raw.decode():
            lines.append(raw.decode())
    path = tmp_path / "grof.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_grof_story_ends_with_a_grof_reply_a_toon_alert_and_a_response_time(
    tmp_path: Path,
) -> None:
    store = tmp_path / "kr.db"
    runner = CliRunner()
    env = {"KLACHTRADAR_HISTORY__BACKEND": "memory"}
    replayed = runner.invoke(
        app, ["replay", str(_story(tmp_path)), "--fast", "--quiet", "--store", str(store)], env=env
    )
    assert replayed.exit_code == 0, replayed.output
    result = runner.invoke(app, ["replies", "--brand", "PostNL", "--json", "--store", str(store)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    tones = [r["tone"] for r in rows]
    assert tones == ["professioneel", "grof", "professioneel"]
    rude = rows[1]
    assert rude["tone_reasons"] and rude["in_reply_to"] and rude["first_response_minutes"]
    assert "zeuren" in rude["text"]
    with EmbeddedStore(store) as db:
        toon = db.alerts(kind="toon")
        assert [a.doc_id for a in toon] == [rude["doc_id"]]
        first = db.get(rows[0]["in_reply_to"])
        assert first is not None and first.response is not None
        assert first.response.first_response_minutes == rows[0]["first_response_minutes"]
        assert "publiek beantwoord na 25 min door @PostNL" in first.risk.reasons
