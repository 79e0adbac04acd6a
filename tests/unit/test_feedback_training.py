"""The retraining loop: a triage feedback export goes straight into ``train --data``.

Corpus train file, an extra file and the agents' corrections, in that order: a
correction of a corpus post replaces its corpus label (same id), a correction of a new
post adds it, a non-Dutch post stays out of the Dutch model (the export carries
the stored language), and a corrected test-split post is named at once. Real store,
real pipeline, real CLI, linear backend on small data.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from classify.corpus import read_labelled, split_by_language
from klachtradar.cli import app
from klachtradar.contract import Intent, Sentiment
from klachtradar.settings import TriageSettings
from tests.unit.triage_support import T0, FixedClock, fill_store, raw_post
from triage.database import TriageDatabase
from triage.feedback import FeedbackStore
from triage.sla import SlaPolicy
from triage.workflow import Workflow

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
pytestmark = pytest.mark.slow  # trains a linear model (about 10 s on this machine)
NEW_POST = "@PostNL pakket staat al vijf dagen op 'onderweg', niemand reageert op mijn mail"
GERMAN = "Die Deutsche Bahn ist schon wieder zu spät und ich bin nicht zufrieden mit euch"


def _lines(source: Path, target: Path, n: int) -> Path:
    """The last ``n`` lines of ``source`` (the files are sorted by id: ``x:`` posts last)."""
    lines = source.read_text(encoding="utf-8").splitlines()
    target.write_text("\n".join(lines[-n:]) + "\n", encoding="utf-8")
    return target


def test_train_takes_corpus_extra_and_a_feedback_export_and_reports_the_relabels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run from a temp working directory: files named relative to it are read from it
    (the project defaults from anywhere: ``test_classify_paths``)."""
    monkeypatch.delenv("KLACHTRADAR_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    corpus = _lines(ROOT / "data/corpus/train.jsonl", tmp_path / "train.jsonl", 150)
    extra = _lines(ROOT / "data/corpus/registers/terse.jsonl", tmp_path / "extra.jsonl", 20)
    _lines(ROOT / "data/corpus/dev.jsonl", tmp_path / "dev.jsonl", 40)
    rows = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines()]
    seen = next(r for r in rows if r["id"].startswith("x:") and r["intent"] == "klacht")
    test_split = (ROOT / "data/corpus/test.jsonl").read_text(encoding="utf-8").splitlines()
    held_out = next(r for r in map(json.loads, test_split) if r["id"].startswith("x:"))
    store = tmp_path / "kr.db"
    fill_store(
        store,
        [
            raw_post(seen["id"].removeprefix("x:"), seen["text"], handle="anna"),
            raw_post("900001", NEW_POST, handle="bram"),
            raw_post("900002", GERMAN, handle="claus"),
            raw_post(held_out["id"].removeprefix("x:"), held_out["text"], handle="dirk"),
        ],
    )
    database = TriageDatabase(store)
    clock = FixedClock(T0)
    workflow = Workflow(database, clock, SlaPolicy.from_settings(TriageSettings()))
    feedback = FeedbackStore(database, clock)
    for doc_id in (seen["id"], "x:900001", "x:900002", held_out["id"]):
        feedback.correct(
            workflow, doc_id, "agent", sentiment=Sentiment.NEUTRAAL, intent=Intent.VRAAG, cues=[]
        )
    database.close()

    exported = tmp_path / "feedback.jsonl"
    result = runner.invoke(
        app, ["feedback", "export", "--out", str(exported), "--store", str(store)]
    )
    assert result.exit_code == 0, result.output
    labels = {r.id: r for r in read_labelled(exported)}
    assert labels[seen["id"]].intent is Intent.VRAAG and labels["x:900002"].lang == "de"

    models = tmp_path / "models"
    result = runner.invoke(
        app,
        ["train", "--backend", "linear", "--data", "train.jsonl", "--data", "extra.jsonl",
         "--data", "feedback.jsonl", "--dev", "dev.jsonl", "--models-dir", str(models)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 record relabelled by a later --data file" in result.output
    card = json.loads((models / "linear" / "v1" / "card.json").read_text(encoding="utf-8"))
    train = card["data"]["train"]
    assert [f["path"] for f in train["files"]] == [str(corpus), str(extra), str(exported)]
    assert train["relabelled"] == 1
    assert card["data"]["dev"]["path"] == str(tmp_path / "dev.jsonl")
    dutch = [split_by_language(read_labelled(p))[0] for p in (corpus, extra)]
    assert train["records"] == len(dutch[0]) + len(dutch[1]) + 2, "new posts in, German out"
    assert "WARNING: 1 of 252 posts of data/corpus/test.jsonl are in this model's" in (
        result.stderr
    ), "a corrected test post in the export is named before anyone compares"
    assert card["label_counts"]["intent"]["vraag"] >= 2
