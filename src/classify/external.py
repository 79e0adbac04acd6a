"""Sentiment on real Dutch tweets from outside the project, for evaluation only.

The shared folder may hold ``data/external/nl_political_tweets_polarity_test.jsonl``:
198 real tweets by Dutch MPs with gold polarity (see its README). Its licence is not
stated, so it is never copied into the repository and never trained on; it is read
where it lies, at evaluation time, and skipped with a clear message when absent.
It answers one question the hand-written corpus cannot: does sentiment carry over
to real posts in another domain?
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from classify.base import TextClassifier
from classify.corpus import SENTIMENTS
from classify.evaluation import predict_timed, task_report
from klachtradar.contract import Sentiment

EXTERNAL_ENV = "KLACHTRADAR_EXTERNAL_DATA"
FILE_NAME = "nl_political_tweets_polarity_test.jsonl"


def find_external_file() -> Path | None:
    """``$KLACHTRADAR_EXTERNAL_DATA``, else ``shared/data/external/`` beside a parent folder."""
    if explicit := os.environ.get(EXTERNAL_ENV):
        path = Path(explicit)
        path = path / FILE_NAME if path.is_dir() else path
        return path if path.is_file() else None
    from klachtradar.settings import project_root

    for folder in (project_root(), *project_root().parents):
        candidate = folder / "shared" / "data" / "external" / FILE_NAME
        if candidate.is_file():
            return candidate
    return None


def evaluate_external(classifier: TextClassifier) -> dict[str, Any]:
    """Sentiment metrics on the external set, or ``{"skipped": reason}``."""
    path = find_external_file()
    if path is None:
        return {"skipped": f"external set {FILE_NAME} not found (set {EXTERNAL_ENV})"}
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    texts = [str(r["text"]) for r in rows]
    gold = [SENTIMENTS.index(Sentiment(r["sentiment"])) for r in rows]
    predictions, _ = predict_timed(classifier, texts)
    proba = np.asarray(
        [[p.sentiment.get(s, 0.0) for s in SENTIMENTS] for p in predictions], dtype=float
    )
    report = task_report(gold, proba, [s.value for s in SENTIMENTS])
    return {
        "file": str(path),
        "n": len(rows),
        "sentiment_macro_f1": report.macro_f1,
        "sentiment_accuracy": report.accuracy,
        "sentiment_ece": report.ece,
    }
