"""The installed `klachtradar` command, run as a user would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "demo" / "stream.jsonl"


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("klachtradar", path=str(Path(sys.executable).parent))
    command = [exe] if exe else [sys.executable, "-m", "klachtradar"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "KLACHTRADAR_HOME": str(ROOT),
        "KLACHTRADAR_STORE__PATH": str(tmp_path / "store.db"),
        "KLACHTRADAR_DEADLETTER__PATH": str(tmp_path / "dlq.jsonl"),
        "COLUMNS": "160",
    }


@pytest.mark.integration
def test_demo_then_top_json_prints_the_queue(env: dict[str, str]) -> None:
    demo = cli("demo", "--fast", env=env)
    assert demo.returncode == 0, demo.stderr
    assert "samenvatting" in demo.stdout and "incident" in demo.stdout.lower()
    assert "P1" in demo.stdout and "jochemvandalen" in demo.stdout
    top = cli("top", "--json", "--limit", "5", env=env)
    assert top.returncode == 0, top.stderr
    lines = [json.loads(line) for line in top.stdout.splitlines()]
    assert len(lines) == 5
    for line in lines:
        assert {"priority", "risk", "reasons", "doc_id"} <= set(line)
    assert [x["risk"] for x in lines] == sorted((x["risk"] for x in lines), reverse=True)


@pytest.mark.integration
def test_replay_of_a_missing_file_fails_with_one_sentence(env: dict[str, str]) -> None:
    result = cli("replay", "/nonexistent/posts.jsonl", "--fast", env=env)
    assert result.returncode == 2
    assert "/nonexistent/posts.jsonl: no such file" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.integration
def test_replay_and_search_find_posts_by_words(env: dict[str, str], tmp_path: Path) -> None:
    sample = tmp_path / "sample.jsonl"
    sample.write_text(
        "".join(DEMO.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)[:300]),
        encoding="utf-8",
    )
    assert cli("replay", str(sample), "--fast", "--quiet", env=env).returncode == 0
    found = cli("search", "internet", "--json", env=env)
    assert found.returncode == 0
    texts = [json.loads(line)["text"].lower() for line in found.stdout.splitlines()]
    assert texts and all("internet" in t for t in texts)


@pytest.mark.integration
def test_top_before_any_run_says_what_to_do(env: dict[str, str]) -> None:
    result = cli("top", env=env)
    assert result.returncode == 2
    assert "run `klachtradar demo`" in result.stderr


@pytest.mark.integration
def test_schema_prints_the_contract_as_json_schema(env: dict[str, str], tmp_path: Path) -> None:
    result = cli("schema", env=env)
    assert result.returncode == 0
    schemas = json.loads(result.stdout)
    assert "doc_id" in schemas["ScoredPost"]["properties"]
    written = cli("schema", "--out", str(tmp_path / "schemas"), env=env)
    assert written.returncode == 0
    assert (tmp_path / "schemas" / "RawPost.schema.json").is_file()
