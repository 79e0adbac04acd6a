"""``evaluate`` finds its default data from any working directory, as ``top`` finds the store.

The defaults (``data/corpus/test.jsonl``) are project paths: outside the checkout they
used to fail with "no such labelled data file" (issue 22).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from klachtradar.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory outside the project (no configs/ above it)."""
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    monkeypatch.delenv("KLACHTRADAR_HOME", raising=False)
    monkeypatch.chdir(cwd)
    return cwd


def test_evaluate_reads_the_default_test_split_from_another_working_directory(
    elsewhere: Path,
) -> None:
    result = runner.invoke(
        app, ["evaluate", "--model", "lexicon", "--no-external", "--json",
              "--report", str(elsewhere / "r.html")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.splitlines()[0])
    assert payload["data"] == "data/corpus/test.jsonl"
    assert payload["n"] == 252, "the test split's Dutch posts"


def test_a_file_in_the_working_directory_wins_over_the_project_default(elsewhere: Path) -> None:
    lines = (ROOT / "data/corpus/test.jsonl").read_text(encoding="utf-8").splitlines()[:30]
    (elsewhere / "data/corpus").mkdir(parents=True)
    (elsewhere / "data/corpus/test.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(
        app, ["evaluate", "--model", "lexicon", "--no-external", "--json",
              "--report", str(elsewhere / "r.html")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.splitlines()[0])
    assert payload["data"] == str(elsewhere / "data/corpus/test.jsonl")
    assert payload["n"] <= 30
