"""Scoring a classifier against gold labels: the numbers the model card and report show.

Per task: per-class precision / recall / F1, macro-F1, the confusion matrix and the
expected calibration error of the probabilities. Plus the one number the product
lives by, complaint F1 (intent = klacht against the rest), and the worst errors:
the confidently wrong posts a data scientist should read first.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from classify.base import Prediction, TextClassifier
from classify.calibration import FloatArray, expected_calibration_error, reliability_curve
from classify.corpus import CUES, INTENTS, SENTIMENTS, LabelledPost
from klachtradar.contract import Intent


@dataclass
class TaskReport:
    """Metrics of one multiclass task."""

    labels: list[str]
    precision: list[float]
    recall: list[float]
    f1: list[float]
    support: list[int]
    macro_f1: float
    accuracy: float
    confusion: list[list[int]]
    ece: float
    reliability: list[tuple[float, float, int]] = field(default_factory=list)
    macro_excluded: list[str] = field(default_factory=list)
    """Labels left out of ``macro_f1``: neither in the gold labels nor predicted."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "macro_f1": self.macro_f1,
            "macro_excluded": self.macro_excluded,
            "accuracy": self.accuracy,
            "ece": self.ece,
            "per_class": {
                label: {"precision": p, "recall": r, "f1": f, "support": s}
                for label, p, r, f, s in zip(
                    self.labels, self.precision, self.recall, self.f1, self.support, strict=True
                )
            },
            "confusion": {"labels": self.labels, "matrix": self.confusion},
        }


@dataclass
class ErrorCase:
    """A post the model got wrong, with how sure it was."""

    id: str
    text: str
    task: str
    gold: str
    predicted: str
    confidence: float


@dataclass(frozen=True, slots=True)
class PostVerdict:
    """One evaluated post: gold and predicted class indices per task."""

    id: str
    text: str
    sentiment_gold: int
    sentiment_pred: int
    intent_gold: int
    intent_pred: int


@dataclass
class EvaluationReport:
    """Everything ``klachtradar evaluate`` prints, plots and writes as JSON."""

    model: str
    data: str
    n: int
    sentiment: TaskReport
    intent: TaskReport
    complaint: dict[str, float]
    cues: dict[str, dict[str, float]]
    posts_per_second: float
    worst_errors: list[ErrorCase]
    curves: dict[str, Any] = field(default_factory=dict)
    posts: list[PostVerdict] = field(default_factory=list)
    """Every post's gold and predicted labels, in order: what a comparison pairs up."""

    def summary(self) -> dict[str, float]:
        """The headline numbers, one row of the comparison table."""
        return {
            "complaint_f1": self.complaint["f1"],
            "sentiment_macro_f1": self.sentiment.macro_f1,
            "intent_macro_f1": self.intent.macro_f1,
            "sentiment_ece": self.sentiment.ece,
            "intent_ece": self.intent.ece,
            "posts_per_second": self.posts_per_second,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "data": self.data,
            "n": self.n,
            "summary": self.summary(),
            "sentiment": self.sentiment.as_dict(),
            "intent": self.intent.as_dict(),
            "complaint": self.complaint,
            "cues": self.cues,
            "worst_errors": [e.__dict__ for e in self.worst_errors],
        }


def task_report(
    gold: Sequence[int] | NDArray[np.int_], proba: FloatArray, labels: Sequence[str]
) -> TaskReport:
    """Metrics of one task from gold class indices and predicted probabilities.

    ``macro_f1`` averages over the labels that occur in the gold labels or the
    predictions (as scikit-learn does): a label absent from both has no F1 to speak of,
    and counting it as 0 would mark perfect predictions on a set without, say, any
    ``vraag`` down to 0.75. The labels left out are listed in ``macro_excluded``.
    """
    y = np.asarray(gold, dtype=int)
    pred = proba.argmax(axis=1) if len(y) else np.zeros(0, dtype=int)
    k = len(labels)
    confusion = np.zeros((k, k), dtype=int)
    for g, p in zip(y, pred, strict=True):
        confusion[g, p] += 1
    precision, recall, f1 = [], [], []
    for c in range(k):
        tp = confusion[c, c]
        col, row = confusion[:, c].sum(), confusion[c, :].sum()
        p_c = tp / col if col else 0.0
        r_c = tp / row if row else 0.0
        precision.append(float(p_c))
        recall.append(float(r_c))
        f1.append(float(2 * p_c * r_c / (p_c + r_c)) if p_c + r_c else 0.0)
    present = [c for c in range(k) if confusion[c, :].sum() or confusion[:, c].sum()]
    return TaskReport(
        labels=list(labels),
        precision=precision,
        recall=recall,
        f1=f1,
        support=[int(s) for s in confusion.sum(axis=1)],
        macro_f1=float(np.mean([f1[c] for c in present])) if present else 0.0,
        accuracy=float((pred == y).mean()) if len(y) else 0.0,
        confusion=confusion.tolist(),
        ece=expected_calibration_error(proba, y),
        reliability=reliability_curve(proba, y),
        macro_excluded=[labels[c] for c in range(k) if c not in present],
    )


def binary_scores(gold: Sequence[bool], predicted: Sequence[bool]) -> dict[str, float]:
    """Precision, recall and F1 of the positive class."""
    g = np.asarray(gold, dtype=bool)
    p = np.asarray(predicted, dtype=bool)
    tp = float((g & p).sum())
    precision = tp / p.sum() if p.sum() else 0.0
    recall = tp / g.sum() if g.sum() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


def predict_timed(
    classifier: TextClassifier, texts: Sequence[str], *, batch_size: int = 256
) -> tuple[list[Prediction], float]:
    """Predictions in batches and the throughput in posts per second."""
    predictions: list[Prediction] = []
    started = time.perf_counter()
    for start in range(0, len(texts), batch_size):
        predictions.extend(classifier.predict_proba(texts[start : start + batch_size]))
    elapsed = time.perf_counter() - started
    return predictions, (len(texts) / elapsed if elapsed > 0 else 0.0)


def evaluate(
    classifier: TextClassifier,
    records: Sequence[LabelledPost],
    *,
    data_name: str = "",
    worst: int = 15,
) -> EvaluationReport:
    """Score ``classifier`` on ``records`` (the caller picks the language subset)."""
    predictions, rate = predict_timed(classifier, [r.text for r in records])
    sent_proba = _matrix(predictions, "sentiment", SENTIMENTS)
    int_proba = _matrix(predictions, "intent", INTENTS)
    sent_gold = [SENTIMENTS.index(r.sentiment) for r in records]
    int_gold = [INTENTS.index(r.intent) for r in records]
    klacht = INTENTS.index(Intent.KLACHT)
    complaint = binary_scores(
        [g == klacht for g in int_gold], list(int_proba.argmax(axis=1) == klacht)
    )
    cues = {
        cue.value: binary_scores(
            [cue in r.cues for r in records], [p.cues.get(cue, 0.0) >= 0.5 for p in predictions]
        )
        for cue in CUES
    }
    ref = classifier.model_ref
    return EvaluationReport(
        model=f"{ref.name}@{ref.version}",
        data=data_name,
        n=len(records),
        sentiment=task_report(sent_gold, sent_proba, [s.value for s in SENTIMENTS]),
        intent=task_report(int_gold, int_proba, [i.value for i in INTENTS]),
        complaint=complaint,
        cues=cues,
        posts_per_second=rate,
        worst_errors=_worst_errors(records, sent_proba, int_proba, worst),
        posts=[
            PostVerdict(r.id, r.text, sg, int(sp), ig, int(ip))
            for r, sg, sp, ig, ip in zip(
                records,
                sent_gold,
                sent_proba.argmax(axis=1) if len(records) else [],
                int_gold,
                int_proba.argmax(axis=1) if len(records) else [],
                strict=True,
            )
        ],
        curves={
            "complaint_scores": int_proba[:, klacht].tolist(),
            "complaint_gold": [g == klacht for g in int_gold],
            "negative_scores": sent_proba[:, 0].tolist(),
            "negative_gold": [g == 0 for g in sent_gold],
        },
    )


def _matrix(predictions: Sequence[Prediction], task: str, labels: Sequence[Any]) -> FloatArray:
    rows = [[getattr(p, task).get(label, 0.0) for label in labels] for p in predictions]
    return np.asarray(rows, dtype=float).reshape(len(predictions), len(labels))


def _worst_errors(
    records: Sequence[LabelledPost], sent: FloatArray, intent: FloatArray, limit: int
) -> list[ErrorCase]:
    cases: list[ErrorCase] = []
    tasks: tuple[tuple[str, FloatArray, Sequence[Any], list[int]], ...] = (
        ("intent", intent, INTENTS, [INTENTS.index(r.intent) for r in records]),
        ("sentiment", sent, SENTIMENTS, [SENTIMENTS.index(r.sentiment) for r in records]),
    )
    for task, proba, labels, golds in tasks:
        for i, record in enumerate(records):
            predicted = int(proba[i].argmax())
            gold = golds[i]
            if predicted != gold:
                cases.append(
                    ErrorCase(
                        id=record.id,
                        text=record.text,
                        task=task,
                        gold=labels[gold].value,
                        predicted=labels[predicted].value,
                        confidence=float(proba[i, predicted]),
                    )
                )
    cases.sort(key=lambda c: c.confidence, reverse=True)
    return cases[:limit]
