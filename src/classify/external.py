"""Real Dutch text from outside the project, for evaluation only: the judge of a model.

The hand-written corpus is one register (short, emoji-rich posts, 40 % complaints); a
model can score 0.94 on it and be near chance on real text. So every evaluation also
scores the real sets the shared folder holds (``shared/data/external/``, see its
README), each with the metric its labels allow:

* ``political_tweets`` — 198 real tweets by Dutch MPs, gold polarity in three classes:
  **sentiment macro-F1**;
* ``bol_reviews`` — 3,000 real bol.com book reviews, positive or negative: **polarity
  accuracy**, P(positief) against P(negatief) (a review has no neutral gold label).

Their licences do not allow shipping or training on them, so they are read where they
lie, at evaluation time, and skipped with one clear line when absent. Nothing in
training (``classify.training``, the corpus builder, threshold or temperature fitting)
reads this module: the sets stay out of every fitted number.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from classify.base import Prediction, TextClassifier
from classify.corpus import SENTIMENTS
from classify.evaluation import predict_timed, task_report
from klachtradar.contract import Sentiment
from klachtradar.settings import EXTERNAL_DATA_ENV

EXTERNAL_ENV = EXTERNAL_DATA_ENV
"""A folder holding the sets (default: ``shared/data/external`` beside a parent folder)."""


@dataclass(frozen=True)
class ExternalSet:
    """One real-text set: where it lies, what it measures, how to score it."""

    name: str
    file_name: str
    title: str
    metric: str
    score: Callable[[Sequence[Prediction], Sequence[Sentiment]], dict[str, float]]


def _sentiment_scores(
    predictions: Sequence[Prediction], gold: Sequence[Sentiment]
) -> dict[str, float]:
    proba = np.asarray(
        [[p.sentiment.get(s, 0.0) for s in SENTIMENTS] for p in predictions], dtype=float
    )
    report = task_report([SENTIMENTS.index(g) for g in gold], proba, [s.value for s in SENTIMENTS])
    return {
        "sentiment_macro_f1": report.macro_f1,
        "sentiment_accuracy": report.accuracy,
        "sentiment_ece": report.ece,
    }


def _polarity_scores(
    predictions: Sequence[Prediction], gold: Sequence[Sentiment]
) -> dict[str, float]:
    """Binary polarity: positive when P(positief) > P(negatief), whatever P(neutraal)."""
    said_positive = [
        p.sentiment.get(Sentiment.POSITIEF, 0.0) > p.sentiment.get(Sentiment.NEGATIEF, 0.0)
        for p in predictions
    ]
    is_positive = [g == Sentiment.POSITIEF for g in gold]
    hits = sum(s == g for s, g in zip(said_positive, is_positive, strict=True))
    return {
        "polarity_accuracy": hits / len(gold) if gold else 0.0,
        "predicted_positive_share": sum(said_positive) / len(gold) if gold else 0.0,
    }


EXTERNAL_SETS: tuple[ExternalSet, ...] = (
    ExternalSet(
        "political_tweets",
        "nl_political_tweets_polarity_test.jsonl",
        "real political tweets (198): sentiment macro-F1",
        "sentiment_macro_f1",
        _sentiment_scores,
    ),
    ExternalSet(
        "bol_reviews",
        "nl_bol_book_reviews_polarity.jsonl",
        "real bol.com reviews (3,000): polarity accuracy",
        "polarity_accuracy",
        _polarity_scores,
    ),
)


def external_folder() -> Path | None:
    """``$KLACHTRADAR_EXTERNAL_DATA``, else ``shared/data/external/`` beside a parent folder."""
    if explicit := os.environ.get(EXTERNAL_ENV):
        path = Path(explicit)
        return path if path.is_dir() else path.parent if path.is_file() else None
    from klachtradar.settings import project_root

    for folder in (project_root(), *project_root().parents):
        candidate = folder / "shared" / "data" / "external"
        if candidate.is_dir():
            return candidate
    return None


def evaluate_external(
    classifier: TextClassifier, sets: Sequence[ExternalSet] = EXTERNAL_SETS
) -> dict[str, dict[str, Any]]:
    """Per set: its metrics, or ``{"skipped": reason}`` when the file is absent."""
    folder = external_folder()
    results: dict[str, dict[str, Any]] = {}
    for spec in sets:
        path = folder / spec.file_name if folder is not None else None
        if path is None or not path.is_file():
            results[spec.name] = {
                "skipped": f"{spec.file_name} not found (set {EXTERNAL_ENV} to its folder)"
            }
            continue
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
        predictions, rate = predict_timed(classifier, [str(r["text"]) for r in rows])
        gold = [Sentiment(r["sentiment"]) for r in rows]
        results[spec.name] = {
            "file": str(path),
            "n": len(rows),
            "metric": spec.metric,
            "posts_per_second": rate,
            **spec.score(predictions, gold),
        }
    return results


def headline(result: dict[str, Any], spec: ExternalSet) -> float | None:
    """The set's one number (its ``metric``), or None when it was skipped."""
    value = result.get(spec.metric)
    return float(value) if isinstance(value, int | float) else None
